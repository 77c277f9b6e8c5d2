/* The one place that decides the conflict clause of an INSERT that passes through: every statement of a Query or a Parse, any encoding or string setting. */
#ifndef PGBATCHD_PROXY_CLAUSE_H
#define PGBATCHD_PROXY_CLAUSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct client;
struct evbuffer;

/*
 * A statement the sink does not take reaches the backend with the conflict
 * clause of every configured table it inserts into, where PostgreSQL runs an
 * INSERT (insert_find.h): several statements, WITH, EXPLAIN ANALYZE, PREPARE,
 * RETURNING, a SELECT source, an alias; read in the session's client_encoding
 * and standard_conforming_strings. An INSERT that has its own ON CONFLICT
 * keeps it. Where the clause cannot be placed with certainty (a list-less
 * INSERT whose source's width is unknown, in conflictmode upsert or update;
 * text pgbatchd cannot read in the session's encoding) the statement is
 * replaced by one that fails with 0A000 naming the table, so the backend
 * ends the statement (and aborts a transaction) as an error there would.
 */
enum clause_result {
	CLAUSE_AS_SENT = 0,     /* nothing to add */
	CLAUSE_NEW,             /* the message was replaced */
	CLAUSE_WAIT,            /* a catalog or the session's view is being read:
	                           the session resumes by itself */
};

/* A Query message, whole at the start of `in`: replaced there when needed. */
enum clause_result clause_query(struct client *c, struct evbuffer *in, size_t total);

/* A Query taken and then passed through by the sink without its clause
 * (*msg malloc'd, whole): replaced by one with its clauses (true), at once
 * (a catalog being read again makes it the failing statement). */
bool clause_query_now(struct client *c, uint8_t **msg, uint32_t *len);

/* A Parse message msg[0..total): *out (malloc'd, *outlen bytes) is the
 * message to send instead when CLAUSE_NEW. */
enum clause_result clause_parse(struct client *c, const uint8_t *msg, size_t total, uint8_t **out, size_t *outlen);

#endif
