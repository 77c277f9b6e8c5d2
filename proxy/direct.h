/* Direct writes: a unit the sink offers back is written on the session's own connection, in one round trip. */
#ifndef PGBATCHD_PROXY_DIRECT_H
#define PGBATCHD_PROXY_DIRECT_H

#include <stdbool.h>
#include <stdint.h>

struct client;
struct pending;
struct rq_entry;
struct sink_unit;

/*
 * The sink offers a unit that has its tables to itself (sink_client.direct,
 * arg its struct pending). Taken when the session's connection is idle
 * outside a transaction block (a simple Query's unit, or a Sync group's): its
 * statements (sink_tx_batch) go to the backend as one Query of ours, just
 * before the first answer the unit's messages are owed; the answer is read
 * (hidden from the client, notices too, as a writer's are) and reported to the
 * sink, whose reply then answers the client as for any unit.
 */
bool direct_offer(void *arg, struct sink_unit *u);
/* The reply-queue entry of a direct write. */
bool direct_owns(const struct client *c, const struct rq_entry *e);
/* Its CommandComplete and ErrorResponse. */
void direct_captured(struct client *c, struct rq_entry *e, uint8_t type, const uint8_t *body, uint32_t len);
/* Its answer is complete (ReadyForQuery): the sink hears how it went. */
void direct_entry_done(struct client *c, struct rq_entry *e);
/* p settled (or is freed) before its answer came: it is not reported. */
void direct_forget(struct client *c, struct pending *p);
/* The session ends, or its backend does (call before its backend is
 * closed): a write still running holds its unit until the server has ended
 * that connection (a lingering backend), so that nothing after it in the
 * sink's order runs before it may have committed; then the unit fails. */
void direct_session_end(struct client *c);
/* Shutdown past its bound: a write still running is cancelled (a
 * CancelRequest to the session's backend), so that it does not commit
 * after its client has been told it failed. */
void direct_abort(struct client *c);
void direct_free(struct client *c);

#endif
