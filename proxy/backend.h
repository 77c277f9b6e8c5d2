/* Backend connections: one per client session, logging in as the client's user. */
#ifndef PGBATCHD_PROXY_BACKEND_H
#define PGBATCHD_PROXY_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "proxy/login.h"

struct sock;
struct evbuffer;
struct client;
struct daemon;
struct scram_client;

enum backend_state {
	BE_CONNECTING = 0,  /* TCP connect in progress */
	BE_LOGIN,           /* StartupMessage sent; authenticating, then ParameterStatus... */
	BE_ACTIVE,          /* relaying */
	BE_LINGER,          /* its client left: what it was sent runs, Terminate last;
	                       its answers are dropped until the server closes */
	BE_CLOSED,
};

struct backend {
	struct daemon *d;
	struct client *client;          /* NULL once lingering */
	struct backend *lnext, *lprev;  /* lingering: the daemon's list */
	struct sock *sk;
	enum backend_state state;
	char prefix[192];
	uint32_t pid, key;              /* its BackendKeyData, as the client sees it */
	struct login_auth auth;         /* its login (login.h) */
	bool joining;                   /* opened for a session that started without one: its
	                                   login is not the client's (client_backend_joined) */
	struct evbuffer *hold;          /* what the session sent before it logged in */
	uint32_t stream_left;           /* body bytes of a message still to relay */
	bool stream_drop;               /* ... or to swallow (an answer the client does not hear) */
	uint8_t last_type;              /* type of the last message relayed to the client */
	bool paused_for_client;         /* client output full: not reading the backend */
	bool terminated;                /* Terminate sent and the socket half-closed */
	bool ended;                     /* the server closed (or the socket failed) */
	void (*on_free)(void *arg);     /* runs when it is freed: the server has run all it was
	                                   sent, or never will (direct.c) */
	void *free_arg;
};

/* Starts connecting for this client. False when the socket cannot even be
 * made. joining: the session is ACTIVE already, without a backend until
 * now: the login's BackendKeyData, ReadyForQuery, notices and the
 * ParameterStatus values the client was told are not relayed; what the
 * session sends meanwhile (backend_output) waits until it has logged in. */
bool backend_open(struct client *c, bool joining) __attribute__((warn_unused_result));
/* Leaves the client. A logged-in backend gets what the client sent whole,
 * then Terminate and a half-close, and is read (answers dropped) until the
 * server closes: PostgreSQL runs what its client sent before leaving, and an
 * answer it cannot write would abort it. Else it is closed and freed now. */
void backend_close(struct backend *be, const char *reason);
/* Its client is done: Terminate follows what it was sent, then a half-close;
 * answers still come until the server closes (ended). */
void backend_terminate(struct backend *be);
/* Closes every lingering backend now (the daemon is exiting). */
void backend_close_lingering(struct daemon *d);
/* Shutdown past its bound: lingering backends are closed now, but one whose
 * statement is a direct write (on_free) gets a CancelRequest and lingers
 * until the server closes it, so the write cannot commit after pgbatchd let
 * go of it. */
void backend_abort_lingering(struct daemon *d);
/* Relays what is buffered (after a pause ends). */
void backend_kick(struct backend *be);
struct evbuffer *backend_output(struct backend *be);
bool backend_output_full(const struct backend *be);

#endif
