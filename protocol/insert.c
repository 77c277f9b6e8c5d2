/* The INSERT recognizer: one Query's SQL text to table, columns and decoded VALUES rows, or a reason. */
#include "protocol/insert.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/sqllex.h"

/* PostgreSQL's MaxHeapAttributeNumber: no table has more columns, so a longer
 * column or value list can only fail. Keeps the duplicate check bounded. */
#define INS_MAX_COLS 1600

/* One pass writes into scratch areas on the stack, as far as they reach; a
 * statement that fits (nearly every one) is then copied into one arena of
 * exactly its size. One that does not is parsed a second time with the same
 * code, into an arena of the size the first pass counted. */
struct parser {
	struct sql_lexer lx;
	struct sql_token t;         /* current token */
	bool fill;                  /* write (as far as the capacities below reach) */
	char *text;                 /* the text area */
	size_t tcap;                /* its size */
	size_t tlen;                /* text bytes used so far */
	size_t tpeak;               /* most text bytes ever used (a type may be rolled back) */
	struct ins_stmt *st;        /* arrays to fill */
	size_t vcap;                /* st->values' size */
	int ccap;                   /* st->cols' size */
	bool overflow;              /* something did not fit: nothing of this pass is kept */
	int ncols, nvals, nrows;
	size_t nv;                  /* values parsed so far */
	bool params;                /* $n is a value (extended protocol) */
	int maxparam;
};

#define SCRATCH_TEXT 4096
#define SCRATCH_VALUES 256
#define SCRATCH_COLS 64

/* PostgreSQL's Bind carries at most this many parameters (an Int16 count). */
#define INS_MAX_PARAM 65535

static const char cast_bpchar[] = "pg_catalog.bpchar";
static const char cast_bit[] = "pg_catalog.bit";

static void adv(struct parser *p)
{
	(void)sql_lex_next(&p->lx, &p->t);
}

static enum sql_tok peek(const struct parser *p, struct sql_token *t)
{
	struct sql_lexer lx = p->lx;
	return sql_lex_next(&lx, t);
}

static bool is_punct(const struct parser *p, char c)
{
	return p->t.type == SQL_PUNCT && p->t.ch == c;
}

static bool is_word(const struct parser *p, const char *kw)
{
	return sql_word_is(&p->lx, &p->t, kw);
}

static bool is_minus(const struct parser *p)
{
	return p->t.type == SQL_OP && p->t.end - p->t.pos == 1 && p->t.ch == '-';
}

static bool word_in(const struct parser *p, const char *const *list)
{
	for (; *list; list++)
		if (is_word(p, *list))
			return true;
	return false;
}

/* ---- text area ---- */

static void grow(struct parser *p, size_t n)
{
	p->tlen += n;
	if (p->tlen > p->tpeak)
		p->tpeak = p->tlen;
}

/* Whether n more text bytes are written (else the pass overflows). */
static bool room(struct parser *p, size_t n)
{
	if (!p->fill || p->overflow)
		return false;
	if (p->tlen + n > p->tcap) {
		p->overflow = true;
		return false;
	}
	return true;
}

static void put(struct parser *p, const char *b, size_t n)
{
	if (room(p, n))
		memcpy(p->text + p->tlen, b, n);
	grow(p, n);
}

static void put_lower(struct parser *p, const char *b, size_t n)
{
	if (room(p, n))
		for (size_t i = 0; i < n; i++) {
			char c = b[i];
			p->text[p->tlen + i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
		}
	grow(p, n);
}

static const char *put_end(struct parser *p, size_t mark)
{
	put(p, "", 1);
	return p->fill && !p->overflow ? p->text + mark : NULL;
}

static void put_token(struct parser *p)
{
	if (room(p, p->t.declen))
		sql_token_decode(&p->lx, &p->t, p->text + p->tlen);
	grow(p, p->t.declen);
}

/* The current word in lower case, or a quoted identifier quoted again. */
static void put_type_name(struct parser *p)
{
	if (p->t.type == SQL_WORD) {
		put_lower(p, p->lx.s + p->t.pos, p->t.declen);
		return;
	}
	char name[SQL_IDENT_MAX + 1];
	sql_token_decode(&p->lx, &p->t, name);
	put(p, "\"", 1);
	for (size_t i = 0; i < p->t.declen; i++)
		put(p, name[i] == '"' ? "\"\"" : &name[i], name[i] == '"' ? 2 : 1);
	put(p, "\"", 1);
}

/* Whether the current name resolves to "interval". */
static bool names_interval(const struct parser *p)
{
	char name[SQL_IDENT_MAX + 1];

	if (p->t.type == SQL_WORD)
		return is_word(p, "interval");
	if (p->t.declen != 8)
		return false;
	sql_token_decode(&p->lx, &p->t, name);
	return memcmp(name, "interval", 8) == 0;
}

static void take_name(struct parser *p, struct ins_name *n)
{
	size_t mark = p->tlen;
	put_token(p);
	n->name = put_end(p, mark);
	n->quoted = p->t.type == SQL_QIDENT;
}

/* ColId: an identifier, an unreserved or a column-name keyword. */
static bool is_colid(const struct parser *p)
{
	if (p->t.type == SQL_QIDENT)
		return true;
	if (p->t.type != SQL_WORD)
		return false;
	enum sql_kw kw = sql_keyword(p->lx.s + p->t.pos, p->t.end - p->t.pos);
	return kw == SQL_KW_NONE || kw == SQL_KW_COL_NAME;
}

/* ---- type names ---- */

/* An integer token that fits PostgreSQL's int4 (an Iconst), as a number. */
static bool iconst(const struct parser *p, long *v)
{
	if (p->t.type != SQL_INTEGER)
		return false;
	long n = 0;
	for (size_t i = p->t.pos; i < p->t.end; i++) {
		n = n * 10 + (p->lx.s[i] - '0');
		if (n > INT32_MAX)
			return false;
	}
	*v = n;
	return true;
}

static void put_long(struct parser *p, long v)
{
	char b[24];
	size_t n = sizeof(b);
	do {
		b[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	put(p, b + n, sizeof(b) - n);
}

/* '(' Iconst ')' at the current token, written as "(n)". */
static enum ins_reason paren_iconst(struct parser *p, long min, long max)
{
	long v;
	adv(p);
	if (!iconst(p, &v) || v < min || v > max)
		return INS_SYNTAX;
	adv(p);
	if (!is_punct(p, ')'))
		return INS_SYNTAX;
	adv(p);
	put(p, "(", 1);
	put_long(p, v);
	put(p, ")", 1);
	return INS_OK;
}

/* Type modifiers: '(' Iconst [, Iconst ...] ')'. Other modifiers are
 * expressions (or a function call, when this was not a type after all). */
static enum ins_reason typmods(struct parser *p)
{
	put(p, "(", 1);
	for (;;) {
		long v;
		adv(p);
		if (!iconst(p, &v))
			return INS_EXPRESSION;
		put_long(p, v);
		adv(p);
		if (is_punct(p, ')'))
			break;
		if (!is_punct(p, ','))
			return INS_EXPRESSION;
		put(p, ",", 1);
	}
	put(p, ")", 1);
	adv(p);
	return INS_OK;
}

static const char *const interval_fields[] = {
	"year", "month", "day", "hour", "minute", "second", NULL
};

/* WITH TIME ZONE / WITHOUT TIME ZONE after timestamp or time. libpg_query
 * only takes WITH as WITH_LA when TIME follows without a comment between. */
static enum ins_reason time_zone(struct parser *p)
{
	bool with = is_word(p, "with");
	if (!with && !is_word(p, "without"))
		return INS_OK;
	size_t gap = p->t.end;
	adv(p);
	for (size_t i = gap; with && i < p->t.pos; i++)
		if (p->lx.s[i] != ' ' && p->lx.s[i] != '\t' && p->lx.s[i] != '\n' &&
		    p->lx.s[i] != '\r' && p->lx.s[i] != '\f')
			return INS_SYNTAX;
	if (!is_word(p, "time"))
		return INS_SYNTAX;
	adv(p);
	if (!is_word(p, "zone"))
		return INS_SYNTAX;
	adv(p);
	put(p, with ? " with time zone" : " without time zone", with ? 15 : 18);
	return INS_OK;
}

/* The SQL-standard type names that are keywords (gram.y: Numeric, Bit,
 * Character, ConstDatetime, ConstInterval). *special is set to a static cast
 * when the literal form means another type than the cast form. */
static enum ins_reason keyword_type(struct parser *p, bool cast_mode, bool *matched,
				    const char **special, bool *interval)
{
	static const char *const plain[] = {
		"int", "integer", "smallint", "bigint", "real", "boolean", NULL
	};
	static const char *const character[] = {
		"character", "char", "nchar", "varchar", "national", NULL
	};
	struct sql_token next;
	enum ins_reason r = INS_OK;

	*matched = true;
	if (is_word(p, "double") && peek(p, &next) == SQL_WORD &&
	    sql_word_is(&p->lx, &next, "precision")) {
		put(p, "double precision", 16);
		adv(p);
		adv(p);
	} else if (word_in(p, plain)) {
		put_lower(p, p->lx.s + p->t.pos, p->t.end - p->t.pos);
		adv(p);
	} else if (is_word(p, "float")) {
		put(p, "float", 5);
		adv(p);
		if (is_punct(p, '('))
			r = paren_iconst(p, 1, 53);
	} else if (is_word(p, "decimal") || is_word(p, "dec") || is_word(p, "numeric")) {
		put_lower(p, p->lx.s + p->t.pos, p->t.end - p->t.pos);
		adv(p);
		if (is_punct(p, '('))
			r = typmods(p);
	} else if (is_word(p, "bit")) {
		put(p, "bit", 3);
		adv(p);
		bool varying = is_word(p, "varying");
		if (varying) {
			put(p, " varying", 8);
			adv(p);
		}
		if (is_punct(p, '('))
			r = typmods(p);
		else if (!cast_mode && !varying)
			*special = cast_bit;    /* bit '..' has no length limit; '..'::bit is bit(1) */
	} else if (word_in(p, character)) {
		bool varchar = is_word(p, "varchar"), varying = false;
		if (is_word(p, "national")) {
			put(p, "national ", 9);
			adv(p);
			if (!is_word(p, "character") && !is_word(p, "char"))
				return INS_SYNTAX;
		}
		put_lower(p, p->lx.s + p->t.pos, p->t.end - p->t.pos);
		adv(p);
		if (!varchar && is_word(p, "varying")) {
			put(p, " varying", 8);
			adv(p);
			varying = true;
		}
		if (is_punct(p, '('))
			r = paren_iconst(p, 0, INT32_MAX);
		else if (!cast_mode && !varying && !varchar)
			*special = cast_bpchar; /* char '..' has no length limit; '..'::char is char(1) */
	} else if (is_word(p, "timestamp") || is_word(p, "time")) {
		put_lower(p, p->lx.s + p->t.pos, p->t.end - p->t.pos);
		adv(p);
		if (is_punct(p, '('))
			r = paren_iconst(p, 0, INT32_MAX);
		if (r == INS_OK)
			r = time_zone(p);
	} else if (is_word(p, "interval")) {
		put(p, "interval", 8);
		adv(p);
		*interval = true;
		if (is_punct(p, '('))
			r = paren_iconst(p, 0, INT32_MAX);
		if (r == INS_OK && cast_mode && word_in(p, interval_fields))
			r = INS_EXPRESSION;     /* a qualifier changes how the text is read */
	} else {
		*matched = false;
	}
	return r;
}

/* A type name at the current token, written normalized to the text area.
 * cast_mode: after :: or AS (arrays allowed); else the type of a typed
 * literal (type 'text'). Leaves the token after the type current. When the
 * text is not a type at all, returns INS_EXPRESSION (literal form: it was a
 * column or a function) or INS_SYNTAX (cast form). */
static enum ins_reason parse_type(struct parser *p, bool cast_mode, const char **cast, bool *interval)
{
	size_t mark = p->tlen;
	const char *special = NULL;
	enum ins_reason not_type = cast_mode ? INS_SYNTAX : INS_EXPRESSION;
	bool matched;
	enum ins_reason r;

	*interval = false;
	if (cast_mode && is_word(p, "setof"))
		return INS_EXPRESSION;
	if (p->t.type == SQL_WORD) {
		r = keyword_type(p, cast_mode, &matched, &special, interval);
		if (r != INS_OK)
			return r;
	} else {
		matched = false;
	}
	if (!matched) {
		/* GenericType / func_name: name[.name] [(typmods)] */
		enum sql_kw kw = SQL_KW_NONE;
		if (p->t.type == SQL_WORD)
			kw = sql_keyword(p->lx.s + p->t.pos, p->t.end - p->t.pos);
		else if (p->t.type != SQL_QIDENT)
			return not_type;
		if (kw == SQL_KW_RESERVED || kw == SQL_KW_COL_NAME)
			return not_type;
		int nparts = 1;
		bool last_interval;
		for (;;) {
			last_interval = names_interval(p);
			put_type_name(p);
			adv(p);
			if (!is_punct(p, '.'))
				break;
			adv(p);
			if (p->t.type != SQL_WORD && p->t.type != SQL_QIDENT)
				return not_type;
			if (++nparts > 2)
				return INS_SYNTAX;
			put(p, ".", 1);
		}
		/* A qualified literal type starts with a ColId, not a type_func keyword. */
		if (nparts == 2 && !cast_mode && kw != SQL_KW_NONE)
			return INS_SYNTAX;
		if (is_punct(p, '(')) {
			r = typmods(p);
			if (r != INS_OK)
				return r;
			if (last_interval)
				return INS_EXPRESSION;   /* interval(n) spelled as a name: a range mask */
		}
		*interval = last_interval;
	}
	if (cast_mode) {
		bool bounds = false;
		while (is_punct(p, '[')) {
			long v;
			bounds = true;
			adv(p);
			put(p, "[", 1);
			if (iconst(p, &v)) {
				put_long(p, v);
				adv(p);
			}
			if (!is_punct(p, ']'))
				return INS_SYNTAX;
			put(p, "]", 1);
			adv(p);
		}
		if (!bounds && is_word(p, "array")) {
			adv(p);
			put(p, "[", 1);
			if (is_punct(p, '[')) {
				long v;
				adv(p);
				if (!iconst(p, &v))
					return INS_SYNTAX;
				put_long(p, v);
				adv(p);
				if (!is_punct(p, ']'))
					return INS_SYNTAX;
				adv(p);
			}
			put(p, "]", 1);
		}
	}
	if (special) {
		p->tlen = mark;
		*cast = special;
	} else {
		*cast = put_end(p, mark);
	}
	return INS_OK;
}

/* ---- values ---- */

/* One value of a VALUES row, up to (not including) the ',' or ')' after it.
 * Parentheses, unary minus and at most one cast are taken as PostgreSQL's
 * grammar folds them: (5) is 5, -(-5) is 5 (doNegate), ('x')::t is a typed
 * literal; anything else is an expression. Counters, not a stack: no
 * recursion on nesting depth. */
static enum ins_reason parse_value(struct parser *p, struct ins_value *v)
{
	size_t npar = 0;        /* open parentheses outside CAST( */
	size_t ncastpar = 0;    /* open parentheses inside CAST( */
	size_t nminus = 0;
	bool in_cast = false;   /* inside CAST( ... AS type ) */
	int ncasts = 0;
	bool interval = false;
	enum ins_reason r;
	struct sql_token next;

	memset(v, 0, sizeof(*v));
	for (;;) {
		if (is_punct(p, '(')) {
			if (in_cast)
				ncastpar++;
			else
				npar++;
		} else if (is_minus(p)) {
			nminus++;
		} else if (is_word(p, "cast")) {
			if (peek(p, &next) != SQL_PUNCT || next.ch != '(')
				return INS_SYNTAX;
			if (in_cast)
				return INS_EXPRESSION;
			in_cast = true;
			adv(p);
		} else {
			break;
		}
		adv(p);
	}

	size_t mark = p->tlen;
	switch (p->t.type) {
	case SQL_STRING:
		v->kind = INS_STRING;
		put_token(p);
		v->len = p->t.declen;
		v->text = put_end(p, mark);
		if (p->t.str == SQL_STR_NCHAR) {
			v->cast = cast_bpchar;
			ncasts = 1;
		}
		adv(p);
		break;
	case SQL_INTEGER:
	case SQL_NUMERIC:
		v->kind = INS_NUMBER;
		if (nminus % 2)
			put(p, "-", 1);
		put(p, p->lx.s + p->t.pos, p->t.end - p->t.pos);
		v->len = p->tlen - mark;
		v->text = put_end(p, mark);
		adv(p);
		break;
	case SQL_WORD:
	case SQL_QIDENT:
		if (is_word(p, "true") || is_word(p, "false")) {
			v->kind = INS_BOOL;
			v->text = is_word(p, "true") ? "true" : "false";
			v->len = strlen(v->text);
			adv(p);
			break;
		}
		if (is_word(p, "null") || is_word(p, "default")) {
			v->kind = is_word(p, "null") ? INS_NULL : INS_DEFAULT;
			adv(p);
			break;
		}
		/* type 'text': a typed literal; any other word starts an expression */
		r = parse_type(p, false, &v->cast, &interval);
		if (r != INS_OK)
			return r;
		if (p->t.type != SQL_STRING || p->t.str == SQL_STR_NCHAR)
			return INS_EXPRESSION;
		v->kind = INS_STRING;
		ncasts = 1;
		mark = p->tlen;
		put_token(p);
		v->len = p->t.declen;
		v->text = put_end(p, mark);
		adv(p);
		if (interval && word_in(p, interval_fields))
			return INS_EXPRESSION;  /* interval '1' day */
		break;
	case SQL_ERROR:
		return INS_SYNTAX;
	case SQL_PUNCT:
		if (p->t.ch == ')' || p->t.ch == ',' || p->t.ch == ';')
			return INS_SYNTAX;
		return INS_EXPRESSION;
	case SQL_EOF:
		return INS_SYNTAX;
	case SQL_PARAM: {
		long n = 0;

		if (!p->params)
			return INS_EXPRESSION;
		for (size_t i = p->t.pos + 1; i < p->t.end; i++) {
			n = n * 10 + (p->lx.s[i] - '0');
			if (n > INS_MAX_PARAM)
				return INS_EXPRESSION;  /* the server's error, not ours */
		}
		if (n == 0)
			return INS_EXPRESSION;
		v->kind = INS_PARAM;
		v->param = (int)n;
		if (v->param > p->maxparam)
			p->maxparam = v->param;
		adv(p);
		break;
	}
	default:
		return INS_EXPRESSION;  /* B'..', operators, ... */
	}

	/* Only a number takes a minus; only a string, NULL or parameter takes a cast. */
	bool castable = v->kind == INS_STRING || v->kind == INS_NULL || v->kind == INS_PARAM;
	if (nminus > 0 && v->kind != INS_NUMBER)
		return INS_EXPRESSION;
	if (in_cast && !castable)
		return INS_EXPRESSION;

	for (;;) {
		if (p->t.type == SQL_TYPECAST || is_word(p, "as")) {
			bool as = p->t.type != SQL_TYPECAST;
			if (as && (!in_cast || ncastpar > 0))
				return INS_SYNTAX;
			if (!castable || ncasts > 0)
				return INS_EXPRESSION;  /* a cast of a number, or a chained cast */
			adv(p);
			r = parse_type(p, true, &v->cast, &interval);
			if (r != INS_OK)
				return r;
			ncasts = 1;
			if (as) {
				if (!is_punct(p, ')'))
					return INS_SYNTAX;
				in_cast = false;
				adv(p);
			}
		} else if (is_punct(p, ')')) {
			if (in_cast) {
				if (ncastpar == 0)
					return INS_SYNTAX;
				ncastpar--;
			} else if (npar > 0) {
				npar--;
			} else {
				break;
			}
			adv(p);
		} else if (is_punct(p, ',')) {
			if (in_cast || npar > 0)
				return INS_EXPRESSION;  /* a row constructor */
			break;
		} else if (p->t.type == SQL_ERROR || p->t.type == SQL_EOF || p->t.type == SQL_STRING ||
			   p->t.type == SQL_INTEGER || p->t.type == SQL_NUMERIC) {
			return INS_SYNTAX;      /* 'a' 'b' on one line, 1 2, ... */
		} else {
			return INS_EXPRESSION;
		}
	}
	return INS_OK;
}

/* ---- the statement ---- */

static const char *const select_tail[] = {
	"order", "limit", "offset", "fetch", "union", "intersect", "except", "for",
	"window", NULL
};

/* WITH ...: an INSERT when the statement after the common table expressions is. */
static enum ins_reason with_reason(struct parser *p)
{
	static const char *const verbs[] = {
		"select", "update", "delete", "values", "table", "merge", NULL
	};
	size_t depth = 0;

	for (;;) {
		adv(p);
		if (p->t.type == SQL_EOF || (depth == 0 && is_punct(p, ';')))
			return INS_NOT_INSERT;
		if (p->t.type == SQL_ERROR)
			return INS_SYNTAX;
		if (is_punct(p, '(')) {
			depth++;
		} else if (is_punct(p, ')')) {
			if (depth == 0)
				return INS_SYNTAX;
			if (--depth > 0)
				continue;
			/* After a common table expression: ',' and another, or the statement. */
			struct sql_token next;
			struct sql_lexer lx = p->lx;
			(void)sql_lex_next(&lx, &next);
			if (sql_word_is(&lx, &next, "insert"))
				return INS_WITH;
			for (const char *const *v = verbs; *v; v++)
				if (sql_word_is(&lx, &next, *v))
					return INS_NOT_INSERT;
		}
	}
}

static enum ins_reason parse_target(struct parser *p)
{
	struct ins_name parts[3];
	int nparts = 0;

	if (!is_colid(p))
		return INS_SYNTAX;
	for (;;) {
		take_name(p, &parts[nparts++]);
		adv(p);
		if (!is_punct(p, '.'))
			break;
		adv(p);
		if (p->t.type != SQL_WORD && p->t.type != SQL_QIDENT)
			return INS_SYNTAX;
		if (nparts == 3)
			return INS_SYNTAX;      /* improper qualified name */
	}
	if (nparts == 3)
		return INS_SHAPE;               /* catalog.schema.table */
	if (p->st) {
		p->st->table = parts[nparts - 1];
		if (nparts == 2)
			p->st->schema = parts[0];
	}
	if (is_word(p, "as"))
		return INS_SHAPE;               /* an alias */
	return INS_OK;
}

/* At '(' after the table: does a parenthesized query follow rather than a
 * column list? ( ( ..., ( SELECT, ( WITH, ( TABLE, ( VALUES ( */
static bool query_in_parens(const struct parser *p)
{
	struct sql_lexer lx = p->lx;
	struct sql_token a, b;

	(void)sql_lex_next(&lx, &a);
	if ((a.type == SQL_PUNCT && a.ch == '(') || sql_word_is(&lx, &a, "select") ||
	    sql_word_is(&lx, &a, "with") || sql_word_is(&lx, &a, "table"))
		return true;
	if (!sql_word_is(&lx, &a, "values"))
		return false;
	(void)sql_lex_next(&lx, &b);
	return b.type == SQL_PUNCT && b.ch == '(';
}

static enum ins_reason parse_columns(struct parser *p)
{
	adv(p);
	for (;;) {
		if (!is_colid(p))
			return INS_SYNTAX;
		if (p->ncols == INS_MAX_COLS)
			return INS_SHAPE;
		struct ins_name n;
		take_name(p, &n);
		if (p->st && p->ncols < p->ccap)
			p->st->cols[p->ncols] = n;
		else if (p->st)
			p->overflow = true;
		p->ncols++;
		adv(p);
		if (is_punct(p, '.') || is_punct(p, '['))
			return INS_SHAPE;       /* a field or subscript of a column */
		if (is_punct(p, ')'))
			break;
		if (!is_punct(p, ','))
			return INS_SYNTAX;
		adv(p);
	}
	adv(p);
	return INS_OK;
}

static enum ins_reason parse_rows(struct parser *p)
{
	for (;;) {
		if (!is_punct(p, '('))
			return INS_SYNTAX;
		adv(p);
		int n = 0;
		for (;;) {
			struct ins_value v;
			enum ins_reason r = parse_value(p, &v);
			if (r != INS_OK)
				return r;
			if (++n > INS_MAX_COLS || (p->nrows > 0 && n > p->nvals))
				return INS_SHAPE;
			if (p->st && p->nv < p->vcap)
				p->st->values[p->nv] = v;
			else if (p->st)
				p->overflow = true;
			p->nv++;
			if (is_punct(p, ')'))
				break;
			adv(p);                 /* the ',' */
		}
		adv(p);
		if (p->nrows == 0) {
			if (p->ncols > 0 && n != p->ncols)
				return INS_SHAPE;
			p->nvals = n;
		} else if (n != p->nvals) {
			return INS_SHAPE;
		}
		if (p->nrows == INT32_MAX)
			return INS_SHAPE;
		p->nrows++;
		if (!is_punct(p, ','))
			return INS_OK;
		adv(p);
	}
}

static enum ins_reason parse_statement(struct parser *p)
{
	enum ins_reason r;

	adv(p);
	while (is_punct(p, ';'))        /* empty statements */
		adv(p);
	if (is_word(p, "with"))
		return with_reason(p);
	if (!is_word(p, "insert"))
		return p->t.type == SQL_ERROR ? INS_SYNTAX : INS_NOT_INSERT;
	adv(p);
	if (!is_word(p, "into"))
		return INS_SYNTAX;
	adv(p);
	r = parse_target(p);
	if (r != INS_OK)
		return r;
	if (is_punct(p, '(') && !query_in_parens(p)) {
		r = parse_columns(p);
		if (r != INS_OK)
			return r;
	}
	if (is_word(p, "overriding"))
		return INS_OVERRIDING;
	/* The source: VALUES, possibly in parentheses ((VALUES ...)). */
	size_t nparen = 0;
	while (is_punct(p, '(') && query_in_parens(p)) {
		nparen++;
		adv(p);
	}
	if (is_word(p, "default") || is_word(p, "select") || is_word(p, "with") ||
	    is_word(p, "table") || is_punct(p, '('))
		return INS_SELECT;
	if (!is_word(p, "values"))
		return INS_SYNTAX;
	adv(p);
	r = parse_rows(p);
	if (r != INS_OK)
		return r;
	for (; nparen > 0; nparen--) {
		if (word_in(p, select_tail))
			return INS_SELECT;
		if (!is_punct(p, ')'))
			return INS_SYNTAX;
		adv(p);
	}
	if (is_word(p, "returning"))
		return INS_RETURNING;
	if (is_word(p, "on")) {
		adv(p);
		return is_word(p, "conflict") ? INS_ON_CONFLICT : INS_SYNTAX;
	}
	if (word_in(p, select_tail))
		return INS_SELECT;
	if (p->st)
		p->st->end = p->t.pos;
	bool semicolon = false;
	while (is_punct(p, ';')) {
		semicolon = true;
		adv(p);
	}
	if (p->t.type == SQL_EOF)
		return INS_OK;
	if (p->t.type == SQL_ERROR || !semicolon)
		return INS_SYNTAX;
	return INS_MULTI_STMT;
}

/* Duplicate column names (after PostgreSQL's folding) fail in PostgreSQL. */
static bool same_column(const struct ins_name *a, const struct ins_name *b)
{
	char x[SQL_IDENT_MAX + 1], y[SQL_IDENT_MAX + 1];

	return strcmp(ins_name_resolve(a, false, x, sizeof(x)),
		      ins_name_resolve(b, false, y, sizeof(y))) == 0;
}

/* s moved from the scratch text [from, from + n) to to, where it points into it. */
static const char *rebase(const char *s, const char *from, size_t n, char *to)
{
	return s && s >= from && s < from + n ? to + (s - from) : s;
}

static enum ins_reason parse(const char *sql, size_t len, struct ins_stmt *out, bool params)
{
	struct parser p = {0};
	struct ins_stmt scratch = {0};
	char text[SCRATCH_TEXT];
	struct ins_value values[SCRATCH_VALUES];
	struct ins_name cols[SCRATCH_COLS];
	enum ins_reason r;

	memset(out, 0, sizeof(*out));
	if (!sql)
		return len ? INS_SYNTAX : INS_NOT_INSERT;
	/* The server rejects a Query that is not valid in its encoding (UTF-8
	 * assumed here) before parsing it; a NUL ends it early. */
	if (!sql_utf8_valid(sql, len))
		return INS_SYNTAX;
	p.params = params;
	p.fill = true;
	p.text = text;
	p.tcap = sizeof(text);
	scratch.values = values;
	scratch.cols = cols;
	p.st = &scratch;
	p.vcap = SCRATCH_VALUES;
	p.ccap = SCRATCH_COLS;
	sql_lex_init(&p.lx, sql, len);
	r = parse_statement(&p);
	if (r != INS_OK)
		return r;

	size_t nvalues = (size_t)p.nrows * (size_t)p.nvals;
	if (nvalues > (SIZE_MAX / 2 - p.tpeak) / sizeof(struct ins_value))
		return INS_SHAPE;
	size_t head = (size_t)p.ncols * sizeof(struct ins_name) + nvalues * sizeof(struct ins_value);
	char *arena = malloc(head + p.tpeak);
	if (!arena)
		return INS_SYNTAX;      /* cannot carry it: let it pass through */

	out->cols = p.ncols ? (struct ins_name *)(void *)arena : NULL;
	out->values = (struct ins_value *)(void *)(arena + (size_t)p.ncols * sizeof(struct ins_name));
	if (!p.overflow && p.nv == nvalues) {
		/* it fit: moved into its arena */
		char *t = arena + head;

		memcpy(t, text, p.tpeak);
		for (int i = 0; i < p.ncols; i++) {
			out->cols[i] = cols[i];
			out->cols[i].name = rebase(cols[i].name, text, p.tpeak, t);
		}
		for (size_t i = 0; i < nvalues; i++) {
			out->values[i] = values[i];
			out->values[i].text = rebase(values[i].text, text, p.tpeak, t);
			out->values[i].cast = rebase(values[i].cast, text, p.tpeak, t);
		}
		out->table = scratch.table;
		out->table.name = rebase(scratch.table.name, text, p.tpeak, t);
		out->schema = scratch.schema;
		out->schema.name = rebase(scratch.schema.name, text, p.tpeak, t);
		out->end = scratch.end;
		out->ncols = p.ncols;
		out->nrows = p.nrows;
		out->nvals = p.nvals;
		out->nparams = p.maxparam;
	} else {
		struct parser q = {0};

		q.fill = true;
		q.st = out;
		q.text = arena + head;
		q.tcap = p.tpeak;
		q.vcap = nvalues;
		q.ccap = p.ncols;
		q.params = params;
		sql_lex_init(&q.lx, sql, len);
		r = parse_statement(&q);
		if (r != INS_OK || q.overflow || q.tpeak != p.tpeak || q.nv != nvalues || q.ncols != p.ncols) {
			free(arena);
			memset(out, 0, sizeof(*out));
			return INS_SYNTAX;
		}
		out->ncols = q.ncols;
		out->nrows = q.nrows;
		out->nvals = q.nvals;
		out->nparams = q.maxparam;
	}
	out->arena = arena;
	for (int i = 0; i < out->ncols; i++)
		for (int j = 0; j < i; j++)
			if (same_column(&out->cols[i], &out->cols[j])) {
				ins_stmt_free(out);
				return INS_SHAPE;
			}
	return INS_OK;
}

enum ins_reason ins_parse(const char *sql, size_t len, struct ins_stmt *out)
{
	return parse(sql, len, out, false);
}

enum ins_reason ins_parse_params(const char *sql, size_t len, struct ins_stmt *out)
{
	return parse(sql, len, out, true);
}

void ins_stmt_free(struct ins_stmt *st)
{
	if (!st)
		return;
	free(st->arena);
	memset(st, 0, sizeof(*st));
}
