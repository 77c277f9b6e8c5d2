/* A batch's transaction as statements: pieces, write paths and the packed Queries of an attempt (their results: xresult.c). */
#include "sink/exec.h"
#include "sink/spool.h"
#include "sink/fence.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define QUERY_MAX_BYTES (1024 * 1024)   /* SQL text per Query (COPY data aside) */
#define VALUES_MAX_BYTES (256 * 1024)   /* per INSERT ... VALUES statement */
#define COPY_CHUNK 65536
#define SMALL_PIECE 64                  /* isolating: pieces this small go as INSERT ... VALUES */
#define SAVEPOINT "pgbatchd_piece"

/* ---- pieces ---- */

static bool work_reserve(struct xrun *x, size_t more)
{
	struct piece *w;
	size_t cap;

	if (x->nwork + more <= x->capwork)
		return true;
	cap = x->capwork ? x->capwork * 2 : 16;
	while (cap < x->nwork + more)
		cap *= 2;
	w = realloc(x->work, cap * sizeof(*w));
	if (w == NULL)
		return false;
	x->work = w;
	x->capwork = cap;
	return true;
}

bool xrun_work_replace(struct xrun *x, size_t at, const struct piece *a, const struct piece *b)
{
	if (b == NULL) {
		x->work[at] = *a;
		return true;
	}
	if (!work_reserve(x, 1))
		return false;
	memmove(&x->work[at + 2], &x->work[at + 1], (x->nwork - at - 1) * sizeof(*x->work));
	x->work[at] = *a;
	x->work[at + 1] = *b;
	x->nwork++;
	return true;
}

bool xrun_work_remove(struct xrun *x, size_t at)
{
	memmove(&x->work[at], &x->work[at + 1], (x->nwork - at - 1) * sizeof(*x->work));
	x->nwork--;
	return true;
}

bool xrun_row_live(const struct srow *r)
{
	return r->outcome != ROW_FAILED && r->outcome != ROW_DROPPED;
}

static bool live_unit(const struct sink_unit *u)
{
	return !u->doomed && !u->failed;
}

/* The rows of a piece still to write, in batch order. */
static bool piece_rows(struct xrun *x, const struct piece *p)
{
	const struct batch *b = x->b;
	const struct sink_unit *u;
	size_t n = 0;
	uint32_t i, k, from, to;

	free(x->prows);
	x->prows = NULL;
	x->nprows = 0;
	for (i = p->ua; i < p->ub; i++)
		n += b->units[i]->nrows;
	x->prows = calloc(n + 1, sizeof(*x->prows));
	if (x->prows == NULL)
		return false;
	for (i = p->ua; i < p->ub; i++) {
		u = b->units[i];
		if (!live_unit(u))
			continue;
		from = p->in_unit ? p->ra : 0;
		to = p->in_unit ? p->rb : u->nrows;
		for (k = from; k < to; k++)
			if (xrun_row_live(u->rows[k]))
				x->prows[x->nprows++] = u->rows[k];
	}
	return true;
}

static bool keyed(const struct srow *r, const struct stable *tab)
{
	return tab->conf.conflictmode != CONFLICT_STRICT && r->cat->t.nkey > 0;
}

/* Its shard + 1 in a table Citus spreads by hash (plan_row.shard), else 0. */
static uint32_t row_shard(const struct srow *r)
{
	const struct traits *tr = &r->cat->tr;
	const struct sg_val *v;
	int32_t h;
	int i;

	if (tr->dist_hash == DH_NONE)
		return 0;
	v = &r->vals[tr->dist_idx];
	if (v->state != SG_VALUE || !dist_hash_value(tr->dist_hash, r->cat->cx[tr->dist_idx].typmod, v->text, v->len, &h))
		return 0;
	i = shardmap_find(&tr->shards, h);
	return i < 0 ? 0 : (uint32_t)i + 1;
}

/* A table's rows of no known shard (a value not read here) could hold a
 * key equal to one of a known shard's rows, spelled otherwise: their
 * order would then matter, so none of that table's rows is grouped by
 * shard in this piece. (Rows of known shards with equal values have equal
 * hashes: the parsers read only forms PostgreSQL reads as that value.) */
static void shards_known_or_none(const struct xrun *x, struct plan_row *pr)
{
	const void *marked[8];      /* tables with such a row (a piece has few) */
	size_t i, k, nmarked = 0;
	bool all = false;

	for (i = 0; i < x->nprows && !all; i++) {
		if (pr[i].shard != 0 || x->prows[i]->cat->tr.shards.n == 0 || pr[i].cls != PLAN_FREE)
			continue;
		for (k = 0; k < nmarked && marked[k] != pr[i].table; k++)
			;
		if (k < nmarked)
			continue;
		if (nmarked == sizeof(marked) / sizeof(marked[0]))
			all = true;         /* (more: no row of the piece is grouped) */
		else
			marked[nmarked++] = pr[i].table;
	}
	for (i = 0; i < x->nprows && nmarked > 0; i++)
		for (k = 0; k < nmarked; k++)
			if (all || pr[i].table == marked[k])
				pr[i].shard = 0;
}

static bool plan_piece(struct xrun *x)
{
	struct plan_row *pr;
	const struct srow *r;
	size_t i;
	bool ok, any_shard = false;

	pr = calloc(x->nprows + 1, sizeof(*pr));
	if (pr == NULL)
		return false;
	for (i = 0; i < x->nprows; i++) {
		struct stable *tab;

		r = x->prows[i];
		tab = r->u->stmts[r->stmt].tab;
		pr[i].table = tab;
		pr[i].cat = r->cat;
		pr[i].role = r->u->ss->role;
		pr[i].ctx = r->u->stmts[r->stmt].ctx;
		pr[i].route = r->route;
		pr[i].has_route = r->has_route;
		pr[i].keyed = keyed(r, tab);
		/* a constant default key: its RETURNING could name another row's key */
		pr[i].single = x->singles || (r->kres == KEY_DEFAULTED && r->has_route);
		pr[i].cls = (uint8_t)tab->cls;
		pr[i].shard = tab->cls == TC_FREE && r->cat->tr.shards.n ? row_shard(r) : 0;
		any_shard |= pr[i].shard != 0;
	}
	if (any_shard)
		shards_known_or_none(x, pr);
	ok = plan_build(&x->plan, pr, x->nprows);
	for (i = 0; ok && i < x->plan.nsteps; i++)
		x->s->st.shard_stmts += pr[x->plan.order[x->plan.steps[i].first]].shard != 0;
	free(pr);
	return ok;
}

/* ---- statements of the Query being built ---- */

static void xstmt_clear(struct xstmt *st)
{
	free(st->rows);
	if (st->has_shape)
		sg_shape_free(&st->shape);
	memset(st, 0, sizeof(*st));
}

static void query_clear(struct xrun *x)
{
	for (size_t i = 0; i < x->nq; i++)
		xstmt_clear(&x->q[i]);
	x->nq = 0;
	x->ncopy = 0;
	x->fail_at = -1;
}

static struct xstmt *add_stmt(struct xrun *x, struct buf *sql, enum xkind kind)
{
	struct xstmt *q;
	size_t cap;

	if (x->nq == x->capq) {
		cap = x->capq ? x->capq * 2 : 32;
		q = realloc(x->q, cap * sizeof(*q));
		if (q == NULL) {
			sql->failed = true;
			return NULL;
		}
		x->q = q;
		x->capq = cap;
	}
	q = &x->q[x->nq++];
	memset(q, 0, sizeof(*q));
	q->kind = (uint8_t)kind;
	q->piece = (uint32_t)x->it;
	q->copy = -1;
	q->stage_tab = -1;
	if (sql->len)
		buf_puts(sql, "; ");
	return q;
}

static void simple(struct xrun *x, struct buf *sql, enum xkind kind, const char *text)
{
	if (add_stmt(x, sql, kind))
		buf_puts(sql, text);
}

/* RETURNING what identifies each written row's key (returned_route). */
static void returning_clause(struct buf *sql, const struct tcat *cat)
{
	const char *name;
	int k;

	buf_puts(sql, " RETURNING ");
	for (k = 0; k < cat->t.nkey; k++) {
		name = cat->t.cols[cat->t.key[k]].name;
		if (k)
			buf_puts(sql, ", ");
		if (cat->kmodes[k] == KM_DBHASH) {
			buf_puts(sql, "pg_catalog.hash_array(ARRAY[");
			sg_ident(sql, name);
			if (cat->kcollate[k]) {
				buf_puts(sql, " COLLATE ");
				buf_puts(sql, cat->kcollate[k]);
			}
			buf_puts(sql, "])::pg_catalog.text");
		} else {
			sg_ident(sql, name);
			buf_puts(sql, "::pg_catalog.text");
		}
	}
}

enum path { P_VALUES, P_COPY, P_STAGE, P_UNNEST };

static bool stage_exists(const struct xrun *x, int t, uint32_t gen)
{
	if (t < x->nstage && x->stage_gen[t] == gen)
		return true;
	for (int i = 0; i < x->ntx_stage; i++)
		if (x->tx_stage[i] == t && x->tx_gen[i] == gen)
			return true;
	return false;
}

static bool note_stage(struct xrun *x, int t, uint32_t gen)
{
	int *ts = realloc(x->tx_stage, (size_t)(x->ntx_stage + 1) * sizeof(*ts));
	uint32_t *gs;

	if (ts == NULL)
		return false;
	x->tx_stage = ts;
	gs = realloc(x->tx_gen, (size_t)(x->ntx_stage + 1) * sizeof(*gs));
	if (gs == NULL)
		return false;
	x->tx_gen = gs;
	x->tx_stage[x->ntx_stage] = t;
	x->tx_gen[x->ntx_stage] = gen;
	x->ntx_stage++;
	return true;
}

/* Copies rows[0..n) into a statement's own array. */
static bool own_rows(struct xstmt *st, struct srow *const *rows, size_t n)
{
	st->rows = malloc((n + 1) * sizeof(*st->rows));
	if (st->rows == NULL)
		return false;
	memcpy(st->rows, rows, n * sizeof(*rows));
	st->n = (uint32_t)n;
	return true;
}

/* Emits the statement(s) for the next run of the current step. */
static bool emit_run(struct xrun *x, struct buf *sql)
{
	const struct plan_step *step = &x->plan.steps[x->step];
	struct srow **rows, *first;
	struct stable *tab;
	const struct sg_table *t;
	struct xstmt *st;
	const char *ctx, *text;
	bool ctx_switch, role_switch;
	enum conflict_mode mode;
	enum write_mode wm;
	enum path path;
	sg_row *vals = NULL;
	size_t n, run, i, used;
	struct sg_shape shape;
	bool forced, ok = false, ret;

	n = step->n - x->pos;
	rows = calloc(n + 1, sizeof(*rows));
	vals = calloc(n + 1, sizeof(*vals));
	if (rows == NULL || vals == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		rows[i] = x->prows[x->plan.order[step->first + x->pos + i]];
		vals[i] = rows[i]->vals;
	}
	first = rows[0];
	tab = first->u->stmts[first->stmt].tab;
	t = &first->cat->t;
	ctx = first->u->stmts[first->stmt].ctx;
	ctx_switch = (ctx != x->ctx || x->ctx_unsure) && (ctx || x->ctx_moved);
	role_switch = x->role != first->u->ss->role && first->u->ss->role;
	if ((ctx_switch || role_switch) && x->wrote && !x->immediate && !x->isolating) {
		/* deferred triggers fire at COMMIT, as the role and with the
		 * settings set last: those of the rows so far fire now, as theirs,
		 * and later ones at their statement's end (as directly, where each
		 * statement commits right after it; isolating says it at BEGIN) */
		simple(x, sql, X_IMMEDIATE, "SET CONSTRAINTS ALL IMMEDIATE");
		x->immediate = true;
	}
	if (role_switch) {
		/* written as the client's role: its privileges, policies and
		 * role-dependent defaults apply, as they would directly */
		st = add_stmt(x, sql, X_ROLE);
		if (st == NULL)
			goto out;
		buf_puts(sql, "SET LOCAL ROLE ");
		sg_ident(sql, first->u->ss->role);
		x->role = first->u->ss->role;
	}
	if (ctx_switch) {
		/* its session's settings (or the connection's own again), for
		 * the rest of the transaction */
		text = ctx ? ctx : sink_ctx_own(x->s);
		if (text == NULL || add_stmt(x, sql, X_ROLE) == NULL)
			goto out;
		buf_puts(sql, text);
		x->ctx = ctx;
		x->ctx_unsure = false;
		x->ctx_moved = true;
	}
	x->wrote = true;
	mode = tab->conf.conflictmode;
	/* isolating on Citus: INSERT ... VALUES, whose errors Citus passes on
	 * with their SQLSTATE (xresult.c) */
	forced = tab->cls != TC_FREE || first->cat->tr.rules || x->singles ||
		 (x->isolating && (x->nprows <= SMALL_PIECE || x->s->kind == BACKEND_CITUS));
	wm = forced ? WRITE_INSERT : tab->conf.writemode;
	for (run = 1; run < n; run++)
		if (!sg_same_run(t, mode, wm, vals[0], vals[run]))
			break;
	if (!sg_shape_build(&shape, t, mode, vals, run))
		goto out;
	switch (wm) {
	case WRITE_INSERT:
		path = P_VALUES;
		break;
	case WRITE_UNNEST:
		path = shape.nins > 0 ? P_UNNEST : P_VALUES;
		break;
	case WRITE_COPY:
	default:
		if (shape.nins == 0)
			path = P_VALUES;
		else if (shape.action == SG_PLAIN)
			path = P_COPY;
		else
			path = run >= (size_t)tab->conf.copystageminrows ? P_STAGE : P_VALUES;
		break;
	}
	/* RETURNING where a statement may write fewer rows than it has and a
	 * client waits for the count (rules forbid RETURNING) */
	ret = x->counts && path != P_COPY && !first->cat->tr.rules &&
	      (shape.action == SG_NOTHING || first->cat->tr.row_triggers);
	switch (path) {
	case P_VALUES:
		st = add_stmt(x, sql, X_WRITE);
		if (st == NULL)
			goto shape_out;
		used = sg_values_stmt(sql, t, &shape, vals, run, VALUES_MAX_BYTES);
		if (ret)
			returning_clause(sql, first->cat);
		st->values = true;
		run = used;
		break;
	case P_UNNEST:
		st = add_stmt(x, sql, X_WRITE);
		if (st == NULL)
			goto shape_out;
		sg_unnest_stmt(sql, t, &shape, vals, run);
		if (ret)
			returning_clause(sql, first->cat);
		break;
	case P_COPY:
		st = add_stmt(x, sql, X_WRITE);
		if (st == NULL)
			goto shape_out;
		sg_copy_target(sql, t, &shape);
		st->copy = x->ncopy++;
		break;
	case P_STAGE:
	default:
		/* its staging table was made with BEGIN (create_stages) */
		st = add_stmt(x, sql, X_COPY_STAGE);
		if (st == NULL)
			goto shape_out;
		sg_copy_stage(sql, t, &shape);
		st->copy = x->ncopy++;
		st->tab = tab;
		if (!own_rows(st, rows, run) || !sg_shape_build(&st->shape, t, mode, vals, run))
			goto shape_out;
		st->has_shape = true;
		st = add_stmt(x, sql, X_WRITE);
		if (st == NULL)
			goto shape_out;
		sg_insert_from_stage(sql, t, &shape);
		if (ret)
			returning_clause(sql, first->cat);
		if (!own_rows(st, rows, run))
			goto shape_out;
		st->tab = tab;
		st->returning = ret;
		/* the stage is emptied for its next use in this transaction; the
		 * last use is emptied by ON COMMIT DELETE ROWS */
		simple(x, sql, X_CLEAR_STAGE, "");
		sg_stage_clear(sql, t);
		x->pos += run;
		ok = true;
		goto shape_out;
	}
	st->tab = tab;
	st->returning = ret;
	if (!own_rows(st, rows, run))
		goto shape_out;
	st->shape = shape;
	st->has_shape = true;
	memset(&shape, 0, sizeof(shape));
	x->pos += run;
	ok = true;
shape_out:
	sg_shape_free(&shape);
out:
	free(rows);
	free(vals);
	if (!ok)
		sql->failed = true;
	return ok;
}

static void end_piece(struct xrun *x)
{
	x->it++;
	x->it_open = false;
	x->planned = false;
	plan_free(&x->plan);
	free(x->prows);
	x->prows = NULL;
	x->nprows = 0;
}

/* Emits the next statement(s); false when every piece is emitted. */
static bool next_statement(struct xrun *x, struct buf *sql)
{
	while (x->it < x->nwork && buf_ok(sql)) {
		if (!x->planned) {
			x->planned = true;
			x->step = x->pos = 0;
			if (!piece_rows(x, &x->work[x->it]) || !plan_piece(x)) {
				sql->failed = true;
				return false;
			}
			if (x->nprows == 0) {
				x->work[x->it].done = true;
				end_piece(x);
				continue;
			}
		}
		if (x->isolating && !x->it_open) {
			simple(x, sql, X_SAVEPOINT, "SAVEPOINT " SAVEPOINT);
			x->it_open = true;
			x->role = NULL;     /* rolled back with the savepoint, maybe: said again */
			x->ctx_unsure = true;
			return true;
		}
		if (x->step < x->plan.nsteps) {
			emit_run(x, sql);
			if (x->pos >= x->plan.steps[x->step].n) {
				x->step++;
				x->pos = 0;
			}
			return true;
		}
		if (x->work[x->it].probe) {
			/* undone whether it worked or not; the next piece waits for the answer */
			struct xstmt *st = add_stmt(x, sql, X_PROBE_UNDO);

			if (st) {
				buf_puts(sql, "ROLLBACK TO SAVEPOINT " SAVEPOINT);
				st->piece = (uint32_t)x->it;
			}
			simple(x, sql, X_RELEASE, "RELEASE SAVEPOINT " SAVEPOINT);
			x->q[x->nq - 1].piece = UINT32_MAX;
			x->probe_wait = true;
			return false;
		}
		if (x->isolating)
			simple(x, sql, X_RELEASE, "RELEASE SAVEPOINT " SAVEPOINT);
		end_piece(x);
		if (x->isolating)
			return true;
	}
	return false;
}

/* The staging tables the batch may use are made first, outside any
 * savepoint (a rolled-back savepoint would take one with it). */
static void create_stages(struct xrun *x, struct buf *sql)
{
	const struct batch *b = x->b;
	const struct srow *r;
	struct stable *tab;
	struct xstmt *st;
	size_t i;

	for (i = 0; i < b->n; i++) {
		r = b->rows[i];
		tab = r->u->stmts[r->stmt].tab;
		if (tab->conf.writemode != WRITE_COPY || tab->cls != TC_FREE || r->cat->tr.rules ||
		    r->cat->t.nkey == 0 || tab->conf.conflictmode == CONFLICT_STRICT ||
		    stage_exists(x, tab->idx, r->cat->gen))
			continue;
		st = add_stmt(x, sql, X_STAGE_CREATE);
		if (st == NULL || !note_stage(x, tab->idx, r->cat->gen)) {
			sql->failed = true;
			return;
		}
		st->stage_tab = tab->idx;
		st->stage_gen = r->cat->gen;
		sg_stage_create(sql, &r->cat->t);
		/* the rows go in as their client's role (SET LOCAL ROLE): a
		 * temporary table is this connection's alone whatever its grants */
		if (add_stmt(x, sql, X_BEGIN)) {
			buf_puts(sql, "GRANT ALL ON pg_temp.");
			sg_ident(sql, r->cat->t.stage);
			buf_puts(sql, " TO PUBLIC");
		}
	}
}

/* The catalog fence's checks: the connection's prepared one for each
 * snapshot (prepared first if new to it), the others in one statement. */
static void fence_checks(struct xrun *x, struct buf *sql)
{
	struct tcat *cats[FENCE_MAX];
	struct stable *tabs[FENCE_MAX];
	bool skip[FENCE_MAX];
	struct xstmt *st;
	int n = fence_snapshots(x->b, cats, tabs), k, j, t, locks = 0;
	size_t at;

	/* Each table first waits for DDL still uncommitted on it (an ACCESS
	 * SHARE lock, which pg_relation_size takes by OID, needing no
	 * privilege): the check, in the next statement, then sees it. Checked
	 * before, it would pass on the catalog as it was, and the INSERT would
	 * wait for the DDL and then run on the new one. */
	for (k = 0; k < n; k++) {
		for (j = 0; j < k && (cats[j]->fp[0] == '\0' || cats[j]->oid != cats[k]->oid); j++)
			;
		if (cats[k]->fp[0] == '\0' || j < k)
			continue;
		if (x->lock_prep) {
			/* the writer's prepared pgbatchd_lock(oid): not planned each time */
			if (!*x->lock_prep && locks++ == 0 && add_stmt(x, sql, X_LOCK))
				fence_lock_sql(0, sql);
			if (add_stmt(x, sql, X_LOCK))
				fence_lock_sql(cats[k]->oid, sql);
		} else if (locks > 0 || add_stmt(x, sql, X_BEGIN)) {
			buf_printf(sql, "%spg_catalog.pg_relation_size(%u)", locks++ ? ", " : "SELECT ", cats[k]->oid);
		}
	}
	for (k = 0; k < n; k++) {
		t = tabs[k]->idx;
		skip[k] = false;
		if (cats[k]->fp[0] == '\0' || x->fence_gen == NULL || t >= x->nstage)
			continue;
		for (j = 0; j < k && tabs[j] != tabs[k]; j++)
			;
		if (j < k)
			continue;   /* a table's second snapshot: its text inline */
		skip[k] = true;
		if (x->fence_gen[t] != cats[k]->gen) {
			if (x->fence_gen[t] != 0 && (st = add_stmt(x, sql, X_FENCE_DROP)) != NULL) {
				st->stage_tab = t;
				fence_execute_sql(t, x->fence_gen[t], true, sql);
			}
			if ((st = add_stmt(x, sql, X_FENCE_PREP)) != NULL) {
				st->stage_tab = t;
				st->stage_gen = cats[k]->gen;
				fence_prepare_sql(cats[k], t, sql);
			}
		}
		if (add_stmt(x, sql, X_CHECK))
			fence_execute_sql(t, cats[k]->gen, false, sql);
	}
	at = sql->len;
	if (add_stmt(x, sql, X_CHECK) && !fence_check_sql(x->b, x->fence_func, skip, sql)) {
		x->nq--;        /* nothing else to check */
		sql->len = at;
		sql->data[at] = '\0';
	}
}

bool xrun_build(struct xrun *x, struct buf *sql)
{
	struct xstmt *st;

	query_clear(x);
	buf_reset(sql);
	if (!x->begun) {
		int64_t limit = sched_batch_timeout(x->b);

		simple(x, sql, X_BEGIN, "BEGIN");
		/* a batch with spooled units holds the spool's lock first thing: a
		 * replay of the spool ends it, or waits for it (spooled.c) */
		if (x->s->spool && spooled_in_batch(x->b) && add_stmt(x, sql, X_BEGIN))
			spooled_fence_sql(x->s, sql);
		if (limit > 0 && add_stmt(x, sql, X_BEGIN))      /* the units' statement_timeout */
			buf_printf(sql, "SET LOCAL statement_timeout = %lld", (long long)limit);
		if (x->ledger) {
			if (x->ledger_prep && !*x->ledger_prep && add_stmt(x, sql, X_LEDGER_PREP))
				ledger_prepare_sql(x->s, sql);
			if (add_stmt(x, sql, X_LEDGER)) {
				if (x->s->spool && spooled_ledger_sql(x->s, x->b, sql))
					;       /* (with its spooled units' ids) */
				else if (x->ledger_prep)
					ledger_execute_sql(x->b->id, sql);
				else
					ledger_insert_sql(x->s, x->b->id, sql);
			}
		}
		if (x->fence)
			fence_checks(x, sql);
		if (x->isolating)
			simple(x, sql, X_BEGIN, "SET CONSTRAINTS ALL IMMEDIATE");
		create_stages(x, sql);
		x->begun = true;
	}
	if (x->undo) {
		simple(x, sql, X_UNDO, "ROLLBACK TO SAVEPOINT " SAVEPOINT);
		st = add_stmt(x, sql, X_RELEASE);
		if (st) {
			buf_puts(sql, "RELEASE SAVEPOINT " SAVEPOINT);
			st->piece = UINT32_MAX;
		}
		x->undo = false;
	}
	while (!x->probe_wait && sql->len < QUERY_MAX_BYTES && next_statement(x, sql))
		;
	if (!x->probe_wait && x->it >= x->nwork && buf_ok(sql)) {
		simple(x, sql, X_COMMIT, "COMMIT");
		x->commit_sent = true;
	}
	return buf_ok(sql);
}

bool xrun_has_copy(const struct xrun *x)
{
	return x->ncopy > 0;
}

void xrun_fill(void *arg, int copy, struct buf *chunk, bool *done)
{
	struct xrun *x = arg;
	struct xstmt *st = NULL;

	for (size_t i = 0; i < x->nq; i++)
		if (x->q[i].copy == copy) {
			st = &x->q[i];
			break;
		}
	if (st == NULL) {
		*done = true;
		return;
	}
	while (st->copy_pos < st->n && chunk->len < COPY_CHUNK && buf_ok(chunk))
		sg_copy_row(chunk, &st->shape, st->rows[st->copy_pos++]->vals);
	*done = st->copy_pos >= st->n;
}

/* ---- the attempt ---- */

bool xrun_start(struct xrun *x, struct sink *s, struct batch *b, bool isolating, bool singles,
		uint32_t *stage_gen, int nstage, const char *own_role)
{
	struct piece p;

	memset(x, 0, sizeof(*x));
	x->s = s;
	x->role = own_role;         /* rows of the connection's own role need no SET LOCAL ROLE */
	x->b = b;
	x->isolating = isolating;
	x->singles = singles;
	x->ledger = s->ledger_ok;
	x->counts = !b->immediate;
	x->fence = true;
	x->stage_gen = stage_gen;
	x->nstage = nstage;
	x->fail_at = -1;
	if (!work_reserve(x, 2))
		return false;
	memset(&p, 0, sizeof(p));
	p.ua = 0;
	p.ub = (uint32_t)b->nunits;
	if (isolating && b->nunits >= 2) {
		/* the whole batch failed already: its halves */
		x->work[0] = p;
		x->work[1] = p;
		x->work[0].ub = x->work[1].ua = p.ub / 2;
		x->nwork = 2;
		s->st.splits++;
	} else {
		x->work[0] = p;
		x->nwork = 1;
	}
	return true;
}

void xrun_clear(struct xrun *x)
{
	query_clear(x);
	free(x->q);
	free(x->work);
	free(x->prows);
	plan_free(&x->plan);
	free(x->tx_stage);
	free(x->tx_gen);
	berr_unref(x->err);
	memset(x, 0, sizeof(*x));
}

void xrun_commit_stages(struct xrun *x)
{
	for (int i = 0; i < x->ntx_stage; i++)
		if (x->tx_stage[i] < x->nstage)
			x->stage_gen[x->tx_stage[i]] = x->tx_gen[i];
}
