/* The INSERT recognizer: one Query's SQL text to table, columns and decoded VALUES rows, or a reason. */
#include "protocol/insert.h"
#include "protocol/insparse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/pool.h"
#include "protocol/sqllex.h"

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
			v->cast = ins_cast_bpchar;
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
		r = ins_parse_type(p, false, &v->cast, &interval);
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
		if (interval && word_in(p, ins_interval_fields))
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
			r = ins_parse_type(p, true, &v->cast, &interval);
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

/* Everything up to VALUES: the statement's head. The current token is then
 * VALUES; *nparen: the parentheses opened before it ((VALUES ...)). */
static enum ins_reason parse_head(struct parser *p, size_t *nparen)
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
	*nparen = 0;
	while (is_punct(p, '(') && query_in_parens(p)) {
		(*nparen)++;
		adv(p);
	}
	if (is_word(p, "default") || is_word(p, "select") || is_word(p, "with") ||
	    is_word(p, "table") || is_punct(p, '('))
		return INS_SELECT;
	if (!is_word(p, "values"))
		return INS_SYNTAX;
	return INS_OK;
}

/*
 * The head of the last statement parsed, when it was plain (no parentheses
 * around VALUES, a few columns): a client's next INSERT into the same table
 * usually starts with the same bytes, and the same bytes up to the end of the
 * VALUES keyword, followed by a byte that cannot continue it, lex and parse
 * the same (nothing in the head looks past VALUES; the lexer has no state
 * there but its position). Then the head's names are taken from here and
 * parsing goes on from the first row. One entry for the process (it is
 * single-threaded).
 */
#define HEAD_MAX 256
#define HEAD_COLS 32

static struct {
	size_t len;                 /* 0: none */
	bool params;
	char sql[HEAD_MAX];
	size_t tlen;                /* the text its names took */
	char text[2 * HEAD_MAX];
	bool has_schema;
	struct ins_name schema, table;  /* names: offsets into text, as pointers from text */
	int ncols;
	struct ins_name cols[HEAD_COLS];
} kept;

void ins_parse_forget(void)
{
	kept.len = 0;
}

static bool head_follows(char c)
{
	return c == ' ' || c == '(' || c == '\n' || c == '\t' || c == '\r';
}

static const char *head_offset(const struct parser *p, const char *name)
{
	return name ? kept.text + (name - p->text) : NULL;
}

/* The head just parsed (its current token VALUES) is kept for the next. */
static void head_keep(struct parser *p, size_t nparen)
{
	const struct ins_stmt *st = p->st;

	kept.len = 0;
	if (nparen > 0 || !p->fill || p->overflow || st == NULL || p->t.end > HEAD_MAX ||
	    p->tlen > sizeof(kept.text) || p->ncols > HEAD_COLS || p->ncols > p->ccap || p->tlen != p->tpeak ||
	    st->table.name == NULL)
		return;
	memcpy(kept.sql, p->lx.s, p->t.end);
	memcpy(kept.text, p->text, p->tlen);
	kept.tlen = p->tlen;
	kept.params = p->params;
	kept.has_schema = st->schema.name != NULL;
	kept.schema = (struct ins_name){ head_offset(p, st->schema.name), st->schema.quoted };
	kept.table = (struct ins_name){ head_offset(p, st->table.name), st->table.quoted };
	kept.ncols = p->ncols;
	for (int i = 0; i < p->ncols; i++)
		kept.cols[i] = (struct ins_name){ head_offset(p, st->cols[i].name), st->cols[i].quoted };
	kept.len = p->t.end;
}

static const char *head_name(const struct parser *p, const char *name)
{
	return name && p->fill && !p->overflow ? p->text + (name - kept.text) : NULL;
}

/* When the statement starts with the kept head: its state, as parse_head
 * would have left it, the lexer right after VALUES. */
static bool head_restore(struct parser *p)
{
	const char *sql = p->lx.s;
	size_t len = p->lx.len;

	if (kept.len == 0 || len <= kept.len || kept.params != p->params || p->tlen != 0 ||
	    !head_follows(sql[kept.len]) || memcmp(sql, kept.sql, kept.len) != 0)
		return false;
	put(p, kept.text, kept.tlen);
	if (p->st) {
		p->st->schema = (struct ins_name){ kept.has_schema ? head_name(p, kept.schema.name) : NULL,
						   kept.schema.quoted };
		p->st->table = (struct ins_name){ head_name(p, kept.table.name), kept.table.quoted };
		for (int i = 0; i < kept.ncols; i++) {
			if (i < p->ccap)
				p->st->cols[i] = (struct ins_name){ head_name(p, kept.cols[i].name),
								    kept.cols[i].quoted };
			else
				p->overflow = true;
		}
	}
	p->ncols = kept.ncols;
	p->lx.pos = kept.len;
	p->t.type = SQL_WORD;
	return true;
}

/*
 * The rows' fast path: rows whose values are only plain 'strings', integers
 * (maybe with one '-' before them), NULL, TRUE, FALSE and DEFAULT, separated
 * by commas, spaces, tabs and newlines, are read straight from the bytes,
 * writing what parse_rows would write (the same text, in the same order).
 * At anything else (a comment, a cast, another kind of constant or spelling,
 * rows of different lengths) it undoes what it wrote and returns false, and
 * parse_rows reads the rows again from the start. On success the current
 * token is the one after the last row.
 */
static bool rows_slow;

void ins_parse_slow(bool on)
{
	rows_slow = on;
}

static bool fast_space(unsigned char c)
{
	return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f';
}

static bool fast_delim(unsigned char c)
{
	return c == ',' || c == ')' || fast_space(c);
}

/* A keyword value (lower case kw) at s[i..], ending at a delimiter. */
static bool fast_word(const char *s, size_t i, size_t len, const char *kw, size_t n)
{
	if (len - i <= n)
		return false;
	for (size_t k = 0; k < n; k++)
		if (((unsigned char)s[i + k] | 0x20) != (unsigned char)kw[k])
			return false;
	return fast_delim((unsigned char)s[i + n]);
}

static bool fast_rows(struct parser *p)
{
	const char *s = p->lx.s;
	size_t len = p->lx.len, i = p->lx.pos, after = 0;
	size_t tlen = p->tlen, tpeak = p->tpeak, nv = p->nv;
	bool overflow = p->overflow;
	int nrows = 0, nvals = 0;

	if (rows_slow || p->nrows != 0)
		return false;
	for (;;) {
		while (i < len && fast_space((unsigned char)s[i]))
			i++;
		if (i == len || s[i] != '(')
			goto slow;
		i++;
		int n = 0;
		for (;;) {
			struct ins_value v = {0};
			size_t mark = p->tlen;

			while (i < len && fast_space((unsigned char)s[i]))
				i++;
			if (i == len)
				goto slow;
			unsigned char c = (unsigned char)s[i];
			if (c == '\'') {
				i++;
				for (;;) {
					const char *q = memchr(s + i, '\'', len - i);
					if (!q)
						goto slow;
					put(p, s + i, (size_t)(q - s) - i);
					i = (size_t)(q - s) + 1;
					if (i < len && s[i] == '\'') {
						put(p, "'", 1);
						i++;
						continue;
					}
					break;
				}
				v.kind = INS_STRING;
				v.len = p->tlen - mark;
				v.text = put_end(p, mark);
			} else if ((c >= '0' && c <= '9') || (c == '-' && i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '9')) {
				size_t from = i++;
				while (i < len && s[i] >= '0' && s[i] <= '9')
					i++;
				if (i == len || !fast_delim((unsigned char)s[i]))
					goto slow;
				v.kind = INS_NUMBER;
				put(p, s + from, i - from);
				v.len = i - from;
				v.text = put_end(p, mark);
			} else if (fast_word(s, i, len, "null", 4)) {
				v.kind = INS_NULL;
				i += 4;
			} else if (fast_word(s, i, len, "true", 4) || fast_word(s, i, len, "false", 5)) {
				v.kind = INS_BOOL;
				v.text = (c | 0x20) == 't' ? "true" : "false";
				v.len = strlen(v.text);
				i += v.len;
			} else if (fast_word(s, i, len, "default", 7)) {
				v.kind = INS_DEFAULT;
				i += 7;
			} else {
				goto slow;
			}
			while (i < len && fast_space((unsigned char)s[i]))
				i++;
			if (i == len || (s[i] != ',' && s[i] != ')'))
				goto slow;
			if (++n > INS_MAX_COLS || (nrows > 0 && n > nvals))
				goto slow;
			if (p->st && p->nv < p->vcap)
				p->st->values[p->nv] = v;
			else if (p->st)
				p->overflow = true;
			p->nv++;
			if (s[i++] == ')')
				break;
		}
		if (nrows == 0) {
			if (p->ncols > 0 && n != p->ncols)
				goto slow;
			nvals = n;
		} else if (n != nvals) {
			goto slow;
		}
		nrows++;
		after = i;
		while (i < len && fast_space((unsigned char)s[i]))
			i++;
		if (i < len && (s[i] == '/' || s[i] == '-'))
			goto slow;      /* a comment may hide a ',' and more rows */
		if (i == len || s[i] != ',')
			break;
		i++;
	}
	p->nrows = nrows;
	p->nvals = nvals;
	p->lx.pos = after;
	adv(p);
	return true;
slow:
	p->tlen = tlen;
	p->tpeak = tpeak;
	p->nv = nv;
	p->overflow = overflow;
	return false;
}

static enum ins_reason parse_statement(struct parser *p)
{
	enum ins_reason r;
	size_t nparen = 0;

	if (!head_restore(p)) {
		r = parse_head(p, &nparen);
		if (r != INS_OK)
			return r;
		head_keep(p, nparen);
	}
	p->head_tlen = p->tlen == p->tpeak ? p->tlen : 0;
	if (!fast_rows(p)) {
		adv(p);
		r = parse_rows(p);
		if (r != INS_OK)
			return r;
	}
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
	char *arena = pool_alloc(head + p.tpeak);    /* (one per row-path statement) */
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
			pool_free(arena, head + p.tpeak);
			memset(out, 0, sizeof(*out));
			return INS_SYNTAX;
		}
		out->ncols = q.ncols;
		out->nrows = q.nrows;
		out->nvals = q.nvals;
		out->nparams = q.maxparam;
	}
	out->arena = arena;
	out->arena_len = head + p.tpeak;
	if (p.head_tlen > 0) {
		out->names = arena + head;
		out->names_len = p.head_tlen;
	}
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
	if (st->arena_len)
		pool_free(st->arena, st->arena_len);
	else
		free(st->arena);
	memset(st, 0, sizeof(*st));
}
