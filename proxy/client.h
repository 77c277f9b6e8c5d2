/* Client sessions: startup, authentication, the query loop and the ordered reply queue. */
#ifndef PGBATCHD_PROXY_CLIENT_H
#define PGBATCHD_PROXY_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/pktbuf.h"
#include "proxy/isess.h"
#include "proxy/replyq.h"

struct sock;
struct evbuffer;
struct daemon;
struct backend;
struct scram_server;
struct sink_session;
struct pending;
struct extq;
struct pstmt;
struct txn;
struct view;
struct direct;
struct rq_entry;
struct sockaddr;
struct lc_entry;

/* Why a session is not read: one bit each, reading only when none is set. */
enum client_hold {
	HOLD_OUTPUT = 1u << 0,      /* its answers backed up: it does not read them */
	HOLD_BACKEND = 1u << 1,     /* its backend's output is full */
	HOLD_ROOM = 1u << 2,        /* the sink is full (intercept_room releases) */
	HOLD_SHUTDOWN = 1u << 3,    /* pgbatchd drains: no new messages, ever */
	HOLD_ENDING = 1u << 4,      /* its session ends (a backend refused): no new messages */
};

enum client_state {
	CL_STARTUP = 0,     /* reading SSLRequest / StartupMessage / CancelRequest */
	CL_AUTH_MD5,        /* sent AuthenticationMD5Password, waiting for the reply */
	CL_AUTH_SASL_INIT,  /* sent AuthenticationSASL, waiting for SASLInitialResponse */
	CL_AUTH_SASL_FINAL, /* sent SASLContinue, waiting for the client-final message */
	CL_LOGIN,           /* authenticated; the backend connection logs in */
	CL_ACTIVE,          /* query loop */
	CL_CLOSING,         /* flushing a last message, then freed */
};

struct client {
	struct client *prev, *next;     /* the daemon's registry */
	struct daemon *d;
	uint64_t id;
	char prefix[192];
	enum client_state state;
	struct sock *sk;
	struct backend *be;
	bool warm;                      /* its backend was opened by client_warm_backend */
	bool cancel_on_join;            /* a CancelRequest came while that backend logged in */
	bool warm_refused;              /* ... and the server refused it: not tried again */
	int64_t idle_ms;                /* without a backend: its idle_session_timeout (0: none) */
	struct event *idle_ev;          /* ... which ends it when it has been idle that long */
	uint8_t *refusal;               /* a backend opened later was refused: the server's
	                                   ErrorResponse, sent after the answers ahead of it */
	size_t refusal_len;
	bool backendless;               /* ACTIVE without a backend of its own (yet): one is opened
	                                   when something must pass through (client_backend_output) */
	struct lc_entry *login;         /* its login's check (logincache.h): waited for in LOGIN,
	                                   kept while the backend it opens later logs in */
	uint32_t key_pid, key_secret;   /* the BackendKeyData pgbatchd gave it (0: the backend's own) */
	char peer[64];
	char close_reason[160];         /* CL_CLOSING: logged once the output is flushed */
	bool probed_only;               /* nothing read but plain SSL/GSS requests (a health check) */
	struct canceller *canceller;    /* a CancelRequest forwarded, until the server took it */
	struct event *doom_ev;          /* client_fatal_soon: the FATAL goes from the loop */
	char doom_state[6];
	char doom_msg[96];

	/* From the StartupMessage, copied. */
	char *user;
	char *database;
	char **params;                  /* name, value, ..., NULL: sent to the backend */
	uint32_t version;
	bool counted;                   /* holds a max_client_conn slot */

	/* Authentication. */
	unsigned char md5_salt[4];
	struct scram_server *scram;

	/* Query loop, client -> backend. */
	uint32_t stream_left;           /* body bytes of a streamed message still to relay */
	bool gone;                      /* the client left: what it sent whole is relayed,
	                                   then the session ends as on Terminate */
	bool terminated;                /* input done: the backend got Terminate; the session
	                                   ends when the server closes */
	struct event *auth_ev;          /* authentication_timeout, until LOGIN */
	unsigned holds;                 /* why it is not read (enum client_hold) */
	struct replyq rq;                /* what the client is owed, in the order it asked */
	char tx_status;                 /* last ReadyForQuery status: 'I', 'T' or 'E' */
	struct isess is;                /* its interception session (isess.h) */
	struct console *console;        /* a session of the admin console (console.h), else NULL */
};

/* Its state changes here only (an illegal transition aborts). */
void client_set_state(struct client *c, enum client_state to);
/* Its log prefix, from its user and database. */
void client_set_prefix(struct client *c);

/* Takes an accepted socket. */
void client_accept(struct daemon *d, int fd, const struct sockaddr *sa, int salen);

/* Closes the session; reason goes to the log. With a pending error already
 * written to the client, the socket is flushed before closing. */
void client_close(struct client *c, const char *reason);

/* Sends a FATAL error, flushes, closes. */
void client_fatal(struct client *c, const char *sqlstate, const char *message, const char *detail);
/* The same from the event loop, soon: for code that runs inside the relay
 * of the session's backend (reply-queue hooks), which must not free it. */
void client_fatal_soon(struct client *c, const char *sqlstate, const char *message);
/* Flushes what is already queued for the client (e.g. the backend's own FATAL), then closes. */
void client_finish(struct client *c, const char *reason);

/* An answer of our own to frontend message `msg`, in the queue's order; made ready later. */
struct rq_entry *client_own_reply(struct client *c, uint8_t msg);
/* Sends queued replies and relays buffered client input again (after a wait). */
void client_continue(struct client *c);
/* Sends the answers of our own at the head of the queue; true when any went. */
bool client_pump(struct client *c);

/* Where bytes for its backend go; a session without one opens it now (what
 * is written waits until it has logged in). NULL: no backend (the session
 * is ending). */
struct evbuffer *client_backend_output(struct client *c);
/* A session without a backend whose rows the sink would write on its own
 * connection (it is alone): its backend is opened now, for its next rows --
 * while pgbatchd holds no more sessions than connectionmaxactive. */
void client_warm_backend(struct client *c);
/* The same, for one message of pgbatchd's own or a held one. */
void client_to_backend(struct client *c, const void *data, size_t len);

/* Called by the backend connection. */
void client_backend_ready(struct client *c);            /* login done: go ACTIVE */
void client_backend_joined(struct client *c);           /* a backend opened later logged in */
/* ... or could not (msg: the ErrorResponse, whole). One opened for direct
 * writes that was sent nothing yet is let go; else the session ends with it,
 * after the answers of pgbatchd's own queued ahead of it. */
void client_backend_refused(struct client *c, const uint8_t *msg, size_t len);
void client_ready_for_query(struct client *c, char tx_status);  /* a 'Z' was relayed */
void client_backend_lost(struct client *c, const char *reason, bool mid_message);
void client_resume_reading(struct client *c);           /* backend output drained */
struct evbuffer *client_output(struct client *c);
/* Appends to the output (sock_put): the way for answers of pgbatchd's own. */
void client_put(struct client *c, const void *p, size_t n);
bool client_output_full(const struct client *c);

/*
 * What the interception modules (isess.h) may ask of a session, instead of
 * reading its fields: they change nothing of it but through these, the
 * functions above and its reply queue.
 */
bool client_has_backend(const struct client *c);
/* Without a backend of its own, none being opened (a session that logged in without one). */
bool client_without_backend(const struct client *c);
/* Its login's check (logincache.h), kept until a backend of its own logs in; NULL after. */
struct lc_entry *client_login(const struct client *c);
/* Its backend is logged in and idle between two client messages, outside a
 * transaction block, with room in its output: a Query of pgbatchd's own runs
 * there at once and alone. */
bool client_backend_quiet(const struct client *c);
uint32_t client_backend_pid(const struct client *c);        /* 0: none */
/* A message to its backend (it has one), sent now. */
void client_backend_send(struct client *c, const void *data, size_t len);
/* A CancelRequest for what its backend runs; false when it has none. */
bool client_cancel_backend(struct client *c);
/* fn(arg) runs when its backend is freed (the server ran all it was sent);
 * false when it has none, or one already waits. */
bool client_backend_linger(struct client *c, void (*fn)(void *arg), void *arg);
/* Every session held for `why` is released and resumed. */
void client_release_all(struct daemon *d, unsigned why);
/* fn for every session (it must not free one). */
void client_each(struct daemon *d, void (*fn)(struct client *c));

/* Not reading the client, for this reason (enum client_hold), until it is
 * released; reading goes on when no reason is left (and its input is not
 * over: Terminate, gone, closing). */
void client_hold(struct client *c, unsigned why);
void client_release(struct client *c, unsigned why);

#endif
