/* A held extended-protocol Sync group: its messages, how they are answered, forwarded or failed. */
#include "proxy/group.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "protocol/pktbuf.h"
#include "proxy/client.h"
#include "proxy/daemon.h"
#include "proxy/pstmt.h"
#include "proxy/replyq.h"
#include "proxy/view.h"
#include "sink/sink.h"

#define SEAM_INTERCEPTION
#include "proxy/seam.h"

static void own_simple(struct rq_entry *e, char type)
{
	pkt_begin(rq_answer(e), type);
	pkt_end(rq_answer(e));
}

static void to_backend(struct client *c, const void *msg, size_t len)
{
	client_to_backend(c, msg, len);
}

void group_answer_held(struct held *h, uint64_t rows, const struct pkt_diag *warning, char tx_status)
{
	struct rq_entry *e = h->entry;

	switch (h->type) {
	case 'P':
		own_simple(e, '1');
		break;
	case 'B':
		own_simple(e, '2');
		break;
	case 'D':
		if (h->ps)
			pstmt_describe_answer(rq_answer(e), h->ps);
		else
			own_simple(e, 'n');
		break;
	case 'C':
		own_simple(e, '3');
		break;
	case 'E':
		if (warning)
			pkt_diag(rq_answer(e), 'N', warning);
		pkt_insert_complete(rq_answer(e), rows);
		break;
	case 'S':
		pkt_ready(rq_answer(e), tx_status);
		break;
	}
	if (!pkt_ok(rq_answer(e))) {
		pkt_reset(rq_answer(e));
		pkt_error(rq_answer(e), "ERROR", "53200", "out of memory", NULL, NULL);
	}
	rq_ready(e);
}

/* Freed held messages kept for reuse when small (a pgjdbc batch's Bind,
 * Describe and Execute: three a row): single-threaded, bounded (HELD_SPARE_MAX
 * of HELD_SMALL bytes: 512 KB). */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPARE_UNDER_ASAN 1      /* (clang says so this way, gcc with __SANITIZE_ADDRESS__) */
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(SPARE_UNDER_ASAN)
#define HELD_SPARE_MAX 0        /* (ASan sees every use after free) */
#else
#define HELD_SPARE_MAX 1024
#endif
#define HELD_SMALL 512
static struct held *held_spare;
static int held_nspare;

size_t held_footprint(size_t len)
{
	return sizeof(struct held) + len <= HELD_SMALL ? HELD_SMALL : sizeof(struct held) + len;
}

struct held *held_new(size_t len)
{
	struct held *h;

	if (len > SIZE_MAX - sizeof(*h) - HELD_SMALL)
		return NULL;
	if (sizeof(*h) + len <= HELD_SMALL && held_spare) {
		h = held_spare;
		held_spare = h->next;
		held_nspare--;
	} else {
		h = malloc(sizeof(*h) + len <= HELD_SMALL ? HELD_SMALL : sizeof(*h) + len);
		if (h == NULL)
			return NULL;
	}
	memset(h, 0, sizeof(*h));
	h->msg = (uint8_t *)(h + 1);
	h->len = (uint32_t)len;
	return h;
}

void held_free(struct held *h)
{
	/* (h->msg is in h's own allocation: held_new) */
	if (h->has_bound)
		ins_stmt_free(&h->bound);
	pstmt_unref(h->ps);
	if (sizeof(*h) + h->len <= HELD_SMALL && held_nspare < HELD_SPARE_MAX) {
		h->next = held_spare;
		held_spare = h;
		held_nspare++;
		return;
	}
	free(h);
}

void group_free(struct group *g)
{
	struct held *h;

	if (g == NULL)
		return;
	while ((h = g->head) != NULL) {
		g->head = h->next;
		held_free(h);
	}
	free(g);
}


/* A held message the client has its answer to goes to the backend with
 * that answer swallowed. */
static bool forward_answered(struct client *c, struct held *h)
{
	struct rq_entry *e;

	if (h->type == 'D' || (h->type == 'P' && h->ps->at_backend && h->ps->name[0]))
		return true;    /* nothing to do at the backend */
	if (h->type == 'B' && !h->ps->at_backend && !pstmt_inject_parse(c, h->ps, NULL, false))
		return false;
	e = rq_push(&c->rq, RQ_SKIP, h->type);
	if (e == NULL)
		return false;
	if (h->type == 'P') {
		rq_capture(e, pstmt_ref(h->ps));
		pstmt_add_clause(c, h->ps);
		h->ps->at_backend = true;
		to_backend(c, h->ps->parse, h->ps->parse_len);
		return true;
	}
	to_backend(c, h->msg, h->len);
	return true;
}

bool group_forward_held(struct client *c, struct group *g)
{
	view_stale(c);
	struct held *h;

	/* what pgbatchd sent the backend while the group was held (the view's
	 * question, a probe) is answered before the group, sent now */
	for (h = g->head; h && (h->answered || h->entry == NULL); h = h->next)
		;
	if (h)
		rq_hoist_sent(&c->rq, h->entry);

	for (h = g->head; h; h = h->next) {
		if (h->answered) {
			if (!forward_answered(c, h))
				return false;
			continue;
		}
		if (h->entry == NULL)
			continue;
		if (h->type == 'D' && h->ps) {
			pstmt_describe_answer(rq_answer(h->entry), h->ps);
			rq_ready(h->entry);
			h->entry = NULL;
			continue;
		}
		if (h->type == 'P' && h->ps->at_backend && h->ps->name[0]) {
			/* parsed already for a Describe of it: answered as the backend did */
			own_simple(h->entry, '1');
			rq_ready(h->entry);
			h->entry = NULL;
			continue;
		}
		if (h->type == 'P') {
			rq_capture(h->entry, pstmt_ref(h->ps));
			/* the statement as the backend gets it: with its table's clause */
			pstmt_add_clause(c, h->ps);
			h->ps->at_backend = true;
			rq_forward(&c->rq, h->entry);
			to_backend(c, h->ps->parse, h->ps->parse_len);
			h->entry = NULL;
			continue;
		} else if (h->type == 'B' && !h->ps->at_backend && !pstmt_inject_parse(c, h->ps, h->entry, true)) {
			return false;
		}
		rq_forward(&c->rq, h->entry);
		to_backend(c, h->msg, h->len);
		h->entry = NULL;
	}
	return true;
}


/* ------------------------------------------------------------ answers -- */

/* Its rows are taken (a transaction's, staged): every message is answered as
 * PostgreSQL would, its Sync by the backend when the group began with a
 * BEGIN that went ahead. */
void group_answer(struct client *c, struct group *g)
{
	struct held *h;

	for (h = g->head; h; h = h->next) {
		if (h->entry == NULL)
			continue;
		if (h->type == 'S' && g->prefix) {
			rq_forward(&c->rq, h->entry);
			to_backend(c, h->msg, h->len);
		} else {
			group_answer_held(h, h->rows, NULL, 'T');
		}
		h->entry = NULL;
	}
	group_free(g);
	client_continue(c);
}

void group_fail_at_execute(struct client *c, struct group *g, const struct pktbuf *err)
{
	struct held *h;
	bool failed = false;

	for (h = g->head; h; h = h->next) {
		struct rq_entry *e = h->entry;

		if (failed && h->type == 'P' && h->ps)
			pstmt_unregister(c, h->ps);     /* skipped: never parsed */
		if (e == NULL || e->cancelled) {
			h->entry = NULL;
			continue;
		}
		if (h->type == 'S') {
			pkt_ready(rq_answer(e), 'E');
			rq_ready(e);
		} else if (failed) {
			;
		} else if (h->type == 'E') {
			pkt_put_bytes(rq_answer(e), err->data, err->len);
			rq_ready(e);
			rq_own_error(&c->rq, e);
			failed = true;
		} else {
			group_answer_held(h, 0, NULL, 'E');
		}
		h->entry = NULL;
	}
	group_free(g);
	client_continue(c);
}

void group_forward(struct client *c, struct group *g)
{
	if (!group_forward_held(c, g))
		client_fatal(c, "53200", "out of memory", NULL);
	group_free(g);
	client_continue(c);
}

int group_add(struct group *g, struct sink_unit *u, void *stmt_arg, int64_t *bytes)
{
	struct client *c = g->c;
	struct held *h;
	int n = 0;

	for (h = g->head; h; h = h->next) {
		if (h->type != 'E' || !h->has_bound)
			continue;
		c->d->istats.rows += (uint64_t)h->bound.nrows;
		if (bytes)
			for (size_t i = 0; i < (size_t)h->bound.nrows * (size_t)h->bound.nvals; i++)
				*bytes += (int64_t)h->bound.values[i].len + 16;
		h->has_bound = false;
		if (!sink_unit_add(u, &h->bound, stmt_arg))
			return -1;
		n++;
	}
	return n;
}

uint64_t group_rows(const struct group *g)
{
	uint64_t n = 0;

	for (const struct held *h = g->head; h; h = h->next)
		if (h->type == 'E')
			n += h->rows;
	return n;
}

bool group_answered(const struct group *g)
{
	for (const struct held *h = g->head; h; h = h->next)
		if (h->answered)
			return true;
	return false;
}

struct rq_entry *group_first_entry(const struct group *g)
{
	for (const struct held *h = g->head; h; h = h->next)
		if (h->entry)
			return h->entry;
	return NULL;
}
