/* Transaction blocks: INSERTs staged per session between BEGIN and COMMIT, entering the sink as one unit at COMMIT. */
#include "proxy/txn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/log.h"
#include "conf/config.h"
#include "protocol/insert.h"
#include "protocol/pktbuf.h"
#include "protocol/sqllex.h"
#include "proxy/backend.h"
#include "proxy/client.h"
#include "proxy/daemon.h"
#include "proxy/extq.h"
#include "proxy/group.h"
#include "proxy/pending.h"
#include "proxy/replyq.h"
#include "proxy/view.h"
#include "sink/sink.h"

/* What a staged thing is: one simple-Query INSERT, or one Sync group. */
struct staged {
	struct staged *next;
	struct txn *t;
	int first, n;               /* its statements in the unit: [first, first + n) */
	int ndecided;
	bool passed;                /* one of them was not taken */
	/* a Query */
	struct rq_entry *entry;
	uint8_t *orig;
	uint32_t orig_len;
	uint64_t rows;
	/* a group */
	struct group *g;
};

struct txn {
	struct client *c;
	enum txn_state state;
	struct pending *p;          /* the unit's, not in c->pending (nothing waits for it) */
	struct staged *head, *tail; /* not yet answered, in order */
	int nstmts;                 /* statements added to the unit */
	int64_t bytes;              /* roughly, what the staged rows take */
	char drop_due;              /* the transaction ended ('I') or failed ('E') while INSERTs
				       were still undecided: dropped once they are answered */
	struct pktbuf error;        /* TXS_FAILED: the rows' error */
	/* TXS_COMMITTING: the COMMIT held */
	struct rq_entry *commit_entry;
	uint8_t *commit_msg;
	uint32_t commit_len;
	struct group *commit_group;
};

static const char *const state_names[TXS_STATES] = {
	"none", "staging", "flushing", "failed", "committing", "pass",
};

/* Legal moves only; anything else is a bug. */
static void set_state(struct txn *t, enum txn_state to)
{
	static const unsigned allowed[TXS_STATES] = {
		[TXS_NONE] = 1u << TXS_STAGING | 1u << TXS_PASS,
		[TXS_STAGING] = 1u << TXS_NONE | 1u << TXS_FLUSHING | 1u << TXS_COMMITTING | 1u << TXS_PASS,
		[TXS_FLUSHING] = 1u << TXS_PASS | 1u << TXS_FAILED | 1u << TXS_NONE,
		[TXS_FAILED] = 1u << TXS_PASS | 1u << TXS_NONE,
		[TXS_COMMITTING] = 1u << TXS_NONE | 1u << TXS_PASS,
		[TXS_PASS] = 1u << TXS_NONE,
	};

	if (t->state == to)
		return;
	if (!(allowed[t->state] & (1u << to))) {
		log_error(t->c->prefix, "illegal transaction state change %s -> %s", state_names[t->state],
			  state_names[to]);
		abort();
	}
	t->state = to;
}

static struct txn *txn_of(struct client *c)
{
	if (c->txn == NULL) {
		c->txn = calloc(1, sizeof(struct txn));
		if (c->txn) {
			c->txn->c = c;
			pkt_init(&c->txn->error);
		}
	}
	return c->txn;
}

static void staged_free(struct staged *s)
{
	free(s->orig);
	free(s);
}

/* The unit goes (rolled back, or the transaction ended); nothing staged is owed an answer any more. */
static void drop_unit(struct txn *t)
{
	struct staged *s;

	if (t->p) {
		sink_unit_drop(t->p->unit);
		free(t->p);     /* a dropped unit calls nobody back */
		t->p = NULL;
	}
	while ((s = t->head) != NULL) {
		t->head = s->next;
		if (s->g)
			group_free(s->g);
		staged_free(s);
	}
	t->tail = NULL;
	t->nstmts = 0;
	t->bytes = 0;
}

/* ------------------------------------------------------------ classes -- */

/* What a statement does to the transaction: its leading words, and nothing after it. */
enum txn_class txn_classify(const char *sql, size_t len)
{
	struct sql_lexer lx;
	struct sql_token t;
	enum sql_tok k;
	enum txn_class cls = TC_OTHER;
	int n = 0;

	if (sql == NULL)
		return TC_OTHER;
	sql_lex_init(&lx, sql, len);
	k = sql_lex_next(&lx, &t);
	if (k != SQL_WORD)
		return TC_OTHER;
	if (sql_word_is(&lx, &t, "set")) {
		k = sql_lex_next(&lx, &t);
		if (sql_word_is(&lx, &t, "local") || sql_word_is(&lx, &t, "session"))
			k = sql_lex_next(&lx, &t);
		if (k != SQL_WORD || sql_word_is(&lx, &t, "role") || sql_word_is(&lx, &t, "authorization") ||
		    sql_word_is(&lx, &t, "constraints") || sql_word_is(&lx, &t, "transaction") ||
		    sql_word_is(&lx, &t, "characteristics"))
			return TC_OTHER;
		return TC_KEEP;         /* one statement at most: checked by the server, and harmless */
	}
	if (sql_word_is(&lx, &t, "show") || sql_word_is(&lx, &t, "reset"))
		cls = TC_KEEP;
	else if (sql_word_is(&lx, &t, "begin") || sql_word_is(&lx, &t, "start"))
		cls = TC_BEGIN;
	else if (sql_word_is(&lx, &t, "commit") || sql_word_is(&lx, &t, "end"))
		cls = TC_COMMIT;
	else if (sql_word_is(&lx, &t, "rollback") || sql_word_is(&lx, &t, "abort"))
		cls = TC_ROLLBACK;
	else
		return TC_OTHER;
	/* [WORK | TRANSACTION] [;]: anything else (AND CHAIN, TO SAVEPOINT,
	 * PREPARED, a second statement) is another statement */
	for (;;) {
		k = sql_lex_next(&lx, &t);
		if (k == SQL_EOF)
			return cls;
		if (k == SQL_PUNCT && t.ch == ';') {
			while ((k = sql_lex_next(&lx, &t)) == SQL_PUNCT && t.ch == ';')
				;
			return k == SQL_EOF ? cls : TC_OTHER;
		}
		if (cls == TC_KEEP)
			continue;
		if (cls == TC_BEGIN && n == 0 && sql_word_is(&lx, &t, "transaction")) {
			n++;
			continue;
		}
		if (n++ == 0 && (sql_word_is(&lx, &t, "work") || sql_word_is(&lx, &t, "transaction")))
			continue;
		return cls == TC_BEGIN ? TC_BEGIN : TC_OTHER;  /* BEGIN ISOLATION LEVEL ... is a BEGIN */
	}
}

bool txn_can_stage(const struct client *c, bool in_tx)
{
	const struct txn *t = c->txn;

	if (!in_tx && c->tx_status != 'T')
		return false;
	if (t && t->state != TXS_NONE && t->state != TXS_STAGING)
		return false;
	return !(t && t->bytes > c->d->cfg->max_buffer_bytes / 4);
}

/* ------------------------------------------------------------ staging -- */

static bool open_unit(struct client *c, struct txn *t)
{
	if (t->p)
		return true;
	if (c->ss == NULL && !intercept_open_session(c))
		return false;
	t->p = calloc(1, sizeof(*t->p));
	if (t->p == NULL)
		return false;
	t->p->client = c;
	t->p->tx = true;
	t->p->unit = sink_unit_open(c->ss, t->p);
	if (t->p->unit == NULL) {
		free(t->p);
		t->p = NULL;
		return false;
	}
	set_state(t, TXS_STAGING);
	return true;
}

static void link_staged(struct txn *t, struct staged *s)
{
	s->t = t;
	if (t->tail)
		t->tail->next = s;
	else
		t->head = s;
	t->tail = s;
}

enum intercept_result txn_stage_query(struct client *c, struct ins_stmt *st, struct evbuffer *in,
				      size_t total)
{
	struct txn *t = txn_of(c);
	struct staged *s;

	if (t == NULL || !open_unit(c, t)) {
		ins_stmt_free(st);
		return INTERCEPT_FORWARD;
	}
	s = calloc(1, sizeof(*s));
	if (s)
		s->orig = malloc(total);
	if (s == NULL || s->orig == NULL || (s->entry = client_own_reply(c, 'Q')) == NULL) {
		if (s)
			free(s->orig);
		free(s);
		ins_stmt_free(st);
		return INTERCEPT_FORWARD;
	}
	evbuffer_remove(in, s->orig, total);
	s->orig_len = (uint32_t)total;
	s->rows = (uint64_t)st->nrows;
	s->first = t->nstmts;
	s->n = 1;
	for (size_t i = 0; i < (size_t)st->nrows * (size_t)st->nvals; i++)
		t->bytes += (int64_t)st->values[i].len + 16;
	link_staged(t, s);
	c->d->istats.messages++;
	c->d->istats.rows += (uint64_t)st->nrows;
	t->nstmts++;
	if (!sink_unit_add(t->p->unit, st, s)) {
		/* out of memory: this statement is decided "not taken" at once */
		t->nstmts--;
		s->n = 0;
		s->passed = true;
		txn_decided(s, "memory");
	}
	return INTERCEPT_TAKEN;
}

bool txn_stage_group(struct client *c, struct group *g)
{
	struct txn *t = txn_of(c);
	struct staged *s;
	int n;

	if (t == NULL || !open_unit(c, t))
		return false;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return false;
	s->first = t->nstmts;
	s->g = g;
	link_staged(t, s);
	c->d->istats.messages++;
	n = group_add(g, t->p->unit, s, &t->bytes);
	t->nstmts += n > 0 ? n : 0;
	s->n = n > 0 ? n : 0;
	if (n <= 0) {
		/* nothing of it was added (out of memory): it passes through */
		s->passed = true;
		txn_decided(s, "memory");
	}
	return true;
}

/* ------------------------------------------------------------ flushing -- */

/* The staged thing goes to the backend as the client sent it. */
static void forward_staged(struct client *c, struct staged *s)
{
	view_stale(c);
	if (s->g) {
		group_forward(c, s->g);
		s->g = NULL;
	} else if (s->entry) {
		s->entry->kind = RQ_FORWARD;
		if (c->be)
			evbuffer_add(backend_output(c->be), s->orig, s->orig_len);
		s->entry = NULL;
	}
}

/* The staged thing's answer is the rows' error (its transaction is aborted). */
static void fail_staged(struct client *c, struct txn *t, struct staged *s)
{
	if (s->g) {
		group_fail(c, s->g, &t->error);
		s->g = NULL;
	} else if (s->entry) {
		pkt_put_bytes(&s->entry->own, t->error.data, t->error.len);
		pkt_ready(&s->entry->own, 'E');
		s->entry->ready = true;
		s->entry = NULL;
	}
}

/* After the flush: what was staged and not answered passes through, in
 * order (the first gets the rows' error when they failed). */
static void release_staged(struct client *c, struct txn *t, bool failed)
{
	struct staged *s;

	while ((s = t->head) != NULL) {
		t->head = s->next;
		if (failed) {
			fail_staged(c, t, s);
			failed = false;
		} else {
			forward_staged(c, s);
		}
		staged_free(s);
	}
	t->tail = NULL;
}

/*
 * The staged rows of the things already answered go into the client's own
 * transaction now (a Query of ours, its answer swallowed): a statement that
 * passes through must see them. The unit is dropped; the rows are the
 * client's now. What is staged and not answered (t->head on) passes through
 * once they are in.
 */
static bool flush(struct client *c, struct txn *t)
{
	int upto = t->head ? t->head->first : t->nstmts;
	struct rq_entry *e;
	struct pktbuf q;
	char *sql = NULL;
	size_t len = 0;

	if (t->p && upto > 0) {
		sql = sink_unit_sql(t->p->unit, upto, &len);
		if (sql == NULL)
			return false;
	}
	if (t->p) {
		sink_unit_drop(t->p->unit);
		free(t->p);     /* a dropped unit calls nobody back */
		t->p = NULL;
	}
	t->nstmts = 0;
	t->bytes = 0;
	set_state(t, TXS_FLUSHING);
	if (sql == NULL || len == 0) {
		free(sql);
		set_state(t, TXS_PASS);
		release_staged(c, t, false);
		return true;
	}
	pkt_init(&q);
	pkt_begin(&q, 'Q');
	pkt_put_bytes(&q, sql, len);
	pkt_put_u8(&q, 0);
	pkt_end(&q);
	free(sql);
	e = pkt_ok(&q) ? rq_push(&c->rq, RQ_SKIP, 'Q') : NULL;
	if (e == NULL) {
		pkt_free(&q);
		return false;
	}
	e->capture = true;
	e->owner = t;
	if (c->be)
		evbuffer_add(backend_output(c->be), q.data, q.len);
	pkt_free(&q);
	log_debug(c->prefix, "staged rows go into the client's transaction (%d statements)", upto);
	return true;
}

void txn_entry_done(struct client *c, struct rq_entry *e)
{
	struct txn *t = c->txn;

	if (t == NULL || e->owner != t || t->state != TXS_FLUSHING)
		return;
	e->owner = NULL;
	if (e->error) {
		if (t->error.len == 0)
			pkt_error(&t->error, "ERROR", "XX000", "the staged rows could not be written", NULL,
				  NULL);
		set_state(t, TXS_FAILED);
		if (t->head) {
			release_staged(c, t, true);
			pkt_reset(&t->error);
			set_state(t, TXS_PASS);
		}
	} else {
		set_state(t, TXS_PASS);
		release_staged(c, t, false);
	}
	client_continue(c);
}

void txn_captured(struct client *c, struct rq_entry *e, uint8_t type, const uint8_t *body, uint32_t len)
{
	struct txn *t = c->txn;

	if (t == NULL || e->owner != t || type != 'E')
		return;
	pkt_reset(&t->error);
	pkt_begin(&t->error, 'E');
	pkt_put_bytes(&t->error, body, len);
	pkt_end(&t->error);
}

/* ------------------------------------------------------------ decisions -- */

/* Every statement of the head thing is decided: answered, or (one was not
 * taken) the transaction leaves staging. */
static void resolve(struct client *c, struct txn *t)
{
	struct staged *s;

	while ((s = t->head) != NULL && s->ndecided >= s->n) {
		if (s->passed) {
			intercept_count_pass(c, INS_REASON_COUNT, "a statement of the transaction is not taken");
			if (!flush(c, t))
				client_fatal(c, "53200", "out of memory", NULL);
			return;
		}
		t->head = s->next;
		if (t->head == NULL)
			t->tail = NULL;
		if (s->g) {
			group_answer(c, s->g);
		} else {
			char tag[48];

			snprintf(tag, sizeof(tag), "INSERT 0 %llu", (unsigned long long)s->rows);
			pkt_command_complete(&s->entry->own, tag);
			pkt_ready(&s->entry->own, 'T');
			if (!pkt_ok(&s->entry->own)) {
				pkt_reset(&s->entry->own);
				pkt_error(&s->entry->own, "ERROR", "53200", "out of memory", NULL, NULL);
				pkt_ready(&s->entry->own, 'E');
			}
			s->entry->ready = true;
		}
		staged_free(s);
	}
	if (t->head == NULL && t->drop_due) {
		char st = t->drop_due;

		t->drop_due = 0;
		txn_ready(c, st);
	}
	client_continue(c);
}

void txn_decided(void *stmt_arg, const char *reason)
{
	struct staged *s = stmt_arg;
	struct txn *t = s->t;

	if (reason)
		s->passed = true;
	s->ndecided++;
	if (t->state == TXS_STAGING || t->state == TXS_COMMITTING)
		resolve(t->c, t);
}

/* ----------------------------------------------------------- the gate -- */

const struct pktbuf *txn_error(struct client *c)
{
	return &c->txn->error;
}

void txn_error_told(struct client *c)
{
	struct txn *t = c->txn;

	pkt_reset(&t->error);
	set_state(t, TXS_PASS);
}

enum txn_gate txn_gate(struct client *c, const char *sql, size_t len)
{
	struct txn *t = c->txn;

	if (t == NULL)
		return TG_GO;
	switch (t->state) {
	case TXS_NONE:
	case TXS_PASS:
		return TG_GO;
	case TXS_FLUSHING:
	case TXS_COMMITTING:
		return TG_WAIT;
	case TXS_FAILED:
		return TG_FAILED;
	case TXS_STAGING:
		break;
	case TXS_STATES:
		return TG_GO;
	}
	switch (txn_classify(sql, len)) {
	case TC_KEEP:
	case TC_BEGIN:
		return TG_GO;
	case TC_ROLLBACK:
		if (t->head)
			return TG_WAIT;     /* the staged INSERTs are answered first */
		drop_unit(t);
		set_state(t, TXS_NONE);
		return TG_GO;
	case TC_COMMIT:
	case TC_OTHER:
		break;
	}
	/* the staged rows go first, once every one of them is decided */
	if (t->head)
		return TG_WAIT;
	if (!flush(c, t)) {
		client_fatal(c, "53200", "out of memory", NULL);
		return TG_WAIT;
	}
	return t->state == TXS_PASS ? TG_GO : TG_WAIT;
}

/* ------------------------------------------------------------- commit -- */

bool txn_commit_pending(const struct client *c)
{
	return c->txn && c->txn->state == TXS_STAGING && c->txn->p;
}

static bool commit_ready(const struct txn *t)
{
	return t->head == NULL && t->p && sink_unit_decided(t->p->unit);
}

bool txn_commit_ready(const struct client *c)
{
	return c->txn && commit_ready(c->txn);
}

/* The unit is closed and becomes one of the session's pending units, which
 * what passes through after it waits for (and, with readyourwrites, for
 * its commit). */
static void commit(struct client *c, struct txn *t)
{
	struct pending *p = t->p;

	t->p = NULL;
	p->next = c->pending;
	c->pending = p;
	c->unsettled++;
	set_state(t, TXS_COMMITTING);
	sink_unit_close(p->unit);
}

enum intercept_result txn_commit_query(struct client *c, struct evbuffer *in, size_t total)
{
	struct txn *t = c->txn;

	if (!commit_ready(t))
		return INTERCEPT_WAIT;     /* txn_decided resumes the session */
	t->commit_msg = malloc(total);
	if (t->commit_msg == NULL || (t->commit_entry = client_own_reply(c, 'Q')) == NULL) {
		free(t->commit_msg);
		t->commit_msg = NULL;
		return INTERCEPT_WAIT;
	}
	evbuffer_remove(in, t->commit_msg, total);
	t->commit_len = (uint32_t)total;
	commit(c, t);
	return INTERCEPT_TAKEN;
}

bool txn_commit_group(struct client *c, struct group *g)
{
	struct txn *t = c->txn;

	if (!commit_ready(t))
		return false;
	t->commit_group = g;
	commit(c, t);
	return true;
}

/* The client's transaction ends with a ROLLBACK of ours, its answer swallowed. */
static void rollback(struct client *c)
{
	static const uint8_t q[] = { 'Q', 0, 0, 0, 13, 'R', 'O', 'L', 'L', 'B', 'A', 'C', 'K', 0 };

	if (rq_push(&c->rq, RQ_SKIP, 'Q') == NULL) {
		client_fatal(c, "53200", "out of memory", NULL);
		return;
	}
	if (c->be)
		evbuffer_add(backend_output(c->be), q, sizeof(q));
}

void txn_reply(struct pending *p, const struct sink_reply *r)
{
	struct client *c = p->client;
	struct txn *t = c->txn;

	p->replied = true;
	if (t == NULL || t->state != TXS_COMMITTING)
		return;
	if (r->status == SINK_ERROR) {
		/* as a deferred constraint: COMMIT fails, the transaction is rolled back */
		struct pktbuf err;

		pkt_init(&err);
		pkt_diag(&err, 'E', r->error);
		rollback(c);
		if (t->commit_group) {
			group_fail_commit(c, t->commit_group, &err);
		} else {
			pkt_put_bytes(&t->commit_entry->own, err.data, err.len);
			pkt_ready(&t->commit_entry->own, 'I');
			t->commit_entry->ready = true;
		}
		pkt_free(&err);
	} else {
		/* written (or buffered, ackmode=immediate): the client's COMMIT goes */
		if (r->status == SINK_PASSTHROUGH)
			log_error(c->prefix, "a transaction's unit passed through at COMMIT: its rows are lost");
		if (t->commit_group) {
			group_forward(c, t->commit_group);
		} else {
			t->commit_entry->kind = RQ_FORWARD;
			if (c->be)
				evbuffer_add(backend_output(c->be), t->commit_msg, t->commit_len);
		}
	}
	t->commit_group = NULL;
	t->commit_entry = NULL;
	free(t->commit_msg);
	t->commit_msg = NULL;
	/* the unit settles on its own; its pending goes with the session's */
	t->nstmts = 0;
	t->bytes = 0;
	set_state(t, TXS_NONE);
	client_continue(c);
}


/* ------------------------------------------------------------ the end -- */

void txn_ready(struct client *c, char status)
{
	struct txn *t = c->txn;

	if (t == NULL)
		return;
	if (t->head && (status == 'I' || status == 'E') && t->state == TXS_STAGING) {
		/* answered first (as taken: directly they ran before it), dropped then */
		t->drop_due = status;
		return;
	}
	if (status == 'I' && t->state != TXS_COMMITTING && t->state != TXS_FLUSHING) {
		if (t->p)
			log_warning(c->prefix, "the transaction ended without COMMIT: its staged rows are dropped");
		drop_unit(t);
		pkt_reset(&t->error);
		t->state = TXS_NONE;
	} else if (status == 'E' && t->state == TXS_STAGING) {
		/* an error aborted the transaction: its staged rows go with it */
		drop_unit(t);
		set_state(t, TXS_PASS);
	}
}

void txn_free(struct client *c)
{
	struct txn *t = c->txn;

	if (t == NULL)
		return;
	drop_unit(t);
	pkt_free(&t->error);
	free(t->commit_msg);
	if (t->commit_group)
		group_free(t->commit_group);
	free(t);
	c->txn = NULL;
}
