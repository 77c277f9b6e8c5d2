/* The head of an INSERT the recognizer does not take (insert.h): its target, its column list, and where a conflict clause would go. */
#include "protocol/insert.h"

#include <stdlib.h>
#include <string.h>

#include "protocol/sqllex.h"

struct scan {
	struct sql_lexer lx;
	struct sql_token t;
	char *text;                 /* the arena's text area */
	size_t used;
};

static void next(struct scan *sc)
{
	(void)sql_lex_next(&sc->lx, &sc->t);
}

static bool punct(const struct scan *sc, char c)
{
	return sc->t.type == SQL_PUNCT && sc->t.ch == c;
}

static bool word(const struct scan *sc, const char *kw)
{
	return sql_word_is(&sc->lx, &sc->t, kw);
}

/* A name (a word that is not reserved, or a quoted identifier other than
 * U&"..."): decoded into the arena. */
static bool name(struct scan *sc, struct ins_name *n)
{
	const struct sql_token *t = &sc->t;

	if (t->type == SQL_WORD) {
		if (sql_keyword(sc->lx.s + t->pos, t->end - t->pos) == SQL_KW_RESERVED)
			return false;
		n->quoted = false;
	} else if (t->type == SQL_QIDENT && t->str != SQL_STR_UNICODE) {
		n->quoted = true;
	} else {
		return false;
	}
	sql_token_decode(&sc->lx, t, sc->text + sc->used);
	sc->text[sc->used + t->declen] = '\0';
	n->name = sc->text + sc->used;
	sc->used += t->declen + 1;
	next(sc);
	return true;
}

enum ins_reason ins_parse_head(const char *sql, size_t len, struct ins_stmt *out)
{
	struct scan sc = {0};
	struct ins_name parts[2];
	size_t maxcols = len / 2 + 1, at = 0, depth = 0;
	int nparts = 0;
	char *arena;

	memset(out, 0, sizeof(*out));
	if (sql == NULL || !sql_utf8_valid(sql, len))
		return INS_SYNTAX;
	/* every decoded name is no longer than its token */
	arena = malloc(maxcols * sizeof(struct ins_name) + len + 1);
	if (arena == NULL)
		return INS_SYNTAX;
	out->arena = arena;
	out->cols = (struct ins_name *)(void *)arena;
	sc.text = arena + maxcols * sizeof(struct ins_name);
	sql_lex_init(&sc.lx, sql, len);
	next(&sc);
	while (punct(&sc, ';'))
		next(&sc);
	if (!word(&sc, "insert"))
		goto syntax;
	next(&sc);
	if (!word(&sc, "into"))
		goto syntax;
	next(&sc);
	do {
		if (nparts == 2 || !name(&sc, &parts[nparts++]))
			goto syntax;
	} while (punct(&sc, '.') && (next(&sc), true));
	out->table = parts[nparts - 1];
	if (nparts == 2)
		out->schema = parts[0];
	if (word(&sc, "as"))
		goto syntax;            /* an alias: the clause would have to use it */
	if (punct(&sc, '(')) {
		struct sql_lexer save = sc.lx;
		struct sql_token tok = sc.t;

		next(&sc);
		if (word(&sc, "select") || word(&sc, "values") || word(&sc, "with") || word(&sc, "table") ||
		    punct(&sc, '(')) {
			sc.lx = save;        /* the source in parentheses, not a column list */
			sc.t = tok;
		} else {
			for (;;) {
				if ((size_t)out->ncols >= maxcols || !name(&sc, &out->cols[out->ncols++]))
					goto syntax;
				if (punct(&sc, ')'))
					break;
				if (!punct(&sc, ','))
					goto syntax;
				next(&sc);
			}
			next(&sc);
		}
	}
	/* the source, to a top-level RETURNING, ';' or the end */
	for (;; next(&sc)) {
		if (sc.t.type == SQL_EOF || sc.t.type == SQL_ERROR || sc.t.type == SQL_OTHER)
			break;
		if (punct(&sc, '(') || punct(&sc, '['))
			depth++;
		else if ((punct(&sc, ')') || punct(&sc, ']')) && depth > 0)
			depth--;
		else if (depth == 0 && (punct(&sc, ';') || word(&sc, "returning")))
			break;
		else if (depth == 0 && word(&sc, "on")) {
			ins_stmt_free(out);
			return INS_ON_CONFLICT;     /* its own clause: left alone */
		}
	}
	if (sc.t.type == SQL_ERROR || sc.t.type == SQL_OTHER || depth != 0)
		goto syntax;
	at = sc.t.pos;
	if (word(&sc, "returning"))
		while (sc.t.type != SQL_EOF && sc.t.type != SQL_ERROR && !(depth == 0 && punct(&sc, ';'))) {
			if (punct(&sc, '('))
				depth++;
			else if (punct(&sc, ')') && depth > 0)
				depth--;
			next(&sc);
		}
	while (punct(&sc, ';'))
		next(&sc);
	if (sc.t.type != SQL_EOF)
		goto syntax;            /* another statement follows */
	out->end = at;
	return INS_OK;
syntax:
	ins_stmt_free(out);
	return INS_SYNTAX;
}
