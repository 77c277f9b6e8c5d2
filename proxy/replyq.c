/* The outstanding-request queue: entries per frontend message, matched to backend answers by message type; no sockets. */
#include "proxy/replyq.h"

#include "proxy/copyin.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

void rq_init(struct replyq *q)
{
	memset(q, 0, sizeof(*q));
}

/* Freed entries kept for reuse, each with its `own` buffer when small: an
 * entry per message is the proxy's most frequent allocation. Single-threaded,
 * bounded (2048 of at most about 400 bytes: under 1 MB). Enough for a
 * pgjdbc batch's Sync group, whose Bind, Describe and Execute entries (3 a
 * row, 256 rows a group) are answered and freed together. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPARE_UNDER_ASAN 1      /* (clang says so this way, gcc with __SANITIZE_ADDRESS__) */
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(SPARE_UNDER_ASAN)
#define RQ_SPARE_MAX 0          /* (ASan sees every use after free) */
#else
#define RQ_SPARE_MAX 2048
#endif
#define RQ_SPARE_OWN 256
static struct rq_entry *spare;
static int nspare;

static void entry_free(struct rq_entry *e)
{
	copyin_free(e->copy);
	if (nspare >= RQ_SPARE_MAX || e->own.cap > RQ_SPARE_OWN) {
		pkt_free(&e->own);
		free(e);
		return;
	}
	e->next = spare;
	spare = e;
	nspare++;
}

static struct rq_entry *entry_new(void)
{
	struct rq_entry *e = spare;
	struct pktbuf own;

	if (e == NULL) {
		e = calloc(1, sizeof(*e));
		if (e)
			pkt_init(&e->own);
		return e;
	}
	spare = e->next;
	nspare--;
	own = e->own;
	memset(e, 0, sizeof(*e));
	e->own = own;
	pkt_reset(&e->own);
	return e;
}

void rq_clear(struct replyq *q)
{
	struct rq_entry *e;

	while ((e = q->head) != NULL) {
		q->head = e->next;
		entry_free(e);
	}
	q->tail = NULL;
	q->n = 0;
	q->skipping = false;
	q->nskipped = 0;
}

bool rq_answered(uint8_t type)
{
	return type == 'Q' || type == 'P' || type == 'B' || type == 'E' || type == 'D' || type == 'C' ||
	       type == 'S' || type == 'F';
}

/* Messages of the extended protocol: after an error, skipped up to Sync. */
static bool extended(uint8_t msg)
{
	return msg == 'P' || msg == 'B' || msg == 'E' || msg == 'D' || msg == 'C';
}

/* After an error of an extended-protocol message the backend discards what
 * comes until a Sync: a message sent then gets no answer. */
static void note_skipping(struct replyq *q, struct rq_entry *e)
{
	if (!q->skipping)
		return;
	if (e->msg == 'S' && e->kind != RQ_OWN) {
		q->skipping = false;
	} else if (e->kind != RQ_OWN) {
		e->skipped = true;
		q->nskipped++;
	}
}

struct rq_entry *rq_push(struct replyq *q, enum rq_kind kind, uint8_t msg)
{
	struct rq_entry *e = entry_new();

	if (e == NULL)
		return NULL;
	e->kind = kind;
	e->msg = msg;
	e->late = q->late_mode && kind == RQ_FORWARD;
	note_skipping(q, e);
	if (q->tail)
		q->tail->next = e;
	else
		q->head = e;
	q->tail = e;
	q->n++;
	return e;
}

struct rq_entry *rq_push_before(struct replyq *q, struct rq_entry *before, enum rq_kind kind,
				uint8_t msg)
{
	struct rq_entry *e, **pp;

	for (pp = &q->head; *pp && *pp != before; pp = &(*pp)->next)
		;
	if (*pp == NULL)
		return rq_push(q, kind, msg);
	e = entry_new();
	if (e == NULL)
		return NULL;
	e->kind = kind;
	e->msg = msg;
	e->late = q->late_mode && kind == RQ_FORWARD;
	note_skipping(q, e);
	e->next = before;
	*pp = e;
	q->n++;
	return e;
}

bool rq_inject(struct replyq *q, struct rq_entry *before, const void *bytes, size_t len)
{
	struct rq_entry *e = rq_push_before(q, before, RQ_OWN, 0);

	if (e == NULL)
		return false;
	pkt_put_bytes(&e->own, bytes, len);
	if (!pkt_ok(&e->own))
		pkt_reset(&e->own);     /* (nothing rather than a part) */
	e->ready = true;
	return pkt_ok(&e->own) && e->own.len == len;
}

void rq_forward(struct replyq *q, struct rq_entry *e)
{
	e->kind = RQ_FORWARD;
	e->late = q->late_mode;
}

void rq_pop(struct replyq *q)
{
	struct rq_entry *e = q->head;

	if (e == NULL)
		return;
	q->head = e->next;
	if (q->head == NULL)
		q->tail = NULL;
	q->n--;
	entry_free(e);
}

bool rq_empty(const struct replyq *q)
{
	return q->head == NULL;
}

bool rq_relaying(const struct replyq *q)
{
	for (const struct rq_entry *e = q->head; e; e = e->next)
		if (e->kind == RQ_FORWARD)
			return true;
	return false;
}

bool rq_backend_owes(const struct replyq *q)
{
	for (const struct rq_entry *e = q->head; e; e = e->next)
		if (e->kind != RQ_OWN)
			return true;
	return false;
}

bool rq_skip_owed(const struct replyq *q)
{
	for (const struct rq_entry *e = q->head; e; e = e->next)
		if (e->kind == RQ_SKIP)
			return true;
	return false;
}

struct rq_entry *rq_push_first(struct replyq *q, enum rq_kind kind, uint8_t msg)
{
	return q->head ? rq_push_before(q, q->head, kind, msg) : rq_push(q, kind, msg);
}

/* Does backend message t end the answer to frontend message msg? */
static bool ends_answer(uint8_t msg, uint8_t t)
{
	switch (msg) {
	case 'Q':
	case 'S':
	case 'F':
		return t == 'Z';
	case 'P':
		return t == '1';
	case 'B':
		return t == '2';
	case 'C':
		return t == '3';
	case 'D':
		return t == 'T' || t == 'n';
	case 'E':
		return t == 'C' || t == 'I' || t == 's';
	default:
		return false;
	}
}

static void cancel(struct replyq *q, struct rq_entry *e)
{
	if (e->cancelled)
		return;
	e->cancelled = true;
	e->ready = true;
	if (q->on_cancel)
		q->on_cancel(q->arg, e);
}

/* Entries whose answers ended in one rq_backend call: unlinked at once, their
 * owners told (and the entries freed) once the queue is consistent again, so
 * that an owner may answer, push and pop freely. */
struct done_list {
	struct rq_entry *head, *tail;
};

static void unlink_after(struct replyq *q, struct rq_entry *prev, struct rq_entry *e)
{
	if (prev)
		prev->next = e->next;
	else
		q->head = e->next;
	if (q->tail == e)
		q->tail = prev;
	q->n--;
	e->next = NULL;
}

static void done_add(struct done_list *dl, struct rq_entry *e)
{
	if (dl->tail)
		dl->tail->next = e;
	else
		dl->head = e;
	dl->tail = e;
}

static void done_run(struct replyq *q, struct done_list *dl)
{
	struct rq_entry *e;

	while ((e = dl->head) != NULL) {
		dl->head = e->next;
		if (e->kind == RQ_SKIP && !e->skipped && q->on_skip_done)
			q->on_skip_done(q->arg, e);
		if (e->capture && q->on_done)
			q->on_done(q->arg, e);
		entry_free(e);
	}
	dl->tail = NULL;
}

/* Entry e's answer is complete (prev: the entry before it, or NULL for the head). */
static void finish(struct replyq *q, struct rq_entry *prev, uint8_t *done_msg, struct done_list *dl)
{
	struct rq_entry *e = prev ? prev->next : q->head;

	*done_msg = e->msg;
	unlink_after(q, prev, e);
	done_add(dl, e);
}

/* The backend skips the rest of the group after entry `prev`'s successor
 * failed: it discards every message up to the group's Sync. The entries up to
 * that Sync get no answer (the backend's are removed, ours cancelled); with
 * no Sync sent yet, entries pushed before it are skipped as they come. */
static void skip_after(struct replyq *q, struct rq_entry *prev, struct done_list *dl)
{
	struct rq_entry *e = prev ? prev->next : q->head, *next;

	while (e && e->msg != 'S') {
		next = e->next;
		if (e->kind == RQ_OWN) {
			cancel(q, e);
			prev = e;
		} else {
			unlink_after(q, prev, e);
			e->skipped = true;
			if (e->capture)
				e->error = true;    /* never ran */
			done_add(dl, e);
		}
		e = next;
	}
	if (e == NULL)
		q->skipping = true;
}

/* Entries the backend skipped as they came (q->skipping) are done. */
static void reap(struct replyq *q, struct done_list *dl)
{
	struct rq_entry *e = q->head, *prev = NULL, *next;

	while (e && q->nskipped > 0) {
		next = e->next;
		if (e->skipped && e->kind != RQ_OWN) {
			unlink_after(q, prev, e);
			if (e->capture)
				e->error = true;
			done_add(dl, e);
			q->nskipped--;
		} else {
			prev = e;
		}
		e = next;
	}
	q->nskipped = 0;
}

/* The entry a backend message of type t answers, and the one before it;
 * NULL when it must wait (an answer of our own comes first). */
static struct rq_entry *target(struct replyq *q, uint8_t t, struct rq_entry **prevp)
{
	struct rq_entry *e = q->head, *prev = NULL;

	if (e->kind == RQ_OWN) {
		/* Answers of our own come first. The backend's answer to a message
		 * pgbatchd sent for itself, right behind them, is swallowed now:
		 * nothing the client sees moves. */
		while (e && e->kind == RQ_OWN && !e->ready) {
			prev = e;
			e = e->next;
		}
		if (e == NULL || e->kind != RQ_SKIP || e == q->head || t == 'S' || t == 'A' ||
		    (t == 'E' && e->relay_error))
			return NULL;    /* (an error the client hears waits its turn) */
	}
	*prevp = prev;
	return e;
}

bool rq_plain_head(const struct replyq *q)
{
	const struct rq_entry *e = q->head;

	return e && q->nskipped == 0 && e->kind == RQ_FORWARD && !e->muted && !e->capture && !e->late &&
	       e->copy == NULL;
}

struct rq_entry *rq_target(struct replyq *q, uint8_t t)
{
	struct done_list dl = { NULL, NULL };
	struct rq_entry *prev;

	if (q->nskipped) {
		reap(q, &dl);
		done_run(q, &dl);
	}
	return q->head ? target(q, t, &prev) : NULL;
}

enum rq_verdict rq_backend(struct replyq *q, uint8_t t, uint8_t *done_msg)
{
	struct rq_entry *e, *prev = NULL;
	struct done_list dl = { NULL, NULL };
	enum rq_verdict v;
	bool quiet;

	*done_msg = 0;
	if (q->nskipped) {
		reap(q, &dl);
		done_run(q, &dl);
	}
	if (q->head == NULL)
		return RQV_RELAY;   /* nothing owed: asynchronous, or the backend's last words */
	e = target(q, t, &prev);
	if (e == NULL)
		return RQV_WAIT;
	quiet = (e->kind == RQ_SKIP && !(t == 'N' && e->notices) && !(t == 'E' && e->relay_error)) || e->muted;
	if (t == 'S' || t == 'A')
		return RQV_RELAY;   /* the session's settings and notifications */
	if (e->late && (t == 'E' || t == 'C' || t == 'I')) {
		e->late = false;
		if (q->on_late && q->on_late(q->arg, e))
			quiet = true;   /* replaced */
	}
	v = quiet ? RQV_DROP : RQV_RELAY;
	if (t == 'E')
		e->error = true;
	if (t == 'E' && extended(e->msg)) {
		finish(q, prev, done_msg, &dl);
		skip_after(q, prev, &dl);
		if (q->on_error)
			q->on_error(q->arg);
	} else if (ends_answer(e->msg, t)) {
		finish(q, prev, done_msg, &dl);
	}
	done_run(q, &dl);
	return v;
}

struct rq_entry *rq_own_head(struct replyq *q)
{
	struct rq_entry *e;

	if (q->nskipped) {
		struct done_list dl = { NULL, NULL };

		reap(q, &dl);
		done_run(q, &dl);
	}
	e = q->head;

	return e && e->kind == RQ_OWN && e->ready ? e : NULL;
}

void rq_hoist_sent(struct replyq *q, struct rq_entry *first)
{
	struct rq_entry *e, *prev = NULL, *at, *next;

	for (e = q->head; e && e != first; e = e->next)
		prev = e;
	if (e == NULL)
		return;
	at = prev;              /* hoisted entries go after `at` (NULL: at the head) */
	prev = first;
	for (e = first->next; e && e->kind != RQ_FORWARD; e = next) {
		next = e->next;
		if (e->kind != RQ_SKIP) {
			prev = e;
			continue;
		}
		prev->next = next;
		if (q->tail == e)
			q->tail = prev;
		if (at) {
			e->next = at->next;
			at->next = e;
		} else {
			e->next = q->head;
			q->head = e;
		}
		at = e;
	}
}

void rq_own_error(struct replyq *q, struct rq_entry *e)
{
	for (e = e->next; e && (extended(e->msg) || e->kind == RQ_SKIP); e = e->next) {
		if (e->kind == RQ_OWN)
			cancel(q, e);
		else if (e->kind == RQ_FORWARD)
			e->muted = true;
	}
}
