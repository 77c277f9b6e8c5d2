/* The INSERT recognizer's type names: the type of a typed literal or a cast, normalized as PostgreSQL names it. */
#include "protocol/insparse.h"

#include <stdint.h>
#include <stdlib.h>

const char ins_cast_bpchar[] = "pg_catalog.bpchar";
const char ins_cast_bit[] = "pg_catalog.bit";

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

const char *const ins_interval_fields[] = {
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
			*special = ins_cast_bit;    /* bit '..' has no length limit; '..'::bit is bit(1) */
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
			*special = ins_cast_bpchar; /* char '..' has no length limit; '..'::char is char(1) */
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
		if (r == INS_OK && cast_mode && word_in(p, ins_interval_fields))
			r = INS_EXPRESSION;     /* a qualifier changes how the text is read */
	} else {
		*matched = false;
	}
	return r;
}

enum ins_reason ins_parse_type(struct parser *p, bool cast_mode, const char **cast, bool *interval)
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
