/* The INSERT recognizer's parser state and token and text helpers, shared by its files (insert.c, insert_type.c); not for other modules. */
#ifndef PGBATCHD_PROTOCOL_INSPARSE_H
#define PGBATCHD_PROTOCOL_INSPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "protocol/insert.h"
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
	size_t head_tlen;           /* text bytes the head's names took (they come first) */
};

#define SCRATCH_TEXT 4096
#define SCRATCH_VALUES 256
#define SCRATCH_COLS 64

/* PostgreSQL's Bind carries at most this many parameters (an Int16 count). */
#define INS_MAX_PARAM 65535

/* The casts of typed literals whose type name PostgreSQL rewrites (insert_type.c). */
extern const char ins_cast_bpchar[];
extern const char ins_cast_bit[];

static inline void adv(struct parser *p)
{
	(void)sql_lex_next(&p->lx, &p->t);
}

static inline enum sql_tok peek(const struct parser *p, struct sql_token *t)
{
	struct sql_lexer lx = p->lx;
	return sql_lex_next(&lx, t);
}

static inline bool is_punct(const struct parser *p, char c)
{
	return p->t.type == SQL_PUNCT && p->t.ch == c;
}

static inline bool is_word(const struct parser *p, const char *kw)
{
	return sql_word_is(&p->lx, &p->t, kw);
}

static inline bool is_minus(const struct parser *p)
{
	return p->t.type == SQL_OP && p->t.end - p->t.pos == 1 && p->t.ch == '-';
}

static inline bool word_in(const struct parser *p, const char *const *list)
{
	if (p->t.type != SQL_WORD)
		return false;   /* (most often ';' or the end: no strlen per keyword) */
	for (; *list; list++)
		if (is_word(p, *list))
			return true;
	return false;
}

/* ---- text area ---- */

static inline void grow(struct parser *p, size_t n)
{
	p->tlen += n;
	if (p->tlen > p->tpeak)
		p->tpeak = p->tlen;
}

/* Whether n more text bytes are written (else the pass overflows). */
static inline bool room(struct parser *p, size_t n)
{
	if (!p->fill || p->overflow)
		return false;
	if (p->tlen + n > p->tcap) {
		p->overflow = true;
		return false;
	}
	return true;
}

static inline void put(struct parser *p, const char *b, size_t n)
{
	if (room(p, n))
		memcpy(p->text + p->tlen, b, n);
	grow(p, n);
}

static inline void put_lower(struct parser *p, const char *b, size_t n)
{
	if (room(p, n))
		for (size_t i = 0; i < n; i++) {
			char c = b[i];
			p->text[p->tlen + i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
		}
	grow(p, n);
}

static inline const char *put_end(struct parser *p, size_t mark)
{
	put(p, "", 1);
	return p->fill && !p->overflow ? p->text + mark : NULL;
}

static inline void put_token(struct parser *p)
{
	if (room(p, p->t.declen))
		sql_token_decode(&p->lx, &p->t, p->text + p->tlen);
	grow(p, p->t.declen);
}

/* The type names PostgreSQL allows after INTERVAL 'x' (insert_type.c). */
extern const char *const ins_interval_fields[];

/* A type name at the current token, written normalized to the text area.
 * cast_mode: after :: or AS (arrays allowed); else the type of a typed
 * literal (type 'text'). Leaves the token after the type current. When the
 * text is not a type at all, returns INS_EXPRESSION (literal form: it was a
 * column or a function) or INS_SYNTAX (cast form). */
enum ins_reason ins_parse_type(struct parser *p, bool cast_mode, const char **cast, bool *interval);

#endif
