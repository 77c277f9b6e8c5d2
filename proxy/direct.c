/* Direct writes: a unit the sink offers back is written on the session's own connection, in one round trip. */
#include "proxy/direct.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/log.h"
#include "protocol/pktbuf.h"
#include "protocol/reader.h"
#include "proxy/client.h"
#include "proxy/daemon.h"
#include "proxy/group.h"
#include "proxy/pending.h"
#include "proxy/pstmt.h"
#include "proxy/replyq.h"
#include "proxy/txn.h"
#include "proxy/view.h"
#include "sink/sink.h"

#define SEAM_INTERCEPTION
#include "proxy/seam.h"

struct direct {
	struct pending *p;          /* the unit written, until its answer (NULL: none) */
	struct rq_entry *entry;     /* our Query's place in the reply queue */
	uint64_t rows;              /* what its CommandCompletes said */
	bool failed;                /* it had an ErrorResponse */
	int pid;                    /* the backend it runs on, */
	int64_t start;              /* and that backend's start (view.h) */
};

/* A unit whose connection lingers after its session: the backend it ran on. */
struct lost {
	struct sink_unit *u;
	int pid;
	int64_t start;
};

/* The session's connection does nothing else now, outside a transaction
 * block: a Query of ours runs at once and alone. */
static bool idle(const struct client *c, const struct pending *p)
{
	if (!client_backend_quiet(c) || c->is.in_group || c->is.copy_next || txn_busy(c) ||
	    (c->is.direct && c->is.direct->p))
		return false;
	if (p->replied || p->pass_deferred || view_backend_start(c) == 0)
		return false;   /* (0: its backend not named yet, one opened later) */
	/* a simple Query, or a Sync group outside a transaction block */
	if (p->g ? p->g->in_tx || p->g->prefix || p->g->tx_status != 'I' || group_first_entry(p->g) == NULL :
		   p->entry == NULL)
		return false;
	return !rq_backend_owes(&c->rq);    /* (the backend still answers something) */
}

bool direct_offer(void *arg, struct sink_unit *u)
{
	struct pending *p = arg;
	struct client *c = p->client;
	struct rq_entry *e;
	struct pktbuf m;
	uint64_t rows = 0;

	if (!client_has_backend(c)) {
		client_warm_backend(c);         /* (for its next rows) */
		return false;
	}
	if (!idle(c, p))
		return false;
	if (c->is.direct == NULL && (c->is.direct = calloc(1, sizeof(*c->is.direct))) == NULL)
		return false;
	pkt_init(&m);
	if (!sink_tx_batch(u, sink_unit_statements(u), NULL, NULL, &m, &rows) || rows == 0 ||
	    (e = rq_push_before(&c->rq, p->g ? group_first_entry(p->g) : p->entry, RQ_SKIP, 'Q')) == NULL) {
		pkt_free(&m);
		return false;
	}
	/* (its notices are not the client's: a failed attempt is written again
	 * by the writers, whose notices nobody hears) */
	rq_capture(e, c->is.direct);
	c->is.direct->p = p;
	c->is.direct->entry = e;
	c->is.direct->rows = 0;
	c->is.direct->failed = false;
	c->is.direct->pid = (int)client_backend_pid(c);
	c->is.direct->start = view_backend_start(c);
	pstmt_own_query(c);
	client_backend_send(c, m.data, m.len);
	pkt_free(&m);
	/* (the view is not made stale for a table whose triggers could change
	 * the session: asking it again after every lone row, the settings scan
	 * included, made such a table's single writer ten times slower; see
	 * docs/ARCHITECTURE.md) */
	log_debug(c->prefix, "INSERT written on the session's own connection (%llu rows)", (unsigned long long)rows);
	return true;
}

bool direct_owns(const struct client *c, const struct rq_entry *e)
{
	return c->is.direct && e->owner == c->is.direct;
}

void direct_captured(struct client *c, struct rq_entry *e, uint8_t type, const uint8_t *body, uint32_t len)
{
	struct direct *d = c->is.direct;

	if (!direct_owns(c, e))
		return;
	if (type == 'C')
		d->rows += pkt_tag_count(body, len);
	else if (type == 'E')
		d->failed = true;
}

void direct_entry_done(struct client *c, struct rq_entry *e)
{
	struct direct *d = c->is.direct;
	struct pending *p;

	if (!direct_owns(c, e))
		return;
	rq_set_owner(e, NULL);
	p = d->p;
	d->p = NULL;
	d->entry = NULL;
	if (p && p->unit)
		sink_direct_done(p->unit, !e->error && !d->failed, d->rows);
}

void direct_forget(struct client *c, struct pending *p)
{
	if (c->is.direct && c->is.direct->p == p)
		c->is.direct->p = NULL;
}

#define LOST_MESSAGE "the session ended while its INSERT ran"

/* The lingering connection is closed: by the server once it ran the statement,
 * or by whatever broke it, the backend perhaps still running (sink_direct_reap
 * ends it first, or finds it gone). */
static void backend_freed(void *arg)
{
	struct lost *l = arg;

	sink_direct_reap(l->u, l->pid, l->start, "08006", LOST_MESSAGE);
	sink_direct_release(l->u);
	free(l);
}

void direct_session_end(struct client *c)
{
	struct direct *d = c->is.direct;
	struct sink_unit *u;
	struct lost *l = NULL;

	if (d == NULL || d->p == NULL || d->p->unit == NULL)
		return;
	u = d->p->unit;
	d->p = NULL;
	if (d->entry)
		rq_set_owner(d->entry, NULL);
	d->entry = NULL;
	if ((l = malloc(sizeof(*l))) != NULL) {
		l->u = u;
		l->pid = d->pid;
		l->start = d->start;
	}
	if (l == NULL || !client_backend_linger(c, backend_freed, l)) {
		/* its connection is gone (or cannot be waited for) */
		free(l);
		sink_direct_reap(u, d->pid, d->start, "08006", LOST_MESSAGE);
		return;
	}
	/* the server runs what it was sent: the unit is done when it closes */
	sink_direct_hold(u);
}

void direct_abort(struct client *c)
{
	if (c->is.direct && c->is.direct->p)
		(void)client_cancel_backend(c);
}

void direct_free(struct client *c)
{
	free(c->is.direct);
	c->is.direct = NULL;
}
