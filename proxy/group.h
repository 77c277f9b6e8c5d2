/* A held extended-protocol Sync group: its messages, how they are answered, forwarded or failed. */
#ifndef PGBATCHD_PROXY_GROUP_H
#define PGBATCHD_PROXY_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/insert.h"

struct client;
struct pktbuf;
struct pkt_diag;
struct pstmt;
struct rq_entry;
struct sink_unit;

/* One message of a held group. */
struct held {
	struct held *next;
	uint8_t type;
	uint8_t *msg;               /* right after the struct, in its allocation */
	uint32_t len;
	struct rq_entry *entry;     /* its own answer */
	struct pstmt *ps;           /* P: the statement it makes; B: the one it binds */
	struct ins_stmt bound;      /* B: its rows, until its Execute takes them */
	bool has_bound;
	bool answered;              /* answered at a Flush, before its group was decided */
	int stmt;                   /* E: its statement in the unit */
	uint64_t rows;              /* E: the rows of its statement */
};

/* A held message of len bytes (h->msg, h->len), in one allocation; NULL
 * when out of memory. held_free frees it (or keeps it for reuse). */
struct held *held_new(size_t len);
/* The bytes it takes (what a group counts against its bound). */
size_t held_footprint(size_t len);
void held_free(struct held *h);

/* A Sync group held, then handed to the sink as one unit. */
struct group {
	struct client *c;
	struct held *head, *tail;
	size_t bytes;
	int nexec;
	struct held *portal;        /* the Bind of the unnamed portal, not yet run */
	char tx_status;             /* the session's when the group began */
	bool in_tx;                 /* in a transaction block: its rows are staged */
	bool prefix;                /* a BEGIN went ahead of what is held (forwarded) */
	bool prefix_bound;          /* and its portal was bound */
};

/* Frees it (and what its messages hold). */
void group_free(struct group *g);
/* A held message's answer as PostgreSQL gives it when all goes well: an
 * Execute's `INSERT 0 rows` after its WARNING (if any); a Sync's
 * ReadyForQuery with tx_status. The entry is ready afterwards. */
void group_answer_held(struct held *h, uint64_t rows, const struct pkt_diag *warning, char tx_status);
/* The held messages go to the backend in order, as the client sent them
 * (statements it does not know parsed first; answers the client already has
 * swallowed). False when out of memory. */
bool group_forward_held(struct client *c, struct group *g);

/* Each of these frees the group: its rows are written (a transaction's:
 * every message answered as PostgreSQL would, its Sync by the backend when a
 * BEGIN went ahead); it goes to the backend as the client sent it. */
void group_answer(struct client *c, struct group *g);
void group_forward(struct client *c, struct group *g);
/* The group's messages are answered as PostgreSQL would up to its first
 * Execute, which gets err (an ErrorResponse message); the rest up to its
 * Sync is skipped and the Sync says the transaction failed. */
void group_fail_at_execute(struct client *c, struct group *g, const struct pktbuf *err);
/* Its Executes' rows go into unit u (count returned; -1 when out of memory). */
int group_add(struct group *g, struct sink_unit *u, void *stmt_arg, int64_t *bytes);
/* The rows of its Executes. */
uint64_t group_rows(const struct group *g);
/* Some of its messages were answered before its Sync (at a Flush). */
bool group_answered(const struct group *g);
/* The entry of its first message still owed an answer (NULL: none). */
struct rq_entry *group_first_entry(const struct group *g);

#endif
