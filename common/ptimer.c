/* Precise one-shot timers (see ptimer.h). */
#include "common/ptimer.h"

#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#ifdef __linux__
#include <sys/timerfd.h>
#endif

struct ptimer {
	struct event *ev;
	void (*cb)(void *arg);
	void *arg;
	int fd;                 /* the timerfd; -1 for an evtimer */
	bool armed;
};

#ifdef __linux__
static void on_fd(evutil_socket_t fd, short what, void *arg)
{
	struct ptimer *t = arg;
	uint64_t expirations;

	(void)what;
	/* (nothing to read: re-armed or disarmed since it became readable) */
	if (read(fd, &expirations, sizeof(expirations)) != (ssize_t)sizeof(expirations) || !t->armed)
		return;
	t->armed = false;
	t->cb(t->arg);
}
#endif

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct ptimer *t = arg;

	(void)fd;
	(void)what;
	t->armed = false;
	t->cb(t->arg);
}

struct ptimer *ptimer_new(struct event_base *base, void (*cb)(void *arg), void *arg)
{
	struct ptimer *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->cb = cb;
	t->arg = arg;
	t->fd = -1;
#ifdef __linux__
	t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->fd >= 0) {
		t->ev = event_new(base, t->fd, EV_READ | EV_PERSIST, on_fd, t);
		if (t->ev == NULL || event_add(t->ev, NULL) != 0) {
			ptimer_free(t);
			return NULL;
		}
		return t;
	}
#endif
	t->ev = evtimer_new(base, on_timer, t);
	if (t->ev == NULL) {
		free(t);
		return NULL;
	}
	return t;
}

void ptimer_free(struct ptimer *t)
{
	if (t == NULL)
		return;
	if (t->ev)
		event_free(t->ev);
	if (t->fd >= 0)
		close(t->fd);
	free(t);
}

bool ptimer_arm(struct ptimer *t, int64_t delay_us)
{
	if (delay_us < 1)
		delay_us = 1;
#ifdef __linux__
	if (t->fd >= 0) {
		struct itimerspec its = { { 0, 0 }, { (time_t)(delay_us / 1000000), (long)(delay_us % 1000000) * 1000 } };

		t->armed = timerfd_settime(t->fd, 0, &its, NULL) == 0;
		return t->armed;
	}
#endif
	{
		struct timeval tv = { (time_t)(delay_us / 1000000), (suseconds_t)(delay_us % 1000000) };

		t->armed = evtimer_add(t->ev, &tv) == 0;
		return t->armed;
	}
}

void ptimer_disarm(struct ptimer *t)
{
	if (!t->armed)
		return;
	t->armed = false;
#ifdef __linux__
	if (t->fd >= 0) {
		static const struct itimerspec zero;

		(void)timerfd_settime(t->fd, 0, &zero, NULL);
		return;
	}
#endif
	evtimer_del(t->ev);
}

bool ptimer_armed(const struct ptimer *t)
{
	return t->armed;
}
