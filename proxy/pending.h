/* A session's intercepted units awaiting the sink's answer; shared by the simple-Query and extended-protocol paths. */
#ifndef PGBATCHD_PROXY_PENDING_H
#define PGBATCHD_PROXY_PENDING_H

#include <stdbool.h>
#include <stdint.h>

struct client;
struct group;
struct rq_entry;
struct sink_unit;
struct sink_reply;

/* One unit handed to the sink: lives from submission until its rows are settled. */
struct pending {
	struct pending *next;           /* older (the session's list runs newest first) */
	struct pending *prev;           /* newer */
	struct client *client;
	struct sink_unit *unit;
	bool replied;
	/* a simple Query: */
	struct rq_entry *entry;         /* our place in the reply queue, until the reply is made */
	uint8_t *orig;                  /* the message taken, in case it passes through */
	uint32_t orig_len;
	bool orig_pooled;               /* orig came from pool_alloc(orig_len), else malloc */
	bool pass_deferred;             /* passes through once the units before it are settled */
	bool unit_gone;                 /* its unit settled while it waited so */
	char tx_status;                 /* the session's, when the message was taken */
	/* an extended-protocol Sync group (extq.c): */
	struct group *g;
};

/* A new pending unit of c, linked and counted; NULL when out of memory. */
struct pending *pending_new(struct client *c);
/* p (not linked) linked as c's newest and counted. */
void pending_link(struct client *c, struct pending *p);
/* It was never submitted after all: unlinked and freed. */
void pending_abandon(struct client *c, struct pending *p);

/* The session as the sink sees it, opened at its first intercepted INSERT. */
bool intercept_open_session(struct client *c);
/* An INSERT passes through; slot is an ins_reason or an enum pass_slot. */
void intercept_count_pass(struct client *c, int slot, const char *why);
/* True (and the units flushed now) while the session has intercepted units
 * not yet committed or failed: a transaction's rows follow them. The session
 * resumes by itself when they settle. */
bool intercept_unsettled(struct client *c);

#endif
