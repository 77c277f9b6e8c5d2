/* Extended-protocol interception: prepared INSERT statements, their Bind values, and Sync groups taken as units. */
#include "proxy/extq.h"
#include "proxy/group.h"

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
#include "proxy/clause.h"
#include "proxy/client.h"
#include "proxy/daemon.h"
#include "proxy/pending.h"
#include "proxy/pstmt.h"
#include "proxy/txn.h"
#include "proxy/view.h"
#include "proxy/replyq.h"
#include "sink/sink.h"

#define SEAM_INTERCEPTION
#include "proxy/seam.h"

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
	if (c->is.xq == NULL)
		c->is.xq = calloc(1, sizeof(struct extq));
	return c->is.xq;
}

static struct held *hold(struct client *c, uint8_t type, struct evbuffer *in, size_t total)
{
	struct group *g = c->is.xq->g;
	struct held *h = total <= UINT32_MAX ? held_new(total) : NULL;

	if (h == NULL || (h->entry = client_own_reply(c, type)) == NULL) {
		if (h)
			held_free(h);
		return NULL;
	}
	evbuffer_remove(in, h->msg, total);
	h->type = type;
	h->stmt = -1;
	if (g->tail)
		g->tail->next = h;
	else
		g->head = h;
	g->tail = h;
	g->bytes += held_footprint(total);
	c->is.in_group = type != 'S';
	return h;
}

/* The held messages go to the backend in order, as the client sent them. */
/* The answers to the probes of the group's statements are all in (ST_HELD);
 * or wait for them; or one Parse failed and the group passes through, the
 * backend then saying why in the right place. */
static enum step probes_checked(struct client *c, const struct group *g)
{
	const struct held *h;

	if (pstmt_probes_pending(c)) {
		c->is.xq->waiting = true;
		c->is.waiting_forward = true;
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
	struct group *g = c->is.xq->g;
	struct held *h;
	enum step st;

	if (g->nexec > 0 || g->prefix)
		return ST_PASS;
	for (h = g->head; h; h = h->next)
		if (h->type == 'P' && !h->answered && !h->ps->at_backend && !h->ps->local &&
		    !pstmt_probe_parse(c, h->ps))
			return ST_FAIL;
	st = probes_checked(c, g);
	if (st != ST_HELD)
		return st;
	for (h = g->head; h; h = h->next) {
		if (h->entry == NULL || h->answered)
			continue;
		group_answer_held(h, 0, NULL, g->tx_status);
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
	struct extq *x = c->is.xq;
	struct group *g = x->g;
	enum txn_gate tg;
	struct held *h;
	size_t len;
	const char *sql;
	bool sent = false;

	if (g) {
		/* its held INSERTs go with their clauses: their tables' catalogs first */
		for (h = g->head; h; h = h->next) {
			char *cl = NULL;

			if (h->type != 'P' || !h->ps->insert || h->ps->clause_done || c->is.ss == NULL)
				continue;
			if (sink_clause(c->is.ss, &h->ps->tmpl, true, true, c->database, &cl) == SINK_CLAUSE_WAIT) {
				c->is.clause_wait = true;      /* intercept_tx_wake resumes it */
				return TG_WAIT;
			}
			free(cl);
		}
		for (h = g->head; h; h = h->next) {
			if (h->type != 'P' && h->type != 'B')
				continue;
			sql = pstmt_sql(h->ps, &len);
			tg = txn_gate(c, sql, len);
			if (tg == TG_WAIT)
				return TG_WAIT;
		}
		if (g->nexec)
			intercept_count_pass(c, PASS_AT_GROUP, "the group holds other messages");
		sent = g->head != NULL;
		if (!group_forward_held(c, g))
			client_fatal(c, "53200", "out of memory", NULL);
		group_free(g);
		x->g = NULL;
		client_pump(c);     /* answers of ours made just now (a Describe's) */
	}
	x->mode = G_PASS;
	/* (none of it sent yet: the view may still be asked ahead of it, for
	 * the clauses of the message that made it pass) */
	c->is.in_group |= sent;
	return TG_GO;
}

/* ------------------------------------------------------- the messages -- */

/* A statement of a session without a backend, described from the sink's
 * catalog when that proves it valid (pstmt_describe_local); WAIT resumes
 * once the table's catalog is read. */
static enum sink_clause describe_local(struct client *c, struct pstmt *ps)
{
	int r;

	if (ps->local)
		return SINK_CLAUSE_SOME;
	if (!client_without_backend(c) || ps->at_backend || !ps->insert)
		return SINK_CLAUSE_NONE;
	if (c->is.ss == NULL && !intercept_open_session(c))
		return SINK_CLAUSE_NONE;
	r = pstmt_describe_local(c, ps);
	if (r == SINK_CLAUSE_WAIT)
		c->is.clause_wait = true;  /* intercept_tx_wake resumes it */
	return (enum sink_clause)r;
}

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
	switch (describe_local(c, ps)) {
	case SINK_CLAUSE_SOME:
		break;                  /* no probe */
	case SINK_CLAUSE_WAIT:
		return ST_WAIT;
	default:
		if (intercept_must_wait(c))
			return ST_WAIT;         /* the probe must not overtake what is decided before it */
		break;
	}
	h = hold(c, 'D', in, total);
	if (h == NULL)
		return ST_FAIL;
	h->ps = pstmt_ref(ps);
	if (!ps->local && !pstmt_probe_describe(c, ps))
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

/* The name and SQL text of a Parse message; false when malformed. */
static bool parse_text(const uint8_t *msg, size_t total, const char **name, const char **sql, size_t *len)
{
	struct pktreader r;

	rd_init(&r, msg + PKT_HDR_LEN, total - PKT_HDR_LEN);
	return rd_cstring(&r, name, NULL) && rd_cstring(&r, sql, len);
}

static enum step hold_parse(struct client *c, struct evbuffer *in, size_t total, const uint8_t *msg)
{
	struct group *g = c->is.xq->g;
	struct pstmt *ps;
	enum txn_class cls;
	enum step st = ST_PASS;
	struct held *h;
	const char *name, *sql;
	size_t len;

	/* most statements are none of ours: no copy of them is made */
	if (!parse_text(msg, total, &name, &sql, &len))
		return ST_PASS;                 /* malformed: the backend says so */
	if (!ins_looks_like_insert(sql, len) && (g->head != NULL || txn_classify(sql, len) != TC_BEGIN))
		return ST_PASS;
	ps = pstmt_new(c, msg, (uint32_t)total);
	if (ps == NULL)
		return ST_PASS;
	cls = ps->insert ? TC_OTHER : stmt_class(ps);
	if (ps->name[0] && pstmt_lookup(c, ps->name)) {
		st = ST_PASS;                   /* 42P05 */
	} else if (g->head == NULL && !g->in_tx && cls == TC_BEGIN && c->tx_status == 'I') {
		/* BEGIN in the group of the transaction's first statements (pgjdbc
		 * with autoCommit off): it goes ahead, the rest is staged */
		g->prefix = g->in_tx = true;
		st = ST_FORWARD;
	} else if (!ps->insert) {
		st = ST_PASS;
	} else {
		h = hold(c, 'P', in, total);
		if (h == NULL) {
			st = ST_FAIL;
		} else {
			h->ps = pstmt_ref(ps);
			pstmt_register(c, ps);
			st = ST_HELD;
		}
	}
	pstmt_unref(ps);
	return st;
}

static enum step hold_bind(struct client *c, struct evbuffer *in, size_t total, const uint8_t *msg)
{
	struct group *g = c->is.xq->g;
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
		if (c->is.ss)
			sink_session_busy(c->is.ss);       /* (not an INSERT: not waited for) */
		return ST_PASS;
	}
	/* the session's role, search_path and settings, as its backend has them
	 * (its own settings matter to a write on the sink's connections only:
	 * not in a transaction block, whose rows are written in it) */
	switch (view_ready(c, !g->in_tx)) {
	case VIEW_OK:
		break;
	case VIEW_NONE:
		return ST_PASS;
	case VIEW_WAIT:
		return ST_WAIT;
	}
	if (view_read_only(c) || !pstmt_bind(ps, &r, &bound))
		return ST_PASS;        /* a read-only transaction: 25006 is the backend's to say */
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
	struct group *g = c->is.xq->g;
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
	if (b == NULL || (type == 'E' && !b->has_bound))
		return ST_PASS;
	h = hold(c, type, in, total);
	if (h == NULL)
		return ST_FAIL;
	if (type == 'E') {
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
	struct extq *x = c->is.xq;

	if (c->d->sink == NULL || c->is.odd_settings || c->tx_status == 'E') {
		x->mode = G_PASS;
		return INTERCEPT_FORWARD;
	}
	if (rq_backend_owes(&c->rq)) {
		c->is.waiting_forward = true;
		return INTERCEPT_WAIT;
	}
	if (c->tx_status == 'T') {
		switch (txn_group_gate(c)) {
		case TGG_HOLD:
			break;
		case TGG_WAIT:
			return INTERCEPT_WAIT;      /* resumed once the staged rows are written */
		case TGG_PASS:
			x->mode = G_PASS;
			return INTERCEPT_FORWARD;
		}
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

/* Sync of a held group without an Execute: its Parses and Describes of
 * INSERT statements (a driver preparing one: pgjdbc's batch, asyncpg), in a
 * session without a backend, are answered from the sink's catalog when it
 * proves each statement valid; else the group passes through. */
static enum step described(struct client *c, struct evbuffer *in, size_t total)
{
	struct group *g = c->is.xq->g;
	struct held *h;

	if (!client_without_backend(c) || g->in_tx || g->prefix)
		return ST_PASS;
	for (h = g->head; h; h = h->next) {
		if (h->answered)
			continue;
		if ((h->type != 'P' && h->type != 'D') || h->ps == NULL)
			return ST_PASS;
		switch (describe_local(c, h->ps)) {
		case SINK_CLAUSE_SOME:
			break;
		case SINK_CLAUSE_WAIT:
			return ST_WAIT;
		default:
			return ST_PASS;
		}
	}
	if (hold(c, 'S', in, total) == NULL)
		return ST_FAIL;
	for (h = g->head; h; h = h->next) {
		if (h->answered)
			continue;
		group_answer_held(h, 0, NULL, g->tx_status);
		h->entry = NULL;
		h->answered = true;
	}
	group_free(g);
	c->is.xq->g = NULL;
	c->is.xq->mode = G_NONE;
	c->is.in_group = false;
	client_pump(c);
	return ST_HELD;
}

/* Sync of a held group: its Executes become one unit (autocommit), or are
 * written into the client's transaction (txn_group). */
static enum step submit(struct client *c, struct evbuffer *in, size_t total)
{
	struct extq *x = c->is.xq;
	struct group *g = x->g;
	struct pending *p;
	enum step st;

	if (g->nexec == 0)
		return described(c, in, total);
	st = probes_checked(c, g);
	if (st != ST_HELD)
		return st;
	if (c->is.ss == NULL && !intercept_open_session(c))
		return ST_PASS;
	if (g->in_tx) {
		/* a session's statements keep their order: its earlier units first */
		if (intercept_unsettled(c))
			return ST_WAIT;
		if (hold(c, 'S', in, total) == NULL)
			return ST_FAIL;
		x->g = NULL;
		x->mode = G_NONE;
		c->is.in_group = false;
		if (!txn_group(c, g))
			group_forward(c, g);    /* not taken after all: as the client sent it */
		return ST_HELD;
	}
	p = pending_new(c);
	if (p == NULL)
		return ST_PASS;
	p->unit = sink_unit_open(c->is.ss, p);
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
	c->is.in_group = false;
	if (group_add(g, p->unit, NULL, NULL) < 0) {
		sink_unit_drop(p->unit);
		p->g = NULL;
		pending_abandon(c, p);
		group_forward(c, g);
		return ST_HELD;
	}
	c->d->istats.messages++;
	sink_unit_set_timeout(p->unit, view_statement_timeout(c));
	sink_unit_close(p->unit);
	return ST_HELD;
}

/* The transaction gate for a message about to pass through: staged rows of
 * the transaction go ahead of it (a ROLLBACK drops them). */
static enum txn_gate gate(struct client *c, uint8_t type, const uint8_t *msg, size_t total)
{
	struct pktreader r;
	const char *name, *sql = NULL;
	size_t len = 0;
	struct pstmt *ps;

	rd_init(&r, msg + PKT_HDR_LEN, total - PKT_HDR_LEN);
	if (type == 'P') {
		if (!rd_cstring(&r, &name, NULL) || !rd_cstring(&r, &sql, &len))
			sql = NULL;
	} else if (type == 'B') {
		if (rd_cstring(&r, &name, NULL) && rd_cstring(&r, &name, NULL) &&
		    (ps = pstmt_lookup(c, name)) != NULL)
			sql = pstmt_sql(ps, &len);
	} else if (type != 'E') {
		/* a Sync, Describe, Close or Flush reads no data, but must not
		 * overtake what the transaction is still deciding or writing */
		return txn_busy(c) ? TG_WAIT : TG_GO;
	}
	return txn_gate(c, sql, len);
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
		/* every statement is kept, the unnamed one too: a Query of
		 * pgbatchd's own drops it at the backend, and it is parsed again
		 * there before a message of the client names it */
		ps = pstmt_new(c, msg, (uint32_t)total);
		if (ps == NULL)
			return true;
		if (ps->name[0] && pstmt_lookup(c, ps->name)) {
			/* 42P05: the old one stays. The backend says so only if it
			 * has it: one pgbatchd answered itself goes there first, its
			 * answer swallowed -- with a Sync of its own when nothing of
			 * the group went before, so that if it fails now (its table
			 * changed) the client's Parse is still answered */
			struct pstmt *old = pstmt_lookup(c, ps->name);
			bool ok = old->at_backend || (c->is.in_group ? pstmt_inject_parse(c, old, NULL, false) :
							     pstmt_probe_parse(c, old));

			pstmt_unref(ps);
			return ok;
		}
		pstmt_register(c, ps);
		ps->at_backend = true;
		c->is.capture_owner = pstmt_ref(ps);  /* its entry learns whether it worked */
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
		/* (a Close needs no Parse first: closing a statement the backend
		 * does not have is no error) */
		if (type == 'D' && !pstmt_ensure_at_backend(c, name))
			return false;
		ps = pstmt_lookup(c, name);
		if (ps && type == 'C')
			pstmt_unregister(c, ps);
		else if (ps && ps->insert)
			c->is.capture_owner = pstmt_ref(ps);   /* learns its parameter types */
		return true;
	default:
		return true;
	}
}

/* The Parse passed through is sent with its clauses: the registered
 * statement keeps the client's text for what pgbatchd takes, and the Parse it
 * sends again when needed is the one sent now. */
static bool swap_parse(struct client *c, struct evbuffer *in, const uint8_t *msg, size_t total,
		       const uint8_t *parse, size_t len)
{
	struct pktreader r;
	const char *name;
	struct pstmt *ps;
	uint8_t *copy;

	rd_init(&r, parse + PKT_HDR_LEN, len - PKT_HDR_LEN);
	/* (a name in use keeps its statement: the backend answers 42P05) */
	if (rd_cstring(&r, &name, NULL) && (ps = pstmt_lookup(c, name)) != NULL && ps->at_backend &&
	    ps->parse_len == total && memcmp(ps->parse, msg, total) == 0) {
		if ((copy = malloc(len)) == NULL)
			return false;
		memcpy(copy, parse, len);
		free(ps->parse);
		ps->parse = copy;
		ps->parse_len = (uint32_t)len;
		ps->clause_done = true;
	}
	if (evbuffer_drain(in, total) != 0 || evbuffer_prepend(in, parse, len) != 0)
		return false;
	return true;
}

enum intercept_result extq_message(struct client *c, uint8_t type, struct evbuffer *in, size_t total)
{
	struct extq *x = xq(c);
	enum intercept_result res;
	enum step st = ST_PASS;
	enum clause_result cr = CLAUSE_AS_SENT;
	const uint8_t *msg;
	uint8_t *parse = NULL;
	size_t parse_len = 0;

	if (x == NULL)
		return INTERCEPT_FORWARD;
	if (x->mode == G_SKIP) {
		/* an error of ours ended the group: up to its Sync, nothing runs */
		if (type != 'S') {
			evbuffer_drain(in, total);
			return INTERCEPT_TAKEN;
		}
		x->mode = G_NONE;
		c->is.in_group = false;
		return INTERCEPT_FORWARD;
	}
	if (x->mode == G_NONE && type != 'S' && type != 'H') {
		res = group_start(c);
		if (res == INTERCEPT_WAIT)
			return res;
	}
	msg = evbuffer_pullup(in, (ssize_t)total);
	if (x->mode == G_HOLD) {
		if (x->g->bytes + held_footprint(total) > (size_t)c->d->cfg->max_buffer_bytes / 4)
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
			c->is.waiting_forward = true;
			return INTERCEPT_WAIT;
		}
		if (intercept_must_wait(c))
			return INTERCEPT_WAIT;
		if (x->g && x->g->nexec)
			log_debug(c->prefix, "extended-protocol group passes through at a '%c' message", type);
		if (go_pass(c) != TG_GO)
			return INTERCEPT_WAIT;
		msg = evbuffer_pullup(in, (ssize_t)total);
	} else if (intercept_must_wait(c)) {
		return INTERCEPT_WAIT;
	}
	/* passing through (a transaction's staged rows first), with its tables'
	 * conflict clauses (clause.c) */
	if (gate(c, type, msg, total) != TG_GO)
		return INTERCEPT_WAIT;
	msg = evbuffer_pullup(in, (ssize_t)total);
	if (type == 'P' && (cr = clause_parse(c, msg, total, &parse, &parse_len)) == CLAUSE_WAIT)
		return INTERCEPT_WAIT;
	if (!pass_message(c, type, msg, total) ||
	    (cr == CLAUSE_NEW && !swap_parse(c, in, msg, total, parse, parse_len))) {
		free(parse);
		client_fatal(c, "53200", "out of memory", NULL);
		return INTERCEPT_WAIT;
	}
	free(parse);
	if (type == 'S')
		x->mode = G_NONE;
	return INTERCEPT_FORWARD;
}

bool extq_before_forward(struct client *c, uint8_t type)
{
	struct extq *x = c->is.xq;

	/* a message too large to read first, or a FunctionCall: the staged
	 * rows go ahead of it */
	if ((type == 'P' || type == 'B' || type == 'E' || type == 'F') && txn_gate(c, NULL, 0) != TG_GO)
		return false;
	if (x == NULL)
		return true;
	if (x->mode == G_HOLD) {
		if (pstmt_probes_pending(c)) {
			x->waiting = true;
			c->is.waiting_forward = true;
			return false;
		}
		if (intercept_must_wait(c))
			return false;
		if (go_pass(c) != TG_GO)
			return false;
	}
	if (type == 'S' || type == 'Q')
		x->mode = G_NONE;
	else if (type == 'P' || type == 'B' || type == 'E' || type == 'D' || type == 'C')
		x->mode = G_PASS;
	return true;
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
	struct extq *x = c->is.xq;
	struct held *h;
	bool failed = false;

	if (r->status == SINK_PASSTHROUGH || (r->status == SINK_ERROR && rejected(r))) {
		/* Not taken; or rejected for a row's data, with nothing written: the
		 * group runs on the client's connection as it was sent, which is
		 * where it comes in a serial order anyway, and the backend answers
		 * each message exactly (a value's error at its Bind, a constraint's
		 * at its Execute). */
		if (r->status == SINK_PASSTHROUGH)
			intercept_count_pass(c, PASS_AT_SINK, r->reason ? r->reason : "sink");
		if (!group_forward_held(c, g))
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
			pkt_diag(rq_answer(e), 'E', r->error);
			rq_ready(e);
			failed = true;
			rq_own_error(&c->rq, e);
			continue;
		}
		if (h->type == 'E')
			rows = r->counts && h->stmt < r->nstmts ? r->counts[h->stmt] : r->rows;
		group_answer_held(h, rows, h->type == 'E' && r->warnings && h->stmt < r->nstmts ? r->warnings[h->stmt] : NULL,
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
	struct extq *x = c->is.xq;

	pstmt_free_all(c);
	if (x == NULL)
		return;
	group_free(x->g);
	free(x);
	c->is.xq = NULL;
}

void extq_probe_done(struct client *c)
{
	if (c->is.xq && c->is.xq->waiting) {
		c->is.xq->waiting = false;
		client_continue(c);
	}
}
