/* Differential test: the INSERT recognizer against libpg_query (PostgreSQL 15's own parser) over a generated corpus. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pg_query.h>

#include "protocol/insert.h"

/*
 * The oracle decodes libpg_query's protobuf parse tree with the small wire
 * reader below (field numbers from pg_query.proto): its JSON output drops
 * negative integers, and the protobuf-c headers are not installed.
 *
 * "Interceptable" for the oracle: exactly one InsertStmt; no WITH, RETURNING,
 * ON CONFLICT or OVERRIDING; a relation without catalog or alias; plain
 * column names, at most 1600 and no duplicates; a SelectStmt holding only
 * VALUES lists of one length (at most 1600, equal to the column count when
 * there are columns); each value an A_Const other than a bit string, a
 * SetToDefault, or a TypeCast of a string or NULL A_Const to a type name of
 * at most two parts, not SETOF or %TYPE, with non-negative integer typmods
 * (and for interval, no field qualifier). The text must also be valid UTF-8:
 * the server rejects a Query that is not valid in its encoding before
 * parsing it, which libpg_query does not model.
 *
 * Where the recognizer is knowingly more conservative than this definition
 * (pg_catalog.interval(n), int.foo 'x'), the generator does not produce the
 * text.
 */

/* ---- protobuf wire reader ---- */

struct pb {
	const uint8_t *p;
	size_t n;
};

static bool pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;
	for (int shift = 0; *p < end && shift < 64; shift += 7) {
		uint8_t b = *(*p)++;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return true;
		}
	}
	return false;
}

/* The idx-th occurrence of field num: its bytes (length-delimited) or value. */
static bool pb_get(struct pb m, unsigned num, size_t idx, struct pb *sub, uint64_t *val)
{
	const uint8_t *p = m.p, *end = m.p + m.n;
	while (p && p < end) {
		uint64_t key, v = 0, l;
		struct pb s = {0};
		if (!pb_varint(&p, end, &key))
			return false;
		switch (key & 7) {
		case 0:
			if (!pb_varint(&p, end, &v))
				return false;
			break;
		case 1:
			if (end - p < 8)
				return false;
			p += 8;
			break;
		case 2:
			if (!pb_varint(&p, end, &l) || l > (uint64_t)(end - p))
				return false;
			s.p = p;
			s.n = (size_t)l;
			p += l;
			break;
		case 5:
			if (end - p < 4)
				return false;
			p += 4;
			break;
		default:
			return false;
		}
		if ((key >> 3) == num) {
			if (idx-- == 0) {
				if (sub)
					*sub = s;
				if (val)
					*val = v;
				return true;
			}
		}
	}
	return false;
}

static size_t pb_count(struct pb m, unsigned num)
{
	size_t n = 0;
	while (pb_get(m, num, n, NULL, NULL))
		n++;
	return n;
}

static bool pb_has(struct pb m, unsigned num)
{
	return pb_get(m, num, 0, NULL, NULL);
}

static int64_t pb_int(struct pb m, unsigned num)
{
	uint64_t v = 0;
	(void)pb_get(m, num, 0, NULL, &v);
	return (int64_t)v;
}

static struct pb pb_msg(struct pb m, unsigned num, size_t idx)
{
	struct pb s = {0};
	(void)pb_get(m, num, idx, &s, NULL);
	return s;
}

/* A Node: the number of the (oneof) field that is set, and its message. */
static unsigned pb_node(struct pb node, struct pb *msg)
{
	const uint8_t *p = node.p, *end = node.p + node.n;
	uint64_t key, l;
	if (!p || !pb_varint(&p, end, &key) || (key & 7) != 2 || !pb_varint(&p, end, &l) ||
	    l > (uint64_t)(end - p))
		return 0;
	msg->p = p;
	msg->n = (size_t)l;
	return (unsigned)(key >> 3);
}

enum {
	N_SET_TO_DEFAULT = 41, N_INSERT = 54, N_SELECT = 58, N_RES_TARGET = 179,
	N_TYPE_CAST = 181, N_TYPE_NAME = 190, N_INTEGER = 230, N_STRING = 233,
	N_LIST = 235, N_A_CONST = 238,
};

static bool pb_streq(struct pb s, const char *c, size_t n)
{
	return s.n == n && (n == 0 || memcmp(s.p, c, n) == 0);
}

/* ---- the oracle ---- */

#define OMAX 512

struct ovalue {
	enum ins_kind kind;
	bool is_ival;
	int32_t ival;
	struct pb text;         /* sval / fval / Boolean */
	bool boolval;
	bool has_cast;
	struct pb type_name;    /* TypeName message */
};

struct oracle {
	PgQueryProtobufParseResult res;
	const char *why;        /* NULL when interceptable */
	bool has_schema;
	struct pb schema, table;
	int ncols, nrows, nvals;
	struct pb cols[OMAX];
	struct ovalue values[OMAX];
};

static int64_t const_ival(struct pb a_const, bool *ok)
{
	struct pb iv;
	*ok = pb_get(a_const, 1, 0, &iv, NULL);
	return *ok ? (int32_t)pb_int(iv, 1) : 0;
}

static const char *oracle_type(struct pb tn)
{
	if (pb_int(tn, 3) || pb_int(tn, 4))
		return "setof or %type";
	size_t nnames = pb_count(tn, 1), nmods = pb_count(tn, 5);
	if (nnames == 0 || nnames > 2)
		return "type name parts";
	for (size_t i = 0; i < nmods; i++) {
		struct pb c;
		bool ok;
		if (pb_node(pb_msg(tn, 5, i), &c) != N_A_CONST || const_ival(c, &ok) < 0 || !ok)
			return "typmod not an integer";
	}
	struct pb last;
	if (pb_node(pb_msg(tn, 1, nnames - 1), &last) == N_STRING && nmods > 0 &&
	    pb_streq(pb_msg(last, 1, 0), "interval", 8)) {
		struct pb c;
		bool ok;
		(void)pb_node(pb_msg(tn, 5, 0), &c);
		if (const_ival(c, &ok) != 32767)
			return "interval qualifier";
	}
	return NULL;
}

static const char *oracle_value(struct pb node, struct ovalue *v)
{
	struct pb m, s;
	unsigned t = pb_node(node, &m);

	memset(v, 0, sizeof(*v));
	if (t == N_SET_TO_DEFAULT) {
		v->kind = INS_DEFAULT;
		return NULL;
	}
	if (t == N_TYPE_CAST) {
		struct pb arg;
		if (pb_node(pb_msg(m, 1, 0), &arg) != N_A_CONST)
			return "cast of an expression";
		v->has_cast = true;
		v->type_name = pb_msg(m, 2, 0);
		if (pb_int(arg, 10))
			v->kind = INS_NULL;
		else if (pb_get(arg, 4, 0, &s, NULL)) {
			v->kind = INS_STRING;
			v->text = pb_msg(s, 1, 0);
		} else
			return "cast of a non-string constant";
		return oracle_type(v->type_name);
	}
	if (t != N_A_CONST)
		return "expression";
	if (pb_int(m, 10)) {
		v->kind = INS_NULL;
	} else if (pb_get(m, 1, 0, &s, NULL)) {
		v->kind = INS_NUMBER;
		v->is_ival = true;
		v->ival = (int32_t)pb_int(s, 1);
	} else if (pb_get(m, 2, 0, &s, NULL)) {
		v->kind = INS_NUMBER;
		v->text = pb_msg(s, 1, 0);
	} else if (pb_get(m, 3, 0, &s, NULL)) {
		v->kind = INS_BOOL;
		v->boolval = pb_int(s, 1) != 0;
	} else if (pb_get(m, 4, 0, &s, NULL)) {
		v->kind = INS_STRING;
		v->text = pb_msg(s, 1, 0);
	} else {
		return "bit string";
	}
	return NULL;
}

static const char *oracle_insert(struct pb ins, struct oracle *o)
{
	if (pb_has(ins, 4) || pb_has(ins, 5) || pb_has(ins, 6))
		return "on conflict / returning / with";
	if (pb_int(ins, 7) > 1)
		return "overriding";
	struct pb rel = pb_msg(ins, 1, 0);
	if (pb_msg(rel, 1, 0).n > 0 || pb_has(rel, 6))
		return "catalog or alias";
	o->schema = pb_msg(rel, 2, 0);
	o->has_schema = o->schema.n > 0;
	o->table = pb_msg(rel, 3, 0);

	size_t ncols = pb_count(ins, 2);
	if (ncols > 1600 || ncols > OMAX)
		return "too many columns";
	for (size_t i = 0; i < ncols; i++) {
		struct pb rt;
		if (pb_node(pb_msg(ins, 2, i), &rt) != N_RES_TARGET || pb_has(rt, 2))
			return "column indirection";
		o->cols[i] = pb_msg(rt, 1, 0);
		for (size_t j = 0; j < i; j++)
			if (pb_streq(o->cols[j], (const char *)o->cols[i].p, o->cols[i].n))
				return "duplicate column";
	}
	o->ncols = (int)ncols;

	struct pb sel;
	if (pb_node(pb_msg(ins, 3, 0), &sel) != N_SELECT)
		return "default values";
	static const unsigned other[] = {1, 2, 3, 4, 5, 6, 8, 9, 11, 12, 13, 15, 16, 19, 20};
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		if (pb_has(sel, other[i]))
			return "select";
	if (pb_int(sel, 17) != 1 || pb_count(sel, 10) == 0)
		return "select";
	size_t nrows = pb_count(sel, 10);
	for (size_t r = 0; r < nrows; r++) {
		struct pb list;
		if (pb_node(pb_msg(sel, 10, r), &list) != N_LIST)
			return "values list";
		size_t n = pb_count(list, 1);
		if (r == 0) {
			if (n > 1600 || (ncols > 0 && n != ncols))
				return "shape";
			o->nvals = (int)n;
		} else if (n != (size_t)o->nvals) {
			return "rows of different lengths";
		}
		if ((r + 1) * n > OMAX)
			return "too many values for the oracle";
		for (size_t i = 0; i < n; i++) {
			const char *why = oracle_value(pb_msg(list, 1, i), &o->values[r * n + i]);
			if (why)
				return why;
		}
	}
	o->nrows = (int)nrows;
	return NULL;
}

/* The server's check of a Query's encoding (UTF-8), before any parsing. */
static bool valid_utf8(const unsigned char *s)
{
	while (*s) {
		int n = *s < 0x80 ? 0 : *s >= 0xc2 && *s <= 0xdf ? 1 : *s >= 0xe0 && *s <= 0xef ? 2
			: *s >= 0xf0 && *s <= 0xf4 ? 3 : -1;
		if (n < 0)
			return false;
		uint32_t cp = n == 0 ? *s : *s & (0x3f >> n);
		for (int i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i] & 0x3fu);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		s += n + 1;
	}
	return true;
}

/* Parses sql (NUL-terminated) with libpg_query; free with oracle_free. */
static void oracle_parse(const char *sql, struct oracle *o)
{
	memset(o, 0, sizeof(*o));
	o->res = pg_query_parse_protobuf(sql);
	if (!valid_utf8((const unsigned char *)sql)) {
		o->why = "invalid UTF-8";
		return;
	}
	if (o->res.error) {
		o->why = "parse error";
		return;
	}
	struct pb root = {(const uint8_t *)o->res.parse_tree.data, o->res.parse_tree.len};
	struct pb ins;
	if (pb_count(root, 2) != 1)
		o->why = "statement count";
	else if (pb_node(pb_msg(pb_msg(root, 2, 0), 1, 0), &ins) != N_INSERT)
		o->why = "not an insert";
	else
		o->why = oracle_insert(ins, o);
}

static void oracle_free(struct oracle *o)
{
	pg_query_free_protobuf_parse_result(o->res);
}

/* ---- comparing ---- */

static bool type_names_equal(struct pb a, struct pb b)
{
	if (pb_int(a, 3) != pb_int(b, 3) || pb_int(a, 4) != pb_int(b, 4))
		return false;
	for (unsigned f = 1; f <= 7; f += 2) {      /* names (1), typmods (5), arrayBounds (7) */
		if (f == 3)
			continue;
		size_t n = pb_count(a, f);
		if (n != pb_count(b, f))
			return false;
		for (size_t i = 0; i < n; i++) {
			struct pb x, y;
			unsigned tx = pb_node(pb_msg(a, f, i), &x), ty = pb_node(pb_msg(b, f, i), &y);
			if (tx != ty)
				return false;
			if (tx == N_STRING) {
				struct pb sx = pb_msg(x, 1, 0);
				if (!pb_streq(pb_msg(y, 1, 0), (const char *)sx.p, sx.n))
					return false;
			} else if (tx == N_A_CONST) {
				bool okx, oky;
				if (const_ival(x, &okx) != const_ival(y, &oky) || okx != oky)
					return false;
			} else if (tx == N_INTEGER) {
				if (pb_int(x, 1) != pb_int(y, 1))
					return false;
			} else {
				return false;
			}
		}
	}
	return true;
}

/* Our normalized cast must name the same type: parse "SELECT NULL::<cast>". */
static bool cast_matches(const char *cast, struct pb want)
{
	size_t n = strlen(cast) + 32;
	char *q = malloc(n);
	assert_non_null(q);
	snprintf(q, n, "SELECT NULL::%s", cast);
	PgQueryProtobufParseResult res = pg_query_parse_protobuf(q);
	bool same = false;
	if (!res.error) {
		struct pb root = {(const uint8_t *)res.parse_tree.data, res.parse_tree.len};
		struct pb sel, rt, tc;
		if (pb_node(pb_msg(pb_msg(root, 2, 0), 1, 0), &sel) == N_SELECT &&
		    pb_node(pb_msg(sel, 3, 0), &rt) == N_RES_TARGET &&
		    pb_node(pb_msg(rt, 3, 0), &tc) == N_TYPE_CAST)
			same = type_names_equal(pb_msg(tc, 2, 0), want);
	}
	pg_query_free_protobuf_parse_result(res);
	free(q);
	return same;
}

static bool name_matches(const struct ins_name *n, struct pb want)
{
	char buf[256];
	ins_name_resolve(n, false, buf, sizeof(buf));
	return n->name && pb_streq(want, buf, strlen(buf));
}

/* Empty when equal, else what differs. */
static const char *compare(const struct ins_stmt *st, const struct oracle *o, char *why, size_t n)
{
	if (o->has_schema != (st->schema.name != NULL) ||
	    (o->has_schema && !name_matches(&st->schema, o->schema)))
		return "schema";
	if (!name_matches(&st->table, o->table))
		return "table";
	if (st->ncols != o->ncols)
		return "column count";
	for (int i = 0; i < st->ncols; i++)
		if (!name_matches(&st->cols[i], o->cols[i]))
			return "column name";
	if (st->nrows != o->nrows || st->nvals != o->nvals)
		return "row shape";
	for (int i = 0; i < st->nrows * st->nvals; i++) {
		const struct ins_value *v = &st->values[i];
		const struct ovalue *w = &o->values[i];
		snprintf(why, n, "value %d", i);
		if (v->kind != w->kind || (v->cast != NULL) != w->has_cast)
			return why;
		if (v->cast && !cast_matches(v->cast, w->type_name))
			return why;
		switch (v->kind) {
		case INS_NUMBER:
			if (w->is_ival) {
				char *end;
				long long x = strtoll(v->text, &end, 10);
				if (*end || x != w->ival)
					return why;
			} else if (!pb_streq(w->text, v->text, v->len)) {
				return why;
			}
			break;
		case INS_STRING:
			if (!pb_streq(w->text, v->text, v->len) || strlen(v->text) != v->len)
				return why;
			break;
		case INS_BOOL:
			if (strcmp(v->text, w->boolval ? "true" : "false") != 0)
				return why;
			break;
		default:
			if (v->text)
				return why;
		}
	}
	return NULL;
}

/* ---- the generator (deterministic: splitmix64 from fixed seeds) ---- */

struct gen {
	uint64_t s;
	char *p;
	size_t n, cap;
};

static uint64_t rnd(struct gen *g)
{
	uint64_t z = (g->s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned below(struct gen *g, unsigned n)
{
	return n ? (unsigned)(rnd(g) % n) : 0;
}

static bool chance(struct gen *g, unsigned pct)
{
	return below(g, 100) < pct;
}

#define PICK(g, arr) ((arr)[below((g), sizeof(arr) / sizeof((arr)[0]))])

static void out(struct gen *g, const char *s, size_t n)
{
	if (g->n + n + 1 > g->cap) {
		g->cap = (g->n + n + 1) * 2;
		g->p = realloc(g->p, g->cap);
		assert_non_null(g->p);
	}
	memcpy(g->p + g->n, s, n);
	g->n += n;
	g->p[g->n] = '\0';
}

static void outs(struct gen *g, const char *s)
{
	out(g, s, strlen(s));
}

static void outf(struct gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(struct gen *g, const char *fmt, ...)
{
	char b[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(b));
	out(g, b, (size_t)n);
}

/* Whitespace and comments between tokens; need: at least one. */
static void sep(struct gen *g, bool need)
{
	static const char *const seps[] = {
		" ", " ", " ", " ", "\n", "\t", "  ", "\r\n", "\f", " /* c */ ", "/* a /* nested */ b */",
		" -- line\n", "--\n", "/**/", "\n\n  ",
	};
	if (!need && chance(g, 50))
		return;
	outs(g, chance(g, 70) ? " " : PICK(g, seps));
	if (chance(g, 5))
		outs(g, PICK(g, seps));
}

/* Keywords and names in random case (not inside double quotes); a space
 * stands for any separator. */
static void word(struct gen *g, const char *w)
{
	bool quoted = false;
	for (; *w; w++) {
		char c = *w;
		if (c == '"')
			quoted = !quoted;
		if (c == ' ' && !quoted) {
			sep(g, true);
			continue;
		}
		if (!quoted && c >= 'a' && c <= 'z' && chance(g, 25))
			c = (char)(c - 32);
		out(g, &c, 1);
	}
}

static void ident(struct gen *g, bool label)
{
	static const char *const names[] = {
		"t", "items", "a", "b", "c", "col_1", "x$y", "_u", "name", "value", "key", "int",
		"values", "data", "MyTable", "COL", "café", "日本語", "naïve", "t2",
		"\"MixedCase\"", "\"with space\"", "\"a\"\"b\"", "\"select\"", "\"INSERT\"",
		"\"日本\"", "\"é\"", "\"Ab\"", "U&\"d\\0061t\\+000061\"", "u&\"!00e9t\" UESCAPE '!'",
		"U&\"a\\\\b\"", "double", "interval_x",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaéxyz",
		"\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA日x\"",
		"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
	};
	static const char *const keywords[] = {"select", "user", "order", "left", "default"};
	if (chance(g, label ? 4 : 1))
		word(g, PICK(g, keywords));
	else
		word(g, PICK(g, names));
}

/* ---- string constants: content, then one of PostgreSQL's spellings ---- */

struct content {
	char b[512];
	size_t n;
	size_t unit[128];   /* start of each unit */
	size_t nunits;
};

static void make_content(struct gen *g, struct content *c)
{
	static const char *const units[] = {
		"a", "b", "Z", "0", "7", " ", "'", "\"", "\\", "$", "\n", "\t", "\r", "é", "日",
		"😀", "--", "/*", "*/", ";", ",", ")", "(", "x", "%", "{", "}", "''", "$$", "\\'",
	};
	unsigned k = chance(g, 8) ? 0 : below(g, 14);
	c->n = c->nunits = 0;
	for (unsigned i = 0; i < k; i++) {
		const char *u = PICK(g, units);
		c->unit[c->nunits++] = c->n;
		memcpy(c->b + c->n, u, strlen(u));
		c->n += strlen(u);
	}
	c->unit[c->nunits] = c->n;
}

static uint32_t utf8_code(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	if (n == 2)
		return ((u[0] & 0x1fu) << 6) | (u[1] & 0x3fu);
	if (n == 3)
		return ((u[0] & 0x0fu) << 12) | ((u[1] & 0x3fu) << 6) | (u[2] & 0x3fu);
	return ((u[0] & 0x07u) << 18) | ((u[1] & 0x3fu) << 12) | ((u[2] & 0x3fu) << 6) | (u[3] & 0x3fu);
}

/* Between literal pieces: maybe end the literal and continue it. */
static void maybe_continue(struct gen *g)
{
	static const char *const conts[] = {
		"'\n'", "'  \n\t'", "'\r\n'", "' \n \n '", "'\f\n'", "'\n\r\n'",
	};
	/* libpg_query (unlike the server) does not continue across comments */
	static const char *const odd[] = {"'\n-- c\n'", "' /* c */\n'", "' -- c\n'", "' '"};
	if (chance(g, 5))
		outs(g, chance(g, 90) ? PICK(g, conts) : PICK(g, odd));
}

static void str_plain(struct gen *g, const struct content *c)
{
	outs(g, "'");
	for (size_t u = 0; u < c->nunits; u++) {
		for (size_t i = c->unit[u]; i < c->unit[u + 1]; i++)
			out(g, c->b[i] == '\'' ? "''" : &c->b[i], c->b[i] == '\'' ? 2 : 1);
		maybe_continue(g);
	}
	outs(g, "'");
}

static void str_escape(struct gen *g, const struct content *c)
{
	static const char *const odd[] = {
		"\\xff", "\\300", "\\000", "\\xc3", "\\u0000", "\\uD800", "\\uDC00x", "\\U00110000",
		"\\u12", "\\x", "\\q", "\\xc3\\xa9", "\\303\\251", "\\7", "\\x7", "\\u00e", "\\",
	};
	outs(g, chance(g, 50) ? "E'" : "e'");
	if (chance(g, 3))
		outs(g, PICK(g, odd));
	for (size_t u = 0; u < c->nunits; u++) {
		const char *s = c->b + c->unit[u];
		size_t n = c->unit[u + 1] - c->unit[u];
		unsigned char b0 = (unsigned char)s[0];
		if (b0 >= 0x80) {
			uint32_t cp = utf8_code(s, n);
			switch (below(g, 4)) {
			case 0:
				out(g, s, n);
				break;
			case 1:
				if (cp < 0x10000)
					outf(g, "\\u%04X", cp);
				else
					outf(g, "\\u%04x\\u%04x", 0xd800 + ((cp - 0x10000) >> 10),
					     0xdc00 + ((cp - 0x10000) & 0x3ff));
				break;
			case 2:
				outf(g, "\\U%08x", cp);
				break;
			default:
				for (size_t i = 0; i < n; i++)
					outf(g, chance(g, 50) ? "\\x%02x" : "\\%03o", (unsigned char)s[i]);
			}
		} else {
			for (size_t i = 0; i < n; i++) {
				unsigned char ch = (unsigned char)s[i];
				unsigned how = below(g, 10);
				if (ch == '\'')
					outs(g, how < 5 ? "''" : "\\'");
				else if (ch == '\\')
					outs(g, "\\\\");
				else if (ch == '\n' && how < 5)
					outs(g, "\\n");
				else if (ch == '\t' && how < 5)
					outs(g, "\\t");
				else if (ch == '\r' && how < 5)
					outs(g, "\\r");
				else if (how == 6)
					outf(g, "\\%03o", ch);
				else if (how == 7)
					outf(g, "\\x%02X", ch);
				else if (how == 8)
					outf(g, "\\u%04x", ch);
				else if (how == 9 && ch == 'Z')
					outs(g, "\\Z");
				else
					out(g, (const char *)&ch, 1);
			}
		}
		maybe_continue(g);
	}
	outs(g, "'");
}

static void str_unicode(struct gen *g, const struct content *c)
{
	static const char escs[] = "!#&*=?@^~:";
	static const char bad_escs[] = "+aF\" ";
	char esc = chance(g, 60) ? '\\' : escs[below(g, sizeof(escs) - 1)];
	if (chance(g, 3))
		esc = bad_escs[below(g, sizeof(bad_escs) - 1)];
	outs(g, chance(g, 50) ? "U&'" : "u&'");
	if (chance(g, 3))
		outf(g, "%c%s", esc, PICK(g, ((const char *const[]){"D800", "+110000", "0000", "12G",
			"g", "DC00", "D83D", "D83D\\0041", "+00004", "0041"})));
	for (size_t u = 0; u < c->nunits; u++) {
		const char *s = c->b + c->unit[u];
		size_t n = c->unit[u + 1] - c->unit[u];
		if ((unsigned char)s[0] >= 0x80 && chance(g, 60)) {
			uint32_t cp = utf8_code(s, n);
			if (cp >= 0x10000 && chance(g, 50))
				outf(g, "%c%04X%c%04X", esc, 0xd800 + ((cp - 0x10000) >> 10), esc,
				     0xdc00 + ((cp - 0x10000) & 0x3ff));
			else if (cp < 0x10000 && chance(g, 50))
				outf(g, "%c%04x", esc, cp);
			else
				outf(g, "%c+%06X", esc, cp);
		} else {
			for (size_t i = 0; i < n; i++) {
				if (s[i] == esc)
					outf(g, "%c%c", esc, esc);
				else if (s[i] == '\'')
					outs(g, "''");
				else if ((unsigned char)s[i] < 0x80 && chance(g, 25))
					outf(g, "%c%04X", esc, (unsigned char)s[i]);
				else
					out(g, &s[i], 1);
			}
		}
		maybe_continue(g);
	}
	outs(g, "'");
	if (esc != '\\' || chance(g, 10)) {
		/* libpg_query takes UESCAPE only with plain whitespace around it */
		outs(g, chance(g, 97) ? PICK(g, ((const char *const[]){" ", "\n", "  "})) : "/**/");
		word(g, "uescape");
		outs(g, chance(g, 97) ? PICK(g, ((const char *const[]){" ", "\t", ""})) : " -- c\n");
		if (esc == '"')
			outs(g, "'\"'");
		else if (chance(g, 3))
			outs(g, PICK(g, ((const char *const[]){"''''", "'!!'", "''", "E'!'", "'é'"})));
		else
			outf(g, "'%c'", esc);
	}
}

static void str_dollar(struct gen *g, const struct content *c)
{
	static const char *const tags[] = {"", "", "a", "tag", "x1", "é"};
	const char *tag = PICK(g, tags);
	char delim[16];
	snprintf(delim, sizeof(delim), "$%s$", tag);
	if (memmem(c->b, c->n, delim, strlen(delim)) || (c->n > 0 && c->b[c->n - 1] == '$')) {
		str_plain(g, c);
		return;
	}
	outs(g, delim);
	out(g, c->b, c->n);
	outs(g, delim);
}

static void string_const(struct gen *g, bool allow_nchar)
{
	struct content c;
	make_content(g, &c);
	switch (below(g, allow_nchar ? 6 : 5)) {
	case 0:
	case 1:
		str_plain(g, &c);
		break;
	case 2:
		str_escape(g, &c);
		break;
	case 3:
		str_unicode(g, &c);
		break;
	case 4:
		str_dollar(g, &c);
		break;
	default:
		outs(g, chance(g, 50) ? "N" : "n");
		str_plain(g, &c);
	}
}

/* ---- values ---- */

static void number(struct gen *g)
{
	static const char *const nums[] = {
		"0", "1", "42", "007", "2147483647", "2147483648", "9223372036854775807",
		"123456789012345678901234567890", "1.5", ".5", "5.", "0.000", "1e5", "1E-5",
		"1.5e+10", "00.10", "3.14159265358979323846", "1e-5", "65536", "10",
	};
	if (chance(g, 25)) {
		outs(g, "-");
		sep(g, false);
		if (chance(g, 10)) {
			outs(g, " -");
			sep(g, false);
		}
	}
	if (chance(g, 60))
		outf(g, "%u", below(g, 100000));
	else
		outs(g, PICK(g, nums));
}

struct tdef {
	const char *t;
	bool prefix;    /* usable as type 'text' */
};

static const struct tdef types[] = {
	{"int", true}, {"integer", true}, {"smallint", true}, {"bigint", true}, {"real", true},
	{"float", true}, {"float(10)", true}, {"float(53)", true}, {"double precision", true},
	{"numeric", true}, {"numeric(10,2)", true}, {"numeric( 5 )", true}, {"decimal(5)", true},
	{"dec", true}, {"boolean", true}, {"bool", true}, {"text", true}, {"int4", true},
	{"int8", true}, {"varchar", true}, {"varchar(10)", true}, {"character varying", true},
	{"character varying(5)", true}, {"char", true}, {"char(3)", true}, {"character", true},
	{"nchar(2)", true}, {"national character varying(4)", true}, {"national char", true},
	{"bit", true}, {"bit(3)", true}, {"bit varying", true}, {"bit varying(8)", true},
	{"timestamp", true}, {"timestamp(3)", true}, {"timestamp with time zone", true},
	{"timestamp(6) without time zone", true}, {"time", true}, {"time with time zone", true},
	{"date", true}, {"interval", true}, {"interval(2)", true}, {"json", true},
	{"jsonb", true}, {"uuid", true}, {"bytea", true}, {"pg_catalog.int4", true},
	{"pg_catalog . text", true}, {"public.mytype", true}, {"\"MyType\"", true},
	{"\"char\"", true}, {"left", true}, {"name", true}, {"mytype(5)", true},
	{"\"my\"\"type\"", true}, {"double", true}, {"U&\"in\\0074\"", true}, {"int[]", false},
	{"int4[][]", false}, {"text[3]", false}, {"int array", false}, {"int array[4]", false},
	{"varchar(10)[]", false}, {"timestamp[]", false}, {"int4(5)", true},
	{"time(0) with time zone", true}, {"VARCHAR ( 007 )", true}, {"\"Ab\".\"Cd\"", true},
};

/* Types the recognizer must refuse (or PostgreSQL does). */
static const struct tdef bad_types[] = {
	{"interval day", false}, {"interval hour to minute", false}, {"setof int", false},
	{"s.t.u", false}, {"interval second(3)", false}, {"float(0)", true},
	{"varchar(99999999999)", true}, {"timestamp with /* c */ time zone", true},
	{"numeric(a)", true}, {"numeric(-1)", true}, {"coalesce", true}, {"select", true},
	{"varchar(1,2)", true}, {"int(5)", true}, {"double precision(5)", true}, {"int4 [1:2]", false},
	{"national varchar", true}, {"left.x", true}, {"bit(0)", true},
};

static void typed(struct gen *g)
{
	const struct tdef *t = chance(g, 3) ? &PICK(g, bad_types) : &PICK(g, types);
	bool null = chance(g, 15);
	unsigned form = below(g, 3);
	if (form == 2 && (null || !t->prefix))
		form = 0;
	if (form == 0) {
		if (null)
			word(g, "null");
		else
			string_const(g, false);
		sep(g, false);
		outs(g, "::");
		sep(g, false);
		word(g, t->t);
	} else if (form == 1) {
		word(g, "cast");
		sep(g, false);
		outs(g, "(");
		sep(g, false);
		if (null)
			word(g, "null");
		else
			string_const(g, false);
		sep(g, true);
		word(g, "as");
		sep(g, true);
		word(g, t->t);
		sep(g, false);
		outs(g, ")");
	} else {
		word(g, t->t);
		sep(g, true);
		string_const(g, false);
	}
}

/* Values PostgreSQL does not take as plain constants (or not at all). */
static const char *const bad_values[] = {
	"now()", "nextval('s')", "1+2", "'a'||'b'", "(select 1)", "$1", "B'101'", "x'1f'",
	"ARRAY[1,2]", "ROW(1,2)", "(1,2)", "'x' COLLATE \"C\"", "5::int", "-'5'", "+5",
	"'5'::int::bigint", "interval '1' day", "'a' 'b'", "col", "t.col", "E'\\400'",
	"U&'\\0000'", "'unterminated", "1e", "1_000", "\"quoted\"", "-true", "NULL::int::text",
	"CAST(5 AS int)", "'x' IS NULL", "CURRENT_DATE", "DEFAULT::int", "-(DEFAULT)",
	"--5", "E'\\xff'", "U&'\\D83D'", "'a'\n/* c */'b'", "('x')", "(('5'))::int", "-(5)",
	"((-5))", "CAST(('5') AS int)", "(NULL)", "(DEFAULT)", "- - 5", "'5'::int[1:2]",
	"true::bool", "$$a$$::text", "1.5.3", "1..2", "E'\\u12'", "U&'!' UESCAPE '!!'",
	"'a' -- c\n'b'", "$a$x", "''''::\"char\"", "'{1}'::int[] [1]", "(1)::int",
	"x 'abc'", "timestamp", "CAST('x' AS)", "cast ('x' as text", "e'\\'", "1 2",
};

static void value(struct gen *g)
{
	unsigned k = below(g, 100);
	unsigned deco = chance(g, 4) ? 1 + below(g, 6) : 0;
	bool paren = chance(g, 4);
	if (deco == 1 || deco == 2) {
		outs(g, "-");
		sep(g, false);
	}
	if (deco == 2 || deco == 3)
		outs(g, "(");
	if (deco == 4) {
		word(g, "cast");
		outs(g, "(");
	}
	if (paren)
		outs(g, "(");
	if (k < 25)
		number(g);
	else if (k < 58)
		string_const(g, true);
	else if (k < 68)
		word(g, PICK(g, ((const char *const[]){"null", "true", "false", "default"})));
	else
		typed(g);
	if (paren)
		outs(g, ")");
	if (deco == 2 || deco == 3)
		outs(g, ")");
	if (deco == 4) {
		sep(g, true);
		word(g, "as");
		sep(g, true);
		word(g, PICK(g, types).t);
		outs(g, ")");
	}
	if (deco == 5 || deco == 6) {
		sep(g, false);
		outs(g, "::");
		word(g, PICK(g, types).t);
	}
}

/* ---- statements ---- */

enum mutation {
	M_NONE, M_VALUE, M_RETURNING, M_CONFLICT, M_SECOND, M_WITH, M_SELECT, M_DEFAULT_VALUES,
	M_OVERRIDING, M_ALIAS, M_COL_INDIRECTION, M_DUP_COL, M_SHAPE, M_TAIL, M_THREE_PART,
	M_LEADING_COMMENT, M_COUNT
};

/* Optional separator, then s. */
static void tok(struct gen *g, const char *s)
{
	sep(g, false);
	outs(g, s);
}

static void column(struct gen *g, enum mutation m, unsigned i)
{
	if (m == M_DUP_COL && i < 2)
		outs(g, i == 0 ? "c1" : chance(g, 50) ? "\"c1\"" : "C1");
	else if (chance(g, 15))
		ident(g, false);
	else
		outf(g, chance(g, 20) ? "\"C%u\"" : "c%u", i + 1);
	if (m == M_COL_INDIRECTION && i == 0)
		outs(g, chance(g, 50) ? ".f" : "[1]");
}

static void statement(struct gen *g)
{
	static const char *const tails[][2] = {
		[M_RETURNING] = {"RETURNING *", "returning c1"},
		[M_CONFLICT] = {"ON CONFLICT DO NOTHING", "on conflict (c1) do update set c1 = 1"},
		[M_SECOND] = {"; SELECT 1", ";INSERT INTO t VALUES (1)"},
		[M_TAIL] = {"ORDER BY 1", "LIMIT 1"},
	};
	enum mutation m = chance(g, 35) ? (enum mutation)(1 + below(g, M_COUNT - 1)) : M_NONE;

	if (chance(g, 10))
		outs(g, chance(g, 50) ? "/* INSERT INTO x VALUES (1) */ " : "-- note\n");
	if (chance(g, 3))
		outs(g, ";");
	if (m == M_LEADING_COMMENT) {
		outs(g, "/* INSERT */ SELECT 1");
		return;
	}
	if (m == M_WITH)
		outs(g, "WITH x AS (SELECT 1) ");
	word(g, "insert into ");
	for (int parts = m == M_THREE_PART ? 2 : chance(g, 40); parts > 0; parts--) {
		ident(g, false);
		tok(g, ".");
		sep(g, false);
	}
	ident(g, true);
	if (m == M_ALIAS)
		outs(g, " AS x");
	unsigned ncols = chance(g, 60) ? 1 + below(g, 6) : 0;
	if ((m == M_COL_INDIRECTION || m == M_DUP_COL) && ncols < 2)
		ncols = 2;
	for (unsigned i = 0; i < ncols; i++) {
		tok(g, i ? "," : "(");
		sep(g, false);
		column(g, m, i);
	}
	if (ncols)
		tok(g, ")");
	sep(g, ncols == 0);
	if (m == M_OVERRIDING)
		word(g, "overriding system value ");
	if (m == M_SELECT || m == M_DEFAULT_VALUES) {
		word(g, m == M_SELECT ? "select 1" : "default values");
		return;
	}
	word(g, "values");
	unsigned nvals = ncols ? ncols : 1 + below(g, 6), nrows = 1 + below(g, 4);
	unsigned bad = m == M_VALUE ? below(g, nrows * nvals) : UINT32_MAX;
	for (unsigned r = 0; r < nrows; r++) {
		tok(g, r ? ", (" : "(");
		unsigned n = nvals;
		if (m == M_SHAPE && r == nrows - 1)
			n += chance(g, 50) ? 1 : (unsigned)-1;
		for (unsigned i = 0; i < n; i++) {
			if (i)
				outs(g, ",");
			sep(g, false);
			if (r * nvals + i == bad)
				outs(g, PICK(g, bad_values));
			else
				value(g);
			sep(g, false);
		}
		outs(g, ")");
	}
	if (m < sizeof(tails) / sizeof(tails[0]) && tails[m][0])
		tok(g, tails[m][below(g, 2)]);
	if (chance(g, 15))
		outs(g, PICK(g, ((const char *const[]){";", ";;", " -- end", "/* end */", "; ", ";\n-- x"})));
	else if (chance(g, 3))
		outs(g, PICK(g, ((const char *const[]){"(", ")", "'", "\"", "/*", "$$", ","})));
}

/* A statement with one huge string value. */
static void big_statement(struct gen *g)
{
	static const char *const forms[][3] = {
		{"'", "abcdefghij''", "'"}, {"E'", "\\n\\x41\\u00e9\\\\", "'"}, {"$big$", "$bi$ '\" ", "$big$"},
	};
	const char *const *f = forms[below(g, 3)];
	outs(g, "INSERT INTO t (a, b) VALUES (1, ");
	outs(g, f[0]);
	for (int i = 0; i < 20000; i++)
		outs(g, f[1]);
	outs(g, f[2]);
	outs(g, ")");
}

/* ---- the test ---- */

static void print_sql(const char *sql)
{
	fputs("  SQL: ", stderr);
	for (const unsigned char *s = (const unsigned char *)sql; *s; s++) {
		if (*s == '\n')
			fputs("\\n", stderr);
		else if (*s < 0x20 || *s == 0x7f)
			fprintf(stderr, "\\x%02x", *s);
		else
			fputc(*s, stderr);
	}
	fputc('\n', stderr);
}

/* Compares one statement; returns whether the recognizer intercepts it, and
 * counts a disagreement in *failures. */
static enum ins_reason check_one(const char *sql, size_t len, int *failures)
{
	struct ins_stmt st;
	struct oracle *o = malloc(sizeof(*o));
	assert_non_null(o);
	enum ins_reason r = ins_parse(sql, len, &st);
	oracle_parse(sql, o);
	char whybuf[32];
	const char *diff = NULL;
	if ((r == INS_OK) != (o->why == NULL))
		diff = "interceptable";
	else if (r == INS_OK) {
		diff = compare(&st, o, whybuf, sizeof(whybuf));
		if (!diff && !ins_looks_like_insert(sql, len))
			diff = "ins_looks_like_insert";
	}
	if (diff) {
		(*failures)++;
		fprintf(stderr, "DISAGREE (%s): recognizer=%s oracle=%s\n", diff, ins_reason_name(r),
			o->why ? o->why : "interceptable");
		print_sql(sql);
	}
	ins_stmt_free(&st);
	oracle_free(o);
	free(o);
	return r;
}

/* A few copies of the statement just generated, cut short or with one byte
 * replaced (never by NUL: libpg_query reads C strings). Returns how many. */
static int byte_mutants(struct gen *g, int *failures)
{
	static const char bytes[] = "'\"\\$-/*\n ;(),:eEuUnN&+.0x\x80\xc3";
	int n = 0;
	if (g->n < 2 || !chance(g, 30))
		return 0;
	char *m = malloc(g->n + 1);
	assert_non_null(m);
	for (int k = 0; k < 3; k++, n++) {
		memcpy(m, g->p, g->n + 1);
		size_t at = below(g, (unsigned)g->n), len = g->n;
		if (chance(g, 30)) {
			m[at] = '\0';
			len = at;
		} else {
			m[at] = bytes[below(g, sizeof(bytes) - 1)];
		}
		(void)check_one(m, len, failures);
	}
	free(m);
	return n;
}

static void run_corpus(uint64_t seed, int count, int *ok_total, int *all_total, int *mutant_total)
{
	struct gen g = {.s = seed};
	int failures = 0, ok = 0, mutants = 0;
	int reasons[INS_REASON_COUNT] = {0};

	for (int i = 0; i < count; i++) {
		g.n = 0;
		if (i % 500 == 499)
			big_statement(&g);
		else
			statement(&g);
		enum ins_reason r = check_one(g.p, g.n, &failures);
		reasons[r]++;
		ok += r == INS_OK;
		mutants += byte_mutants(&g, &failures);
	}
	free(g.p);
	printf("seed %#llx: %d generated statements (+%d byte mutants) compared, %d interceptable;",
	       (unsigned long long)seed, count, mutants, ok);
	for (int r = 1; r < INS_REASON_COUNT; r++)
		printf(" %s=%d", ins_reason_name((enum ins_reason)r), reasons[r]);
	printf("\n");
	*ok_total += ok;
	*all_total += count;
	*mutant_total += mutants;
	assert_int_equal(failures, 0);
}

/* Hand-picked corners, each compared with the oracle the same way. */
static const char *const curated[] = {
	"INSERT INTO t VALUES (-2147483648, - 2147483648, -(-2147483648), 2147483647, -2147483647)",
	"INSERT INTO t VALUES (-0, -0.0, - -0, 0e0, -.5e-3, 5.e2, 00, -00.00)",
	"INSERT INTO t VALUES ('\\', E'\\\\', E'\\'', '''', '''''', '', E'')",
	"INSERT INTO t VALUES ($$ $ $$, $a$ $b$ $a$, $a$$a$, $_$x$_$, $$$$, $é$日$é$)",
	"INSERT INTO t VALUES ($a$x$a)", "INSERT INTO t VALUES ($1a)", "INSERT INTO t VALUES ($)",
	"INSERT INTO name VALUES (1)", "INSERT INTO public.select VALUES (1)",
	"INSERT INTO \"user\" VALUES (1)", "INSERT INTO user VALUES (1)",
	"INSERT INTO left VALUES (1)", "INSERT INTO s.left VALUES (1)", "INSERT INTO t (is) VALUES (1)",
	"INSERT INTO t (int, values, name) VALUES (1, 2, 3)", "INSERT INTO values values (1)",
	"INSERT INTO t VALUES ('a'\r'b', 'a'\f\n'b', 'a'\n\n\n'b', 'a' \t\n\t 'b')",
	"INSERT INTO t VALUES ('a'\v'b')", "INSERT INTO t VALUES (1)\v",
	"INSERT INTO t VALUES ('a'\n-- c\n'b')", "INSERT INTO t VALUES ('a'/* c */\n'b')",
	"INSERT INTO t VALUES (E'a'\n'\\n', U&'\\00'\n'41', N'a'\n'b')", "INSERT INTO t VALUES (B'1'\n'0')",
	"INSERT INTO t VALUES (E'\\xc3\\xa9', E'\\303\\251', E'\\xc3\\251', e'\\303\\xa9')",
	"INSERT INTO t VALUES (E'\\xc3')", "INSERT INTO t VALUES (E'\\777')",
	"INSERT INTO t VALUES (E'\\400')", "INSERT INTO t VALUES (E'\\\xc3\xa9')",
	"INSERT INTO t VALUES (E'\\uD83D\\uDE00', E'\\U0001F600', E'\\U0000D83D\\uDE00')",
	"INSERT INTO t VALUES (E'\\uD83D')", "INSERT INTO t VALUES (E'\\uDE00')",
	"INSERT INTO t VALUES (U&'\\D83D\\DE00', U&'\\+01F600', U&'\\\\')",
	"INSERT INTO t VALUES (U&'\\D83D')", "INSERT INTO t VALUES (U&'\\D83D\\\\')",
	"INSERT INTO t VALUES (U&'!0041' UESCAPE '!', U&'!!' UESCAPE '!')",
	"INSERT INTO t VALUES (U&'x' UESCAPE '+')", "INSERT INTO t VALUES (U&'x' UESCAPE $$!$$)",
	"INSERT INTO t VALUES (U&'x' UESCAPE)", "INSERT INTO t VALUES (U&'x'UESCAPE'!')",
	"INSERT INTO U&\"d!0061t!+000061\" UESCAPE '!' (U&\"\\0041\") VALUES (1)",
	"INSERT INTO U&\"\" VALUES (1)", "INSERT INTO \"\" VALUES (1)",
	"INSERT INTO aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa VALUES (1)",
	"INSERT INTO aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaé VALUES (1)",
	"INSERT INTO aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaé VALUES (1)",
	"INSERT INTO \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA日\" VALUES (1)",
	"INSERT INTO t VALUES (1),", "INSERT INTO t VALUES ()", "INSERT INTO t () VALUES (1)",
	"INSERT INTO t VALUES (1) garbage", "INSERT INTO t VALUES (1) \\", "INSERT INTO t VALUES (1);;",
	"; INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (1); ;", "INSERT INTO t (VALUES (1))",
	"INSERT INTO t (a) ((VALUES (1), (2))) ;", "INSERT INTO t ((VALUES (1)) ORDER BY 1)",
	"INSERT INTO t (VALUES (1)) UNION (VALUES (2))", "INSERT INTO t (VALUES (1) LIMIT 1)",
	"INSERT INTO t (values) VALUES (1)", "INSERT INTO t (values, a) (VALUES (1, 2))",
	"INSERT INTO t ((VALUES (1))", "INSERT INTO t (VALUES (1)))", "INSERT INTO t (SELECT 1)",
	"INSERT INTO t VALUES ((1)), ((-(2))), (-(-(3)))", "INSERT INTO t VALUES (('x'))",
	"INSERT INTO t VALUES ((('x'))::text), (CAST((('x')) AS text)), ((CAST('x' AS text)))",
	"INSERT INTO t VALUES (CAST(CAST('x' AS text) AS text))", "INSERT INTO t VALUES (CAST('x' AS text)::text)",
	"INSERT INTO t VALUES ((NULL)::int), ((DEFAULT)), ((TRUE))", "INSERT INTO t VALUES (-DEFAULT)",
	"INSERT INTO t VALUES (char 'abc', character 'abc', nchar 'abc', national character 'abc')",
	"INSERT INTO t VALUES (char(2) 'abc', varchar 'abc', character varying 'x', bit '101')",
	"INSERT INTO t VALUES ('abc'::char, 'abc'::nchar, '1'::bit, '1'::bit varying)",
	"INSERT INTO t VALUES (interval '1', interval(3) '1', '1'::interval(3))",
	"INSERT INTO t VALUES (interval '1' day)", "INSERT INTO t VALUES ('1'::interval day to second(3))",
	"INSERT INTO t VALUES ('1'::\"interval\"(3))", "INSERT INTO t VALUES ('1'::\"interval\")",
	"INSERT INTO t VALUES (timestamp(3) with time zone 'x', time without time zone 'y')",
	"INSERT INTO t VALUES ('x'::timestamp with\ntime zone)", "INSERT INTO t VALUES ('x'::time with -- c\n time zone)",
	"INSERT INTO t VALUES (double precision '1', 'x'::double, double '1', float(24) '1', float(25) '1')",
	"INSERT INTO t VALUES ('x'::int[], 'x'::int[][3], 'x'::int array, 'x'::int array[2])",
	"INSERT INTO t VALUES ('x'::int[] array)", "INSERT INTO t VALUES ('x'::int array[])",
	"INSERT INTO t VALUES ('x'::\"MyType\", 'x'::\"a\"\"b\", 'x'::U&\"\\0041\", 'x'::public.\"T\")",
	"INSERT INTO t VALUES ('x'::numeric(10, 2), numeric(10,2) 'x', 'x'::decimal, dec(3) 'x')",
	"INSERT INTO t VALUES ('x'::varchar(007), 'x'::char(0), 'x'::bit(0), 'x'::float(1))",
	"INSERT INTO t VALUES (float(54) 'x')", "INSERT INTO t VALUES (float(0) 'x')",
	"INSERT INTO t VALUES (left 'x', verbose 'x', binary 'y', collation 'z')",
	"INSERT INTO t VALUES (\"int4\" 'x', s.t 'x', \"s\".t 'x', mytype(1,2) 'x')",
	"INSERT INTO t VALUES (mytype() 'x')", "INSERT INTO t VALUES (mytype(a) 'x')",
	"INSERT INTO t VALUES (name.foo 'x')", "INSERT INTO t VALUES (left.foo 'x')",
	"INSERT INTO t VALUES ('x'::left.foo)",
	"INSERT INTO t VALUES (false, TRUE, NULL::text, null::int[], CAST(NULL AS int))",
	"INSERT INTO t VALUES (true::bool)", "INSERT INTO t VALUES (NULL::int::text)",
	"INSERT INTO t VALUES (N'x'::text)", "INSERT INTO t VALUES (E'x' 'y')",
	"INSERT INTO t VALUES (1 -1)", "INSERT INTO t VALUES (1-1)", "INSERT INTO t VALUES (-+1)",
	"INSERT INTO t VALUES (-/**/1, -- c\n-1, ---1\n)", "INSERT INTO t VALUES (-/**/1, -- c\n-1)",
	"INSERT INTO t VALUES (@1)", "INSERT INTO t VALUES (1e5, 1E+05, 1.5e-3, .5, 5., 1.e5)",
	"INSERT INTO t VALUES (1..2)", "INSERT INTO t VALUES (1.2.3)", "INSERT INTO t VALUES (1e)",
	"INSERT INTO t VALUES (1x)", "INSERT INTO t VALUES (0x10)", "INSERT INTO t VALUES (1_0)",
	"INSERT INTO t VALUES (123456789012345678901234567890, -123456789012345678901234567890)",
	"INSERT INTO t (a, A, \"A\") VALUES (1, 2, 3)", "INSERT INTO t (a, \"A\") VALUES (1, 2)",
	"INSERT INTO t (a) VALUES (1, 2)", "INSERT INTO t (a, b) VALUES (1)", "INSERT INTO t VALUES (1), (1, 2)",
	"INSERT INTO t.a.b VALUES (1)", "INSERT INTO a.b.c.d VALUES (1)", "INSERT INTO t AS x VALUES (1)",
	"INSERT INTO t x VALUES (1)", "INSERT INTO t (a.b) VALUES (1)", "INSERT INTO t (a[1]) VALUES (1)",
	"INSERT INTO t DEFAULT VALUES", "INSERT INTO t SELECT 1", "INSERT INTO t TABLE u",
	"INSERT INTO t OVERRIDING USER VALUE VALUES (1)", "INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING",
	"INSERT INTO t VALUES (1) RETURNING *", "INSERT INTO t VALUES (1) ORDER BY 1",
	"WITH x AS (SELECT 1) INSERT INTO t VALUES (1)", "/* INSERT INTO t VALUES (1) */ SELECT 1",
	"-- INSERT INTO t VALUES (1)\nSELECT 1", "INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)",
	"insert into t values ('it''s', 'a\"b', '\\n', 'tab\there', 'new\nline', '日本語 ✓ 😀')",
	"INSERT/**/INTO/**/t/**/VALUES/**/(1)", "INSERT INTO t VALUES (1) /* unterminated",
	"INSERT INTO t VALUES (1 /* nested /* comment */ still */, 2)", "INSERT INTO t VALUES (1) */",
	"INSERT INTO t VALUES ('x' COLLATE \"C\")", "INSERT INTO t VALUES ('x' AT TIME ZONE 'UTC')",
	"INSERT INTO t VALUES (ARRAY[1], ROW(1), (SELECT 1), EXISTS (SELECT 1))",
	"INSERT INTO t VALUES ('x'::setof int)", "INSERT INTO t VALUES ('x'::int4(5))",
	"INSERT INTO t VALUES ('x'::s.t.u)", "INSERT INTO t VALUES ('x'::int.x)",
	"INSERT INTO t VALUES ('\xff')", "INSERT INTO t VALUES ('\xc3\xa9', 'é')",
	"INSERT INTO \xe9t VALUES (1)", "INSERT INTO t VALUES ('\xed\xa0\x80')",
};

static void test_oracle_curated(void **state)
{
	(void)state;
	int failures = 0;
	size_t n = sizeof(curated) / sizeof(curated[0]);
	for (size_t i = 0; i < n; i++)
		(void)check_one(curated[i], strlen(curated[i]), &failures);
	printf("oracle: %zu curated statements compared with libpg_query\n", n);
	assert_int_equal(failures, 0);
}

static void test_oracle_corpus(void **state)
{
	(void)state;
	static const uint64_t seeds[] = {0x5eed0001, 0x5eed0002, 0x5eed0003, 0xdecafbad};
	int ok = 0, all = 0, mutants = 0;
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		run_corpus(seeds[i], 2500, &ok, &all, &mutants);
	printf("oracle: %d statements compared with libpg_query (%d generated, %d interceptable;"
	       " %d byte mutants)\n", all + mutants, all, ok, mutants);
	/* The corpus must exercise both sides. */
	assert_true(ok * 10 > all * 3);
	assert_true((all - ok) * 10 > all * 2);
}

/* The oracle itself, on statements whose answer is known. */
static void test_oracle_sanity(void **state)
{
	(void)state;
	struct oracle *o = malloc(sizeof(*o));
	assert_non_null(o);
	oracle_parse("INSERT INTO s.t (a) VALUES (-5), ('x'::int)", o);
	assert_null(o->why);
	assert_int_equal(o->nrows, 2);
	assert_true(o->values[0].is_ival);
	assert_int_equal(o->values[0].ival, -5);
	assert_true(o->values[1].has_cast);
	assert_true(cast_matches("integer", o->values[1].type_name));
	assert_false(cast_matches("int8", o->values[1].type_name));
	oracle_free(o);
	oracle_parse("INSERT INTO t VALUES (now())", o);
	assert_non_null(o->why);
	oracle_free(o);
	oracle_parse("INSERT INTO t VALUES (1) RETURNING *", o);
	assert_non_null(o->why);
	oracle_free(o);
	free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oracle_sanity),
		cmocka_unit_test(test_oracle_curated),
		cmocka_unit_test(test_oracle_corpus),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	pg_query_exit();
	return rc;
}
