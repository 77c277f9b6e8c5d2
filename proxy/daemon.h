/* The daemon: event loop, configuration, listener, client registry, signals. */
#ifndef PGBATCHD_PROXY_DAEMON_H
#define PGBATCHD_PROXY_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct event;
struct evconnlistener;
struct config;
struct userlist;
struct sink;
struct client;

/* INSERT interception counters; passthrough is indexed by enum ins_reason,
 * then enum pass_slot (intercept.h, intercept_pass_name). */
struct intercept_stats {
	uint64_t messages;
	uint64_t rows;
	uint64_t passthrough[16];
};

struct backend;

/* Totals at one moment, for the console's rates (cshow_sample). */
struct stat_sample {
	int64_t ms;                 /* monotonic; 0: none yet */
	uint64_t rows_in, rows_written, batches;
};

struct daemon {
	struct event_base *base;
	struct config *cfg;             /* swapped whole on reload; never cached by sessions */
	struct userlist *users;         /* NULL without auth_file */
	struct evconnlistener *listeners[2];   /* listen.h: TCP, unix */
	int nlisteners;
	char unix_path[108];            /* the unix socket's file, removed when closed */
	struct ssl_ctx_st *tls_ctx;     /* client_tls_* (tls.h); NULL: no TLS with clients */
	struct ssl_ctx_st *server_tls_ctx;      /* TLS with the server (tls_backend_ctx); NULL: none */
	struct sockaddr_storage backend_sa;
	socklen_t backend_salen;
	char backend_name[128];         /* host:port for log prefixes */
	struct client *clients;         /* every client connection, newest first */
	struct backend *lingering;      /* backends of clients that left, until the server closes */
	struct canceller *cancellers;   /* CancelRequests sent, until the server took them */
	int nsessions;                  /* sessions past startup (and lingering backends),
	                                   against max_client_conn */
	uint64_t next_id;
	struct sink *sink;              /* NULL when no table is configured */
	struct event *sig_term, *sig_int, *sig_hup, *sig_usr1, *sig_usr2;
	bool shutting_down;
	bool aborted;                   /* past shutdown_timeout, or a second signal */
	struct event *shutdown_ev;      /* shutdown_timeout */
	struct intercept_stats istats;
	int64_t started;                /* time(NULL) at start (uptime) */
	struct stat_sample samples[2];  /* the previous and the latest sample */
	struct metrics *metrics;        /* the Prometheus endpoint (metrics.h), NULL: none */
	unsigned char scram_mock_key[32];
	struct logincache *logins;      /* logincache.h */
	int warm_backends;              /* sessions' backends opened for direct writes */
	long fd_limit;                  /* RLIMIT_NOFILE after raising it */
	long fd_spare;                  /* descriptors for client sessions (1 each, 2 with a backend) */
	bool accept_paused;             /* out of descriptors: listeners off until one is freed */
	struct event *accept_ev;        /* ... or a second passed */
	uint64_t accept_failures;       /* since the last report */
	int64_t accept_logged_ms;
};

/* Sets up everything from the config file; false (after logging why) on failure. */
bool daemon_init(struct daemon *d, const char *config_path, bool spool_salvage) __attribute__((warn_unused_result));
int daemon_run(struct daemon *d);
void daemon_free(struct daemon *d);

/* Starts a graceful shutdown (also what SIGTERM/SIGINT do). */
void daemon_shutdown(struct daemon *d, const char *why);
/* Ends it now: what is not written is given up, every session gets 57P01
 * (shutdown_timeout passed, or a second signal). */
void daemon_abort(struct daemon *d);
/* Re-reads the config file (SIGHUP, RELOAD). False: the old one is kept,
 * why says what is wrong with the new (why may be NULL). */
bool daemon_reload(struct daemon *d, char *why, size_t whylen);


/* Connects a socket of pgbatchd's own to the server (a session's backend, a
 * login's check): TLS first as config_server_tls_mode says (a TCP server).
 * False when the connect cannot start (errno). */
struct sock;
bool daemon_connect_backend(struct daemon *d, struct sock *sk) __attribute__((warn_unused_result));

/* A client connection, or the last lingering backend, was freed (ends the
 * loop once a shutdown has closed all). */
void daemon_client_gone(struct daemon *d);

/* Sends a CancelRequest for (pid, key) to the backend on a new connection;
 * done(arg), if set, runs once the server has closed that connection (it has
 * signalled the backend then) or it failed. NULL when it could not be sent
 * (done does not run then). */
struct canceller;
struct canceller *daemon_send_cancel(struct daemon *d, uint32_t pid, uint32_t key, void (*done)(void *arg),
				     void *arg);
/* Whoever waited for it is gone: done does not run. */
void daemon_cancel_forget(struct canceller *k);
/* The client whose backend has this BackendKeyData, or NULL. */
struct client *daemon_find_by_key(struct daemon *d, uint32_t pid, uint32_t key);

#endif
