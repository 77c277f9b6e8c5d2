/* The INSERT sites of a Query's text (insert_find.h): a walk over PostgreSQL's tokens that follows where its grammar puts a statement. */
#include "protocol/insert_find.h"

#include <stdlib.h>
#include <string.h>

#include "protocol/sqllex.h"

struct finder {
	struct sql_lexer lx;
	struct sql_token t;         /* the current token */
	size_t prev_end;            /* where the token before it ends */
	bool prev_dot;              /* the token before it is '.' */
	bool prev_as;               /* the token before it is AS */
	struct ins_sites *out;
	bool broken;                /* PostgreSQL refuses the text */
	bool nomem;
};

static void next(struct finder *f)
{
	f->prev_end = f->t.end;
	f->prev_dot = f->t.type == SQL_PUNCT && f->t.ch == '.';
	f->prev_as = sql_word_is(&f->lx, &f->t, "as");
	(void)sql_lex_next(&f->lx, &f->t);
	if (f->t.type == SQL_ERROR || f->t.type == SQL_OTHER)
		f->broken = true;
}

static bool punct(const struct finder *f, char c)
{
	return f->t.type == SQL_PUNCT && f->t.ch == c;
}

static bool word(const struct finder *f, const char *kw)
{
	return sql_word_is(&f->lx, &f->t, kw);
}

/* A keyword where one can be: not a column name after '.' or an alias after AS. */
static bool kw(const struct finder *f, const char *k)
{
	return !f->prev_dot && !f->prev_as && word(f, k);
}

/* The end of the input, or of what the walk can read. */
static bool stop(const struct finder *f)
{
	return f->t.type == SQL_EOF || f->broken || f->nomem;
}

static bool opens(const struct finder *f)
{
	return punct(f, '(') || punct(f, '[');
}

static bool closes(const struct finder *f)
{
	return punct(f, ')') || punct(f, ']');
}

/* To the end of the statement: a ';' or an unmatched ')' (left current), or the end. */
static void skip_stmt(struct finder *f)
{
	int depth = 0;

	for (; !stop(f); next(f)) {
		if (opens(f))
			depth++;
		else if (closes(f) && depth-- == 0)
			return;
		else if (depth == 0 && punct(f, ';'))
			return;
	}
	if (depth > 0)
		f->broken = true;       /* a '(' never closed */
}

/* A balanced (...) at the current '(': the token after its ')' is current. */
static void skip_parens(struct finder *f)
{
	int depth = 0;

	do {
		if (stop(f)) {
			f->broken = f->broken || f->t.type == SQL_EOF;
			return;
		}
		if (opens(f))
			depth++;
		else if (closes(f))
			depth--;
		next(f);
	} while (depth > 0);
}

/* A name token: an identifier, a quoted one (not U&""), or (any_kw) any keyword. */
static bool is_name(const struct finder *f, bool any_kw)
{
	const struct sql_token *t = &f->t;

	if (t->type == SQL_WORD)
		return any_kw || sql_keyword(f->lx.s + t->pos, t->end - t->pos) != SQL_KW_RESERVED;
	return t->type == SQL_QIDENT && t->str != SQL_STR_UNICODE;
}

/* How many columns a VALUES list (at VALUES) or a SELECT list (at SELECT)
 * gives; -1 when it cannot be known here. The walk is left where it was. */
static int source_width(const struct finder *f0)
{
	static const char *const ends[] = { "from", "into", "where", "group", "having", "window", "order",
					    "limit", "offset", "fetch", "for", "union", "intersect", "except",
					    "returning", "on", NULL };
	struct finder f = *f0;
	int items = 0, depth = 0, toks = 0;
	bool star = false;

	if (word(&f, "values")) {
		next(&f);
		if (!punct(&f, '('))
			return -1;
		for (next(&f), items = 1; !stop(&f); next(&f)) {
			if (opens(&f))
				depth++;
			else if (closes(&f) && depth-- == 0)
				return items;
			else if (depth == 0 && punct(&f, ','))
				items++;
		}
		return -1;
	}
	next(&f);                   /* SELECT */
	if (word(&f, "all")) {
		next(&f);
	} else if (word(&f, "distinct")) {
		next(&f);
		if (word(&f, "on")) {
			next(&f);
			if (!punct(&f, '('))
				return -1;
			skip_parens(&f);
		}
	}
	for (; !stop(&f); next(&f)) {
		if (depth == 0) {
			bool end = punct(&f, ';') || closes(&f);

			for (int i = 0; !end && ends[i]; i++)
				end = kw(&f, ends[i]);
			if (end)
				break;
			if (punct(&f, ',')) {
				items++;
				toks = 0;
				continue;
			}
			if (f.t.type == SQL_OP && f.t.ch == '*' && f.t.end - f.t.pos == 1 && (toks == 0 || f.prev_dot))
				star = true;    /* * or t.*: as wide as a table */
		}
		if (opens(&f))
			depth++;
		else if (closes(&f))
			depth--;
		toks++;
	}
	if (star || f.broken)
		return -1;
	return items + (toks > 0 || items > 0 ? 1 : 0);
}

static struct ins_site *new_site(struct finder *f)
{
	struct ins_sites *o = f->out;

	if (o->n == o->cap) {
		int cap = o->cap ? o->cap * 2 : 4;
		struct ins_site *v = realloc(o->v, (size_t)cap * sizeof(*v));

		if (v == NULL) {
			f->nomem = true;
			return NULL;
		}
		o->v = v;
		o->cap = cap;
	}
	memset(&o->v[o->n], 0, sizeof(o->v[o->n]));
	return &o->v[o->n++];
}

/* The names of a site's head, decoded into one arena. */
static bool fill_names(struct finder *f, struct ins_site *s, const struct sql_token *parts, int nparts,
		       const struct sql_token *cols, int ncols)
{
	size_t text = 0;
	char *arena, *p;

	for (int i = 0; i < nparts; i++)
		text += parts[i].declen + 1;
	for (int i = 0; i < ncols; i++)
		text += cols[i].declen + 1;
	arena = malloc((size_t)ncols * sizeof(struct ins_name) + text + 1);
	if (arena == NULL) {
		f->nomem = true;
		return false;
	}
	s->head.arena = arena;
	s->head.cols = ncols ? (struct ins_name *)(void *)arena : NULL;
	s->head.ncols = ncols;
	p = arena + (size_t)ncols * sizeof(struct ins_name);
	for (int i = 0; i < nparts + ncols; i++) {
		const struct sql_token *t = i < nparts ? &parts[i] : &cols[i - nparts];
		struct ins_name *n = i == nparts - 1 ? &s->head.table :
				     i == nparts - 2 ? &s->head.schema :
				     i >= nparts ? &s->head.cols[i - nparts] : NULL;

		sql_token_decode(&f->lx, t, p);
		p[t->declen] = '\0';
		if (n) {
			n->name = p;
			n->quoted = t->type == SQL_QIDENT;
		}
		p += t->declen + 1;
	}
	return true;
}

/* A column list at '(': its names into *cols; false (odd) when it holds
 * something else than plain names (a subfield, a subscript). The token after
 * its ')' is current. */
static bool column_list(struct finder *f, struct sql_token **cols, int *ncols)
{
	struct finder save = *f;
	int cap = 0;
	bool plain = true;

	for (next(f); !stop(f); next(f)) {
		if (!is_name(f, false)) {
			plain = false;
			break;
		}
		if (*ncols == cap) {
			struct sql_token *v = realloc(*cols, (size_t)(cap = cap ? cap * 2 : 8) * sizeof(*v));

			if (v == NULL) {
				f->nomem = true;
				return false;
			}
			*cols = v;
		}
		(*cols)[(*ncols)++] = f->t;
		next(f);
		if (!punct(f, ','))
			break;
	}
	plain = plain && punct(f, ')');
	*f = save;
	skip_parens(f);
	return plain;
}

/* An INSERT at the current token: its site, then the rest of its statement. */
static void site(struct finder *f)
{
	struct sql_token parts[3], *cols = NULL;
	int nparts = 0, ncols = 0, depth = 0, joins = 0, width = -1;
	bool odd = false, own = false, distinct = false, unsure = false;
	struct ins_site *s;
	size_t at;

	next(f);
	if (!word(f, "into")) {
		skip_stmt(f);
		return;
	}
	next(f);
	do {
		if (nparts == 3 || !is_name(f, nparts > 0)) {
			skip_stmt(f);   /* PostgreSQL refuses it */
			return;
		}
		parts[nparts++] = f->t;
		next(f);
	} while (punct(f, '.') && (next(f), true));
	if (word(f, "as")) {
		next(f);
		next(f);                /* the alias: the clause does not name the table */
	}
	if (punct(f, '(')) {
		struct finder peek = *f;

		next(&peek);
		if (!(word(&peek, "select") || word(&peek, "values") || word(&peek, "with") ||
		      word(&peek, "table") || punct(&peek, '(')))
			odd = !column_list(f, &cols, &ncols);
	}
	if (word(f, "overriding")) {
		next(f);
		next(f);
		next(f);
	}
	if (ncols == 0 && (word(f, "values") || word(f, "select")))
		width = source_width(f);
	if (word(f, "default"))
		width = 0;              /* DEFAULT VALUES */
	/* the source, to a top-level ON CONFLICT, RETURNING, ';', ')' or the end */
	for (; !stop(f); next(f)) {
		if (opens(f)) {
			depth++;
		} else if (closes(f)) {
			if (depth-- == 0)
				break;
		} else if (depth == 0) {
			if (punct(f, ';') || kw(f, "returning"))
				break;
			if (kw(f, "join")) {
				joins++;
			} else if (kw(f, "natural") || kw(f, "cross")) {
				joins--;        /* its JOIN takes no ON */
			} else if ((kw(f, "on") || kw(f, "using")) && joins > 0) {
				joins--;
			} else if (kw(f, "on") && !distinct) {
				struct finder peek = *f;

				next(&peek);
				own = word(&peek, "conflict");
				unsure = !own;  /* an ON the walk cannot place */
				break;
			}
			distinct = kw(f, "distinct");
		}
	}
	at = f->prev_end;
	if (depth > 0)
		f->broken = true;       /* a '(' never closed */
	if (f->broken || f->nomem || (s = new_site(f)) == NULL || !fill_names(f, s, parts, nparts, cols, ncols)) {
		free(cols);
		return;
	}
	free(cols);
	s->at = at;
	s->head.end = at;
	s->own_clause = own;
	s->odd = odd;
	s->unsure = unsure;
	s->width_known = ncols > 0 || width >= 0;
	s->head.nvals = ncols > 0 ? ncols : width > 0 ? width : 0;
	skip_stmt(f);
}

/* COPY [BINARY] name [(columns)] FROM ...: a copy site (the token after COPY is current). */
static void copy_site(struct finder *f)
{
	struct sql_token parts[3], *cols = NULL;
	int nparts = 0, ncols = 0;
	bool odd = false;
	struct ins_site *s;
	size_t start, end;

	if (word(f, "binary"))
		next(f);                /* the old spelling of FORMAT binary */
	start = f->t.pos;
	do {
		if (nparts == 3 || !is_name(f, nparts > 0))
			return;             /* PostgreSQL refuses it */
		parts[nparts++] = f->t;
		end = f->t.end;
		next(f);
	} while (punct(f, '.') && (next(f), true));
	if (punct(f, '('))
		odd = !column_list(f, &cols, &ncols);
	if (!word(f, "from") || f->broken || f->nomem || (s = new_site(f)) == NULL ||
	    !fill_names(f, s, parts, nparts, cols, ncols)) {
		free(cols);
		return;                 /* COPY ... TO, or refused */
	}
	free(cols);
	s->copy = true;
	s->odd = odd;
	s->at = s->head.end = start;
	s->name_start = start;
	s->name_end = end;
	s->width_known = true;
	s->head.nvals = ncols;
}

static void stmt(struct finder *f);

/* A parenthesized statement at '(' (a CTE's body, COPY's query). */
static void inner(struct finder *f)
{
	next(f);
	stmt(f);
	if (!stop(f) && punct(f, ')'))
		next(f);
	else if (!stop(f))
		f->broken = true;       /* a ';' inside parentheses */
}

/* WITH [RECURSIVE] name [(cols)] AS [NOT] [MATERIALIZED] (stmt) [SEARCH|CYCLE ...], ...:
 * the statement after it is current. False when the walk cannot follow it. */
static bool with_list(struct finder *f)
{
	next(f);
	if (word(f, "recursive"))
		next(f);
	for (;;) {
		next(f);                /* past the CTE's name */
		if (punct(f, '('))
			skip_parens(f);
		if (!word(f, "as"))
			return false;
		next(f);
		if (word(f, "not"))
			next(f);
		if (word(f, "materialized"))
			next(f);
		if (!punct(f, '('))
			return false;
		inner(f);
		/* SEARCH {BREADTH|DEPTH} FIRST BY cols SET col; CYCLE cols SET col
		 * [TO v DEFAULT d] USING col: to the name after SET / USING */
		while (word(f, "search") || word(f, "cycle")) {
			const char *last = word(f, "search") ? "set" : "using";

			while (!stop(f) && !word(f, last))
				next(f);
			next(f);
			next(f);        /* past its column name */
		}
		if (!punct(f, ','))
			return true;
		next(f);                /* to the next CTE's name */
	}
}

/* CREATE [options] TABLE name ... AS at CREATE: true with the query after
 * AS current (a data-modifying CTE of it runs); false, where it was, when the
 * statement is another. */
static bool create_table_as(struct finder *f)
{
	struct finder save = *f;
	bool table = false;
	int depth = 0;

	for (next(f); !stop(f); next(f)) {
		if (opens(f)) {
			depth++;
		} else if (closes(f)) {
			if (depth-- == 0)
				break;
		} else if (depth == 0) {
			if (punct(f, ';'))
				break;
			if (!table && (word(f, "table") || word(f, "function") || word(f, "view") ||
				       word(f, "procedure") || word(f, "rule") || word(f, "trigger")))
				if (!(table = word(f, "table")))
					break;
			if (table && word(f, "as")) {
				next(f);
				if (word(f, "with") || word(f, "select") || word(f, "values") || word(f, "table") ||
				    word(f, "execute") || punct(f, '('))
					return true;
				break;
			}
		}
	}
	*f = save;
	return false;
}

/* One statement from its first token; left at its ';', its unmatched ')' or the end. */
static void stmt(struct finder *f)
{
	while (!stop(f)) {
		if (word(f, "explain")) {
			next(f);
			if (punct(f, '('))
				skip_parens(f);
			else
				while (word(f, "analyze") || word(f, "analyse") || word(f, "verbose"))
					next(f);
		} else if (word(f, "prepare")) {
			next(f);
			next(f);            /* its name */
			if (punct(f, '('))
				skip_parens(f);
			if (!word(f, "as"))
				break;
			next(f);
		} else if (word(f, "copy")) {
			next(f);
			if (punct(f, '('))
				inner(f);
			else
				copy_site(f);
			break;
		} else if (word(f, "with")) {
			if (!with_list(f))
				break;
		} else if (word(f, "insert")) {
			site(f);
			return;
		} else if (!word(f, "create") || !create_table_as(f)) {
			break;
		}
	}
	skip_stmt(f);
}

enum ins_find_result ins_find(const char *sql, size_t len, bool scs_off, struct ins_sites *out)
{
	struct finder f;

	memset(out, 0, sizeof(*out));
	memset(&f, 0, sizeof(f));
	f.out = out;
	sql_lex_init(&f.lx, sql, len);
	f.lx.scs_off = scs_off;
	next(&f);
	while (!stop(&f)) {
		if (punct(&f, ';')) {
			next(&f);
			continue;
		}
		size_t start = f.t.pos;
		int first = out->n;

		stmt(&f);
		if (!stop(&f) && !punct(&f, ';'))
			f.broken = true;    /* a ')' that closes nothing */
		for (int i = first; i < out->n; i++) {
			out->v[i].stmt_start = start;
			out->v[i].stmt_end = f.t.type == SQL_EOF ? len : f.t.pos;
		}
	}
	if (f.nomem)
		return INS_FIND_NOMEM;
	return f.broken ? INS_FIND_LEXERR : INS_FIND_OK;
}

void ins_sites_free(struct ins_sites *s)
{
	for (int i = 0; i < s->n; i++)
		ins_stmt_free(&s->v[i].head);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* Whether word (lower case ASCII, n bytes) is at sql + i, in any case. */
static bool word_at(const char *sql, size_t len, size_t i, const char *word, size_t n)
{
	size_t k;

	if (i + n > len)
		return false;
	for (k = 1; k < n && (sql[i + k] | 0x20) == word[k]; k++)
		;
	return k == n;
}

bool ins_mentions2(const char *sql, size_t len, const char *w1, const char *w2)
{
	size_t n1 = strlen(w1), n2 = strlen(w2);

	for (size_t i = 0; i < len; i++) {
		char ch = sql[i] | 0x20;

		if ((ch == w1[0] && word_at(sql, len, i, w1, n1)) || (ch == w2[0] && word_at(sql, len, i, w2, n2)))
			return true;
	}
	return false;
}

bool ins_mentions(const char *sql, size_t len, const char *word)
{
	size_t n = strlen(word), k;

	for (size_t i = 0; n > 0 && i + n <= len; i++) {
		if ((sql[i] | 0x20) != word[0])
			continue;
		for (k = 1; k < n && (sql[i + k] | 0x20) == word[k]; k++)
			;
		if (k == n)
			return true;
	}
	return false;
}
