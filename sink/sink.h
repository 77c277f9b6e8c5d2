/* The batching sink's interface to client sessions: open a session, submit rows, get replies, flush, drain. */
#ifndef PGBATCHD_SINK_SINK_H
#define PGBATCHD_SINK_SINK_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/pktbuf.h"

struct event_base;
struct config;
struct ins_stmt;
struct sink;
struct sink_session;
struct sink_unit;

enum sink_status {
	SINK_DONE = 0,      /* rows accepted: send "INSERT 0 <rows>" (after `warning`, if set) */
	SINK_ERROR,         /* send `error` as an ErrorResponse */
	SINK_PASSTHROUGH,   /* not ours after all (unknown table, unsupported value for the
	                       column type, ...): forward the original message to the backend */
};

struct sink_reply {
	enum sink_status status;
	uint64_t rows;                  /* SINK_DONE: rows inserted or updated */
	const char *reason;             /* SINK_PASSTHROUGH: short stable reason, counted */
	const struct pkt_diag *error;   /* SINK_ERROR: every field, as the backend sent them
	                                   (a real SQLSTATE in C either way) */
	const struct pkt_diag *warning; /* SINK_DONE, exceptionmode=ignore: rows were rejected;
	                                   a WARNING to send before the tag, else NULL */
	int stmt;                       /* SINK_ERROR: the statement of the unit that failed;
	                                   with a warning: the statement it belongs to */
	const struct pkt_diag *const *warnings; /* SINK_DONE: per statement, its WARNING or NULL */
	int nstmts;                     /* SINK_DONE: the unit's statements, and */
	const uint64_t *counts;         /* the rows each inserted or updated */
};

/* What a client session tells the sink once, at sink_session_open. */
struct sink_client {
	const char *user;           /* the client's role: its INSERT privilege is checked */
	const char *prefix;         /* its log prefix */
	const char *peer;           /* its address (the rejects file), or NULL */
	/* Called exactly once per unit, from the event loop, never from inside a
	 * sink call. For ackmode=commit after the unit's batch committed (or
	 * failed); for ackmode=immediate once its rows are buffered. arg is the
	 * one given to sink_submit. */
	void (*reply)(void *arg, const struct sink_reply *r);
	/* Called once after reply, when the unit's rows are committed or have
	 * definitively failed. The unit is gone after this returns. */
	void (*settled)(void *arg);
	/* A unit built with sink_unit_add: one statement is taken (reason NULL:
	 * its rows are converted and buffered in the unit) or not (reason says
	 * why; its rows are not in the unit). Once per statement, in order, from
	 * the event loop. stmt_arg is the one given to sink_unit_add. */
	void (*decided)(void *stmt_arg, const char *reason);
	/* A unit placed while the sink held nothing else of its tables (and
	 * ackmode = commit): the client may write it on its own connection,
	 * outside a transaction block, as sink_tx_batch(u, every statement)
	 * gives it, and report with sink_direct_done (or sink_direct_lost).
	 * Returns false to leave it to the writers. From the event loop. */
	bool (*direct)(void *arg, struct sink_unit *u);
};

struct sink *sink_new(struct event_base *base, const struct config *cfg);
void sink_free(struct sink *s);
/* SIGHUP: the new config replaces the old for tables' options (not writers). */
void sink_reload(struct sink *s, const struct config *cfg);

/* True when st's target names a configured table and the client's database is
 * the sink's database. Pure config match, no I/O. A schema-qualified name must
 * name the table's targetschema; an unqualified one is taken only where the
 * session's search_path resolves it to that table (sink_session_resolved). */
bool sink_wants(const struct sink *s, const struct ins_stmt *st, const char *database);
/* True when a session of this database may have INSERTs the sink takes. */
bool sink_serves(const struct sink *s, const char *database);

/* A client session. Its units are written in the order it submits them. */
struct sink_session *sink_session_open(struct sink *s, const struct sink_client *c);
/* A setting the session's backend reported (ParameterStatus), or one the
 * proxy asked for (timezone_abbreviations, xmloption). Those that change how a
 * literal, a default or a trigger reads are compared with the sink's
 * connections' values: the rows of a session where TimeZone, DateStyle,
 * IntervalStyle, timezone_abbreviations or xmloption differs are written with
 * its values set for them (set_config(..., true) in the batch's transaction);
 * an INSERT of a session whose client_encoding differs passes through (reason
 * "session settings"), and so does one whose conflict key value reads a
 * setting that differs. A literal always means what it means directly. */
void sink_session_setting(struct sink_session *ss, const char *name, const char *value);
/* The session's current role (SET ROLE, SET SESSION AUTHORIZATION): its rows
 * are written as it. */
void sink_session_role(struct sink_session *ss, const char *role);
/* Where each configured table's name (sink_table_name, in order) resolves in
 * the session without a schema: the OID of the relation its search_path
 * finds first (temporary tables included), 0 for none. An unqualified INSERT
 * is taken only when that is its configured table. */
void sink_session_resolved(struct sink_session *ss, const uint32_t *oids, int n);
/* The session has settings of its own that a write may read (a custom
 * app.* setting, session_replication_role, lc_messages, ...: those the sink's
 * writers would not have): its INSERTs outside transaction blocks pass
 * through (with the clause), where they run with them. */
void sink_session_private(struct sink_session *ss, bool on);
/* The session set a custom setting (a placeholder: SET app.user, set_config(),
 * its startup packet), which pg_settings does not list: from now on it has
 * settings of its own (as sink_session_private). */
void sink_session_custom(struct sink_session *ss);
/* The session sent a statement other than an INSERT: a batch that waits for
 * it to come back with one (gatherwait) does not wait for it. */
void sink_session_busy(struct sink_session *ss);
/* currval() / lastval(): the session had rows taken (outside a transaction
 * block) into a table with a sequence default, so its own sequence state is
 * not what it would be directly. */
bool sink_session_seq_taken(const struct sink_session *ss);
/* From now on the session's INSERTs into such tables pass through. */
void sink_session_seq_pass(struct sink_session *ss);
/* An INSERT into st's table runs on the session's own connection (staged in
 * its transaction): the sequence values it takes are the session's again. */
void sink_session_seq_own(struct sink_session *ss, const struct ins_stmt *st);
/* The configured tables, names as PostgreSQL stores them. */
int sink_table_count(const struct sink *s);
const char *sink_table_name(const struct sink *s, int i);

/* The client went away: its rows stay and are written, no callback runs. */
void sink_session_close(struct sink_session *ss);

/* Takes the rows of one client message as one unit; st is consumed. Returns
 * the unit, valid until settled() returns (or the session is closed); NULL
 * when out of memory (nothing was taken: the caller passes the message on). */
struct sink_unit *sink_submit(struct sink_session *ss, struct ins_stmt *st, void *arg);
/*
 * A unit of several statements, built one statement at a time: the rows of an
 * extended-protocol Sync group, or of a transaction. Its statements are taken
 * (converted) as they are added, and `decided` tells of each. Once closed it
 * is written in one backend transaction like any unit; if a statement was not
 * taken, the whole unit is answered SINK_PASSTHROUGH and nothing is written.
 */
struct sink_unit *sink_unit_open(struct sink_session *ss, void *arg);
/* Adds one INSERT (consumed). False when out of memory (nothing was taken). */
bool sink_unit_add(struct sink_unit *u, struct ins_stmt *st, void *stmt_arg)
	__attribute__((warn_unused_result));
/* No more statements: the unit is written once every statement is taken. */
void sink_unit_close(struct sink_unit *u);
/* The unit is not written (ROLLBACK, or its rows went elsewhere): no callback
 * runs for it any more, and it is freed. */
void sink_unit_drop(struct sink_unit *u);
/*
 * A transaction block's unit: built statement by statement like
 * sink_unit_open's, but never written by the sink. Its rows go into the
 * client's own transaction, on the client's own connection, as the batch
 * sink_tx_batch makes of them; then it is dropped (sink_unit_drop). The
 * database judges those statements as the client's: no privilege check, no
 * SET ROLE, a stopped table does not stop them. With late (simple-Query
 * INSERTs, answered before their rows are written), a statement whose row
 * count the database decides (conflictmode ignore, update naming no column
 * it may update, BEFORE ROW triggers, rules) is not taken: the proxy runs it
 * as sent. A statement is told decided once its key values are known.
 */
struct sink_unit *sink_tx_open(struct sink_session *ss, void *arg, bool late);
/* Statements [0, upto) of a transaction's unit, every one decided, as
 * frontend messages for the client's connection, appended to out: one Query
 * of prefix, the batch statements and suffix (";"-separated; prefix and
 * suffix may be NULL), then the COPY data of its COPY statements. The
 * statements are COPY, multi-row INSERT ... VALUES or INSERT ... SELECT FROM
 * unnest, by the table's writemode, with its conflict clause; which rows
 * share a statement is plan.h's (arrival order per key; ordered and row-wise
 * tables as INSERT ... VALUES in arrival order). *rows: what their INSERT
 * and COPY tags add up to when each writes every row of it; 0, and nothing
 * appended, when there are no rows. False when out of memory. */
bool sink_tx_batch(const struct sink_unit *u, int upto, const char *prefix, const char *suffix,
		   struct pktbuf *out, uint64_t *rows) __attribute__((warn_unused_result));
/* Rows acknowledged to other clients (ackmode = immediate) and not yet
 * written, in a table of statements [0, upto): they were done before this
 * transaction's rows, as their clients were told, so they are written first.
 * True while there are (they are flushed now, and the wake callback runs
 * once they are written); false: the rows may go. */
bool sink_tx_wait(const struct sink_unit *u, int upto);
/* fn runs when rows a transaction waited for (sink_tx_wait) are written. */
void sink_set_tx_wake(struct sink *s, void (*fn)(void *arg), void *arg);
/* (It runs too when a catalog that sink_clause waited for is read.) */
/* True when every statement of that batch writes each of its rows or fails
 * (no DO NOTHING, no BEFORE ROW trigger, no rule): its tags add up to *rows. */
bool sink_tx_exact(const struct sink_unit *u, int upto);
/* False when a row's table has a volatile default (a sequence, an identity,
 * random(), ...): a batch rolled back and run again would call it twice. */
bool sink_tx_rerun_safe(const struct sink_unit *u, int upto);
/* A unit the client took (sink_client.direct) is written: ok, with `rows`
 * what the tags of its statements add up to (its reply's count; a unit of
 * several statements is offered only when each writes all its rows); or its
 * statements failed and left nothing behind: the writers write it as usual
 * (its rejected rows, its errors), or it fails with its cancel. */
void sink_direct_done(struct sink_unit *u, bool ok, uint64_t rows);
/* Its connection was lost before the answer: the unit fails with
 * sqlstate/message (its cancel's, if cancelled). */
void sink_direct_lost(struct sink_unit *u, const char *sqlstate, const char *message);
/* The same for a connection lost without the server saying its backend
 * ended (EOF, a reset): that backend may still run the statement and commit
 * it. The unit stays placed, so that nothing after it in the order is written
 * first, until a connection of the sink's ends the backend (pid, and its
 * backend_start in microseconds since the epoch, so that a pid used again is
 * never hit) and it is gone; then it fails so. Unknown pid or start (0):
 * sink_direct_lost at once. */
void sink_direct_reap(struct sink_unit *u, int pid, int64_t backend_start_us, const char *sqlstate,
		      const char *message);
/* The session ends while the unit's statement may still run on a connection
 * that lingers: the unit stays (sink_direct_lost ends it) until released. */
void sink_direct_hold(struct sink_unit *u);
void sink_direct_release(struct sink_unit *u);
/* How many statements the unit holds. */
int sink_unit_statements(const struct sink_unit *u);
/* The batchsize and batchwritetimeoutms of the configured table st names;
 * false when it names none. */
bool sink_table_bounds(const struct sink *s, const struct ins_stmt *st, int *batchsize, int *timeout_ms);

/* statement_timeout: the unit's rows must be committed within ms, or its
 * statement fails with 57014 and they are never written (removed from the
 * queue, or from its batch, which carries its own statement_timeout). */
void sink_unit_set_timeout(struct sink_unit *u, int64_t ms);
/* A CancelRequest (or the timeout): the unit fails with sqlstate/message and
 * its rows are never written, unless its batch commits first (a cancel that
 * comes too late, as directly). Its reply comes as usual. */
void sink_unit_cancel(struct sink_unit *u, const char *sqlstate, const char *message);

/* The conflict clause of an INSERT the sink does not take, into a configured
 * table (an expression, a SELECT source, RETURNING, WITH, several statements,
 * the extended protocol, another client_encoding): its head comes from
 * ins_find (or ins_parse / ins_parse_params, whose values say which columns a
 * list-less one names). */
enum sink_clause {
	SINK_CLAUSE_NONE = 0,   /* none: not a configured table in this session
	                           (another relation by that name, another
	                           database), conflictmode strict, no key, no
	                           such table or column (the database says so) */
	SINK_CLAUSE_SOME,       /* *clause (malloc'd) goes at head->end */
	SINK_CLAUSE_WAIT,       /* the table's catalog is being read: ask again
	                           after the sink's wake (sink_set_tx_wake). Not
	                           when !can_wait and a catalog was read before:
	                           the clause is made from that one */
	SINK_CLAUSE_COLUMNS,    /* the clause depends on which columns it names,
	                           and that is not known (width_known false) */
	SINK_CLAUSE_UNKNOWN,    /* the table's catalog cannot be read now (an
	                           error, a lock held past the bound) and none
	                           was read before: its clause is not known */
};
enum sink_clause sink_clause(struct sink_session *ss, const struct ins_stmt *head, bool width_known,
			     bool can_wait, const char *database, char **clause);
/* COPY name [(columns)] FROM ... into a configured table (an ins_find copy
 * site's head): its rows go through the temp table `stage`, which COPY
 * fills, and then into the table by out->insert, with the table's clause.
 * NONE: as sent (no clause, copyclause = 0); WAIT, UNKNOWN: as sink_clause;
 * SOME: out->create, out->insert, out->relname and out->schema (malloc'd,
 * UTF-8), or out->refusal. */
#define SINK_COPY_STALE "changed since pgbatchd read its catalog"
struct sink_copy {
	char *create;       /* DO block: CREATE TEMP TABLE stage, the columns as they are, after
	                       checking they are the catalog's (else 55000, SINK_COPY_STALE in
	                       its message: the caller has the table read again) */
	char *insert;       /* INSERT INTO ... SELECT ... FROM pg_temp.stage ... ON CONFLICT ... */
	char *relname;      /* the table's name as COPY's messages give it */
	char *schema;       /* its schema's */
	uint32_t oid;       /* the table's */
	char refusal[192];  /* not empty: the COPY cannot take the clause (why) */
};
enum sink_clause sink_copy(struct sink_session *ss, const struct ins_stmt *head, bool can_wait,
			   const char *database, const char *stage, struct sink_copy *out);
/* UNKNOWN: why the catalog could not be read (its SQLSTATE, else 0A000 and
 * an empty message). */
void sink_clause_error(struct sink_session *ss, const struct ins_stmt *head, char sqlstate[6], char *msg,
		       size_t len);
/* Whether an INSERT of constants into the head's table, as this session's
 * name resolves, can change nothing of the session (its role, settings, where
 * names resolve): the table as last read has no trigger that INSERT or its
 * ON CONFLICT DO UPDATE fires, no rule, no row security, no default or CHECK
 * that calls a volatile function (besides nextval()), no domain column and no
 * foreign key whose ON UPDATE action changes other rows. False when not known. */
bool sink_insert_inert(struct sink_session *ss, const struct ins_stmt *head, const char *database);
/* The same of every table a unit writes (its rows written on the client's
 * connection, in its transaction or directly, leave its session as it was). */
bool sink_unit_inert(const struct sink_unit *u);
/* Whether the head's table is configured with copyclause = 1. */
bool sink_copies(struct sink_session *ss, const struct ins_stmt *head);
/* As sink_clause, for a head whose columns are known; NULL unless SOME. */
char *sink_head_clause(struct sink_session *ss, const struct ins_stmt *head, const char *database);
/* A Parse of an INSERT into a configured table (tmpl: its template;
 * declared[0..ndeclared): the parameter types it names) in a session that
 * has no backend to describe it: SOME when the sink's catalog proves that
 * the backend would parse it, out[0..nout) then holding the parameter types
 * it would describe (an undeclared one takes its column's type); WAIT: the
 * table's catalog is being read (ask again once sink_catalog_done wakes the
 * sessions); NONE: the backend must be asked. */
enum sink_clause sink_describe(struct sink_session *ss, const struct ins_stmt *tmpl, const char *database,
			       const uint32_t *declared, int ndeclared, uint32_t *out, int nout);

/* SIGUSR2: tables stopped after a rejected row of an acknowledged statement
 * (exceptionmode = strict, ackmode = immediate) take rows again. Returns how
 * many were stopped. */
int sink_resume(struct sink *s);

/* Read-your-writes barrier: the unit's rows are flushed now. */
void sink_flush_unit(struct sink_unit *u);

/* Backpressure: true while buffered bytes exceed max_buffer_bytes. */
bool sink_full(const struct sink *s);
/* fn runs whenever the sink goes from full to not full. */
void sink_set_room_callback(struct sink *s, void (*fn)(void *arg), void *arg);

/* Shutdown: flush every buffer; done runs once all rows are committed or failed. */
void sink_drain(struct sink *s, void (*done)(void *arg), void *arg);
/* Shutdown past shutdown_timeout (or a second signal): nothing more is
 * written. Every batch in flight is cancelled (PQcancel, which waits for
 * the server to take the request; its transaction rolls back unless its
 * COMMIT already ran) and, with every unit queued or being read, fails with
 * sqlstate/message; acknowledged rows not written go to their table's
 * rejects file (or the log). The drain's done runs once all is settled. */
void sink_abort(struct sink *s, const char *sqlstate, const char *message);

/* Writes a one-line summary of the counters to the log (SIGUSR1, exit). */
void sink_log_stats(const struct sink *s);

/* DDL ran on a table, or GRANT/REVOKE (anything that may change its columns,
 * key or privileges): its catalog and the cached INSERT privileges are read
 * again before its next rows are taken. NULL schema / table match every
 * schema / table; names as PostgreSQL stores them (already case-resolved). */
void sink_catalog_invalidate(struct sink *s, const char *schema, const char *table);

#endif
