/* The session's prepared statements as pgbatchd knows them: which are INSERTs it may take, which the backend has, their parameter types. */
#ifndef PGBATCHD_PROXY_PSTMT_H
#define PGBATCHD_PROXY_PSTMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/insert.h"
#include "protocol/pktbuf.h"

struct client;
struct pktreader;
struct rq_entry;

/*
 * Every statement a Parse made (named, and the unnamed one) is in the
 * session's registry, c->is.stmts. A statement of an INSERT that pgbatchd may
 * take keeps its template; its Parse is kept too, because a statement
 * pgbatchd answered itself is not at the backend until something needs it
 * there: then the Parse goes first and its answer is swallowed.
 */
struct pstmt {
	struct pstmt *next;
	int refs;
	bool registered;            /* in the session's registry under `name` */
	char *name;
	uint8_t *parse;             /* the client's Parse message, whole */
	uint32_t parse_len;
	bool insert;                /* an INSERT the sink may take: tmpl */
	struct ins_stmt tmpl;
	uint32_t *types;            /* parameter types: Parse's, then ParameterDescription's */
	int ntypes;
	bool at_backend;            /* its Parse went to the backend */
	bool clause_done;           /* `parse` has its table's conflict clause (pstmt_add_clause) */
	bool local;                 /* described from the sink's catalog, which proves the Parse
	                               valid (pstmt_describe_local): no probe is needed */
	bool failed;                /* a Parse pgbatchd sent failed: `error` holds the answer */
	struct pktbuf error;
	struct pktbuf describe;     /* the backend's answer to a Describe of it: 't' and 'n' */
};

struct pstmt *pstmt_ref(struct pstmt *ps);
void pstmt_unref(struct pstmt *ps);

/* The statement of a Parse message (whole); NULL when malformed or out of memory. */
struct pstmt *pstmt_new(struct client *c, const uint8_t *msg, uint32_t len);
struct pstmt *pstmt_lookup(struct client *c, const char *name);
/* Its SQL text (in its Parse message). */
const char *pstmt_sql(const struct pstmt *ps, size_t *len);
/* Into the registry, replacing a statement of the same name. */
void pstmt_register(struct client *c, struct pstmt *ps);
void pstmt_unregister(struct client *c, struct pstmt *ps);
void pstmt_unregister_all(struct client *c);

/* An INSERT statement the sink may take, about to go to the backend: its
 * Parse gets the table's conflict clause where its VALUES end, so that the
 * statement means at the backend what it means when pgbatchd takes it (once;
 * nothing when the clause cannot be known yet). */
void pstmt_add_clause(struct client *c, struct pstmt *ps);
/* The backend gets ps's Parse, before queue entry `before` (NULL: at the
 * tail); its answer is swallowed -- but for an error when relay_error (it
 * goes ahead of a message of the client's that names ps: the backend then
 * skips that message, whose answer the error is, as directly). */
bool pstmt_inject_parse(struct client *c, struct pstmt *ps, struct rq_entry *before, bool relay_error);
/* The backend checks ps's Parse on the side (Parse, Sync; answers
 * swallowed; a failure kept in ps). */
bool pstmt_probe_parse(struct client *c, struct pstmt *ps);
/* The backend knows statement `name` before a message naming it. */
bool pstmt_ensure_at_backend(struct client *c, const char *name);
/* Describe of ps asked of the backend on the side (Parse if needed,
 * Describe, Sync; every answer swallowed, the Describe's kept in ps). */
bool pstmt_probe_describe(struct client *c, struct pstmt *ps);
/* A session without a backend: ps described from the sink's catalog (its
 * parameter types, NoData) when that proves the backend would parse it --
 * SINK_CLAUSE_SOME, ps->local set; WAIT: its table's catalog is being read;
 * NONE: the backend must be asked. */
int pstmt_describe_local(struct client *c, struct pstmt *ps);
/* The backend still owes answers to messages pgbatchd sent for itself. */
bool pstmt_probes_pending(const struct client *c);
/* The answer to the client's Describe of ps, from the probe's. */
void pstmt_describe_answer(struct pktbuf *out, const struct pstmt *ps);

/* A Bind's parameters (the reader is after the statement name) turned into
 * ps's rows; false when they cannot be (a binary type not decoded here, a
 * count the backend rejects): the Bind passes through. */
bool pstmt_bind(const struct pstmt *ps, struct pktreader *r, struct ins_stmt *out);

/* A simple Query passes through: DEALLOCATE, DISCARD and EXECUTE name
 * prepared statements, which the backend must have and the registry follows. */
void pstmt_query(struct client *c, const char *sql, size_t len);
/* The client sent a simple Query (passed through or taken): the unnamed
 * statement is gone, as the backend drops it. */
void pstmt_client_query(struct client *c);
/* pgbatchd sends a simple Query of its own on the session's connection: the
 * backend drops the unnamed statement, which is parsed there again before a
 * message of the client names it. */
void pstmt_own_query(struct client *c);

/* Reply-queue hooks for entries that a statement owns. */
void pstmt_entry_done(struct client *c, struct rq_entry *e);
void pstmt_captured(struct client *c, struct rq_entry *e, uint8_t type, const uint8_t *body, uint32_t len);

/* The session ends. */
void pstmt_free_all(struct client *c);

#endif
