/* Unit tests for the INSERT recognizer (protocol/insert.c, protocol/sqllex.c): SQL text -> table, columns, rows or a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/insert.h"
#include "protocol/sqllex.h"

struct val {
	enum ins_kind kind;
	const char *text;   /* NULL for NULL / DEFAULT */
	const char *cast;
};

#define S(t) {INS_STRING, (t), NULL}
#define SC(t, c) {INS_STRING, (t), (c)}
#define N(t) {INS_NUMBER, (t), NULL}
#define T {INS_BOOL, "true", NULL}
#define F {INS_BOOL, "false", NULL}
#define NUL {INS_NULL, NULL, NULL}
#define NULC(c) {INS_NULL, NULL, (c)}
#define DEF {INS_DEFAULT, NULL, NULL}

/* Names: a leading '"' means "quoted"; the rest is the expected raw name. */
struct tcase {
	const char *sql;
	enum ins_reason reason;
	const char *schema;     /* NULL: none */
	const char *table;
	const char *cols[6];    /* NULL-terminated */
	int nrows;
	struct val vals[12];    /* nrows * nvals, row-major; nvals is their count / nrows */
};

#define OK INS_OK
#define NO(r) .reason = (r)

static const struct tcase cases[] = {
	/* plain statements */
	{"INSERT INTO t VALUES (1)", OK, NULL, "t", {NULL}, 1, {N("1")}},
	/* heads alike up to VALUES, but not the statement (the kept head) */
	{"INSERT INTO t VALUES_x (1)", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES$1 (1)", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES(2, 'b')", OK, NULL, "t", {NULL}, 1, {N("2"), S("b")}},
	{"INSERT INTO t VALUES", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES\n(3) RETURNING *", NO(INS_RETURNING)},
	{"INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING", NO(INS_ON_CONFLICT)},
	{"INSERT INTO t (a, \"B\") VALUES (1, 2)", OK, NULL, "t", {"a", "\"B"}, 1, {N("1"), N("2")}},
	{"INSERT INTO t (a, \"B\") VALUES (1, 2, 3)", NO(INS_SHAPE)},
	{"INSERT INTO t (a, \"B\") VALUES (4, 5), (6, 7)", OK, NULL, "t", {"a", "\"B"}, 2,
	 {N("4"), N("5"), N("6"), N("7")}},
	{"INSERT INTO s.t (a, \"B\") VALUES (4, 5)", OK, "s", "t", {"a", "\"B"}, 1, {N("4"), N("5")}},
	{"INSERT INTO t ((VALUES (1)))", OK, NULL, "t", {NULL}, 1, {N("1")}},
	/* the rows' fast path, and where it hands over to the general parser */
	{"INSERT INTO t VALUES (1,-2,'a''b',NULL,true,FALSE,DEFAULT,'')", OK, NULL, "t", {NULL}, 1,
	 {N("1"), N("-2"), S("a'b"), NUL, T, F, DEF, S("")}},
	{"INSERT INTO t VALUES\t(007)\r\n,\f( -0 ) ;", OK, NULL, "t", {NULL}, 2, {N("007"), N("-0")}},
	{"INSERT INTO t VALUES ('it''s', '''', 'a\\b', 'é')", OK, NULL, "t", {NULL}, 1,
	 {S("it's"), S("'"), S("a\\b"), S("é")}},
	{"INSERT INTO t VALUES ('a'\n'b', 'c')", OK, NULL, "t", {NULL}, 1, {S("ab"), S("c")}},
	{"INSERT INTO t VALUES ('a' 'b')", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES ('a)", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES (1 2)", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES (1), (2, 3)", NO(INS_SHAPE)},
	{"INSERT INTO t VALUES (1, 2), (3)", NO(INS_SHAPE)},
	{"INSERT INTO t (a) VALUES (1, 2)", NO(INS_SHAPE)},
	{"INSERT INTO t VALUES (1) , 2", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES (1),", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES ()", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES (1", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES (5abc)", NO(INS_SYNTAX)},  /* PostgreSQL 15: junk after a number */
	{"INSERT INTO t VALUES (nulls)", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES (1+2)", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES (- 5, --c\n 6, -/*c*/7)", OK, NULL, "t", {NULL}, 1, {N("-5"), N("6"), N("-7")}},
	{"INSERT INTO t VALUES (1.5, 1e3, 'x'::text, null::int, (8))", OK, NULL, "t", {NULL}, 1,
	 {N("1.5"), N("1e3"), SC("x", "text"), NULC("int"), N("8")}},
	{"INSERT INTO t VALUES (1)/*c*/", OK, NULL, "t", {NULL}, 1, {N("1")}},
	{"INSERT INTO t VALUES (1)/*c*/, (2) --c\n, (3)", OK, NULL, "t", {NULL}, 3, {N("1"), N("2"), N("3")}},
	{"INSERT INTO t VALUES (1) RETURNING a", NO(INS_RETURNING)},
	{"INSERT INTO t VALUES (1);;", OK, NULL, "t", {NULL}, 1, {N("1")}},
	{"INSERT INTO t VALUES (1); SELECT 1", NO(INS_MULTI_STMT)},
	{"INSERT INTO t ((VALUES (1)) UNION SELECT 2)", NO(INS_SELECT)},
	{"insert into T values (1, 'a')", OK, NULL, "T", {NULL}, 1, {N("1"), S("a")}},
	{"InSeRt InTo s.t (a, b) VALUES (1, 2), (3, 4)", OK, "s", "t", {"a", "b"}, 2,
	 {N("1"), N("2"), N("3"), N("4")}},
	{"INSERT INTO \"S\".\"T\" (\"A\", b) VALUES (1, 2)", OK, "\"S", "\"T", {"\"A", "b"}, 1,
	 {N("1"), N("2")}},
	{"INSERT INTO t VALUES (1), (2), (3), (4)", OK, NULL, "t", {NULL}, 4,
	 {N("1"), N("2"), N("3"), N("4")}},
	{"INSERT INTO t(a)VALUES(1)", OK, NULL, "t", {"a"}, 1, {N("1")}},
	{"INSERT INTO t VALUES (1);", OK, NULL, "t", {NULL}, 1, {N("1")}},
	{"INSERT INTO t VALUES (1);; ;", OK, NULL, "t", {NULL}, 1, {N("1")}},
	{"INSERT INTO t VALUES (1); -- done\n", OK, NULL, "t", {NULL}, 1, {N("1")}},
	{"INSERT INTO t VALUES (1) /* done */ ; /* really */", OK, NULL, "t", {NULL}, 1, {N("1")}},
	{"/* lead */ INSERT INTO t VALUES (1)", OK, NULL, "t", {NULL}, 1, {N("1")}},
	{"-- lead\nINSERT INTO t VALUES (1)", OK, NULL, "t", {NULL}, 1, {N("1")}},
	{";INSERT INTO t VALUES (1)", OK, NULL, "t", {NULL}, 1, {N("1")}},
	{"INSERT\tINTO\r\nt\fVALUES\n(\n1\n)", OK, NULL, "t", {NULL}, 1, {N("1")}},
	{"INSERT/**/INTO/**/t/**/VALUES/**/(1)", OK, NULL, "t", {NULL}, 1, {N("1")}},
	{"INSERT INTO t VALUES (1 /* c */, -- x\n 2)", OK, NULL, "t", {NULL}, 1, {N("1"), N("2")}},
	{"INSERT INTO t VALUES (/* a /* nested */ b */ 1)", OK, NULL, "t", {NULL}, 1, {N("1")}},
	{"INSERT INTO t VALUES ('a /* not a comment */ -- nor this')", OK, NULL, "t", {NULL}, 1,
	 {S("a /* not a comment */ -- nor this")}},
	{"INSERT INTO t (a) ((VALUES (1), (2)))", OK, NULL, "t", {"a"}, 2, {N("1"), N("2")}},

	/* identifiers */
	{"INSERT INTO \"select\" (\"from\", \"where\") VALUES (1, 2)", OK, NULL, "\"select",
	 {"\"from", "\"where"}, 1, {N("1"), N("2")}},
	{"INSERT INTO name (key, value, int, values) VALUES (1, 2, 3, 4)", OK, NULL, "name",
	 {"key", "value", "int", "values"}, 1, {N("1"), N("2"), N("3"), N("4")}},
	{"INSERT INTO public.select VALUES (1)", OK, "public", "select", {NULL}, 1, {N("1")}},
	{"INSERT INTO select VALUES (1)", NO(INS_SYNTAX)},
	{"INSERT INTO left VALUES (1)", NO(INS_SYNTAX)},
	{"INSERT INTO t (order) VALUES (1)", NO(INS_SYNTAX)},
	{"INSERT INTO café (日本, naïve) VALUES (1, 2)", OK, NULL, "café", {"日本", "naïve"}, 1,
	 {N("1"), N("2")}},
	{"INSERT INTO \"a\"\"b\" VALUES (1)", OK, NULL, "\"a\"b", {NULL}, 1, {N("1")}},
	{"INSERT INTO U&\"d\\0061t\\+000061\" VALUES (1)", OK, NULL, "\"data", {NULL}, 1, {N("1")}},
	{"INSERT INTO u&\"d!0061t\" UESCAPE '!' VALUES (1)", OK, NULL, "\"dat", {NULL}, 1, {N("1")}},
	{"INSERT INTO t$1 (_x9, a$b) VALUES (1, 2)", OK, NULL, "t$1", {"_x9", "a$b"}, 1,
	 {N("1"), N("2")}},
	{"INSERT INTO aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa VALUES (1)",
	 OK, NULL, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", {NULL}, 1, {N("1")}},
	/* 62 bytes + a 2-byte character: truncation keeps whole characters */
	{"INSERT INTO bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbéx VALUES (1)", OK,
	 NULL, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", {NULL}, 1, {N("1")}},
	{"INSERT INTO \"\" VALUES (1)", NO(INS_SYNTAX)},
	{"INSERT INTO a.b.c VALUES (1)", NO(INS_SHAPE)},
	{"INSERT INTO a.b.c.d VALUES (1)", NO(INS_SYNTAX)},
	{"INSERT INTO t AS x VALUES (1)", NO(INS_SHAPE)},
	{"INSERT INTO t (a.b) VALUES (1)", NO(INS_SHAPE)},
	{"INSERT INTO t (a[1]) VALUES (1)", NO(INS_SHAPE)},
	{"INSERT INTO t (a, A) VALUES (1, 2)", NO(INS_SHAPE)},
	{"INSERT INTO t (a, \"A\") VALUES (1, 2)", OK, NULL, "t", {"a", "\"A"}, 1, {N("1"), N("2")}},
	{"INSERT INTO t (\"a\", a) VALUES (1, 2)", NO(INS_SHAPE)},

	/* strings */
	{"INSERT INTO t VALUES ('')", OK, NULL, "t", {NULL}, 1, {S("")}},
	{"INSERT INTO t VALUES (''''), ('''''')", OK, NULL, "t", {NULL}, 2, {S("'"), S("''")}},
	{"INSERT INTO t VALUES ('it''s')", OK, NULL, "t", {NULL}, 1, {S("it's")}},
	{"INSERT INTO t VALUES ('\\', 'a\\nb')", OK, NULL, "t", {NULL}, 1, {S("\\"), S("a\\nb")}},
	{"INSERT INTO t VALUES ('a'\n'b', 'c'  \n\t  'd'\r\n'e')", OK, NULL, "t", {NULL}, 1,
	 {S("ab"), S("cde")}},
	{"INSERT INTO t VALUES ('a' 'b')", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES ('a'\n/* c */'b')", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES ('a'\n-- c\n'b')", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES ('multi\nline\ttab')", OK, NULL, "t", {NULL}, 1, {S("multi\nline\ttab")}},
	{"INSERT INTO t VALUES ('日本語 ✓ 😀')", OK, NULL, "t", {NULL}, 1, {S("日本語 ✓ 😀")}},
	{"INSERT INTO t VALUES (E'\\\\', E'\\'', e'a''b')", OK, NULL, "t", {NULL}, 1,
	 {S("\\"), S("'"), S("a'b")}},
	{"INSERT INTO t VALUES (E'\\b\\f\\n\\r\\t\\q\\\\')", OK, NULL, "t", {NULL}, 1,
	 {S("\b\f\n\r\tq\\")}},
	{"INSERT INTO t VALUES (E'\\101\\x42\\u0043\\U00000044\\7')", OK, NULL, "t", {NULL}, 1,
	 {S("ABCD\a")}},
	{"INSERT INTO t VALUES (E'\\u00e9\\xc3\\xa9\\303\\251')", OK, NULL, "t", {NULL}, 1,
	 {S("ééé")}},
	{"INSERT INTO t VALUES (E'\\U0001F600', E'\\uD83D\\uDE00')", OK, NULL, "t", {NULL}, 1,
	 {S("😀"), S("😀")}},
	{"INSERT INTO t VALUES (E'a'\n'\\n')", OK, NULL, "t", {NULL}, 1, {S("a\n")}},
	{"INSERT INTO t VALUES (E'\\400')", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES (E'\\xff')", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES (E'\\u0000')", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES (E'\\uD83D')", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES (E'\\u12')", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES (E'\\')", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES (U&'d\\0061t\\+000061', U&'\\\\')", OK, NULL, "t", {NULL}, 1,
	 {S("data"), S("\\")}},
	{"INSERT INTO t VALUES (U&'d!0061t!!' UESCAPE '!')", OK, NULL, "t", {NULL}, 1, {S("dat!")}},
	{"INSERT INTO t VALUES (U&'\\D83D\\DE00', U&'\\00'\n'41')", OK, NULL, "t", {NULL}, 1,
	 {S("😀"), S("A")}},
	{"INSERT INTO t VALUES (U&'\\0000')", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES (U&'\\12')", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES (U&'x' UESCAPE '+')", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES ($$a$b$$, $tag$x$y$tag$, $a$$b$$a$, $$$$)", OK, NULL, "t", {NULL}, 1,
	 {S("a$b"), S("x$y"), S("$b$"), S("")}},
	{"INSERT INTO t VALUES ($é$'\\\"$é$)", OK, NULL, "t", {NULL}, 1, {S("'\\\"")}},
	{"INSERT INTO t VALUES ($$unterminated)", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES ('unterminated)", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES (N'abc')", OK, NULL, "t", {NULL}, 1, {SC("abc", "pg_catalog.bpchar")}},
	{"INSERT INTO t VALUES (B'101')", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES (X'1F')", NO(INS_EXPRESSION)},

	/* numbers */
	{"INSERT INTO t VALUES (0, 42, 007, 2147483648)", OK, NULL, "t", {NULL}, 1,
	 {N("0"), N("42"), N("007"), N("2147483648")}},
	{"INSERT INTO t VALUES (-5, - 5, -/* c */5, -\n5)", OK, NULL, "t", {NULL}, 1,
	 {N("-5"), N("-5"), N("-5"), N("-5")}},
	{"INSERT INTO t VALUES (- -5, -(-(5)), -0, -2147483648)", OK, NULL, "t", {NULL}, 1,
	 {N("5"), N("5"), N("-0"), N("-2147483648")}},
	{"INSERT INTO t VALUES (1.5, .5, 5., 1e5, 1E-5, 1e-5, -1.5e+10)", OK, NULL, "t", {NULL}, 1,
	 {N("1.5"), N(".5"), N("5."), N("1e5"), N("1E-5"), N("1e-5"), N("-1.5e+10")}},
	{"INSERT INTO t VALUES (123456789012345678901234567890)", OK, NULL, "t", {NULL}, 1,
	 {N("123456789012345678901234567890")}},
	{"INSERT INTO t VALUES ((5), ((-(6))))", OK, NULL, "t", {NULL}, 1, {N("5"), N("-6")}},
	{"INSERT INTO t VALUES (+5)", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES (1e)", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES (1_000)", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES (0x1F)", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES (1 - 1)", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES (-'5')", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES (---5\n)", NO(INS_SYNTAX)},

	/* NULL, booleans, DEFAULT */
	{"INSERT INTO t VALUES (NULL, null, TRUE, false, DEFAULT, (default))", OK, NULL, "t", {NULL},
	 1, {NUL, NUL, T, F, DEF, DEF}},
	{"INSERT INTO t VALUES (NULL::int, CAST(NULL AS text))", OK, NULL, "t", {NULL}, 1,
	 {NULC("int"), NULC("text")}},
	{"INSERT INTO t VALUES (TRUE::bool)", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES (-NULL)", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES (DEFAULT::int)", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES (\"null\")", NO(INS_EXPRESSION)},

	/* typed literals */
	{"INSERT INTO t VALUES ('2020-01-01'::date, CAST('5' AS integer), int4 '5')", OK, NULL, "t",
	 {NULL}, 1, {SC("2020-01-01", "date"), SC("5", "integer"), SC("5", "int4")}},
	{"INSERT INTO t VALUES (timestamp '2020-01-01', TIMESTAMP(3)  WITH\n TIME ZONE 'x')", OK, NULL,
	 "t", {NULL}, 1, {SC("2020-01-01", "timestamp"), SC("x", "timestamp(3) with time zone")}},
	{"INSERT INTO t VALUES ('1.5'::double  precision, 'x'::Character Varying(10))", OK, NULL, "t",
	 {NULL}, 1, {SC("1.5", "double precision"), SC("x", "character varying(10)")}},
	{"INSERT INTO t VALUES ('{1}'::int4[], '{}'::int ARRAY, '{}'::int array[3], 'x'::text[][])",
	 OK, NULL, "t", {NULL}, 1,
	 {SC("{1}", "int4[]"), SC("{}", "int[]"), SC("{}", "int[3]"), SC("x", "text[][]")}},
	{"INSERT INTO t VALUES ('x'::pg_catalog.int4, 'x'::\"MyType\", 'x'::Public.MyType)", OK, NULL,
	 "t", {NULL}, 1,
	 {SC("x", "pg_catalog.int4"), SC("x", "\"MyType\""), SC("x", "public.mytype")}},
	{"INSERT INTO t VALUES ('x'::numeric( 10 , 2 ), 'x'::varchar(007), 'x'::\"a\"\"b\")", OK, NULL,
	 "t", {NULL}, 1,
	 {SC("x", "numeric(10,2)"), SC("x", "varchar(7)"), SC("x", "\"a\"\"b\"")}},
	{"INSERT INTO t VALUES (interval '1 day', interval(3) '1', '1'::interval(2))", OK, NULL, "t",
	 {NULL}, 1, {SC("1 day", "interval"), SC("1", "interval(3)"), SC("1", "interval(2)")}},
	{"INSERT INTO t VALUES (char 'x', char(3) 'x', 'x'::char, bit '101')", OK, NULL, "t", {NULL},
	 1, {SC("x", "pg_catalog.bpchar"), SC("x", "char(3)"), SC("x", "char"),
	     SC("101", "pg_catalog.bit")}},
	{"INSERT INTO t VALUES (('x')::text, (('5'))::int, CAST((('y')) AS text))", OK, NULL, "t",
	 {NULL}, 1, {SC("x", "text"), SC("5", "int"), SC("y", "text")}},
	{"INSERT INTO t VALUES (interval '1' day)", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES ('1'::interval hour to minute)", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES ('5'::int::bigint)", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES (CAST('5'::int AS bigint))", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES (5::int)", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES (CAST(5 AS int))", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES ('x'::setof int)", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES (coalesce 'x')", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES ('x'::between)", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES ('x'::a.b.c)", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES ('x'::timestamp with /* c */ time zone)", NO(INS_SYNTAX)},

	/* expressions */
	{"INSERT INTO t VALUES (now())", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES (nextval('s'))", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES (1 + 2)", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES ((SELECT 1))", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES ($1, $2)", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES (col)", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES (ARRAY[1])", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES ((1, 2))", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES ('a' || 'b')", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES ('x' COLLATE \"C\")", NO(INS_EXPRESSION)},
	{"INSERT INTO t VALUES (CURRENT_TIMESTAMP)", NO(INS_EXPRESSION)},

	/* statements that are not plain INSERT ... VALUES */
	{"INSERT INTO t VALUES (1) RETURNING *", NO(INS_RETURNING)},
	{"INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING", NO(INS_ON_CONFLICT)},
	{"WITH x AS (SELECT 1) INSERT INTO t VALUES (1)", NO(INS_WITH)},
	{"WITH x AS (SELECT 1) SELECT * FROM x", NO(INS_NOT_INSERT)},
	{"INSERT INTO t SELECT 1", NO(INS_SELECT)},
	{"INSERT INTO t (a) SELECT 1", NO(INS_SELECT)},
	{"INSERT INTO t DEFAULT VALUES", NO(INS_SELECT)},
	{"INSERT INTO t VALUES (1) ORDER BY 1", NO(INS_SELECT)},
	{"INSERT INTO t OVERRIDING SYSTEM VALUE VALUES (1)", NO(INS_OVERRIDING)},
	{"INSERT INTO t VALUES (1); SELECT 1", NO(INS_MULTI_STMT)},
	{"INSERT INTO t VALUES (1);INSERT INTO t VALUES (2)", NO(INS_MULTI_STMT)},
	{"/* INSERT INTO t VALUES (1) */ SELECT 1", NO(INS_NOT_INSERT)},
	{"-- INSERT INTO t VALUES (1)\nSELECT 1", NO(INS_NOT_INSERT)},
	{"\"INSERT\" INTO t VALUES (1)", NO(INS_NOT_INSERT)},
	{"UPDATE t SET a = 1", NO(INS_NOT_INSERT)},
	{"", NO(INS_NOT_INSERT)},
	{"  -- nothing\n", NO(INS_NOT_INSERT)},
	{"INSERT INTO t VALUES (1), (1, 2)", NO(INS_SHAPE)},
	{"INSERT INTO t (a) VALUES (1, 2)", NO(INS_SHAPE)},
	{"INSERT INTO t (a, b) VALUES (1)", NO(INS_SHAPE)},
	{"INSERT t VALUES (1)", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES (1),", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES ()", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES (1", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES 1", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES (1) garbage", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES (1) /* unterminated", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES (1)\v", NO(INS_SYNTAX)},
	/* the server rejects text that is not UTF-8 before parsing it */
	{"INSERT INTO t VALUES ('\xff')", NO(INS_SYNTAX)},
	{"INSERT INTO \xe9t VALUES (1)", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES ('\xed\xa0\x80')", NO(INS_SYNTAX)},
	{"INSERT INTO t VALUES ('\xc3\xa9')", OK, NULL, "t", {NULL}, 1, {S("é")}},
};

static void check_name(const struct ins_name *n, const char *want, const char *sql)
{
	if (!want) {
		if (n->name)
			fail_msg("%s: unexpected name %s", sql, n->name);
		return;
	}
	bool quoted = want[0] == '"';
	if (!n->name || strcmp(n->name, want + quoted) != 0 || n->quoted != quoted)
		fail_msg("%s: name %s%s, want %s", sql, n->name ? n->name : "(none)",
			 n->quoted ? " (quoted)" : "", want);
}

static void check_case(size_t i)
{
	{
		const struct tcase *c = &cases[i];
		struct ins_stmt st;
		enum ins_reason r = ins_parse(c->sql, strlen(c->sql), &st);
		if (r != c->reason)
			fail_msg("case %zu %s: got %s, want %s", i, c->sql, ins_reason_name(r),
				 ins_reason_name(c->reason));
		if (r != INS_OK) {
			assert_null(st.arena);
			assert_null(st.values);
			return;
		}
		check_name(&st.schema, c->schema, c->sql);
		check_name(&st.table, c->table, c->sql);
		int ncols = 0;
		while (ncols < 6 && c->cols[ncols])
			ncols++;
		if (st.ncols != ncols)
			fail_msg("%s: %d columns, want %d", c->sql, st.ncols, ncols);
		for (int k = 0; k < ncols; k++)
			check_name(&st.cols[k], c->cols[k], c->sql);
		int nvalues = 0;
		while (nvalues < 12 && (c->vals[nvalues].text || c->vals[nvalues].kind != INS_STRING))
			nvalues++;
		if (st.nrows != c->nrows || st.nrows * st.nvals != nvalues)
			fail_msg("%s: %d rows of %d, want %d rows, %d values", c->sql, st.nrows, st.nvals,
				 c->nrows, nvalues);
		for (int k = 0; k < nvalues; k++) {
			const struct ins_value *v = &st.values[k];
			const struct val *w = &c->vals[k];
			bool text_ok = w->text ? (v->text && v->len == strlen(w->text) &&
						  memcmp(v->text, w->text, v->len) == 0 &&
						  v->text[v->len] == '\0')
				: (v->text == NULL && v->len == 0);
			bool cast_ok = w->cast ? (v->cast && strcmp(v->cast, w->cast) == 0) : v->cast == NULL;
			if (v->kind != w->kind || !text_ok || !cast_ok)
				fail_msg("%s: value %d is kind %d [%s]::%s, want kind %d [%s]::%s", c->sql, k,
					 v->kind, v->text ? v->text : "-", v->cast ? v->cast : "-", w->kind,
					 w->text ? w->text : "-", w->cast ? w->cast : "-");
		}
		assert_true(ins_looks_like_insert(c->sql, strlen(c->sql)));
		ins_stmt_free(&st);
		assert_null(st.arena);
	}
}

static void test_cases(void **state)
{
	(void)state;
	size_t ncases = sizeof(cases) / sizeof(cases[0]);
	for (size_t i = 0; i < ncases; i++)
		check_case(i);
	printf("%zu table-driven cases\n", ncases);
}

/* Every case again with the rows read by the general parser only: the
 * fast path for plain constants reads what it reads. */
static void test_cases_slow(void **state)
{
	(void)state;
	size_t ncases = sizeof(cases) / sizeof(cases[0]);

	ins_parse_slow(true);
	for (size_t i = 0; i < ncases; i++)
		check_case(i);
	ins_parse_slow(false);
}

/* The parser keeps the last statement's head (up to VALUES) and takes it
 * from there when the next statement starts with the same bytes: every case
 * parses as alone right after itself and right after every other case. */
static void test_cases_after_others(void **state)
{
	(void)state;
	size_t ncases = sizeof(cases) / sizeof(cases[0]);
	struct ins_stmt st;

	for (size_t i = 0; i < ncases; i++) {
		for (size_t j = 0; j < ncases; j++) {
			if (ins_parse(cases[i].sql, strlen(cases[i].sql), &st) == INS_OK)
				ins_stmt_free(&st);
			check_case(j);
		}
	}
}

static void test_looks_like_insert(void **state)
{
	(void)state;
	static const struct {
		const char *sql;
		bool want;
	} probes[] = {
		{"INSERT INTO t VALUES (1)", true}, {"insert", true}, {"  \n\tInSeRt(", true},
		{"/* c /* nested */ */ -- x\ninsert into", true}, {";; insert into t", true},
		{"INSERTS", false}, {"insert_x", false}, {"insert$", false}, {"inser", false},
		{"SELECT 1", false}, {"WITH x AS (SELECT 1) INSERT INTO t VALUES (1)", false},
		{"/* INSERT */ SELECT 1", false}, {"-- INSERT\nSELECT", false}, {"/* INSERT", false},
		{"\"INSERT\" INTO", false}, {"", false}, {"insertö", false},
	};
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		if (ins_looks_like_insert(probes[i].sql, strlen(probes[i].sql)) != probes[i].want)
			fail_msg("ins_looks_like_insert(%s) != %d", probes[i].sql, probes[i].want);
	assert_false(ins_looks_like_insert(NULL, 0));
	/* the length bounds the text: "INSERTX" cut after six bytes is INSERT */
	assert_true(ins_looks_like_insert("INSERTX", 6));
	assert_false(ins_looks_like_insert("INSERT", 5));
}

static void test_name_resolve(void **state)
{
	(void)state;
	char buf[64];
	struct ins_stmt st;
	const char *sql = "INSERT INTO MySchema.\"MyTable\" (Col, \"Col\", \"x\"\"Y\", ÉtÉ) VALUES (1,2,3,4)";
	assert_int_equal(ins_parse(sql, strlen(sql), &st), INS_OK);
	assert_string_equal(ins_name_resolve(&st.schema, false, buf, sizeof(buf)), "myschema");
	assert_string_equal(ins_name_resolve(&st.schema, true, buf, sizeof(buf)), "MySchema");
	assert_string_equal(ins_name_resolve(&st.table, false, buf, sizeof(buf)), "MyTable");
	assert_string_equal(ins_name_resolve(&st.table, true, buf, sizeof(buf)), "MyTable");
	assert_string_equal(ins_name_resolve(&st.cols[0], false, buf, sizeof(buf)), "col");
	assert_string_equal(ins_name_resolve(&st.cols[0], true, buf, sizeof(buf)), "Col");
	assert_string_equal(ins_name_resolve(&st.cols[1], false, buf, sizeof(buf)), "Col");
	assert_string_equal(ins_name_resolve(&st.cols[2], false, buf, sizeof(buf)), "x\"Y");
	/* only ASCII letters fold, as in PostgreSQL with UTF-8 */
	assert_string_equal(ins_name_resolve(&st.cols[3], false, buf, sizeof(buf)), "ÉtÉ");
	/* truncation to the buffer, and the returned pointer is the buffer */
	assert_ptr_equal(ins_name_resolve(&st.table, false, buf, 4), buf);
	assert_string_equal(buf, "MyT");
	buf[0] = 'z';
	assert_ptr_equal(ins_name_resolve(&st.table, false, buf, 0), buf);
	assert_int_equal(buf[0], 'z');
	ins_stmt_free(&st);

	struct ins_name none = {NULL, false};
	assert_string_equal(ins_name_resolve(&none, false, buf, sizeof(buf)), "");
}

static void test_reason_names(void **state)
{
	(void)state;
	for (int i = 0; i < INS_REASON_COUNT; i++) {
		const char *n = ins_reason_name((enum ins_reason)i);
		assert_non_null(n);
		assert_true(strlen(n) > 0);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(n, ins_reason_name((enum ins_reason)j));
	}
	assert_string_equal(ins_reason_name(INS_EXPRESSION), "expression");
	assert_string_equal(ins_reason_name(INS_RETURNING), "returning");
	assert_string_equal(ins_reason_name(INS_REASON_COUNT), "unknown");
}

/* Builds "prefix" + n copies of piece + "suffix". */
static char *repeat(const char *prefix, const char *piece, size_t n, const char *suffix, size_t *len)
{
	size_t a = strlen(prefix), b = strlen(piece), c = strlen(suffix);
	char *s = malloc(a + b * n + c + 1);
	assert_non_null(s);
	memcpy(s, prefix, a);
	for (size_t i = 0; i < n; i++)
		memcpy(s + a + i * b, piece, b);
	memcpy(s + a + b * n, suffix, c + 1);
	*len = a + b * n + c;
	return s;
}

static void test_large_inputs(void **state)
{
	(void)state;
	struct ins_stmt st;
	size_t len;

	/* a 200 KB string with doubled quotes every 100 bytes */
	static const char piece[] = "''abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
				    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrst";
	assert_int_equal(sizeof(piece) - 1, 100);
	char *sql = repeat("INSERT INTO t VALUES ('", piece, 2000, "')", &len);
	assert_int_equal(ins_parse(sql, len, &st), INS_OK);
	assert_int_equal(st.values[0].len, 2000 * 99);
	assert_int_equal(st.values[0].text[0], '\'');
	assert_int_equal(strlen(st.values[0].text), st.values[0].len);
	ins_stmt_free(&st);
	free(sql);

	/* a 200 KB E'' string of escapes decodes to a quarter of its size */
	sql = repeat("INSERT INTO t VALUES (E'", "\\x41", 50000, "')", &len);
	assert_int_equal(ins_parse(sql, len, &st), INS_OK);
	assert_int_equal(st.values[0].len, 50000);
	ins_stmt_free(&st);
	free(sql);

	/* deep parentheses and nested comments: no recursion on depth */
	char *open = repeat("INSERT INTO t VALUES (", "(", 100000, "-7", &len);
	char *full = repeat(open, ")", 100000, ")", &len);
	assert_int_equal(ins_parse(full, len, &st), INS_OK);
	assert_string_equal(st.values[0].text, "-7");
	ins_stmt_free(&st);
	free(open);
	free(full);
	open = repeat("INSERT INTO t VALUES (1 ", "/*", 100000, "", &len);
	full = repeat(open, "*/", 100000, ")", &len);
	assert_int_equal(ins_parse(full, len, &st), INS_OK);
	ins_stmt_free(&st);
	full[len - 3] = ' ';            /* one comment left open */
	assert_int_equal(ins_parse(full, len, &st), INS_SYNTAX);
	free(open);
	free(full);

	/* many rows */
	sql = repeat("INSERT INTO t (a, b) VALUES (0, 'x')", ", (1, 'y')", 20000, ";", &len);
	assert_int_equal(ins_parse(sql, len, &st), INS_OK);
	assert_int_equal(st.nrows, 20001);
	assert_int_equal(st.nvals, 2);
	assert_string_equal(st.values[2 * 20000 + 1].text, "y");
	ins_stmt_free(&st);
	free(sql);

	/* around the one-pass scratch areas (64 columns, 256 values, 4 KB of
	 * text): what fits and what takes the second pass read the same */
	for (int n = 62; n <= 66; n++) {
		char buf[8192];
		int o = snprintf(buf, sizeof(buf), "INSERT INTO s.t (");
		for (int i = 0; i < n; i++)
			o += snprintf(buf + o, sizeof(buf) - (size_t)o, "%sc%d", i ? ", " : "", i);
		o += snprintf(buf + o, sizeof(buf) - (size_t)o, ") VALUES (");
		for (int i = 0; i < n; i++)
			o += snprintf(buf + o, sizeof(buf) - (size_t)o, "%s'v%d'::int4", i ? ", " : "", i);
		o += snprintf(buf + o, sizeof(buf) - (size_t)o, "), (");
		for (int i = 0; i < n; i++)
			o += snprintf(buf + o, sizeof(buf) - (size_t)o, "%s%d", i ? ", " : "", i);
		snprintf(buf + o, sizeof(buf) - (size_t)o, ")");
		assert_int_equal(ins_parse(buf, strlen(buf), &st), INS_OK);
		assert_int_equal(st.ncols, n);
		assert_int_equal(st.nrows, 2);
		assert_string_equal(st.schema.name, "s");
		assert_string_equal(st.table.name, "t");
		assert_string_equal(st.cols[n - 1].name, (snprintf(buf, 32, "c%d", n - 1), buf));
		assert_string_equal(st.values[n - 1].text, (snprintf(buf, 32, "v%d", n - 1), buf));
		assert_string_equal(st.values[n - 1].cast, "int4");
		assert_string_equal(st.values[2 * n - 1].text, (snprintf(buf, 32, "%d", n - 1), buf));
		ins_stmt_free(&st);
	}
	for (int n = 250; n <= 260; n += 2) {
		sql = repeat("INSERT INTO t VALUES (0)", ", (1)", n - 1, "", &len);
		assert_int_equal(ins_parse(sql, len, &st), INS_OK);
		assert_int_equal(st.nrows, n);
		assert_string_equal(st.values[n - 1].text, "1");
		ins_stmt_free(&st);
		free(sql);
	}
	for (int n = 4080; n <= 4100; n += 5) {
		sql = repeat("INSERT INTO t VALUES ('", "x", n, "', 'end')", &len);
		assert_int_equal(ins_parse(sql, len, &st), INS_OK);
		assert_int_equal(st.values[0].len, n);
		assert_string_equal(st.values[1].text, "end");
		ins_stmt_free(&st);
		free(sql);
	}

	/* more columns than any table can have */
	open = repeat("INSERT INTO t VALUES (", "1,", 1600, "1)", &len);
	assert_int_equal(ins_parse(open, len, &st), INS_SHAPE);
	free(open);
	open = repeat("INSERT INTO t VALUES (", "1,", 1599, "1)", &len);
	assert_int_equal(ins_parse(open, len, &st), INS_OK);
	assert_int_equal(st.nvals, 1600);
	ins_stmt_free(&st);
	free(open);
}

static void test_edges(void **state)
{
	(void)state;
	struct ins_stmt st;

	/* a NUL inside the given length: PostgreSQL would stop there */
	static const char nul[] = "INSERT INTO t VALUES ('a\0b')";
	assert_int_equal(ins_parse(nul, sizeof(nul) - 1, &st), INS_SYNTAX);
	/* the length bounds the text: a Query's buffer need not end with NUL */
	static const char cut[] = "INSERT INTO t VALUES (1)XYZ";
	assert_int_equal(ins_parse(cut, sizeof(cut) - 4, &st), INS_OK);
	ins_stmt_free(&st);
	assert_int_equal(ins_parse(cut, sizeof(cut) - 5, &st), INS_SYNTAX);
	assert_int_equal(ins_parse(NULL, 0, &st), INS_NOT_INSERT);
	/* freeing an empty or freed statement is harmless */
	memset(&st, 0, sizeof(st));
	ins_stmt_free(&st);
	ins_stmt_free(&st);
	ins_stmt_free(NULL);
	/* on failure *out is left empty even if it held garbage */
	memset(&st, 0x5a, sizeof(st));
	assert_int_equal(ins_parse("SELECT 1", 8, &st), INS_NOT_INSERT);
	assert_null(st.arena);
	assert_null(st.values);
	assert_null(st.table.name);
}

static enum ins_reason parse_params(const char *sql, struct ins_stmt *st)
{
	return ins_parse_params(sql, strlen(sql), st);
}

/* The extended protocol's statements: $n values, alone or with one cast. */
static void test_params(void **state)
{
	struct ins_stmt st;

	(void)state;
	/* a Query never carries parameters */
	assert_int_equal(ins_parse("INSERT INTO t VALUES ($1)", 25, &st), INS_EXPRESSION);
	assert_int_equal(parse_params("INSERT INTO t (a, b, c) VALUES ($2, 'lit', $1::int8), ($3, DEFAULT, NULL)",
				      &st), INS_OK);
	assert_int_equal(st.nparams, 3);
	assert_int_equal(st.nrows, 2);
	assert_int_equal(st.values[0].kind, INS_PARAM);
	assert_int_equal(st.values[0].param, 2);
	assert_null(st.values[0].cast);
	assert_int_equal(st.values[2].kind, INS_PARAM);
	assert_string_equal(st.values[2].cast, "int8");
	assert_int_equal(st.values[1].kind, INS_STRING);
	ins_stmt_free(&st);
	assert_int_equal(parse_params("INSERT INTO t VALUES (CAST($1 AS text), ($2))", &st), INS_OK);
	assert_string_equal(st.values[0].cast, "text");
	assert_int_equal(st.values[1].param, 2);
	ins_stmt_free(&st);
	/* what PostgreSQL reads as an expression, or rejects itself */
	assert_int_equal(parse_params("INSERT INTO t VALUES (-$1)", &st), INS_EXPRESSION);
	assert_int_equal(parse_params("INSERT INTO t VALUES ($1 + 1)", &st), INS_EXPRESSION);
	assert_int_equal(parse_params("INSERT INTO t VALUES ($1::int::text)", &st), INS_EXPRESSION);
	assert_int_equal(parse_params("INSERT INTO t VALUES ($0)", &st), INS_EXPRESSION);
	assert_int_equal(parse_params("INSERT INTO t VALUES ($65536)", &st), INS_EXPRESSION);
	assert_int_equal(parse_params("INSERT INTO t VALUES ($65535)", &st), INS_OK);
	assert_int_equal(st.nparams, 65535);
	ins_stmt_free(&st);
}

static void test_bind(void **state)
{
	struct ins_stmt tmpl, st;
	struct ins_param p[3] = {
		{ "x'y", 3, 25 }, { NULL, 0, 23 }, { "42", 2, 0 },
	};

	(void)state;
	assert_int_equal(parse_params("INSERT INTO s.t (a, b, c, d) VALUES ($3, $1, $2::int4, $1)", &tmpl), INS_OK);
	assert_true(ins_bind(&tmpl, p, 3, &st));
	ins_stmt_free(&tmpl);     /* the bound copy stands alone */
	assert_string_equal(st.schema.name, "s");
	assert_string_equal(st.table.name, "t");
	assert_string_equal(st.cols[3].name, "d");
	assert_int_equal(st.nparams, 0);
	assert_int_equal(st.values[0].kind, INS_STRING);
	assert_string_equal(st.values[0].text, "42");
	assert_int_equal(st.values[0].typoid, 0);
	assert_string_equal(st.values[1].text, "x'y");
	assert_int_equal(st.values[1].len, 3);
	assert_int_equal(st.values[1].typoid, 25);
	assert_int_equal(st.values[2].kind, INS_NULL);
	assert_string_equal(st.values[2].cast, "int4");
	assert_int_equal(st.values[2].typoid, 23);
	assert_string_equal(st.values[3].text, "x'y");
	ins_stmt_free(&st);
	/* a $n beyond the parameters given */
	assert_int_equal(parse_params("INSERT INTO t VALUES ($4)", &tmpl), INS_OK);
	assert_false(ins_bind(&tmpl, p, 3, &st));
	ins_stmt_free(&tmpl);
}

/* The names of a bound copy, whether the template's names are one block (they
 * are copied at once) or not (a template put together otherwise): each name
 * and its quoting as in the template, in memory of the copy's own; a copy
 * of a copy too. */
static void test_bind_names(void **state)
{
	static const char *const sqls[] = {
		"INSERT INTO \"S\".t (a, \"B c\", d) VALUES ($1, $2, $1)",
		"INSERT INTO t VALUES ($1, $2)",
		"INSERT INTO sch.\"T\" (\"x\"\"y\", z) VALUES ($1, 'k')",
	};
	struct ins_param p[2] = { { "1", 1, 0 }, { "2", 1, 0 } };
	(void)state;

	for (size_t k = 0; k < sizeof(sqls) / sizeof(sqls[0]); k++) {
		for (int blockless = 0; blockless < 2; blockless++) {
			struct ins_stmt tmpl, ref, st, st2;

			ins_parse_forget();
			assert_int_equal(parse_params(sqls[k], &tmpl), INS_OK);
			assert_int_equal(parse_params(sqls[k], &ref), INS_OK);
			if (blockless) {
				assert_non_null(tmpl.names);
				tmpl.names = NULL;
				tmpl.names_len = 0;
			}
			assert_true(ins_bind(&tmpl, p, 2, &st));
			ins_stmt_free(&tmpl);
			assert_true(ins_bind(&st, p, 2, &st2));
			for (int copy = 0; copy < 2; copy++) {
				const struct ins_stmt *b = copy ? &st2 : &st;

				assert_int_equal(b->schema.name == NULL, ref.schema.name == NULL);
				if (ref.schema.name)
					assert_string_equal(b->schema.name, ref.schema.name);
				assert_int_equal(b->schema.quoted, ref.schema.quoted);
				assert_string_equal(b->table.name, ref.table.name);
				assert_int_equal(b->table.quoted, ref.table.quoted);
				assert_int_equal(b->ncols, ref.ncols);
				for (int i = 0; i < ref.ncols; i++) {
					assert_string_equal(b->cols[i].name, ref.cols[i].name);
					assert_int_equal(b->cols[i].quoted, ref.cols[i].quoted);
				}
			}
			ins_stmt_free(&st);
			/* the copy of a copy stands alone too (ASan would see a name
			 * left in the freed one) */
			assert_string_equal(st2.table.name, ref.table.name);
			ins_stmt_free(&st2);
			ins_stmt_free(&ref);
		}
	}
}

/* The keyword lookup: every class, any case, the fullest bucket (first letter
 * and length), and words that are not keywords though close to one. */
static void test_keywords(void **state)
{
	static const struct {
		const char *w;
		enum sql_kw kw;
	} kws[] = {
		{"all", SQL_KW_RESERVED}, {"xmltable", SQL_KW_COL_NAME}, {"verbose", SQL_KW_TYPE_FUNC},
		{"SELECT", SQL_KW_RESERVED}, {"Current_Timestamp", SQL_KW_RESERVED},
		{"concurrently", SQL_KW_TYPE_FUNC}, {"current_date", SQL_KW_RESERVED},
		{"current_role", SQL_KW_RESERVED}, {"current_time", SQL_KW_RESERVED},
		{"current_user", SQL_KW_RESERVED}, {"values", SQL_KW_COL_NAME}, {"into", SQL_KW_RESERVED},
		{"cg", SQL_KW_NONE}, {"selects", SQL_KW_NONE}, {"selec", SQL_KW_NONE}, {"b1", SQL_KW_NONE},
		{"current_timestamps", SQL_KW_NONE}, {"_all", SQL_KW_NONE}, {"\xc3\xa0ll", SQL_KW_NONE},
		{"insert", SQL_KW_NONE},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(kws) / sizeof(kws[0]); i++)
		assert_int_equal(sql_keyword(kws[i].w, strlen(kws[i].w)), kws[i].kw);
	assert_int_equal(sql_keyword("all", 0), SQL_KW_NONE);
	assert_int_equal(sql_keyword("as\0", 3), SQL_KW_NONE);
}

/* What may follow RETURNING for the INSERT to leave the session as it was:
 * plain column references only. */
static void test_returning_plain(void **state)
{
	static const struct {
		const char *sql;
		bool plain;
	} rs[] = {
		{"INSERT INTO t VALUES (1) RETURNING k", true},
		{"INSERT INTO t VALUES (1) RETURNING k;", true},
		{"insert into t values (1) returning *", true},
		{"INSERT INTO t (a) VALUES ('returning') RETURNING k AS id, \"V\" w, t.* ; ;", true},
		{"INSERT INTO t VALUES (1) RETURNING t.k", false},     /* (or the call k(t)) */
		{"INSERT INTO t VALUES (1) RETURNING \"t\".\"f\"", false},
		{"INSERT INTO t VALUES (1) RETURNING s.t.k", false},
		{"INSERT INTO t VALUES (1) RETURNING t.*.k", false},
		{"INSERT INTO t VALUES (1)", false},
		{"INSERT INTO t VALUES (1) RETURNING", false},
		{"INSERT INTO t VALUES (1) RETURNING k,", false},
		{"INSERT INTO t VALUES (1) RETURNING f(k)", false},
		{"INSERT INTO t VALUES (1) RETURNING pg_catalog.set_config('a.b', 'c', false)", false},
		{"INSERT INTO t VALUES (1) RETURNING k + 1", false},
		{"INSERT INTO t VALUES (1) RETURNING k::text", false},
		{"INSERT INTO t VALUES (1) RETURNING (k)", false},
		{"INSERT INTO t VALUES (1) RETURNING current_user", false},
		{"INSERT INTO t VALUES (1) RETURNING NULL", false},
		{"INSERT INTO t VALUES (1) RETURNING k; SELECT 1", false},
		{"INSERT INTO t VALUES (1) RETURNING k COLLATE \"C\"", false},
		{"INSERT INTO t VALUES (1) RETURNING k 'x'", false},
		{"INSERT INTO t VALUES ((1)) RETURNING k[1]", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rs) / sizeof(rs[0]); i++) {
		bool got = ins_returning_plain(rs[i].sql, strlen(rs[i].sql), false);

		if (got != rs[i].plain)
			fail_msg("%s: %d", rs[i].sql, got);
	}
	assert_false(ins_returning_plain(NULL, 0, false));
}

/* Statements that set a custom (placeholder) setting. */
static void test_sets_custom(void **state)
{
	static const struct {
		const char *sql;
		bool custom;
	} cs[] = {
		{"SET app.user = 'x'", true},
		{"set session \"App\".\"User\" TO x", true},
		{"BEGIN; SET LOCAL app.user = 'x'; COMMIT", true},
		{"RESET app.user", true},
		{"SELECT pg_catalog.set_config('app.user', 'x', false)", true},
		{"SELECT set_config($1, 'x', false)", true},
		{"SELECT set_config(E'app\\x2euser', 'x', false)", true},
		{"INSERT INTO t VALUES (1); SET app.x = 1", true},
		{"SET search_path = a, b", false},
		{"SET SESSION AUTHORIZATION bob", false},
		{"SELECT set_config('search_path', 'a.b', false)", false},
		{"SELECT 'SET app.user = 1', 'set_config(''a.b'')'", false},
		{"SELECT 1 -- set_config('a.b', '', false)", false},
		{"UPDATE t SET a.b = 1", false},
		{"SELECT set_config FROM t", false},
		{"SET \"app.user\" = 'x'", true},
		{"SET U&\"app\\002euser\" = 'x'", true},
		{"SET \"search_path\" = a", false},
		{"SET session.x = 1", true},
		{"SET local.x = 1", true},
		{"RESET session.x", true},
		{"SET SESSION local.x = 1", true},
		{"SELECT set_config('app' || '.user', 'x', false)", true},
		{"DO $$BEGIN PERFORM set_config('app.user', 'x', false); END$$", true},
		{"DO $$BEGIN RAISE NOTICE 'hi'; END$$", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++) {
		bool got = ins_sets_custom(cs[i].sql, strlen(cs[i].sql), false);

		if (got != cs[i].custom)
			fail_msg("%s: %d", cs[i].sql, got);
	}
	assert_false(ins_sets_custom(NULL, 0, false));
}

/* Transaction statements without options. */
static void test_tx_plain(void **state)
{
	static const struct {
		const char *sql;
		bool plain;
	} tp[] = {
		{"BEGIN", true}, {"begin;", true}, {"BEGIN WORK", true}, {"BEGIN TRANSACTION;;", true},
		{"START TRANSACTION", true}, {"COMMIT", true}, {"END", true}, {"commit work", true},
		{"ROLLBACK", true}, {"ABORT TRANSACTION", true}, {" /* c */ COMMIT -- x", true},
		{"START", false}, {"START WORK", false}, {"BEGIN READ ONLY", false},
		{"BEGIN ISOLATION LEVEL SERIALIZABLE", false}, {"COMMIT AND CHAIN", false},
		{"ROLLBACK TO SAVEPOINT a", false}, {"COMMIT; SET a.b = 1", false}, {"BEGIN; COMMIT", false},
		{"COMMIT PREPARED 'x'", false}, {"SAVEPOINT a", false}, {"", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(tp) / sizeof(tp[0]); i++) {
		bool got = ins_tx_plain(tp[i].sql, strlen(tp[i].sql));

		if (got != tp[i].plain)
			fail_msg("%s: %d", tp[i].sql, got);
	}
	assert_false(ins_tx_plain(NULL, 0));
	assert_int_equal(ins_tx_plain("BEGIN", 5), 1);
	assert_int_equal(ins_tx_plain("start transaction", 17), 1);
	assert_int_equal(ins_tx_plain("COMMIT", 6), 2);
	assert_int_equal(ins_tx_plain("abort", 5), 2);
	assert_int_equal(ins_tx_plain("ROLLBACK", 8), 2);
	assert_int_equal(ins_tx_plain("END", 3), 2);
	assert_int_equal(ins_tx_plain("commit work", 11), 2);
	assert_int_equal(ins_tx_plain("BEGIN WORK", 10), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_bind),
		cmocka_unit_test(test_bind_names),
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_cases_slow),
		cmocka_unit_test(test_cases_after_others),
		cmocka_unit_test(test_looks_like_insert),
		cmocka_unit_test(test_name_resolve),
		cmocka_unit_test(test_reason_names),
		cmocka_unit_test(test_large_inputs),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_keywords),
		cmocka_unit_test(test_returning_plain),
		cmocka_unit_test(test_sets_custom),
		cmocka_unit_test(test_tx_plain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
