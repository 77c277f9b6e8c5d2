/* Conversion: a unit's statement into typed rows with the table's catalog, and each row's key identity (route). */
#include "sink/internal.h"
#include "common/pool.h"

#include <stdlib.h>
#include <string.h>

#include "protocol/binval.h"

/* Statements with fewer values and tables with fewer columns convert with no
 * allocation but their rows. */
#define CONVERT_SMALL 32

/* ---- key identity ----
 *
 * A row's route identifies its key: rows PostgreSQL would see as the same key
 * always get the same route (different keys may, rarely, share one: that only
 * orders them as if they were equal). Each key column gives a token: the
 * canonical form of its value (keycanon.h), read in C, or for a spelling the
 * parser does not take from the database's output text; or, for KM_DBHASH
 * columns, the database's own hash of the value, which agrees with the type's
 * equality and the column's collation. */

static void put_token(struct buf *tok, const void *p, size_t n)
{
	key_token_put(tok, p, n);
}

/* varchar(n): characters past n that are all spaces are cut off on input. */
static size_t varchar_len(const char *s, size_t len, int maxlen)
{
	size_t i, chars = 0, cut = len;

	if (maxlen < 0)
		return len;
	for (i = 0; i < len; i++) {
		if (((unsigned char)s[i] & 0xC0) == 0x80)
			continue;
		if (chars == (size_t)maxlen)
			cut = i;
		chars++;
	}
	if (chars <= (size_t)maxlen)
		return len;
	for (i = cut; i < len; i++)
		if (s[i] != ' ')
			return len;     /* an error in the database: the row fails */
	return cut;
}

/* One key column's token from its text; false when it is not exact. */
static bool canon_token(const struct tcat *cat, int k, const char *text, size_t len, struct buf *tok,
			struct buf *scratch)
{
	bool exact;

	len = varchar_len(text, len, cat->kmaxlen[k]);
	buf_reset(scratch);
	exact = key_canon(cat->kinds[k], text, len, scratch);
	put_token(tok, scratch->data, scratch->len);
	return exact;
}

static void dbhash_token(struct buf *tok, int64_t h)
{
	char t[1 + sizeof(h)];

	t[0] = 'H';
	memcpy(t + 1, &h, sizeof(h));
	put_token(tok, t, sizeof(t));
}

/* row_route's buffers, kept from row to row (single-threaded) unless large. */
static struct buf route_tok, route_scratch;
#define ROUTE_KEEP 4096

void row_route(struct srow *r, const char *const *over, const int64_t *dbh, const uint8_t *hasdbh)
{
	const struct tcat *cat = r->cat;
	const struct sg_val *v;
	struct buf *tok = &route_tok, *scratch = &route_scratch;
	bool exact = true;
	int k;

	if (r->kres == KEY_DEFAULTED) {
		/* a constant default: every such row is the same key */
		r->has_route = !cat->key_unique_default;
		r->route = key_hash("D", 1);
		r->exact = true;
		return;
	}
	if (r->kres != KEY_OK) {
		r->has_route = false;
		r->exact = true;
		return;
	}
	if (cat->t.nkey == 1 && cat->kmodes[0] == KM_CANON && cat->kmaxlen[0] < 0 && !(over && over[0])) {
		/* one integer column (the usual key): no buffers */
		v = &r->vals[cat->t.key[0]];
		if (v->state == SG_VALUE && key_route_int(cat->kinds[0], v->text, v->len, &r->route)) {
			r->has_route = true;
			r->exact = true;
			return;
		}
	}
	buf_reset(tok);
	buf_reset(scratch);
	for (k = 0; k < cat->t.nkey; k++) {
		v = &r->vals[cat->t.key[k]];
		if (v->state != SG_VALUE) {
			put_token(tok, "N", 1);
		} else if (cat->kmodes[k] == KM_DBHASH) {
			if (hasdbh && hasdbh[k]) {
				dbhash_token(tok, dbh[k]);
			} else {
				put_token(tok, v->text, v->len);
				exact = false;
			}
		} else if (over && over[k]) {
			if (!canon_token(cat, k, over[k], strlen(over[k]), tok, scratch))
				exact = false;
		} else if (!canon_token(cat, k, v->text, v->len, tok, scratch)) {
			exact = false;
		}
	}
	r->has_route = true;
	r->exact = exact && buf_ok(tok);
	r->route = buf_ok(tok) ? key_hash(tok->data, tok->len) : 0;
	if (tok->cap > ROUTE_KEEP)
		buf_free(tok);
	if (scratch->cap > ROUTE_KEEP)
		buf_free(scratch);
}

bool returned_route(const struct tcat *cat, const char *const *vals, uint64_t *route)
{
	struct buf tok, scratch;
	bool ok = true;
	char *end;
	int64_t h;
	int k;

	buf_init(&tok);
	buf_init(&scratch);
	for (k = 0; k < cat->t.nkey && ok; k++) {
		if (vals[k] == NULL) {
			put_token(&tok, "N", 1);
		} else if (cat->kmodes[k] == KM_DBHASH) {
			h = strtoll(vals[k], &end, 10);
			ok = end != vals[k] && *end == '\0';
			dbhash_token(&tok, h);
		} else {
			ok = canon_token(cat, k, vals[k], strlen(vals[k]), &tok, &scratch);
		}
	}
	ok = ok && buf_ok(&tok);
	*route = ok ? key_hash(tok.data, tok.len) : 0;
	buf_free(&tok);
	buf_free(&scratch);
	return ok;
}

/* ---- rows ---- */

static bool find_column_at(const struct tcat *cat, const char *name, int hint, int *col)
{
	int i;

	/* (columns are usually named in the table's order: try there first) */
	if (hint >= 0 && hint < cat->t.ncols && strcmp(cat->t.cols[hint].name, name) == 0) {
		*col = hint;
		return true;
	}
	for (i = 0; i < cat->t.ncols; i++)
		if (strcmp(cat->t.cols[i].name, name) == 0) {
			*col = i;
			return true;
		}
	return false;
}

static bool find_column(const struct tcat *cat, const char *name, int *col)
{
	return find_column_at(cat, name, -1, col);
}

bool convert_describe(const struct tcat *cat, const struct ins_stmt *st, const uint32_t *declared, int ndeclared,
		      uint32_t *out, int nout)
{
	int colmap[CONVERT_SMALL], nv = st->nvals, i, c, k;
	bool seen[CONVERT_SMALL];
	const struct ccol *cx;
	char name[64];
	uint32_t t;

	/* (a statement of more columns or parameters: the backend describes it) */
	if (cat->tr.rules || nv <= 0 || nv >= CONVERT_SMALL || nout >= CONVERT_SMALL || ndeclared > nout ||
	    (st->ncols > 0 && st->ncols != nv) || nv > cat->t.ncols)
		return false;
	for (i = 0; i < nv; i++) {
		if (st->ncols == 0) {
			colmap[i] = i;
			continue;
		}
		ins_name_resolve(&st->cols[i], false, name, sizeof(name));
		if (!find_column_at(cat, name, i ? colmap[i - 1] + 1 : 0, &colmap[i]))
			return false;
		for (c = 0; c < i; c++)
			if (colmap[c] == colmap[i])
				return false;
	}
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < st->nrows; i++)
		for (c = 0; c < nv; c++) {
			const struct ins_value *v = &st->values[(size_t)i * (size_t)nv + (size_t)c];

			cx = &cat->cx[colmap[c]];
			if (v->kind == INS_DEFAULT)
				continue;
			/* a value for a generated column: the rewriter's error, at Parse */
			if (cx->generated || cx->identity_always || v->cast)
				return false;
			if (v->kind == INS_NULL)
				continue;
			if (v->kind != INS_PARAM)
				return false;           /* a literal is read at Parse: the backend says */
			k = v->param - 1;
			if (k < 0 || k >= nout || seen[k])
				return false;
			seen[k] = true;
			t = k < ndeclared ? declared[k] : 0;
			if (t == OID_UNKNOWN)
				t = 0;                  /* declared unknown: as undeclared */
			if (t == 0)
				out[k] = cx->typid;     /* an unknown parameter takes the column's type */
			else if (t == cx->typid || catalog_param_ok(t, cx->basetype))
				out[k] = t;
			else
				return false;           /* maybe no assignment cast: the backend says */
			if (out[k] == 0)
				return false;
		}
	for (k = 0; k < nout; k++)
		if (!seen[k]) {
			if (k >= ndeclared || declared[k] == 0 || declared[k] == OID_UNKNOWN)
				return false;           /* 42P18: its type cannot be told */
			out[k] = declared[k];
		}
	return true;
}

static struct srow *make_row(const struct tcat *cat, const struct sg_val *vals)
{
	size_t nc = (size_t)cat->t.ncols, text = 0, size, i;
	struct srow *r;
	char *p;

	for (i = 0; i < nc; i++)
		if (vals[i].state == SG_VALUE)
			text += vals[i].len + 1;
	size = sizeof(*r) + nc * sizeof(struct sg_val) + text;
	r = pool_alloc(size);
	if (r == NULL)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->bytes = size + ROW_OVERHEAD;
	r->alloc = size;
	p = (char *)r + sizeof(*r) + nc * sizeof(struct sg_val);
	for (i = 0; i < nc; i++) {
		r->vals[i] = vals[i];
		if (vals[i].state == SG_VALUE) {
			memcpy(p, vals[i].text, vals[i].len);
			p[vals[i].len] = '\0';
			r->vals[i].text = p;
			p += vals[i].len + 1;
		} else {
			r->vals[i].text = NULL;
			r->vals[i].len = 0;
		}
	}
	return r;
}

static bool add_row(struct sink_unit *u, struct srow *r)
{
	struct srow **rows;
	uint32_t cap;

	if (u->caprows == 0) {
		u->rows = &u->row1;
		u->caprows = 1;
	} else if (u->nrows == u->caprows) {
		cap = u->caprows < 4 ? 4 : u->caprows * 2;
		rows = u->rows == &u->row1 ? malloc((size_t)cap * sizeof(*rows)) :
		       realloc(u->rows, (size_t)cap * sizeof(*rows));
		if (rows == NULL)
			return false;
		if (u->rows == &u->row1)
			rows[0] = u->row1;
		u->rows = rows;
		u->caprows = cap;
	}
	u->rows[u->nrows++] = r;
	return true;
}

/* Drops the rows statement i added (it passes through after all). */
static void drop_stmt_rows(struct sink_unit *u, uint32_t first)
{
	while (u->nrows > first)
		row_free(u->s, u->rows[--u->nrows]);
}

char *convert_head_clause(struct sink *s, const struct stable *tab, const struct ins_stmt *st)
{
	const struct tcat *cat = tab->cat;
	struct sg_val *row;
	struct sg_shape sh;
	struct buf b;
	sg_row r;
	char name[64];
	int c;

	if (cat == NULL || tab->conf.conflictmode == CONFLICT_STRICT || cat->t.nkey == 0 ||
	    (st->ncols == 0 && st->nvals > cat->t.ncols))
		return NULL;            /* no clause, or its columns are not known */
	if ((row = calloc((size_t)cat->t.ncols + 1, sizeof(*row))) == NULL)
		return NULL;
	/* without a column list, the values name the leading columns */
	for (int i = 0; st->ncols == 0 && i < st->nvals; i++)
		row[i].state = SG_NULL;
	for (int i = 0; i < st->ncols; i++) {
		ins_name_resolve(&st->cols[i], false, name, sizeof(name));
		if (!find_column(cat, name, &c)) {
			free(row);
			return NULL;        /* the database's error, as sent */
		}
		row[c].state = SG_NULL;
	}
	buf_init(&b);
	r = row;
	if (sg_shape_build(&sh, &cat->t, tab->conf.conflictmode, &r, 1)) {
		sg_conflict_clause(&b, &cat->t, &sh);
		sg_shape_free(&sh);
	}
	free(row);
	if (!buf_ok(&b) || b.len == 0) {
		buf_free(&b);
		return NULL;
	}
	s->st.pass_clauses++;
	return buf_steal(&b);
}

/* The columns row names, comma separated. */
static void put_named(struct buf *out, const struct sg_table *t, const struct sg_val *row)
{
	for (int c = 0, k = 0; c < t->ncols; c++) {
		if (row[c].state == SG_OMIT)
			continue;
		if (k++)
			buf_puts(out, ", ");
		sg_ident(out, t->cols[c].name);
	}
}

/* The key columns, and (unless NULLS NOT DISTINCT) a row's ctid when its
 * key has a NULL: such a row is a key of its own. */
static void copy_key_order(struct buf *out, const struct tcat *cat)
{
	const struct sg_table *t = &cat->t;
	int k;

	for (k = 0; k < t->nkey; k++) {
		buf_puts(out, k ? ", " : "");
		sg_ident(out, t->cols[t->key[k]].name);
	}
	if (cat->nulls_not_distinct)
		return;
	buf_puts(out, ", CASE WHEN ");
	for (k = 0; k < t->nkey; k++) {
		buf_puts(out, k ? " OR " : "");
		sg_ident(out, t->cols[t->key[k]].name);
		buf_puts(out, " IS NULL");
	}
	buf_puts(out, " THEN ctid END");
}

bool convert_copy_insert(const struct stable *tab, const struct ins_stmt *head, const char *stage, struct buf *out)
{
	const struct tcat *cat = tab->cat;
	const struct sg_table *t = &cat->t;
	struct sg_val *row;
	struct sg_shape sh;
	sg_row r;
	char name[64];
	bool overriding = false, dedupe, ok;
	int c, k;

	if ((row = calloc((size_t)t->ncols + 1, sizeof(*row))) == NULL)
		return false;
	/* the COPY's columns, else every column COPY fills (not generated ones) */
	for (c = 0; head->ncols == 0 && c < t->ncols; c++)
		if (!cat->cx[c].generated)
			row[c].state = SG_NULL;
	for (int i = 0; i < head->ncols; i++) {
		ins_name_resolve(&head->cols[i], false, name, sizeof(name));
		if (find_column(cat, name, &c))
			row[c].state = SG_NULL;
	}
	for (c = 0; c < t->ncols; c++)
		overriding |= row[c].state != SG_OMIT && cat->cx[c].identity_always;
	buf_puts(out, "INSERT INTO ");
	sg_qualified(out, t);
	buf_puts(out, " (");
	put_named(out, t, row);
	/* COPY writes a GENERATED ALWAYS identity column as given */
	buf_puts(out, overriding ? ") OVERRIDING SYSTEM VALUE SELECT " : ") SELECT ");
	put_named(out, t, row);
	/* rows of one key in one COPY: DO UPDATE would affect a row twice
	 * (21000); as the same rows one by one, the last one's values stay, and
	 * the rows go in the order they came. A row with a NULL in its key is
	 * a key of its own unless the index says NULLS NOT DISTINCT. */
	dedupe = (tab->conf.conflictmode == CONFLICT_UPSERT || tab->conf.conflictmode == CONFLICT_UPDATE) &&
		 t->nkey > 0;
	/* (a key column COPY does not fill takes its default in the INSERT: the
	 * staging table cannot tell its rows apart; as the direct equivalent) */
	for (k = 0; dedupe && k < t->nkey; k++)
		dedupe = row[t->key[k]].state != SG_OMIT;
	if (dedupe) {
		buf_puts(out, " FROM (SELECT DISTINCT ON (");
		copy_key_order(out, cat);
		buf_puts(out, ") *, ctid AS \"pgbatchd ctid\" FROM pg_temp.");
		sg_ident(out, stage);
		buf_puts(out, " ORDER BY ");
		copy_key_order(out, cat);
		buf_puts(out, ", ctid DESC) pgbatchd_last ORDER BY \"pgbatchd ctid\"");
	} else {
		buf_puts(out, " FROM pg_temp.");
		sg_ident(out, stage);
	}
	r = row;
	ok = sg_shape_build(&sh, t, tab->conf.conflictmode, &r, 1);
	if (ok) {
		sg_conflict_clause(out, t, &sh);
		sg_shape_free(&sh);
	}
	free(row);
	return ok && buf_ok(out);
}

/* An E'' literal of s (any standard_conforming_strings). */
static void put_elit(struct buf *out, const char *s)
{
	buf_puts(out, "E'");
	for (; *s; s++) {
		if (*s == '\'' || *s == '\\')
			buf_putc(out, *s);
		buf_putc(out, *s);
	}
	buf_putc(out, '\'');
}

bool convert_copy_stage(const struct stable *tab, int version, const char *stage, struct buf *out)
{
	const struct tcat *cat = tab->cat;
	const char *gen = version >= 120000 ? " AND a.attgenerated = ''" : "";
	struct buf msg;
	size_t start = out->len;
	int c, k = 0;

	buf_printf(out, "DO $pgbatchd$BEGIN IF (SELECT pg_catalog.array_agg(a.attname ORDER BY a.attnum) "
		   "FROM pg_catalog.pg_attribute a WHERE a.attrelid = %u AND a.attnum > 0 AND NOT a.attisdropped%s) "
		   "IS DISTINCT FROM ARRAY[", cat->oid, gen);
	for (c = 0; c < cat->t.ncols; c++) {
		if (cat->cx[c].generated)
			continue;
		buf_puts(out, k++ ? ", " : "");
		put_elit(out, cat->t.cols[c].name);
	}
	buf_init(&msg);
	buf_printf(&msg, "table \"%s\" %s", tab->conf.name, SINK_COPY_STALE);
	buf_puts(out, "]::pg_catalog.name[] THEN RAISE EXCEPTION USING ERRCODE = '55000', MESSAGE = ");
	put_elit(out, buf_ok(&msg) ? msg.data : SINK_COPY_STALE);
	buf_free(&msg);
	/* (the table is read again at once: the COPY works when it is sent again) */
	buf_puts(out, ", HINT = 'Run the COPY again.'; END IF; ");
	/* the columns with their types and collations, no constraints */
	buf_printf(out, "EXECUTE (SELECT 'CREATE TEMP TABLE %s (' || pg_catalog.string_agg("
		   "pg_catalog.quote_ident(a.attname) || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod) || "
		   "COALESCE((SELECT ' COLLATE ' || pg_catalog.quote_ident(n.nspname) || '.' || "
		   "pg_catalog.quote_ident(o.collname) FROM pg_catalog.pg_collation o "
		   "JOIN pg_catalog.pg_namespace n ON n.oid = o.collnamespace WHERE o.oid = a.attcollation), ''), "
		   "', ' ORDER BY a.attnum) || ')' FROM pg_catalog.pg_attribute a WHERE a.attrelid = %u "
		   "AND a.attnum > 0 AND NOT a.attisdropped%s); END$pgbatchd$", stage, cat->oid, gen);
	/* a name holding the dollar quote would end the block */
	return buf_ok(out) && strstr(out->data + start + 4, "$pgbatchd$") == out->data + out->len - 10;
}

/* Whether st's column list is the one tab->cmap was made for, against cat. */
static bool cmap_hit(const struct stable *tab, const struct tcat *cat, const struct ins_stmt *st)
{
	const char *p = tab->cmap_names, *end = p + tab->cmap_len, *q;

	if (tab->cmap_gen == 0 || tab->cmap_gen != cat->gen || tab->cmap_n != st->ncols)
		return false;
	for (int i = 0; i < st->ncols; i++) {
		/* (one pass over each short name: no strlen and memcmp calls) */
		if (p == end || *p++ != (st->cols[i].quoted ? 'q' : 'u'))
			return false;
		for (q = st->cols[i].name; p < end && *q != '\0' && *p == *q; p++, q++)
			;
		if (p == end || *p != '\0' || *q != '\0')
			return false;
		p++;
	}
	return p == end;
}

/* Keeps st's column list and its map (valid: no unknown or repeated column). */
static void cmap_keep(struct stable *tab, const struct tcat *cat, const struct ins_stmt *st, const int *colmap)
{
	size_t len = 0, n;
	char *names, *p;
	int *map;

	for (int i = 0; i < st->ncols; i++)
		len += strlen(st->cols[i].name) + 2;
	names = malloc(len ? len : 1);
	map = malloc((size_t)st->ncols * sizeof(int));
	if (names == NULL || map == NULL) {
		free(names);
		free(map);
		return;
	}
	p = names;
	for (int i = 0; i < st->ncols; i++) {
		n = strlen(st->cols[i].name);
		*p = st->cols[i].quoted ? 'q' : 'u';
		memcpy(p + 1, st->cols[i].name, n + 1);
		p += n + 2;
	}
	memcpy(map, colmap, (size_t)st->ncols * sizeof(int));
	free(tab->cmap);
	free(tab->cmap_names);
	tab->cmap = map;
	tab->cmap_names = names;
	tab->cmap_len = len;
	tab->cmap_n = st->ncols;
	tab->cmap_gen = cat->gen;
}

enum convert_result convert_stmt(struct sink_unit *u, int si, enum pass_reason *why)
{
	struct sink *s = u->s;
	struct ustmt *us = &u->stmts[si];
	struct stable *tab = us->tab;
	struct tcat *cat = tab->cat;
	const struct ins_stmt *st = &us->st;
	struct srow *r;
	struct sg_val *vals = NULL;
	enum key_result kr;
	char name[64];
	int *colmap = NULL, i, c, nv = st->nvals;
	int colmap_small[CONVERT_SMALL];
	struct sg_val vals_small[CONVERT_SMALL];
	unsigned diff = 0;          /* settings that differ from the sink's connections' */
	const char *ctx = NULL;     /* what sets the session's for its rows (UTX_NONE) */
	bool ok = false, canon = false, own, key_unfree = false;

	*why = PASS_MEMORY;
	us->first = u->nrows;
	us->n = 0;
	/* (a row of a few columns, the common case, on the stack) */
	colmap = nv < CONVERT_SMALL ? colmap_small : calloc((size_t)nv + 1, sizeof(int));
	vals = cat->t.ncols < CONVERT_SMALL ? vals_small : calloc((size_t)cat->t.ncols + 1, sizeof(*vals));
	if (!colmap || !vals)
		goto done;
	if (u->ss->settings_diff_gen != s->settings_gen) {
		u->ss->settings_diff = 0;
		for (i = 0; i < SINK_SETTINGS; i++)
			if (u->ss->settings[i] && s->settings[i] && strcmp(u->ss->settings[i], s->settings[i]) != 0)
				u->ss->settings_diff |= 1u << i;
		u->ss->settings_diff_gen = s->settings_gen;
		u->ss->ctx = u->ss->settings_diff & ~8u ? session_ctx(s, u->ss) : NULL;
	}
	diff = u->ss->settings_diff;
	if (diff & 8u) {
		*why = PASS_SETTINGS;   /* client_encoding: every text reads otherwise */
		goto done;
	}
	/* Written by the writers, the rows get the session's settings set for
	 * them: its values, defaults and triggers read what they read directly.
	 * (In a transaction block the client's own connection writes them.) */
	if (u->tx == UTX_NONE && diff)
		ctx = u->ss->ctx;
	own = u->ss->private_settings || u->ss->custom_settings;
	if (u->tx == UTX_NONE && (own || cat->tr.session_defaults || (cat->tr.sequence_defaults && u->ss->seq_pass))) {
		/* what the write reads is the client's connection's: as sent, there */
		*why = own ? PASS_SESSION_SETTINGS : cat->tr.session_defaults ? PASS_SESSION_DEFAULT : PASS_SEQUENCE;
		goto done;
	}
	if (cat->key_deferrable && tab->conf.conflictmode != CONFLICT_STRICT) {
		*why = PASS_DEFERRABLE_KEY;     /* as sent with the clause: PostgreSQL's 55000 */
		goto done;
	}
	if (diff & 16u)
		diff |= 1u;             /* zone abbreviations: as another TimeZone */
	if (st->ncols > 0 && cmap_hit(tab, cat, st)) {
		memcpy(colmap, tab->cmap, (size_t)st->ncols * sizeof(int));
	} else if (st->ncols > 0) {
		for (i = 0; i < st->ncols; i++) {
			ins_name_resolve(&st->cols[i], false, name, sizeof(name));
			if (!find_column_at(cat, name, i ? colmap[i - 1] + 1 : 0, &colmap[i])) {
				*why = PASS_UNKNOWN_COLUMN;
				/* maybe a column added since the catalog was read */
				if (sink_now_ms() - tab->cat_ms >= RECHECK_MS)
					tab->stale = true;
				goto done;
			}
			for (c = 0; c < i; c++)
				if (colmap[c] == colmap[i]) {
					*why = PASS_DUPLICATE_COLUMN;
					goto done;
				}
		}
		cmap_keep(tab, cat, st, colmap);
	} else {
		if (nv > cat->t.ncols) {
			*why = PASS_TOO_MANY_VALUES;
			goto done;
		}
		for (i = 0; i < nv; i++)
			colmap[i] = i;
	}
	if (u->tx == UTX_LATE && !txbatch_count_stable(u, si, colmap, nv)) {
		*why = PASS_COUNT;
		goto done;
	}
	if (u->tx != UTX_NONE && st->nrows > 1 && tab->cls == TC_ROWWISE) {
		/* its rows are checked together at the statement's end (a foreign
		 * key among them), its statement triggers fire once: as sent, in
		 * the transaction, it is exact */
		*why = PASS_TX_ROWWISE;
		goto done;
	}
	for (i = 0; i < st->nrows; i++) {
		memset(vals, 0, (size_t)cat->t.ncols * sizeof(*vals));
		for (c = 0; c < nv; c++) {
			const struct ins_value *v = &st->values[(size_t)i * (size_t)nv + (size_t)c];

			if (diff && !catalog_setting_free(cat, colmap[c], v, diff)) {
				if (ctx == NULL) {
					*why = PASS_SETTINGS;
					goto done;
				}
				key_unfree |= catalog_is_key(cat, colmap[c]);
			}
			if (!catalog_value(cat, colmap[c], v, &vals[colmap[c]], why))
				goto done;
		}
		/* (its route, from the key's canonical form, below) */
		kr = cat->t.nkey ? key_result_of(cat->t.key, cat->t.nkey, vals, cat->nulls_not_distinct) : KEY_NULL;
		r = make_row(cat, vals);
		if (r == NULL)
			goto done;
		r->u = u;
		r->cat = tcat_ref(cat);
		r->stmt = (uint32_t)si;
		r->kres = (uint8_t)kr;
		r->positional = st->ncols == 0;
		charge(s, (int64_t)r->bytes);
		if (!add_row(u, r)) {
			row_free(s, r);
			goto done;
		}
		row_route(r, NULL, NULL, NULL);
		if (!r->exact)
			canon = true;
	}
	if (canon && key_unfree) {
		/* the database reads the key on the sink's connection, whose
		 * settings read it otherwise: its route (the order of the units
		 * writing it) would not be the key's */
		*why = PASS_SETTINGS;
		goto done;
	}
	us->n = u->nrows - us->first;
	us->ctx = ctx;
	ok = true;
	if (u->tx == UTX_NONE && cat->tr.sequence_defaults)
		u->ss->seq_taken = true;        /* its currval()/lastval() are not the session's now */
done:
	if (colmap != colmap_small)
		free(colmap);
	if (vals != vals_small)
		free(vals);
	if (!ok) {
		drop_stmt_rows(u, us->first);
		return CONVERT_PASS;
	}
	if (us->has_st) {
		ins_stmt_free(&us->st);
		us->has_st = false;
	}
	if (canon) {
		u->canon_pending++;
		catalog_canon(s->catalog, u, si);
		return CONVERT_CANON;
	}
	return CONVERT_OK;
}
