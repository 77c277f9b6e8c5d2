/* A transaction block's rows as batch statements for the client's own connection: the plan, the write paths, COPY data; no I/O. */
#include "sink/internal.h"
#include "sink/plan.h"

#include <stdlib.h>
#include <string.h>

#define TX_VALUES_MAX_BYTES (256 * 1024)    /* SQL per INSERT ... VALUES statement */
#define TX_COPY_CHUNK 65536                 /* bytes per CopyData message */

/*
 * The rows run inside the client's transaction, as the client's role, with
 * the client's settings: no ledger, no SET LOCAL ROLE, no staging table (a
 * temporary table would show in the client's session and forbid PREPARE
 * TRANSACTION), no RETURNING. What the sink's batches keep is kept: every
 * row reaches PostgreSQL, in arrival order for its key (plan.h), ordered and
 * row-wise tables as INSERT ... VALUES in arrival order.
 */

/* May an upsert of the table update anything (else it is DO NOTHING)? */
static bool has_settable(const struct tcat *cat)
{
	for (int c = 0; c < cat->t.ncols; c++)
		if (cat->t.cols[c].settable)
			return true;
	return false;
}

bool txbatch_count_stable(const struct sink_unit *u, int i, const int *colmap, int nv)
{
	const struct stable *tab = u->stmts[i].tab;
	const struct tcat *cat = tab->cat;

	/* a BEFORE ROW trigger may skip a row, a rule may do anything */
	if (cat->tr.row_triggers || cat->tr.rules)
		return false;
	if (cat->t.nkey == 0)
		return true;    /* a plain INSERT */
	switch (tab->conf.conflictmode) {
	case CONFLICT_STRICT:
		return true;
	case CONFLICT_UPSERT:
		return has_settable(cat);   /* nothing to set: DO NOTHING */
	case CONFLICT_IGNORE:
		return false;
	case CONFLICT_UPDATE:
		/* DO UPDATE of the columns it names; none settable: DO NOTHING */
		for (int c = 0; c < nv; c++)
			if (cat->t.cols[colmap[c]].settable)
				return true;
		return false;
	}
	return false;
}

struct txb {
	struct buf sql;             /* the Query's text */
	struct pktbuf copy;         /* the CopyData / CopyDone messages behind it */
	uint64_t rows;
	bool first;
};

static void next_stmt(struct txb *x)
{
	if (!x->first)
		buf_puts(&x->sql, "; ");
	x->first = false;
}

/* COPY data of rows[0..n): CopyData messages of up to TX_COPY_CHUNK, then CopyDone. */
static void copy_data(struct txb *x, const struct sg_shape *sh, const sg_row *vals, size_t n)
{
	struct buf chunk;

	buf_init(&chunk);
	for (size_t i = 0; i < n; i++) {
		sg_copy_row(&chunk, sh, vals[i]);
		if (chunk.len >= TX_COPY_CHUNK || i + 1 == n) {
			if (!buf_ok(&chunk)) {
				x->sql.failed = true;
				break;
			}
			pkt_begin(&x->copy, 'd');
			pkt_put_bytes(&x->copy, chunk.data, chunk.len);
			pkt_end(&x->copy);
			buf_reset(&chunk);
		}
	}
	pkt_begin(&x->copy, 'c');
	pkt_end(&x->copy);
	buf_free(&chunk);
}

/* The statements of one plan step: runs of rows with one shape, each by its write path. */
static bool emit_step(struct txb *x, struct srow *const *rows, size_t n)
{
	const struct srow *first = rows[0];
	const struct stable *tab = first->u->stmts[first->stmt].tab;
	const struct sg_table *t = &first->cat->t;
	enum conflict_mode mode = tab->conf.conflictmode;
	enum write_mode wm;
	struct sg_shape shape;
	sg_row *vals;
	size_t pos = 0, run, used;

	vals = calloc(n + 1, sizeof(*vals));
	if (vals == NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		vals[i] = rows[i]->vals;
	/* ordered and row-wise tables, and rules (COPY runs none): INSERT ...
	 * VALUES; on Citus too, whose COPY and INSERT ... SELECT turn a row's
	 * error into XX000 and count the rows an ON CONFLICT kept out as written */
	wm = tab->cls != TC_FREE || first->cat->tr.rules || first->u->s->kind == BACKEND_CITUS ? WRITE_INSERT :
	     tab->conf.writemode;
	while (pos < n) {
		for (run = 1; pos + run < n; run++)
			if (!sg_same_run(t, mode, wm, vals[pos], vals[pos + run]) ||
			    rows[pos + run]->positional != rows[pos]->positional)
				break;
		if (!sg_shape_build(&shape, t, mode, vals + pos, run)) {
			free(vals);
			return false;
		}
		/* no fence on the client's connection: values given by position go
		 * by position, to the columns the table has when the statement runs
		 * (another connection may have moved them since its catalog was read) */
		shape.by_position = rows[pos]->positional;
		for (int c = 0; shape.by_position && c < shape.nins; c++)
			shape.by_position = shape.ins[c] == c;
		next_stmt(x);
		if (shape.by_position) {
			used = sg_values_stmt(&x->sql, t, &shape, vals + pos, run, TX_VALUES_MAX_BYTES);
		} else if (wm == WRITE_COPY && shape.nins > 0 && shape.action == SG_PLAIN) {
			sg_copy_target(&x->sql, t, &shape);
			copy_data(x, &shape, vals + pos, run);
			used = run;
		} else if (wm == WRITE_UNNEST && shape.nins > 0) {
			sg_unnest_stmt(&x->sql, t, &shape, vals + pos, run);
			used = run;
		} else {
			/* writemode 0, and COPY with a conflict clause (no staging table here) */
			used = sg_values_stmt(&x->sql, t, &shape, vals + pos, run, TX_VALUES_MAX_BYTES);
		}
		sg_shape_free(&shape);
		x->rows += used;
		pos += used;
	}
	free(vals);
	return true;
}

bool sink_tx_batch(const struct sink_unit *u, int upto, const char *prefix, const char *suffix,
		   struct pktbuf *out, uint64_t *rows)
{
	struct plan_row *pr = NULL;
	struct srow **sel = NULL, **steprows = NULL;
	struct plan plan;
	struct txb x;
	size_t n = 0, i, k;
	bool ok = false, planned = false;

	*rows = 0;
	memset(&x, 0, sizeof(x));
	buf_init(&x.sql);
	pkt_init(&x.copy);
	x.first = true;
	memset(&plan, 0, sizeof(plan));
	sel = calloc((size_t)u->nrows + 1, sizeof(*sel));
	if (sel == NULL)
		goto out;
	for (i = 0; i < u->nrows; i++)
		if ((int)u->rows[i]->stmt < upto)
			sel[n++] = u->rows[i];
	if (n == 0) {
		ok = true;
		goto out;
	}
	pr = calloc(n + 1, sizeof(*pr));
	steprows = calloc(n + 1, sizeof(*steprows));
	if (pr == NULL || steprows == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		const struct srow *r = sel[i];
		const struct stable *tab = r->u->stmts[r->stmt].tab;

		pr[i].table = tab;
		pr[i].cat = r->cat;
		pr[i].role = NULL;          /* the client's own, whatever it is */
		pr[i].route = r->route;
		pr[i].has_route = r->has_route;
		pr[i].keyed = tab->conf.conflictmode != CONFLICT_STRICT && r->cat->t.nkey > 0;
		pr[i].cls = (uint8_t)tab->cls;
	}
	if (!plan_build(&plan, pr, n))
		goto out;
	planned = true;
	if (prefix && prefix[0]) {
		buf_puts(&x.sql, prefix);
		x.first = false;
	}
	for (i = 0; i < plan.nsteps; i++) {
		const struct plan_step *st = &plan.steps[i];

		for (k = 0; k < st->n; k++)
			steprows[k] = sel[plan.order[st->first + k]];
		if (!emit_step(&x, steprows, st->n))
			goto out;
	}
	if (suffix && suffix[0]) {
		buf_puts(&x.sql, "; ");
		buf_puts(&x.sql, suffix);
	}
	if (!buf_ok(&x.sql) || !pkt_ok(&x.copy))
		goto out;
	pkt_begin(out, 'Q');
	pkt_put_bytes(out, x.sql.data, x.sql.len);
	pkt_put_u8(out, 0);
	pkt_end(out);
	pkt_put_bytes(out, x.copy.data, x.copy.len);
	ok = pkt_ok(out);
	*rows = x.rows;
	if (ok && u->tx) {         /* (a direct write's rows were counted when placed) */
		u->s->st.rows_in += x.rows;
		for (uint32_t ri = 0; ri < u->nrows; ri++)
			if ((int)u->rows[ri]->stmt < upto)
				u->stmts[u->rows[ri]->stmt].tab->tc.rows_in++;
		u->s->st.tx_rows += x.rows;
		u->s->st.tx_batches++;
	}
out:
	if (planned)
		plan_free(&plan);
	free(pr);
	free(sel);
	free(steprows);
	buf_free(&x.sql);
	pkt_free(&x.copy);
	return ok;
}

bool sink_tx_exact(const struct sink_unit *u, int upto)
{
	for (uint32_t i = 0; i < u->nrows; i++) {
		const struct srow *r = u->rows[i];
		const struct stable *tab = u->stmts[r->stmt].tab;
		const struct tcat *cat = r->cat;
		bool named = false;

		if ((int)r->stmt >= upto)
			continue;
		if (cat->tr.row_triggers || cat->tr.rules)
			return false;
		if (cat->t.nkey == 0 || tab->conf.conflictmode == CONFLICT_STRICT)
			continue;
		if (tab->conf.conflictmode == CONFLICT_UPSERT) {
			if (!has_settable(cat))
				return false;
			continue;
		}
		if (tab->conf.conflictmode == CONFLICT_IGNORE)
			return false;
		for (int c = 0; c < cat->t.ncols; c++)
			if (cat->t.cols[c].settable && r->vals[c].state != SG_OMIT)
				named = true;
		if (!named)
			return false;   /* an update of nothing: DO NOTHING */
	}
	return true;
}

bool sink_tx_rerun_safe(const struct sink_unit *u, int upto)
{
	for (uint32_t i = 0; i < u->nrows; i++)
		if ((int)u->rows[i]->stmt < upto && u->rows[i]->cat->tr.volatile_defaults)
			return false;
	return true;
}

bool sink_tx_wait(const struct sink_unit *u, int upto)
{
	struct sink *s = u->s;
	bool wait = false;

	for (uint32_t i = 0; i < u->nrows; i++) {
		const struct srow *r = u->rows[i];
		struct stable *tab = u->stmts[r->stmt].tab;
		struct sink_unit *d;

		if ((int)r->stmt >= upto || tab == NULL || tab->acked == 0)
			continue;       /* nothing acknowledged and unwritten in its table */
		if (tab->cls != TC_FREE) {
			/* its rows meet beyond their key: the table's order */
			sched_flush_table(s, tab);
			wait = true;
		} else if (r->has_route && (d = sched_key_last(s, tab, r->route)) != NULL &&
			   d->state != U_SETTLED) {
			/* the latest unit of its key (it follows the ones before it) */
			sched_barrier(d);
			wait = true;
		}
	}
	if (wait)
		s->tx_waiting = true;
	return wait;
}

void sink_set_tx_wake(struct sink *s, void (*fn)(void *arg), void *arg)
{
	s->tx_wake_fn = fn;
	s->tx_wake_arg = arg;
}
