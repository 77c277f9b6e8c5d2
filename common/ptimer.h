/* Precise one-shot timers: sub-millisecond waits on an event loop whose own clock is coarse. */
#ifndef PGBATCHD_COMMON_PTIMER_H
#define PGBATCHD_COMMON_PTIMER_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct ptimer;

/*
 * libevent's timers on Linux read CLOCK_MONOTONIC_COARSE, which ticks every
 * 4 ms here: a 300 us timer fires up to 4 ms late. Its precise mode
 * (EVENT_BASE_FLAG_PRECISE_TIMER) fixes that for every timer by re-arming a
 * timerfd before every epoll_wait, one more syscall per loop turn (on a
 * pass-through transaction's path: about one in ten). A ptimer is a timerfd of
 * its own on Linux, set only when it is armed; elsewhere an evtimer.
 */

/* cb runs from the loop when an armed timer expires. NULL when out of
 * memory or descriptors. */
struct ptimer *ptimer_new(struct event_base *base, void (*cb)(void *arg), void *arg);
void ptimer_free(struct ptimer *t);
/* Expires delay_us from now (0 or less: as soon as the loop runs); replaces
 * an earlier arming. False when the system refused (then it is not armed). */
bool ptimer_arm(struct ptimer *t, int64_t delay_us) __attribute__((warn_unused_result));
void ptimer_disarm(struct ptimer *t);
bool ptimer_armed(const struct ptimer *t);

#endif
