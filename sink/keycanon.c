/* Conflict keys: canonical typed values and hashing. */
#include "sink/keycanon.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Tags of the canonical forms: different kinds and raw text never compare equal. */
enum {
	TAG_RAW = 'r', TAG_INT = 'i', TAG_NUMERIC = 'n', TAG_FLOAT = 'f', TAG_BOOL = 'b',
	TAG_UUID = 'u', TAG_BPCHAR = 'c', TAG_DATE = 'd', TAG_TS = 't', TAG_TSLOCAL = 'l',
	TAG_TSUTC = 'z', TAG_NULL = 'N', TAG_TIME = 'h',
};

enum key_kind key_kind_for_type(uint32_t typoid)
{
	switch (typoid) {
	case 21: return KEY_INT2;
	case 23: return KEY_INT4;
	case 20: return KEY_INT8;
	case 1700: return KEY_NUMERIC;
	case 700: return KEY_FLOAT4;
	case 701: return KEY_FLOAT8;
	case 16: return KEY_BOOL;
	case 2950: return KEY_UUID;
	case 1042: return KEY_BPCHAR;
	case 1082: return KEY_DATE;
	case 1114: return KEY_TIMESTAMP;
	case 1184: return KEY_TIMESTAMPTZ;
	case 1083: return KEY_TIME;
	case 25: case 1043: return KEY_TEXT;
	case 19: return KEY_NAME;
	default: return KEY_RAW;
	}
}

bool key_kind_parses(enum key_kind k)
{
	return k != KEY_RAW && k != KEY_TEXT && k != KEY_NAME && k != KEY_BPCHAR;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Trims PostgreSQL's whitespace from both ends. */
static void trim(const char **s, size_t *n)
{
	while (*n > 0 && is_space(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && is_space((*s)[*n - 1]))
		(*n)--;
}

static bool ci_equal(const char *s, size_t n, const char *word)
{
	size_t i;

	if (strlen(word) != n)
		return false;
	for (i = 0; i < n; i++)
		if (lower(s[i]) != word[i])
			return false;
	return true;
}

bool key_parse_int(const char *s, size_t n, int64_t min, int64_t max, int64_t *out)
{
	bool neg = false;
	uint64_t v = 0, lim;
	size_t i = 0;

	trim(&s, &n);
	if (n > 0 && (s[0] == '-' || s[0] == '+')) {
		neg = s[0] == '-';
		i++;
	}
	if (i == n)
		return false;
	lim = neg ? (uint64_t)(-(min + 1)) + 1 : (uint64_t)max;
	/* (up to 18 digits cannot overflow 64 bits: checked against lim once) */
	if (n - i <= 18) {
		for (; i < n; i++) {
			if (!is_digit(s[i]))
				return false;
			v = v * 10 + (uint64_t)(s[i] - '0');
		}
		if (v > lim)
			return false;
		i = n;
	}
	for (; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		if (v > (lim - (uint64_t)(s[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (neg)
		*out = v == 0 ? 0 : -(int64_t)(v - 1) - 1;
	else
		*out = (int64_t)v;
	return true;
}

bool key_parse_bool(const char *s, size_t n, bool *out)
{
	static const struct { const char *word; size_t minlen; bool v; } words[] = {
		{ "true", 1, true }, { "false", 1, false }, { "yes", 1, true }, { "no", 1, false },
		{ "on", 2, true }, { "off", 2, false }, { "1", 1, true }, { "0", 1, false },
	};
	size_t w, i;

	trim(&s, &n);
	for (w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
		if (n < words[w].minlen || n > strlen(words[w].word))
			continue;
		for (i = 0; i < n && lower(s[i]) == words[w].word[i]; i++)
			;
		if (i == n) {
			*out = words[w].v;
			return true;
		}
	}
	return false;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

bool key_parse_uuid(const char *s, size_t n, uint8_t out[16])
{
	size_t p = 0;
	bool braces = false;
	int i, hi, lo;

	if (p < n && s[p] == '{') {
		braces = true;
		p++;
	}
	for (i = 0; i < 16; i++) {
		if (p + 2 > n)
			return false;
		hi = hexval(s[p]);
		lo = hexval(s[p + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi * 16 + lo);
		p += 2;
		if (p < n && s[p] == '-' && (i % 2) == 1 && i < 15)
			p++;
	}
	if (braces) {
		if (p >= n || s[p] != '}')
			return false;
		p++;
	}
	return p == n;
}

bool key_norm_numeric(const char *s, size_t n, struct buf *out)
{
	const char *digits;
	size_t i = 0, start, nd, lead, trail;
	int64_t exp = 0, e = 0;
	bool neg = false, any = false, eneg = false;
	char *tmp, *d;

	trim(&s, &n);
	if (ci_equal(s, n, "nan")) {
		buf_puts(out, "NaN");
		return true;
	}
	if (ci_equal(s, n, "infinity") || ci_equal(s, n, "+infinity")) {
		buf_puts(out, "+Inf");
		return true;
	}
	if (ci_equal(s, n, "-infinity")) {
		buf_puts(out, "-Inf");
		return true;
	}
	if (i < n && (s[i] == '-' || s[i] == '+')) {
		neg = s[i] == '-';
		i++;
	}
	tmp = malloc(n + 1);
	if (tmp == NULL) {
		out->failed = true;
		return false;
	}
	nd = 0;
	for (; i < n && is_digit(s[i]); i++) {
		tmp[nd++] = s[i];
		any = true;
	}
	if (i < n && s[i] == '.') {
		i++;
		for (; i < n && is_digit(s[i]); i++) {
			tmp[nd++] = s[i];
			exp--;
			any = true;
		}
	}
	if (!any)
		goto fail;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '-' || s[i] == '+')) {
			eneg = s[i] == '-';
			i++;
		}
		if (i == n)
			goto fail;
		for (; i < n; i++) {
			if (!is_digit(s[i]) || e > 100000000)
				goto fail;
			e = e * 10 + (s[i] - '0');
		}
		exp += eneg ? -e : e;
	}
	if (i != n)
		goto fail;
	digits = tmp;
	for (lead = 0; lead < nd && digits[lead] == '0'; lead++)
		;
	if (lead == nd) {
		buf_putc(out, '0');
		free(tmp);
		return true;
	}
	start = lead;
	d = tmp + nd;
	for (trail = 0; d - trail - 1 >= tmp + start && *(d - trail - 1) == '0'; trail++)
		;
	exp += (int64_t)trail;
	if (neg)
		buf_putc(out, '-');
	buf_append(out, digits + start, nd - start - trail);
	buf_printf(out, "e%lld", (long long)exp);
	free(tmp);
	return true;
fail:
	free(tmp);
	return false;
}

/* Accepts [sign] digits [. digits] [e [sign] digits] or the special words, the
 * forms whose value strtod and PostgreSQL agree on. */
static bool float_text(const char *s, size_t n, char *tmp, bool *special)
{
	size_t i = 0;
	bool any = false;

	*special = false;
	if (ci_equal(s, n, "nan") || ci_equal(s, n, "infinity") || ci_equal(s, n, "+infinity") ||
	    ci_equal(s, n, "-infinity") || ci_equal(s, n, "inf") || ci_equal(s, n, "+inf") ||
	    ci_equal(s, n, "-inf")) {
		*special = true;
	} else {
		if (i < n && (s[i] == '-' || s[i] == '+'))
			i++;
		for (; i < n && is_digit(s[i]); i++)
			any = true;
		if (i < n && s[i] == '.')
			for (i++; i < n && is_digit(s[i]); i++)
				any = true;
		if (!any)
			return false;
		if (i < n && (s[i] == 'e' || s[i] == 'E')) {
			i++;
			if (i < n && (s[i] == '-' || s[i] == '+'))
				i++;
			if (i == n)
				return false;
			for (; i < n; i++)
				if (!is_digit(s[i]))
					return false;
		}
		if (i != n)
			return false;
	}
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	return true;
}

static bool canon_float(const char *s, size_t n, bool single, struct buf *out)
{
	char tmp[512];
	bool special;
	double d;
	float f;
	char *end;

	trim(&s, &n);
	if (n >= sizeof(tmp) || !float_text(s, n, tmp, &special))
		return false;
	errno = 0;
	if (single) {
		f = strtof(tmp, &end);
		d = f;
	} else {
		d = strtod(tmp, &end);
	}
	if (*end != '\0' || (errno == ERANGE && !special))
		return false;
	if (isnan(d)) {
		buf_putc(out, TAG_FLOAT);
		buf_puts(out, "NaN");
		return true;
	}
	if (d == 0)
		d = 0;      /* -0 equals 0 */
	buf_putc(out, TAG_FLOAT);
	buf_append(out, &d, sizeof(d));
	return true;
}

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool digits_at(const char *s, size_t n, size_t p, size_t count, int64_t *v)
{
	size_t i;

	if (p + count > n)
		return false;
	*v = 0;
	for (i = 0; i < count; i++) {
		if (!is_digit(s[p + i]))
			return false;
		*v = *v * 10 + (s[p + i] - '0');
	}
	return true;
}

/* "HH:MM[:SS[.f...]]" at s[*p]: at most six fraction digits (more round in
 * PostgreSQL: the caller keeps the raw text); advances *p past it. */
static bool clock_at(const char *s, size_t n, size_t *p, int64_t *h, int64_t *mi, int64_t *sec,
		     int64_t *frac)
{
	size_t q = *p, fd;

	*sec = *frac = 0;
	if (!digits_at(s, n, q, 2, h) || q + 2 >= n || s[q + 2] != ':' || !digits_at(s, n, q + 3, 2, mi))
		return false;
	q += 5;
	if (q < n && s[q] == ':') {
		if (!digits_at(s, n, q + 1, 2, sec))
			return false;
		q += 3;
		if (q < n && s[q] == '.') {
			q++;
			for (fd = 0; q < n && is_digit(s[q]); q++, fd++) {
				if (fd >= 6)
					return false;
				*frac = *frac * 10 + (s[q] - '0');
			}
			if (fd == 0)
				return false;
			for (; fd < 6; fd++)
				*frac *= 10;
		}
	}
	if (*h > 23 || *mi > 59 || *sec > 59)
		return false;
	*p = q;
	return true;
}

bool key_parse_timestamp(const char *s, size_t n, bool date_only, bool allow_zone, int64_t *usec,
			 bool *zoned)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int64_t y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, zh = 0, zm = 0, dim;
	size_t p = 0;
	int zsign;

	*zoned = false;
	if (!digits_at(s, n, 0, 4, &y) || n < 10 || s[4] != '-' || !digits_at(s, n, 5, 2, &mo) ||
	    s[7] != '-' || !digits_at(s, n, 8, 2, &d))
		return false;
	if (y < 1 || mo < 1 || mo > 12 || d < 1)
		return false;
	dim = mdays[mo - 1] + (mo == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
	if (d > dim)
		return false;
	p = 10;
	if (!date_only) {
		if (p >= n || (s[p] != ' ' && s[p] != 'T'))
			return false;
		p++;
		if (!clock_at(s, n, &p, &h, &mi, &sec, &frac))
			return false;
		if (p < n && allow_zone) {
			if (s[p] == 'Z' || s[p] == 'z') {
				p++;
			} else if (s[p] == '+' || s[p] == '-') {
				zsign = s[p] == '-' ? -1 : 1;
				if (!digits_at(s, n, p + 1, 2, &zh))
					return false;
				p += 3;
				if (p < n && s[p] == ':') {
					if (!digits_at(s, n, p + 1, 2, &zm))
						return false;
					p += 3;
				} else if (p + 2 == n && digits_at(s, n, p, 2, &zm)) {
					p += 2;
				}
				if (zh > 15 || zm > 59)
					return false;
				h -= zsign * zh;
				mi -= zsign * zm;
			} else {
				return false;
			}
			*zoned = true;
		}
	}
	if (p != n)
		return false;
	*usec = ((days_from_civil(y, mo, d) - days_from_civil(2000, 1, 1)) * 86400 + h * 3600 +
		 mi * 60 + sec) * 1000000 + frac;
	return true;
}

bool key_parse_time(const char *s, size_t n, int64_t *usec)
{
	int64_t h, mi, sec, frac;
	size_t p = 0;

	if (!clock_at(s, n, &p, &h, &mi, &sec, &frac) || p != n)
		return false;
	*usec = ((h * 60 + mi) * 60 + sec) * 1000000 + frac;
	return true;
}

static void put_i64(struct buf *out, char tag, int64_t v)
{
	buf_putc(out, tag);
	buf_append(out, &v, sizeof(v));
}

static const int64_t int_lim[][2] = {
	{ -32768, 32767 }, { INT32_MIN, INT32_MAX }, { INT64_MIN, INT64_MAX },
};

void key_token_put(struct buf *tok, const void *p, size_t n)
{
	uint32_t l = (uint32_t)n;

	buf_append(tok, &l, sizeof(l));
	buf_append(tok, p, n);
}

bool key_route_int(enum key_kind k, const char *text, size_t len, uint64_t *route)
{
	unsigned char t[sizeof(uint32_t) + 1 + sizeof(int64_t)];
	uint32_t l = 1 + sizeof(int64_t);
	int64_t v;

	if ((k != KEY_INT2 && k != KEY_INT4 && k != KEY_INT8) ||
	    !key_parse_int(text, len, int_lim[k - KEY_INT2][0], int_lim[k - KEY_INT2][1], &v))
		return false;
	/* key_token_put of put_i64's form, in place */
	memcpy(t, &l, sizeof(l));
	t[sizeof(l)] = TAG_INT;
	memcpy(t + sizeof(l) + 1, &v, sizeof(v));
	*route = key_hash(t, sizeof(t));
	return true;
}

bool key_canon(enum key_kind k, const char *text, size_t len, struct buf *out)
{
	const int64_t (*lim)[2] = int_lim;
	size_t mark = out->len, n;
	int64_t v;
	uint8_t u[16];
	bool b, zoned;

	switch (k) {
	case KEY_INT2:
	case KEY_INT4:
	case KEY_INT8:
		if (key_parse_int(text, len, lim[k - KEY_INT2][0], lim[k - KEY_INT2][1], &v)) {
			put_i64(out, TAG_INT, v);
			return true;
		}
		break;
	case KEY_NUMERIC:
		buf_putc(out, TAG_NUMERIC);
		if (key_norm_numeric(text, len, out))
			return true;
		break;
	case KEY_FLOAT4:
	case KEY_FLOAT8:
		if (canon_float(text, len, k == KEY_FLOAT4, out))
			return true;
		break;
	case KEY_BOOL:
		if (key_parse_bool(text, len, &b)) {
			buf_putc(out, TAG_BOOL);
			buf_putc(out, b ? 't' : 'f');
			return true;
		}
		break;
	case KEY_UUID:
		if (key_parse_uuid(text, len, u)) {
			buf_putc(out, TAG_UUID);
			buf_append(out, u, sizeof(u));
			return true;
		}
		break;
	case KEY_BPCHAR:
		for (n = len; n > 0 && text[n - 1] == ' '; n--)
			;
		buf_putc(out, TAG_BPCHAR);
		buf_append(out, text, n);
		return true;
	case KEY_DATE:
		if (key_parse_timestamp(text, len, true, false, &v, &zoned)) {
			put_i64(out, TAG_DATE, v);
			return true;
		}
		break;
	case KEY_TIMESTAMP:
	case KEY_TIMESTAMPTZ:
		if (key_parse_timestamp(text, len, false, k == KEY_TIMESTAMPTZ, &v, &zoned)) {
			/* a timestamptz without a zone is a local time: its instant
			 * depends on the session's TimeZone, the database reads it */
			put_i64(out, k == KEY_TIMESTAMP ? TAG_TS : zoned ? TAG_TSUTC : TAG_TSLOCAL, v);
			return k == KEY_TIMESTAMP || zoned;
		}
		break;
	case KEY_TIME:
		if (key_parse_time(text, len, &v)) {
			put_i64(out, TAG_TIME, v);
			return true;
		}
		break;
	case KEY_TEXT:
		buf_putc(out, TAG_RAW);
		buf_append(out, text, len);
		return true;
	case KEY_NAME:
		buf_putc(out, TAG_RAW);
		buf_append(out, text, len);
		return len < 64;    /* longer names are cut to NAMEDATALEN - 1 bytes */
	case KEY_RAW:
		break;
	}
	/* Not a form the parser takes exactly: compare the spelling. */
	if (out->len > mark) {
		out->len = mark;
		if (out->data)
			out->data[mark] = '\0';
	}
	buf_putc(out, TAG_RAW);
	buf_append(out, text, len);
	return false;
}

enum key_result key_result_of(const int *cols, int nkey, sg_row row, bool nulls_not_distinct)
{
	for (int i = 0; i < nkey; i++) {
		const struct sg_val *v = &row[cols[i]];

		if (v->state == SG_OMIT || v->state == SG_DEFAULT)
			return KEY_DEFAULTED;
		if (v->state == SG_NULL && !nulls_not_distinct)
			return KEY_NULL;
	}
	return KEY_OK;
}

enum key_result key_build(struct buf *out, const enum key_kind *kinds, const int *cols, int nkey,
			  sg_row row, bool nulls_not_distinct, bool *exact)
{
	const struct sg_val *v;
	enum key_result kr;
	size_t lenpos;
	uint32_t l;
	int i;

	buf_reset(out);
	*exact = true;
	kr = key_result_of(cols, nkey, row, nulls_not_distinct);
	if (kr != KEY_OK)
		return kr;
	for (i = 0; i < nkey; i++) {
		v = &row[cols[i]];
		lenpos = out->len;
		l = 0;
		buf_append(out, &l, sizeof(l));
		if (v->state == SG_NULL)
			buf_putc(out, TAG_NULL);
		else if (!key_canon(kinds[i], v->text, v->len, out))
			*exact = false;
		if (buf_ok(out)) {
			l = (uint32_t)(out->len - lenpos - sizeof(l));
			memcpy(out->data + lenpos, &l, sizeof(l));
		}
	}
	return KEY_OK;
}

uint64_t key_hash(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ULL;
	}
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}
