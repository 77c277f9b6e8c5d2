/* One non-blocking libpq connection driven by the libevent loop: connect, query, params, COPY IN. */
#ifndef PGBATCHD_SINK_PGCONN_H
#define PGBATCHD_SINK_PGCONN_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "protocol/pktbuf.h"
#include "sink/buf.h"

struct event_base;
struct pgconn;

enum pc_event {
	PC_CONNECTED = 0,   /* pc_connect finished: ok, or failed (message set) */
	PC_DONE,            /* the operation finished: ok, or the first error */
	PC_LOST,            /* the connection broke (during an operation or while idle) */
};

/* What the callback gets. Strings and results live until the next operation. */
struct pc_result {
	enum pc_event event;
	bool ok;
	char sqlstate[6];           /* "" when the failure has none (connection trouble) */
	const char *message;
	const char *detail;
	const char *hint;
	const struct pkt_diag *diag;    /* every field of the backend's error (message,
					 * detail and hint above are its M, D, H) */
	const PGresult *rows;       /* the last PGRES_TUPLES_OK of the operation, or NULL */
	const char *cmdstatus;      /* the last command tag */
	int nresults;               /* statements of a multi-statement query that
				     * completed before the failure (all, when ok) */
	PGresult *const *results;   /* the result of each of those statements, in order */
};

/* Fills chunk with up to ~64 KiB of data for the copy-th COPY FROM STDIN of the
 * operation (0, 1, ...); sets *done when no more follows for that COPY. */
typedef void (*pc_copy_fill)(void *arg, int copy, struct buf *chunk, bool *done);

/* The callback runs from the event loop, never from inside a pc_* call, and
 * may start the next operation or close the connection. */
struct pgconn *pc_new(struct event_base *base, const char *prefix,
		      void (*cb)(void *arg, const struct pc_result *r), void *arg);
void pc_free(struct pgconn *pc);

/* Starts connecting (PQconnectStartParams) with a NULL-terminated keyword list.
 * timeout_ms bounds the whole attempt. */
void pc_connect(struct pgconn *pc, const char *const *keywords, const char *const *values,
		int timeout_ms);
/* Drops the connection (no callback). */
void pc_close(struct pgconn *pc);
/* The statement in flight is cancelled now (PQcancel: blocks until the
 * server took the request; for a forced shutdown only), then the
 * connection closed: no callback runs for it. */
void pc_cancel_close(struct pgconn *pc);
bool pc_connected(const struct pgconn *pc);
bool pc_busy(const struct pgconn *pc);
/* Server version (PQserverVersion), 0 when not connected. */
int pc_server_version(const struct pgconn *pc);
/* The backend's process id (PQbackendPID), 0 when not connected. */
int pc_backend_pid(const struct pgconn *pc);
/* A parameter the server reported (PQparameterStatus), NULL when unknown. */
const char *pc_parameter(const struct pgconn *pc, const char *name);

/* Each starts one operation on an idle connection; the result arrives through
 * the callback (a failure to send too, as PC_LOST). */
void pc_query(struct pgconn *pc, const char *sql);
void pc_params(struct pgconn *pc, const char *sql, int n, const char *const *values);
/* A query whose statements may include COPY ... FROM STDIN: fill supplies their data. */
void pc_copy(struct pgconn *pc, const char *sql, pc_copy_fill fill, void *fill_arg);

/* Errors one row (or one unit) can cause, worth isolating; the others fail the batch. */
bool sqlstate_row_level(const char *sqlstate);
/* True for the SQLSTATEs of transient failures worth a retry: class 08,
 * 40001, 40P01, class 53, 55P03, 57P01-57P03; an empty state (connection
 * lost) too. */
bool pc_transient(const char *sqlstate);

#endif
