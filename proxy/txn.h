/* Transaction blocks: a transaction's INSERTs written inside the client's own transaction, on its own connection, as batch statements. */
#ifndef PGBATCHD_PROXY_TXN_H
#define PGBATCHD_PROXY_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/intercept.h"

struct client;
struct evbuffer;
struct group;
struct ins_stmt;
struct pktbuf;
struct rq_entry;

/*
 * Inside a transaction block the rows of the INSERTs pgbatchd takes never
 * leave the client's transaction: they are written on the client's own
 * backend connection, as batch statements (COPY, multi-row INSERT or unnest,
 * with the table's conflict clause), so that locks, snapshots, isolation,
 * deferred constraints, triggers, settings, the role, now() and currval()
 * are PostgreSQL's own, and ROLLBACK or a lost client takes them away.
 *
 * Simple-Query INSERTs are staged in one sink unit and each is answered
 * `INSERT 0 n` once its rows are taken (converted). Their rows go to the
 * backend (a Query of ours, its answer swallowed, right ahead of the next
 * statement in the same round trip) before any statement that is not such
 * an INSERT -- COMMIT, SAVEPOINT, SELECT, SET, DDL, an INSERT passed through
 * -- and when the staged rows reach the tables' batchsize or their
 * batchwritetimeoutms. ROLLBACK (or ROLLBACK TO SAVEPOINT: every staged row
 * is newer than any savepoint) drops them unwritten. If the database refuses
 * them, the transaction is aborted as it would be, and the first error or
 * command tag the client gets after them is their error (the late-error
 * rule): COMMIT's answer, or the next statement's. An INSERT whose row count
 * the database decides (conflictmode ignore, ...) is run as sent, with the
 * table's conflict clause, at its own Query: its count is exact.
 *
 * An extended-protocol Sync group of INSERTs is written at its Sync, inside
 * a savepoint of ours, and answered after: if the database refuses its rows
 * (or writes fewer than the group was sent), the savepoint is rolled back
 * and the group runs as sent, so that each message gets PostgreSQL's own
 * answer. A group of one row runs as sent at once.
 */

enum txn_state {
	TXS_NONE = 0,   /* nothing staged */
	TXS_STAGING,    /* simple-Query INSERTs staged in the unit */
	TXS_FLUSHING,   /* their rows are being written (a Query of ours) */
	TXS_FAILED,     /* that failed: the first error or tag the client gets next is the rows' error */
	TXS_GROUP,      /* an extended-protocol group is being decided or written; its answers wait */
	TXS_STATES
};

/* What a statement (its whole text) does to a transaction block. */
enum txn_class { TC_OTHER = 0, TC_BEGIN, TC_COMMIT, TC_ROLLBACK };
enum txn_class txn_classify(const char *sql, size_t len);

/* May a simple-Query INSERT be staged now (the session is in a transaction
 * block, its rows are not being written, no DDL ran in it)? */
bool txn_can_stage(const struct client *c);
/* A simple-Query INSERT in a transaction block: staged (consumed from `in`);
 * its answer follows once its rows are taken. INTERCEPT_WAIT while rows are
 * being written (resumed after). st is consumed unless the result is WAIT. */
enum intercept_result txn_stage_query(struct client *c, struct ins_stmt *st, struct evbuffer *in,
				      size_t total);

/* An extended-protocol group starts in a transaction block. */
enum txn_group_gate {
	TGG_HOLD = 0,   /* hold it: it may be taken at its Sync (txn_group) */
	TGG_WAIT,       /* not yet: staged rows are written first (the session resumes) */
	TGG_PASS,       /* it passes through */
};
enum txn_group_gate txn_group_gate(struct client *c);
/* A held group (in a transaction block) reached its Sync, held too: it is
 * written now and answered after (the group is the transaction's). False:
 * not taken, the caller forwards it. */
bool txn_group(struct client *c, struct group *g);

/* A statement is about to pass through (sql: its text, NULL when unknown). */
enum txn_gate {
	TG_GO = 0,      /* forward it (behind the staged rows, which went first) */
	TG_WAIT,        /* not yet: the session resumes by itself */
};
enum txn_gate txn_gate(struct client *c, const char *sql, size_t len);
/* Is the transaction deciding staged INSERTs or writing a group (a message
 * that reads no data still waits, so as not to overtake them)? */
bool txn_busy(const struct client *c);
/* The client sent Terminate: staged rows are dropped, as the server rolls the
 * transaction back (nothing more is sent for it). */
void txn_abandon(struct client *c);

/* The sink decided a statement of a transaction's unit. */
void txn_decided(void *stmt_arg, const char *reason);
/* Reply-queue hooks for the Queries the transaction sent (entries with msg 'Q'). */
void txn_entry_done(struct client *c, struct rq_entry *e);
/* The session's view was answered: staged statements waiting for it go. */
void txn_view_done(struct client *c);
void txn_captured(struct client *c, struct rq_entry *e, uint8_t type, const uint8_t *body, uint32_t len);
/* A late entry's first ErrorResponse or CommandComplete (rq on_late). */
bool txn_late(struct client *c, struct rq_entry *e, struct pktbuf *out);
/* Rows acknowledged to other clients that the transaction's rows waited
 * for are written: they go now. */
void txn_wake(struct client *c);
/* A ReadyForQuery from the backend. */
void txn_ready(struct client *c, char status);
/* The session ends: staged rows are dropped (its backend rolls back). */
void txn_free(struct client *c);

#endif
