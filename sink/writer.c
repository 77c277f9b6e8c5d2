/* A writer: one libpq connection writing one batch at a time; attempts, retries, and a lost COMMIT answer resolved from the ledger. */
#include "sink/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/later.h"
#include "common/log.h"
#include "sink/exec.h"
#include "sink/fence.h"
#include "sink/pgconn.h"

#define CONNECT_TIMEOUT_MS 10000
#define RETRY_CAP_MS 30000
#define PROBE_LOCK_TIMEOUT "10s"
/* A batch in flight this long says, once, what it waits for. */
#define WAIT_LOG_MS 5000

/* A writer's life. Changed only by set_state(), which rejects illegal moves. */
enum wstate {
	W_DOWN = 0,     /* no connection, nothing to write */
	W_CONNECTING,
	W_SETUP,        /* connected: the session's output settings go first */
	W_IDLE,         /* connected, no batch */
	W_TX,           /* a batch's transaction is running */
	W_ROLLBACK,     /* rolling an attempt back; `after` says what follows */
	W_PROBE,        /* asking the ledger whether a COMMIT whose answer was lost ran */
	W_BACKOFF,      /* waiting to retry the batch */
	W_REBASE,       /* a table changed under the batch: reading its columns now (fence.h) */
	W_STATES
};

/* What follows a rollback. */
enum after { AF_RETRY = 0, AF_AGAIN, AF_ISOLATE, AF_SINGLES, AF_FAIL, AF_COMMITTED, AF_REBASE };

/* Rebases of one batch before its catalog is no longer checked (DDL without end). */
#define REBASE_MAX 5

struct writer {
	struct sink *s;
	int idx;
	char prefix[32];
	struct pgconn *pc;
	enum wstate state;
	struct event *kick_ev;
	struct later *take;         /* a batch settled: the next taken before its answers go */
	struct event *retry_ev;
	struct event *wait_ev;      /* WAIT_LOG_MS after its batch began */
	uint64_t wait_logged;       /* the batch whose wait was logged */
	struct batch *b;
	struct xrun x;
	bool isolating, singles;    /* the mode of the batch's next attempt */
	enum after after;
	struct berr *fail_err;
	/* a COMMIT whose answer was lost: the ledger tells whether it ran */
	bool unknown;
	int rebases;                /* of the batch */
	bool fence_func;            /* pg_temp.pgbatchd_fp exists on its connection */
	bool fence_func_sent;       /* its CREATE was in the setup Query */
	bool fence_prep_off;        /* no prepared statements (fence, ledger) on this connection */
	bool ledger_prep;           /* pgbatchd_ledger is prepared on it */
	bool lock_prep;             /* pgbatchd_lock is */
	uint32_t *fence_gen;        /* per table index: the snapshot its prepared check is for */
	int old_pid;
	char old_start[64];
	int backend_pid;
	const char *own_role;       /* its session user (sink_role), NULL: not known */
	char backend_start[64];
	uint32_t *stage_gen;        /* per table index: the staging table's catalog generation */
	int nstage;
	struct buf sql;
	char last_error[256];       /* its last failure, for SHOW WRITERS */
};

static const char *const wstate_names[W_STATES] = {
	"down", "connecting", "setup", "idle", "tx", "rollback", "probe", "backoff", "rebase",
};

static void set_state(struct writer *w, enum wstate to)
{
	static const unsigned allowed[W_STATES] = {
		[W_DOWN] = 1u << W_CONNECTING | 1u << W_DOWN | 1u << W_BACKOFF,
		[W_CONNECTING] = 1u << W_SETUP | 1u << W_DOWN | 1u << W_BACKOFF,
		[W_SETUP] = 1u << W_IDLE | 1u << W_TX | 1u << W_PROBE | 1u << W_ROLLBACK | 1u << W_DOWN |
			    1u << W_BACKOFF,
		[W_IDLE] = 1u << W_TX | 1u << W_PROBE | 1u << W_ROLLBACK | 1u << W_DOWN | 1u << W_BACKOFF,
		[W_TX] = 1u << W_TX | 1u << W_ROLLBACK | 1u << W_IDLE | 1u << W_DOWN | 1u << W_BACKOFF,
		[W_ROLLBACK] = 1u << W_TX | 1u << W_PROBE | 1u << W_ROLLBACK | 1u << W_IDLE | 1u << W_DOWN |
			       1u << W_BACKOFF | 1u << W_REBASE,
		[W_REBASE] = 1u << W_TX | 1u << W_DOWN | 1u << W_BACKOFF | 1u << W_IDLE,
		[W_PROBE] = 1u << W_TX | 1u << W_ROLLBACK | 1u << W_IDLE | 1u << W_DOWN | 1u << W_BACKOFF,
		[W_BACKOFF] = 1u << W_CONNECTING | 1u << W_TX | 1u << W_PROBE | 1u << W_ROLLBACK |
			      1u << W_IDLE | 1u << W_DOWN | 1u << W_BACKOFF,
	};

	if (!(allowed[w->state] & (1u << to))) {
		log_error(w->prefix, "illegal writer state change %s -> %s", wstate_names[w->state],
			  wstate_names[to]);
		abort();
	}
	w->state = to;
}

static void on_pc(void *arg, const struct pc_result *r);
static void on_kick(evutil_socket_t fd, short what, void *arg);
static void on_take(void *arg);
static void on_retry(evutil_socket_t fd, short what, void *arg);
static void begin_attempt(struct writer *w);
static void finish(struct writer *w, struct berr *failed);

/* A batch that has been in flight WAIT_LOG_MS: what blocks it, in the log
 * (an operator sees a stuck table and who holds it). */
static void on_wait(evutil_socket_t fd, short what, void *arg)
{
	struct writer *w = arg;
	struct buf line, seen;

	(void)fd;
	(void)what;
	if (w->b == NULL || w->state != W_TX || w->wait_logged == w->b->id || w->backend_pid <= 0)
		return;
	w->wait_logged = w->b->id;
	buf_init(&line);
	buf_init(&seen);
	buf_printf(&line, "batch %llu of writer %d (%zu rows of", (unsigned long long)w->b->id, w->idx, w->b->n);
	for (size_t i = 0; i < w->b->nunits; i++)
		for (int k = 0; k < w->b->units[i]->nstmts; k++) {
			const struct stable *tab = w->b->units[i]->stmts[k].tab;
			char mark[16];

			snprintf(mark, sizeof(mark), "|%d|", tab->idx);
			if (seen.len && strstr(seen.data, mark))
				continue;
			buf_puts(&seen, mark);
			buf_printf(&line, " %s.%s", tab->conf.targetschema, tab->conf.name);
		}
	buf_printf(&line, ") has waited %d s", WAIT_LOG_MS / 1000);
	if (buf_ok(&line))
		catalog_log_blockers(w->s->catalog, w->backend_pid, line.data);
	buf_free(&line);
	buf_free(&seen);
}

struct writer *writer_new(struct sink *s, int idx)
{
	struct writer *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->s = s;
	w->idx = idx;
	snprintf(w->prefix, sizeof(w->prefix), "sink W-%d", idx);
	buf_init(&w->sql);
	w->pc = pc_new(s->base, w->prefix, on_pc, w);
	w->kick_ev = event_new(s->base, -1, EV_PERSIST, on_kick, w);
	w->take = later_new(s->base, on_take, w);
	w->retry_ev = evtimer_new(s->base, on_retry, w);
	w->wait_ev = evtimer_new(s->base, on_wait, w);
	if (!w->pc || !w->kick_ev || !w->take || !w->retry_ev || !w->wait_ev) {
		writer_free(w);
		return NULL;
	}
	return w;
}

void writer_free(struct writer *w)
{
	if (w == NULL)
		return;
	xrun_clear(&w->x);
	if (w->b)
		sched_batch_discard(w->s, w->b);
	berr_unref(w->fail_err);
	pc_free(w->pc);
	if (w->kick_ev)
		event_free(w->kick_ev);
	later_free(w->take);
	if (w->retry_ev)
		event_free(w->retry_ev);
	if (w->wait_ev)
		event_free(w->wait_ev);
	buf_free(&w->sql);
	free(w->stage_gen);
	free(w->fence_gen);
	free(w);
}

bool writer_busy(const struct writer *w)
{
	return w->b != NULL;
}

uint64_t writer_batch_id(const struct writer *w)
{
	return w->b ? w->b->id : 0;
}

void writer_stats(const struct writer *w, struct sink_writer_stats *out)
{
	const struct table_conf *tc;

	memset(out, 0, sizeof(*out));
	out->idx = w->idx;
	out->state = wstate_names[w->state];
	out->backend_pid = w->pc && w->state >= W_IDLE && w->state != W_BACKOFF ? w->backend_pid : 0;
	if (w->b && w->b->n > 0) {
		out->rows_in_flight = w->b->n;
		tc = &w->b->rows[0]->u->stmts[w->b->rows[0]->stmt].tab->conf;
		snprintf(out->table, sizeof(out->table), "%s.%s", tc->targetschema, tc->name);
	}
	snprintf(out->last_error, sizeof(out->last_error), "%s", w->last_error);
}

void writer_cancel(struct writer *w)
{
	/* only a statement of a batch's transaction: a cancel meant for it that
	 * lands on the next batch is a transient failure there */
	if (w->state == W_TX && w->backend_pid > 0)
		catalog_cancel_backend(w->s->catalog, w->backend_pid);
}

void writer_abort(struct writer *w, struct berr *e)
{
	if (w->b == NULL) {
		pc_close(w->pc);
		if (w->state != W_DOWN)
			set_state(w, W_DOWN);
		return;
	}
	evtimer_del(w->retry_ev);
	log_warning(w->prefix, "shutdown: batch %llu (%zu rows) is abandoned", (unsigned long long)w->b->id,
		    w->b->n);
	/* cancelled first: closing alone would let a batch waiting for a lock
	 * run to its COMMIT once it gets it */
	pc_cancel_close(w->pc);
	w->nstage = 0;
	set_state(w, W_DOWN);
	finish(w, berr_ref(e));
}

void writer_kick(struct writer *w)
{
	event_active(w->kick_ev, EV_TIMEOUT, 0);
}

static void set_fail(struct writer *w, struct berr *e)
{
	berr_unref(w->fail_err);
	w->fail_err = e;
	if (e)
		snprintf(w->last_error, sizeof(w->last_error), "%s: %s", e->sqlstate,
			 berr_field(e, 'M') ? berr_field(e, 'M') : "");
}

/* Every row back to unwritten, every decision about units undone. */
static void reset_outcomes(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->nunits; i++) {
		b->units[i]->doomed = false;
		b->units[i]->nrejected = 0;
		berr_unref(b->units[i]->err);
		b->units[i]->err = NULL;
	}
	for (i = 0; i < b->n; i++) {
		b->rows[i]->outcome = ROW_PENDING;
		berr_unref(b->rows[i]->err);
		b->rows[i]->err = NULL;
	}
}

/* The batch is over: its units settle (failed: every one gets that error). */
/* The batch is done; failed (owned, NULL: written) is its error. */
static void finish(struct writer *w, struct berr *failed)
{
	struct batch *b = w->b;

	/* Every idle writer takes what waits for it before the settled batch's
	 * clients are answered (asked first, so run first when the callback
	 * leaves; the answers, asked by the settling below, follow): the rows
	 * that arrived while this batch ran are on their way to the server
	 * while pgbatchd writes hundreds of answers, instead of after. */
	for (int i = 0; i < w->s->nwriters; i++)
		later_ask(w->s->writers[i]->take);

	xrun_clear(&w->x);
	evtimer_del(w->wait_ev);
	w->b = NULL;
	w->unknown = false;
	w->isolating = w->singles = false;
	set_state(w, pc_connected(w->pc) ? W_IDLE : W_DOWN);
	sched_batch_done(w->s, b, failed);
	berr_unref(failed);
	berr_unref(w->fail_err);
	w->fail_err = NULL;
	writer_kick(w);
}

static void connect_backend(struct writer *w)
{
	set_state(w, W_CONNECTING);
	w->nstage = 0;
	pc_connect(w->pc, w->s->kw, w->s->val, CONNECT_TIMEOUT_MS);
}

/* ---- retries ---- */

static void schedule_retry(struct writer *w)
{
	struct batch *b = w->b;
	struct sink *s = w->s;
	const char *msg = w->fail_err && berr_field(w->fail_err, 'M') ? berr_field(w->fail_err, 'M') : "";
	int64_t wait;
	struct timeval tv;
	int shift;

	int maxretry = -1, base = -1;

	/* its tables' settings ([backend]'s where they have none); of several
	 * tables, the largest */
	for (size_t i = 0; i < b->nunits; i++)
		for (int k = 0; k < b->units[i]->nstmts; k++) {
			const struct table_conf *tc = &b->units[i]->stmts[k].tab->conf;
			int m = tc->maxretrytimes >= 0 ? tc->maxretrytimes : s->maxretrytimes;
			int t = tc->retrywaittime >= 0 ? tc->retrywaittime : s->retrywaittime;

			maxretry = m > maxretry ? m : maxretry;
			base = t > base ? t : base;
		}
	if (maxretry < 0)
		maxretry = s->maxretrytimes;
	if (base < 0)
		base = s->retrywaittime;
	b->attempts++;
	if (w->fail_err && strcmp(w->fail_err->sqlstate, "40P01") == 0)
		s->st.deadlocks++;
	if (b->attempts > maxretry && (!b->immediate || s->draining)) {
		log_warning(w->prefix, "giving up on batch %llu (%zu rows) after %d retries: %s",
			    (unsigned long long)b->id, b->n, maxretry, msg);
		finish(w, w->fail_err ? berr_ref(w->fail_err) : berr_new("08006", "connection to the backend lost",
										  NULL, NULL));
		return;
	}
	if (!w->unknown)
		reset_outcomes(b);
	s->st.retries++;
	for (int t = 0; t < s->ntables; t++) {
		bool in = false;    /* (once per table the batch writes; a rare path) */

		for (size_t i = 0; i < b->nunits && !in; i++)
			for (int k = 0; k < b->units[i]->nstmts && !in; k++)
				in = b->units[i]->stmts[k].tab == s->tables[t];
		s->tables[t]->tc.retries += in;
	}
	shift = b->attempts - 1 < 20 ? b->attempts - 1 : 20;
	wait = (int64_t)(base > 0 ? base : 1) << shift;
	if (wait > RETRY_CAP_MS)
		wait = RETRY_CAP_MS;
	wait += (int64_t)(sink_random(s) % (uint64_t)(wait / 2 + 1));
	if (b->attempts <= maxretry)
		log_warning(w->prefix, "batch %llu (%zu rows) failed (%s: %s); retry %d of %d in %lld ms",
			    (unsigned long long)b->id, b->n, w->fail_err ? w->fail_err->sqlstate : "", msg,
			    b->attempts, maxretry, (long long)wait);
	else
		log_warning(w->prefix, "batch %llu (%zu rows, acknowledged) waits for the backend (%s: %s); "
			    "trying again in %lld ms", (unsigned long long)b->id, b->n,
			    w->fail_err ? w->fail_err->sqlstate : "", msg, (long long)wait);
	set_state(w, W_BACKOFF);
	tv.tv_sec = wait / 1000;
	tv.tv_usec = (wait % 1000) * 1000;
	evtimer_add(w->retry_ev, &tv);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct writer *w = arg;

	(void)fd;
	(void)what;
	if (w->b && w->state == W_BACKOFF)
		begin_attempt(w);
}

/* ---- the attempt ---- */

static void send_query(struct writer *w)
{
	if (!xrun_build(&w->x, &w->sql)) {
		set_fail(w, berr_new("53200", "out of memory building the batch's statements", NULL, NULL));
		w->after = AF_FAIL;
		set_state(w, W_ROLLBACK);
		pc_query(w->pc, "ROLLBACK");
		return;
	}
	set_state(w, W_TX);
	if (xrun_has_copy(&w->x))
		pc_copy(w->pc, w->sql.data, xrun_fill, &w->x);
	else
		pc_query(w->pc, w->sql.data);
}

static bool stages_fit(struct writer *w)
{
	uint32_t *g;

	if (w->nstage >= w->s->ntables)
		return true;
	g = realloc(w->stage_gen, (size_t)w->s->ntables * sizeof(*g));
	if (g == NULL)
		return false;
	memset(g + w->nstage, 0, (size_t)(w->s->ntables - w->nstage) * sizeof(*g));
	w->stage_gen = g;
	g = realloc(w->fence_gen, (size_t)w->s->ntables * sizeof(*g));
	if (g == NULL)
		return false;
	memset(g + w->nstage, 0, (size_t)(w->s->ntables - w->nstage) * sizeof(*g));
	w->fence_gen = g;
	w->nstage = w->s->ntables;
	return true;
}

/* Asks the ledger: its row of the batch conflicts only if the COMMIT ran. The
 * INSERT waits for a transaction still holding the row; the backend that ran
 * it, if it lingers (its client vanished without a word), is ended first. */
static void probe(struct writer *w)
{
	struct buf *q = &w->sql;

	buf_reset(q);
	buf_puts(q, "BEGIN; SET LOCAL lock_timeout = '" PROBE_LOCK_TIMEOUT "'; ");
	if (w->old_pid > 0 && w->old_start[0])
		buf_printf(q, "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity "
			   "WHERE pid = %d AND backend_start = '%s'::pg_catalog.timestamptz; ",
			   w->old_pid, w->old_start);
	ledger_insert_sql(w->s, w->b->id, q);
	buf_puts(q, "; ROLLBACK");
	if (!buf_ok(q)) {
		/* no question, no answer: asked again at the next attempt */
		set_fail(w, berr_new("53200", "out of memory asking the batch ledger", NULL, NULL));
		schedule_retry(w);
		return;
	}
	set_state(w, W_PROBE);
	pc_query(w->pc, q->data);
}

static void begin_attempt(struct writer *w)
{
	if (!pc_connected(w->pc)) {
		connect_backend(w);
		return;
	}
	if (w->unknown) {
		if (w->s->ledger_ok) {
			probe(w);
			return;
		}
		/* no ledger: the batch may be written twice (at-least-once) */
		log_warning(w->prefix, "batch %llu: the outcome of its COMMIT is unknown and there is no "
			    "ledger to ask; writing it again", (unsigned long long)w->b->id);
		w->unknown = false;
		reset_outcomes(w->b);
	}
	/* statements cancelled or past their statement_timeout are not tried again */
	if (sched_batch_drop_cancelled(w->s, w->b, 0) && w->b->nunits == 0) {
		finish(w, NULL);
		return;
	}
	if (fence_follow(w->s, w->b) > 0) {
		w->singles = true;      /* their routes were made with the old columns */
		w->isolating = false;
	}
	xrun_clear(&w->x);
	if (!stages_fit(w) ||
	    !xrun_start(&w->x, w->s, w->b, w->isolating, w->singles, w->stage_gen, w->nstage, w->own_role)) {
		finish(w, berr_new("53200", "out of memory starting a batch", NULL, NULL));
		return;
	}
	w->x.fence = w->rebases < REBASE_MAX;
	w->x.fence_func = w->fence_func;
	w->x.fence_gen = w->fence_prep_off ? NULL : w->fence_gen;
	w->x.ledger_prep = w->fence_prep_off ? NULL : &w->ledger_prep;
	w->x.lock_prep = w->fence_prep_off ? NULL : &w->lock_prep;
	if (w->isolating)
		w->b->passes++;
	send_query(w);
}

static void rollback(struct writer *w, enum after after);

static void after_rollback(struct writer *w)
{
	switch (w->after) {
	case AF_RETRY:
		schedule_retry(w);
		return;
	case AF_AGAIN:
		reset_outcomes(w->b);
		begin_attempt(w);
		return;
	case AF_ISOLATE:
		w->s->st.isolations++;
		w->isolating = true;
		reset_outcomes(w->b);
		begin_attempt(w);
		return;
	case AF_SINGLES:
		w->singles = true;
		w->isolating = false;
		reset_outcomes(w->b);
		begin_attempt(w);
		return;
	case AF_FAIL:
		finish(w, w->fail_err ? berr_ref(w->fail_err) : berr_new("XX000", "batch failed", NULL, NULL));
		return;
	case AF_REBASE:
		if (!pc_connected(w->pc)) {
			schedule_retry(w);
			return;
		}
		buf_reset(&w->sql);
		if (!fence_rebase_sql(w->s, w->b, &w->sql)) {
			finish(w, berr_new("53200", "out of memory reading a changed catalog", NULL, NULL));
			return;
		}
		w->rebases++;
		set_state(w, W_REBASE);
		pc_query(w->pc, w->sql.data);
		return;
	case AF_COMMITTED:
		/* rows whose statement's answer was lost too were written by it (a
		 * row DO NOTHING kept out is counted as written: nobody can tell) */
		for (size_t i = 0; i < w->b->n; i++)
			if (w->b->rows[i]->outcome == ROW_PENDING)
				w->b->rows[i]->outcome = ROW_OK;
		finish(w, NULL);
		return;
	}
}

static void rollback(struct writer *w, enum after after)
{
	w->after = after;
	if (!pc_connected(w->pc)) {
		/* nothing to roll back: the connection is gone */
		if (w->state != W_DOWN)
			set_state(w, W_DOWN);
		after_rollback(w);
		return;
	}
	set_state(w, W_ROLLBACK);
	pc_query(w->pc, "ROLLBACK");
}

static void tx_result(struct writer *w, const struct pc_result *r)
{
	enum xresult res = xrun_result(&w->x, r);

	if (w->x.fence_lost) {
		/* its prepared statements are out of step: rolled back and written
		 * again at once with the statements' text (not a retry: it cannot
		 * happen twice), until the connection is made anew */
		w->fence_prep_off = true;
		rollback(w, AF_AGAIN);
		return;
	}
	switch (res) {
	case XR_NEXT:
		send_query(w);
		return;
	case XR_COMMITTED:
		xrun_commit_stages(&w->x);
		finish(w, NULL);
		return;
	case XR_ALREADY:
		/* its ledger row says an earlier attempt committed it: this attempt's
		 * transaction failed on that row and is rolled back */
		rollback(w, AF_COMMITTED);
		return;
	case XR_ISOLATE:
		rollback(w, AF_ISOLATE);
		return;
	case XR_SINGLES:
		rollback(w, AF_SINGLES);
		return;
	case XR_LEDGER_GONE:
		w->s->ledger_ok = false;
		log_warning(w->prefix, "cannot write the batch ledger (%s: %s): batches whose COMMIT answer "
			    "is lost will be written again (at-least-once)", w->x.err ? w->x.err->sqlstate : "",
			    w->x.err && berr_field(w->x.err, 'M') ? berr_field(w->x.err, 'M') : "");
		rollback(w, AF_AGAIN);
		return;
	case XR_TRANSIENT:
		set_fail(w, berr_ref(w->x.err));
		if (w->x.ambiguous) {
			w->s->st.ambiguous++;
			w->unknown = true;
			w->old_pid = w->backend_pid;
			snprintf(w->old_start, sizeof(w->old_start), "%s", w->backend_start);
			log_warning(w->prefix, "batch %llu: connection lost with its COMMIT sent; its outcome is "
				    "asked of the ledger", (unsigned long long)w->b->id);
		}
		rollback(w, AF_RETRY);
		return;
	case XR_FAIL:
		if (w->x.err && strcmp(w->x.err->sqlstate, "57014") == 0) {
			/* its own statement_timeout or a cancel for one of its units:
			 * those are out and the rest is written again; a cancel meant for
			 * an earlier batch: tried again */
			if (sched_batch_drop_cancelled(w->s, w->b, 10)) {
				rollback(w, AF_AGAIN);
			} else {
				set_fail(w, berr_ref(w->x.err));
				rollback(w, AF_RETRY);
			}
			return;
		}
		set_fail(w, berr_ref(w->x.err));
		rollback(w, AF_FAIL);
		return;
	case XR_CATALOG:
		w->s->st.rebases++;
		rollback(w, AF_REBASE);
		return;
	}
}

static void rebase_result(struct writer *w, const struct pc_result *r)
{
	bool rekeyed = false;

	if (r->event == PC_LOST) {
		set_state(w, W_DOWN);
		set_fail(w, berr_from_diag(r->diag));
		schedule_retry(w);
		return;
	}
	if (!r->ok) {
		/* the catalog cannot be read: write as the rows came, unchecked */
		log_warning(w->prefix, "cannot read the catalog of a changed table: %s", r->message ? r->message : "");
		w->rebases = REBASE_MAX;
	} else if (!fence_rebase(w->s, w->b, r, w->prefix, &rekeyed)) {
		finish(w, berr_new("53200", "out of memory reading a changed catalog", NULL, NULL));
		return;
	} else if (rekeyed) {
		w->singles = true;      /* the rows' routes were made with the old key */
		w->isolating = false;
	}
	reset_outcomes(w->b);
	begin_attempt(w);
}

static void probe_result(struct writer *w, const struct pc_result *r)
{
	const char *state = r->sqlstate[0] ? r->sqlstate : "08006";

	if (r->ok) {
		/* the ledger row could be written: the COMMIT never ran */
		log_info(w->prefix, "batch %llu did not commit before the connection was lost (ledger); writing it again",
			 (unsigned long long)w->b->id);
		w->unknown = false;
		reset_outcomes(w->b);
		begin_attempt(w);
		return;
	}
	if (r->event != PC_LOST && ledger_conflict(w->s, state, r->diag)) {
		log_info(w->prefix, "batch %llu committed before the connection was lost (ledger)",
			 (unsigned long long)w->b->id);
		rollback(w, AF_COMMITTED);
		return;
	}
	set_fail(w, berr_from_diag(r->diag));
	rollback(w, AF_RETRY);
}

/* ---- the connection ---- */

static void setup_done(struct writer *w, const struct pc_result *r)
{
	const PGresult *start = r->nresults >= 3 ? r->results[2] : NULL;

	w->backend_pid = pc_backend_pid(w->pc);
	w->backend_start[0] = '\0';
	w->own_role = NULL;
	if (start && PQresultStatus(start) == PGRES_TUPLES_OK && PQntuples(start) == 1 && PQnfields(start) == 2) {
		if (!PQgetisnull(start, 0, 0))
			snprintf(w->backend_start, sizeof(w->backend_start), "%s", PQgetvalue(start, 0, 0));
		/* the role its transactions start as (its login, or a role
		 * setting's): rows of that role need no SET LOCAL ROLE */
		if (!PQgetisnull(start, 0, 1))
			w->own_role = sink_role(w->s, PQgetvalue(start, 0, 1));
	}
	/* the fence's function (a plan kept for the session), else its text inline */
	w->fence_func = r->ok && w->fence_func_sent;
	if (!r->ok)
		log_warning(w->prefix, "cannot set up the session: %s", r->message ? r->message : "");
	if (w->b) {
		begin_attempt(w);
		return;
	}
	set_state(w, W_IDLE);
	writer_kick(w);
}

static void on_take(void *arg)
{
	on_kick(-1, 0, arg);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct writer *w = arg;
	struct timeval tv = { WAIT_LOG_MS / 1000, (WAIT_LOG_MS % 1000) * 1000 };

	(void)fd;
	(void)what;
	if (w->b || (w->state != W_IDLE && w->state != W_DOWN))
		return;
	w->b = sched_take(w->s, w->idx);
	if (w->b == NULL) {
		if (w->s->drain_reported && w->state == W_IDLE) {
			pc_close(w->pc);
			set_state(w, W_DOWN);
		}
		return;
	}
	evtimer_add(w->wait_ev, &tv);
	w->isolating = w->singles = w->unknown = false;
	w->rebases = 0;
	begin_attempt(w);
}

static void on_pc(void *arg, const struct pc_result *r)
{
	struct writer *w = arg;

	switch (r->event) {
	case PC_CONNECTED:
		if (!r->ok) {
			log_warning(w->prefix, "cannot connect to the backend: %s", r->message ? r->message : "");
			if (w->b) {
				set_fail(w, berr_new(r->sqlstate[0] ? r->sqlstate : "08001", r->message, NULL, NULL));
				schedule_retry(w);
			} else {
				set_state(w, W_DOWN);
			}
			return;
		}
		log_debug(w->prefix, "connected");
		set_state(w, W_SETUP);
		w->fence_prep_off = w->ledger_prep = w->lock_prep = false;
		/* output forms the key parsers read (RETURNING); the input field
		 * order of dates stays the server's */
		buf_reset(&w->sql);
		buf_puts(&w->sql, "SET DateStyle = 'ISO'; SET extra_float_digits = 3; "
			 "SELECT backend_start::pg_catalog.text, CURRENT_USER::pg_catalog.text FROM pg_catalog.pg_stat_activity "
			 "WHERE pid = pg_catalog.pg_backend_pid(); ");
		fence_function_sql(&w->sql);
		/* Citus closes the worker connections a multi-shard statement
		 * opened beyond this many when its transaction ends (default 1):
		 * batches whose statements touch many shards (rows not grouped by
		 * shard) would open them again each time. As many as its
		 * executor opens per worker stay open instead, unless the role or
		 * database sets another number. */
		if (w->s->kind == BACKEND_CITUS)
			buf_puts(&w->sql, "; SELECT CASE WHEN pg_catalog.current_setting('citus.max_cached_conns_per_worker') "
				 "= '1' THEN pg_catalog.set_config('citus.max_cached_conns_per_worker', "
				 "COALESCE(pg_catalog.current_setting('citus.max_adaptive_executor_pool_size', "
				 "true), '16'), false) END");
		w->fence_func_sent = buf_ok(&w->sql);
		pc_query(w->pc, w->fence_func_sent ? w->sql.data :
			 "SET DateStyle = 'ISO'; SET extra_float_digits = 3; "
			 "SELECT backend_start::pg_catalog.text, CURRENT_USER::pg_catalog.text FROM pg_catalog.pg_stat_activity "
			 "WHERE pid = pg_catalog.pg_backend_pid()");
		return;
	case PC_LOST:
		w->nstage = 0;
		break;
	case PC_DONE:
		break;
	}
	switch (w->state) {
	case W_SETUP:
		if (r->event == PC_LOST) {
			set_state(w, W_DOWN);
			if (w->b) {
				set_fail(w, berr_from_diag(r->diag));
				schedule_retry(w);
			}
			return;
		}
		setup_done(w, r);
		return;
	case W_TX:
		tx_result(w, r);
		return;
	case W_ROLLBACK:
		if (r->event == PC_LOST)
			set_state(w, W_DOWN);
		after_rollback(w);
		return;
	case W_REBASE:
		rebase_result(w, r);
		return;
	case W_PROBE:
		if (r->event == PC_LOST) {
			set_state(w, W_DOWN);
			set_fail(w, berr_from_diag(r->diag));
			schedule_retry(w);
			return;
		}
		probe_result(w, r);
		return;
	case W_IDLE:
		if (r->event == PC_LOST) {
			log_info(w->prefix, "connection to the backend closed: %s", r->message ? r->message : "");
			set_state(w, W_DOWN);
		}
		return;
	default:
		return;
	}
}
