/* Calls deferred to the end of the current event callback, without a trip through the loop. */
#ifndef PGBATCHD_COMMON_LATER_H
#define PGBATCHD_COMMON_LATER_H

#include <stdbool.h>

struct event_base;
struct later;

/*
 * Work that must not run inside the code that asks for it (a reply written
 * while the sink is in the middle of a unit, output coalesced over a
 * callback's many messages) but should run before the loop moves on. A
 * callback that brackets itself with later_enter / later_leave runs every
 * call asked for meanwhile when it leaves, in the order asked; asked for
 * outside such a callback, a call runs from the loop (an event activated
 * once), as it did before this existed. Each call is asked for at most once
 * until it runs. An event_active and its dispatch cost about 300
 * instructions; on the row path that was two per row.
 */

/* NULL when out of memory. fn runs with arg. */
struct later *later_new(struct event_base *base, void (*fn)(void *arg), void *arg);
void later_free(struct later *l);
void later_ask(struct later *l);
/* Whether it is asked for and has not run yet. */
bool later_pending(const struct later *l);

void later_enter(void);
/* Leaving the outermost: runs what was asked for, and what those ask for. */
void later_leave(void);

#endif
