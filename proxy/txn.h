/* Transaction blocks: INSERTs staged per session between BEGIN and COMMIT, entering the sink as one unit at COMMIT. */
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
struct pending;
struct pktbuf;
struct rq_entry;
struct sink_reply;

/*
 * Inside a transaction block, INSERTs that pgbatchd takes are staged in one
 * sink unit per transaction and answered as soon as the sink has taken their
 * rows (converted, every value checked against its column). COMMIT waits for
 * the unit: with ackmode=commit it is answered after the rows are committed,
 * and if they cannot be, COMMIT fails with their error and the transaction is
 * rolled back, as with a deferred constraint. ROLLBACK drops them.
 *
 * The transaction stays "pure" while the client runs only staged INSERTs and
 * statements that cannot see or change table data: SET, RESET, SHOW (not SET
 * ROLE or SET SESSION AUTHORIZATION), and BEGIN itself. Any other statement
 * (a SELECT, an UPDATE, DDL, SAVEPOINT, a function call, an INSERT pgbatchd
 * does not take, into any table) first gets the staged rows written into the
 * client's own transaction on its own connection, one INSERT per row with
 * its table's conflict clause, and then runs; the rest of that transaction
 * passes through. The client sees what it would see directly; an error of
 * those rows is the statement's error. Staging is also left, the same way,
 * when a transaction's staged rows pass max_buffer_bytes / 4.
 */

enum txn_state {
	TXS_NONE = 0,   /* nothing staged */
	TXS_STAGING,    /* INSERTs are staged in the transaction's unit */
	TXS_FLUSHING,   /* staged rows are being written into the client's transaction */
	TXS_FAILED,     /* writing them failed: the next statement gets the error */
	TXS_COMMITTING, /* COMMIT waits for the unit */
	TXS_PASS,       /* the rest of the transaction passes through */
	TXS_STATES
};

/* May the INSERTs of a transaction block be staged now (the block is open,
 * or opens in the same group: in_tx) and nothing forces them through? */
bool txn_can_stage(const struct client *c, bool in_tx);

/* A simple-Query INSERT inside a transaction block: staged (consumed from
 * `in`); its answer follows once its rows are taken. st is consumed. */
enum intercept_result txn_stage_query(struct client *c, struct ins_stmt *st, struct evbuffer *in,
				      size_t total);
/* The Executes of a held group inside a transaction block: staged. False:
 * not staged (the group passes through). */
bool txn_stage_group(struct client *c, struct group *g);
/* COMMIT as a simple Query, with rows staged: held until they are written. */
enum intercept_result txn_commit_query(struct client *c, struct evbuffer *in, size_t total);
/* A held group that is just a COMMIT: held until the rows are written. */
bool txn_commit_group(struct client *c, struct group *g);
/* Is a COMMIT now one that waits for staged rows? Ready to take it? */
bool txn_commit_pending(const struct client *c);
bool txn_commit_ready(const struct client *c);

/* What a statement (its whole text) does to a transaction block. */
enum txn_class { TC_OTHER = 0, TC_KEEP, TC_BEGIN, TC_COMMIT, TC_ROLLBACK };
enum txn_class txn_classify(const char *sql, size_t len);

/* A statement is about to pass through (sql: its text, NULL when unknown). */
enum txn_gate {
	TG_GO = 0,      /* forward it */
	TG_WAIT,        /* not yet: the session resumes by itself */
	TG_FAILED,      /* the staged rows failed: answer it with txn_error() */
};
enum txn_gate txn_gate(struct client *c, const char *sql, size_t len);
/* The ErrorResponse of the failed staged rows (TG_FAILED); the transaction
 * is aborted now, and passes through. */
const struct pktbuf *txn_error(struct client *c);
void txn_error_told(struct client *c);

/* The sink answered the transaction's unit (at COMMIT it joins the
 * session's pending units and settles as they do); a statement of it is
 * decided. */
void txn_reply(struct pending *p, const struct sink_reply *r);
void txn_decided(void *stmt_arg, const char *reason);
/* Reply-queue hooks for the Queries the transaction sent (entries with msg 'Q'). */
void txn_entry_done(struct client *c, struct rq_entry *e);
void txn_captured(struct client *c, struct rq_entry *e, uint8_t type, const uint8_t *body, uint32_t len);
/* A ReadyForQuery from the backend. */
void txn_ready(struct client *c, char status);
/* The session ends: staged rows are dropped (never committed). */
void txn_free(struct client *c);

#endif
