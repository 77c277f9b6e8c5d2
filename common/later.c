/* Calls deferred to the end of the current event callback, without a trip through the loop. */
#include "common/later.h"

#include <stdlib.h>

#include <event2/event.h>

enum later_state {
	LATER_IDLE = 0,
	LATER_QUEUED,       /* on the queue: runs when the outermost callback leaves */
	LATER_EVENT,        /* its event is active: runs from the loop */
};

struct later {
	void (*fn)(void *arg);
	void *arg;
	struct event *ev;
	enum later_state state;
	struct later *next;
};

static int depth;
static struct later *qhead, *qtail;

static void set_state(struct later *l, enum later_state to)
{
	l->state = to;
}

static void run(struct later *l)
{
	set_state(l, LATER_IDLE);
	l->fn(l->arg);
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
	struct later *l = arg;

	(void)fd;
	(void)what;
	if (l->state != LATER_EVENT)
		return;         /* (taken by a queue run meanwhile) */
	later_enter();
	run(l);
	later_leave();
}

struct later *later_new(struct event_base *base, void (*fn)(void *arg), void *arg)
{
	struct later *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->fn = fn;
	l->arg = arg;
	l->ev = event_new(base, -1, EV_PERSIST, on_event, l);
	if (l->ev == NULL) {
		free(l);
		return NULL;
	}
	return l;
}

static void unqueue(struct later *l)
{
	struct later **pp, *prev = NULL;

	for (pp = &qhead; *pp; prev = *pp, pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			if (qtail == l)
				qtail = prev;
			l->next = NULL;
			return;
		}
}

void later_free(struct later *l)
{
	if (l == NULL)
		return;
	if (l->state == LATER_QUEUED)
		unqueue(l);
	event_free(l->ev);
	free(l);
}

void later_ask(struct later *l)
{
	if (l->state != LATER_IDLE)
		return;
	if (depth > 0) {
		set_state(l, LATER_QUEUED);
		l->next = NULL;
		if (qtail)
			qtail->next = l;
		else
			qhead = l;
		qtail = l;
	} else {
		set_state(l, LATER_EVENT);
		event_active(l->ev, EV_TIMEOUT, 0);
	}
}

bool later_pending(const struct later *l)
{
	return l->state != LATER_IDLE;
}

void later_enter(void)
{
	depth++;
}

void later_leave(void)
{
	struct later *l;

	if (depth > 1) {
		depth--;
		return;
	}
	/* still entered while the queue runs: what it asks for joins the queue */
	while ((l = qhead) != NULL) {
		qhead = l->next;
		if (qhead == NULL)
			qtail = NULL;
		l->next = NULL;
		run(l);
	}
	depth = 0;
}
