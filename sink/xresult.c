/* What the results of a batch's Query mean: each row's outcome, the pieces split or rejected, and what the writer does next. */
#include "sink/exec.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* The error as its client hears it: the position and context belong to the
 * statement pgbatchd wrote, except an INSERT ... VALUES's context (a trigger's,
 * a function's), which is what the client's own INSERT would have. */
static struct berr *client_error(const struct pc_result *r, bool values)
{
	struct pkt_diag d = *r->diag;

	d.f[pkt_diag_index('P')] = NULL;
	if (!values)
		d.f[pkt_diag_index('W')] = NULL;
	return berr_from_diag(&d);
}

/* Citus re-raises a worker's error in COPY, and in the COPY it runs for an
 * INSERT ... SELECT, as XX000 with the worker's message: a duplicate key or a
 * CHECK of one row reads like an internal error of the batch. Such a failure
 * is isolated, with INSERT ... VALUES pieces (exec.c), whose errors Citus
 * passes on with their own SQLSTATE; an XX000 there is a real one. */
static bool citus_masked(const struct xrun *x, const struct xstmt *st, const char *sqlstate)
{
	return x->s->kind == BACKEND_CITUS && !st->values && strcmp(sqlstate, "XX000") == 0;
}

static void set_rows(struct xstmt *st, enum row_outcome o)
{
	for (uint32_t i = 0; i < st->n; i++)
		st->rows[i]->outcome = (uint8_t)o;
}

struct rslot {
	uint64_t route;
	uint32_t row;       /* + 1; 0: empty */
};

/* RETURNING named the rows it wrote: the others were kept out (DO NOTHING, or
 * a trigger). False when a returned key cannot be matched to exactly one row. */
static bool map_returned(struct xstmt *st, const PGresult *res)
{
	const struct tcat *cat = st->rows[0]->cat;
	struct rslot *map;
	const char *vals[64];
	size_t cap = 16, i, h;
	uint64_t route;
	int nt = PQntuples(res), k, j;
	bool ok = true;

	if (cat->t.nkey > 64 || PQnfields(res) != cat->t.nkey)
		return false;
	while (cap < 2 * (size_t)st->n + 16)
		cap *= 2;
	map = calloc(cap, sizeof(*map));
	if (map == NULL)
		return false;
	for (i = 0; i < st->n; i++) {
		if (!st->rows[i]->has_route || !st->rows[i]->exact) {
			ok = false;
			goto out;
		}
		for (h = st->rows[i]->route & (cap - 1); map[h].row; h = (h + 1) & (cap - 1))
			if (map[h].route == st->rows[i]->route) {
				ok = false;     /* two rows of one key: the plan never does that */
				goto out;
			}
		map[h].route = st->rows[i]->route;
		map[h].row = (uint32_t)i + 1;
	}
	set_rows(st, ROW_SKIPPED);
	for (j = 0; j < nt && ok; j++) {
		for (k = 0; k < cat->t.nkey; k++)
			vals[k] = PQgetisnull(res, j, k) ? NULL : PQgetvalue(res, j, k);
		if (!returned_route(cat, vals, &route)) {
			ok = false;
			break;
		}
		for (h = route & (cap - 1); map[h].row && map[h].route != route; h = (h + 1) & (cap - 1))
			;
		if (!map[h].row || st->rows[map[h].row - 1]->outcome == ROW_OK) {
			ok = false;
			break;
		}
		st->rows[map[h].row - 1]->outcome = ROW_OK;
	}
out:
	free(map);
	return ok;
}

/* A statement that succeeded: its rows' outcomes. False: they cannot be told. */
static bool stmt_ok(struct xrun *x, struct xstmt *st, const PGresult *res)
{
	const char *tuples;
	uint64_t count;

	if (st->kind != X_WRITE)
		return true;
	if (!x->counts) {
		set_rows(st, ROW_OK);
		return true;
	}
	tuples = PQcmdTuples((PGresult *)res);
	count = tuples && tuples[0] ? strtoull(tuples, NULL, 10) : st->n;
	if (count == st->n) {
		set_rows(st, ROW_OK);
		return true;
	}
	if (st->returning && PQresultStatus(res) == PGRES_TUPLES_OK)
		return map_returned(st, res);
	if (st->n == 1 && count == 0) {
		set_rows(st, ROW_SKIPPED);
		return true;
	}
	return false;
}

/* The row pieces of one unit: rows [ra, rb) halved by live rows. */
static bool split_rows(struct xrun *x, size_t at, const struct piece *p, uint32_t nlive)
{
	const struct sink_unit *u = x->b->units[p->ua];
	struct piece a = *p, b2 = *p;
	uint32_t k, seen = 0, mid = p->rb;

	a.in_unit = b2.in_unit = true;
	if (!p->in_unit) {
		a.ra = 0;
		a.rb = b2.rb = u->nrows;
	}
	for (k = a.ra; k < a.rb; k++)
		if (xrun_row_live(u->rows[k]) && seen++ == nlive / 2) {
			mid = k;
			break;
		}
	a.rb = mid;
	b2.ra = mid;
	a.done = b2.done = false;
	x->s->st.splits++;
	return xrun_work_replace(x, at, &a, &b2);
}

static void doom(struct sink_unit *u, struct berr *e, uint32_t stmt)
{
	u->doomed = true;
	u->err_stmt = (int)stmt;
	berr_unref(u->err);
	u->err = berr_ref(e);
	for (uint32_t i = 0; i < u->nrows; i++)
		u->rows[i]->outcome = ROW_DROPPED;
}

static void reject_row(struct sink_unit *u, struct srow *r, struct berr *e)
{
	uint32_t i;

	r->outcome = ROW_FAILED;
	berr_unref(r->err);
	r->err = berr_ref(e);
	u->nrejected++;
	/* the client hears of its first rejected row */
	for (i = 0; i < u->nrows && u->rows[i] != r; i++)
		if (u->rows[i]->outcome == ROW_FAILED)
			return;
	berr_unref(u->err);
	u->err = berr_ref(e);
	u->err_stmt = (int)r->stmt;
}

static bool unit_strict(const struct sink_unit *u)
{
	for (int i = 0; i < u->nstmts; i++)
		if (u->stmts[i].tab->conf.exceptionmode == EXC_STRICT)
			return true;
	return false;
}

/* The next probe of a unit's statements: rows of statements [0, mid]. */
static bool probe_next(struct xrun *x, size_t at, struct piece *p)
{
	const struct sink_unit *u = x->b->units[p->ua];
	uint32_t mid = (p->slo + p->shi) / 2;

	p->in_unit = true;
	p->ra = 0;
	p->rb = u->stmts[mid].first + u->stmts[mid].n;
	p->done = false;
	x->s->st.splits++;
	return xrun_work_replace(x, at, p, NULL);
}

/* A probe piece succeeded (and was undone): statements [0, mid] are good. */
static bool probe_passed(struct xrun *x, size_t at)
{
	struct piece p = x->work[at];
	struct sink_unit *u = x->b->units[p.ua];

	for (uint32_t k = 0; k < u->nrows; k++)
		if (u->rows[k]->outcome == ROW_OK || u->rows[k]->outcome == ROW_SKIPPED)
			u->rows[k]->outcome = ROW_PENDING;
	p.slo = (p.slo + p.shi) / 2 + 1;
	if (p.slo >= p.shi) {
		doom(u, u->probe_err, p.shi);
		return xrun_work_remove(x, at);
	}
	return probe_next(x, at, &p);
}

/* Isolating: piece work[at] failed with e. It is rolled back (X_UNDO next);
 * it is split, or its unit rejected, or its one row rejected. */
static bool piece_failed(struct xrun *x, size_t at, struct berr *e, const char *sqlstate)
{
	struct piece p = x->work[at], a, b2;
	struct sink_unit *u;
	uint32_t k, from, to, nlive = 0, last = 0;

	/* what it wrote is undone */
	for (uint32_t i = p.ua; i < p.ub; i++) {
		u = x->b->units[i];
		from = p.in_unit ? p.ra : 0;
		to = p.in_unit ? p.rb : u->nrows;
		for (k = from; k < to; k++)
			if (u->rows[k]->outcome == ROW_OK || u->rows[k]->outcome == ROW_SKIPPED)
				u->rows[k]->outcome = ROW_PENDING;
	}
	if (!p.in_unit && p.ub - p.ua >= 2) {
		a = b2 = p;
		a.ub = b2.ua = p.ua + (p.ub - p.ua) / 2;
		x->s->st.splits++;
		return xrun_work_replace(x, at, &a, &b2);
	}
	u = x->b->units[p.ua];
	/* a privilege or policy refusal (42501) is the statement's, as directly:
	 * the unit fails whatever its exceptionmode */
	if ((unit_strict(u) || strcmp(sqlstate, "42501") == 0) && strcmp(sqlstate, "21000") != 0) {
		if (p.probe) {
			/* statements [0, mid] fail: the first failing one is in [slo, mid] */
			p.shi = (p.slo + p.shi) / 2;
			berr_unref(u->probe_err);
			u->probe_err = berr_ref(e);
		} else if (u->nstmts > 1) {
			p.probe = true;
			p.slo = 0;
			p.shi = (uint32_t)u->nstmts - 1;
			berr_unref(u->probe_err);
			u->probe_err = berr_ref(e);
		}
		if (!p.probe || p.slo == p.shi) {
			doom(u, p.probe ? u->probe_err : e, p.probe ? p.shi : 0);
			return xrun_work_remove(x, at);
		}
		return probe_next(x, at, &p);
	}
	from = p.in_unit ? p.ra : 0;
	to = p.in_unit ? p.rb : u->nrows;
	for (k = from; k < to; k++)
		if (xrun_row_live(u->rows[k])) {
			nlive++;
			last = k;
		}
	if (nlive > 1)
		return split_rows(x, at, &p, nlive);
	if (nlive == 1)
		reject_row(u, u->rows[last], e);
	return xrun_work_remove(x, at);
}

enum xresult xrun_result(struct xrun *x, const struct pc_result *r)
{
	size_t done = (size_t)r->nresults, i;
	struct xstmt *st;
	bool commit_in_query = false, commit_done = false, values;
	struct berr *e;
	const char *state;

	for (i = 0; i < x->nq; i++)
		commit_in_query |= x->q[i].kind == X_COMMIT;
	for (i = 0; i < done && i < x->nq; i++) {
		st = &x->q[i];
		if (st->kind == X_COMMIT)
			commit_done = true;
		if (st->kind == X_RELEASE && st->piece != UINT32_MAX && st->piece < x->nwork)
			x->work[st->piece].done = true;
		if ((st->kind == X_FENCE_PREP || st->kind == X_FENCE_DROP) && x->fence_gen)
			x->fence_gen[st->stage_tab] = st->kind == X_FENCE_PREP ? st->stage_gen : 0;
		if (st->kind == X_LEDGER_PREP && x->ledger_prep)
			*x->ledger_prep = true;
		if (st->kind == X_LOCK && x->lock_prep)
			*x->lock_prep = true;
		if (!stmt_ok(x, st, r->results[i]))
			return XR_SINGLES;
	}
	if (r->ok && done >= x->nq && x->probe_wait) {
		for (i = 0; i < x->nq; i++)
			if (x->q[i].kind == X_PROBE_UNDO && x->q[i].piece < x->nwork) {
				if (!probe_passed(x, x->q[i].piece)) {
					x->err = berr_new("53200", "out of memory isolating rejected rows", NULL, NULL);
					return XR_FAIL;
				}
				break;
			}
		x->probe_wait = false;
		x->it_open = false;
		x->planned = false;
		plan_free(&x->plan);
		return XR_NEXT;
	}
	if (r->ok && done >= x->nq)
		return commit_in_query ? XR_COMMITTED : XR_NEXT;
	berr_unref(x->err);
	x->err = NULL;
	state = r->sqlstate[0] ? r->sqlstate : "08006";
	if (r->event == PC_LOST || pc_transient(state) || done >= x->nq) {
		x->err = berr_from_diag(r->diag);
		/* a lost connection, or an error in the COMMIT's place (a backend
		 * killed then says so for whatever it ran), leaves its outcome
		 * unknown; an error at an earlier statement ended the Query before
		 * the COMMIT ran */
		x->ambiguous = commit_in_query && !commit_done &&
			       (r->event == PC_LOST || done >= x->nq || x->q[done].kind == X_COMMIT);
		return XR_TRANSIENT;
	}
	x->fail_at = (int)done;
	st = &x->q[done];
	values = st->values;
	switch ((enum xkind)st->kind) {
	case X_CHECK:
		if (strcmp(state, "22012") == 0)
			return XR_CATALOG;
		/* fall through */
	case X_FENCE_PREP:
	case X_FENCE_DROP:
	case X_LOCK:
		x->err = berr_from_diag(r->diag);
		if ((x->fence_gen || x->lock_prep) && (strcmp(state, "26000") == 0 || strcmp(state, "42P05") == 0)) {
			/* the connection's prepared statements are not what the
			 * writer noted: it rolls back and writes the batch again
			 * with their texts, until it reconnects */
			log_warning(SINK_PREFIX, "batch %llu: the fence's prepared checks are out of step (%s): "
				    "preparing them again", (unsigned long long)x->b->id, state);
			x->fence_lost = true;
			return XR_TRANSIENT;
		}
		return XR_FAIL;
	case X_LEDGER:
	case X_LEDGER_PREP:
		x->err = berr_from_diag(r->diag);
		if (x->ledger_prep && (strcmp(state, "26000") == 0 || strcmp(state, "42P05") == 0)) {
			log_warning(SINK_PREFIX, "batch %llu: the ledger's prepared INSERT is out of step (%s): "
				    "its text from now on", (unsigned long long)x->b->id, state);
			x->fence_lost = true;
			return XR_TRANSIENT;
		}
		if (ledger_conflict(x->s, state, r->diag)) {
			/* committed by an attempt whose answer was lost and not noticed */
			log_error(SINK_PREFIX, "batch %llu is in the ledger already: its rows are counted as written",
				  (unsigned long long)x->b->id);
			for (i = 0; i < x->b->n; i++)
				if (x->b->rows[i]->outcome == ROW_PENDING)
					x->b->rows[i]->outcome = ROW_OK;
			return XR_ALREADY;
		}
		return XR_LEDGER_GONE;
	case X_WRITE:
	case X_COPY_STAGE:
	case X_CLEAR_STAGE:
		break;
	case X_COMMIT:
	case X_IMMEDIATE:
		/* a deferred constraint: isolating sets them immediate */
		if (!x->isolating && sqlstate_row_level(state))
			return XR_ISOLATE;
		/* fall through */
	default:
		x->err = berr_from_diag(r->diag);
		return XR_FAIL;
	}
	if (st->tab && (strcmp(state, "42703") == 0 || strcmp(state, "42P01") == 0 ||
			strcmp(state, "42P10") == 0 || strcmp(state, "42804") == 0))
		sink_table_stale(st->tab);
	if (!sqlstate_row_level(state) && !citus_masked(x, st, state)) {
		x->err = client_error(r, values);
		return XR_FAIL;
	}
	if (!x->isolating)
		return XR_ISOLATE;
	e = client_error(r, values);
	if (e == NULL || st->piece >= x->nwork || !piece_failed(x, st->piece, e, state)) {
		berr_unref(e);
		x->err = berr_new("53200", "out of memory isolating rejected rows", NULL, NULL);
		return XR_FAIL;
	}
	berr_unref(e);
	/* on from the failed piece (its halves), behind an undo of what it did */
	x->it = st->piece;
	x->it_open = false;
	x->planned = false;
	x->probe_wait = false;
	plan_free(&x->plan);
	for (i = st->piece; i < x->nwork; i++)
		x->work[i].done = false;
	x->undo = true;
	x->commit_sent = false;
	return XR_NEXT;
}

