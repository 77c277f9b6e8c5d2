/* SETs a session without a backend answers itself (a driver's connect-time extra_float_digits and application_name), replayed on the backend it opens later. */
#ifndef PGBATCHD_PROXY_ABSORB_H
#define PGBATCHD_PROXY_ABSORB_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/buffer.h>

struct client;
struct rq_entry;

/*
 * pgjdbc (without assumeMinServerVersion) starts every connection with
 * `SET extra_float_digits = 3` and `SET application_name = '...'`, each a
 * Parse/Bind/Execute/Sync group; psql and others may send the same as a
 * Query. Neither changes a row an INSERT writes, so a session without a
 * backend answers them as PostgreSQL does (ParameterStatus for an
 * application_name that changed, before ReadyForQuery) and remembers the
 * last value of each; the backend it opens later gets them first, their
 * answers swallowed. Anything else -- another setting, a value PostgreSQL
 * might refuse or change, a group not whole in the input -- passes through
 * as before (and opens the backend).
 */

/* At the head of the input of an idle session without a backend: true when
 * the messages there were such a SET (taken, answered). */
bool absorb_try(struct client *c, struct evbuffer *in);
/* The backend it opened has logged in: the SETs go ahead of everything the
 * session holds for it. */
bool absorb_replay(struct client *c, struct evbuffer *to_backend);
/* The replay's entry (absorb_owns) has its answer: a CancelRequest that
 * waited for it (absorb_cancel_after) goes now. */
bool absorb_owns(const struct client *c, const struct rq_entry *e);
void absorb_entry_done(struct client *c);
/* A CancelRequest came while the backend logged in: true when the replay
 * runs first (the cancel is sent once it is done, for the client's own). */
bool absorb_cancel_after(struct client *c);
/* A ParameterStatus the backend sends (body): false when the client was
 * told that value last already (the replay's), so it is not sent again. */
bool absorb_param_new(struct client *c, const uint8_t *body, uint32_t len);
void absorb_free(struct client *c);

#endif
