/* The catalog fence: fingerprint checks in a batch's transaction, and the rebase of snapshots by attnum after DDL. */
#include "sink/fence.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/pool.h"
#include "sink/sqlgen.h"

/* The distinct snapshots of b's rows (first FENCE_MAX), each with its table. */
int fence_snapshots(const struct batch *b, struct tcat **out, struct stable **tabs)
{
	int n = 0, k;

	for (size_t i = 0; i < b->n; i++) {
		const struct srow *r = b->rows[i];

		if (i > 0 && r->cat == b->rows[i - 1]->cat)
			continue;
		for (k = 0; k < n && out[k] != r->cat; k++)
			;
		if (k == n && n < FENCE_MAX) {
			tabs[n] = r->u->stmts[r->stmt].tab;
			out[n++] = r->cat;
		}
	}
	return n;
}

void fence_function_sql(struct buf *out)
{
	buf_puts(out, "CREATE OR REPLACE FUNCTION pg_temp.pgbatchd_fp(pg_catalog.oid) RETURNS pg_catalog.text "
		 "LANGUAGE plpgsql STABLE AS $pgbatchd$ BEGIN RETURN ");
	sg_fingerprint(out, "$1");
	buf_puts(out, "; END $pgbatchd$");
}

void fence_prepare_sql(const struct tcat *cat, int t, struct buf *out)
{
	char oid[16];

	snprintf(oid, sizeof(oid), "%u", cat->oid);
	buf_printf(out, "PREPARE pgbatchd_fence_%d_%u AS SELECT 1 / (COALESCE(", t, cat->gen);
	sg_fingerprint(out, oid);
	buf_printf(out, " = '%s', false))::int", cat->fp);
}

void fence_execute_sql(int t, uint32_t gen, bool drop, struct buf *out)
{
	buf_printf(out, "%s pgbatchd_fence_%d_%u", drop ? "DEALLOCATE" : "EXECUTE", t, gen);
}

void fence_lock_sql(uint32_t oid, struct buf *out)
{
	if (oid == 0)
		buf_puts(out, "PREPARE pgbatchd_lock(pg_catalog.oid) AS SELECT pg_catalog.pg_relation_size($1)");
	else
		buf_printf(out, "EXECUTE pgbatchd_lock(%u)", oid);
}

bool fence_check_sql(const struct batch *b, bool func, const bool *skip, struct buf *out)
{
	struct tcat *cats[FENCE_MAX];
	struct stable *tabs[FENCE_MAX];
	int n = fence_snapshots(b, cats, tabs), k, used = 0;
	char oid[16];

	for (k = 0; k < n; k++) {
		if (cats[k]->fp[0] == '\0' || (skip && skip[k]))
			continue;
		buf_puts(out, used++ ? " AND COALESCE(" : "SELECT 1 / (COALESCE(");
		snprintf(oid, sizeof(oid), "%u", cats[k]->oid);
		if (func)
			buf_printf(out, "pg_temp.pgbatchd_fp(%s)", oid);
		else
			sg_fingerprint(out, oid);
		buf_printf(out, " = '%s', false)", cats[k]->fp);
	}
	if (used)
		buf_puts(out, ")::int");
	return used > 0 && buf_ok(out);
}

bool fence_rebase_sql(struct sink *s, const struct batch *b, struct buf *out)
{
	struct tcat *cats[FENCE_MAX];
	struct stable *tabs[FENCE_MAX];
	int n = fence_snapshots(b, cats, tabs), k;
	char oid[16];

	for (k = 0; k < n; k++) {
		snprintf(oid, sizeof(oid), "%u", cats[k]->oid);
		buf_puts(out, k ? "; SELECT " : "SELECT ");
		buf_printf(out, "a.attrelid, a.attnum, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), ");
		sg_fingerprint(out, oid);
		buf_printf(out, " FROM pg_catalog.pg_attribute a WHERE a.attrelid = %s AND a.attnum > 0 "
			   "AND NOT a.attisdropped ORDER BY a.attnum; ", oid);
		catalog_index_sql(s->catalog, out, oid);
		/* in full, for a snapshot its positional rows follow (positions_moved) */
		buf_puts(out, "; ");
		catalog_columns_sql(s->catalog, out, oid);
		buf_puts(out, "; ");
		catalog_traits_sql(s->catalog, out, oid);
	}
	return buf_ok(out);
}

/* Whether the first columns of the table now (rows [0, n) of cols: oid,
 * attnum, attname, type) are not the snapshot's, by attnum and type: a
 * positional row would fill other columns than it was read for. */
static bool positions_moved(const struct tcat *cat, const PGresult *cols)
{
	int n = PQntuples(cols);

	for (int i = 0; i < cat->t.ncols; i++)
		if (i >= n || atoi(PQgetvalue(cols, i, 1)) != cat->attnums[i] ||
		    strcmp(PQgetvalue(cols, i, 3), cat->cx[i].decl) != 0)
			return true;
	return false;
}

/* The snapshot of the table as it is now, from the rebase answer's full
 * column, index and traits results; NULL when its key cannot be read so (or
 * out of memory): its positional rows are written as they are. */
static struct tcat *fresh_snapshot(struct sink *s, const struct tcat *old, const struct stable *tab,
				   const PGresult *cols, const PGresult *idx, const PGresult *full,
				   const PGresult *traits)
{
	struct tcat *cat;
	struct berr *err = NULL;
	int *attnums = NULL;

	if (PQntuples(full) == 0)
		return NULL;            /* gone: its writes fail as directly */
	cat = tcat_columns(full, old->oid, catalog_next_generation(s->catalog), &tab->conf, &attnums);
	if (cat == NULL)
		return NULL;
	if (!tcat_key(cat, attnums, idx, &tab->conf, &err) || err || !tcat_traits(cat, traits)) {
		berr_unref(err);
		free(attnums);
		tcat_unref(cat);
		return NULL;
	}
	free(attnums);
	snprintf(cat->fp, sizeof(cat->fp), "%s", PQgetvalue(cols, 0, 4));
	return cat;
}

/* Row r of b (a positional row of a snapshot with a pos) made anew for the
 * snapshot its positions now name; false when it has more values than that
 * table has columns (left as it is: the database refuses it) or out of memory. */
static bool follow_row(struct batch *b, size_t i)
{
	struct srow *r = b->rows[i], *nr;
	struct tcat *cat = r->cat;
	struct sink_unit *u = r->u;
	size_t size, text = 0;
	char *p;
	int c;

	while (cat->pos)
		cat = cat->pos;
	for (c = cat->t.ncols; c < r->cat->t.ncols; c++)
		if (r->vals[c].state != SG_OMIT)
			return false;
	for (c = 0; c < cat->t.ncols && c < r->cat->t.ncols; c++)
		if (r->vals[c].state == SG_VALUE)
			text += r->vals[c].len + 1;
	size = sizeof(*nr) + (size_t)cat->t.ncols * sizeof(struct sg_val) + text;
	if ((nr = pool_alloc(size)) == NULL)
		return false;
	*nr = *r;
	nr->bytes = r->bytes;       /* charged as it was */
	nr->alloc = size;
	p = (char *)nr + sizeof(*nr) + (size_t)cat->t.ncols * sizeof(struct sg_val);
	for (c = 0; c < cat->t.ncols; c++) {
		memset(&nr->vals[c], 0, sizeof(nr->vals[c]));
		if (c >= r->cat->t.ncols)
			continue;
		nr->vals[c].state = r->vals[c].state;
		if (r->vals[c].state == SG_VALUE) {
			memcpy(p, r->vals[c].text, r->vals[c].len);
			p[r->vals[c].len] = '\0';
			nr->vals[c].text = p;
			nr->vals[c].len = r->vals[c].len;
			p += r->vals[c].len + 1;
		}
	}
	nr->cat = tcat_ref(cat);
	for (uint32_t k = 0; k < u->nrows; k++)
		if (u->rows[k] == r) {
			u->rows[k] = nr;
			break;
		}
	b->rows[i] = nr;
	tcat_unref(r->cat);
	pool_free(r, r->alloc);
	return true;
}

int fence_follow(struct sink *s, struct batch *b)
{
	int moved = 0;

	if (s->npos == 0)
		return 0;
	for (size_t i = 0; i < b->n; i++) {
		const struct srow *r = b->rows[i];

		if (r->u->replied || r->u->reply_due) {
			/* answered (ackmode=immediate): it ran, for its client, when
			 * it was answered; it keeps the columns of then (attnum), and
			 * a value of a column dropped since went with the column */
			for (int c = 0; r->cat->gone && c < r->cat->t.ncols; c++)
				if (r->cat->gone[c])
					b->rows[i]->vals[c].state = SG_OMIT;
			continue;
		}
		/* not answered yet: its INSERT runs now, against the table as it is */
		if (r->positional && r->cat->pos && follow_row(b, i))
			moved++;
	}
	return moved;
}

bool fence_rebase(struct sink *s, const struct batch *b, const struct pc_result *r, const char *prefix,
		  bool *rekeyed)
{
	struct tcat *cats[FENCE_MAX];
	struct stable *tabs[FENCE_MAX];
	int n = fence_snapshots(b, cats, tabs), k;
	const PGresult *cols, *idx;
	bool whole, changed, ok = true;

	*rekeyed = false;
	if (r->nresults < 4 * n)
		return true;            /* not answered whole: written as they are */
	for (k = 0; k < n; k++) {
		struct tcat *cat = cats[k], *pos = NULL;

		cols = r->results[4 * k];
		idx = r->results[4 * k + 1];
		if (PQntuples(cols) > 0 && strcmp(PQgetvalue(cols, 0, 4), cat->fp) == 0)
			continue;           /* this one did not change */
		if (positions_moved(cat, cols)) {
			/* positional rows go by the table as it is when they are
			 * written, as PostgreSQL reads their INSERT when it runs */
			pos = fresh_snapshot(s, cat, tabs[k], cols, idx, r->results[4 * k + 2], r->results[4 * k + 3]);
			if (pos) {
				tcat_unref(cat->pos);
				cat->pos = pos;
			}
		}
		if (!tcat_rebase(cat, cols, 0, PQntuples(cols), catalog_next_generation(s->catalog), &whole)) {
			ok = false;     /* (out of memory, maybe half renamed under its old generation) */
			break;
		}
		if ((cat->pos || cat->gone) && cat->npos == NULL) {
			cat->npos = &s->npos;
			s->npos++;
		}
		changed = false;
		if (whole && !tcat_rekey(cat, idx, &tabs[k]->conf, &changed)) {
			ok = false;
			break;
		}
		*rekeyed |= changed;
		log_info(prefix, "table %s.%s changed while rows for it were buffered: %s%s%s",
			 cat->t.schema, cat->t.name, whole ? "named columns are followed by attnum" :
			 "a named column is gone or has another type; named rows are written as they came",
			 pos ? "; positional rows fill the columns now at their positions" : "",
			 changed ? "; its key changed: rows are written one by one" : "");
	}
	/* rows still to come are read with a fresh catalog (a new generation:
	 * nothing keyed by the old one, like convert.c's column maps, is used) */
	for (k = 0; k < n; k++)
		sink_table_stale(tabs[k]);
	return ok;
}
