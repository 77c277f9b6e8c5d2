/* The recognizer's cheap side: whether a text can be an INSERT at all, the names of its pass-through reasons, and a parsed name as PostgreSQL folds it. */
#include "protocol/insert.h"

#include <string.h>

#include "protocol/insert_find.h"
#include "protocol/sqllex.h"

const char *ins_reason_name(enum ins_reason r)
{
	static const char *const names[INS_REASON_COUNT] = {
		[INS_OK] = "ok",
		[INS_NOT_INSERT] = "not_insert",
		[INS_MULTI_STMT] = "multi_stmt",
		[INS_WITH] = "with",
		[INS_SELECT] = "select",
		[INS_RETURNING] = "returning",
		[INS_ON_CONFLICT] = "on_conflict",
		[INS_OVERRIDING] = "overriding",
		[INS_EXPRESSION] = "expression",
		[INS_SHAPE] = "shape",
		[INS_SYNTAX] = "syntax",
	};
	if ((unsigned)r >= INS_REASON_COUNT)
		return "unknown";
	return names[r];
}

bool ins_looks_like_insert(const char *sql, size_t len)
{
	size_t pos = 0;
	bool bad;

	if (!sql)
		return false;
	for (;;) {
		pos = sql_skip_space(sql, len, pos, &bad);
		if (bad || pos >= len || sql[pos] != ';')
			break;
		pos++;
	}
	if (bad || len - pos < 6)
		return false;
	for (size_t i = 0; i < 6; i++) {
		char c = sql[pos + i];
		if ((c | 0x20) != "insert"[i])
			return false;
	}
	if (len - pos == 6)
		return true;
	unsigned char c = (unsigned char)sql[pos + 6];
	return !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		 c == '_' || c == '$' || c >= 0x80);
}

bool ins_returning_plain(const char *sql, size_t len, bool scs_off)
{
	struct sql_lexer lx;
	struct sql_token t;
	int depth = 0;
	bool item = false;      /* a reference was read since the last ',' */

	if (!sql)
		return false;
	sql_lex_init(&lx, sql, len);
	lx.scs_off = scs_off;
	for (;;) {
		if (sql_lex_next(&lx, &t) == SQL_EOF || t.type == SQL_ERROR)
			return false;
		if (t.type == SQL_PUNCT && (t.ch == '(' || t.ch == '['))
			depth++;
		else if (t.type == SQL_PUNCT && (t.ch == ')' || t.ch == ']'))
			depth--;
		else if (depth == 0 && sql_word_is(&lx, &t, "returning"))
			break;
	}
	for (;;) {
		/* a reference: name, *, or name.* (not name.name: tbl.f is also
		 * the call f(tbl) when no column is named f) */
		sql_lex_next(&lx, &t);
		if (t.type == SQL_OP && t.end - t.pos == 1 && t.ch == '*') {
			sql_lex_next(&lx, &t);
		} else {
			if (t.type != SQL_WORD && t.type != SQL_QIDENT)
				return false;
			if (t.type == SQL_WORD && sql_keyword(sql + t.pos, t.end - t.pos) == SQL_KW_RESERVED)
				return false;   /* (NULL, CASE, ...: an expression) */
			sql_lex_next(&lx, &t);
			if (t.type == SQL_PUNCT && t.ch == '.') {
				sql_lex_next(&lx, &t);
				if (!(t.type == SQL_OP && t.end - t.pos == 1 && t.ch == '*'))
					return false;
				sql_lex_next(&lx, &t);
			}
		}
		item = true;
		/* [AS] alias */
		if (sql_word_is(&lx, &t, "as"))
			sql_lex_next(&lx, &t);
		if ((t.type == SQL_WORD && sql_keyword(sql + t.pos, t.end - t.pos) != SQL_KW_RESERVED) ||
		    t.type == SQL_QIDENT)
			sql_lex_next(&lx, &t);
		if (t.type == SQL_PUNCT && t.ch == ',') {
			item = false;
			continue;
		}
		break;
	}
	while (t.type == SQL_PUNCT && t.ch == ';')
		sql_lex_next(&lx, &t);
	return item && t.type == SQL_EOF;
}

/* A setting's name token that is dotted by itself: "app.user" quoted (or a
 * quoted name whose escapes are not read here). */
static bool dotted_ident(const char *sql, const struct sql_token *t)
{
	return t->type == SQL_QIDENT &&
	       (t->str != SQL_STR_PLAIN || memchr(sql + t->body, '.', t->body_end - t->body));
}

bool ins_sets_custom(const char *sql, size_t len, bool scs_off)
{
	struct sql_lexer lx;
	struct sql_token t, prev = { 0 };
	bool start = true;      /* t starts a statement */

	if (!sql)
		return false;
	sql_lex_init(&lx, sql, len);
	lx.scs_off = scs_off;
	while (sql_lex_next(&lx, &t) != SQL_EOF && t.type != SQL_ERROR) {
		if (t.type == SQL_PUNCT && t.ch == '(' && prev.type == SQL_WORD &&
		    sql_word_is(&lx, &prev, "set_config")) {
			/* a built-in setting's name (a plain literal, no dot, the whole
			 * first argument) is the view's to see */
			sql_lex_next(&lx, &t);
			if (t.type != SQL_STRING || t.str != SQL_STR_PLAIN ||
			    memchr(sql + t.body, '.', t.body_end - t.body))
				return true;
			sql_lex_next(&lx, &t);
			if (!(t.type == SQL_PUNCT && t.ch == ','))
				return true;
		}
		if (start && sql_word_is(&lx, &t, "do")) {
			/* its body runs here, as a string: anything setting a setting */
			if (ins_mentions(sql + t.pos, len - t.pos, "set"))
				return true;
		} else if (start && (sql_word_is(&lx, &t, "set") || sql_word_is(&lx, &t, "reset"))) {
			/* SET [SESSION | LOCAL] name ..., where name may be session.x */
			sql_lex_next(&lx, &t);
			if (sql_word_is(&lx, &t, "session") || sql_word_is(&lx, &t, "local")) {
				prev = t;
				sql_lex_next(&lx, &t);
				if (t.type == SQL_PUNCT && t.ch == '.')
					return true;
			}
			if (dotted_ident(sql, &t))
				return true;
			if (t.type == SQL_WORD || t.type == SQL_QIDENT) {
				prev = t;
				sql_lex_next(&lx, &t);
				if (t.type == SQL_PUNCT && t.ch == '.')
					return true;
			}
		}
		start = t.type == SQL_PUNCT && t.ch == ';';
		prev = t;
	}
	return false;
}

int ins_tx_plain(const char *sql, size_t len)
{
	static const char *const verbs[] = { "begin", "start", "commit", "end", "rollback", "abort", NULL };
	struct sql_lexer lx;
	struct sql_token t;
	bool start;
	int i;

	if (!sql)
		return 0;
	sql_lex_init(&lx, sql, len);
	sql_lex_next(&lx, &t);
	for (i = 0; verbs[i] && !sql_word_is(&lx, &t, verbs[i]); i++)
		;
	if (verbs[i] == NULL)
		return 0;
	start = i == 1;
	sql_lex_next(&lx, &t);
	if (sql_word_is(&lx, &t, "transaction") || (!start && sql_word_is(&lx, &t, "work")))
		sql_lex_next(&lx, &t);
	else if (start)
		return 0;               /* START needs TRANSACTION */
	while (t.type == SQL_PUNCT && t.ch == ';')
		sql_lex_next(&lx, &t);
	return t.type != SQL_EOF ? 0 : i <= 1 ? 1 : 2;
}

char *ins_name_resolve(const struct ins_name *n, bool casesensitive, char *buf, size_t buflen)
{
	if (!buf || buflen == 0)
		return buf;
	const char *src = (n && n->name) ? n->name : "";
	size_t len = strlen(src);
	if (len > buflen - 1)
		len = buflen - 1;
	bool fold = !casesensitive && !(n && n->quoted);
	for (size_t i = 0; i < len; i++) {
		char c = src[i];
		buf[i] = (fold && c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
	}
	buf[len] = '\0';
	return buf;
}
