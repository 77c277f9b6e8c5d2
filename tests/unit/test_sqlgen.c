/* Unit tests for sink/sqlgen (every writemode x conflictmode, quoting, arrays) and the catalog's value mapping. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sink/internal.h"
#include "sink/sqlgen.h"

/* A table: "Key" int (key), "select" text, b int[] (array), "a""b" varchar(3),
 * g int generated; schema "My Schema". */
static struct sg_col cols[] = {
	{ "Key", "integer", "integer", ',', false, true, true, false },
	{ "select", "text", "text", ',', false, false, true, true },
	{ "b", "integer[]", "integer[]", ',', true, false, true, true },
	{ "a\"b", "character varying(3)", "character varying", ',', false, false, true, true },
	{ "g", "integer", "integer", ',', false, false, false, false },
};
static int key_cols[] = { 0 };
static struct sg_table tbl = { "My Schema", "T\"1", "pgbatchd_stage_1_1", 5, cols, 1, key_cols };

/* Two key columns only. */
static struct sg_col allkey_cols[] = {
	{ "a", "integer", "integer", ',', false, true, true, false },
	{ "b", "text", "text", ',', false, true, true, false },
};
static int allkey_key[] = { 0, 1 };
static struct sg_table allkey = { "public", "ak", "st", 2, allkey_cols, 2, allkey_key };

/* No key at all. */
static struct sg_col nokey_cols[] = {
	{ "x", "box", "box", ';', false, false, true, false },
	{ "y", "text", "text", ',', false, false, true, false },
};
static struct sg_table nokey = { "public", "nk", "st", 2, nokey_cols, 0, NULL };

#define V(s) { SG_VALUE, sizeof(s) - 1, s }
#define NUL { SG_NULL, 0, NULL }
#define DEF { SG_DEFAULT, 0, NULL }
#define OMIT { SG_OMIT, 0, NULL }

static char *text_of(struct buf *b)
{
	assert_true(buf_ok(b));
	return b->data ? b->data : "";
}

static void test_ident_quoting(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "plain", "\"plain\"" },
		{ "select", "\"select\"" },
		{ "MixedCase", "\"MixedCase\"" },
		{ "we\"ird", "\"we\"\"ird\"" },
		{ "\"", "\"\"\"\"" },
		{ "sp ace", "\"sp ace\"" },
		{ "", "\"\"" },
	};
	struct buf b;
	size_t i;

	(void)state;
	buf_init(&b);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&b);
		sg_ident(&b, cases[i].in);
		assert_string_equal(text_of(&b), cases[i].out);
	}
	buf_reset(&b);
	sg_qualified(&b, &tbl);
	assert_string_equal(text_of(&b), "\"My Schema\".\"T\"\"1\"");
	buf_free(&b);
}

static void test_literal_quoting(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "abc", "'abc'" },
		{ "it's", "'it''s'" },
		{ "''", "''''''" },
		{ "back\\slash", "E'back\\\\slash'" },
		{ "both\\'", "E'both\\\\'''" },
		{ "", "''" },
		{ "new\nline", "'new\nline'" },
	};
	struct buf b;
	size_t i;

	(void)state;
	buf_init(&b);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&b);
		sg_literal(&b, cases[i].in, strlen(cases[i].in));
		assert_string_equal(text_of(&b), cases[i].out);
	}
	buf_free(&b);
}

static void test_array_literal(void **state)
{
	struct sg_val r0[] = { V("a,b"), V("x") }, r1[] = { NUL, V("NULL") },
		      r2[] = { V("q\"uo\\te"), V("") }, r3[] = { V("{}"), V(" sp ") };
	sg_row rows[] = { r0, r1, r2, r3 };
	struct buf b;

	(void)state;
	buf_init(&b);
	sg_array_literal(&b, rows, 4, 0, ',');
	assert_string_equal(text_of(&b), "{\"a,b\",NULL,\"q\\\"uo\\\\te\",\"{}\"}");
	buf_reset(&b);
	/* the string "NULL" is not NULL; empty and spaced strings stay exact */
	sg_array_literal(&b, rows, 4, 1, ';');
	assert_string_equal(text_of(&b), "{\"x\";\"NULL\";\"\";\" sp \"}");
	buf_reset(&b);
	sg_array_literal(&b, rows, 0, 0, ',');
	assert_string_equal(text_of(&b), "{}");
	buf_free(&b);
}

static char *shape_sql(const struct sg_table *t, enum conflict_mode m, sg_row *rows, size_t n,
		       void (*gen)(struct buf *, const struct sg_table *, const struct sg_shape *))
{
	struct sg_shape sh;
	struct buf b;

	assert_true(sg_shape_build(&sh, t, m, rows, n));
	buf_init(&b);
	gen(&b, t, &sh);
	sg_shape_free(&sh);
	assert_true(buf_ok(&b));
	return buf_steal(&b);
}

static void clause_only(struct buf *b, const struct sg_table *t, const struct sg_shape *sh)
{
	sg_conflict_clause(b, t, sh);
}

static void test_conflict_clauses(void **state)
{
	/* row names Key and "select" (a""b given DEFAULT in the second row) */
	struct sg_val r0[] = { V("1"), V("x"), OMIT, OMIT, OMIT };
	struct sg_val r1[] = { V("2"), V("y"), OMIT, DEF, OMIT };
	struct sg_val k0[] = { V("1"), OMIT, OMIT, OMIT, OMIT };
	struct sg_val a0[] = { V("1"), V("t") };
	sg_row one[] = { r0 }, two[] = { r1 }, keyonly[] = { k0 }, ak[] = { a0 };
	char *s;

	(void)state;
	/* upsert: every settable column, defaults for the omitted ones */
	s = shape_sql(&tbl, CONFLICT_UPSERT, one, 1, clause_only);
	assert_string_equal(s, " ON CONFLICT (\"Key\") DO UPDATE SET \"select\" = EXCLUDED.\"select\", "
			    "\"b\" = EXCLUDED.\"b\", \"a\"\"b\" = EXCLUDED.\"a\"\"b\"");
	free(s);
	/* update: only the named columns; DEFAULT counts as named */
	s = shape_sql(&tbl, CONFLICT_UPDATE, one, 1, clause_only);
	assert_string_equal(s, " ON CONFLICT (\"Key\") DO UPDATE SET \"select\" = EXCLUDED.\"select\"");
	free(s);
	s = shape_sql(&tbl, CONFLICT_UPDATE, two, 1, clause_only);
	assert_string_equal(s, " ON CONFLICT (\"Key\") DO UPDATE SET \"select\" = EXCLUDED.\"select\", "
			    "\"a\"\"b\" = EXCLUDED.\"a\"\"b\"");
	free(s);
	/* update naming only the key: nothing to set */
	s = shape_sql(&tbl, CONFLICT_UPDATE, keyonly, 1, clause_only);
	assert_string_equal(s, " ON CONFLICT (\"Key\") DO NOTHING");
	free(s);
	s = shape_sql(&tbl, CONFLICT_IGNORE, one, 1, clause_only);
	assert_string_equal(s, " ON CONFLICT (\"Key\") DO NOTHING");
	free(s);
	s = shape_sql(&tbl, CONFLICT_STRICT, one, 1, clause_only);
	assert_string_equal(s, "");
	free(s);
	/* a table whose columns are all key columns: upsert and update degrade */
	s = shape_sql(&allkey, CONFLICT_UPSERT, ak, 1, clause_only);
	assert_string_equal(s, " ON CONFLICT (\"a\", \"b\") DO NOTHING");
	free(s);
	s = shape_sql(&allkey, CONFLICT_UPDATE, ak, 1, clause_only);
	assert_string_equal(s, " ON CONFLICT (\"a\", \"b\") DO NOTHING");
	free(s);
	/* no key: append-only whatever the mode */
	{
		struct sg_val n0[] = { V("(1,1),(0,0)"), V("t") };
		sg_row nk[] = { n0 };
		enum conflict_mode m;

		for (m = CONFLICT_UPSERT; m <= CONFLICT_STRICT; m++) {
			s = shape_sql(&nokey, m, nk, 1, clause_only);
			assert_string_equal(s, "");
			free(s);
		}
	}
}

static void test_copy_paths(void **state)
{
	struct sg_val r0[] = { V("1"), V("tab\there"), V("{1,2}"), NUL, OMIT };
	struct sg_val r1[] = { V("2"), V("back\\slash"), NUL, V("\\N"), OMIT };
	sg_row rows[] = { r0, r1 };
	struct sg_shape sh;
	struct buf b;
	char *s;

	(void)state;
	s = shape_sql(&tbl, CONFLICT_STRICT, rows, 2, sg_copy_target);
	assert_string_equal(s, "COPY \"My Schema\".\"T\"\"1\" (\"Key\", \"select\", \"b\", \"a\"\"b\") FROM STDIN");
	free(s);
	s = shape_sql(&tbl, CONFLICT_UPSERT, rows, 2, sg_copy_stage);
	assert_string_equal(s, "COPY pg_temp.\"pgbatchd_stage_1_1\" (\"Key\", \"select\", \"b\", \"a\"\"b\") FROM STDIN");
	free(s);
	s = shape_sql(&tbl, CONFLICT_IGNORE, rows, 2, sg_insert_from_stage);
	assert_string_equal(s, "INSERT INTO \"My Schema\".\"T\"\"1\" (\"Key\", \"select\", \"b\", \"a\"\"b\") "
			    "SELECT \"Key\", \"select\", \"b\", \"a\"\"b\" FROM pg_temp.\"pgbatchd_stage_1_1\" "
			    "ON CONFLICT (\"Key\") DO NOTHING");
	free(s);
	/* COPY data: escaped text, \N for NULL, the text \N escaped */
	assert_true(sg_shape_build(&sh, &tbl, CONFLICT_STRICT, rows, 2));
	buf_init(&b);
	sg_copy_row(&b, &sh, r0);
	sg_copy_row(&b, &sh, r1);
	assert_string_equal(text_of(&b), "1\ttab\\there\t{1,2}\t\\N\n2\tback\\\\slash\t\\N\t\\\\N\n");
	sg_shape_free(&sh);
	/* the staging table: every insertable column, no generated one */
	buf_reset(&b);
	sg_stage_create(&b, &tbl);
	assert_string_equal(text_of(&b), "CREATE TEMP TABLE IF NOT EXISTS \"pgbatchd_stage_1_1\" (\"Key\" integer, "
			    "\"select\" text, \"b\" integer[], \"a\"\"b\" character varying(3)) "
			    "ON COMMIT DELETE ROWS");
	buf_reset(&b);
	sg_stage_clear(&b, &tbl);
	assert_string_equal(text_of(&b), "DELETE FROM pg_temp.\"pgbatchd_stage_1_1\"");
	buf_free(&b);
}

static void test_values_path(void **state)
{
	struct sg_val r0[] = { V("1"), V("it's"), OMIT, OMIT, OMIT };
	struct sg_val r1[] = { V("2"), OMIT, V("{3}"), DEF, OMIT };
	struct sg_val r2[] = { V("3"), NUL, OMIT, OMIT, OMIT };
	sg_row rows[] = { r0, r1, r2 };
	struct sg_shape sh;
	struct buf b;
	size_t used;

	(void)state;
	/* one statement for rows of different shapes: DEFAULT fills the gaps */
	assert_true(sg_shape_build(&sh, &tbl, CONFLICT_UPSERT, rows, 3));
	buf_init(&b);
	used = sg_values_stmt(&b, &tbl, &sh, rows, 3, 1 << 20);
	assert_int_equal(used, 3);
	assert_string_equal(text_of(&b), "INSERT INTO \"My Schema\".\"T\"\"1\" (\"Key\", \"select\", \"b\") VALUES "
			    "('1', 'it''s', DEFAULT), ('2', DEFAULT, '{3}'), ('3', NULL, DEFAULT) "
			    "ON CONFLICT (\"Key\") DO UPDATE SET \"select\" = EXCLUDED.\"select\", "
			    "\"b\" = EXCLUDED.\"b\", \"a\"\"b\" = EXCLUDED.\"a\"\"b\"");
	/* a size bound splits into statements, at least one row each */
	buf_reset(&b);
	used = sg_values_stmt(&b, &tbl, &sh, rows, 3, 10);
	assert_int_equal(used, 1);
	buf_reset(&b);
	used = sg_values_stmt(&b, &tbl, &sh, rows + 1, 2, 10);
	assert_int_equal(used, 1);
	sg_shape_free(&sh);
	/* rows with no explicit value: the first column takes DEFAULT */
	{
		struct sg_val d0[] = { OMIT, DEF, OMIT, OMIT, OMIT };
		sg_row drows[] = { d0, d0 };

		assert_true(sg_shape_build(&sh, &tbl, CONFLICT_STRICT, drows, 2));
		buf_reset(&b);
		assert_int_equal(sg_values_stmt(&b, &tbl, &sh, drows, 2, 1 << 20), 2);
		assert_string_equal(text_of(&b), "INSERT INTO \"My Schema\".\"T\"\"1\" (\"Key\") VALUES (DEFAULT), (DEFAULT)");
		sg_shape_free(&sh);
	}
	buf_free(&b);
}

static void test_unnest_path(void **state)
{
	struct sg_val r0[] = { V("1"), V("a\"b"), V("{1,2}"), NUL, OMIT };
	struct sg_val r1[] = { V("2"), NUL, V("{}"), V("x,y"), OMIT };
	sg_row rows[] = { r0, r1 };
	struct sg_shape sh;
	struct buf b;

	(void)state;
	assert_true(sg_shape_build(&sh, &tbl, CONFLICT_UPSERT, rows, 2));
	buf_init(&b);
	sg_unnest_stmt(&b, &tbl, &sh, rows, 2);
	/* an array column travels as text[] of array literals; a literal with a
	 * backslash is an E'' string */
	assert_string_equal(text_of(&b), "INSERT INTO \"My Schema\".\"T\"\"1\" (\"Key\", \"select\", \"b\", \"a\"\"b\") "
			    "SELECT u.c1, u.c2, u.c3::integer[], u.c4 FROM unnest('{\"1\",\"2\"}'::integer[], "
			    "E'{\"a\\\\\"b\",NULL}'::text[], '{\"{1,2}\",\"{}\"}'::text[], "
			    "'{NULL,\"x,y\"}'::character varying[]) AS u(c1, c2, c3, c4) "
			    "ON CONFLICT (\"Key\") DO UPDATE SET \"select\" = EXCLUDED.\"select\", "
			    "\"b\" = EXCLUDED.\"b\", \"a\"\"b\" = EXCLUDED.\"a\"\"b\"");
	sg_shape_free(&sh);
	buf_free(&b);
}

static void test_runs(void **state)
{
	struct sg_val a[] = { V("1"), V("x"), OMIT, OMIT, OMIT };
	struct sg_val b[] = { V("2"), NUL, OMIT, OMIT, OMIT };       /* same explicit set */
	struct sg_val c[] = { V("3"), OMIT, OMIT, OMIT, OMIT };      /* select omitted */
	struct sg_val d[] = { V("4"), DEF, OMIT, OMIT, OMIT };       /* select DEFAULT */

	(void)state;
	assert_true(sg_same_run(&tbl, CONFLICT_UPSERT, WRITE_COPY, a, b));
	assert_false(sg_same_run(&tbl, CONFLICT_UPSERT, WRITE_COPY, a, c));
	assert_false(sg_same_run(&tbl, CONFLICT_UPSERT, WRITE_UNNEST, a, c));
	/* VALUES fills omitted columns with DEFAULT: one statement */
	assert_true(sg_same_run(&tbl, CONFLICT_UPSERT, WRITE_INSERT, a, c));
	assert_true(sg_same_run(&tbl, CONFLICT_STRICT, WRITE_COPY, c, d));
	/* update mode: the SET list must match: DEFAULT is named, omitted is not */
	assert_false(sg_same_run(&tbl, CONFLICT_UPDATE, WRITE_INSERT, c, d));
	assert_true(sg_same_run(&tbl, CONFLICT_UPDATE, WRITE_INSERT, a, d));
	assert_false(sg_same_run(&tbl, CONFLICT_UPDATE, WRITE_COPY, a, d));
}

/* ---- the catalog's mapping of recognized values onto columns ---- */

static void test_norm_type(void **state)
{
	static const struct { const char *in, *out; bool mod; } cases[] = {
		{ "int4", "integer", false },
		{ "int", "integer", false },
		{ "pg_catalog.int8", "bigint", false },
		{ "varchar(10)", "character varying(10)", true },
		{ "character varying", "character varying", false },
		{ "numeric(10, 2)", "numeric(10,2)", true },
		{ "timestamptz", "timestamp with time zone", false },
		{ "timestamp(3) with time zone", "timestamp(3) with time zone", true },
		{ "timestamp(3)", "timestamp(3) without time zone", true },
		{ "char", "character(1)", true },
		{ "pg_catalog.bpchar", "bpchar", false },
		{ "int4[]", "integer[]", false },
		{ "varchar(5)[]", "character varying(5)[]", true },
		{ "float(10)", "real", false },
		{ "float", "double precision", false },
		{ "decimal", "numeric", false },
		{ "mood", "mood", false },
	};
	char out[128];
	bool mod;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(catalog_norm_type(cases[i].in, out, sizeof(out), &mod));
		assert_string_equal(out, cases[i].out);
		assert_int_equal(mod, cases[i].mod);
	}
}

static struct ins_value *set_value(struct ins_value *v, enum ins_kind k, const char *text,
				   const char *cast)
{
	memset(v, 0, sizeof(*v));       /* no parameter type, nothing left from the last one */
	v->kind = k;
	v->text = text;
	v->len = text ? strlen(text) : 0;
	v->cast = cast;
	return v;
}

static void test_value_mapping(void **state)
{
	struct sg_col c[8];
	struct ccol cx[8] = {
		{ .basetype = 23, .category = 'N', .decl = "integer", .decl_nomod = "integer", .generated = false, .typmod = -1 },
		{ .basetype = 701, .category = 'N', .decl = "double precision", .decl_nomod = "double precision", .generated = false, .typmod = -1 },
		{ .basetype = 25, .category = 'S', .decl = "text", .decl_nomod = "text", .generated = false, .typmod = -1 },
		{ .basetype = 16, .category = 'B', .decl = "boolean", .decl_nomod = "boolean", .generated = false, .typmod = -1 },
		{ .basetype = 1043, .category = 'S', .decl = "character varying(10)", .decl_nomod = "character varying", .generated = false, .typmod = -1 },
		{ .basetype = 23, .category = 'N', .decl = "integer", .decl_nomod = "integer", .generated = true, .typmod = -1 },
		{ .basetype = 1700, .category = 'N', .decl = "numeric(10,2)", .decl_nomod = "numeric", .generated = false, .typmod = -1 },
		{ .basetype = 1042, .category = 'S', .decl = "character(5)", .decl_nomod = "bpchar", .generated = false, .typmod = -1 },
	};
	struct tcat cat;
	struct sg_val out;
	enum pass_reason why;
	struct ins_value v;

	(void)state;
	memset(c, 0, sizeof(c));
	memset(&cat, 0, sizeof(cat));
	cat.t.ncols = 8;
	cat.t.cols = c;
	cat.cx = cx;
#define VAL(k, t, cs) set_value(&v, (k), (t), (cs))
	/* numbers: integer spellings into integers, anything into float/numeric */
	assert_true(catalog_value(&cat, 0, VAL(INS_NUMBER, "-42", NULL), &out, &why));
	assert_int_equal(out.state, SG_VALUE);
	assert_string_equal(out.text, "-42");
	assert_false(catalog_value(&cat, 0, VAL(INS_NUMBER, "1.5", NULL), &out, &why));
	assert_int_equal(why, PASS_NUMBER_TYPE);
	assert_true(catalog_value(&cat, 1, VAL(INS_NUMBER, "1.5e3", NULL), &out, &why));
	assert_true(catalog_value(&cat, 6, VAL(INS_NUMBER, "1.005", NULL), &out, &why));
	/* the literal -0 is positive zero in a float column */
	assert_true(catalog_value(&cat, 1, VAL(INS_NUMBER, "-0.0", NULL), &out, &why));
	assert_string_equal(out.text, "0.0");
	/* a number into text would be canonicalized by PostgreSQL: pass through */
	assert_false(catalog_value(&cat, 2, VAL(INS_NUMBER, "007", NULL), &out, &why));
	assert_int_equal(why, PASS_NUMBER_TYPE);
	/* booleans: t/f into boolean, true/false into text, else pass through */
	assert_true(catalog_value(&cat, 3, VAL(INS_BOOL, "true", NULL), &out, &why));
	assert_string_equal(out.text, "t");
	assert_true(catalog_value(&cat, 2, VAL(INS_BOOL, "false", NULL), &out, &why));
	assert_string_equal(out.text, "false");
	assert_false(catalog_value(&cat, 0, VAL(INS_BOOL, "true", NULL), &out, &why));
	assert_int_equal(why, PASS_BOOL_TYPE);
	/* strings go to the input function as they are */
	assert_true(catalog_value(&cat, 0, VAL(INS_STRING, " 12 ", NULL), &out, &why));
	assert_string_equal(out.text, " 12 ");
	/* typed literals: same type, or no modifier; else pass through. An explicit
	 * cast to a length cuts ('abcdef'::varchar(3) is 'abc') where the column's
	 * assignment refuses: left to the database even when it is the column's */
	assert_false(catalog_value(&cat, 4, VAL(INS_STRING, "abc", "varchar(10)"), &out, &why));
	assert_int_equal(why, PASS_CAST);
	assert_true(catalog_value(&cat, 6, VAL(INS_STRING, "1.239", "numeric(10,2)"), &out, &why));
	assert_true(catalog_value(&cat, 4, VAL(INS_STRING, "abc", "varchar"), &out, &why));
	assert_false(catalog_value(&cat, 4, VAL(INS_STRING, "abc", "varchar(3)"), &out, &why));
	assert_int_equal(why, PASS_CAST);
	assert_false(catalog_value(&cat, 2, VAL(INS_STRING, "1", "int4"), &out, &why));
	assert_true(catalog_value(&cat, 6, VAL(INS_STRING, "1.234", "numeric"), &out, &why));
	assert_true(catalog_value(&cat, 7, VAL(INS_STRING, "ab", "pg_catalog.bpchar"), &out, &why));
	assert_false(catalog_value(&cat, 7, VAL(INS_STRING, "ab", "char"), &out, &why));
	/* NULL and DEFAULT */
	assert_true(catalog_value(&cat, 0, VAL(INS_NULL, NULL, NULL), &out, &why));
	assert_int_equal(out.state, SG_NULL);
	assert_true(catalog_value(&cat, 0, VAL(INS_DEFAULT, NULL, NULL), &out, &why));
	assert_int_equal(out.state, SG_DEFAULT);
	/* generated column: DEFAULT is as omitted, a value passes through */
	assert_true(catalog_value(&cat, 5, VAL(INS_DEFAULT, NULL, NULL), &out, &why));
	assert_int_equal(out.state, SG_OMIT);
	assert_false(catalog_value(&cat, 5, VAL(INS_NUMBER, "1", NULL), &out, &why));
	assert_int_equal(why, PASS_GENERATED);
#undef VAL
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ident_quoting),
		cmocka_unit_test(test_literal_quoting),
		cmocka_unit_test(test_array_literal),
		cmocka_unit_test(test_conflict_clauses),
		cmocka_unit_test(test_copy_paths),
		cmocka_unit_test(test_values_path),
		cmocka_unit_test(test_unnest_path),
		cmocka_unit_test(test_runs),
		cmocka_unit_test(test_norm_type),
		cmocka_unit_test(test_value_mapping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
