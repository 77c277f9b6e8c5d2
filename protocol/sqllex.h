/* A PostgreSQL 15 SQL tokenizer over a byte range: tokens, keyword classes, string and identifier decoding. */
#ifndef PGBATCHD_PROTOCOL_SQLLEX_H
#define PGBATCHD_PROTOCOL_SQLLEX_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* PostgreSQL's NAMEDATALEN - 1: identifiers longer than this are truncated. */
#define SQL_IDENT_MAX 63

enum sql_tok {
	SQL_EOF = 0,
	SQL_ERROR,      /* input PostgreSQL's lexer rejects (unterminated, bad escape, junk) */
	SQL_WORD,       /* unquoted identifier or keyword */
	SQL_QIDENT,     /* "quoted" or U&"quoted" identifier */
	SQL_STRING,     /* '', E'', U&'', N'', $tag$..$tag$ (see sql_token.str) */
	SQL_BITSTRING,  /* B'' or X'' */
	SQL_INTEGER,    /* digits only */
	SQL_NUMERIC,    /* with a decimal point and/or an exponent */
	SQL_PARAM,      /* $n */
	SQL_TYPECAST,   /* :: */
	SQL_PUNCT,      /* one of ( ) [ ] , ; . : (in sql_token.ch) */
	SQL_OP,         /* any operator, after PostgreSQL's trimming rules */
	SQL_OTHER,      /* a character PostgreSQL passes to the grammar alone (always a syntax error) */
};

enum sql_str {
	SQL_STR_PLAIN = 0,  /* '...' (standard_conforming_strings on) */
	SQL_STR_NCHAR,      /* N'...': a plain string the grammar reads as NCHAR '...' */
	SQL_STR_ESCAPE,     /* E'...' */
	SQL_STR_UNICODE,    /* U&'...' or U&"..." [UESCAPE 'c'] */
	SQL_STR_DOLLAR,     /* $tag$...$tag$ */
};

/* Keyword classes from PostgreSQL's kwlist.h; unreserved keywords and plain
 * identifiers are both SQL_KW_NONE (they are valid anywhere a name is). */
enum sql_kw {
	SQL_KW_NONE = 0,
	SQL_KW_COL_NAME,    /* valid as a column or table name, not as a function or type name */
	SQL_KW_TYPE_FUNC,   /* valid as a function or type name, not as a column or table name */
	SQL_KW_RESERVED,
};

struct sql_token {
	enum sql_tok type;
	size_t pos, end;    /* source span [pos, end), prefix and UESCAPE clause included */
	char ch;            /* SQL_PUNCT: the character; SQL_OP: its first character */
	/* SQL_STRING, SQL_QIDENT and SQL_WORD: */
	enum sql_str str;
	size_t body;        /* first byte after the opening quote or dollar tag (SQL_WORD: pos) */
	size_t body_end;    /* SQL_STRING/SQL_QIDENT: the closing quote or tag; SQL_WORD: end */
	char esc;           /* SQL_STR_UNICODE: the escape character */
	size_t declen;      /* decoded length (identifiers: after truncation to SQL_IDENT_MAX) */
};

struct sql_lexer {
	const char *s;
	size_t len;
	size_t pos;
	enum sql_tok stop;  /* SQL_EOF or SQL_ERROR once reached, else SQL_WORD */
	bool scs_off;       /* standard_conforming_strings = off: '...' reads backslash
	                       escapes as E'...' does, and U&'...' is an error (set it
	                       after sql_lex_init) */
};

void sql_lex_init(struct sql_lexer *lx, const char *s, size_t len);

/* Skips whitespace and comments, then reads one token into *t and returns its
 * type. After SQL_EOF or SQL_ERROR it keeps returning the same. */
enum sql_tok sql_lex_next(struct sql_lexer *lx, struct sql_token *t);

/* Writes the decoded text of a SQL_STRING, SQL_QIDENT or SQL_WORD token
 * (exactly t->declen bytes, no NUL) to dst. The token must come from lx. */
void sql_token_decode(const struct sql_lexer *lx, const struct sql_token *t, char *dst);

/* Whether a SQL_WORD token is the keyword kw (lower case ASCII, starting with
 * a letter), ignoring case. Inline, with kw's length known where kw is a
 * literal: the parser asks it many times a token, and most tokens fail on
 * the length or the first letter. */
static inline bool sql_word_is(const struct sql_lexer *lx, const struct sql_token *t, const char *kw)
{
	size_t n = strlen(kw);
	const unsigned char *w = (const unsigned char *)lx->s + t->pos;

	if (t->type != SQL_WORD || t->end - t->pos != n || (w[0] | 0x20) != (unsigned char)kw[0])
		return false;
	for (size_t i = 1; i < n; i++) {
		unsigned char c = w[i];

		if ((c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c) != (unsigned char)kw[i])
			return false;
	}
	return true;
}

/* The keyword class of a word (any case). */
enum sql_kw sql_keyword(const char *w, size_t len);

/* Position of the first byte at or after pos that is neither whitespace nor a
 * comment; sets *bad on an unterminated block comment. */
size_t sql_skip_space(const char *s, size_t len, size_t pos, bool *bad);

/* Whether s[0..len) is valid UTF-8 as PostgreSQL checks it (no NUL, no
 * overlong forms, no surrogates, nothing above U+10FFFF). */
bool sql_utf8_valid(const char *s, size_t len);

/* PostgreSQL's identifier truncation (pg_mbcliplen, UTF-8): bytes of
 * name[0..len) that are kept. */
size_t sql_ident_cliplen(const char *name, size_t len);

#endif
