/* The batching sink's interface to client sessions: submit rows, get replies, flush, drain. */
#ifndef PGBATCHD_SINK_SINK_H
#define PGBATCHD_SINK_SINK_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct config;
struct ins_stmt;
struct sink;
struct sink_ticket;

enum sink_status {
	SINK_DONE = 0,      /* rows accepted: send "INSERT 0 <rows>" */
	SINK_ERROR,         /* send an ErrorResponse with the fields below */
	SINK_PASSTHROUGH,   /* not ours after all (unknown table, unsupported value for the
	                       column type, ...): forward the original message to the backend */
};

struct sink_reply {
	enum sink_status status;
	uint64_t rows;          /* SINK_DONE */
	const char *reason;     /* SINK_PASSTHROUGH: short stable reason, counted */
	const char *sqlstate;   /* SINK_ERROR: a real SQLSTATE (from the backend when it has one) */
	const char *severity;   /* SINK_ERROR: "ERROR" */
	const char *message;
	const char *detail;     /* may be NULL */
	const char *hint;       /* may be NULL */
};

/* What a client session hands the sink with each message's rows. */
struct sink_client {
	const char *user;           /* the client's role: its INSERT privilege is checked */
	const char *database;       /* the client's database */
	const char *prefix;         /* its log prefix */
	/* Called exactly once per ticket, from the event loop, never from inside
	 * sink_submit. For ackmode=commit after the batch committed (or failed); for
	 * ackmode=immediate once the rows are buffered. */
	void (*reply)(void *arg, const struct sink_reply *r);
	/* Called once after reply, when the ticket's rows are committed or have
	 * definitively failed. The ticket is freed after this returns. */
	void (*settled)(void *arg);
	void *arg;
	/* The session's settings that change how a literal reads, as its backend
	 * last reported them in ParameterStatus (NULL: not known, the server's
	 * default assumed). When one differs from the sink's own connections'
	 * value, the statement passes through (reason "session settings"), so a
	 * literal always means what it means directly. */
	const char *timezone;           /* TimeZone: timestamptz without offset, 'today' */
	const char *datestyle;          /* DateStyle: field order of dates */
	const char *intervalstyle;      /* IntervalStyle: sql_standard intervals */
	const char *client_encoding;    /* the bytes of every string */
};

struct sink *sink_new(struct event_base *base, const struct config *cfg);
void sink_free(struct sink *s);
/* SIGHUP: the new config replaces the old for tables' options (not writers). */
void sink_reload(struct sink *s, const struct config *cfg);

/* True when st's target names a configured table and the client's database is
 * the sink's database. Pure config match, no I/O. A schema-qualified name must
 * name the table's targetschema; an unqualified one matches only a table whose
 * targetschema is public (the default search_path's): a session whose
 * search_path is not the default must pass unqualified INSERTs through. */
bool sink_wants(const struct sink *s, const struct ins_stmt *st, const char *database);

/* Takes the rows of one client message; st is consumed. Returns the ticket,
 * valid until settled() returns or sink_forget() is called. */
struct sink_ticket *sink_submit(struct sink *s, const struct sink_client *c, struct ins_stmt *st);
/* The client went away: rows stay and are written, no callback runs. */
void sink_forget(struct sink_ticket *t);
/* Read-your-writes barrier: flush now whatever buffer holds this ticket's rows. */
void sink_flush_ticket(struct sink_ticket *t);

/* Admin FLUSH [table]: every buffer of the table (NULL: of every table) is
 * flushed now (as a barrier). Names as stored (case-resolved). */
void sink_flush(struct sink *s, const char *table);

/* Backpressure: true while buffered bytes exceed max_buffer_bytes. */
bool sink_full(const struct sink *s);
/* fn runs whenever the sink goes from full to not full. */
void sink_set_room_callback(struct sink *s, void (*fn)(void *arg), void *arg);

/* Shutdown: flush every buffer; done runs once all rows are committed or failed. */
void sink_drain(struct sink *s, void (*done)(void *arg), void *arg);

/* Writes a one-line summary of the counters to the log (SIGUSR1, exit). */
void sink_log_stats(const struct sink *s);

/* DDL ran on a table, or GRANT/REVOKE (anything that may change its columns,
 * key or privileges): its catalog and the cached INSERT privileges are read
 * again before its next rows are taken. NULL schema / table match every
 * schema / table; names as PostgreSQL stores them (already case-resolved). */
void sink_catalog_invalidate(struct sink *s, const char *schema, const char *table);

#endif
