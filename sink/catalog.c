/* Catalog lookups through the sink's own connection (columns, types, key, privileges) and value mapping. */
#include "sink/internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "sink/pgconn.h"
#include "sink/shardwatch.h"

#include <event2/event.h>

#define CATALOG_PREFIX "sink catalog"
#define CONNECT_TIMEOUT_MS 10000
#define LEDGER_PRUNE_MS (5 * 60 * 1000)

enum job_kind { JOB_LOAD = 0, JOB_PRIV, JOB_CANON, JOB_PRUNE, JOB_CANCEL, JOB_BLOCKERS, JOB_QUERY };

/* No catalog question waits longer for a lock a client may hold (the
 * connection serves every session); none of them takes a table lock. */
#define CATALOG_LOCK_TIMEOUT "5s"

struct cjob {
	struct cjob *next;
	enum job_kind kind;
	struct stable *tab;
	char *role;
	int step;
	int pid;                    /* JOB_CANCEL, JOB_BLOCKERS: the writer's backend */
	char *what;                 /* JOB_BLOCKERS: the waiting batch, for the log; JOB_QUERY: its SQL */
	void (*fn)(void *arg, const struct pc_result *r);   /* JOB_QUERY: its answer (NULL: failed) */
	void *fn_arg;
	uint32_t oid;
	struct tcat *cat;           /* being built */
	int *attnums;
	char fp[33];                /* JOB_LOAD: the fingerprint read with the table's OID */
	/* JOB_CANON: the rows of a unit's statement whose keys the database reads */
	struct sink_unit *unit;
	struct srow **rows;
	size_t nrows;
	int nkey;
	char **over;                /* the database's output text per row x key column */
	int64_t *dbh;               /* the database's hash per row x key column */
	uint8_t *hasdbh;
	uint32_t *idx;              /* the rows of the running query */
	size_t nidx;
	bool hashing;               /* the running query asks for hashes */
};

enum cstate {
	C_DOWN = 0, C_CONNECTING, C_INIT_VERSION, C_INIT_KIND, C_INIT_SET, C_INIT_LEDGER, C_INIT_TIMEOUT, C_READY,
	C_RUNNING
};

struct catalog {
	struct sink *s;
	struct pgconn *pc;
	enum cstate state;
	struct cjob *head, *tail;
	int version;
	int failures;               /* consecutive connection failures */
	uint32_t generation;        /* of the last catalog built */
	struct event *prune_ev;     /* the ledger's old rows go every so often */
	bool prune_queued;
	bool ledger_said;           /* the ledger's state is logged (once per change) */
	bool ledger_raced;          /* its creation lost a race once, and was asked again */
	bool failing;               /* fail_all is running: nothing starts */
	char *citus_version;        /* the citus extension's, when the backend has it */
};

/* ---- the catalog connection and its jobs ---- */

/* Creates the ledger where it is missing, and asks whether it can be used. */
static void create_ledger(struct catalog *c)
{
	struct buf sql;

	buf_init(&sql);
	ledger_create_sql(c->s, &sql);
	c->state = C_INIT_LEDGER;
	pc_query(c->pc, buf_ok(&sql) ? sql.data : "SELECT false");
	buf_free(&sql);
}

static void on_pc(void *arg, const struct pc_result *r);
static void on_prune(evutil_socket_t fd, short what, void *arg);
static void run(struct catalog *c);
static void start_connect(struct catalog *c);
static void job_done(struct catalog *c, enum cat_state cs, enum priv_state ps, enum pass_reason why,
		     struct berr *err);

struct catalog *catalog_new(struct sink *s)
{
	struct catalog *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->s = s;
	c->pc = pc_new(s->base, CATALOG_PREFIX, on_pc, c);
	c->prune_ev = event_new(s->base, -1, EV_PERSIST, on_prune, c);
	if (c->pc == NULL || c->prune_ev == NULL) {
		catalog_free(c);
		return NULL;
	}
	return c;
}

static void job_free(struct cjob *j)
{
	size_t i;

	if (j->over)
		for (i = 0; i < j->nrows * (size_t)j->nkey; i++)
			free(j->over[i]);
	free(j->over);
	free(j->dbh);
	free(j->hasdbh);
	free(j->idx);
	free(j->rows);
	if (j->cat)
		tcat_unref(j->cat);
	free(j->attnums);
	free(j->role);
	free(j->what);
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
	if (c->prune_ev)
		event_free(c->prune_ev);
	free(c->citus_version);
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
	event_del(c->prune_ev);
	shardwatch_stop(c->s->shardwatch);
	if (c->head == NULL && c->state != C_DOWN) {
		pc_close(c->pc);
		c->state = C_DOWN;
	}
}

/* Every LEDGER_PRUNE_MS: the ledger's old rows are deleted. */
static void on_prune(evutil_socket_t fd, short what, void *arg)
{
	struct catalog *c = arg;
	struct cjob *j;

	(void)fd;
	(void)what;
	if (!c->s->ledger_ok || c->prune_queued || c->s->draining)
		return;
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return;
	j->kind = JOB_PRUNE;
	c->prune_queued = true;
	enqueue(c, j);
}

void catalog_cancel_backend(struct catalog *c, int pid)
{
	struct cjob *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return;         /* the unit then waits for its batch's outcome */
	j->kind = JOB_CANCEL;
	j->pid = pid;
	enqueue(c, j);
}

void catalog_log_blockers(struct catalog *c, int pid, const char *what)
{
	struct cjob *j = calloc(1, sizeof(*j));

	if (j)
		j->what = strdup(what);
	if (j == NULL || j->what == NULL) {
		free(j);
		return;
	}
	j->kind = JOB_BLOCKERS;
	j->pid = pid;
	enqueue(c, j);
}

void catalog_query(struct catalog *c, const char *sql, void (*fn)(void *arg, const struct pc_result *r),
		   void *arg)
{
	struct cjob *j = calloc(1, sizeof(*j));

	if (j == NULL || (j->what = strdup(sql)) == NULL) {
		free(j);
		fn(arg, NULL);
		return;
	}
	j->kind = JOB_QUERY;
	j->fn = fn;
	j->fn_arg = arg;
	enqueue(c, j);
}

void catalog_start(struct catalog *c)
{
	if (c->state == C_DOWN)
		start_connect(c);
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

void catalog_canon(struct catalog *c, struct sink_unit *u, int si)
{
	const struct ustmt *us = &u->stmts[si];
	struct cjob *j = calloc(1, sizeof(*j));
	size_t n = 0, i;
	int nkey = us->n ? u->rows[us->first]->cat->t.nkey : 0;

	if (j) {
		j->rows = calloc((size_t)us->n + 1, sizeof(*j->rows));
		j->over = calloc((size_t)us->n * (size_t)nkey + 1, sizeof(char *));
		j->dbh = calloc((size_t)us->n * (size_t)nkey + 1, sizeof(int64_t));
		j->hasdbh = calloc((size_t)us->n * (size_t)nkey + 1, 1);
		j->idx = calloc((size_t)us->n + 1, sizeof(uint32_t));
	}
	if (j == NULL || !j->rows || !j->over || !j->idx || !j->dbh || !j->hasdbh) {
		if (j)
			job_free(j);
		sink_canon_done(u);     /* the keys stay as written: ordered as if they differ */
		return;
	}
	for (i = 0; i < us->n; i++)
		if (!u->rows[us->first + i]->exact)
			j->rows[n++] = u->rows[us->first + i];
	j->nrows = n;
	j->nkey = nkey;
	j->kind = JOB_CANON;
	j->tab = us->tab;
	j->unit = u;
	j->step = -1;
	enqueue(c, j);
}

/* Each row's route, now with what the database said of its key values. */
static void canon_apply(struct cjob *j)
{
	size_t i;

	for (i = 0; i < j->nrows; i++) {
		size_t at = i * (size_t)j->nkey;

		row_route(j->rows[i], (const char *const *)&j->over[at], &j->dbh[at], &j->hasdbh[at]);
	}
}

/* True when key column k of row r must be read by the database. */
static bool canon_needed(const struct srow *r, int k, bool hashing, struct buf *scratch)
{
	const struct tcat *cat = r->cat;
	const struct sg_val *v = &r->vals[cat->t.key[k]];

	if (v->state != SG_VALUE)
		return false;
	if (hashing)
		return true;
	buf_reset(scratch);
	return !key_canon(cat->kinds[k], v->text, v->len, scratch);
}

/* Sends the query for the next key column with values to read, or finishes. */
static bool canon_next(struct catalog *c, struct cjob *j)
{
	const struct tcat *cat;
	const char *params[1];
	struct buf arr, sql, scratch;
	size_t i;
	int col;

	if (j->nrows == 0)
		return false;
	cat = j->rows[0]->cat;
	buf_init(&arr);
	buf_init(&sql);
	buf_init(&scratch);
	for (j->step++; j->step < j->nkey; j->step++) {
		j->hashing = cat->kmodes[j->step] == KM_DBHASH;
		col = cat->t.key[j->step];
		j->nidx = 0;
		buf_reset(&arr);
		buf_putc(&arr, '{');
		for (i = 0; i < j->nrows; i++) {
			if (!canon_needed(j->rows[i], j->step, j->hashing, &scratch))
				continue;
			if (j->nidx)
				buf_putc(&arr, ',');
			sg_array_elem(&arr, &j->rows[i]->vals[col]);
			j->idx[j->nidx++] = (uint32_t)i;
		}
		buf_putc(&arr, '}');
		if (j->nidx == 0)
			continue;
		/* hash_array hashes with the type's own hash function, which agrees
		 * with its equality ('1 day' = '24 hours', jsonb key order, a
		 * nondeterministic collation's 'a' = 'A', ...) */
		buf_reset(&sql);
		buf_puts(&sql, j->hashing ? "SELECT pg_catalog.hash_array(ARRAY[u.x::" : "SELECT u.x::");
		buf_puts(&sql, cat->t.cols[col].type);
		if (j->hashing && cat->kcollate[j->step]) {
			buf_puts(&sql, " COLLATE ");
			buf_puts(&sql, cat->kcollate[j->step]);
		}
		buf_puts(&sql, j->hashing ? "]) FROM " : "::pg_catalog.text FROM ");
		buf_puts(&sql, "unnest($1::pg_catalog.text[]) WITH ORDINALITY AS u(x, n) ORDER BY u.n");
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
	size_t i;

	if (r != NULL && r->ok && r->rows && (size_t)PQntuples(r->rows) == j->nidx) {
		for (i = 0; i < j->nidx; i++) {
			size_t at = j->idx[i] * (size_t)j->nkey + (size_t)j->step;

			if (PQgetisnull(r->rows, (int)i, 0))
				continue;
			if (j->hashing) {
				j->dbh[at] = strtoll(PQgetvalue(r->rows, (int)i, 0), NULL, 10);
				j->hasdbh[at] = 1;
			} else {
				free(j->over[at]);
				j->over[at] = strdup(PQgetvalue(r->rows, (int)i, 0));
			}
		}
	} else if (r != NULL) {
		/* a value the type does not read: the row fails when written */
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
	} else if (j->kind == JOB_PRUNE) {
		c->prune_queued = false;
	} else if (j->kind == JOB_CANON) {
		struct sink_unit *u = j->unit;

		job_free(j);
		sink_canon_done(u);
		return;
	}
	job_free(j);
}

static void fail_head(struct catalog *c, const char *sqlstate, const char *msg, const char *detail)
{
	struct berr *e = berr_new(sqlstate, msg, detail, NULL);

	if (c->head->kind == JOB_LOAD && strcmp(sqlstate, "55P03") == 0) {
		/* a lock (a client's DDL on the catalog) held past the bound: its
		 * INSERTs pass through, and it is asked again a second later */
		log_warning(CATALOG_PREFIX, "the catalog of %s.%s waited %s for a lock: its INSERTs pass through "
			    "until it is read", c->head->tab->conf.targetschema, c->head->tab->conf.name,
			    CATALOG_LOCK_TIMEOUT);
		job_done(c, CAT_MISSING, PRIV_FAILED, PASS_CATALOG_LOCKED, NULL);
	} else if (c->head->kind == JOB_LOAD)
		job_done(c, CAT_FAILED, PRIV_FAILED, PASS_MEMORY, e);
	else if (c->head->kind == JOB_PRIV)
		job_done(c, CAT_FAILED, PRIV_FAILED, PASS_PRIVILEGE_CHECK, e);
	else {
		if (c->head->kind == JOB_QUERY)
			c->head->fn(c->head->fn_arg, NULL);
		job_done(c, CAT_READY, PRIV_FAILED, PASS_MEMORY, NULL);    /* keys as written; no pruning */
	}
	berr_unref(e);
}

/* Fails the jobs queued now. sqlstate and msg may point into the
 * connection's last outcome, which a reconnect frees: they are copied; jobs that the failures
 * queue meanwhile (a unit asking again) wait for the next connection, which
 * starts once these are done. */
static void fail_all(struct catalog *c, const char *sqlstate, const char *msg)
{
	char copy[512], state[6];
	int n = 0;

	snprintf(copy, sizeof(copy), "%s", msg);
	snprintf(state, sizeof(state), "%s", sqlstate);
	for (const struct cjob *j = c->head; j; j = j->next)
		n++;
	c->failing = true;
	while (n-- > 0 && c->head)
		fail_head(c, state, copy, NULL);
	c->failing = false;
	run(c);
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
	struct buf sql;

	c->state = C_RUNNING;
	if (j->kind == JOB_BLOCKERS) {
		snprintf(oid, sizeof(oid), "%d", j->pid);
		params[0] = oid;
		pc_params(c->pc, "SELECT a.pid, a.usename, a.application_name, a.state, "
			  "coalesce(a.wait_event_type || ' ' || a.wait_event, 'not waiting'), "
			  "(SELECT l.mode || ' on ' || coalesce(l.relation::pg_catalog.regclass::pg_catalog.text, l.locktype) "
			  "FROM pg_catalog.pg_locks l WHERE l.pid = a.pid AND NOT l.granted LIMIT 1), "
			  "pg_catalog.regexp_replace(a.query, '\\s+', ' ', 'g') "
			  "FROM pg_catalog.pg_stat_activity a "
			  "WHERE a.pid = ANY (pg_catalog.pg_blocking_pids($1::int)) ORDER BY a.pid", 1, params);
		return;
	}
	if (j->kind == JOB_QUERY) {
		pc_query(c->pc, j->what);
		return;
	}
	if (j->kind == JOB_CANCEL) {
		/* the sink's own role may cancel its own backends */
		snprintf(oid, sizeof(oid), "%d", j->pid);
		params[0] = oid;
		pc_params(c->pc, "SELECT pg_catalog.pg_cancel_backend($1::int)", 1, params);
		return;
	}
	if (j->kind == JOB_PRUNE) {
		buf_init(&sql);
		ledger_prune_sql(c->s, ledger_oldest_open(c->s), &sql);
		pc_query(c->pc, buf_ok(&sql) ? sql.data : "SELECT 1");
		buf_free(&sql);
		return;
	}
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
			  "pg_catalog.has_any_column_privilege($1, $2::pg_catalog.oid, 'INSERT'), "
			  "pg_catalog.pg_has_role(current_user, $1, 'MEMBER')", 2, params);
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
	/* the fingerprint first: DDL while the rest is read makes it stale, never
	 * the other way round */
	buf_init(&sql);
	buf_puts(&sql, c->version >= 90500 ? "SELECT c.oid, c.relkind, c.relrowsecurity, " :
		 "SELECT c.oid, c.relkind, false, ");
	sg_fingerprint(&sql, "c.oid");
	buf_puts(&sql, " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
		 "WHERE n.nspname = $1 AND c.relname = $2");
	if (buf_ok(&sql))
		pc_params(c->pc, sql.data, 2, params);
	else
		fail_head(c, "53200", "out of memory loading the catalog", NULL);
	buf_free(&sql);
}

uint32_t catalog_next_generation(struct catalog *c)
{
	return ++c->generation;
}

static void run(struct catalog *c)
{
	if (c->head == NULL || c->failing)
		return;
	if (c->state == C_DOWN)
		start_connect(c);
	else if (c->state == C_READY)
		start_job(c);
}

static bool is_true(const PGresult *r, int row, int col)
{
	return pq_true(r, row, col);
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

/* One of the loader's questions about the job's table: builder's SQL with the OID as $1. */
static void ask_oid(struct catalog *c, struct cjob *j, void (*builder)(struct catalog *, struct buf *, const char *))
{
	struct buf sql;

	buf_init(&sql);
	builder(c, &sql, "$1");
	if (buf_ok(&sql))
		query_oid(c, sql.data, j->oid);
	else
		fail_head(c, "53200", "out of memory loading the catalog", NULL);
	buf_free(&sql);
}

int catalog_version(const struct catalog *c)
{
	return c->version;
}

enum backend_kind catalog_kind(const struct catalog *c)
{
	return c->s->kind;
}

/* How Citus spreads a table, when it loads. */
static void say_dist(const struct stable *tab, const struct traits *tr)
{
	const char *schema = tab->conf.targetschema, *name = tab->conf.name;

	switch (tr->dist) {
	case CD_HASH:
		log_info(CATALOG_PREFIX, "table %s.%s: Citus distributed table, by the hash of %s, %d shards",
			 schema, name, tr->dist_col ? tr->dist_col : "?", tr->nshards);
		break;
	case CD_REFERENCE:
		log_info(CATALOG_PREFIX, "table %s.%s: Citus reference table (a copy on every node)", schema, name);
		break;
	case CD_OTHER:
		log_info(CATALOG_PREFIX, "table %s.%s: Citus table distributed by range or append, %d shards",
			 schema, name, tr->nshards);
		break;
	case CD_LOCAL:
		log_info(CATALOG_PREFIX, "table %s.%s: a table of the Citus coordinator itself", schema, name);
		break;
	}
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
		snprintf(j->fp, sizeof(j->fp), "%s", PQgetvalue(r->rows, 0, 3));
		j->step = 1;
		ask_oid(c, j, catalog_columns_sql);
		return;
	case 1:
		j->cat = r->rows ? tcat_columns(r->rows, j->oid, ++c->generation, &j->tab->conf, &j->attnums) : NULL;
		if (j->cat == NULL) {
			fail_head(c, "53200", "out of memory loading the catalog", NULL);
			return;
		}
		memcpy(j->cat->fp, j->fp, sizeof(j->fp));
		j->step = 2;
		ask_oid(c, j, catalog_index_sql);
		return;
	case 2:
		if (r->rows == NULL || !tcat_key(j->cat, j->attnums, r->rows, &j->tab->conf, &err)) {
			fail_head(c, "53200", "out of memory loading the catalog", NULL);
			return;
		}
		if (err) {
			job_done(c, CAT_FAILED, PRIV_FAILED, PASS_MEMORY, err);
			berr_unref(err);
			return;
		}
		j->step = 3;
		ask_oid(c, j, catalog_traits_sql);
		return;
	default:
		if (r->rows == NULL || !tcat_traits(j->cat, r->rows)) {
			fail_head(c, "53200", "unexpected answer loading the catalog", NULL);
			return;
		}
		if (c->s->kind == BACKEND_CITUS)
			say_dist(j->tab, &j->cat->tr);
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
	/* The batch is written as the role (SET LOCAL ROLE): PostgreSQL decides
	 * on its privileges then, also after a GRANT or REVOKE; this is an early
	 * answer (ackmode=immediate acknowledges before the write). What cannot
	 * be written that way passes through: a role the sink's account cannot
	 * become, and column privileges (a statement of pgbatchd's may name
	 * columns the client's did not). */
	if (!is_true(r->rows, 0, 2))
		ps = PRIV_NOROLE;
	else if (is_true(r->rows, 0, 0))
		ps = PRIV_YES;
	else if (is_true(r->rows, 0, 1))
		ps = PRIV_COLUMNS;
	else
		ps = PRIV_NO;
	job_done(c, CAT_READY, ps, PASS_PRIVILEGE_CHECK, NULL);
}

/* The ledger is there and writable (the query's last result says so), or not:
 * said once per change, in the log. */
static void ledger_checked(struct catalog *c, const struct pc_result *r)
{
	struct sink *s = c->s;
	bool ok = r->ok && r->rows && PQntuples(r->rows) == 1 && is_true(r->rows, 0, 0);

	if (ok != s->ledger_ok || !c->ledger_said) {
		if (ok)
			log_info(CATALOG_PREFIX, "batch ledger %s: a lost COMMIT answer is resolved from it "
				 "(exactly-once)", s->ledger);
		else
			log_warning(CATALOG_PREFIX, "cannot use the batch ledger %s (%s): a batch whose COMMIT "
				    "answer is lost will be written again (at-least-once)", s->ledger,
				    r->ok ? "no INSERT, SELECT and DELETE privilege on it" :
				    r->message ? r->message : "error");
	}
	c->ledger_said = true;
	s->ledger_ok = ok;
	if (ok) {
		struct timeval tv = { LEDGER_PRUNE_MS / 1000, (LEDGER_PRUNE_MS % 1000) * 1000 };

		event_add(c->prune_ev, &tv);
	}
}

/* After the ledger's creation (which may wait for another pgbatchd's): the
 * questions that serve every session wait for no lock for long. */
static void bound_lock_waits(struct catalog *c)
{
	c->state = C_INIT_TIMEOUT;
	pc_query(c->pc, "SET lock_timeout = '" CATALOG_LOCK_TIMEOUT "'");
}

/* What blocks a writer's batch: logged, once. */
static void blockers_logged(struct catalog *c, const struct pc_result *r)
{
	struct cjob *j = c->head;
	struct buf line;
	int n;

	if (!r->ok || r->rows == NULL) {
		log_warning(CATALOG_PREFIX, "%s; what it waits for cannot be asked: %s", j->what,
			    r->message ? r->message : "");
		return;
	}
	n = PQntuples(r->rows);
	buf_init(&line);
	for (int i = 0; i < n; i++)
		buf_printf(&line, "%s pid %s (user %s, application \"%s\", %s, %s%s%s: %.200s)", i ? ";" : "",
			   PQgetvalue(r->rows, i, 0), PQgetvalue(r->rows, i, 1), PQgetvalue(r->rows, i, 2),
			   PQgetvalue(r->rows, i, 3), PQgetvalue(r->rows, i, 4),
			   PQgetisnull(r->rows, i, 5) ? "" : ", waiting for ", PQgetvalue(r->rows, i, 5),
			   PQgetvalue(r->rows, i, 6));
	if (n == 0)
		log_warning(CATALOG_PREFIX, "%s; no lock blocks it (a slow statement, or the wait just ended)",
			    j->what);
	else
		log_warning(CATALOG_PREFIX, "%s, blocked by%s", j->what, buf_ok(&line) ? line.data : " ?");
	buf_free(&line);
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
				s->settings_gen++;
			}
		}
		c->state = C_INIT_VERSION;
		pc_query(c->pc, "SELECT pg_catalog.version(), pg_catalog.current_setting('timezone_abbreviations'), "
			 "pg_catalog.current_setting('xmloption'), "
			 "(SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname = 'citus')");
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
		free(c->citus_version);
		c->citus_version = NULL;
		s->kind = BACKEND_POSTGRES;
		if (r->ok && r->rows && PQntuples(r->rows) == 1 &&
		    strstr(PQgetvalue(r->rows, 0, 0), "Greenplum"))
			s->kind = BACKEND_GREENPLUM;
		else if (r->ok && r->rows && PQntuples(r->rows) == 1 && PQnfields(r->rows) == 4 &&
			 !PQgetisnull(r->rows, 0, 3)) {
			s->kind = BACKEND_CITUS;
			c->citus_version = strdup(PQgetvalue(r->rows, 0, 3));
		}
		for (int i = 4; r->ok && r->rows && PQntuples(r->rows) == 1 && i < SINK_SETTINGS; i++) {
			free(s->settings[i]);
			s->settings[i] = strdup(PQgetvalue(r->rows, 0, i - 3));
			s->settings_gen++;
		}
		c->state = C_INIT_KIND;
		pc_query(c->pc, "SHOW adbpg_version");
		return;
	case C_INIT_KIND:
		/* Fails on anything but AnalyticDB for PostgreSQL. */
		if (r->ok)
			s->kind = BACKEND_ADBPG;
		if (s->kind == BACKEND_CITUS) {
			log_info(CATALOG_PREFIX, "backend is a Citus %s coordinator, server version %d",
				 c->citus_version ? c->citus_version : "?", c->version);
			shardwatch_arm(s->shardwatch);
		} else
			log_info(CATALOG_PREFIX, "backend is %s, server version %d",
				 s->kind == BACKEND_ADBPG ? "AnalyticDB for PostgreSQL" :
				 s->kind == BACKEND_GREENPLUM ? "Greenplum" : "PostgreSQL", c->version);
		/* Output forms the key parsers read: ISO dates (the input field order
		 * stays the server's), floats that round-trip exactly. */
		c->state = C_INIT_SET;
		pc_query(c->pc, "SET DateStyle = 'ISO'; SET extra_float_digits = 3; "
			 "SET default_transaction_isolation = 'read committed'");
		return;
	case C_INIT_SET:
		if (!r->ok)
			log_warning(CATALOG_PREFIX, "cannot set output styles: %s", r->message);
		if (s->ledger) {
			c->ledger_raced = false;
			create_ledger(c);
			return;
		}
		bound_lock_waits(c);
		return;
	case C_INIT_TIMEOUT:
		if (!r->ok)
			log_warning(CATALOG_PREFIX, "cannot set lock_timeout: %s", r->message);
		c->state = C_READY;
		run(c);
		return;
	case C_INIT_LEDGER:
		/* Another pgbatchd (a replica starting beside this one) created it
		 * between our look and our CREATE: look again, once. */
		if (!r->ok && !c->ledger_raced && (strcmp(r->sqlstate, "23505") == 0
				|| strcmp(r->sqlstate, "42P07") == 0 || strcmp(r->sqlstate, "42P06") == 0)) {
			c->ledger_raced = true;
			create_ledger(c);
			return;
		}
		ledger_checked(c, r);
		bound_lock_waits(c);
		return;
	case C_RUNNING:
		if (c->head->kind == JOB_LOAD) {
			load_step(c, r);
		} else if (c->head->kind == JOB_PRIV) {
			priv_step(c, r);
		} else if (c->head->kind == JOB_CANCEL) {
			if (!r->ok)
				log_warning(CATALOG_PREFIX, "cannot cancel a writer's statement: %s", r->message);
			job_done(c, CAT_READY, PRIV_FAILED, PASS_MEMORY, NULL);
		} else if (c->head->kind == JOB_QUERY) {
			c->head->fn(c->head->fn_arg, r);
			job_done(c, CAT_READY, PRIV_FAILED, PASS_MEMORY, NULL);
		} else if (c->head->kind == JOB_BLOCKERS) {
			blockers_logged(c, r);
			job_done(c, CAT_READY, PRIV_FAILED, PASS_MEMORY, NULL);
		} else if (c->head->kind == JOB_PRUNE) {
			if (!r->ok)
				log_warning(CATALOG_PREFIX, "cannot prune the batch ledger: %s", r->message);
			else
				log_debug(CATALOG_PREFIX, "batch ledger pruned: %s", r->cmdstatus ? r->cmdstatus : "");
			job_done(c, CAT_READY, PRIV_FAILED, PASS_MEMORY, NULL);
		} else {
			canon_step(c, r);
		}
		run(c);
		return;
	default:
		return;
	}
}
