/* Catalog lookups through the sink's own connection (columns, types, key, privileges) and value mapping. */
#include "sink/internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/log.h"
#include "sink/pgconn.h"

#define CATALOG_PREFIX "sink catalog"
#define CONNECT_TIMEOUT_MS 10000

enum job_kind { JOB_LOAD = 0, JOB_PRIV, JOB_CANON };

struct cjob {
	struct cjob *next;
	enum job_kind kind;
	struct stable *tab;
	char *role;
	int step;
	uint32_t oid;
	struct tcat *cat;           /* being built */
	int *attnums;
	struct sink_ticket *ticket; /* JOB_CANON */
	char **over;                /* JOB_CANON: the database's text per row x key column */
	int64_t *dbh;               /* JOB_CANON: the database's hash per row x key column */
	uint8_t *hasdbh;
	uint32_t *idx;              /* JOB_CANON: the rows of the running query */
	size_t nidx;
	bool hashing;               /* the running query asks for hashes */
	bool hasdbh_row;
};

enum cstate { C_DOWN = 0, C_CONNECTING, C_INIT_VERSION, C_INIT_KIND, C_INIT_SET, C_READY, C_RUNNING };

struct catalog {
	struct sink *s;
	struct pgconn *pc;
	enum cstate state;
	struct cjob *head, *tail;
	int version;
	int failures;               /* consecutive connection failures */
	uint32_t generation;        /* of the last catalog built */
};

/* ---- the catalog connection and its jobs ---- */

static void on_pc(void *arg, const struct pc_result *r);
static void run(struct catalog *c);
static void job_done(struct catalog *c, enum cat_state cs, enum priv_state ps, enum pass_reason why,
		     struct berr *err);

struct catalog *catalog_new(struct sink *s)
{
	struct catalog *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->s = s;
	c->pc = pc_new(s->base, CATALOG_PREFIX, on_pc, c);
	if (c->pc == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

static void job_free(struct cjob *j)
{
	size_t i;

	if (j->over && j->ticket && j->ticket->crows && j->ticket->ncrows)
		for (i = 0; i < j->ticket->ncrows * (size_t)j->ticket->crows[0]->cat->t.nkey; i++)
			free(j->over[i]);
	free(j->over);
	free(j->dbh);
	free(j->hasdbh);
	free(j->idx);
	if (j->cat)
		tcat_unref(j->cat);
	free(j->attnums);
	free(j->role);
	free(j);
}

void catalog_free(struct catalog *c)
{
	struct cjob *j;

	if (c == NULL)
		return;
	while ((j = c->head) != NULL) {
		c->head = j->next;
		job_free(j);
	}
	pc_free(c->pc);
	free(c);
}

static void enqueue(struct catalog *c, struct cjob *j)
{
	if (c->tail)
		c->tail->next = j;
	else
		c->head = j;
	c->tail = j;
	run(c);
}

void catalog_close_idle(struct catalog *c)
{
	if (c->head == NULL && c->state != C_DOWN) {
		pc_close(c->pc);
		c->state = C_DOWN;
	}
}

void catalog_load(struct catalog *c, struct stable *tab)
{
	struct cjob *j = calloc(1, sizeof(*j));
	struct berr *e;

	if (j == NULL) {
		e = berr_new("53200", "out of memory", NULL, NULL);
		sink_catalog_done(tab, CAT_FAILED, NULL, PASS_MEMORY, e);
		berr_unref(e);
		return;
	}
	j->kind = JOB_LOAD;
	j->tab = tab;
	c->s->st.catalog_loads++;
	enqueue(c, j);
}

void catalog_check_priv(struct catalog *c, struct stable *tab, const char *role)
{
	struct cjob *j = calloc(1, sizeof(*j));
	struct berr *e;

	if (j)
		j->role = strdup(role);
	if (j == NULL || j->role == NULL) {
		free(j);
		e = berr_new("53200", "out of memory", NULL, NULL);
		sink_priv_done(tab, role, PRIV_FAILED, e);
		berr_unref(e);
		return;
	}
	j->kind = JOB_PRIV;
	j->tab = tab;
	enqueue(c, j);
}

void catalog_canon(struct catalog *c, struct stable *tab, struct sink_ticket *t)
{
	struct cjob *j = calloc(1, sizeof(*j));
	size_t n = t->ncrows * (size_t)t->crows[0]->cat->t.nkey;

	if (j) {
		j->over = calloc(n + 1, sizeof(char *));
		j->dbh = calloc(n + 1, sizeof(int64_t));
		j->hasdbh = calloc(n + 1, 1);
		j->idx = calloc(t->ncrows + 1, sizeof(uint32_t));
	}
	if (j == NULL || j->over == NULL || j->idx == NULL || j->dbh == NULL || j->hasdbh == NULL) {
		if (j) {
			free(j->over);
			free(j->dbh);
			free(j->hasdbh);
			free(j->idx);
			free(j);
		}
		sink_canon_done(t);     /* the keys stay as written */
		return;
	}
	j->kind = JOB_CANON;
	j->tab = tab;
	j->ticket = t;
	j->step = -1;
	enqueue(c, j);
}

/* Rewrites the keys of the ticket's rows with the database's spellings. */
/* The writer of row i: from the database's hashes of the key values the sink
 * cannot read and the canonical forms of the others. */
static void set_route(struct cjob *j, size_t i, struct srow *r, const struct tcat *cat,
		      struct buf *tok)
{
	int nkey = cat->t.nkey, k;
	const struct sg_val *v;
	size_t at;
	bool any = false;

	for (k = 0; k < nkey; k++)
		any |= j->hasdbh[i * (size_t)nkey + (size_t)k] != 0;
	j->hasdbh_row = any;
	if (!any)
		return;
	buf_reset(tok);
	for (k = 0; k < nkey; k++) {
		at = i * (size_t)nkey + (size_t)k;
		v = &r->vals[cat->t.key[k]];
		if (j->hasdbh[at]) {
			buf_putc(tok, 'H');
			buf_append(tok, &j->dbh[at], sizeof(j->dbh[at]));
		} else if (j->over[at]) {
			(void)key_canon(cat->kinds[k], j->over[at], strlen(j->over[at]), tok);
		} else if (v->state == SG_VALUE) {
			(void)key_canon(cat->kinds[k], v->text, v->len, tok);
		} else {
			buf_putc(tok, 'N');
		}
		buf_putc(tok, '\0');
	}
	if (buf_ok(tok))
		r->route = key_hash(tok->data, tok->len);
}

static void canon_apply(struct cjob *j)
{
	struct sink_ticket *t = j->ticket;
	struct tcat *cat = t->crows[0]->cat;
	int nkey = cat->t.nkey, k;
	struct sg_val *vals;
	struct srow *r;
	struct buf key;
	size_t i;
	bool exact, any;
	unsigned char *copy;

	buf_init(&key);
	vals = calloc((size_t)cat->t.ncols + 1, sizeof(*vals));
	for (i = 0; vals && i < t->ncrows; i++) {
		r = t->crows[i];
		if (r->kres != KEY_OK)
			continue;
		set_route(j, i, r, cat, &key);
		if (r->exact)
			continue;
		memcpy(vals, r->vals, (size_t)cat->t.ncols * sizeof(*vals));
		any = false;
		for (k = 0; k < nkey; k++) {
			const char *o = j->over[i * (size_t)nkey + (size_t)k];

			if (o) {
				vals[cat->t.key[k]].text = o;
				vals[cat->t.key[k]].len = (uint32_t)strlen(o);
				any = true;
			}
		}
		if (!any || key_build(&key, cat->kinds, cat->t.key, nkey, vals, cat->nulls_not_distinct,
				      &exact) != KEY_OK || !buf_ok(&key))
			continue;
		copy = malloc(key.len + 1);
		if (copy == NULL)
			continue;
		memcpy(copy, key.data, key.len);
		if (r->key_owned)
			free((void *)r->key);
		r->key = copy;
		r->key_owned = true;
		r->keylen = key.len;
		r->hash = key_hash(copy, key.len);
		r->exact = exact;
		if (!j->hasdbh_row)
			r->route = r->hash;
		j->hasdbh_row = false;
	}
	free(vals);
	buf_free(&key);
}

/* Sends the query for the next key column with values to read, or finishes. */
static bool canon_next(struct catalog *c, struct cjob *j)
{
	struct sink_ticket *t = j->ticket;
	struct tcat *cat = t->crows[0]->cat;
	const struct sg_val *v;
	const char *params[1];
	struct buf arr, sql, scratch;
	size_t i;
	int col;

	buf_init(&arr);
	buf_init(&sql);
	buf_init(&scratch);
	for (j->step++; j->step < cat->t.nkey; j->step++) {
		j->hashing = cat->kinds[j->step] == KEY_RAW;
		if (j->hashing ? c->s->nwriters < 2 : !key_kind_parses(cat->kinds[j->step]))
			continue;
		col = cat->t.key[j->step];
		j->nidx = 0;
		buf_reset(&arr);
		buf_putc(&arr, '{');
		for (i = 0; i < t->ncrows; i++) {
			if (t->crows[i]->kres != KEY_OK || (!j->hashing && t->crows[i]->exact))
				continue;
			v = &t->crows[i]->vals[col];
			if (v->state != SG_VALUE)
				continue;
			buf_reset(&scratch);
			if (!j->hashing && key_canon(cat->kinds[j->step], v->text, v->len, &scratch))
				continue;
			if (j->nidx)
				buf_putc(&arr, ',');
			sg_array_elem(&arr, v);
			j->idx[j->nidx++] = (uint32_t)i;
		}
		buf_putc(&arr, '}');
		if (j->nidx == 0)
			continue;
		/* hash_array hashes with the type's own hash function, which agrees
		 * with its equality ('1 day' = '24 hours', jsonb key order, ...) */
		buf_puts(&sql, j->hashing ? "SELECT pg_catalog.hash_array(ARRAY[u.x::" : "SELECT u.x::");
		buf_puts(&sql, cat->t.cols[col].type);
		buf_puts(&sql, j->hashing ? "]) FROM " : "::text FROM ");
		buf_puts(&sql, "unnest($1::text[]) WITH ORDINALITY AS u(x, n) ORDER BY u.n");
		if (!buf_ok(&arr) || !buf_ok(&sql))
			break;
		params[0] = arr.data;
		pc_params(c->pc, sql.data, 1, params);
		buf_free(&arr);
		buf_free(&sql);
		buf_free(&scratch);
		return true;
	}
	buf_free(&arr);
	buf_free(&sql);
	buf_free(&scratch);
	return false;
}

static void canon_step(struct catalog *c, const struct pc_result *r)
{
	struct cjob *j = c->head;
	int nkey = j->ticket->crows[0]->cat->t.nkey;
	size_t i;

	if (r != NULL && r->ok && r->rows && (size_t)PQntuples(r->rows) == j->nidx) {
		for (i = 0; i < j->nidx; i++) {
			size_t at = j->idx[i] * (size_t)nkey + (size_t)j->step;

			if (PQgetisnull(r->rows, (int)i, 0))
				continue;
			if (j->hashing) {
				j->dbh[at] = strtoll(PQgetvalue(r->rows, (int)i, 0), NULL, 10);
				j->hasdbh[at] = 1;
			} else {
				j->over[at] = strdup(PQgetvalue(r->rows, (int)i, 0));
			}
		}
	} else if (r != NULL) {
		log_debug(CATALOG_PREFIX, "key values left as written: %s",
			  r->message ? r->message : "unexpected result");
	}
	if (canon_next(c, j))
		return;
	canon_apply(j);
	job_done(c, CAT_READY, PRIV_FAILED, PASS_MEMORY, NULL);
}

/* Ends the head job; the callbacks may queue more jobs. */
static void job_done(struct catalog *c, enum cat_state cs, enum priv_state ps, enum pass_reason why,
		     struct berr *err)
{
	struct cjob *j = c->head;
	struct tcat *cat;

	c->head = j->next;
	if (c->head == NULL)
		c->tail = NULL;
	if (c->state == C_RUNNING)
		c->state = C_READY;
	if (j->kind == JOB_LOAD) {
		cat = cs == CAT_READY ? j->cat : NULL;
		sink_catalog_done(j->tab, cs, cat, why, err);
	} else if (j->kind == JOB_PRIV) {
		sink_priv_done(j->tab, j->role, ps, err);
	} else {
		struct sink_ticket *t = j->ticket;

		job_free(j);
		sink_canon_done(t);
		return;
	}
	job_free(j);
}

static void fail_head(struct catalog *c, const char *sqlstate, const char *msg, const char *detail)
{
	struct berr *e = berr_new(sqlstate, msg, detail, NULL);

	if (c->head->kind == JOB_LOAD)
		job_done(c, CAT_FAILED, PRIV_FAILED, PASS_MEMORY, e);
	else if (c->head->kind == JOB_PRIV)
		job_done(c, CAT_FAILED, PRIV_FAILED, PASS_PRIVILEGE_CHECK, e);
	else
		job_done(c, CAT_READY, PRIV_FAILED, PASS_MEMORY, NULL);    /* keys as written */
	berr_unref(e);
}

static void fail_all(struct catalog *c, const char *sqlstate, const char *msg)
{
	while (c->head)
		fail_head(c, sqlstate, msg, NULL);
}

static void start_connect(struct catalog *c)
{
	c->state = C_CONNECTING;
	log_debug(CATALOG_PREFIX, "connecting to %s", c->s->conninfo_log);
	pc_connect(c->pc, c->s->kw, c->s->val, CONNECT_TIMEOUT_MS);
}

static void start_job(struct catalog *c)
{
	struct cjob *j = c->head;
	struct stable *tab = j->tab;
	const char *params[2];
	char oid[16];

	c->state = C_RUNNING;
	if (j->kind == JOB_CANON) {
		j->step = -1;
		if (!canon_next(c, j)) {
			canon_apply(j);
			job_done(c, CAT_READY, PRIV_FAILED, PASS_MEMORY, NULL);
			run(c);
		}
		return;
	}
	if (j->kind == JOB_PRIV) {
		if (tab->cat == NULL) {
			job_done(c, CAT_FAILED, PRIV_FAILED, PASS_PRIVILEGE_CHECK, NULL);
			run(c);
			return;
		}
		snprintf(oid, sizeof(oid), "%u", tab->cat->oid);
		params[0] = j->role;
		params[1] = oid;
		pc_params(c->pc, "SELECT pg_catalog.has_table_privilege($1, $2::pg_catalog.oid, 'INSERT'), "
			  "pg_catalog.has_any_column_privilege($1, $2::pg_catalog.oid, 'INSERT')", 2, params);
		return;
	}
	j->step = 0;
	if (j->cat) {
		/* restarted after a lost connection */
		tcat_unref(j->cat);
		j->cat = NULL;
		free(j->attnums);
		j->attnums = NULL;
	}
	params[0] = tab->conf.targetschema;
	params[1] = tab->conf.name;
	pc_params(c->pc, c->version >= 90500 ?
		  "SELECT c.oid, c.relkind, c.relrowsecurity FROM pg_catalog.pg_class c "
		  "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
		  "WHERE n.nspname = $1 AND c.relname = $2" :
		  "SELECT c.oid, c.relkind, false FROM pg_catalog.pg_class c "
		  "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
		  "WHERE n.nspname = $1 AND c.relname = $2", 2, params);
}

static void run(struct catalog *c)
{
	if (c->head == NULL)
		return;
	if (c->state == C_DOWN)
		start_connect(c);
	else if (c->state == C_READY)
		start_job(c);
}

static char *dupv(const PGresult *r, int row, int col)
{
	return strdup(PQgetvalue(r, row, col));
}

static bool is_true(const PGresult *r, int row, int col)
{
	return PQgetvalue(r, row, col)[0] == 't';
}

/* Builds the columns of j->cat from the column query. */
static bool load_columns(struct catalog *c, struct cjob *j, const PGresult *r)
{
	struct tcat *cat;
	struct sg_col *col;
	struct ccol *cx;
	const char *def, *gen, *ident;
	int n = PQntuples(r), i;
	char stage[64];

	cat = calloc(1, sizeof(*cat));
	if (cat == NULL)
		return false;
	cat->refs = 1;
	cat->gen = ++c->generation;
	cat->oid = j->oid;
	j->cat = cat;
	snprintf(stage, sizeof(stage), "pgbatchd_stage_%u_%u", cat->oid, cat->gen);
	cat->t.schema = strdup(j->tab->conf.targetschema);
	cat->t.name = strdup(j->tab->conf.name);
	cat->t.stage = strdup(stage);
	cat->t.cols = calloc((size_t)n + 1, sizeof(*cat->t.cols));
	cat->cx = calloc((size_t)n + 1, sizeof(*cat->cx));
	j->attnums = calloc((size_t)n + 1, sizeof(int));
	if (!cat->t.schema || !cat->t.name || !cat->t.stage || !cat->t.cols || !cat->cx || !j->attnums)
		return false;
	for (i = 0; i < n; i++) {
		col = &cat->t.cols[i];
		cx = &cat->cx[i];
		cat->t.ncols = i + 1;
		j->attnums[i] = atoi(PQgetvalue(r, i, 0));
		col->name = dupv(r, i, 1);
		cx->decl = dupv(r, i, 2);
		cx->decl_nomod = dupv(r, i, 3);
		cx->basetype = (uint32_t)strtoul(PQgetvalue(r, i, 4), NULL, 10);
		col->type = dupv(r, i, 5);
		col->castbase = dupv(r, i, 6);
		if (!col->name || !cx->decl || !cx->decl_nomod || !col->type || !col->castbase)
			return false;
		cx->category = PQgetvalue(r, i, 7)[0];
		col->is_array = cx->category == 'A';
		col->delim = PQgetvalue(r, i, 8)[0] ? PQgetvalue(r, i, 8)[0] : ',';
		def = PQgetisnull(r, i, 9) ? NULL : PQgetvalue(r, i, 9);
		gen = PQgetvalue(r, i, 11);
		ident = PQgetvalue(r, i, 12);
		cx->generated = gen[0] != '\0';
		cx->identity_always = ident[0] == 'a';
		cx->unique_default = ident[0] != '\0' ||
				     (def && !cx->generated && strncmp(def, "nextval(", 8) == 0);
		col->insertable = !cx->generated && !cx->identity_always;
	}
	return true;
}

static int col_by_attnum(const struct cjob *j, int attnum)
{
	int i;

	for (i = 0; i < j->cat->t.ncols; i++)
		if (j->attnums[i] == attnum)
			return i;
	return -1;
}

/* Parses an indkey ("1 3") into column indexes; false if one is not a plain column. */
static int index_cols(const struct cjob *j, const char *indkey, int *out, int max)
{
	const char *p = indkey;
	char *end;
	long a;
	int n = 0, ci;

	while (*p) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		a = strtol(p, &end, 10);
		if (end == p || n >= max)
			return -1;
		p = end;
		ci = col_by_attnum(j, (int)a);
		if (ci < 0)
			return -1;
		out[n++] = ci;
	}
	return n;
}

static void fold(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Picks the key: the primary key, else the unique index matching conflictkey. */
static bool load_key(struct catalog *c, struct cjob *j, const PGresult *r, struct berr **err)
{
	struct tcat *cat = j->cat;
	struct stable *tab = j->tab;
	int nidx = PQntuples(r), ncols = cat->t.ncols, i, k, n, want[64], nwant = 0, have[64];
	char *ck = NULL, *tok, *save = NULL, *p, msg[512];
	bool found = false, match;

	(void)c;
	cat->t.key = calloc((size_t)ncols + 1, sizeof(int));
	if (cat->t.key == NULL)
		return false;
	for (i = 0; i < nidx && !found; i++) {
		if (!is_true(r, i, 0))
			continue;
		n = index_cols(j, PQgetvalue(r, i, 1), have, 64);
		if (n <= 0)
			continue;
		memcpy(cat->t.key, have, (size_t)n * sizeof(int));
		cat->t.nkey = n;
		cat->nulls_not_distinct = is_true(r, i, 2);
		found = true;
		if (tab->conf.conflictkey)
			log_warning(CATALOG_PREFIX, "table %s.%s has a primary key: conflictkey is not used",
				    tab->conf.targetschema, tab->conf.name);
	}
	if (!found && tab->conf.conflictkey) {
		ck = strdup(tab->conf.conflictkey);
		if (ck == NULL)
			return false;
		for (tok = strtok_r(ck, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			while (*tok == ' ' || *tok == '\t')
				tok++;
			for (p = tok + strlen(tok); p > tok && (p[-1] == ' ' || p[-1] == '\t'); p--)
				p[-1] = '\0';
			if (!tab->conf.casesensitive)
				fold(tok);
			for (k = 0; k < ncols; k++)
				if (strcmp(cat->t.cols[k].name, tok) == 0)
					break;
			if (k == ncols || nwant >= 64) {
				snprintf(msg, sizeof(msg), "conflictkey column \"%s\" of table \"%s\".\"%s\" does not exist",
					 tok, tab->conf.targetschema, tab->conf.name);
				*err = berr_new("42703", msg, NULL, NULL);
				free(ck);
				return true;
			}
			want[nwant++] = k;
		}
		free(ck);
		for (i = 0; i < nidx && !found; i++) {
			n = index_cols(j, PQgetvalue(r, i, 1), have, 64);
			if (n != nwant || !is_true(r, i, 3))
				continue;
			match = true;
			for (k = 0; k < nwant && match; k++) {
				int m;

				match = false;
				for (m = 0; m < n; m++)
					if (have[m] == want[k])
						match = true;
			}
			if (!match)
				continue;
			memcpy(cat->t.key, want, (size_t)nwant * sizeof(int));
			cat->t.nkey = nwant;
			cat->nulls_not_distinct = is_true(r, i, 2);
			found = true;
		}
		if (!found) {
			snprintf(msg, sizeof(msg),
				 "there is no unique constraint matching the conflictkey of table \"%s\".\"%s\"",
				 tab->conf.targetschema, tab->conf.name);
			*err = berr_new("42P10", msg, tab->conf.conflictkey, NULL);
			return true;
		}
	}
	cat->kinds = calloc((size_t)cat->t.nkey + 1, sizeof(*cat->kinds));
	if (cat->kinds == NULL)
		return false;
	cat->key_unique_default = cat->t.nkey > 0;
	for (k = 0; k < cat->t.nkey; k++) {
		i = cat->t.key[k];
		cat->t.cols[i].key = true;
		cat->kinds[k] = key_kind_for_type(cat->cx[i].basetype);
		if (!cat->cx[i].unique_default)
			cat->key_unique_default = false;
	}
	for (i = 0; i < ncols; i++)
		cat->t.cols[i].settable = cat->t.cols[i].insertable && !cat->t.cols[i].key;
	return true;
}

/* Sends sql with the table's OID as $1. */
static void query_oid(struct catalog *c, const char *sql, uint32_t oid)
{
	const char *params[1];
	char num[16];

	snprintf(num, sizeof(num), "%u", oid);
	params[0] = num;
	pc_params(c->pc, sql, 1, params);
}

static void columns_query(struct catalog *c, struct cjob *j)
{
	char sql[2048];

	snprintf(sql, sizeof(sql),
		 "SELECT a.attnum, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), "
		 "pg_catalog.format_type(a.atttypid, -1), b.oid, "
		 "pg_catalog.format_type(b.oid, CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END), "
		 "pg_catalog.format_type(b.oid, -1), b.typcategory, b.typdelim, "
		 "pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attnotnull, %s, %s "
		 "FROM pg_catalog.pg_attribute a "
		 "JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
		 "JOIN pg_catalog.pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END "
		 "LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
		 "WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
		 c->version >= 120000 ? "a.attgenerated" : "''",
		 c->version >= 100000 ? "a.attidentity" : "''");
	query_oid(c, sql, j->oid);
}

static void index_query(struct catalog *c, struct cjob *j)
{
	char sql[1024];

	snprintf(sql, sizeof(sql),
		 "SELECT i.indisprimary, i.indkey, %s, i.indimmediate FROM pg_catalog.pg_index i "
		 "WHERE i.indrelid = $1 AND i.indisunique AND i.indisvalid "
		 "AND i.indpred IS NULL AND i.indexprs IS NULL ORDER BY i.indexrelid",
		 c->version >= 150000 ? "i.indnullsnotdistinct" : "false");
	query_oid(c, sql, j->oid);
}

static void load_step(struct catalog *c, const struct pc_result *r)
{
	struct cjob *j = c->head;
	struct berr *err = NULL;
	const char *kind;

	if (!r->ok) {
		fail_head(c, r->sqlstate, r->message, r->detail);
		return;
	}
	switch (j->step) {
	case 0:
		if (r->rows == NULL || PQntuples(r->rows) == 0) {
			job_done(c, CAT_MISSING, PRIV_FAILED, PASS_UNKNOWN_TABLE, NULL);
			return;
		}
		kind = PQgetvalue(r->rows, 0, 1);
		if (strcmp(kind, "r") != 0 && strcmp(kind, "p") != 0) {
			job_done(c, CAT_MISSING, PRIV_FAILED, PASS_NOT_TABLE, NULL);
			return;
		}
		if (is_true(r->rows, 0, 2)) {
			job_done(c, CAT_MISSING, PRIV_FAILED, PASS_ROW_SECURITY, NULL);
			return;
		}
		j->oid = (uint32_t)strtoul(PQgetvalue(r->rows, 0, 0), NULL, 10);
		j->step = 1;
		columns_query(c, j);
		return;
	case 1:
		if (r->rows == NULL || !load_columns(c, j, r->rows)) {
			fail_head(c, "53200", "out of memory loading the catalog", NULL);
			return;
		}
		j->step = 2;
		index_query(c, j);
		return;
	default:
		if (r->rows == NULL || !load_key(c, j, r->rows, &err)) {
			fail_head(c, "53200", "out of memory loading the catalog", NULL);
			return;
		}
		if (err) {
			job_done(c, CAT_FAILED, PRIV_FAILED, PASS_MEMORY, err);
			berr_unref(err);
			return;
		}
		job_done(c, CAT_READY, PRIV_FAILED, PASS_MEMORY, NULL);
		return;
	}
}

static void priv_step(struct catalog *c, const struct pc_result *r)
{
	enum priv_state ps;

	if (!r->ok || r->rows == NULL || PQntuples(r->rows) != 1) {
		fail_head(c, r->sqlstate[0] ? r->sqlstate : "XX000", r->message ? r->message :
			  "privilege check failed", r->detail);
		return;
	}
	if (is_true(r->rows, 0, 0))
		ps = PRIV_YES;
	else if (is_true(r->rows, 0, 1))
		ps = PRIV_COLUMNS;
	else
		ps = PRIV_NO;
	job_done(c, CAT_READY, ps, PASS_PRIVILEGE_CHECK, NULL);
}

static void on_pc(void *arg, const struct pc_result *r)
{
	struct catalog *c = arg;
	struct sink *s = c->s;

	switch (r->event) {
	case PC_CONNECTED:
		if (!r->ok) {
			c->state = C_DOWN;
			c->failures++;
			log_warning(CATALOG_PREFIX, "cannot connect to the backend: %s", r->message);
			fail_all(c, "08001", r->message ? r->message : "cannot connect to the backend");
			return;
		}
		c->failures = 0;
		c->version = pc_server_version(c->pc);
		/* what literals mean on the sink's connections (before any SET) */
		for (int i = 0; i < SINK_SETTINGS; i++) {
			const char *v = pc_parameter(c->pc, sink_setting_names[i]);

			if (v && (s->settings[i] == NULL || strcmp(s->settings[i], v) != 0)) {
				free(s->settings[i]);
				s->settings[i] = strdup(v);
			}
		}
		c->state = C_INIT_VERSION;
		pc_query(c->pc, "SELECT pg_catalog.version()");
		return;
	case PC_LOST:
		c->state = C_DOWN;
		c->failures++;
		log_warning(CATALOG_PREFIX, "connection lost: %s", r->message ? r->message : "");
		if (c->failures > s->maxretrytimes)
			fail_all(c, r->sqlstate[0] ? r->sqlstate : "08006",
				 r->message ? r->message : "connection lost");
		run(c);
		return;
	case PC_DONE:
		break;
	}
	switch (c->state) {
	case C_INIT_VERSION:
		if (r->ok && r->rows && PQntuples(r->rows) == 1 &&
		    strstr(PQgetvalue(r->rows, 0, 0), "Greenplum"))
			s->kind = BACKEND_GREENPLUM;
		c->state = C_INIT_KIND;
		pc_query(c->pc, "SHOW adbpg_version");
		return;
	case C_INIT_KIND:
		/* Fails on anything but AnalyticDB for PostgreSQL. */
		if (r->ok)
			s->kind = BACKEND_ADBPG;
		log_info(CATALOG_PREFIX, "backend is %s, server version %d",
			 s->kind == BACKEND_ADBPG ? "AnalyticDB for PostgreSQL" :
			 s->kind == BACKEND_GREENPLUM ? "Greenplum" : "PostgreSQL", c->version);
		/* Output forms the key parsers read: ISO dates (the input field order
		 * stays the server's), floats that round-trip exactly. */
		c->state = C_INIT_SET;
		pc_query(c->pc, "SET DateStyle = 'ISO'; SET extra_float_digits = 3");
		return;
	case C_INIT_SET:
		if (!r->ok)
			log_warning(CATALOG_PREFIX, "cannot set output styles: %s", r->message);
		c->state = C_READY;
		run(c);
		return;
	case C_RUNNING:
		if (c->head->kind == JOB_LOAD)
			load_step(c, r);
		else if (c->head->kind == JOB_PRIV)
			priv_step(c, r);
		else
			canon_step(c, r);
		run(c);
		return;
	default:
		return;
	}
}
