/* The INSERT finder against libpg_query (PostgreSQL 15's parser): every InsertStmt of a generated Query found, and a clause placed where it finds one parses as that INSERT's ON CONFLICT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pg_query.h>

#include "protocol/insert_find.h"

/* ---- the oracle: InsertStmts of libpg_query's JSON tree ---- */

struct ostmt {
	char schema[64], table[64];
	long location;              /* of its relation: text order */
	bool conflict;              /* an onConflictClause of its own */
};

struct oracle {
	struct ostmt v[64];
	int n;
	bool ok;
};

/* The end of the JSON value at p (an object, array, string or scalar). */
static const char *json_skip(const char *p)
{
	int depth = 0;

	do {
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++)
				if (*p == '\\' && p[1])
					p++;
		} else if (*p == '{' || *p == '[') {
			depth++;
		} else if (*p == '}' || *p == ']') {
			depth--;
		} else if (depth == 0) {
			while (*p && *p != ',' && *p != '}' && *p != ']')
				p++;
			return p;
		}
		if (*p)
			p++;
	} while (*p && depth > 0);
	return p;
}

/* A string value after "key": in [p, end), copied to out. */
static void json_str(const char *p, const char *end, const char *key, char *out, size_t n)
{
	char pat[64];
	const char *q;
	size_t i = 0;

	out[0] = '\0';
	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	q = strstr(p, pat);
	if (q == NULL || q >= end)
		return;
	for (q += strlen(pat); *q && *q != '"' && i + 1 < n; q++)
		out[i++] = *q == '\\' ? *++q : *q;
	out[i] = '\0';
}

static void oracle_parse(const char *sql, struct oracle *o)
{
	PgQueryParseResult r = pg_query_parse(sql);
	const char *p;

	memset(o, 0, sizeof(*o));
	o->ok = r.error == NULL;
	for (p = r.parse_tree; o->ok && p && (p = strstr(p, "\"InsertStmt\":{")) != NULL && o->n < 64;) {
		const char *obj = p + strlen("\"InsertStmt\":"), *end = json_skip(obj), *k, *rel, *relend;
		struct ostmt *s = &o->v[o->n++];

		/* its direct keys */
		for (k = obj + 1; *k == '"' && k < end;) {
			const char *colon = strchr(k, ':'), *vend = json_skip(colon + 1);

			if (strncmp(k, "\"relation\":", 11) == 0) {
				rel = colon + 1;
				relend = vend;
				json_str(rel, relend, "schemaname", s->schema, sizeof(s->schema));
				json_str(rel, relend, "relname", s->table, sizeof(s->table));
				const char *loc = strstr(rel, "\"location\":");
				s->location = loc && loc < relend ? strtol(loc + 11, NULL, 10) : 0;
			} else if (strncmp(k, "\"onConflictClause\":", 19) == 0) {
				s->conflict = true;
			}
			k = *vend == ',' ? vend + 1 : vend;
		}
		p = obj + 1;
	}
	pg_query_free_parse_result(r);
	/* text order */
	for (int i = 1; i < o->n; i++)
		for (int j = i; j > 0 && o->v[j].location < o->v[j - 1].location; j--) {
			struct ostmt t = o->v[j];

			o->v[j] = o->v[j - 1];
			o->v[j - 1] = t;
		}
}

/* ---- the generator ---- */

struct gen {
	uint64_t s;
	char buf[8192];
	size_t n;
};

static unsigned below(struct gen *g, unsigned n)
{
	g->s ^= g->s << 13;
	g->s ^= g->s >> 7;
	g->s ^= g->s << 17;
	return (unsigned)(g->s % n);
}

static void out(struct gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(struct gen *g, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(g->buf + g->n, sizeof(g->buf) - g->n, fmt, ap);
	va_end(ap);
	if (k > 0 && (size_t)k < sizeof(g->buf) - g->n)
		g->n += (size_t)k;
}

static const char *pick(struct gen *g, const char *const *v, unsigned n)
{
	return v[below(g, n)];
}

#define PICK(g, arr) pick((g), (arr), sizeof(arr) / sizeof((arr)[0]))

static const char *const spaces[] = { " ", "  ", "\n", " /* INSERT INTO zz */ ", " -- insert into zz\n", "\t" };
static const char *const tables[] = { "t", "s.t", "\"T x\"", "public.u", "Insert_Log", "\"insert\"", "db.s.t" };
static const char *const sources[] = {
	"VALUES (1, 'x')", "VALUES (1, 'a;b'), (2, $$)$$)", "SELECT 1, 'a'",
	"SELECT a.k, b.v FROM x a JOIN y b ON a.k = b.k", "SELECT DISTINCT ON (k) k, v FROM x",
	"(SELECT 1, 2)", "DEFAULT VALUES", "SELECT * FROM x", "TABLE x",
	"WITH q AS (SELECT 1 AS k) SELECT k, k FROM q", "SELECT 1 FROM x NATURAL JOIN y",
	"SELECT 1 FROM x CROSS JOIN y", "SELECT 1 FROM x JOIN y USING (k) JOIN z ON true",
	"SELECT 1 FROM (x JOIN y ON true) LEFT JOIN z ON (z.on = 1)", "SELECT 'on conflict', 2 ORDER BY 1 LIMIT 1",
	"VALUES (E'it\\'s', 1)", "SELECT x.* FROM x WHERE x.k IN (SELECT k FROM y)",
	"SELECT insert FROM x", "VALUES ((SELECT 1), ARRAY[1, 2])",
	"SELECT x.natural, 1 AS returning FROM x JOIN y ON true", "SELECT 1 AS on, x.cross FROM x",
	"SELECT N'a''b', 2",
};

static void insert(struct gen *g, bool nested)
{
	out(g, "INSERT%sINTO %s", PICK(g, spaces), PICK(g, tables));
	if (below(g, 4) == 0)
		out(g, " AS a");
	if (below(g, 2))
		out(g, " (k, v)");
	if (below(g, 8) == 0)
		out(g, " OVERRIDING USER VALUE");
	out(g, "%s%s", PICK(g, spaces), PICK(g, sources));
	if (below(g, 4) == 0)
		out(g, " ON CONFLICT DO NOTHING");
	if (nested || below(g, 3) == 0)
		out(g, "%sRETURNING k", PICK(g, spaces));
}

static void statement(struct gen *g)
{
	switch (below(g, 14)) {
	case 12:
		out(g, "CREATE TEMP TABLE ct%u AS WITH c AS (", below(g, 100));
		insert(g, true);
		out(g, ") SELECT * FROM c");
		break;
	case 13:
		out(g, "WITH RECURSIVE r (n, m) AS (SELECT 1, 2 UNION ALL SELECT n + 1, m FROM r WHERE n < 3) "
		       "SEARCH DEPTH FIRST BY n, m SET o CYCLE n, m SET cy USING pa, c AS (");
		insert(g, true);
		out(g, ") ");
		insert(g, false);
		break;
	case 0:
		out(g, "EXPLAIN ");
		insert(g, false);
		break;
	case 1:
		out(g, "EXPLAIN (ANALYZE, COSTS OFF) ");
		insert(g, false);
		break;
	case 2:
		out(g, "PREPARE p%u (int) AS ", below(g, 100));
		insert(g, false);
		break;
	case 3:
		out(g, "WITH c AS (");
		insert(g, true);
		out(g, ") SELECT * FROM c");
		break;
	case 4:
		out(g, "WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3), c AS MATERIALIZED (");
		insert(g, true);
		out(g, ") ");
		insert(g, false);
		break;
	case 5:
		out(g, "COPY (");
		insert(g, true);
		out(g, ") TO STDOUT");
		break;
	case 6:
		out(g, "%s", below(g, 2) ? "SELECT 'INSERT INTO t VALUES (1)'" : "SELECT 1 AS insert, 2 AS into");
		break;
	case 7:
		out(g, "CREATE FUNCTION f() RETURNS int AS $f$ INSERT INTO t VALUES (1) RETURNING 1 $f$ LANGUAGE sql");
		break;
	case 8:
		out(g, "UPDATE t SET v = 'insert into t' WHERE k = 1");
		break;
	default:
		insert(g, false);
		break;
	}
}

static void query(struct gen *g)
{
	unsigned n = 1 + below(g, 3);

	g->n = 0;
	for (unsigned i = 0; i < n; i++) {
		if (i)
			out(g, ";%s", PICK(g, spaces));
		statement(g);
	}
	if (below(g, 3) == 0)
		out(g, ";");
}

/* ---- the properties ---- */

static bool same_name(const struct ins_name *n, const char *want)
{
	return (n->name == NULL && want[0] == '\0') ||
	       (n->name && strcmp(n->name, want) == 0) ||
	       /* the oracle reports unquoted names folded */
	       (n->name && !n->quoted && strcasecmp(n->name, want) == 0);
}

static void check(const char *sql, int *parsed)
{
	struct oracle o, o2;
	struct ins_sites s;
	char placed[16384];
	size_t len = strlen(sql), from = 0, n = 0;

	oracle_parse(sql, &o);
	/* "PostgreSQL refuses the text" is never said of a text it reads */
	if (ins_find(sql, len, false, &s) != INS_FIND_OK && o.ok)
		fail_msg("%s\n  the finder refuses it", sql);
	/* COPY ... FROM sites are not InsertStmts (test_copy_sites) */
	n = 0;
	for (int i = 0; i < s.n; i++) {
		if (s.v[i].copy)
			ins_stmt_free(&s.v[i].head);
		else
			s.v[n++] = s.v[i];
	}
	s.n = (int)n;
	n = 0;
	if (!o.ok) {
		ins_sites_free(&s);
		return;
	}
	(*parsed)++;
	if (s.n != o.n)
		fail_msg("%s\n  finder %d INSERTs, PostgreSQL %d", sql, s.n, o.n);
	for (int i = 0; i < o.n; i++) {
		if (!same_name(&s.v[i].head.table, o.v[i].table) || !same_name(&s.v[i].head.schema, o.v[i].schema) ||
		    s.v[i].own_clause != o.v[i].conflict)
			fail_msg("%s\n  INSERT %d: finder %s.%s own=%d, PostgreSQL %s.%s own=%d", sql, i,
				 s.v[i].head.schema.name ? s.v[i].head.schema.name : "", s.v[i].head.table.name,
				 s.v[i].own_clause, o.v[i].schema, o.v[i].table, o.v[i].conflict);
	}
	/* a clause where the finder places it is that INSERT's ON CONFLICT */
	for (int i = 0; i < s.n; i++) {
		if (s.v[i].own_clause)
			continue;
		memcpy(placed + n, sql + from, s.v[i].at - from);
		n += s.v[i].at - from;
		n += (size_t)snprintf(placed + n, sizeof(placed) - n, "\nON CONFLICT DO NOTHING\n");
		from = s.v[i].at;
	}
	memcpy(placed + n, sql + from, len - from);
	placed[n + len - from] = '\0';
	oracle_parse(placed, &o2);
	if (!o2.ok || o2.n != o.n)
		fail_msg("placed clauses do not parse:\n%s", placed);
	for (int i = 0; i < o2.n; i++)
		if (!o2.v[i].conflict)
			fail_msg("INSERT %d has no ON CONFLICT after placing:\n%s", i, placed);
	ins_sites_free(&s);
}

static void test_generated(void **state)
{
	struct gen g = { .s = 0x9e3779b97f4a7c15ULL };
	int parsed = 0;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		query(&g);
		check(g.buf, &parsed);
	}
	/* most of the corpus is SQL PostgreSQL reads */
	assert_true(parsed > 15000);
}

/* Hand-written: what the finder reads of a site. */
static void test_sites(void **state)
{
	static const struct {
		const char *sql;
		int nsites;
		int nvals;          /* of the first site; -1: width not known */
		bool odd;
	} cases[] = {
		{ "INSERT INTO t VALUES (1, 'new', 10) RETURNING k", 1, 3, false },
		{ "INSERT INTO t SELECT 1, count(*), t.x FROM y -- c", 1, 3, false },
		{ "INSERT INTO t SELECT * FROM x", 1, -1, false },
		{ "INSERT INTO t SELECT x.* FROM x", 1, -1, false },
		{ "INSERT INTO t SELECT 2 * 3, 4", 1, 2, false },
		{ "INSERT INTO t DEFAULT VALUES", 1, 0, false },
		{ "INSERT INTO t TABLE x", 1, -1, false },
		{ "INSERT INTO t (a.b, c) VALUES (1, 2)", 1, 1, true },
		{ "INSERT INTO t (a[1]) VALUES (1)", 1, 1, true },
		{ "SELECT insert INTO x FROM y", 0, 0, false },
		{ "INSERT INTO t (k, v) VALUES (1, 'm1'); INSERT INTO t (k) VALUES (2)", 2, 2, false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ins_sites s;

		assert_int_equal(ins_find(cases[i].sql, strlen(cases[i].sql), false, &s), INS_FIND_OK);
		if (s.n != cases[i].nsites)
			fail_msg("%s: %d sites", cases[i].sql, s.n);
		if (s.n) {
			int got = s.v[0].width_known ? s.v[0].head.nvals : -1;

			if (got != cases[i].nvals || s.v[0].odd != cases[i].odd)
				fail_msg("%s: width %d odd %d", cases[i].sql, got, s.v[0].odd);
		}
		ins_sites_free(&s);
	}
}

/* COPY name FROM: a copy site, with the span of the name as written. */
static void test_copy_sites(void **state)
{
	static const struct {
		const char *sql;
		int nsites;
		const char *schema, *table, *name;
		int ncols;
	} cases[] = {
		{ "COPY t FROM STDIN", 1, NULL, "t", "t", 0 },
		{ "copy \"My T\" (a, \"B\") from stdin with (format csv)", 1, NULL, "My T", "\"My T\"", 2 },
		{ "COPY BINARY s.t FROM STDIN", 1, "s", "t", "s.t", 0 },
		{ "COPY public . t (k) FROM '/tmp/x' WHERE k > 1", 1, "public", "t", "public . t", 1 },
		{ "COPY t TO STDOUT", 0, NULL, NULL, NULL, 0 },
		{ "COPY (SELECT 1) TO STDOUT", 0, NULL, NULL, NULL, 0 },
		{ "SELECT 1; COPY t FROM STDIN", 1, NULL, "t", "t", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ins_sites s;
		const char *sql = cases[i].sql;

		assert_int_equal(ins_find(sql, strlen(sql), false, &s), INS_FIND_OK);
		if (s.n != cases[i].nsites)
			fail_msg("%s: %d sites", sql, s.n);
		if (s.n) {
			const struct ins_site *c = &s.v[0];

			assert_true(c->copy);
			assert_string_equal(c->head.table.name, cases[i].table);
			if (cases[i].schema)
				assert_string_equal(c->head.schema.name, cases[i].schema);
			else
				assert_null(c->head.schema.name);
			assert_int_equal(c->head.ncols, cases[i].ncols);
			assert_int_equal(c->name_end - c->name_start, strlen(cases[i].name));
			assert_memory_equal(sql + c->name_start, cases[i].name, strlen(cases[i].name));
		}
		ins_sites_free(&s);
	}
}

/* The cheap word tests the clause path starts with. */
static void test_mentions(void **state)
{
	(void)state;
	assert_true(ins_mentions2("COPY t FROM STDIN", 17, "insert", "copy"));
	assert_true(ins_mentions2("select 1; InSeRt", 16, "insert", "copy"));
	assert_false(ins_mentions2("SELECT cop, inser", 17, "insert", "copy"));
	assert_false(ins_mentions2("SELECT 1 -- cop", 15, "insert", "copy"));
	assert_true(ins_mentions2("xcopy", 5, "insert", "copy"));      /* a superset: the finder decides */
	assert_false(ins_mentions2("", 0, "insert", "copy"));
}

/* standard_conforming_strings = off: a backslash escapes the quote. */
static void test_scs_off(void **state)
{
	const char *sql = "INSERT INTO t (v) VALUES ('a\\'); INSERT INTO u (v) VALUES (1); --')";
	struct ins_sites s;

	(void)state;
	assert_int_equal(ins_find(sql, strlen(sql), true, &s), INS_FIND_OK);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.v[0].at, strlen(sql));
	ins_sites_free(&s);
	/* read with the setting on, the same text is another statement */
	assert_int_equal(ins_find(sql, strlen(sql), false, &s), INS_FIND_OK);
	assert_int_equal(s.n, 2);
	ins_sites_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sites),
		cmocka_unit_test(test_scs_off),
		cmocka_unit_test(test_copy_sites),
		cmocka_unit_test(test_mentions),
		cmocka_unit_test(test_generated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
