/* Extended-protocol interception: prepared INSERT statements, their Bind values, and Sync groups taken as units. */
#include "proxy/extq.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "common/log.h"
#include "conf/config.h"
#include "protocol/binval.h"
#include "protocol/insert.h"
#include "protocol/pktbuf.h"
#include "protocol/reader.h"
#include "protocol/sqllex.h"
#include "proxy/backend.h"
#include "proxy/client.h"
#include "proxy/daemon.h"
#include "proxy/pending.h"
#include "proxy/pstmt.h"
#include "proxy/txn.h"
#include "proxy/replyq.h"
#include "sink/sink.h"

/* One message of a held group. */
struct held {
	struct held *next;
	uint8_t type;
	uint8_t *msg;
	uint32_t len;
	struct rq_entry *entry;     /* its own answer */
	struct pstmt *ps;           /* P: the statement it makes; B: the one it binds */
	struct ins_stmt bound;      /* B: its rows, until its Execute takes them */
	bool has_bound;
	bool answered;              /* answered at a Flush, before its group was decided */
	int stmt;                   /* E: its statement in the unit */
	uint64_t rows;              /* E: the rows of its statement */
};

/* A Sync group held, then handed to the sink as one unit. */
struct group {
	struct client *c;
	struct held *head, *tail;
	size_t bytes;
	int nexec;
	struct held *portal;        /* the Bind of the unnamed portal, not yet run */
	char tx_status;             /* the session's when the group began */
	bool in_tx;                 /* in a transaction block: its rows are staged */
	bool prefix;                /* a BEGIN went ahead of what is held (forwarded) */
	bool prefix_bound;          /* and its portal was bound */
	bool commit;                /* the group is a COMMIT of staged rows */
};

/* What becomes of a message offered while a group is held. */
enum step { ST_HELD, ST_PASS, ST_FAIL, ST_WAIT, ST_FORWARD };

enum gmode {
	G_NONE = 0,     /* between groups */
	G_HOLD,         /* a group is held */
	G_PASS,         /* the group passes through, up to its Sync */
	G_SKIP,         /* an error of ours ended the group: the rest up to Sync is dropped */
};

struct extq {
	enum gmode mode;
	struct group *g;            /* G_HOLD */
	bool waiting;               /* the session waits for the answers to its probes */
};

/* --------------------------------------------------------------- groups -- */

static struct extq *xq(struct client *c)
{
	if (c->xq == NULL)
		c->xq = calloc(1, sizeof(struct extq));
	return c->xq;
}

static void own_simple(struct rq_entry *e, char type)
{
	pkt_begin(&e->own, type);
	pkt_end(&e->own);
}

static void to_backend(struct client *c, const void *msg, size_t len)
{
	if (c->be)
		evbuffer_add(backend_output(c->be), msg, len);
}

/* A held message's answer as PostgreSQL gives it when all goes well: an
 * Execute's `INSERT 0 rows` after its WARNING (if any); a Sync's
 * ReadyForQuery with tx_status. The entry is ready afterwards. */
static void answer(struct held *h, uint64_t rows, const struct pkt_diag *warning, char tx_status)
{
	struct rq_entry *e = h->entry;
	char tag[48];

	switch (h->type) {
	case 'P':
		own_simple(e, '1');
		break;
	case 'B':
		own_simple(e, '2');
		break;
	case 'D':
		if (h->ps)
			pstmt_describe_answer(&e->own, h->ps);
		else
			own_simple(e, 'n');
		break;
	case 'C':
		own_simple(e, '3');
		break;
	case 'E':
		if (warning)
			pkt_diag(&e->own, 'N', warning);
		snprintf(tag, sizeof(tag), "INSERT 0 %llu", (unsigned long long)rows);
		pkt_command_complete(&e->own, tag);
		break;
	case 'S':
		pkt_ready(&e->own, tx_status);
		break;
	}
	if (!pkt_ok(&e->own)) {
		pkt_reset(&e->own);
		pkt_error(&e->own, "ERROR", "53200", "out of memory", NULL, NULL);
	}
	e->ready = true;
}

static void held_free(struct held *h)
{
	free(h->msg);
	if (h->has_bound)
		ins_stmt_free(&h->bound);
	pstmt_unref(h->ps);
	free(h);
}

static void group_free(struct group *g)
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

static struct held *hold(struct client *c, uint8_t type, struct evbuffer *in, size_t total)
{
	struct group *g = c->xq->g;
	struct held *h = calloc(1, sizeof(*h));

	if (h)
		h->msg = malloc(total);
	if (h == NULL || h->msg == NULL || (h->entry = client_own_reply(c, type)) == NULL) {
		if (h)
			free(h->msg);
		free(h);
		return NULL;
	}
	evbuffer_remove(in, h->msg, total);
	h->len = (uint32_t)total;
	h->type = type;
	h->stmt = -1;
	if (g->tail)
		g->tail->next = h;
	else
		g->head = h;
	g->tail = h;
	g->bytes += total + sizeof(*h);
	c->in_group = type != 'S';
	return h;
}

/* The held messages go to the backend in order, as the client sent them. */
/* A held message the client has its answer to goes to the backend with
 * that answer swallowed. */
static bool forward_answered(struct client *c, struct held *h)
{
	struct rq_entry *e;

	if (h->type == 'D' || (h->type == 'P' && h->ps->at_backend && h->ps->name[0]))
		return true;    /* nothing to do at the backend */
	if (h->type == 'B' && !h->ps->at_backend && !pstmt_inject_parse(c, h->ps, NULL))
		return false;
	e = rq_push(&c->rq, RQ_SKIP, h->type);
	if (e == NULL)
		return false;
	if (h->type == 'P') {
		e->capture = true;
		e->owner = pstmt_ref(h->ps);
		h->ps->at_backend = true;
	}
	to_backend(c, h->msg, h->len);
	return true;
}

/* The held messages go to the backend in order, as the client sent them. */
static bool forward_held(struct client *c, struct group *g)
{
	struct held *h;

	for (h = g->head; h; h = h->next) {
		if (h->answered) {
			if (!forward_answered(c, h))
				return false;
			continue;
		}
		if (h->entry == NULL)
			continue;
		if (h->type == 'D' && h->ps) {
			pstmt_describe_answer(&h->entry->own, h->ps);
			h->entry->ready = true;
			h->entry = NULL;
			continue;
		}
		if (h->type == 'P' && h->ps->at_backend && h->ps->name[0]) {
			/* parsed already for a Describe of it: answered as the backend did */
			own_simple(h->entry, '1');
			h->entry->ready = true;
			h->entry = NULL;
			continue;
		}
		if (h->type == 'P') {
			h->entry->capture = true;
			h->entry->owner = pstmt_ref(h->ps);
			h->ps->at_backend = true;
		} else if (h->type == 'B' && !h->ps->at_backend && !pstmt_inject_parse(c, h->ps, h->entry)) {
			return false;
		}
		h->entry->kind = RQ_FORWARD;
		to_backend(c, h->msg, h->len);
		h->entry = NULL;
	}
	return true;
}

/* The answers to the probes of the group's statements are all in (ST_HELD);
 * or wait for them; or one Parse failed and the group passes through, the
 * backend then saying why in the right place. */
static enum step probes_checked(struct client *c, const struct group *g)
{
	const struct held *h;

	if (pstmt_probes_pending(c)) {
		c->xq->waiting = true;
		c->waiting_forward = true;
		return ST_WAIT;
	}
	for (h = g->head; h; h = h->next)
		if (h->type == 'P' && h->ps->failed)
			return ST_PASS;
	return ST_HELD;
}

/* Flush inside a held group before any Execute (asyncpg: Parse, Describe,
 * Flush): what is held so far is answered now, each statement checked by
 * the backend first (a Parse of ours, its answer swallowed). */
static enum step hold_flush(struct client *c, struct evbuffer *in, size_t total)
{
	struct group *g = c->xq->g;
	struct held *h;
	enum step st;

	if (g->nexec > 0 || g->commit || g->prefix)
		return ST_PASS;
	for (h = g->head; h; h = h->next)
		if (h->type == 'P' && !h->answered && !h->ps->at_backend && !pstmt_probe_parse(c, h->ps))
			return ST_FAIL;
	st = probes_checked(c, g);
	if (st != ST_HELD)
		return st;
	for (h = g->head; h; h = h->next) {
		if (h->entry == NULL || h->answered)
			continue;
		answer(h, 0, NULL, g->tx_status);
		h->entry = NULL;
		h->answered = true;
	}
	evbuffer_drain(in, total);
	client_pump(c);
	return ST_HELD;
}

/* The held group passes through; the rest of it follows as it comes. A
 * transaction's staged rows go first (txn_gate of each held statement). */
static enum txn_gate go_pass(struct client *c)
{
	struct extq *x = c->xq;
	struct group *g = x->g;
	enum txn_gate tg;
	struct held *h;
	size_t len;
	const char *sql;

	if (g) {
		for (h = g->head; h; h = h->next) {
			if (h->type != 'P' && h->type != 'B')
				continue;
			sql = pstmt_sql(h->ps, &len);
			tg = txn_gate(c, sql, len);
			if (tg == TG_WAIT)
				return TG_WAIT;
			if (tg == TG_FAILED) {
				extq_group_fail(c, g, txn_error(c));
				txn_error_told(c);
				x->g = NULL;
				x->mode = G_SKIP;
				c->in_group = true;
				return TG_FAILED;
			}
		}
		if (g->nexec)
			intercept_count_pass(c, INS_REASON_COUNT + 3, "the group holds other messages");
		if (!forward_held(c, g))
			client_fatal(c, "53200", "out of memory", NULL);
		group_free(g);
		x->g = NULL;
		client_pump(c);     /* answers of ours made just now (a Describe's) */
	}
	x->mode = G_PASS;
	c->in_group = true;
	return TG_GO;
}

/* ------------------------------------------------------- the messages -- */


/* Describe of a statement inside a held group. */
static enum step hold_describe(struct client *c, struct evbuffer *in, size_t total, const uint8_t *msg)
{
	struct pktreader r;
	const char *name;
	uint8_t what;
	struct pstmt *ps;
	struct held *h;

	rd_init(&r, msg + PKT_HDR_LEN, total - PKT_HDR_LEN);
	if (!rd_u8(&r, &what) || what != 'S' || !rd_cstring(&r, &name, NULL) || !rd_at_end(&r))
		return ST_PASS;
	ps = pstmt_lookup(c, name);
	if (ps == NULL || !ps->insert)
		return ST_PASS;
	if (intercept_must_wait(c))
		return ST_WAIT;         /* the probe must not overtake what is decided before it */
	h = hold(c, 'D', in, total);
	if (h == NULL)
		return ST_FAIL;
	h->ps = pstmt_ref(ps);
	if (!pstmt_probe_describe(c, ps))
		return ST_FAIL;
	return ST_HELD;
}

/* The transaction class of a statement's text. */
static enum txn_class stmt_class(const struct pstmt *ps)
{
	size_t len;
	const char *sql = pstmt_sql(ps, &len);

	return sql ? txn_classify(sql, len) : TC_OTHER;
}

static enum step hold_parse(struct client *c, struct evbuffer *in, size_t total, const uint8_t *msg)
{
	struct group *g = c->xq->g;
	struct pstmt *ps = pstmt_new(c, msg, (uint32_t)total);
	enum txn_class cls;
	enum step st = ST_PASS;
	struct held *h;

	if (ps == NULL)
		return ST_PASS;                 /* malformed: the backend says so */
	cls = ps->insert ? TC_OTHER : stmt_class(ps);
	if (ps->name[0] && pstmt_lookup(c, ps->name)) {
		st = ST_PASS;                   /* 42P05 */
	} else if (g->head == NULL && !g->in_tx && cls == TC_BEGIN && c->tx_status == 'I') {
		/* BEGIN in the group of the transaction's first statements (pgjdbc
		 * with autoCommit off): it goes ahead, the rest is staged */
		g->prefix = g->in_tx = true;
		st = ST_FORWARD;
	} else if (g->commit || (!ps->insert && !(cls == TC_COMMIT && g->head == NULL &&
						      txn_commit_pending(c)))) {
		st = ST_PASS;
	} else {
		h = hold(c, 'P', in, total);
		if (h == NULL) {
			st = ST_FAIL;
		} else {
			h->ps = pstmt_ref(ps);
			g->commit = !ps->insert;
			pstmt_register(c, ps);
			st = ST_HELD;
		}
	}
	pstmt_unref(ps);
	return st;
}

static enum step hold_bind(struct client *c, struct evbuffer *in, size_t total, const uint8_t *msg)
{
	struct group *g = c->xq->g;
	struct pktreader r;
	const char *portal, *name;
	struct pstmt *ps;
	struct ins_stmt bound;
	struct held *h;
	enum txn_class cls;

	rd_init(&r, msg + PKT_HDR_LEN, total - PKT_HDR_LEN);
	if (!rd_cstring(&r, &portal, NULL) || !rd_cstring(&r, &name, NULL) || portal[0])
		return ST_PASS;
	ps = pstmt_lookup(c, name);
	if (ps == NULL)
		return ST_PASS;
	cls = ps->insert ? TC_OTHER : stmt_class(ps);
	if (g->prefix && g->head == NULL && cls == TC_BEGIN) {
		g->prefix_bound = true;
		return ST_FORWARD;
	}
	if (!ps->insert) {
		if (cls != TC_COMMIT || !txn_commit_pending(c) || g->nexec ||
		    (g->head && !(g->commit && g->head == g->tail)))
			return ST_PASS;
		/* COMMIT of staged rows: held whole until they are written */
		h = hold(c, 'B', in, total);
		if (h == NULL)
			return ST_FAIL;
		h->ps = pstmt_ref(ps);
		g->commit = true;
		g->portal = h;
		return ST_HELD;
	}
	if (g->commit || !pstmt_bind(ps, &r, &bound))
		return ST_PASS;
	h = hold(c, 'B', in, total);
	if (h == NULL) {
		ins_stmt_free(&bound);
		return ST_FAIL;
	}
	h->ps = pstmt_ref(ps);
	h->bound = bound;
	h->has_bound = true;
	g->portal = h;
	g->prefix_bound = false;
	return ST_HELD;
}

/* Describe, Execute or Close of the unnamed portal of a held Bind (or of the
 * BEGIN that went ahead). */
static enum step hold_portal(struct client *c, uint8_t type, struct evbuffer *in, size_t total,
			     const uint8_t *msg)
{
	struct group *g = c->xq->g;
	struct pktreader r;
	const char *name;
	uint8_t what = 'P';
	int32_t maxrows;
	struct held *h, *b = g->portal;

	rd_init(&r, msg + PKT_HDR_LEN, total - PKT_HDR_LEN);
	if (type != 'E' && !rd_u8(&r, &what))
		return ST_PASS;
	if (!rd_cstring(&r, &name, NULL) || what != 'P' || name[0])
		return ST_PASS;
	if (type == 'E' && (!rd_i32(&r, &maxrows) || !rd_at_end(&r)))
		return ST_PASS;
	if (type != 'E' && !rd_at_end(&r))
		return ST_PASS;
	if (g->prefix_bound && g->head == NULL)
		return ST_FORWARD;
	if (b == NULL || (type == 'E' && !b->has_bound && !g->commit))
		return ST_PASS;
	h = hold(c, type, in, total);
	if (h == NULL)
		return ST_FAIL;
	if (type == 'E' && !g->commit) {
		h->bound = b->bound;
		h->has_bound = true;
		b->has_bound = false;
		h->rows = (uint64_t)h->bound.nrows;
		h->stmt = g->nexec++;
	} else if (type == 'C') {
		g->portal = NULL;
	}
	return ST_HELD;
}

/* Whether a new group may be held: the session is idle, nothing it forwarded
 * is still running (its outcome decides the transaction state). */
static enum intercept_result group_start(struct client *c)
{
	struct extq *x = c->xq;
	const struct rq_entry *e;

	if (c->d->sink == NULL || c->odd_settings || c->tx_status == 'E') {
		x->mode = G_PASS;
		return INTERCEPT_FORWARD;
	}
	for (e = c->rq.head; e; e = e->next)
		if (e->kind != RQ_OWN) {
			c->waiting_forward = true;
			return INTERCEPT_WAIT;
		}
	if (c->tx_status == 'T' && !txn_can_stage(c, false) && !txn_commit_pending(c)) {
		x->mode = G_PASS;
		return INTERCEPT_FORWARD;
	}
	x->g = calloc(1, sizeof(*x->g));
	if (x->g == NULL) {
		x->mode = G_PASS;
		return INTERCEPT_FORWARD;
	}
	x->g->c = c;
	x->g->tx_status = c->tx_status;
	x->g->in_tx = c->tx_status == 'T';
	x->mode = G_HOLD;
	return INTERCEPT_TAKEN;
}

/* Sync of a held group: its Executes become one unit (autocommit), or are
 * staged in the transaction's; a COMMIT group waits for the staged rows. */
static enum step submit(struct client *c, struct evbuffer *in, size_t total)
{
	struct extq *x = c->xq;
	struct group *g = x->g;
	struct pending *p;
	enum step st;

	if (g->nexec == 0 && !g->commit)
		return ST_PASS;
	st = probes_checked(c, g);
	if (st != ST_HELD)
		return st;
	if (g->commit && !txn_commit_ready(c))
		return ST_WAIT;         /* the staged rows are not all decided: resumed */
	if (c->ss == NULL && !intercept_open_session(c))
		return ST_PASS;
	if (g->commit || g->in_tx) {
		if (hold(c, 'S', in, total) == NULL)
			return ST_FAIL;
		x->g = NULL;
		x->mode = G_NONE;
		c->in_group = false;
		if (g->commit ? txn_commit_group(c, g) : txn_stage_group(c, g))
			return ST_HELD;
		/* not staged after all: as the client sent it */
		extq_group_forward(c, g);
		return ST_HELD;
	}
	p = pending_new(c);
	if (p == NULL)
		return ST_PASS;
	p->unit = sink_unit_open(c->ss, p);
	if (p->unit == NULL || hold(c, 'S', in, total) == NULL) {
		if (p->unit)
			sink_unit_drop(p->unit);
		pending_abandon(c, p);
		return ST_PASS;
	}
	/* the Sync is held now: from here on the group is taken or forwarded whole */
	p->g = g;
	p->tx_status = g->tx_status;
	x->g = NULL;
	x->mode = G_NONE;
	c->in_group = false;
	if (extq_group_add(g, p->unit, NULL, NULL) < 0) {
		sink_unit_drop(p->unit);
		p->g = NULL;
		pending_abandon(c, p);
		extq_group_forward(c, g);
		return ST_HELD;
	}
	c->d->istats.messages++;
	sink_unit_close(p->unit);
	return ST_HELD;
}

int extq_group_add(struct group *g, struct sink_unit *u, void *stmt_arg, int64_t *bytes)
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

/* The transaction gate for a message about to pass through: TG_FAILED is
 * answered here (the message gets the staged rows' error, the rest of its
 * group is dropped). */
static enum txn_gate gate(struct client *c, uint8_t type, const uint8_t *msg, size_t total,
			  struct evbuffer *in)
{
	struct pktreader r;
	const char *name, *sql = NULL;
	size_t len = 0;
	struct pstmt *ps;
	enum txn_gate tg;
	struct rq_entry *e;

	rd_init(&r, msg + PKT_HDR_LEN, total - PKT_HDR_LEN);
	if (type == 'P') {
		if (!rd_cstring(&r, &name, NULL) || !rd_cstring(&r, &sql, &len))
			sql = NULL;
	} else if (type == 'B') {
		if (rd_cstring(&r, &name, NULL) && rd_cstring(&r, &name, NULL) &&
		    (ps = pstmt_lookup(c, name)) != NULL)
			sql = pstmt_sql(ps, &len);
	} else if (type != 'E') {
		return TG_GO;
	}
	tg = txn_gate(c, sql, len);
	if (tg != TG_FAILED)
		return tg;
	e = client_own_reply(c, type);
	if (e == NULL) {
		client_fatal(c, "53200", "out of memory", NULL);
		return TG_WAIT;
	}
	pkt_put_bytes(&e->own, txn_error(c)->data, txn_error(c)->len);
	e->ready = true;
	txn_error_told(c);
	evbuffer_drain(in, total);
	c->xq->mode = G_SKIP;
	c->in_group = true;
	client_pump(c);
	return TG_FAILED;
}

/* A message that passes through names prepared statements: the backend must
 * have them first; Close takes one out of the registry. */
static bool pass_message(struct client *c, uint8_t type, const uint8_t *msg, size_t total)
{
	struct pktreader r;
	const char *name;
	uint8_t what;
	struct pstmt *ps;

	rd_init(&r, msg + PKT_HDR_LEN, total - PKT_HDR_LEN);
	switch (type) {
	case 'P':
		ps = pstmt_new(c, msg, (uint32_t)total);
		if (ps == NULL)
			return true;
		if (ps->name[0] && pstmt_lookup(c, ps->name)) {
			pstmt_unref(ps);           /* 42P05: the old one stays */
			return true;
		}
		pstmt_register(c, ps);
		ps->at_backend = true;
		c->capture_owner = pstmt_ref(ps);  /* its entry learns whether it worked */
		pstmt_unref(ps);
		return true;
	case 'B':
		if (rd_cstring(&r, &name, NULL) && rd_cstring(&r, &name, NULL))
			return pstmt_ensure_at_backend(c, name);
		return true;
	case 'D':
	case 'C':
		if (!rd_u8(&r, &what) || what != 'S' || !rd_cstring(&r, &name, NULL))
			return true;
		if (!pstmt_ensure_at_backend(c, name))
			return false;
		ps = pstmt_lookup(c, name);
		if (ps && type == 'C')
			pstmt_unregister(c, ps);
		else if (ps && ps->insert)
			c->capture_owner = pstmt_ref(ps);   /* learns its parameter types */
		return true;
	default:
		return true;
	}
}

enum intercept_result extq_message(struct client *c, uint8_t type, struct evbuffer *in, size_t total)
{
	struct extq *x = xq(c);
	enum intercept_result res;
	enum step st = ST_PASS;
	const uint8_t *msg;

	if (x == NULL)
		return INTERCEPT_FORWARD;
	if (x->mode == G_SKIP) {
		/* an error of ours ended the group: up to its Sync, nothing runs */
		if (type != 'S') {
			evbuffer_drain(in, total);
			return INTERCEPT_TAKEN;
		}
		x->mode = G_NONE;
		c->in_group = false;
		return INTERCEPT_FORWARD;
	}
	if (x->mode == G_NONE && type != 'S' && type != 'H') {
		res = group_start(c);
		if (res == INTERCEPT_WAIT)
			return res;
	}
	msg = evbuffer_pullup(in, (ssize_t)total);
	if (x->mode == G_HOLD) {
		if (x->g->bytes + total > (size_t)c->d->cfg->max_buffer_bytes / 4)
			st = ST_PASS;   /* a group this large is not held */
		else if (type == 'P')
			st = hold_parse(c, in, total, msg);
		else if (type == 'B')
			st = hold_bind(c, in, total, msg);
		else if (type == 'D' && total > PKT_HDR_LEN && msg[PKT_HDR_LEN] == 'S')
			st = hold_describe(c, in, total, msg);
		else if (type == 'D' || type == 'E' || type == 'C')
			st = hold_portal(c, type, in, total, msg);
		else if (type == 'S')
			st = submit(c, in, total);
		else if (type == 'H')
			st = hold_flush(c, in, total);
		switch (st) {
		case ST_HELD:
			return INTERCEPT_TAKEN;
		case ST_WAIT:
			return INTERCEPT_WAIT;
		case ST_FAIL:
			client_fatal(c, "53200", "out of memory", NULL);
			return INTERCEPT_WAIT;
		case ST_FORWARD:
			/* the BEGIN ahead of a held group */
			if (intercept_must_wait(c))
				return INTERCEPT_WAIT;
			msg = evbuffer_pullup(in, (ssize_t)total);
			if (!pass_message(c, type, msg, total)) {
				client_fatal(c, "53200", "out of memory", NULL);
				return INTERCEPT_WAIT;
			}
			return INTERCEPT_FORWARD;
		case ST_PASS:
			break;
		}
		if (pstmt_probes_pending(c)) {
			/* what was held goes to the backend only behind the probes' answers */
			x->waiting = true;
			c->waiting_forward = true;
			return INTERCEPT_WAIT;
		}
		if (intercept_must_wait(c))
			return INTERCEPT_WAIT;
		if (x->g && x->g->nexec)
			log_debug(c->prefix, "extended-protocol group passes through at a '%c' message", type);
		switch (go_pass(c)) {
		case TG_GO:
			break;
		case TG_WAIT:
			return INTERCEPT_WAIT;
		case TG_FAILED:
			return extq_message(c, type, in, total);    /* G_SKIP now */
		}
		msg = evbuffer_pullup(in, (ssize_t)total);
	} else if (intercept_must_wait(c)) {
		return INTERCEPT_WAIT;
	}
	/* passing through */
	switch (gate(c, type, msg, total, in)) {
	case TG_GO:
		break;
	case TG_WAIT:
		return INTERCEPT_WAIT;
	case TG_FAILED:
		return INTERCEPT_TAKEN;
	}
	msg = evbuffer_pullup(in, (ssize_t)total);
	if (!pass_message(c, type, msg, total)) {
		client_fatal(c, "53200", "out of memory", NULL);
		return INTERCEPT_WAIT;
	}
	if (type == 'S')
		x->mode = G_NONE;
	return INTERCEPT_FORWARD;
}

bool extq_before_forward(struct client *c, uint8_t type)
{
	struct extq *x = c->xq;

	if (x == NULL)
		return true;
	if (x->mode == G_HOLD) {
		if (pstmt_probes_pending(c)) {
			x->waiting = true;
			c->waiting_forward = true;
			return false;
		}
		if (intercept_must_wait(c))
			return false;
		if (go_pass(c) != TG_GO)
			return false;
	}
	if ((type == 'P' || type == 'B' || type == 'E' || type == 'F') && txn_gate(c, NULL, 0) != TG_GO) {
		/* a message too large to read first: the staged rows go ahead of it;
		 * if they failed, the backend's own answer (25P02) is what it gets */
		if (c->txn && txn_gate(c, NULL, 0) == TG_FAILED)
			txn_error_told(c);
		else
			return false;
	}
	if (type == 'S' || type == 'Q')
		x->mode = G_NONE;
	else if (type == 'P' || type == 'B' || type == 'E' || type == 'D' || type == 'C')
		x->mode = G_PASS;
	return true;
}

/* -------------------------------------------------- answering a group -- */

/* Its rows are taken (a transaction's, staged): every message is answered as
 * PostgreSQL would, its Sync by the backend when the group began with a
 * BEGIN that went ahead. */
void extq_group_answer(struct client *c, struct group *g)
{
	struct held *h;

	for (h = g->head; h; h = h->next) {
		if (h->entry == NULL)
			continue;
		if (h->type == 'S' && g->prefix) {
			h->entry->kind = RQ_FORWARD;
			to_backend(c, h->msg, h->len);
		} else {
			answer(h, h->rows, NULL, 'T');
		}
		h->entry = NULL;
	}
	group_free(g);
	client_continue(c);
}

void extq_group_forward(struct client *c, struct group *g)
{
	if (!forward_held(c, g))
		client_fatal(c, "53200", "out of memory", NULL);
	group_free(g);
	client_continue(c);
}

/* The group's first message gets `err`; the rest up to its Sync is skipped;
 * the Sync (if held) answers with the transaction's state `status`. A COMMIT
 * group's Parse and Bind are answered first (commit_failed). */
static void group_error(struct client *c, struct group *g, const struct pktbuf *err, bool commit)
{
	struct held *h;
	bool told = false;

	for (h = g->head; h; h = h->next) {
		struct rq_entry *e = h->entry;

		if (e == NULL || e->cancelled) {
			h->entry = NULL;
			continue;
		}
		if (h->type == 'S') {
			pkt_ready(&e->own, commit ? 'I' : 'E');
		} else if (told) {
			continue;
		} else if (commit && h->type != 'E') {
			answer(h, 0, NULL, 'I');
			h->entry = NULL;
			continue;
		} else {
			pkt_put_bytes(&e->own, err->data, err->len);
			told = true;
			e->ready = true;
			rq_own_error(&c->rq, e);
			h->entry = NULL;
			continue;
		}
		e->ready = true;
		h->entry = NULL;
	}
	group_free(g);
	client_continue(c);
}

void extq_group_fail(struct client *c, struct group *g, const struct pktbuf *err)
{
	group_error(c, g, err, false);
}

void extq_group_fail_commit(struct client *c, struct group *g, const struct pktbuf *err)
{
	group_error(c, g, err, true);
}

void extq_group_free(struct group *g)
{
	group_free(g);
}

bool extq_holding(const struct client *c)
{
	return c->xq && c->xq->mode == G_HOLD;
}

/* ------------------------------------------------------------- answers -- */

/* A unit rejected for the data of a row (nothing of it was written), as
 * opposed to one the backend could not take at all (connection, retries). */
static bool rejected(const struct sink_reply *r)
{
	const char *st = r->error ? r->error->f[pkt_diag_index('C')] : NULL;

	return st && (strncmp(st, "22", 2) == 0 || strncmp(st, "23", 2) == 0 || strncmp(st, "44", 2) == 0 ||
		      strncmp(st, "P0", 2) == 0 || strcmp(st, "42804") == 0);
}

void extq_reply(struct pending *p, const struct sink_reply *r)
{
	struct client *c = p->client;
	struct group *g = p->g;
	struct extq *x = c->xq;
	struct held *h;
	bool failed = false;

	if (r->status == SINK_PASSTHROUGH || (r->status == SINK_ERROR && rejected(r))) {
		/* Not taken; or rejected for a row's data, with nothing written: the
		 * group runs on the client's connection as it was sent, which is
		 * where it comes in a serial order anyway, and the backend answers
		 * each message exactly (a value's error at its Bind, a constraint's
		 * at its Execute). */
		if (r->status == SINK_PASSTHROUGH)
			intercept_count_pass(c, INS_REASON_COUNT + 1, r->reason ? r->reason : "sink");
		if (!forward_held(c, g))
			client_fatal(c, "53200", "out of memory", NULL);
		client_continue(c);
		return;
	}
	for (h = g->head; h; h = h->next) {
		struct rq_entry *e = h->entry;
		uint64_t rows = 0;

		if (failed && h->type == 'P' && h->ps && x)
			pstmt_unregister(c, h->ps);   /* skipped by the error, as PostgreSQL skips to Sync */
		if (e == NULL || e->cancelled || (failed && h->type != 'S'))
			continue;
		if (h->type == 'E' && r->status == SINK_ERROR && h->stmt == r->stmt) {
			pkt_diag(&e->own, 'E', r->error);
			e->ready = true;
			failed = true;
			rq_own_error(&c->rq, e);
			continue;
		}
		if (h->type == 'E')
			rows = r->counts && h->stmt < r->nstmts ? r->counts[h->stmt] : r->rows;
		answer(h, rows, h->type == 'E' && r->warnings && h->stmt < r->nstmts ? r->warnings[h->stmt] : NULL,
		       g->tx_status);
	}
	for (h = g->head; h; h = h->next)
		h->entry = NULL;
	client_continue(c);
}

void extq_settled(struct pending *p)
{
	group_free(p->g);
	p->g = NULL;
}

void extq_free(struct client *c)
{
	struct extq *x = c->xq;

	pstmt_free_all(c);
	if (x == NULL)
		return;
	group_free(x->g);
	free(x);
	c->xq = NULL;
}

void extq_probe_done(struct client *c)
{
	if (c->xq && c->xq->waiting) {
		c->xq->waiting = false;
		client_continue(c);
	}
}
