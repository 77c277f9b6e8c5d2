/* The catalog fence: fingerprint checks in a batch's transaction, and the rebase of snapshots by attnum after DDL. */
#include "sink/fence.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "sink/sqlgen.h"

#define FENCE_MAX 64            /* distinct snapshots checked per batch */

/* The distinct snapshots of b's rows (first FENCE_MAX), each with its table. */
static int batch_cats(const struct batch *b, struct tcat **out, struct stable **tabs)
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

bool fence_check_sql(const struct batch *b, bool func, struct buf *out)
{
	struct tcat *cats[FENCE_MAX];
	struct stable *tabs[FENCE_MAX];
	int n = batch_cats(b, cats, tabs), k, used = 0;
	char oid[16];

	for (k = 0; k < n; k++) {
		if (cats[k]->fp[0] == '\0')
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
	int n = batch_cats(b, cats, tabs), k;
	char oid[16];

	for (k = 0; k < n; k++) {
		snprintf(oid, sizeof(oid), "%u", cats[k]->oid);
		buf_puts(out, k ? "; SELECT " : "SELECT ");
		buf_printf(out, "a.attrelid, a.attnum, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), ");
		sg_fingerprint(out, oid);
		buf_printf(out, " FROM pg_catalog.pg_attribute a WHERE a.attrelid = %s AND a.attnum > 0 "
			   "AND NOT a.attisdropped ORDER BY a.attnum; ", oid);
		catalog_index_sql(s->catalog, out, oid);
	}
	return buf_ok(out);
}

bool fence_rebase(struct sink *s, const struct batch *b, const struct pc_result *r, const char *prefix,
		  bool *rekeyed)
{
	struct tcat *cats[FENCE_MAX];
	struct stable *tabs[FENCE_MAX];
	int n = batch_cats(b, cats, tabs), k;
	const PGresult *cols, *idx;
	bool whole, changed;

	*rekeyed = false;
	if (r->nresults < 2 * n)
		return true;            /* not answered whole: written as they are */
	for (k = 0; k < n; k++) {
		struct tcat *cat = cats[k];

		cols = r->results[2 * k];
		idx = r->results[2 * k + 1];
		if (PQntuples(cols) > 0 && strcmp(PQgetvalue(cols, 0, 4), cat->fp) == 0)
			continue;           /* this one did not change */
		if (!tcat_rebase(cat, cols, 0, PQntuples(cols), catalog_next_generation(s->catalog), &whole))
			return false;
		changed = false;
		if (whole && !tcat_rekey(cat, idx, &tabs[k]->conf, &changed))
			return false;
		*rekeyed |= changed;
		log_info(prefix, "table %s.%s changed while rows for it were buffered: %s%s",
			 cat->t.schema, cat->t.name, whole ? "its columns are followed by position (attnum)" :
			 "a column is gone or has another type; the rows are written as they came",
			 changed ? "; its key changed: rows are written one by one" : "");
	}
	/* rows still to come are read with a fresh catalog */
	for (k = 0; k < n; k++)
		sink_table_stale(tabs[k]);
	return true;
}
