/* SQL text generation for the write paths: quoting, COPY, staging, VALUES, unnest, ON CONFLICT. */
#include "sink/sqlgen.h"

#include <stdlib.h>
#include <string.h>

#include "protocol/copytext.h"

static bool is_explicit(const struct sg_val *v)
{
	return v->state == SG_NULL || v->state == SG_VALUE;
}

static bool is_named(const struct sg_val *v)
{
	return v->state != SG_OMIT;
}

static bool updates(const struct sg_table *t, enum conflict_mode m)
{
	return t->nkey > 0 && (m == CONFLICT_UPSERT || m == CONFLICT_UPDATE);
}

bool sg_same_run(const struct sg_table *t, enum conflict_mode m, enum write_mode w,
		 sg_row a, sg_row b)
{
	int i;

	for (i = 0; i < t->ncols; i++) {
		if (w != WRITE_INSERT && is_explicit(&a[i]) != is_explicit(&b[i]))
			return false;
		if (m == CONFLICT_UPDATE && updates(t, m) && t->cols[i].settable &&
		    is_named(&a[i]) != is_named(&b[i]))
			return false;
	}
	return true;
}

bool sg_shape_build(struct sg_shape *sh, const struct sg_table *t, enum conflict_mode m,
		    const sg_row *rows, size_t n)
{
	size_t r;
	int i;
	bool any;

	memset(sh, 0, sizeof(*sh));
	sh->ins = calloc((size_t)t->ncols + 1, sizeof(int));
	sh->set = calloc((size_t)t->ncols + 1, sizeof(int));
	if (sh->ins == NULL || sh->set == NULL) {
		sg_shape_free(sh);
		return false;
	}
	for (i = 0; i < t->ncols; i++) {
		any = false;
		for (r = 0; r < n && !any; r++)
			any = is_explicit(&rows[r][i]);
		if (any)
			sh->ins[sh->nins++] = i;
	}
	if (t->nkey == 0 || m == CONFLICT_STRICT) {
		sh->action = SG_PLAIN;
		return true;
	}
	if (m == CONFLICT_UPSERT || m == CONFLICT_UPDATE) {
		for (i = 0; i < t->ncols; i++) {
			if (!t->cols[i].settable)
				continue;
			any = m == CONFLICT_UPSERT;
			for (r = 0; r < n && !any; r++)
				any = is_named(&rows[r][i]);
			if (any)
				sh->set[sh->nset++] = i;
		}
	}
	sh->action = sh->nset > 0 ? SG_UPDATE : SG_NOTHING;
	return true;
}

void sg_shape_free(struct sg_shape *sh)
{
	free(sh->ins);
	free(sh->set);
	memset(sh, 0, sizeof(*sh));
}

void sg_ident(struct buf *b, const char *name)
{
	const char *p;

	buf_putc(b, '"');
	for (p = name; *p; p++) {
		if (*p == '"')
			buf_putc(b, '"');
		buf_putc(b, *p);
	}
	buf_putc(b, '"');
}

void sg_qualified(struct buf *b, const struct sg_table *t)
{
	sg_ident(b, t->schema);
	buf_putc(b, '.');
	sg_ident(b, t->name);
}

void sg_literal(struct buf *b, const char *s, size_t n)
{
	bool backslash = memchr(s, '\\', n) != NULL;
	size_t i;

	if (backslash)
		buf_putc(b, 'E');
	buf_putc(b, '\'');
	for (i = 0; i < n; i++) {
		if (s[i] == '\'' || (backslash && s[i] == '\\'))
			buf_putc(b, s[i]);
		buf_putc(b, s[i]);
	}
	buf_putc(b, '\'');
}

void sg_array_elem(struct buf *b, const struct sg_val *v)
{
	uint32_t i;

	if (v->state != SG_VALUE) {
		buf_puts(b, "NULL");
		return;
	}
	buf_putc(b, '"');
	for (i = 0; i < v->len; i++) {
		if (v->text[i] == '"' || v->text[i] == '\\')
			buf_putc(b, '\\');
		buf_putc(b, v->text[i]);
	}
	buf_putc(b, '"');
}

void sg_array_literal(struct buf *b, const sg_row *rows, size_t n, int col, char delim)
{
	size_t r;

	buf_putc(b, '{');
	for (r = 0; r < n; r++) {
		if (r)
			buf_putc(b, delim);
		sg_array_elem(b, &rows[r][col]);
	}
	buf_putc(b, '}');
}

static void ident_list(struct buf *b, const struct sg_table *t, const int *cols, int n)
{
	int i;

	buf_putc(b, '(');
	for (i = 0; i < n; i++) {
		if (i)
			buf_puts(b, ", ");
		sg_ident(b, t->cols[cols[i]].name);
	}
	buf_putc(b, ')');
}

void sg_conflict_clause(struct buf *b, const struct sg_table *t, const struct sg_shape *sh)
{
	int i;

	if (sh->action == SG_PLAIN)
		return;
	buf_puts(b, " ON CONFLICT ");
	ident_list(b, t, t->key, t->nkey);
	if (sh->action == SG_NOTHING) {
		buf_puts(b, " DO NOTHING");
		return;
	}
	buf_puts(b, " DO UPDATE SET ");
	for (i = 0; i < sh->nset; i++) {
		if (i)
			buf_puts(b, ", ");
		sg_ident(b, t->cols[sh->set[i]].name);
		buf_puts(b, " = EXCLUDED.");
		sg_ident(b, t->cols[sh->set[i]].name);
	}
}

static void stage_name(struct buf *b, const struct sg_table *t)
{
	buf_puts(b, "pg_temp.");
	sg_ident(b, t->stage);
}

void sg_stage_create(struct buf *b, const struct sg_table *t)
{
	int i, n = 0;

	buf_puts(b, "CREATE TEMP TABLE IF NOT EXISTS ");
	sg_ident(b, t->stage);
	buf_puts(b, " (");
	for (i = 0; i < t->ncols; i++) {
		if (!t->cols[i].insertable)
			continue;
		if (n++)
			buf_puts(b, ", ");
		sg_ident(b, t->cols[i].name);
		buf_putc(b, ' ');
		buf_puts(b, t->cols[i].type);
	}
	buf_puts(b, ") ON COMMIT DELETE ROWS");
}

void sg_stage_clear(struct buf *b, const struct sg_table *t)
{
	buf_puts(b, "DELETE FROM ");
	stage_name(b, t);
}

/* "COPY <the table or its stage> (cols) FROM STDIN" */
static void copy_from_stdin(struct buf *b, const struct sg_table *t, const struct sg_shape *sh, bool stage)
{
	buf_puts(b, "COPY ");
	if (stage)
		stage_name(b, t);
	else
		sg_qualified(b, t);
	buf_putc(b, ' ');
	ident_list(b, t, sh->ins, sh->nins);
	buf_puts(b, " FROM STDIN");
}

void sg_copy_target(struct buf *b, const struct sg_table *t, const struct sg_shape *sh)
{
	copy_from_stdin(b, t, sh, false);
}

void sg_copy_stage(struct buf *b, const struct sg_table *t, const struct sg_shape *sh)
{
	copy_from_stdin(b, t, sh, true);
}

/* Values up to this long are escaped into room for their worst case; longer
 * ones are measured first (no reservation of twice a large value). */
#define COPY_ONE_PASS 4096

void sg_copy_row(struct buf *b, const struct sg_shape *sh, sg_row row)
{
	const struct sg_val *v;
	char *dst;
	size_t n, worst = 1;
	int i;

	/* A row of small values (the usual): room for its worst case (every
	 * byte escaped) reserved once, the row written in one pass. */
	for (i = 0; i < sh->nins && worst <= COPY_ONE_PASS; i++) {
		v = &row[sh->ins[i]];
		worst += 1 + (v->state == SG_VALUE ? 2 * (size_t)v->len : COPYTEXT_NULL_LEN);
	}
	if (worst <= COPY_ONE_PASS) {
		dst = buf_reserve(b, worst);
		if (dst == NULL)
			return;
		n = 0;
		for (i = 0; i < sh->nins; i++) {
			v = &row[sh->ins[i]];
			if (i)
				dst[n++] = COPYTEXT_DELIM;
			if (v->state == SG_VALUE) {
				n += copytext_escape(dst + n, v->text, v->len);
			} else {
				memcpy(dst + n, COPYTEXT_NULL, COPYTEXT_NULL_LEN);
				n += COPYTEXT_NULL_LEN;
			}
		}
		dst[n++] = COPYTEXT_EOL;
		buf_advance(b, n);
		return;
	}
	for (i = 0; i < sh->nins; i++) {
		v = &row[sh->ins[i]];
		if (v->state == SG_VALUE && v->len <= COPY_ONE_PASS) {
			/* room for the worst case (every byte escaped): one pass */
			dst = buf_reserve(b, 1 + 2 * (size_t)v->len);
			if (dst == NULL)
				return;
			n = 0;
			if (i)
				dst[n++] = COPYTEXT_DELIM;
			buf_advance(b, n + copytext_escape(dst + n, v->text, v->len));
			continue;
		}
		if (i)
			buf_putc(b, COPYTEXT_DELIM);
		if (v->state != SG_VALUE) {
			buf_append(b, COPYTEXT_NULL, COPYTEXT_NULL_LEN);
			continue;
		}
		dst = buf_reserve(b, copytext_escaped_len(v->text, v->len));
		if (dst)
			buf_advance(b, copytext_escape(dst, v->text, v->len));
	}
	buf_putc(b, COPYTEXT_EOL);
}

/* "INSERT INTO schema.table (cols)" */
static void insert_head(struct buf *b, const struct sg_table *t, const int *cols, int ncols)
{
	buf_puts(b, "INSERT INTO ");
	sg_qualified(b, t);
	buf_putc(b, ' ');
	ident_list(b, t, cols, ncols);
}

void sg_insert_from_stage(struct buf *b, const struct sg_table *t, const struct sg_shape *sh)
{
	int i;

	insert_head(b, t, sh->ins, sh->nins);
	buf_puts(b, " SELECT ");
	for (i = 0; i < sh->nins; i++) {
		if (i)
			buf_puts(b, ", ");
		sg_ident(b, t->cols[sh->ins[i]].name);
	}
	buf_puts(b, " FROM ");
	stage_name(b, t);
	sg_conflict_clause(b, t, sh);
}

size_t sg_values_stmt(struct buf *b, const struct sg_table *t, const struct sg_shape *sh,
		      const sg_row *rows, size_t n, size_t maxbytes)
{
	static const int first_col = 0;
	const struct sg_val *v;
	size_t start = b->len, r;
	int i;

	if (sh->by_position && sh->nins > 0) {
		buf_puts(b, "INSERT INTO ");
		sg_qualified(b, t);
	} else if (sh->nins > 0) {
		insert_head(b, t, sh->ins, sh->nins);
	} else {
		insert_head(b, t, &first_col, 1);
	}
	buf_puts(b, " VALUES ");
	for (r = 0; r < n; r++) {
		if (r > 0 && b->len - start >= maxbytes)
			break;
		if (r)
			buf_puts(b, ", ");
		buf_putc(b, '(');
		if (sh->nins == 0)
			buf_puts(b, "DEFAULT");
		for (i = 0; i < sh->nins; i++) {
			if (i)
				buf_puts(b, ", ");
			v = &rows[r][sh->ins[i]];
			if (v->state == SG_VALUE)
				sg_literal(b, v->text, v->len);
			else if (v->state == SG_NULL)
				buf_puts(b, "NULL");
			else
				buf_puts(b, "DEFAULT");
		}
		buf_putc(b, ')');
	}
	sg_conflict_clause(b, t, sh);
	return r;
}

void sg_unnest_stmt(struct buf *b, const struct sg_table *t, const struct sg_shape *sh,
		    const sg_row *rows, size_t n)
{
	const struct sg_col *c;
	struct buf arr;
	int i;

	buf_init(&arr);
	insert_head(b, t, sh->ins, sh->nins);
	buf_puts(b, " SELECT ");
	for (i = 0; i < sh->nins; i++) {
		c = &t->cols[sh->ins[i]];
		buf_printf(b, "%su.c%d", i ? ", " : "", i + 1);
		if (c->is_array)
			buf_printf(b, "::%s", c->castbase);
	}
	buf_puts(b, " FROM unnest(");
	for (i = 0; i < sh->nins; i++) {
		c = &t->cols[sh->ins[i]];
		buf_reset(&arr);
		sg_array_literal(&arr, rows, n, sh->ins[i], c->is_array ? ',' : c->delim);
		if (i)
			buf_puts(b, ", ");
		if (buf_ok(&arr))
			sg_literal(b, arr.data, arr.len);
		else
			b->failed = true;
		buf_printf(b, "::%s[]", c->is_array ? "text" : c->castbase);
	}
	buf_puts(b, ") AS u(");
	for (i = 0; i < sh->nins; i++)
		buf_printf(b, "%sc%d", i ? ", " : "", i + 1);
	buf_putc(b, ')');
	sg_conflict_clause(b, t, sh);
	buf_free(&arr);
}

void sg_fingerprint(struct buf *b, const char *o)
{
	buf_printf(b, "(SELECT pg_catalog.md5(pg_catalog.string_agg(f.x, ',' ORDER BY f.x)) FROM ("
		   "SELECT 'c' || fc.xmin::text AS x FROM pg_catalog.pg_class fc WHERE fc.oid = %s "
		   "UNION ALL SELECT 'a' || fa.attnum || ':' || fa.xmin::text FROM pg_catalog.pg_attribute fa "
		   "WHERE fa.attrelid = %s AND fa.attnum > 0 "
		   "UNION ALL SELECT 'd' || fd.oid || ':' || fd.xmin::text FROM pg_catalog.pg_attrdef fd "
		   "WHERE fd.adrelid = %s "
		   "UNION ALL SELECT 'i' || fi.indexrelid || ':' || fi.xmin::text FROM pg_catalog.pg_index fi "
		   "WHERE fi.indrelid = %s "
		   "UNION ALL SELECT 'k' || fk.oid || ':' || fk.xmin::text FROM pg_catalog.pg_constraint fk "
		   "WHERE fk.conrelid = %s "
		   "UNION ALL SELECT 't' || ft.oid || ':' || ft.xmin::text FROM pg_catalog.pg_trigger ft "
		   "WHERE ft.tgrelid = %s "
		   "UNION ALL SELECT 'r' || fr.oid || ':' || fr.xmin::text FROM pg_catalog.pg_rewrite fr "
		   "WHERE fr.ev_class = %s) f)", o, o, o, o, o, o, o);
}
