/* Transaction blocks: a transaction's INSERTs written inside the client's own transaction, on its own connection, as batch statements. */
#include "proxy/txn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/log.h"
#include "conf/config.h"
#include "protocol/insert.h"
#include "protocol/pktbuf.h"
#include "protocol/reader.h"
#include "protocol/sqllex.h"
#include "proxy/clause.h"
#include "proxy/client.h"
#include "proxy/daemon.h"
#include "proxy/group.h"
#include "proxy/pending.h"
#include "proxy/pstmt.h"
#include "proxy/replyq.h"
#include "proxy/view.h"
#include "sink/sink.h"

#define SEAM_INTERCEPTION
#include "proxy/seam.h"

/* The savepoint a group's batch runs in (released before the client's next message). */
#define GROUP_SAVEPOINT "pgbatchd_tx"
/* Staged rows are written once they take this many bytes (or batchsize rows). */
#define STAGE_MAX_BYTES (8 * 1024 * 1024)
/* Rows acknowledged to other clients go first, but no longer than this: by
 * then they wait for a lock, maybe this very transaction's (logged). */
#define ACKED_WAIT_MS 2000

/* A statement of a transaction's unit is one of these (the sink's stmt_arg). */
enum stmt_kind { SK_QUERY = 1, SK_GROUP };

/* One simple-Query INSERT taken into the transaction's unit. */
struct staged {
	uint8_t kind;               /* SK_QUERY */
	struct staged *next;
	struct txn *t;
	int stmt;                   /* its statement in the unit */
	bool decided, passed;
	struct rq_entry *entry;     /* its answer */
	uint8_t *orig;              /* the Query, in case it runs as sent */
	uint32_t orig_len;
	uint64_t rows;
};

/* An extended-protocol Sync group of the transaction. */
struct txgroup {
	uint8_t kind;               /* SK_GROUP */
	struct txn *t;
	struct group *g;
	struct sink_unit *unit;
	int n, ndecided;
	bool passed;
};

/* What the Query of ours in flight is. */
enum work { W_NONE = 0, W_FLUSH, W_BATCH };

struct txn {
	struct client *c;
	enum txn_state state;
	struct sink_unit *unit;     /* TXS_STAGING: the staged INSERTs' rows */
	struct staged *head, *tail; /* taken and not yet answered, in order */
	int nstmts;                 /* statements in the unit */
	uint64_t rows;              /* rows in it */
	int64_t bytes;              /* roughly, what they take */
	int batchsize, timeout_ms;  /* the least of its tables' */
	bool due;                   /* a bound is reached: written once all are answered */
	struct event *timer;        /* batchwritetimeoutms of its first statement */
	struct txgroup *grp;        /* TXS_GROUP */
	enum work work;
	struct rq_entry *wentry;    /* the Query of ours in flight */
	uint64_t expect, got;       /* its rows, and what its tags said */
	bool count_exact;           /* W_BATCH: its statements write each of their rows or fail */
	struct pktbuf notes;        /* W_BATCH: its NoticeResponses, sent with the group's answers */
	bool waiting;               /* rows acknowledged to others go first (sink_tx_wait) */
	bool passing;               /* the head passes, behind the view asked again (pass_from) */
	bool wait_over;             /* ... but ACKED_WAIT_MS passed: these rows go now */
	struct event *wait_timer;
	struct pktbuf error;        /* TXS_FAILED (and while writing): the rows' error */
};

static const char *const state_names[TXS_STATES] = {
	"none", "staging", "flushing", "failed", "group",
};

/* Legal moves only; anything else is a bug. */
static void set_state(struct txn *t, enum txn_state to)
{
	static const unsigned allowed[TXS_STATES] = {
		[TXS_NONE] = 1u << TXS_STAGING | 1u << TXS_GROUP,
		[TXS_STAGING] = 1u << TXS_NONE | 1u << TXS_FLUSHING,
		[TXS_FLUSHING] = 1u << TXS_NONE | 1u << TXS_FAILED,
		[TXS_FAILED] = 1u << TXS_NONE,
		[TXS_GROUP] = 1u << TXS_NONE,
	};

	if (t->state == to)
		return;
	if (!(allowed[t->state] & (1u << to))) {
		log_error(t->c->prefix, "illegal transaction state change %s -> %s", state_names[t->state],
			  state_names[to]);
		abort();
	}
	t->state = to;
	/* what passes through behind rows of ours may get their error */
	rq_set_late_mode(&t->c->rq, to == TXS_FLUSHING || to == TXS_FAILED);
}

static void on_timer(evutil_socket_t fd, short what, void *arg);

static struct txn *txn_of(struct client *c)
{
	if (c->is.txn == NULL) {
		c->is.txn = calloc(1, sizeof(struct txn));
		if (c->is.txn) {
			c->is.txn->c = c;
			pkt_init(&c->is.txn->error);
			pkt_init(&c->is.txn->notes);
		}
	}
	return c->is.txn;
}

static void staged_free(struct staged *s)
{
	free(s->orig);
	free(s);
}

/* The unit goes: its rows were written, or the transaction dropped them. */
static void drop_unit(struct txn *t)
{
	if (t->unit) {
		sink_unit_drop(t->unit);    /* calls nobody back any more */
		t->unit = NULL;
	}
	t->nstmts = 0;
	t->rows = 0;
	t->bytes = 0;
	t->batchsize = t->timeout_ms = 0;
	t->due = false;
	t->waiting = t->wait_over = false;
	if (t->timer)
		evtimer_del(t->timer);
	if (t->wait_timer)
		evtimer_del(t->wait_timer);
}

/* The staged INSERTs not yet answered leave (their entries go with the session or are reused). */
static void drop_staged(struct txn *t)
{
	struct staged *s;

	while ((s = t->head) != NULL) {
		t->head = s->next;
		staged_free(s);
	}
	t->tail = NULL;
	t->passing = false;
}

static void group_done(struct txn *t)
{
	struct txgroup *tg = t->grp;

	if (tg == NULL)
		return;
	if (tg->unit)
		sink_unit_drop(tg->unit);
	group_free(tg->g);
	free(tg);
	t->grp = NULL;
}

/* ------------------------------------------------------------ classes -- */

/* What a statement does to the transaction: its leading words, and nothing after it. */
enum txn_class txn_classify(const char *sql, size_t len)
{
	struct sql_lexer lx;
	struct sql_token t;
	enum sql_tok k;
	enum txn_class cls;
	int n = 0;

	if (sql == NULL)
		return TC_OTHER;
	sql_lex_init(&lx, sql, len);
	k = sql_lex_next(&lx, &t);
	if (k != SQL_WORD)
		return TC_OTHER;
	if (sql_word_is(&lx, &t, "begin") || sql_word_is(&lx, &t, "start"))
		cls = TC_BEGIN;
	else if (sql_word_is(&lx, &t, "commit") || sql_word_is(&lx, &t, "end"))
		cls = TC_COMMIT;
	else if (sql_word_is(&lx, &t, "rollback") || sql_word_is(&lx, &t, "abort"))
		cls = TC_ROLLBACK;
	else
		return TC_OTHER;
	/* BEGIN [WORK | TRANSACTION] [modes]; COMMIT / ROLLBACK [WORK |
	 * TRANSACTION] [AND [NO] CHAIN]; ROLLBACK [...] TO [SAVEPOINT] name: a
	 * second statement, PREPARED, anything else makes it another statement */
	for (;;) {
		k = sql_lex_next(&lx, &t);
		if (k == SQL_EOF)
			return cls;
		if (k == SQL_PUNCT && t.ch == ';') {
			while ((k = sql_lex_next(&lx, &t)) == SQL_PUNCT && t.ch == ';')
				;
			return k == SQL_EOF ? cls : TC_OTHER;
		}
		if (cls == TC_BEGIN)
			continue;           /* BEGIN ISOLATION LEVEL ... is a BEGIN */
		if (n == 0 && (sql_word_is(&lx, &t, "work") || sql_word_is(&lx, &t, "transaction"))) {
			n++;
			continue;
		}
		if (sql_word_is(&lx, &t, "and") || sql_word_is(&lx, &t, "no") || sql_word_is(&lx, &t, "chain")) {
			n = 2;
			continue;
		}
		if (cls == TC_ROLLBACK && n < 2 && sql_word_is(&lx, &t, "to"))
			return TC_ROLLBACK; /* TO [SAVEPOINT] name: every staged row is newer */
		return TC_OTHER;
	}
}

bool txn_can_stage(const struct client *c)
{
	const struct txn *t = c->is.txn;

	if (c->tx_status != 'T' || c->is.tx_ddl || c->is.tx_savepoint)
		return false;
	if (t && t->state != TXS_NONE && t->state != TXS_STAGING && t->state != TXS_FLUSHING &&
	    t->state != TXS_GROUP)
		return false;
	return !(t && t->bytes > c->d->cfg->max_buffer_bytes / 4);
}

/* ------------------------------------------------------------ writing -- */

/* A Query of ours goes to the backend: before entry `before` (NULL: at the tail). */
static struct rq_entry *send_query(struct client *c, struct txn *t, struct rq_entry *before, const struct pktbuf *m)
{
	struct rq_entry *e = before ? rq_push_before(&c->rq, before, RQ_SKIP, 'Q') : rq_push(&c->rq, RQ_SKIP, 'Q');

	if (e == NULL)
		return NULL;
	if (t) {
		rq_capture(e, t);
		rq_relay_notices(e, true);  /* a trigger's NOTICE reaches the client, as it would */
		t->wentry = e;
		t->got = 0;
		pkt_reset(&t->error);
	}
	pstmt_own_query(c);
	client_to_backend(c, m->data, m->len);
	return e;
}

enum flush_result { FL_DONE = 0, FL_WAIT, FL_OOM };

static void on_wait_timer(evutil_socket_t fd, short what, void *arg)
{
	struct txn *t = arg;

	(void)fd;
	(void)what;
	if (!t->waiting)
		return;
	log_warning(t->c->prefix, "a transaction's rows waited %d ms for rows acknowledged to other clients "
		    "before them (ackmode = immediate), which wait for a lock: they go first", ACKED_WAIT_MS);
	t->wait_over = true;
	txn_wake(t->c);
}

/* Must the rows of statements [0, upto) of u wait for rows acknowledged to
 * other clients? The wait is bounded (ACKED_WAIT_MS); txn_wake ends it. */
static bool acked_wait(struct client *c, struct txn *t, struct sink_unit *u, int upto)
{
	struct timeval tv = { ACKED_WAIT_MS / 1000, (ACKED_WAIT_MS % 1000) * 1000 };

	if (t->wait_over || !sink_tx_wait(u, upto)) {
		t->wait_over = false;
		if (t->wait_timer)
			evtimer_del(t->wait_timer);
		return false;
	}
	t->waiting = true;
	if (t->wait_timer == NULL)
		t->wait_timer = evtimer_new(c->d->base, on_wait_timer, t);
	if (t->wait_timer && !evtimer_pending(t->wait_timer, NULL))
		evtimer_add(t->wait_timer, &tv);
	return true;
}

/* The answered INSERTs' rows (statements [0, upto)) go to the backend now,
 * before entry `before` (NULL: at the tail), and the unit goes; or they wait
 * for rows acknowledged to other clients before them (txn_wake resumes). */
static enum flush_result flush(struct client *c, struct txn *t, struct rq_entry *before)
{
	int upto = t->head ? t->head->stmt : t->nstmts;
	struct pktbuf m;
	uint64_t rows = 0;
	bool ok = true, inert;

	if (t->unit && upto > 0 && acked_wait(c, t, t->unit, upto))
		return FL_WAIT;
	pkt_init(&m);
	if (t->unit && upto > 0)
		ok = sink_tx_batch(t->unit, upto, NULL, NULL, &m, &rows);
	inert = t->unit == NULL || sink_unit_inert(t->unit);
	drop_unit(t);
	if (ok && rows > 0) {
		ok = send_query(c, t, before, &m) != NULL;
		if (ok && !inert)
			view_stale(c);      /* its triggers may change the session */
		if (ok) {
			t->work = W_FLUSH;
			t->expect = rows;
			set_state(t, TXS_FLUSHING);
			log_debug(c->prefix, "transaction: %llu staged rows go into it (%d statements)",
				  (unsigned long long)rows, upto);
		}
	} else if (ok) {
		set_state(t, TXS_NONE);
	}
	pkt_free(&m);
	return ok ? FL_DONE : FL_OOM;
}

/* A staged INSERT not taken (or taken after one that was not) runs as the
 * client sent it, with its table's conflict clause, in its place. */
static void forward_staged(struct client *c, struct staged *s)
{
	(void)clause_query_now(c, &s->orig, &s->orig_len);
	rq_forward(&c->rq, s->entry);
	client_to_backend(c, s->orig, s->orig_len);
	s->entry = NULL;
	view_stale(c);      /* as any statement forwarded (its triggers may change the session) */
}

/* The head statement and everything staged after it run as sent. */
static void pass_rest(struct client *c, struct txn *t)
{
	struct staged *s;

	t->passing = false;
	intercept_count_pass(c, PASS_AT_TXBLOCK, "an INSERT of the transaction is not taken");
	while ((s = t->head) != NULL) {
		t->head = s->next;
		forward_staged(c, s);
		staged_free(s);
	}
	t->tail = NULL;
	client_continue(c);
}

/* The head statement is not taken: the rows answered before it go first, and
 * when their triggers may have changed the session (the view is stale), the
 * view is asked behind them, so that the conflict clauses of the statements
 * that pass are those of the tables their names then mean. */
static void pass_from(struct client *c, struct txn *t)
{
	switch (flush(c, t, t->head->entry)) {
	case FL_DONE:
		break;
	case FL_WAIT:
		return;     /* txn_wake */
	case FL_OOM:
		client_fatal_soon(c, "53200", "out of memory");
		return;
	}
	if (!view_fresh(c) && view_ask_before(c, t->head->entry))
		t->passing = true;  /* txn_view_done */
	else
		pass_rest(c, t);
}

void txn_view_done(struct client *c)
{
	struct txn *t = c->is.txn;

	if (t && t->passing && t->head && !view_asking(c))
		pass_rest(c, t);
}

/* Every statement of the head staged INSERTs is decided: answered in order. */
static void resolve(struct client *c, struct txn *t)
{
	struct staged *s;

	while (!t->passing && (s = t->head) != NULL && s->decided) {
		if (s->passed) {
			pass_from(c, t);
			return;
		}
		t->head = s->next;
		if (t->head == NULL)
			t->tail = NULL;
		pkt_insert_complete(rq_answer(s->entry), s->rows);
		pkt_ready(rq_answer(s->entry), 'T');
		if (!pkt_ok(rq_answer(s->entry))) {
			pkt_reset(rq_answer(s->entry));
			pkt_error(rq_answer(s->entry), "ERROR", "53200", "out of memory", NULL, NULL);
			pkt_ready(rq_answer(s->entry), 'E');
		}
		rq_ready(s->entry);
		staged_free(s);
	}
	if (t->head == NULL && t->state == TXS_STAGING && t->due && flush(c, t, NULL) == FL_OOM)
		client_fatal_soon(c, "53200", "out of memory");
	client_continue(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct txn *t = arg;

	(void)fd;
	(void)what;
	if (t->state != TXS_STAGING)
		return;
	t->due = true;
	if (t->head == NULL)
		resolve(t->c, t);
}

/* ------------------------------------------------------------ staging -- */

static void link_staged(struct txn *t, struct staged *s)
{
	s->t = t;
	if (t->tail)
		t->tail->next = s;
	else
		t->head = s;
	t->tail = s;
}

/* The bounds of the tables staged so far; the timer starts with the first. */
static void note_bounds(struct client *c, struct txn *t, const struct ins_stmt *st)
{
	int bs = 0, ms = 0;
	struct timeval tv;

	if (!sink_table_bounds(c->d->sink, st, &bs, &ms))
		return;
	if (bs > 0 && (t->batchsize == 0 || bs < t->batchsize))
		t->batchsize = bs;
	if (ms > 0 && (t->timeout_ms == 0 || ms < t->timeout_ms)) {
		t->timeout_ms = ms;
		if (t->timer == NULL)
			t->timer = evtimer_new(c->d->base, on_timer, t);
		if (t->timer && (t->nstmts == 0 || !evtimer_pending(t->timer, NULL))) {
			tv.tv_sec = ms / 1000;
			tv.tv_usec = (ms % 1000) * 1000;
			evtimer_add(t->timer, &tv);
		}
	}
}

enum intercept_result txn_stage_query(struct client *c, struct ins_stmt *st, struct evbuffer *in,
				      size_t total)
{
	struct txn *t = txn_of(c);
	struct staged *s;

	if (t && (t->passing || t->state == TXS_FLUSHING || t->state == TXS_GROUP))
		return INTERCEPT_WAIT;  /* resumed once those rows are written */
	if (t == NULL || t->state == TXS_FAILED) {
		ins_stmt_free(st);
		return INTERCEPT_FORWARD;
	}
	if (t->unit == NULL) {
		t->unit = sink_tx_open(c->is.ss, t, true);
		if (t->unit == NULL) {
			ins_stmt_free(st);
			return INTERCEPT_FORWARD;
		}
		set_state(t, TXS_STAGING);
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
	s->kind = SK_QUERY;
	evbuffer_remove(in, s->orig, total);
	s->orig_len = (uint32_t)total;
	s->rows = (uint64_t)st->nrows;
	s->stmt = t->nstmts++;
	note_bounds(c, t, st);
	for (size_t i = 0; i < (size_t)st->nrows * (size_t)st->nvals; i++)
		t->bytes += (int64_t)st->values[i].len + 16;
	t->rows += (uint64_t)st->nrows;
	if ((t->batchsize > 0 && t->rows >= (uint64_t)t->batchsize) || t->bytes >= STAGE_MAX_BYTES)
		t->due = true;
	link_staged(t, s);
	c->d->istats.messages++;
	c->d->istats.rows += (uint64_t)st->nrows;
	if (!sink_unit_add(t->unit, st, s)) {
		/* out of memory: not taken, it runs as sent */
		s->decided = s->passed = true;
		resolve(c, t);
	}
	return INTERCEPT_TAKEN;
}

/* -------------------------------------------------------------- groups -- */

enum txn_group_gate txn_group_gate(struct client *c)
{
	struct txn *t = c->is.txn;

	if (c->is.tx_ddl)
		return TGG_PASS;
	if (t == NULL)
		return TGG_HOLD;
	switch (t->state) {
	case TXS_NONE:
		return TGG_HOLD;
	case TXS_STAGING:
		/* simple-Query rows first, answered by the time the group runs */
		if (t->head)
			return TGG_WAIT;
		if (flush(c, t, NULL) == FL_OOM) {
			client_fatal_soon(c, "53200", "out of memory");
			return TGG_WAIT;
		}
		return t->state == TXS_NONE ? TGG_HOLD : TGG_WAIT;
	case TXS_FLUSHING:
	case TXS_GROUP:
		return TGG_WAIT;
	case TXS_FAILED:
	case TXS_STATES:
		break;
	}
	return TGG_PASS;
}

bool txn_group(struct client *c, struct group *g)
{
	struct txn *t = txn_of(c);
	struct txgroup *tg;
	int n;

	if (t == NULL || t->state != TXS_NONE || c->is.ss == NULL)
		return false;
	tg = calloc(1, sizeof(*tg));
	if (tg == NULL)
		return false;
	tg->kind = SK_GROUP;
	tg->t = t;
	tg->unit = sink_tx_open(c->is.ss, tg, false);
	if (tg->unit == NULL) {
		free(tg);
		return false;
	}
	n = group_add(g, tg->unit, tg, NULL);
	if (n <= 0) {
		sink_unit_drop(tg->unit);
		free(tg);
		return false;
	}
	tg->g = g;
	tg->n = n;
	t->grp = tg;
	set_state(t, TXS_GROUP);
	c->d->istats.messages++;
	return true;
}

/* The group's messages go to the backend as sent (with their tables' clause). */
static void group_as_sent(struct client *c, struct txn *t)
{
	struct txgroup *tg = t->grp;
	struct group *g = tg->g;

	tg->g = NULL;
	group_done(t);
	set_state(t, TXS_NONE);
	group_forward(c, g);
}

/* Every statement of the group is decided: it runs as sent (one was not
 * taken, or one row: nothing to batch), or its rows are written in a
 * savepoint of ours. */
static void group_decided(struct client *c, struct txn *t)
{
	static const uint8_t sync[] = { 'S', 0, 0, 0, 4 };
	struct txgroup *tg = t->grp;
	struct group *g = tg->g;
	struct rq_entry *e;
	struct pktbuf m;
	uint64_t rows = 0;
	bool exact = false;

	if (tg->passed || group_rows(g) <= 1 || group_answered(g)) {
		if (tg->passed)
			intercept_count_pass(c, PASS_AT_GROUP, "an INSERT of the group is not taken");
		group_as_sent(c, t);
		return;
	}
	if (acked_wait(c, t, tg->unit, tg->n))
		return;     /* txn_wake */
	exact = sink_tx_exact(tg->unit, tg->n);
	if (!exact && !sink_tx_rerun_safe(tg->unit, tg->n)) {
		/* its count may fall short (a row skipped), and running it again
		 * then would take values of its defaults twice */
		intercept_count_pass(c, PASS_AT_TXBLOCK, "an INSERT of the transaction is not taken");
		group_as_sent(c, t);
		return;
	}
	pkt_init(&m);
	if (!sink_tx_batch(tg->unit, tg->n, "SAVEPOINT " GROUP_SAVEPOINT,
			   exact ? "RELEASE SAVEPOINT " GROUP_SAVEPOINT : NULL, &m, &rows) || rows == 0) {
		pkt_free(&m);
		group_as_sent(c, t);
		return;
	}
	if (!sink_unit_inert(tg->unit))
		view_stale(c);          /* its triggers may change the session */
	sink_unit_drop(tg->unit);
	tg->unit = NULL;
	if (g->prefix) {
		/* the BEGIN that went ahead of it is done first: its Sync, ours */
		if (rq_push(&c->rq, RQ_SKIP, 'S') == NULL) {
			pkt_free(&m);
			client_fatal_soon(c, "53200", "out of memory");
			return;
		}
		client_to_backend(c, sync, sizeof(sync));
		g->prefix = false;
	}
	if ((e = send_query(c, t, NULL, &m)) == NULL) {
		pkt_free(&m);
		client_fatal_soon(c, "53200", "out of memory");
		return;
	}
	pkt_free(&m);
	rq_relay_notices(e, false);     /* held: the group's answers may come from a run as sent */
	pkt_reset(&t->notes);
	t->work = W_BATCH;
	t->expect = rows;
	t->count_exact = exact;
	log_debug(c->prefix, "transaction: a group's %llu rows go into it", (unsigned long long)rows);
}

/* The group's batch is answered: the group is answered as written, or its
 * savepoint is rolled back and it runs as sent. */
/* The SQLSTATE of an ErrorResponse message is one of a row's own (data,
 * integrity, a check option, a RAISE, a datatype mismatch): the group then
 * runs as sent, so that the error lands on the Execute of that row. */
static bool refused_row(const struct pktbuf *err)
{
	struct pktreader r;
	const char *v;
	uint8_t code;

	if (err->len < PKT_HDR_LEN)
		return false;
	rd_init(&r, err->data + PKT_HDR_LEN, err->len - PKT_HDR_LEN);
	while (rd_u8(&r, &code) && code != 0 && rd_cstring(&r, &v, NULL))
		if (code == 'C')
			return strncmp(v, "22", 2) == 0 || strncmp(v, "23", 2) == 0 || strncmp(v, "44", 2) == 0 ||
			       strncmp(v, "P0", 2) == 0 || strcmp(v, "42804") == 0;
	return false;
}

static void group_written(struct client *c, struct txn *t, bool ok)
{
	static const char undo[] = "ROLLBACK TO SAVEPOINT " GROUP_SAVEPOINT "; RELEASE SAVEPOINT " GROUP_SAVEPOINT;
	static const char release[] = "RELEASE SAVEPOINT " GROUP_SAVEPOINT;
	struct txgroup *tg = t->grp;
	struct group *g = tg->g;
	struct pktbuf m;
	bool sent;

	if (ok && t->got != t->expect && t->count_exact)
		log_warning(c->prefix, "a transaction's group wrote %llu rows of %llu (its table changed?)",
			    (unsigned long long)t->got, (unsigned long long)t->expect);
	if (ok && (t->got == t->expect || t->count_exact)) {
		pkt_init(&m);
		pkt_query(&m, release);
		sent = t->count_exact || (pkt_ok(&m) && send_query(c, NULL, NULL, &m) != NULL);
		pkt_free(&m);
		if (!sent) {
			client_fatal_soon(c, "53200", "out of memory");
			return;
		}
		tg->g = NULL;
		group_done(t);
		set_state(t, TXS_NONE);
		/* the batch's notices, ahead of the group's answers */
		if (t->notes.len && !rq_inject(&c->rq, group_first_entry(g), t->notes.data, t->notes.len))
			log_warning(c->prefix, "out of memory: a transaction's group's notices are not relayed");
		pkt_reset(&t->notes);
		group_answer(c, g);
		return;
	}
	pkt_reset(&t->notes);
	if (!ok && !refused_row(&t->error)) {
		/* cancelled, timed out, a deadlock, ...: it would have hit the group
		 * sent as is too; the transaction is aborted, as it would be, and
		 * the group's first Execute says why */
		tg->g = NULL;
		group_done(t);
		set_state(t, TXS_NONE);
		group_fail_at_execute(c, g, &t->error);
		return;
	}
	/* the database refused a row, or wrote fewer: as sent, answered by it */
	pkt_init(&m);
	pkt_query(&m, undo);
	sent = pkt_ok(&m) && send_query(c, NULL, group_first_entry(g), &m) != NULL;
	pkt_free(&m);
	if (!sent) {
		client_fatal_soon(c, "53200", "out of memory");
		return;
	}
	log_debug(c->prefix, "transaction: a group's batch %s; it runs as sent",
		  ok ? "wrote fewer rows" : "failed");
	group_as_sent(c, t);
}

/* ------------------------------------------------------------ decisions -- */

void txn_decided(void *stmt_arg, const char *reason)
{
	uint8_t kind = *(const uint8_t *)stmt_arg;

	if (kind == SK_QUERY) {
		struct staged *s = stmt_arg;

		s->decided = true;
		s->passed = reason != NULL;
		if (s->t->state == TXS_STAGING)
			resolve(s->t->c, s->t);
	} else {
		struct txgroup *tg = stmt_arg;

		tg->passed |= reason != NULL;
		if (++tg->ndecided == tg->n)
			group_decided(tg->t->c, tg->t);
	}
}

/* ----------------------------------------------------------- the gate -- */

enum txn_gate txn_gate(struct client *c, const char *sql, size_t len)
{
	struct txn *t = c->is.txn;

	if (t == NULL)
		return TG_GO;
	if (t->passing)
		return TG_WAIT;         /* the statements that pass go first (txn_view_done) */
	switch (t->state) {
	case TXS_FLUSHING:
		/* behind the rows, late: their error may be its -- not a
		 * ROLLBACK's, which waits for their outcome */
		return txn_classify(sql, len) == TC_ROLLBACK ? TG_WAIT : TG_GO;
	case TXS_NONE:
	case TXS_STATES:
		return TG_GO;
	case TXS_GROUP:
		return TG_WAIT;
	case TXS_FAILED:
		if (txn_classify(sql, len) == TC_ROLLBACK) {
			/* rolled back: the rows' error goes with them */
			pkt_reset(&t->error);
			set_state(t, TXS_NONE);
		}
		return TG_GO;
	case TXS_STAGING:
		break;
	}
	if (t->head)
		return TG_WAIT;         /* the staged INSERTs are answered first */
	if (txn_classify(sql, len) == TC_ROLLBACK) {
		drop_unit(t);
		set_state(t, TXS_NONE);
		return TG_GO;
	}
	switch (flush(c, t, NULL)) {
	case FL_DONE:
		return TG_GO;
	case FL_WAIT:
		return TG_WAIT;     /* txn_wake resumes the session */
	case FL_OOM:
		client_fatal_soon(c, "53200", "out of memory");
		break;
	}
	return TG_WAIT;
}

void txn_abandon(struct client *c)
{
	struct txn *t = c->is.txn;

	if (t && t->state == TXS_STAGING && t->head == NULL) {
		drop_unit(t);
		set_state(t, TXS_NONE);
	}
}

bool txn_busy(const struct client *c)
{
	const struct txn *t = c->is.txn;

	return t && (t->passing || t->state == TXS_GROUP || (t->state == TXS_STAGING && t->head));
}

/* ------------------------------------------------------------- answers -- */

void txn_entry_done(struct client *c, struct rq_entry *e)
{
	struct txn *t = c->is.txn;
	enum work w;

	if (t == NULL || e->owner != t || e != t->wentry)
		return;
	rq_set_owner(e, NULL);
	t->wentry = NULL;
	w = t->work;
	t->work = W_NONE;
	if (w == W_BATCH) {
		group_written(c, t, !e->error);
		client_continue(c);
		return;
	}
	if (e->error) {
		if (t->error.len == 0)
			pkt_error(&t->error, "ERROR", "XX000", "the transaction's staged rows could not be written",
				  NULL, NULL);
		set_state(t, TXS_FAILED);
		log_debug(c->prefix, "transaction: its staged rows failed; the client learns it next");
	} else {
		if (t->got != t->expect)
			log_warning(c->prefix, "a transaction's staged rows wrote %llu rows of %llu (their table changed?)",
				    (unsigned long long)t->got, (unsigned long long)t->expect);
		set_state(t, TXS_NONE);
	}
	client_continue(c);
}

void txn_captured(struct client *c, struct rq_entry *e, uint8_t type, const uint8_t *body, uint32_t len)
{
	struct txn *t = c->is.txn;

	if (t == NULL || e->owner != t)
		return;
	if (type == 'C') {
		t->got += pkt_tag_inserted(body, len);
	} else if (type == 'E' && t->error.len == 0) {
		pkt_error_relayed(&t->error, body, len);
	} else if (type == 'N' && t->work == W_BATCH) {
		pkt_begin(&t->notes, 'N');
		pkt_put_bytes(&t->notes, body, len);
		pkt_end(&t->notes);
	}
}

bool txn_late(struct client *c, struct rq_entry *e, struct pktbuf *out)
{
	struct txn *t = c->is.txn;

	(void)e;
	if (t == NULL || t->state != TXS_FAILED || t->error.len == 0)
		return false;
	pkt_put_bytes(out, t->error.data, t->error.len);
	pkt_reset(&t->error);
	set_state(t, TXS_NONE);
	return true;
}

void txn_wake(struct client *c)
{
	struct txn *t = c->is.txn;

	if (t == NULL || !t->waiting)
		return;
	t->waiting = false;
	if (t->state == TXS_STAGING)
		resolve(c, t);
	else if (t->state == TXS_GROUP && t->grp && t->grp->ndecided == t->grp->n && t->work == W_NONE)
		group_decided(c, t);
	client_continue(c);
}

/* ------------------------------------------------------------ the end -- */

void txn_ready(struct client *c, char status)
{
	struct txn *t = c->is.txn;

	if (t == NULL || status == 'T')
		return;
	if (t->state == TXS_STAGING) {
		/* the transaction ended or failed under staged rows (only a message
		 * pgbatchd could not read first does that): they go with it */
		log_warning(c->prefix, "the transaction %s with staged rows: they are dropped",
			    status == 'I' ? "ended" : "failed");
		drop_unit(t);
		drop_staged(t);
		set_state(t, TXS_NONE);
	}
	if (status == 'I' && t->state == TXS_FAILED) {
		pkt_reset(&t->error);
		set_state(t, TXS_NONE);
	}
}

void txn_free(struct client *c)
{
	struct txn *t = c->is.txn;

	if (t == NULL)
		return;
	drop_unit(t);
	drop_staged(t);
	group_done(t);
	if (t->timer)
		event_free(t->timer);
	if (t->wait_timer)
		event_free(t->wait_timer);
	pkt_free(&t->error);
	pkt_free(&t->notes);
	free(t);
	c->is.txn = NULL;
}
