/* PostgreSQL 15's lexical rules (scan.l, parser.c) over a byte range, without allocating. */
#include "protocol/sqllex.h"
#include "protocol/chars.h"

#include <stdint.h>
#include <string.h>

/* ---- character classes (scan.l) ---- */

/* Each byte's classes: a table rather than comparisons (the lexer asks per
 * byte). PostgreSQL 15's scan.l: whitespace is [ \t\n\r\f] (not vertical
 * tab); identifiers start with a letter, '_' or any byte >= 0x80 and go on
 * with those, digits and '$'; operators are made of ~!@#^&|`?+-*\/%<>=. */
enum {
	CC_SPACE = 1,
	CC_IDSTART = 2,
	CC_IDCONT = 4,
	CC_DIGIT = 8,
	CC_OP = 16,
};

static const uint8_t cclass[256] = {
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  1,  1,  0,  1,  1,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	 1, 16,  0, 16,  4, 16, 16,  0,  0,  0, 16, 16,  0, 16,  0, 16,
	12, 12, 12, 12, 12, 12, 12, 12, 12, 12,  0,  0, 16, 16, 16, 16,
	16,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,
	 6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  0,  0,  0, 16,  6,
	16,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,
	 6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  0, 16,  0, 16,  0,
	 6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,
	 6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,
	 6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,
	 6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,
	 6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,
	 6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,
	 6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,
	 6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,
};

static bool is_space(unsigned char c)
{
	return cclass[c] & CC_SPACE;
}

static bool is_ident_start(unsigned char c)
{
	return cclass[c] & CC_IDSTART;
}

static bool is_ident_cont(unsigned char c)
{
	return cclass[c] & CC_IDCONT;
}

static bool is_digit(unsigned char c)
{
	return cclass[c] & CC_DIGIT;
}

static bool is_op_char(unsigned char c)
{
	return cclass[c] & CC_OP;
}

static unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* ---- keywords that are not usable everywhere a name is ---- */

#define C SQL_KW_COL_NAME
#define T SQL_KW_TYPE_FUNC
#define R SQL_KW_RESERVED
static const struct {
	const char *word;
	enum sql_kw kw;
} keywords[] = {
	{"all", R}, {"analyse", R}, {"analyze", R}, {"and", R}, {"any", R}, {"array", R},
	{"as", R}, {"asc", R}, {"asymmetric", R}, {"authorization", T}, {"between", C},
	{"bigint", C}, {"binary", T}, {"bit", C}, {"boolean", C}, {"both", R}, {"case", R},
	{"cast", R}, {"char", C}, {"character", C}, {"check", R}, {"coalesce", C},
	{"collate", R}, {"collation", T}, {"column", R}, {"concurrently", T}, {"constraint", R},
	{"create", R}, {"cross", T}, {"current_catalog", R}, {"current_date", R},
	{"current_role", R}, {"current_schema", T}, {"current_time", R},
	{"current_timestamp", R}, {"current_user", R}, {"dec", C}, {"decimal", C},
	{"default", R}, {"deferrable", R}, {"desc", R}, {"distinct", R}, {"do", R}, {"else", R},
	{"end", R}, {"except", R}, {"exists", C}, {"extract", C}, {"false", R}, {"fetch", R},
	{"float", C}, {"for", R}, {"foreign", R}, {"freeze", T}, {"from", R}, {"full", T},
	{"grant", R}, {"greatest", C}, {"group", R}, {"grouping", C}, {"having", R},
	{"ilike", T}, {"in", R}, {"initially", R}, {"inner", T}, {"inout", C}, {"int", C},
	{"integer", C}, {"intersect", R}, {"interval", C}, {"into", R}, {"is", T},
	{"isnull", T}, {"join", T}, {"lateral", R}, {"leading", R}, {"least", C}, {"left", T},
	{"like", T}, {"limit", R}, {"localtime", R}, {"localtimestamp", R}, {"national", C},
	{"natural", T}, {"nchar", C}, {"none", C}, {"normalize", C}, {"not", R}, {"notnull", T},
	{"null", R}, {"nullif", C}, {"numeric", C}, {"offset", R}, {"on", R}, {"only", R},
	{"or", R}, {"order", R}, {"out", C}, {"outer", T}, {"overlaps", T}, {"overlay", C},
	{"placing", R}, {"position", C}, {"precision", C}, {"primary", R}, {"real", C},
	{"references", R}, {"returning", R}, {"right", T}, {"row", C}, {"select", R},
	{"session_user", R}, {"setof", C}, {"similar", T}, {"smallint", C}, {"some", R},
	{"substring", C}, {"symmetric", R}, {"table", R}, {"tablesample", T}, {"then", R},
	{"time", C}, {"timestamp", C}, {"to", R}, {"trailing", R}, {"treat", C}, {"trim", C},
	{"true", R}, {"union", R}, {"unique", R}, {"user", R}, {"using", R}, {"values", C},
	{"varchar", C}, {"variadic", R}, {"verbose", T}, {"when", R}, {"where", R},
	{"window", R}, {"with", R}, {"xmlattributes", C}, {"xmlconcat", C}, {"xmlelement", C},
	{"xmlexists", C}, {"xmlforest", C}, {"xmlnamespaces", C}, {"xmlparse", C},
	{"xmlpi", C}, {"xmlroot", C}, {"xmlserialize", C}, {"xmltable", C},
};
#undef C
#undef T
#undef R

/* keywords[] by first letter and length: up to KW_BUCKET indexes each (the
 * fullest holds 5), built once. */
#define KW_MAXLEN 17            /* current_timestamp */
#define KW_BUCKET 6
static uint8_t kw_index[26][KW_MAXLEN + 1][KW_BUCKET];
static uint8_t kw_count[26][KW_MAXLEN + 1];
static bool kw_built;

static void build_index(void)
{
	for (size_t k = 0; k < sizeof(keywords) / sizeof(keywords[0]); k++) {
		int c = keywords[k].word[0] - 'a';
		size_t len = strlen(keywords[k].word);

		if (c >= 0 && c < 26 && len <= KW_MAXLEN && kw_count[c][len] < KW_BUCKET)
			kw_index[c][len][kw_count[c][len]++] = (uint8_t)k;
	}
	kw_built = true;
}

enum sql_kw sql_keyword(const char *w, size_t len)
{
	unsigned char c;

	if (len == 0 || len > KW_MAXLEN)
		return SQL_KW_NONE;
	c = lower((unsigned char)w[0]);
	if (c < 'a' || c > 'z')
		return SQL_KW_NONE;
	if (!kw_built)
		build_index();
	for (int k = 0; k < kw_count[c - 'a'][len]; k++) {
		const char *kw = keywords[kw_index[c - 'a'][len][k]].word;
		size_t i = 1;

		while (i < len && kw[i] == (char)lower((unsigned char)w[i]))
			i++;
		if (i == len)
			return keywords[kw_index[c - 'a'][len][k]].kw;
	}
	return SQL_KW_NONE;
}

/* ---- identifier truncation ---- */

static size_t utf8_mblen(unsigned char c)
{
	if ((c & 0x80) == 0)
		return 1;
	if ((c & 0xe0) == 0xc0)
		return 2;
	if ((c & 0xf0) == 0xe0)
		return 3;
	if ((c & 0xf8) == 0xf0)
		return 4;
	return 1;
}

size_t sql_ident_cliplen(const char *name, size_t len)
{
	size_t clen = 0;

	if (len <= SQL_IDENT_MAX)
		return len;
	/* pg_mbcliplen: whole characters by their lead byte, up to the limit. */
	while (clen < len) {
		size_t l = utf8_mblen((unsigned char)name[clen]);
		if (clen + l > SQL_IDENT_MAX)
			break;
		clen += l;
		if (clen == SQL_IDENT_MAX)
			break;
	}
	return clen;
}

/* ---- decoded output: a bounded buffer (or none) plus a UTF-8 verifier ---- */

struct out {
	char *buf;              /* NULL: count only */
	size_t cap;
	size_t n;               /* bytes produced, written or not */
	bool check;             /* verify UTF-8 (E'' strings only) */
	unsigned char lo, hi;   /* allowed range of the next continuation byte */
	int need;               /* continuation bytes still expected */
	bool bad_utf8;
};

static void put(struct out *o, unsigned char c)
{
	if (o->buf && o->n < o->cap)
		o->buf[o->n] = (char)c;
	o->n++;
	if (!o->check)
		return;
	if (o->need > 0) {
		if (c < o->lo || c > o->hi)
			o->bad_utf8 = true;
		o->lo = 0x80;
		o->hi = 0xbf;
		o->need--;
		return;
	}
	o->lo = 0x80;
	o->hi = 0xbf;
	if (c == 0 || (c >= 0x80 && c < 0xc2) || c > 0xf4)
		o->bad_utf8 = true;
	else if (c >= 0xe0 && c < 0xf0) {
		o->need = 2;
		if (c == 0xe0)
			o->lo = 0xa0;
		else if (c == 0xed)
			o->hi = 0x9f;
	} else if (c >= 0xf0) {
		o->need = 3;
		if (c == 0xf0)
			o->lo = 0x90;
		else if (c == 0xf4)
			o->hi = 0x8f;
	} else if (c >= 0xc2)
		o->need = 1;
}

/* Bytes copied as they are (no UTF-8 check). */
static void put_run(struct out *o, const char *b, size_t n)
{
	if (o->buf && o->n < o->cap) {
		size_t room = o->cap - o->n;
		memcpy(o->buf + o->n, b, n < room ? n : room);
	}
	o->n += n;
}

bool sql_utf8_valid(const char *s, size_t len)
{
	struct out o = {.check = true};
	size_t i = 0;

	while (i < len) {
		/* ASCII runs need no state: eight bytes at a time while none has
		 * its high bit set or is NUL */
		while (o.need == 0 && len - i >= 8) {
			uint64_t w;

			memcpy(&w, s + i, 8);
			if ((w & 0x8080808080808080ULL) || ((w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL))
				break;
			i += 8;
		}
		while (i < len && o.need == 0 && s[i] > 0 && (unsigned char)s[i] < 0x80)
			i++;
		if (i < len)
			put(&o, (unsigned char)s[i++]);
		if (o.bad_utf8)
			return false;
	}
	return o.need == 0;
}

static bool utf8_ok(const struct out *o)
{
	return !o->bad_utf8 && o->need == 0;
}

static bool put_code(struct out *o, uint32_t cp)
{
	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return false;
	if (cp < 0x80)
		put(o, (unsigned char)cp);
	else if (cp < 0x800) {
		put(o, (unsigned char)(0xc0 | (cp >> 6)));
		put(o, (unsigned char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		put(o, (unsigned char)(0xe0 | (cp >> 12)));
		put(o, (unsigned char)(0x80 | ((cp >> 6) & 0x3f)));
		put(o, (unsigned char)(0x80 | (cp & 0x3f)));
	} else {
		put(o, (unsigned char)(0xf0 | (cp >> 18)));
		put(o, (unsigned char)(0x80 | ((cp >> 12) & 0x3f)));
		put(o, (unsigned char)(0x80 | ((cp >> 6) & 0x3f)));
		put(o, (unsigned char)(0x80 | (cp & 0x3f)));
	}
	return true;
}

static bool is_high_surrogate(uint32_t c)
{
	return c >= 0xd800 && c <= 0xdbff;
}

static bool is_low_surrogate(uint32_t c)
{
	return c >= 0xdc00 && c <= 0xdfff;
}

static uint32_t surrogate_pair(uint32_t hi, uint32_t lo)
{
	return ((hi & 0x3ff) << 10) + 0x10000 + (lo & 0x3ff);
}

/* ---- U&'' / U&"" escapes, applied to the literal's characters (parser.c) ---- */

struct udec {
	unsigned char esc;
	int state;          /* 0 plain, 1 after the escape char, 2 in hex digits */
	int ndig, need;
	uint32_t acc, pair;
	bool bad;
};

static void udec_code(struct udec *u, struct out *o, uint32_t cp)
{
	if (cp == 0 || cp > 0x10ffff) {
		u->bad = true;
		return;
	}
	if (u->pair) {
		if (!is_low_surrogate(cp)) {
			u->bad = true;
			return;
		}
		cp = surrogate_pair(u->pair, cp);
		u->pair = 0;
	} else if (is_low_surrogate(cp)) {
		u->bad = true;
		return;
	}
	if (is_high_surrogate(cp))
		u->pair = cp;
	else if (!put_code(o, cp))
		u->bad = true;
}

static void udec_feed(struct udec *u, struct out *o, unsigned char c)
{
	switch (u->state) {
	case 0:
		if (c == u->esc)
			u->state = 1;
		else if (u->pair)
			u->bad = true;
		else
			put(o, c);
		return;
	case 1:
		if (c == u->esc) {
			if (u->pair)
				u->bad = true;
			put(o, c);
			u->state = 0;
		} else if (hexval(c) >= 0) {
			u->acc = (uint32_t)hexval(c);
			u->ndig = 1;
			u->need = 4;
			u->state = 2;
		} else if (c == '+') {
			u->acc = 0;
			u->ndig = 0;
			u->need = 6;
			u->state = 2;
		} else
			u->bad = true;
		return;
	default:
		if (hexval(c) < 0) {
			u->bad = true;
			return;
		}
		u->acc = u->acc * 16 + (uint32_t)hexval(c);
		if (++u->ndig == u->need) {
			u->state = 0;
			udec_code(u, o, u->acc);
		}
		return;
	}
}

static bool udec_done(const struct udec *u)
{
	return !u->bad && u->state == 0 && u->pair == 0;
}

/* ---- quoted literals ---- */

/* After a closing quote at pos-1: if whitespace holding a newline and then a
 * quote follow, the literal continues after that quote. libpg_query (our
 * oracle) rejects comments there although the server skips "--" comments:
 * we do not continue across them, so such text is never intercepted. */
static size_t continuation(const char *s, size_t len, size_t pos)
{
	bool newline = false;

	while (pos < len && is_space((unsigned char)s[pos])) {
		if (s[pos] == '\n' || s[pos] == '\r')
			newline = true;
		pos++;
	}
	if (newline && pos < len && s[pos] == '\'')
		return pos + 1;
	return SIZE_MAX;
}

/* Reads a '' or "" literal whose body starts at pos: doubled quotes, and for
 * strings (cont) continuations. Characters go to u when given, else to o.
 * Returns the position after the closing quote, or SIZE_MAX. */
static size_t walk_quoted(const char *s, size_t len, size_t pos, char q, bool cont,
			  struct udec *u, struct out *o)
{
	for (;;) {
		const char *e = pos < len ? memchr(s + pos, q, len - pos) : NULL;
		if (!e)
			return SIZE_MAX;
		size_t stop = (size_t)(e - s);
		if (memchr(s + pos, '\0', stop - pos))
			return SIZE_MAX;
		if (u)
			for (; pos < stop; pos++)
				udec_feed(u, o, (unsigned char)s[pos]);
		else
			put_run(o, s + pos, stop - pos);
		pos = stop + 1;
		if (pos < len && s[pos] == q) {
			if (u)
				udec_feed(u, o, (unsigned char)q);
			else
				put(o, (unsigned char)q);
			pos++;
			continue;
		}
		size_t next = cont ? continuation(s, len, pos) : SIZE_MAX;
		if (next == SIZE_MAX)
			return pos;
		pos = next;
	}
}

static bool hex_run(const char *s, size_t len, size_t pos, int n, uint32_t *v)
{
	*v = 0;
	if (pos + (size_t)n > len)
		return false;
	for (int i = 0; i < n; i++) {
		int h = hexval((unsigned char)s[pos + (size_t)i]);
		if (h < 0)
			return false;
		*v = *v * 16 + (uint32_t)h;
	}
	return true;
}

/* \u or \U escape at pos (the backslash): its code point and length. */
static bool unicode_escape(const char *s, size_t len, size_t pos, uint32_t *cp, size_t *n)
{
	if (pos + 1 >= len)
		return false;
	if (s[pos + 1] == 'u') {
		*n = 6;
		return hex_run(s, len, pos + 2, 4, cp);
	}
	if (s[pos + 1] == 'U') {
		*n = 10;
		return hex_run(s, len, pos + 2, 8, cp);
	}
	return false;
}

/* Reads an E'' literal whose body starts at pos. Returns the position after
 * the closing quote, or SIZE_MAX when PostgreSQL would reject it. */
static size_t walk_escape(const char *s, size_t len, size_t pos, struct out *o)
{
	bool non_ascii = false;

	o->check = true;
	for (;;) {
		if (pos >= len || s[pos] == '\0')
			return SIZE_MAX;
		unsigned char c = (unsigned char)s[pos];
		if (c == '\'') {
			if (pos + 1 < len && s[pos + 1] == '\'') {
				put(o, '\'');
				pos += 2;
				continue;
			}
			size_t next = continuation(s, len, pos + 1);
			if (next == SIZE_MAX)
				break;
			pos = next;
			continue;
		}
		if (c != '\\') {
			put(o, c);
			pos++;
			continue;
		}
		if (pos + 1 >= len || s[pos + 1] == '\0')
			return SIZE_MAX;
		unsigned char d = (unsigned char)s[pos + 1];
		if (d >= '0' && d <= '7') {
			unsigned v = 0;
			size_t i = pos + 1;
			while (i < len && i < pos + 4 && s[i] >= '0' && s[i] <= '7')
				v = v * 8 + (unsigned)(s[i++] - '0');
			put(o, (unsigned char)(v & 0xff));
			non_ascii |= (v & 0xff) == 0 || (v & 0x80);
			pos = i;
		} else if (d == 'x' && pos + 2 < len && hexval((unsigned char)s[pos + 2]) >= 0) {
			unsigned v = (unsigned)hexval((unsigned char)s[pos + 2]);
			size_t i = pos + 3;
			if (i < len && hexval((unsigned char)s[i]) >= 0)
				v = v * 16 + (unsigned)hexval((unsigned char)s[i++]);
			put(o, (unsigned char)v);
			non_ascii |= v == 0 || (v & 0x80);
			pos = i;
		} else if (d == 'u' || d == 'U') {
			uint32_t cp, lo;
			size_t n, m;
			if (!unicode_escape(s, len, pos, &cp, &n))
				return SIZE_MAX;
			pos += n;
			if (is_high_surrogate(cp)) {
				/* The low half must follow at once. */
				if (pos >= len || s[pos] != '\\' ||
				    !unicode_escape(s, len, pos, &lo, &m) || !is_low_surrogate(lo))
					return SIZE_MAX;
				pos += m;
				cp = surrogate_pair(cp, lo);
			}
			if (!put_code(o, cp))
				return SIZE_MAX;
		} else {
			switch (d) {
			case 'b': put(o, '\b'); break;
			case 'f': put(o, '\f'); break;
			case 'n': put(o, '\n'); break;
			case 'r': put(o, '\r'); break;
			case 't': put(o, '\t'); break;
			default:
				put(o, d);
				non_ascii |= d >= 0x80;
			}
			pos += 2;
		}
	}
	/* Escapes that made bytes must leave valid UTF-8 (pg_verifymbstr). */
	if (non_ascii && !utf8_ok(o))
		return SIZE_MAX;
	return pos + 1;
}

/* The end of a $tag$...$tag$ string starting at pos, or SIZE_MAX; *body and
 * *body_end get its content. Not a dollar quote at all: *body is SIZE_MAX. */
static size_t dollar_end(const char *s, size_t len, size_t pos, size_t *body, size_t *body_end)
{
	size_t p = pos + 1;

	*body = SIZE_MAX;
	if (p < len && is_ident_start((unsigned char)s[p])) {
		p++;
		while (p < len && (is_ident_start((unsigned char)s[p]) || is_digit((unsigned char)s[p])))
			p++;
	}
	if (p >= len || s[p] != '$')
		return SIZE_MAX;
	size_t taglen = p + 1 - pos;
	*body = p + 1;
	const char *close = memmem(s + *body, len - *body, s + pos, taglen);
	if (!close || memchr(s + *body, '\0', (size_t)(close - (s + *body))))
		return SIZE_MAX;
	*body_end = (size_t)(close - s);
	return *body_end + taglen;
}

/* UESCAPE 'c' after a U& literal ending at pos: the string may be any plain,
 * E'' or dollar-quoted constant of one character. libpg_query only takes
 * UESCAPE with plain whitespace around it. Returns the end of the clause (pos
 * when there is none) and the escape character, or SIZE_MAX when invalid. */
static size_t uescape_clause(const char *s, size_t len, size_t pos, char *esc)
{
	size_t p = pos, end = SIZE_MAX;
	char one[2];
	struct out o = {.buf = one, .cap = sizeof(one)};

	*esc = '\\';
	while (p < len && is_space((unsigned char)s[p]))
		p++;
	if (p + 7 > len)
		return pos;
	for (size_t i = 0; i < 7; i++)
		if (lower((unsigned char)s[p + i]) != (unsigned char)"uescape"[i])
			return pos;
	p += 7;
	if (p < len && is_ident_cont((unsigned char)s[p]))
		return pos;
	while (p < len && is_space((unsigned char)s[p]))
		p++;
	if (p < len && s[p] == '\'') {
		end = walk_quoted(s, len, p + 1, '\'', true, NULL, &o);
	} else if (p + 1 < len && (s[p] == 'e' || s[p] == 'E') && s[p + 1] == '\'') {
		end = walk_escape(s, len, p + 2, &o);
	} else if (p < len && s[p] == '$') {
		size_t body, body_end;
		end = dollar_end(s, len, p, &body, &body_end);
		if (end != SIZE_MAX)
			for (size_t i = body; i < body_end; i++)
				put(&o, (unsigned char)s[i]);
	}
	if (end == SIZE_MAX || o.n != 1)
		return SIZE_MAX;
	unsigned char c = (unsigned char)one[0];
	if (hexval(c) >= 0 || c == '+' || c == '\'' || c == '"' || is_space(c) || c >= 0x80)
		return SIZE_MAX;
	*esc = (char)c;
	return end;
}

/* ---- whitespace and comments ---- */

size_t sql_skip_space(const char *s, size_t len, size_t pos, bool *bad)
{
	*bad = false;
	while (pos < len) {
		unsigned char c = (unsigned char)s[pos];
		if (is_space(c)) {
			pos++;
		} else if (c == '-' && pos + 1 < len && s[pos + 1] == '-') {
			while (pos < len && s[pos] != '\n' && s[pos] != '\r')
				pos++;
		} else if (c == '/' && pos + 1 < len && s[pos + 1] == '*') {
			size_t depth = 1;
			pos += 2;
			while (depth > 0) {
				if (pos + 1 >= len) {
					*bad = true;
					return len;
				}
				if (s[pos] == '/' && s[pos + 1] == '*') {
					depth++;
					pos += 2;
				} else if (s[pos] == '*' && s[pos + 1] == '/') {
					depth--;
					pos += 2;
				} else {
					pos++;
				}
			}
		} else {
			break;
		}
	}
	return pos;
}

/* ---- tokens ---- */

void sql_lex_init(struct sql_lexer *lx, const char *s, size_t len)
{
	lx->s = s;
	lx->len = len;
	lx->pos = 0;
	lx->stop = SQL_WORD;
	lx->scs_off = false;
}

/* Numbers: integer, decimal, real; junk after them is an error (PG 15). */
static enum sql_tok lex_number(const char *s, size_t len, size_t *pos)
{
	size_t p = *pos;
	enum sql_tok t = SQL_INTEGER;

	while (p < len && is_digit((unsigned char)s[p]))
		p++;
	if (p < len && s[p] == '.' && !(p + 1 < len && s[p + 1] == '.')) {
		t = SQL_NUMERIC;
		p++;
		while (p < len && is_digit((unsigned char)s[p]))
			p++;
	}
	if (p < len && (s[p] == 'e' || s[p] == 'E')) {
		size_t q = p + 1;
		if (q < len && (s[q] == '+' || s[q] == '-'))
			q++;
		if (q >= len || !is_digit((unsigned char)s[q]))
			return SQL_ERROR;
		while (q < len && is_digit((unsigned char)s[q]))
			q++;
		p = q;
		t = SQL_NUMERIC;
	}
	if (p < len && is_ident_start((unsigned char)s[p]))
		return SQL_ERROR;
	*pos = p;
	return t;
}

/* Operator run at pos, cut at an embedded comment start, trailing + and -
 * dropped unless the operator has a character SQL operators lack. */
static __attribute__((noinline)) size_t lex_operator(const char *s, size_t len, size_t pos)
{
	size_t n = 0;

	while (pos + n < len && is_op_char((unsigned char)s[pos + n])) {
		if (n > 0 && ((s[pos + n - 1] == '/' && s[pos + n] == '*') ||
			      (s[pos + n - 1] == '-' && s[pos + n] == '-'))) {
			n--;
			break;
		}
		n++;
	}
	if (n > 1 && (s[pos + n - 1] == '+' || s[pos + n - 1] == '-')) {
		bool special = false;
		for (size_t i = 0; i + 1 < n; i++)
			if (strchr("~!@#^&|`?%", s[pos + i]))
				special = true;
		if (!special) {
			do
				n--;
			while (n > 1 && (s[pos + n - 1] == '+' || s[pos + n - 1] == '-'));
		}
	}
	return n;
}

static enum sql_tok finish(struct sql_lexer *lx, struct sql_token *t, enum sql_tok type, size_t end)
{
	t->type = type;
	t->end = end;
	if (type == SQL_ERROR || type == SQL_EOF) {
		lx->stop = type;
		t->end = t->pos;
	} else {
		lx->pos = end;
	}
	return type;
}

/* A quoted literal whose opening quote is at q (the token starts at t->pos).
 * (This, lex_dollar and lex_operator are kept out of sql_lex_next: inlined,
 * they made every token pay for their registers.) */
static __attribute__((noinline)) enum sql_tok lex_quoted(struct sql_lexer *lx, struct sql_token *t, size_t q, enum sql_str kind)
{
	const char *s = lx->s;
	size_t len = lx->len;
	char quote = s[q];
	bool ident = quote == '"';
	struct out o = {0};
	size_t end;

	t->str = kind;
	t->body = q + 1;
	if (kind == SQL_STR_ESCAPE) {
		end = walk_escape(s, len, q + 1, &o);
	} else {
		end = walk_quoted(s, len, q + 1, quote, !ident, NULL, &o);
	}
	if (end == SIZE_MAX || (ident && o.n == 0))
		return finish(lx, t, SQL_ERROR, 0);
	t->body_end = end - 1;
	if (kind == SQL_STR_UNICODE) {
		char esc;
		size_t uend = uescape_clause(s, len, end, &esc);
		if (uend == SIZE_MAX)
			return finish(lx, t, SQL_ERROR, 0);
		struct udec u = {.esc = (unsigned char)esc};
		o = (struct out){0};
		walk_quoted(s, len, q + 1, quote, !ident, &u, &o);
		if (!udec_done(&u))
			return finish(lx, t, SQL_ERROR, 0);
		t->esc = esc;
		end = uend;
	}
	t->declen = o.n;
	if (ident && o.n > SQL_IDENT_MAX) {
		char head[SQL_IDENT_MAX + 8];
		struct out h = {.buf = head, .cap = sizeof(head)};
		struct udec u = {.esc = (unsigned char)t->esc};
		walk_quoted(s, len, q + 1, quote, false, kind == SQL_STR_UNICODE ? &u : NULL, &h);
		t->declen = sql_ident_cliplen(head, sizeof(head));
	}
	return finish(lx, t, ident ? SQL_QIDENT : SQL_STRING, end);
}

/* $tag$...$tag$ at pos; a '$' that starts no dollar quote is a token alone. */
static __attribute__((noinline)) enum sql_tok lex_dollar(struct sql_lexer *lx, struct sql_token *t, size_t pos)
{
	size_t body, body_end;
	size_t end = dollar_end(lx->s, lx->len, pos, &body, &body_end);

	if (body == SIZE_MAX)
		return finish(lx, t, SQL_OTHER, pos + 1);   /* PostgreSQL returns '$' alone */
	if (end == SIZE_MAX)
		return finish(lx, t, SQL_ERROR, 0);
	t->str = SQL_STR_DOLLAR;
	t->body = body;
	t->body_end = body_end;
	t->declen = body_end - body;
	return finish(lx, t, SQL_STRING, end);
}

enum sql_tok sql_lex_next(struct sql_lexer *lx, struct sql_token *t)
{
	const char *s = lx->s;
	size_t len = lx->len;
	bool bad;

	memset(t, 0, sizeof(*t));
	if (lx->stop != SQL_WORD) {
		t->type = lx->stop;
		t->pos = t->end = lx->pos;
		return t->type;
	}
	size_t p = lx->pos;
	/* (most tokens follow one space or none: no call for those) */
	if (p < len && s[p] == ' ')
		p++;
	if (p < len && (is_space((unsigned char)s[p]) || s[p] == '-' || s[p] == '/')) {
		p = sql_skip_space(s, len, p, &bad);
		if (bad) {
			lx->pos = t->pos = p;
			return finish(lx, t, SQL_ERROR, 0);
		}
	}
	lx->pos = p;
	t->pos = p;
	if (p >= len)
		return finish(lx, t, SQL_EOF, 0);

	unsigned char c = (unsigned char)s[p];
/* (the next two bytes, read only by the cases that look at them) */
#define AT1 (p + 1 < len ? (unsigned char)s[p + 1] : 0)
#define AT2 (p + 2 < len ? (unsigned char)s[p + 2] : 0)
	t->ch = (char)c;
	/* (one jump on the first byte: the prefixed literals and punctuation;
	 * digits, words and operators after) */
	switch (c) {
	case '\0':
		return finish(lx, t, SQL_ERROR, 0);
	case '\'':
		return lex_quoted(lx, t, p, lx->scs_off ? SQL_STR_ESCAPE : SQL_STR_PLAIN);
	case '"':
		return lex_quoted(lx, t, p, SQL_STR_PLAIN);
	case 'e':
	case 'E':
		if (AT1 == '\'')
			return lex_quoted(lx, t, p + 1, SQL_STR_ESCAPE);
		break;
	case 'n':
	case 'N':
		if (AT1 == '\'')        /* with scs off, read as E'' */
			return lex_quoted(lx, t, p + 1, lx->scs_off ? SQL_STR_ESCAPE : SQL_STR_NCHAR);
		break;
	case 'u':
	case 'U':
		if (AT1 == '&' && AT2 == '\'' && lx->scs_off)
			return finish(lx, t, SQL_ERROR, 0);  /* "unsafe use of string constant with Unicode escapes" */
		if (AT1 == '&' && (AT2 == '\'' || AT2 == '"'))
			return lex_quoted(lx, t, p + 2, SQL_STR_UNICODE);
		break;
	case 'b':
	case 'B':
	case 'x':
	case 'X':
		if (AT1 == '\'') {
			struct out o = {0};
			size_t end = walk_quoted(s, len, p + 2, '\'', true, NULL, &o);
			if (end == SIZE_MAX)
				return finish(lx, t, SQL_ERROR, 0);
			return finish(lx, t, SQL_BITSTRING, end);
		}
		break;
	case '$':
		if (is_digit(AT1)) {
			size_t q = p + 1;
			while (q < len && is_digit((unsigned char)s[q]))
				q++;
			if (q < len && is_ident_start((unsigned char)s[q]))
				return finish(lx, t, SQL_ERROR, 0);
			return finish(lx, t, SQL_PARAM, q);
		}
		return lex_dollar(lx, t, p);
	case ':':
		if (AT1 == ':')
			return finish(lx, t, SQL_TYPECAST, p + 2);
		if (AT1 == '=')
			return finish(lx, t, SQL_OP, p + 2);
		return finish(lx, t, SQL_PUNCT, p + 1);
	case '.':
		if (is_digit(AT1))
			break;              /* a number */
		return finish(lx, t, AT1 == '.' ? SQL_OP : SQL_PUNCT, p + (AT1 == '.' ? 2 : 1));
	case '(':
	case ')':
	case '[':
	case ']':
	case ',':
	case ';':
		return finish(lx, t, SQL_PUNCT, p + 1);
	default:
		break;
	}
	if (is_digit(c) || c == '.') {
		size_t q = p;
		enum sql_tok nt = lex_number(s, len, &q);
		return finish(lx, t, nt, q);
	}
	if (is_ident_start(c)) {
		size_t q = p + 1;
		while (q < len && is_ident_cont((unsigned char)s[q]))
			q++;
		t->body = p;
		t->body_end = q;
		t->declen = q - p <= SQL_IDENT_MAX ? q - p : sql_ident_cliplen(s + p, q - p);
		return finish(lx, t, SQL_WORD, q);
	}
	if (is_op_char(c))
		return finish(lx, t, SQL_OP, p + lex_operator(s, len, p));
	return finish(lx, t, SQL_OTHER, p + 1);
#undef AT1
#undef AT2
}

void sql_token_decode(const struct sql_lexer *lx, const struct sql_token *t, char *dst)
{
	const char *s = lx->s;
	size_t len = lx->len;
	struct out o = {.buf = dst, .cap = t->declen};

	if (t->type == SQL_WORD || t->str == SQL_STR_DOLLAR) {
		memcpy(dst, s + t->body, t->declen);
		return;
	}
	/* A plain literal whose decoded length is its body's has no doubled
	 * quote and no continuation: its body is its text. */
	if ((t->str == SQL_STR_PLAIN || t->str == SQL_STR_NCHAR) && t->body_end - t->body == t->declen) {
		memcpy(dst, s + t->body, t->declen);
		return;
	}
	char quote = s[t->body - 1];
	if (t->str == SQL_STR_ESCAPE) {
		(void)walk_escape(s, len, t->body, &o);
	} else if (t->str == SQL_STR_UNICODE) {
		struct udec u = {.esc = (unsigned char)t->esc};
		(void)walk_quoted(s, len, t->body, quote, quote == '\'', &u, &o);
	} else {
		(void)walk_quoted(s, len, t->body, quote, quote == '\'', NULL, &o);
	}
}
