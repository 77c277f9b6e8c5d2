/* A writer: one libpq connection running one batch at a time as one transaction, with retries and bad-row isolation. */
#include "sink/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "proxy/log.h"
#include "sink/pgconn.h"

#define CONNECT_TIMEOUT_MS 10000
#define COPY_CHUNK 65536
#define VALUES_MAX_BYTES (1024 * 1024)
#define RETRY_CAP_MS 30000
#define SAVEPOINT "pgbatchd_row"

enum wstate { W_DOWN = 0, W_CONNECTING, W_IDLE, W_RUN, W_WAIT };

enum phase {
	PH_NONE = 0,
	PH_BEGIN,
	PH_BODY,
	PH_COMMIT,
	PH_ROLLBACK,        /* then after_rollback */
	PH_SAVEPOINT,
	PH_RELEASE,
	PH_ROLLBACK_TO,
	PH_TXID,            /* asking whether a transaction whose COMMIT was cut off committed */
};

enum after_rollback { AR_RETRY = 0, AR_ISOLATE, AR_DONE, AR_PROBED };

/* A piece of work: reduced rows [a, b); one raw row replayed alone (a); or
 * rows w->val[a, b) checked with DO NOTHING. */
enum ukind { U_RED = 0, U_SRC, U_VAL };

struct unit {
	enum ukind kind;
	uint32_t a, b;
};

struct writer {
	struct sink *s;
	int idx;
	char prefix[32];
	struct pgconn *pc;
	enum wstate state;
	struct event *kick_ev;
	struct event *retry_ev;
	struct batch *b;
	uint32_t *stage_gen;        /* per table index: the catalog generation staged */
	int nstage;
	bool stage_in_tx;

	enum phase phase;
	enum after_rollback after;
	bool isolating;
	/* update mode merges columns of several rows: before that, the rows of
	 * merged keys are tried with DO NOTHING in savepoints that are rolled
	 * back, and the ones the database rejects leave the batch first. Other
	 * modes check the rows merged away after writing (U_VAL). */
	bool probing;
	bool probed;
	/* upsert keeps the key as the first row that inserts spelled it: when
	 * spellings differ, the rows are probed too, so a rejected first row
	 * does not lend its spelling */
	bool spellings_differ;
	/* The transaction id of the batch's transaction (PostgreSQL 10+): when the
	 * connection drops while COMMIT is on its way, txid_status() on a new
	 * connection tells whether it committed, so a retry never writes twice. */
	char xid[24];
	bool commit_unknown;
	struct berr *fail_err;      /* why the batch (or the unit) failed */
	struct unit *stack;
	size_t nstack, capstack;
	struct unit cur;
	/* Rows merged away by the reduction: still checked by the database (types,
	 * NOT NULL, CHECK, BEFORE triggers) with ON CONFLICT DO NOTHING after the
	 * reduced rows are written, so a row that would fail alone fails here too. */
	uint32_t *val;
	size_t nval;
	uint8_t *executed;          /* per raw row: replayed alone in isolation */
	uint32_t *uraw;             /* U_VAL: the raw row of each of urows */

	sg_row *urows;              /* the current unit's rows */
	size_t un;
	size_t run_start, run_end;
	bool shape_valid;
	struct sg_shape shape;
	int run_step;
	size_t values_pos;
	size_t copy_pos;
	struct buf sql;
	/* Outside isolation the batch's first statement carries BEGIN (and the
	 * rest of begin_tx) in front of it, and its last one COMMIT behind it, in
	 * one simple Query: a COPY batch costs two round trips. pre holds the
	 * BEGIN part until the first statement is sent; pre_n counts its
	 * statements (0: nothing waits). */
	struct buf pre;
	int pre_n;
	bool pre_txid;
	/* the Query in flight: q_npre statements of BEGIN part in front (the
	 * last of them txid_current() when pre_txid), COMMIT at the end when q_commit */
	int q_npre;
	bool q_commit;
	struct buf *params;
	const char **pvals;
	int nparams;
};

static void on_pc(void *arg, const struct pc_result *r);
static void next_step(struct writer *w);
static void begin_attempt(struct writer *w);
static bool reduce(struct writer *w);

static void on_kick(evutil_socket_t fd, short what, void *arg);
static void on_retry(evutil_socket_t fd, short what, void *arg);

struct writer *writer_new(struct sink *s, int idx)
{
	struct writer *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->s = s;
	w->idx = idx;
	snprintf(w->prefix, sizeof(w->prefix), "sink W-%d", idx);
	buf_init(&w->sql);
	buf_init(&w->pre);
	w->pc = pc_new(s->base, w->prefix, on_pc, w);
	w->kick_ev = event_new(s->base, -1, 0, on_kick, w);
	w->retry_ev = evtimer_new(s->base, on_retry, w);
	if (!w->pc || !w->kick_ev || !w->retry_ev) {
		writer_free(w);
		return NULL;
	}
	return w;
}

static void free_params(struct writer *w)
{
	int i;

	for (i = 0; i < w->nparams; i++)
		buf_free(&w->params[i]);
	free(w->params);
	free(w->pvals);
	w->params = NULL;
	w->pvals = NULL;
	w->nparams = 0;
}

static void reset_unit(struct writer *w)
{
	if (w->shape_valid)
		sg_shape_free(&w->shape);
	w->shape_valid = false;
	free(w->urows);
	free(w->uraw);
	w->urows = NULL;
	w->uraw = NULL;
	w->un = 0;
	free_params(w);
}

static void free_validation(struct writer *w)
{
	free(w->val);
	free(w->executed);
	w->val = NULL;
	w->executed = NULL;
	w->nval = 0;
}

void writer_free(struct writer *w)
{
	if (w == NULL)
		return;
	reset_unit(w);
	free_validation(w);
	if (w->b)
		sink_batch_discard(w->s, w->b);
	berr_unref(w->fail_err);
	pc_free(w->pc);
	if (w->kick_ev)
		event_free(w->kick_ev);
	if (w->retry_ev)
		event_free(w->retry_ev);
	buf_free(&w->sql);
	buf_free(&w->pre);
	free(w->stack);
	free(w->stage_gen);
	free(w);
}

bool writer_busy(const struct writer *w)
{
	return w->b != NULL;
}

void writer_kick(struct writer *w)
{
	event_active(w->kick_ev, EV_TIMEOUT, 0);
}

/* ---- outcome bookkeeping ---- */

static void set_fail(struct writer *w, const char *sqlstate, const char *msg, const char *detail,
		     const char *hint)
{
	berr_unref(w->fail_err);
	w->fail_err = berr_new(sqlstate, msg, detail, hint);
}

static void mark_raw(struct writer *w, size_t raw, struct berr *e)
{
	struct batch *b = w->b;

	if (b->outcome[raw] == ROW_FAILED)
		return;
	b->outcome[raw] = ROW_FAILED;
	berr_unref(b->err[raw]);
	b->err[raw] = berr_ref(e);
}

static void mark_reduced(struct writer *w, size_t g, struct berr *e)
{
	const struct key_red_row *r = &w->b->red.rows[g];
	uint32_t i;

	for (i = 0; i < r->nsrc; i++)
		mark_raw(w, w->b->red.srcs[r->src + i], e);
}

static void finish_batch(struct writer *w)
{
	struct batch *b = w->b;
	size_t i;

	for (i = 0; i < b->n; i++)
		if (b->outcome[i] == ROW_PENDING)
			b->outcome[i] = ROW_OK;
	w->b = NULL;
	w->state = pc_connected(w->pc) ? W_IDLE : W_DOWN;
	w->phase = PH_NONE;
	w->pre_n = 0;
	reset_unit(w);
	free_validation(w);
	berr_unref(w->fail_err);
	w->fail_err = NULL;
	sink_batch_done(w->s, b);
	writer_kick(w);
}

static void fail_all(struct writer *w, struct berr *e)
{
	size_t i;

	for (i = 0; i < w->b->n; i++)
		mark_raw(w, i, e);
	finish_batch(w);
}

/* ---- the transaction ---- */

static bool staged(const struct batch *b)
{
	return b->wmode == WRITE_COPY && b->cat->t.nkey > 0 && b->mode != CONFLICT_STRICT;
}

static bool stage_ready(struct writer *w)
{
	int t = w->b->tab->idx;

	return t < w->nstage && w->stage_gen[t] == w->b->cat->gen;
}

static void stage_done(struct writer *w)
{
	int t = w->b->tab->idx, n;
	uint32_t *g;

	if (t >= w->nstage) {
		n = t + 8;
		g = realloc(w->stage_gen, (size_t)n * sizeof(*g));
		if (g == NULL)
			return;
		memset(g + w->nstage, 0, (size_t)(n - w->nstage) * sizeof(*g));
		w->stage_gen = g;
		w->nstage = n;
	}
	w->stage_gen[t] = w->b->cat->gen;
}

static void send_sql(struct writer *w, enum phase ph)
{
	w->phase = ph;
	if (ph != PH_BODY || !buf_ok(&w->sql)) {
		w->q_npre = 0;
		w->q_commit = false;
	}
	if (!buf_ok(&w->sql)) {
		/* the step cannot be built: the batch fails like any statement would */
		buf_reset(&w->sql);
		buf_puts(&w->sql, "SELECT pg_catalog.pg_sleep(0) WHERE false AND 'pgbatchd: out of memory'::int = 0");
	}
	pc_query(w->pc, w->sql.data);
}

static void start_body(struct writer *w);

static void begin_tx(struct writer *w)
{
	int n = 1;

	buf_reset(&w->pre);
	buf_puts(&w->pre, "BEGIN");
	w->stage_in_tx = false;
	if (staged(w->b) && !stage_ready(w)) {
		buf_puts(&w->pre, "; ");
		sg_stage_create(&w->pre, &w->b->cat->t);
		w->stage_in_tx = true;
		n++;
	}
	if (w->isolating) {
		buf_puts(&w->pre, "; SET CONSTRAINTS ALL IMMEDIATE");
		n++;
	}
	w->xid[0] = '\0';
	w->pre_txid = pc_server_version(w->pc) >= 100000;
	if (w->pre_txid) {
		buf_puts(&w->pre, "; SELECT pg_catalog.txid_current()");
		n++;
	}
	if (!w->isolating && w->b->wmode != WRITE_UNNEST && buf_ok(&w->pre)) {
		/* sent in front of the first statement (unnest's is not a simple Query) */
		w->pre_n = n;
		start_body(w);
		return;
	}
	w->pre_n = 0;
	buf_reset(&w->sql);
	if (buf_ok(&w->pre))
		buf_append(&w->sql, w->pre.data, w->pre.len);
	else
		w->sql.failed = true;
	send_sql(w, PH_BEGIN);
}

/* The Query in flight carries the BEGIN part, ending in txid_current(). */
static bool q_txid(const struct writer *w)
{
	return w->q_npre > 0 && w->pre_txid;
}

/* Starts the statement text in w->sql: the waiting BEGIN part, if any, leads. */
static void lead(struct writer *w)
{
	buf_reset(&w->sql);
	w->q_npre = w->pre_n;
	w->q_commit = false;
	if (w->pre_n > 0) {
		buf_append(&w->sql, w->pre.data, w->pre.len);
		buf_puts(&w->sql, "; ");
		w->pre_n = 0;
	}
}

/* True when the statement about to be sent, ending at row pos of the run,
 * is the batch's last (outside isolation). */
static bool last_statement(const struct writer *w, size_t pos)
{
	return !w->isolating && pos >= w->run_end && w->run_end >= w->un &&
	       !(w->cur.kind == U_RED && w->nval > 0);
}

/* Appends COMMIT when this statement ends the batch and a COMMIT cut off on
 * its way can still be resolved by txid_status(): the transaction id is known
 * before the COMMIT can run (it is, or a COPY's data waits for it). */
static void maybe_commit(struct writer *w, size_t pos, bool copy)
{
	if (!last_statement(w, pos) || !(w->xid[0] || (copy && q_txid(w))))
		return;
	buf_puts(&w->sql, "; COMMIT");
	w->q_commit = true;
}

static void rollback(struct writer *w, enum after_rollback after)
{
	w->after = after;
	if (!pc_connected(w->pc)) {
		w->phase = PH_ROLLBACK;
		/* nothing to roll back: the connection is gone */
		on_pc(w, &(struct pc_result){ .event = PC_DONE, .ok = true });
		return;
	}
	buf_reset(&w->sql);
	buf_puts(&w->sql, "ROLLBACK");
	send_sql(w, PH_ROLLBACK);
}

static bool push(struct writer *w, enum ukind kind, uint32_t a, uint32_t b)
{
	struct unit *u;
	size_t cap;

	if (w->nstack == w->capstack) {
		cap = w->capstack ? w->capstack * 2 : 64;
		u = realloc(w->stack, cap * sizeof(*u));
		if (u == NULL)
			return false;
		w->stack = u;
		w->capstack = cap;
	}
	w->stack[w->nstack].kind = kind;
	w->stack[w->nstack].a = a;
	w->stack[w->nstack].b = b;
	w->nstack++;
	return true;
}

/* Queues the pieces of a failed unit so they run next, in order. */
static bool split(struct writer *w, const struct unit *u)
{
	const struct key_red_row *r;
	uint32_t m, i;

	w->s->st.splits++;
	if (u->kind != U_SRC && u->b - u->a > 1) {
		m = u->a + (u->b - u->a) / 2;
		return push(w, u->kind, m, u->b) && push(w, u->kind, u->a, m);
	}
	r = &w->b->red.rows[u->a];
	for (i = r->nsrc; i-- > 0;)
		if (!push(w, U_SRC, w->b->red.srcs[r->src + i], 0))
			return false;
	return true;
}

static bool load_unit(struct writer *w, const struct unit *u)
{
	size_t i;

	reset_unit(w);
	w->cur = *u;
	w->un = u->kind == U_SRC ? 1 : u->b - u->a;
	w->urows = calloc(w->un + 1, sizeof(*w->urows));
	w->uraw = calloc(w->un + 1, sizeof(*w->uraw));
	if (w->urows == NULL || w->uraw == NULL)
		return false;
	switch (u->kind) {
	case U_SRC:
		w->urows[0] = w->b->rows[u->a]->vals;
		w->uraw[0] = u->a;
		w->executed[u->a] = 1;
		break;
	case U_RED:
		for (i = 0; i < w->un; i++)
			w->urows[i] = w->b->red.rows[u->a + i].vals;
		break;
	case U_VAL:
		w->un = 0;
		for (i = u->a; i < u->b; i++) {
			if (w->executed[w->val[i]])
				continue;
			w->uraw[w->un] = w->val[i];
			w->urows[w->un++] = w->b->rows[w->val[i]]->vals;
		}
		break;
	}
	w->run_start = 0;
	return true;
}

static void copy_fill(void *arg, struct buf *chunk, bool *done)
{
	struct writer *w = arg;

	while (w->copy_pos < w->run_end && chunk->len < COPY_CHUNK && buf_ok(chunk))
		sg_copy_row(chunk, &w->shape, w->urows[w->copy_pos++]);
	*done = w->copy_pos >= w->run_end;
}

/* Sends the next statement of the current unit, or ends the unit. */
static void next_step(struct writer *w)
{
	struct batch *b = w->b;
	const struct sg_table *t = &b->cat->t;
	size_t j, used;
	int i;

	for (;;) {
		if (w->run_start >= w->un) {
			if (!w->isolating && w->cur.kind == U_RED && w->nval > 0) {
				struct unit v = { U_VAL, 0, (uint32_t)w->nval };

				if (!load_unit(w, &v)) {
					set_fail(w, "53200", "out of memory", NULL, NULL);
					rollback(w, AR_DONE);
					return;
				}
				continue;
			}
			reset_unit(w);
			if (!w->isolating && w->pre_n > 0) {
				/* nothing was written: no transaction to commit */
				finish_batch(w);
				return;
			}
			if (!w->isolating) {
				buf_reset(&w->sql);
				buf_puts(&w->sql, "COMMIT");
				send_sql(w, PH_COMMIT);
			} else if (w->probing) {
				buf_reset(&w->sql);
				buf_puts(&w->sql, "ROLLBACK TO SAVEPOINT " SAVEPOINT);
				send_sql(w, PH_ROLLBACK_TO);
			} else {
				buf_reset(&w->sql);
				buf_puts(&w->sql, "RELEASE SAVEPOINT " SAVEPOINT);
				send_sql(w, PH_RELEASE);
			}
			return;
		}
		if (!w->shape_valid) {
			for (j = w->run_start + 1; j < w->un; j++)
				if (!sg_same_run(t, b->mode, b->wmode, w->urows[w->run_start], w->urows[j]))
					break;
			w->run_end = j;
			if (!sg_shape_build(&w->shape, t, b->mode, w->urows + w->run_start,
					    w->run_end - w->run_start)) {
				set_fail(w, "53200", "out of memory building a statement", NULL, NULL);
				rollback(w, AR_DONE);
				return;
			}
			w->shape_valid = true;
			if (w->cur.kind == U_VAL && w->shape.action != SG_PLAIN) {
				w->shape.action = SG_NOTHING;
				w->shape.nset = 0;
			}
			w->run_step = 0;
			w->values_pos = w->run_start;
			w->copy_pos = w->run_start;
		}
		w->phase = PH_BODY;
		if (w->shape.nins == 0 || b->wmode == WRITE_INSERT ||
		    (staged(b) && w->run_end - w->run_start < (size_t)b->tab->conf.copystageminrows)) {
			/* a short run skips the stage (copystageminrows): its ON COMMIT
			 * DELETE ROWS truncation costs more than a few rows */
			if (w->values_pos < w->run_end) {
				lead(w);
				used = sg_values_stmt(&w->sql, t, &w->shape, w->urows + w->values_pos,
						      w->run_end - w->values_pos, VALUES_MAX_BYTES);
				w->values_pos += used;
				maybe_commit(w, w->values_pos, false);
				send_sql(w, PH_BODY);
				return;
			}
		} else if (b->wmode == WRITE_COPY) {
			if (w->run_step == 0) {
				/* one Query: COPY, then (staged) the INSERT from the stage
				 * and its clearing, or COMMIT when the batch ends here */
				w->run_step = 1;
				lead(w);
				if (staged(b)) {
					w->run_step = 2;
					sg_copy_stage(&w->sql, t, &w->shape);
					buf_puts(&w->sql, "; ");
					sg_insert_from_stage(&w->sql, t, &w->shape);
					maybe_commit(w, w->run_end, true);
					if (!w->q_commit) {
						buf_puts(&w->sql, "; ");
						sg_stage_clear(&w->sql, t);
					}
				} else {
					sg_copy_target(&w->sql, t, &w->shape);
					maybe_commit(w, w->run_end, true);
				}
				if (!buf_ok(&w->sql)) {
					send_sql(w, PH_BODY);
					return;
				}
				w->phase = PH_BODY;
				pc_copy(w->pc, w->sql.data, copy_fill, w);
				return;
			}
		} else if (w->run_step == 0) {
			lead(w);
			w->run_step = 1;
			free_params(w);
			w->nparams = w->shape.nins;
			w->params = calloc((size_t)w->nparams + 1, sizeof(*w->params));
			w->pvals = calloc((size_t)w->nparams + 1, sizeof(*w->pvals));
			if (w->params == NULL || w->pvals == NULL) {
				w->nparams = 0;
				set_fail(w, "53200", "out of memory building a statement", NULL, NULL);
				rollback(w, AR_DONE);
				return;
			}
			for (i = 0; i < w->nparams; i++)
				buf_init(&w->params[i]);
			sg_unnest_params(w->params, t, &w->shape, w->urows + w->run_start,
					 w->run_end - w->run_start);
			sg_unnest_stmt(&w->sql, t, &w->shape);
			for (i = 0; i < w->nparams; i++) {
				if (!buf_ok(&w->params[i]) || buf_reserve(&w->params[i], 0) == NULL)
					w->sql.failed = true;
				w->pvals[i] = w->params[i].data;
			}
			if (!buf_ok(&w->sql)) {
				send_sql(w, PH_BODY);
				return;
			}
			pc_params(w->pc, w->sql.data, w->nparams, w->pvals);
			return;
		}
		/* this run is written: on to the next */
		sg_shape_free(&w->shape);
		w->shape_valid = false;
		free_params(w);
		w->run_start = w->run_end;
	}
}

/* Isolation: the next unit under a savepoint, or COMMIT when none is left. */
static void next_unit(struct writer *w)
{
	if (w->nstack == 0 && w->probing) {
		rollback(w, AR_PROBED);
		return;
	}
	if (w->nstack == 0) {
		buf_reset(&w->sql);
		buf_puts(&w->sql, "COMMIT");
		send_sql(w, PH_COMMIT);
		return;
	}
	w->nstack--;
	if (!load_unit(w, &w->stack[w->nstack])) {
		set_fail(w, "53200", "out of memory isolating rows", NULL, NULL);
		rollback(w, AR_DONE);
		return;
	}
	buf_reset(&w->sql);
	buf_puts(&w->sql, "SAVEPOINT " SAVEPOINT);
	send_sql(w, PH_SAVEPOINT);
}

static void start_isolation(struct writer *w)
{
	struct unit all = { U_RED, 0, (uint32_t)w->b->red.n };

	w->s->st.isolations++;
	w->isolating = true;
	w->nstack = 0;
	if ((w->nval > 0 && !push(w, U_VAL, 0, (uint32_t)w->nval)) || !split(w, &all)) {
		set_fail(w, "53200", "out of memory isolating rows", NULL, NULL);
		fail_all(w, w->fail_err);
		return;
	}
	begin_tx(w);
}

/* Errors a single row can cause (data, constraints, triggers, limits), worth
 * isolating; the rest (missing table or column, privileges, ...) fail every row. */
static bool row_level(const char *sqlstate)
{
	static const char *const batch_classes[] = {
		"42", "0A", "25", "26", "3D", "3F", "55", "57", "58", "XX", "F0", "28", "2B", "34",
	};
	size_t i;

	for (i = 0; i < sizeof(batch_classes) / sizeof(batch_classes[0]); i++)
		if (strncmp(sqlstate, batch_classes[i], 2) == 0)
			return false;
	return true;
}

static void schedule_retry(struct writer *w)
{
	struct batch *b = w->b;
	struct sink *s = w->s;
	int64_t wait;
	struct timeval tv;
	int shift;

	b->attempts++;
	if (b->attempts > s->maxretrytimes && (!b->immediate || s->draining)) {
		log_warning(w->prefix, "giving up on a batch of %zu rows of %s.%s after %d retries: %s",
			    b->n, b->tab->conf.targetschema, b->tab->conf.name, s->maxretrytimes,
			    w->fail_err ? w->fail_err->message : "");
		fail_all(w, w->fail_err);
		return;
	}
	s->st.retries++;
	shift = b->attempts - 1 < 20 ? b->attempts - 1 : 20;
	wait = (int64_t)(s->retrywaittime > 0 ? s->retrywaittime : 1) << shift;
	if (wait > RETRY_CAP_MS)
		wait = RETRY_CAP_MS;
	wait += (int64_t)(sink_random(s) % (uint64_t)(wait / 2 + 1));
	log_warning(w->prefix, "batch of %zu rows of %s.%s failed (%s: %s); retry %d of %d in %lld ms",
		    b->n, b->tab->conf.targetschema, b->tab->conf.name,
		    w->fail_err ? w->fail_err->sqlstate : "", w->fail_err ? w->fail_err->message : "",
		    b->attempts, s->maxretrytimes, (long long)wait);
	w->state = W_WAIT;
	tv.tv_sec = wait / 1000;
	tv.tv_usec = (wait % 1000) * 1000;
	evtimer_add(w->retry_ev, &tv);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct writer *w = arg;

	(void)fd;
	(void)what;
	if (w->b)
		begin_attempt(w);
}

/* A statement of the batch failed. */
static void step_failed(struct writer *w, const struct pc_result *r)
{
	const char *state = r->sqlstate;
	struct berr *e;

	set_fail(w, state, r->message, r->detail, r->hint);
	if (r->event == PC_LOST || pc_transient(state)) {
		rollback(w, AR_RETRY);
		return;
	}
	if (strcmp(state, "42703") == 0 || strcmp(state, "42P01") == 0 ||
	    strcmp(state, "42P10") == 0 || strcmp(state, "42804") == 0)
		sink_table_stale(w->b->tab);
	if (!row_level(state)) {
		rollback(w, AR_DONE);
		return;
	}
	if (!w->isolating) {
		if (w->b->red.n == 1 && w->b->red.rows[0].nsrc == 1) {
			rollback(w, AR_DONE);
			return;
		}
		rollback(w, AR_ISOLATE);
		return;
	}
	/* inside a savepoint: undo the unit and split it, or it is a bad row */
	e = w->fail_err;
	if (w->cur.kind == U_SRC) {
		mark_raw(w, w->cur.a, e);
	} else if (w->cur.kind == U_VAL && w->un == 1) {
		mark_raw(w, w->uraw[0], e);
	} else if (w->cur.kind == U_RED && w->cur.b - w->cur.a == 1 &&
		   w->b->red.rows[w->cur.a].nsrc == 1) {
		mark_reduced(w, w->cur.a, e);
	} else if (!split(w, &w->cur)) {
		set_fail(w, "53200", "out of memory isolating rows", NULL, NULL);
		rollback(w, AR_DONE);
		return;
	}
	reset_unit(w);
	buf_reset(&w->sql);
	buf_puts(&w->sql, "ROLLBACK TO SAVEPOINT " SAVEPOINT);
	send_sql(w, PH_ROLLBACK_TO);
}

static void after_rollback(struct writer *w)
{
	size_t i;

	switch (w->after) {
	case AR_RETRY:
		/* a new attempt starts from scratch (once it is known the last one
		 * did not commit) */
		for (i = 0; i < w->b->n && !w->commit_unknown; i++) {
			w->b->outcome[i] = ROW_PENDING;
			berr_unref(w->b->err[i]);
			w->b->err[i] = NULL;
			if (w->executed)
				w->executed[i] = 0;
		}
		reset_unit(w);
		w->probed = false;
		schedule_retry(w);
		return;
	case AR_PROBED:
		w->probed = true;
		begin_attempt(w);
		return;
	case AR_ISOLATE:
		start_isolation(w);
		return;
	case AR_DONE:
		fail_all(w, w->fail_err);
		return;
	}
}

/* The answer to txid_status() after a COMMIT was cut off. */
static void txid_checked(struct writer *w, const struct pc_result *r)
{
	const char *st = r->ok && r->rows && PQntuples(r->rows) == 1 && !PQgetisnull(r->rows, 0, 0) ?
			 PQgetvalue(r->rows, 0, 0) : NULL;

	if (r->event == PC_LOST || (st && strcmp(st, "in progress") == 0)) {
		/* ask again later */
		rollback(w, AR_RETRY);
		return;
	}
	w->commit_unknown = false;
	if (st && strcmp(st, "committed") == 0) {
		log_info(w->prefix, "the batch of %s.%s committed before the connection was lost",
			 w->b->tab->conf.targetschema, w->b->tab->conf.name);
		finish_batch(w);
		return;
	}
	/* aborted, or too old to know (NULL): it did not commit */
	for (size_t i = 0; i < w->b->n; i++) {
		w->b->outcome[i] = ROW_PENDING;
		berr_unref(w->b->err[i]);
		w->b->err[i] = NULL;
	}
	w->probed = false;
	begin_attempt(w);
}

/* The whole batch (not isolating): the BEGIN part, then every row. */
static void start_body(struct writer *w)
{
	struct unit all = { U_RED, 0, (uint32_t)w->b->red.n };

	if (!load_unit(w, &all)) {
		w->pre_n = 0;
		set_fail(w, "53200", "out of memory", NULL, NULL);
		rollback(w, AR_DONE);
		return;
	}
	next_step(w);
}

static void commit_done(struct writer *w, const struct pc_result *r)
{
	if (r->cmdstatus && strcmp(r->cmdstatus, "COMMIT") != 0) {
		set_fail(w, "40000", "the batch transaction was rolled back", NULL, NULL);
		rollback(w, AR_RETRY);
		return;
	}
	if (w->stage_in_tx)
		stage_done(w);
	finish_batch(w);
}

static void step_done(struct writer *w, const struct pc_result *r)
{
	bool commit_sent = w->phase == PH_COMMIT || (w->phase == PH_BODY && w->q_commit);

	if (w->phase == PH_BODY && q_txid(w) && !w->xid[0] && r->nresults >= w->q_npre &&
	    r->rows && PQntuples(r->rows) == 1 && PQnfields(r->rows) == 1)
		snprintf(w->xid, sizeof(w->xid), "%s", PQgetvalue(r->rows, 0, 0));
	if (w->phase == PH_ROLLBACK) {
		after_rollback(w);
		return;
	}
	if (w->phase == PH_TXID) {
		txid_checked(w, r);
		return;
	}
	if (!r->ok && commit_sent && w->xid[0] &&
	    (r->event == PC_LOST || strncmp(r->sqlstate, "08", 2) == 0)) {
		/* cut off on its way: it may have committed */
		w->commit_unknown = true;
		set_fail(w, "08007", "connection lost during COMMIT: the outcome of the batch is unknown",
			 r->message, NULL);
		rollback(w, AR_RETRY);
		return;
	}
	if (!r->ok) {
		if (w->phase == PH_ROLLBACK_TO || w->phase == PH_RELEASE || w->phase == PH_SAVEPOINT ||
		    w->phase == PH_BEGIN || (w->phase == PH_BODY && r->nresults < w->q_npre)) {
			/* the transaction machinery itself failed: retry the batch, or give up */
			set_fail(w, r->sqlstate, r->message, r->detail, r->hint);
			rollback(w, r->event == PC_LOST || pc_transient(r->sqlstate) ? AR_RETRY : AR_DONE);
			return;
		}
		step_failed(w, r);
		return;
	}
	switch (w->phase) {
	case PH_BEGIN:
		if (r->rows && PQntuples(r->rows) == 1)
			snprintf(w->xid, sizeof(w->xid), "%s", PQgetvalue(r->rows, 0, 0));
		if (!w->isolating)
			start_body(w);
		else
			next_unit(w);
		return;
	case PH_BODY:
		if (w->q_commit) {
			commit_done(w, r);
			return;
		}
		next_step(w);
		return;
	case PH_SAVEPOINT:
		next_step(w);
		return;
	case PH_RELEASE:
	case PH_ROLLBACK_TO:
		next_unit(w);
		return;
	case PH_COMMIT:
		commit_done(w, r);
		return;
	default:
		return;
	}
}

/* ---- connection and batch start ---- */

static void begin_attempt(struct writer *w)
{
	const char *params[1];

	if (!pc_connected(w->pc)) {
		w->state = W_CONNECTING;
		w->nstage = 0;
		pc_connect(w->pc, w->s->kw, w->s->val, CONNECT_TIMEOUT_MS);
		return;
	}
	if (w->commit_unknown) {
		w->state = W_RUN;
		w->phase = PH_TXID;
		params[0] = w->xid;
		pc_params(w->pc, "SELECT pg_catalog.txid_status($1::pg_catalog.int8)", 1, params);
		return;
	}
	w->state = W_RUN;
	w->isolating = false;
	w->probing = false;
	w->nstack = 0;
	if (!reduce(w)) {
		set_fail(w, "53200", "out of memory reducing a batch", NULL, NULL);
		fail_all(w, w->fail_err);
		return;
	}
	if ((w->b->mode == CONFLICT_UPDATE || w->spellings_differ) && w->nval > 0 && !w->probed) {
		w->isolating = true;
		w->probing = true;
		if (!push(w, U_VAL, 0, (uint32_t)w->nval)) {
			set_fail(w, "53200", "out of memory", NULL, NULL);
			fail_all(w, w->fail_err);
			return;
		}
	}
	begin_tx(w);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* True when the rows of one reduced key spell it differently ('1.0', '1.00'). */
static bool key_spellings_differ(const struct batch *b, const struct key_red_row *r)
{
	const struct sg_table *t = &b->cat->t;
	sg_row first = b->rows[b->red.srcs[r->src]]->vals, other;
	uint32_t i;
	int k;

	for (i = 1; i < r->nsrc; i++) {
		other = b->rows[b->red.srcs[r->src + i]]->vals;
		for (k = 0; k < t->nkey; k++) {
			const struct sg_val *x = &first[t->key[k]], *y = &other[t->key[k]];

			if (x->state != y->state || x->len != y->len ||
			    (x->len && memcmp(x->text, y->text, x->len) != 0))
				return true;
		}
	}
	return false;
}

/* Reduces the rows not yet failed; srcs index the batch's rows. */
static bool reduce(struct writer *w)
{
	struct batch *b = w->b;
	struct key_row_in *in = calloc(b->n + 1, sizeof(*in));
	uint32_t *map = calloc(b->n + 1, sizeof(*map));
	size_t i, n = 0;
	bool ok;

	if (in == NULL || map == NULL) {
		free(in);
		free(map);
		return false;
	}
	for (i = 0; i < b->n; i++) {
		if (b->outcome[i] == ROW_FAILED)
			continue;
		map[n] = (uint32_t)i;
		in[n].key = b->rows[i]->key;
		in[n].keylen = b->rows[i]->keylen;
		in[n].hash = b->rows[i]->hash;
		in[n].exact = b->rows[i]->exact;
		in[n].vals = b->rows[i]->vals;
		n++;
	}
	key_reduction_free(&b->red);
	ok = key_reduce(in, n, &b->cat->t, b->mode, &b->red);
	free(in);
	if (ok)
		for (i = 0; i < n; i++)
			b->red.srcs[i] = map[b->red.srcs[i]];
	free(map);
	if (!ok)
		return false;
	free_validation(w);
	w->spellings_differ = false;
	w->executed = calloc(b->n + 1, 1);
	w->val = calloc(b->n + 1, sizeof(*w->val));
	if (w->executed == NULL || w->val == NULL)
		return false;
	for (i = 0; i < b->red.n; i++) {
		const struct key_red_row *r = &b->red.rows[i];
		uint32_t k, from = 0, to = r->nsrc;

		if (r->nsrc < 2 || w->probed)
			continue;
		if (b->mode == CONFLICT_UPSERT && !w->spellings_differ)
			w->spellings_differ = key_spellings_differ(b, r);
		if (b->mode == CONFLICT_UPSERT)
			to = r->nsrc - 1;       /* the last row is the one written */
		else if (b->mode == CONFLICT_IGNORE)
			from = 1;               /* the first row is the one written */
		for (k = from; k < to; k++)
			w->val[w->nval++] = b->red.srcs[r->src + k];
	}
	/* arrival order */
	qsort(w->val, w->nval, sizeof(*w->val), cmp_u32);
	return true;
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct writer *w = arg;

	(void)fd;
	(void)what;
	if (w->b)
		return;
	w->b = sink_take_batch(w->s, w->idx);
	if (w->b == NULL) {
		if (w->s->drain_reported && pc_connected(w->pc)) {
			pc_close(w->pc);
			w->state = W_DOWN;
		}
		return;
	}
	w->b->attempts = 0;
	w->probed = false;
	w->commit_unknown = false;
	begin_attempt(w);
}

static void on_pc(void *arg, const struct pc_result *r)
{
	struct writer *w = arg;

	switch (r->event) {
	case PC_CONNECTED:
		if (!r->ok) {
			log_warning(w->prefix, "cannot connect to the backend: %s", r->message);
			w->state = W_DOWN;
			if (w->b) {
				set_fail(w, r->sqlstate[0] ? r->sqlstate : "08001", r->message, NULL, NULL);
				for (size_t i = 0; i < w->b->n; i++)
					w->b->outcome[i] = ROW_PENDING;
				schedule_retry(w);
			}
			return;
		}
		log_debug(w->prefix, "connected");
		w->state = W_IDLE;
		if (w->b)
			begin_attempt(w);
		else
			writer_kick(w);
		return;
	case PC_LOST:
		w->nstage = 0;
		if (w->b == NULL || w->state != W_RUN) {
			log_info(w->prefix, "connection to the backend closed: %s",
				 r->message ? r->message : "");
			if (w->state != W_WAIT)
				w->state = W_DOWN;
			return;
		}
		step_done(w, r);
		return;
	case PC_DONE:
		if (w->b == NULL)
			return;
		step_done(w, r);
		return;
	}
}
