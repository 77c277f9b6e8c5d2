/* Scheduling units onto writers: what each unit must follow, writer queues, the flush policy, batches and their settlement. */
#include "sink/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/ptimer.h"

/*
 * A unit is placed once converted. It must commit after (1) its session's
 * previous unit, (2) every unit that wrote one of its keys before it, and
 * (3) for tables whose rows cannot be written concurrently (TC_ORDERED,
 * TC_ROWWISE), the previous unit that wrote such a table. Each writer commits
 * its batches one after another, and a batch's units in queue order: so a unit
 * whose predecessors all sit with one writer goes to that writer's queue; one
 * whose predecessors are committed goes to the least loaded writer; one whose
 * predecessors sit with two or more writers waits (U_BLOCKED) until all but
 * one writer's have committed. Only the latest unit of each key, session and
 * ordered table is remembered: the ones before it are its own predecessors.
 */

/* ---- writer queues ---- */

struct wqueue {
	struct sink *s;
	int idx;
	struct sink_unit *head, *tail;
	size_t rows;                /* queued */
	size_t inflight;            /* rows of its batch */
	int64_t inflight_ms;        /* when its batch was taken */
	uint64_t barrier_seq;       /* queued units up to this one are wanted now */
	struct event *timer;        /* the oldest row's age limit */
	struct ptimer *gtimer;      /* the end of a gather its head waits for (gather.c; precise) */
	int64_t gather_due;         /* ... armed for then */
	uint64_t held_seq;          /* the paused head whose due flush was counted (tc.held) */
	int64_t armed_due;          /* the deadline timer and age_due were set for; INT64_MIN: none */
	bool age_due;
	int ntab;
	uint32_t *trows;            /* per table: queued rows */
	int64_t *toldest;           /* per table: arrival of its oldest queued row */
};

static void on_age(evutil_socket_t fd, short what, void *arg)
{
	struct wqueue *q = arg;

	(void)fd;
	(void)what;
	q->age_due = true;
	q->armed_due = INT64_MIN;
	writer_kick(q->s->writers[q->idx]);
}

static void on_gather(void *arg)
{
	struct wqueue *q = arg;

	writer_kick(q->s->writers[q->idx]);
}

static bool wq_grow(struct wqueue *q, int ntab)
{
	uint32_t *r;
	int64_t *o;

	if (ntab <= q->ntab)
		return true;
	r = realloc(q->trows, (size_t)ntab * sizeof(*r));
	if (r == NULL)
		return false;
	q->trows = r;
	o = realloc(q->toldest, (size_t)ntab * sizeof(*o));
	if (o == NULL)
		return false;
	q->toldest = o;
	memset(q->trows + q->ntab, 0, (size_t)(ntab - q->ntab) * sizeof(*r));
	memset(q->toldest + q->ntab, 0, (size_t)(ntab - q->ntab) * sizeof(*o));
	q->ntab = ntab;
	return true;
}

bool sched_init(struct sink *s)
{
	int i;

	s->keys = keymap_new();
	s->wq = calloc((size_t)s->nwriters, sizeof(*s->wq));
	if (s->keys == NULL || s->wq == NULL)
		return false;
	for (i = 0; i < s->nwriters; i++) {
		s->wq[i].s = s;
		s->wq[i].idx = i;
		s->wq[i].timer = evtimer_new(s->base, on_age, &s->wq[i]);
		s->wq[i].gtimer = ptimer_new(s->base, on_gather, &s->wq[i]);
		s->wq[i].armed_due = INT64_MIN;
		if (s->wq[i].timer == NULL || s->wq[i].gtimer == NULL || !wq_grow(&s->wq[i], s->ntables + 1))
			return false;
	}
	return true;
}

void sched_free(struct sink *s)
{
	int i;

	for (i = 0; s->wq && i < s->nwriters; i++) {
		if (s->wq[i].timer)
			event_free(s->wq[i].timer);
		ptimer_free(s->wq[i].gtimer);
		free(s->wq[i].trows);
		free(s->wq[i].toldest);
	}
	free(s->wq);
	s->wq = NULL;
	keymap_free(s->keys);
	s->keys = NULL;
}

bool sched_add_table(struct sink *s)
{
	for (int i = 0; i < s->nwriters; i++)
		if (!wq_grow(&s->wq[i], s->ntables + 1))
			return false;
	return true;
}

/* The rows of u per table, through fn(table index, rows). */
static void unit_tables(const struct sink_unit *u, void (*fn)(void *arg, int t, uint32_t n), void *arg)
{
	for (int i = 0; i < u->nstmts; i++)
		if (u->stmts[i].n)
			fn(arg, u->stmts[i].tab->idx, u->stmts[i].n);
}

static void count_in(void *arg, int t, uint32_t n)
{
	struct wqueue *q = arg;

	if (q->trows[t] == 0)
		q->toldest[t] = INT64_MAX;
	q->trows[t] += n;
}

static void count_out(void *arg, int t, uint32_t n)
{
	struct wqueue *q = arg;

	q->trows[t] -= n;
}

/* The age limit of the oldest queued row of each table, from the queue. */
static void recompute_oldest(struct wqueue *q)
{
	const struct sink_unit *u;
	int t, i;

	for (t = 0; t < q->ntab; t++)
		q->toldest[t] = INT64_MAX;
	for (u = q->head; u; u = u->qnext)
		for (i = 0; i < u->nstmts; i++) {
			t = u->stmts[i].tab->idx;
			if (u->arrival_ms < q->toldest[t])
				q->toldest[t] = u->arrival_ms;
		}
}

/* When the first of its queued rows reaches its table's age limit. */
static int64_t age_deadline(const struct wqueue *q)
{
	int64_t due = INT64_MAX, d;
	int t;

	for (t = 0; t < q->ntab && t < q->s->ntables; t++) {
		if (q->trows[t] == 0)
			continue;
		d = q->toldest[t] + q->s->tables[t]->conf.batchwritetimeoutms;
		/* ackmode=spool: durable already, written in batches every
		 * SPOOL_FLUSH_MS (a batch's commit is a disk flush, which the
		 * spool's own fsyncs, the clients' wait, share) */
		if (q->s->spool && q->s->tables[t]->conf.ackmode == ACK_SPOOL &&
		    q->s->tables[t]->conf.batchwritetimeoutms > SPOOL_FLUSH_MS)
			d = q->toldest[t] + SPOOL_FLUSH_MS;
		if (d < due)
			due = d;
	}
	return due;
}

static void arm_timer(struct wqueue *q)
{
	int64_t due = age_deadline(q), left;
	struct timeval tv;

	/* (a row queued behind older ones leaves the deadline as it was: no
	 * event_add per row) */
	if (due == q->armed_due)
		return;
	q->armed_due = due;
	if (due == INT64_MAX) {
		evtimer_del(q->timer);
		q->age_due = false;
		return;
	}
	left = due - sink_now_ms();
	if (left <= 0) {
		/* due already (the clock moved since the queue was looked at):
		 * no timer will say so, the writer is told */
		evtimer_del(q->timer);
		q->age_due = true;
		writer_kick(q->s->writers[q->idx]);
		return;
	}
	q->age_due = false;
	tv.tv_sec = left / 1000;
	tv.tv_usec = (left % 1000) * 1000;
	evtimer_add(q->timer, &tv);
}

static int queue_ready(const struct sink *s, struct wqueue *q);

static void enqueue(struct sink_unit *u, int w)
{
	struct wqueue *q = &u->s->wq[w];
	int i;

	unit_set_state(u, U_QUEUED);
	u->widx = w;
	u->qnext = NULL;
	u->qprev = q->tail;
	if (q->tail)
		q->tail->qnext = u;
	else
		q->head = u;
	q->tail = u;
	q->rows += u->nrows;
	unit_tables(u, count_in, q);
	for (i = 0; i < u->nstmts; i++) {
		int t = u->stmts[i].tab->idx;

		if (u->arrival_ms < q->toldest[t])
			q->toldest[t] = u->arrival_ms;
	}
	if (u->barrier && u->seq > q->barrier_seq)
		q->barrier_seq = u->seq;
	arm_timer(q);
	/* A queue not ready now is made ready by a later row, the age timer, a
	 * barrier, a batch done, a drain or the sink filling, each of which kicks
	 * the writer: no wake-up per row that finds nothing to take. */
	if (queue_ready(u->s, q) >= 0)
		writer_kick(u->s->writers[w]);
}

/* ---- placement ---- */

struct deps {
	struct sink_unit **d;       /* small, or allocated */
	int n, cap;
	bool ok;
	struct sink_unit *small[8]; /* (a unit follows a few others, usually) */
};

/* The list in memory of its own, for a unit that keeps it (blocked). */
static bool deps_own(struct deps *ds)
{
	struct sink_unit **p;

	if (ds->d != ds->small)
		return true;
	p = malloc((size_t)(ds->n ? ds->n : 1) * sizeof(*p));
	if (p == NULL)
		return false;
	memcpy(p, ds->small, (size_t)ds->n * sizeof(*p));
	ds->d = p;
	ds->cap = ds->n ? ds->n : 1;
	return true;
}

static void dep_add(struct deps *ds, struct sink_unit *d)
{
	struct sink_unit **p;

	if (d == NULL || d->state == U_SETTLED)
		return;
	for (int i = 0; i < ds->n; i++)
		if (ds->d[i] == d)
			return;
	if (ds->n == ds->cap) {
		int cap = ds->cap * 2;

		p = ds->d == ds->small ? malloc((size_t)cap * sizeof(*p)) : realloc(ds->d, (size_t)cap * sizeof(*p));
		if (p == NULL) {
			ds->ok = false;
			return;
		}
		if (ds->d == ds->small)
			memcpy(p, ds->small, (size_t)ds->n * sizeof(*p));
		ds->d = p;
		ds->cap = cap;
	}
	ds->d[ds->n++] = d;
}

/* The writer all of u's live predecessors sit with: -1 when none is live, -2
 * when they sit with several or one of them waits itself. */
static int common_writer(struct sink_unit *const *deps, int n)
{
	int w = -1;

	for (int i = 0; i < n; i++) {
		const struct sink_unit *d = deps[i];

		if (d->state == U_SETTLED)
			continue;
		if (d->state == U_BLOCKED || d->widx < 0)
			return -2;
		if (w == -1)
			w = d->widx;
		else if (w != d->widx)
			return -2;
	}
	return w;
}

/* A batch in flight this long is stuck (a lock, a slow table): its writer
 * gets new units only when every writer is. */
#define STUCK_MS 100

/* Its rows arrived within STUCK_MS: it gathers (not a writer that is down). */
static bool queue_fresh(const struct wqueue *q, int64_t now)
{
	for (int t = 0; t < q->ntab; t++)
		if (q->trows[t] && now - q->toldest[t] >= STUCK_MS)
			return false;
	return true;
}

/* Every row queued in q is of a table u writes: what q waits for (its
 * tables' batches in flight) is what u would wait for anyway. */
static bool queue_of_tables(const struct wqueue *q, const struct sink_unit *u)
{
	size_t mine = 0;

	for (int t = 0; t < q->ntab; t++) {
		bool in = false;

		for (int k = 0; k < u->nstmts && !in; k++)
			in = u->stmts[k].tab && u->stmts[k].tab->idx == t;
		if (in)
			mine += q->trows[t];
	}
	return mine == q->rows;
}

/* A writer whose queue gathers rows of u's tables while it waits for its
 * turn (not in flight): u joins it, so that the rows that arrive while
 * batches commit go together in the next one (group commit) instead of
 * spreading one or two to each writer; else the writer with the fewest rows
 * to write, stuck ones last. (A queue of other tables may wait for their
 * lock: u is never put behind it.) */
static int pick_writer(struct sink *s, const struct sink_unit *u)
{
	size_t best = SIZE_MAX, load;
	int64_t now = sink_now_ms();
	int w = 0, i, c;

	for (i = 0; i < s->nwriters; i++)
		if (s->wq[i].rows > 0 && s->wq[i].inflight == 0 && queue_fresh(&s->wq[i], now) &&
		    queue_of_tables(&s->wq[i], u))
			return i;
	for (i = 0; i < s->nwriters; i++) {
		c = (int)((s->pick_rr + (uint32_t)i) % (uint32_t)s->nwriters);
		load = s->wq[c].rows + s->wq[c].inflight;
		if (s->wq[c].inflight && now - s->wq[c].inflight_ms >= STUCK_MS)
			load += SIZE_MAX / 2;
		if (load < best) {
			best = load;
			w = c;
		}
	}
	s->pick_rr++;
	return w;
}

static void block(struct sink_unit *u, struct deps *ds)
{
	struct sink *s = u->s;

	unit_set_state(u, U_BLOCKED);
	u->deps = ds->d;
	u->ndeps = ds->n;
	ds->d = NULL;
	for (int i = 0; i < u->ndeps; i++)
		unit_ref(u->deps[i]);
	u->qnext = NULL;
	u->qprev = s->blocked_tail;
	if (s->blocked_tail)
		s->blocked_tail->qnext = u;
	else
		s->blocked_head = u;
	s->blocked_tail = u;
	s->st.blocked++;
}

void sched_place(struct sink_unit *u)
{
	struct sink *s = u->s;
	struct deps ds;
	struct stable *tab;
	struct srow *r;
	bool ok = true;
	uint32_t i;
	int w, k;

	ds.d = ds.small;
	ds.n = 0;
	ds.cap = (int)(sizeof(ds.small) / sizeof(ds.small[0]));
	ds.ok = true;
	u->seq = ++s->seq;
	if (gather_arrived(s, u->ss))
		sched_gather_over(s);
	dep_add(&ds, u->ss->last);
	u->ss->last = u;
	for (i = 0; i < u->nrows; i++) {
		struct sink_unit *d;

		r = u->rows[i];
		if (!r->has_route)
			continue;
		d = keymap_swap(s->keys, key_of(u->stmts[r->stmt].tab, r->route), u, &ok);
		if (d != u)     /* a key it writes twice */
			dep_add(&ds, d);
	}
	for (k = 0; k < u->nstmts; k++) {
		tab = u->stmts[k].tab;
		if (tab->cls == TC_FREE && ok)
			continue;
		/* (a unit of several statements meets its own earlier ones here) */
		if (tab->linked || !ok) {
			/* without the key map (out of memory) every unit follows one order */
			if (s->fk_last != u)
				dep_add(&ds, s->fk_last);
			s->fk_last = u;
		} else {
			if (tab->dom_last != u)
				dep_add(&ds, tab->dom_last);
			tab->dom_last = u;
		}
	}
	for (k = 0; k < u->nstmts; k++)
		u->stmts[k].tab->nplaced++;
	w = ds.ok ? common_writer(ds.d, ds.n) : -2;
	if (w == -2 && ds.ok && !deps_own(&ds))
		ds.ok = false;          /* (a blocked unit keeps the list) */
	if (w == -1 && ds.ok && sched_direct(u)) {
		log_debug(u->ss->prefix, "unit %llu (%u rows) is offered to its own connection",
			  (unsigned long long)u->seq, u->nrows);
	} else if (w == -2 && !ds.ok) {
		/* cannot even remember what it waits for: wait for everything */
		w = -1;
		for (i = 0; i < (uint32_t)s->nwriters; i++)
			if (s->wq[i].head || s->wq[i].inflight || s->ndirect)
				w = -2;
		if (w == -2) {
			log_error(SINK_PREFIX, "out of memory ordering a unit: it waits for every writer");
			ds.n = 0;
		}
	}
	if (u->state == U_DIRECT) {
		/* offered: sink_on_notify asks its client */
	} else if (w == -2 && ds.ok) {
		block(u, &ds);
		log_debug(u->ss->prefix, "unit %llu (%u rows) waits: what it follows sits with several writers",
			  (unsigned long long)u->seq, u->nrows);
	} else {
		enqueue(u, w >= 0 ? w : pick_writer(s, u));
		log_debug(u->ss->prefix, "unit %llu (%u rows) queued for writer %d", (unsigned long long)u->seq,
			  u->nrows, u->widx);
	}
	if (ds.d != ds.small)
		free(ds.d);
	unit_buffered(u);
}

/* u out of a doubly linked list (a writer's queue, or the blocked units). */
static void leave_list(struct sink_unit *u, struct sink_unit **head, struct sink_unit **tail)
{
	if (u->qprev)
		u->qprev->qnext = u->qnext;
	else
		*head = u->qnext;
	if (u->qnext)
		u->qnext->qprev = u->qprev;
	else
		*tail = u->qprev;
	u->qnext = u->qprev = NULL;
}

static void drop_deps(struct sink_unit *u)
{
	for (int i = 0; i < u->ndeps; i++)
		unit_unref(u->deps[i]);
	free(u->deps);
	u->deps = NULL;
	u->ndeps = 0;
}

/* Units waiting for predecessors with several writers move on when they can. */
void sched_unblock(struct sink *s)
{
	struct sink_unit *u, *next;
	int w, i, j;

	for (u = s->blocked_head; u; u = next) {
		next = u->qnext;
		for (i = j = 0; i < u->ndeps; i++) {
			if (u->deps[i]->state == U_SETTLED) {
				unit_unref(u->deps[i]);
				continue;
			}
			u->deps[j++] = u->deps[i];
		}
		u->ndeps = j;
		w = common_writer(u->deps, u->ndeps);
		if (w == -2)
			continue;
		leave_list(u, &s->blocked_head, &s->blocked_tail);
		drop_deps(u);
		enqueue(u, w >= 0 ? w : pick_writer(s, u));
	}
}

void sched_enqueue(struct sink_unit *u)
{
	enqueue(u, pick_writer(u->s, u));
}

void sched_barrier(struct sink_unit *u)
{
	struct wqueue *q;

	u->barrier = true;
	if (u->state != U_QUEUED)
		return;     /* blocked: applied when queued; in intake: when placed */
	q = &u->s->wq[u->widx];
	if (u->seq > q->barrier_seq)
		q->barrier_seq = u->seq;
	writer_kick(u->s->writers[u->widx]);
}

void sched_flush_table(struct sink *s, struct stable *tab)
{
	struct sink_unit *u;
	int w;

	for (w = 0; w < s->nwriters; w++)
		for (u = s->wq[w].head; u; u = u->qnext)
			for (int i = 0; i < u->nstmts; i++)
				if (tab == NULL || u->stmts[i].tab == tab)
					sched_barrier(u);
}

void sched_mark_held(struct sink *s)
{
	for (int w = 0; w < s->nwriters; w++) {
		bool held = false;

		for (struct sink_unit *u = s->wq[w].head; u; u = u->qnext) {
			held |= !s->draining && stats_unit_paused(u);
			u->held = held;
		}
	}
}

/* ---- the flush policy ---- */

/* Idle batches of one table in flight at once for rows whose clients wait
 * (ackmode=commit): the rows that arrive while one commits gather for the
 * next, or wait for the clients of the last one (gather.c). (Two, so that
 * the next started while one committed, made batches half as large and cost
 * more per row than the overlap saved: bench_commit 16 clients 0.53x ->
 * 0.65x direct, 64 clients 1.10x -> 1.62x.) */
#define COMMIT_IDLE_INFLIGHT 1

static int idle_inflight_max(const struct sink_unit *h)
{
	int m = 0;

	for (int i = 0; i < h->nstmts; i++)
		if (h->stmts[i].tab->idle_inflight > m)
			m = h->stmts[i].tab->idle_inflight;
	return m;
}

/* Why the writer's queue should be flushed now, or -1. */
static int queue_ready(const struct sink *s, struct wqueue *q)
{
	const struct sink_unit *h = q->head;
	const struct table_conf *c;
	bool idle_ok = true, adaptive = false;
	int t, i;

	if (h == NULL || h->spool_wait)
		return -1;      /* (the spool's answer kicks the writer) */
	if (stats_paused(s, h)) {
		/* PAUSE: sink_pause's RESUME kicks the writers. A flush that is
		 * due is counted as held (the gather wait is not looked at). */
		if (h->seq != q->held_seq &&
		    (q->barrier_seq >= h->seq || s->full || q->age_due || age_deadline(q) <= sink_now_ms())) {
			q->held_seq = h->seq;       /* (once per head held) */
			for (i = 0; i < h->nstmts; i++)
				h->stmts[i].tab->tc.held += h->stmts[i].tab->paused &&
							    (i == 0 || h->stmts[i].tab != h->stmts[i - 1].tab);
		}
		return -1;
	}
	for (t = 0; t < q->ntab && t < s->ntables; t++)
		if (q->trows[t] && q->trows[t] >= (uint32_t)s->tables[t]->conf.batchsize)
			return FLUSH_BATCHSIZE;
	if (q->barrier_seq >= h->seq)
		return FLUSH_BARRIER;
	if (s->draining)
		return FLUSH_SHUTDOWN;
	for (i = 0; i < h->nstmts; i++)
		if (h->stmts[i].tab->removed)
			return FLUSH_SHUTDOWN;
	if (s->full)
		return FLUSH_FULL;
	if (q->age_due || age_deadline(q) <= sink_now_ms())
		return FLUSH_AGE;
	/* An idle writer takes what it has at once when a client waits for the
	 * commit (ackmode=commit). Rows acknowledged already (ackmode=immediate)
	 * go one idle batch of a table at a time: rows arriving meanwhile wait
	 * for it and go together in the next one, so a fast client's rows make
	 * few large transactions rather than one each. */
	for (i = 0; i < h->nstmts; i++) {
		c = &h->stmts[i].tab->conf;
		adaptive |= c->adaptiveflush && h->ack != ACK_SPOOL;
		if (h->stmts[i].tab->idle_inflight > 0)
			idle_ok = false;
	}
	if (adaptive && (idle_ok || (h->ack == ACK_COMMIT && idle_inflight_max(h) < COMMIT_IDLE_INFLIGHT))) {
		int64_t until;

		if (!gather_holds(h, &until))
			return FLUSH_IDLE;
		if (q->gather_due != until || !ptimer_armed(q->gtimer)) {
			/* (once per wait, not per row queued while it lasts) */
			q->gather_due = until;
			if (!ptimer_arm(q->gtimer, until - sink_now_us()))
				return FLUSH_IDLE;      /* (no timer: no wait) */
		}
	}
	return -1;
}

void sched_gather_over(struct sink *s)
{
	for (int i = 0; i < s->nwriters; i++)
		if (s->wq[i].head)
			writer_kick(s->writers[i]);
}

struct batch_build {
	struct sink *s;
	uint32_t *taken;            /* per table: rows in the batch */
	bool fits;
};

static void check_fit(void *arg, int t, uint32_t n)
{
	struct batch_build *bb = arg;

	if (bb->taken[t] + n > (uint32_t)bb->s->tables[t]->conf.batchsize)
		bb->fits = false;
}

static void take_rows(void *arg, int t, uint32_t n)
{
	struct batch_build *bb = arg;

	bb->taken[t] += n;
}

static void batch_free(struct batch *b)
{
	free(b->idle_tabs);
	free(b->units);
	free(b->rows);
	free(b);
}

struct batch *sched_take(struct sink *s, int widx)
{
	struct wqueue *q = &s->wq[widx];
	struct batch_build bb = { s, NULL, true };
	struct sink_unit *u;
	struct batch *b;
	size_t nu = 0, nr = 0, i;
	int reason, t;

	if (s->aborting)
		return NULL;
	reason = queue_ready(s, q);
	if (reason < 0) {
		arm_timer(q);
		return NULL;
	}
	bb.taken = calloc((size_t)s->ntables + 1, sizeof(*bb.taken));
	b = calloc(1, sizeof(*b));
	if (bb.taken == NULL || b == NULL)
		goto oom;
	/* whole units from the head, within every table's batchsize (one unit
	 * larger than that goes alone: a unit is never split) */
	for (u = q->head; u; u = u->qnext) {
		if (nu > 0 && (stats_paused(s, u) || u->spool_wait))
			break;      /* (its rows wait for RESUME, or the spool; the ones before it go) */
		bb.fits = true;
		unit_tables(u, check_fit, &bb);
		if (!bb.fits && nu > 0)
			break;
		unit_tables(u, take_rows, &bb);
		nu++;
		nr += u->nrows;
	}
	b->units = calloc(nu + 1, sizeof(*b->units));
	b->rows = calloc(nr + 1, sizeof(*b->rows));
	if (b->units == NULL || b->rows == NULL)
		goto oom;
	b->widx = widx;
	b->reason = (enum flush_reason)reason;
	b->immediate = true;
	b->start_ms = sink_now_ms();
	b->start_us = sink_now_us();
	b->id = ++s->batch_seq;
	for (i = 0; i < nu; i++) {
		u = q->head;
		q->head = u->qnext;
		if (q->head)
			q->head->qprev = NULL;
		else
			q->tail = NULL;
		u->qnext = u->qprev = NULL;
		q->rows -= u->nrows;
		unit_tables(u, count_out, q);
		unit_set_state(u, U_WRITING);
		b->units[b->nunits++] = u;
		if (u->ack == ACK_COMMIT)
			b->immediate = false;
		for (int k = 0; k < u->nstmts; k++)
			b->verbose |= u->stmts[k].tab->conf.verbose;
		for (uint32_t r = 0; r < u->nrows; r++)
			b->rows[b->n++] = u->rows[r];
	}
	q->inflight = b->n;
	q->inflight_ms = b->start_ms;
	recompute_oldest(q);
	q->age_due = false;
	q->armed_due = INT64_MIN;
	arm_timer(q);
	if (b->reason == FLUSH_IDLE && (b->idle_tabs = calloc((size_t)s->ntables + 1, 1)) != NULL) {
		b->nidle_tabs = s->ntables;
		/* (given back by the tables counted now: units may leave the
		 * batch before it is done, cancelled or past their timeout) */
		for (t = 0; t < s->ntables; t++)
			if (bb.taken[t]) {
				s->tables[t]->idle_inflight++;
				b->idle_tabs[t] = 1;
			}
	}
	stats_batch_taken(s, bb.taken, b->reason);
	free(bb.taken);
	s->st.flush[b->reason]++;
	s->st.batches++;
	return b;
oom:
	free(bb.taken);
	if (b)
		batch_free(b);
	log_error(SINK_PREFIX, "out of memory taking a batch for writer %d", widx);
	return NULL;
}

bool sched_idle(const struct sink *s)
{
	int i;

	if (s->blocked_head || s->ndirect)
		return false;
	for (i = 0; i < s->nwriters; i++)
		if (s->wq[i].head || writer_busy(s->writers[i]))
			return false;
	return true;
}

uint64_t sched_queued_rows(const struct sink *s)
{
	uint64_t n = 0;

	for (int i = 0; i < s->nwriters; i++)
		n += s->wq[i].rows;
	return n;
}

/* ---- settlement ---- */

/* One line per table of the batch (the format tests and operators read). */
void sched_forget(struct sink *s, struct sink_unit *u)
{
	struct srow *r;

	for (uint32_t i = 0; i < u->nrows; i++) {
		r = u->rows[i];
		if (r->has_route)
			keymap_drop(s->keys, key_of(u->stmts[r->stmt].tab, r->route), u);
	}
	for (int k = 0; k < u->nstmts; k++) {
		u->stmts[k].tab->nplaced--;
		if (u->stmts[k].tab->dom_last == u)
			u->stmts[k].tab->dom_last = NULL;
	}
	if (s->fk_last == u)
		s->fk_last = NULL;
	if (u->ss->last == u)
		u->ss->last = NULL;
}

void sched_batch_done(struct sink *s, struct batch *b, struct berr *failed)
{
	struct sink_unit *u;
	bool any_failed = false;
	size_t i;
	int t;

	for (i = 0; i < b->n; i++) {
		struct srow *r = b->rows[i];

		if (failed && (r->outcome == ROW_PENDING || r->outcome == ROW_OK ||
			       r->outcome == ROW_SKIPPED))
			r->outcome = ROW_FAILED;
		if (r->outcome == ROW_PENDING)
			r->outcome = ROW_FAILED;
		any_failed |= r->outcome == ROW_FAILED || r->outcome == ROW_DROPPED;
	}
	if (any_failed)
		s->st.batches_failed++;
	stats_batch_done(s, b);
	gather_batch_done(s, b);
	for (i = 0; i < b->nunits; i++) {
		u = b->units[i];
		if (failed) {
			u->failed = true;
			berr_unref(u->err);
			u->err = berr_ref(failed);
		}
		sched_forget(s, u);
		unit_settle(u);
	}
	if (b->idle_tabs) {
		bool kick = false;

		for (t = 0; t < b->nidle_tabs; t++)
			if (b->idle_tabs[t] && --s->tables[t]->idle_inflight < COMMIT_IDLE_INFLIGHT)
				kick = true;
		if (kick)
			for (i = 0; i < (size_t)s->nwriters; i++)
				writer_kick(s->writers[i]);   /* the next idle flush may go */
	}
	s->wq[b->widx].inflight = 0;
	batch_free(b);
	sched_unblock(s);
	if (s->draining)
		schedule_notify(s);
}

void sched_batch_discard(struct sink *s, struct batch *b)
{
	(void)s;
	batch_free(b);
}

/* ---- cancel and statement_timeout ---- */

void sched_fail(struct sink *s, struct sink_unit *u, struct berr *e)
{
	for (uint32_t i = 0; i < u->nrows; i++)
		u->rows[i]->outcome = ROW_FAILED;
	u->failed = true;
	berr_unref(u->err);
	u->err = berr_ref(e);
	sched_forget(s, u);
	unit_settle(u);
}

bool sched_cancel(struct sink_unit *u, struct berr *e)
{
	struct sink *s = u->s;
	struct wqueue *q;

	if (u->state == U_QUEUED) {
		q = &s->wq[u->widx];
		leave_list(u, &q->head, &q->tail);
		q->rows -= u->nrows;
		unit_tables(u, count_out, q);
		recompute_oldest(q);
		arm_timer(q);
		/* the units behind it may be ready now (enqueue kicked only a
		 * queue that was) */
		if (q->head)
			writer_kick(s->writers[u->widx]);
	} else if (u->state == U_BLOCKED) {
		leave_list(u, &s->blocked_head, &s->blocked_tail);
		drop_deps(u);
	} else {
		return false;
	}
	sched_fail(s, u, e);
	sched_unblock(s);
	return true;
}

void sched_abort(struct sink *s, struct berr *e)
{
	for (int w = 0; w < s->nwriters; w++)
		while (s->wq[w].head)
			(void)sched_cancel(s->wq[w].head, e);
	while (s->blocked_head)
		(void)sched_cancel(s->blocked_head, e);
	sched_direct_abort(s, e);
}

static struct berr *expired(struct sink_unit *u, int64_t now)
{
	if (u->cancel == NULL && u->deadline_ms > 0 && now >= u->deadline_ms)
		u->cancel = berr_new("57014", "canceling statement due to statement timeout", NULL, NULL);
	return u->cancel;
}

bool sched_batch_drop_cancelled(struct sink *s, struct batch *b, int64_t slack_ms)
{
	int64_t now = sink_now_ms() + slack_ms;
	size_t i, nu = 0, nr = 0;
	bool any = false;

	for (i = 0; i < b->nunits; i++)
		any |= b->units[i]->ack == ACK_COMMIT && expired(b->units[i], now) != NULL;
	if (!any)
		return false;
	for (i = 0; i < b->n; i++)
		if (b->rows[i]->u->ack != ACK_COMMIT || b->rows[i]->u->cancel == NULL)
			b->rows[nr++] = b->rows[i];
	b->n = nr;
	for (i = 0; i < b->nunits; i++) {
		struct sink_unit *u = b->units[i];

		if (u->ack == ACK_COMMIT && u->cancel)
			sched_fail(s, u, u->cancel);
		else
			b->units[nu++] = u;
	}
	b->nunits = nu;
	s->wq[b->widx].inflight = b->n;
	sched_unblock(s);
	return true;
}

int64_t sched_batch_timeout(const struct batch *b)
{
	int64_t now = sink_now_ms(), least = 0, left;

	for (size_t i = 0; i < b->nunits; i++) {
		const struct sink_unit *u = b->units[i];

		if (u->ack != ACK_COMMIT || u->deadline_ms <= 0)
			continue;
		left = u->deadline_ms > now ? u->deadline_ms - now : 1;
		if (least == 0 || left < least)
			least = left;
	}
	return least;
}
