/* Binary-format Bind parameters of the common types, decoded into the text their input functions read. */
#include "protocol/binval.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "protocol/sqllex.h"

#define USECS_PER_DAY INT64_C(86400000000)
#define USECS_PER_HOUR INT64_C(3600000000)
#define USECS_PER_MINUTE INT64_C(60000000)
/* PostgreSQL's valid ranges (datatype/timestamp.h), from 2000-01-01. */
#define MIN_TIMESTAMP INT64_C(-211813488000000000)
#define END_TIMESTAMP INT64_C(9223371331200000000)
#define MIN_DATE (-2451545)                     /* 4714-11-24 BC */
#define END_DATE (2147483494 - 2451545)         /* 5874898-01-01 */
#define TZDISP_LIMIT (16 * 3600)

/* one-dimensional arrays: array type, element type */
#define ARRAY_TYPES(X) \
	X(1000, OID_BOOL) X(1001, OID_BYTEA) X(1003, OID_NAME) X(1005, OID_INT2) \
	X(1007, OID_INT4) X(1009, OID_TEXT) X(1014, OID_BPCHAR) X(1015, OID_VARCHAR) \
	X(1016, OID_INT8) X(1021, OID_FLOAT4) X(1022, OID_FLOAT8) X(1115, OID_TIMESTAMP) \
	X(1182, OID_DATE) X(1183, OID_TIME) X(1185, OID_TIMESTAMPTZ) X(1187, OID_INTERVAL) \
	X(1231, OID_NUMERIC) X(1270, OID_TIMETZ) X(199, OID_JSON) X(2951, OID_UUID) \
	X(3807, OID_JSONB)

#define ARRAY_ROW(a, e) { a, e },
static const uint32_t array_types[][2] = { ARRAY_TYPES(ARRAY_ROW) };
#undef ARRAY_ROW

void bv_text_free(struct bv_text *t)
{
	if (t->s != t->small)
		free(t->s);
	t->s = NULL;
	t->len = t->cap = 0;
	t->failed = false;
}

static bool reserve(struct bv_text *t, size_t more)
{
	size_t cap;
	char *s;

	if (t->failed)
		return false;
	if (t->len + more + 1 <= t->cap)
		return true;
	if (t->s == NULL && more + 1 <= sizeof(t->small)) {
		t->s = t->small;
		t->cap = sizeof(t->small);
		return true;
	}
	cap = t->cap ? t->cap : 64;
	while (cap < t->len + more + 1)
		cap *= 2;
	s = t->s == t->small ? malloc(cap) : realloc(t->s, cap);
	if (s == NULL) {
		t->failed = true;
		return false;
	}
	if (t->s == t->small)
		memcpy(s, t->small, t->len);
	t->s = s;
	t->cap = cap;
	return true;
}

static void put(struct bv_text *t, const char *s, size_t n)
{
	if (!reserve(t, n))
		return;
	memcpy(t->s + t->len, s, n);
	t->len += n;
	t->s[t->len] = '\0';
}

static void putf(struct bv_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct bv_text *t, const char *fmt, ...)
{
	char b[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(t, b, (size_t)n < sizeof(b) ? (size_t)n : sizeof(b) - 1);
}

/* v in decimal, zero-padded to `width` digits (printf's "%0*lld" for v >= 0;
 * a negative v gets its '-' before the digits): no printf per value. */
static void put_int(struct bv_text *t, int64_t v, int width)
{
	char b[24];
	size_t n = sizeof(b);
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	static const char pairs[] =
		"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
		"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
		"8081828384858687888990919293949596979899";

	while (u >= 100) {      /* (two digits a division) */
		unsigned r = (unsigned)(u % 100);

		u /= 100;
		b[--n] = pairs[2 * r + 1];
		b[--n] = pairs[2 * r];
	}
	if (u >= 10) {
		b[--n] = pairs[2 * u + 1];
		b[--n] = pairs[2 * u];
	} else {
		b[--n] = (char)('0' + u);
	}
	while (sizeof(b) - n < (size_t)width && n > 1)
		b[--n] = '0';
	if (v < 0)
		b[--n] = '-';
	put(t, b + n, sizeof(b) - n);
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

bool binval_text_ok(const char *s, size_t len)
{
	return memchr(s, '\0', len) == NULL && sql_utf8_valid(s, len);
}

/* ---- dates and times ---- */

/* The proleptic Gregorian date of a day count from 2000-01-01. */
static void civil(int64_t days, int64_t *y, int *m, int *d)
{
	int64_t z = days + 10957 + 719468;          /* from 0000-03-01 */
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* YYYY-MM-DD; *bc when the year is before 1 AD (written as a positive year). */
static void put_date(struct bv_text *t, int64_t days, bool *bc)
{
	int64_t y;
	int m, d;

	civil(days, &y, &m, &d);
	*bc = y <= 0;
	if (*bc)
		y = 1 - y;
	put_int(t, y, 4);
	put(t, "-", 1);
	put_int(t, m, 2);
	put(t, "-", 1);
	put_int(t, d, 2);
}

/* HH:MM:SS[.ffffff] of a time of day in microseconds (0 .. 24:00:00). */
static void put_time(struct bv_text *t, int64_t us)
{
	int64_t h = us / USECS_PER_HOUR, rest = us % USECS_PER_HOUR;
	int mi = (int)(rest / USECS_PER_MINUTE), frac;
	int s;

	rest %= USECS_PER_MINUTE;
	s = (int)(rest / 1000000);
	frac = (int)(rest % 1000000);
	put_int(t, h, 2);
	put(t, ":", 1);
	put_int(t, mi, 2);
	put(t, ":", 1);
	put_int(t, s, 2);
	if (frac) {
		char f[7];
		int n = 6;

		f[0] = '.';
		for (int i = 6; i >= 1; i--, frac /= 10)
			f[i] = (char)('0' + frac % 10);
		while (n > 1 && f[n] == '0')
			n--;
		put(t, f, (size_t)n + 1);
	}
}

static enum binval_result timestamp_text(const uint8_t *p, size_t len, bool tz, struct bv_text *t)
{
	int64_t us, days, tod;
	bool bc;

	if (len != 8)
		return BV_INVALID;
	us = (int64_t)be64(p);
	if (us == INT64_MIN || us == INT64_MAX) {
		put(t, us == INT64_MIN ? "-infinity" : "infinity", us == INT64_MIN ? 9 : 8);
		return BV_OK;
	}
	if (us < MIN_TIMESTAMP || us >= END_TIMESTAMP)
		return BV_INVALID;
	days = us / USECS_PER_DAY;
	tod = us % USECS_PER_DAY;
	if (tod < 0) {
		tod += USECS_PER_DAY;
		days--;
	}
	put_date(t, days, &bc);
	put(t, " ", 1);
	put_time(t, tod);
	if (tz)
		put(t, "+00", 3);
	if (bc)
		put(t, " BC", 3);
	return BV_OK;
}

static enum binval_result date_text(const uint8_t *p, size_t len, struct bv_text *t)
{
	int32_t d;
	bool bc;

	if (len != 4)
		return BV_INVALID;
	d = (int32_t)be32(p);
	if (d == INT32_MIN || d == INT32_MAX) {
		put(t, d == INT32_MIN ? "-infinity" : "infinity", d == INT32_MIN ? 9 : 8);
		return BV_OK;
	}
	if (d < MIN_DATE || d >= END_DATE)
		return BV_INVALID;
	put_date(t, d, &bc);
	if (bc)
		put(t, " BC", 3);
	return BV_OK;
}

static enum binval_result time_text(const uint8_t *p, size_t len, bool tz, struct bv_text *t)
{
	int64_t us;
	int32_t zone;
	int z;

	if (len != (tz ? 12u : 8u))
		return BV_INVALID;
	us = (int64_t)be64(p);
	if (us < 0 || us > USECS_PER_DAY)
		return BV_INVALID;
	put_time(t, us);
	if (tz) {
		zone = (int32_t)be32(p + 8);     /* seconds west of UTC */
		if (zone <= -TZDISP_LIMIT || zone >= TZDISP_LIMIT)
			return BV_INVALID;
		z = zone < 0 ? -zone : zone;
		putf(t, "%c%02d:%02d:%02d", zone <= 0 ? '+' : '-', z / 3600, z / 60 % 60, z % 60);
	}
	return BV_OK;
}

/* Every field signed, so that no IntervalStyle reads a sign across fields. */
static enum binval_result interval_text(const uint8_t *p, size_t len, struct bv_text *t)
{
	int64_t us, hours, rest;
	int32_t days, months;

	if (len != 16)
		return BV_INVALID;
	us = (int64_t)be64(p);
	days = (int32_t)be32(p + 8);
	months = (int32_t)be32(p + 12);
	hours = us / USECS_PER_HOUR;
	rest = us % USECS_PER_HOUR;
	if (hours > INT32_MAX || hours < INT32_MIN)
		return BV_UNSUPPORTED;     /* the input reads each field as a 32-bit integer */
	putf(t, "%+d mons %+d days %+lld hours %+lld mins %+lld microseconds", (int)months, (int)days,
	     (long long)hours, (long long)(rest / USECS_PER_MINUTE), (long long)(rest % USECS_PER_MINUTE));
	return BV_OK;
}

/* ---- numbers ---- */

static enum binval_result numeric_text(const uint8_t *p, size_t len, struct bv_text *t)
{
	int ndigits, weight, dscale, i, k;
	uint16_t sign;
	char g[8];

	if (len < 8)
		return BV_INVALID;
	ndigits = (int16_t)be16(p);
	weight = (int16_t)be16(p + 2);
	sign = be16(p + 4);
	dscale = be16(p + 6);
	if (ndigits < 0 || len != 8 + 2 * (size_t)ndigits)
		return BV_INVALID;
	switch (sign) {
	case 0xC000:
		put(t, "NaN", 3);
		return BV_OK;
	case 0xD000:
		put(t, "Infinity", 8);
		return BV_OK;
	case 0xF000:
		put(t, "-Infinity", 9);
		return BV_OK;
	case 0x0000:
	case 0x4000:
		break;
	default:
		return BV_INVALID;
	}
	if (dscale > 0x3FFF)
		return BV_INVALID;
	for (i = 0; i < ndigits; i++)
		if (be16(p + 8 + 2 * i) > 9999)
			return BV_INVALID;
	if (sign == 0x4000)
		put(t, "-", 1);
	/* the integer part: groups 0 .. weight */
	if (weight < 0) {
		put(t, "0", 1);
	} else {
		for (k = 0; k <= weight; k++) {
			int d = k < ndigits ? be16(p + 8 + 2 * k) : 0;

			put_int(t, d, k == 0 ? 1 : 4);
		}
	}
	if (dscale > 0) {
		int written = 0;

		put(t, ".", 1);
		for (k = weight + 1; written < dscale; k++) {
			int d = k >= 0 && k < ndigits ? be16(p + 8 + 2 * k) : 0;
			int n = dscale - written < 4 ? dscale - written : 4;

			for (int j = 3; j >= 0; j--, d /= 10)
				g[j] = (char)('0' + d % 10);
			put(t, g, (size_t)n);
			written += n;
		}
	}
	return BV_OK;
}

/* "%.17g" of v without printf, for the values whose decimal expansion is
 * short: v = N / 2^j with j <= 10 (JDBC's id / 8.0, halves and quarters,
 * integers), 1/1024 <= |v| < 2^43 (|v| * 1024 below 2^53; printf's fixed
 * notation), at most 17 significant digits. Such a v is its expansion
 * exactly, which "%.17g" prints unrounded, trailing zeros stripped. False:
 * printf's turn. */
static bool put_dyadic(struct bv_text *t, double v)
{
	char b[48];
	double a = fabs(v), scaled = a * 1024.0, frac;
	uint64_t ip;
	int n = 0, sig, lead = 0;

	if (!(a >= 1e-4 && a < 9007199254740992.0) || scaled != floor(scaled) || scaled >= 9007199254740992.0)
		return false;
	ip = (uint64_t)a;
	frac = a - (double)ip;          /* exact: a dyadic with few bits */
	if (v < 0)
		b[n++] = '-';
	{
		char d[24];
		int k = 0;

		do {
			d[k++] = (char)('0' + ip % 10);
			ip /= 10;
		} while (ip);
		sig = (int)(a >= 1.0) * k;
		while (k)
			b[n++] = d[--k];
	}
	if (frac > 0) {
		b[n++] = '.';
		while (frac > 0) {      /* each step exact: at most 10 binary digits left */
			int dgt;

			frac *= 10.0;
			dgt = (int)frac;
			frac -= dgt;
			b[n++] = (char)('0' + dgt);
			if (sig == 0 && dgt == 0 && lead >= 0)
				lead++;         /* (leading zeros of 0.00x are not significant) */
			else {
				lead = -1;
				sig++;
			}
			if (sig > 17 || n >= (int)sizeof(b) - 1)
				return false;
		}
	}
	put(t, b, (size_t)n);
	return true;
}

static void put_double(struct bv_text *t, double v, int digits)
{
	if (isnan(v))
		put(t, "NaN", 3);
	else if (isinf(v))
		put(t, v < 0 ? "-Infinity" : "Infinity", v < 0 ? 9 : 8);
	else if (digits != 17 || !put_dyadic(t, v))
		putf(t, "%.*g", digits, v);
}

/* ---- the rest ---- */

static enum binval_result string_text(const uint8_t *p, size_t len, size_t max, struct bv_text *t)
{
	if (len > max || !binval_text_ok((const char *)p, len))
		return BV_INVALID;
	put(t, (const char *)p, len);
	return BV_OK;
}

static void put_hex(struct bv_text *t, const uint8_t *p, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	if (!reserve(t, 2 * len))
		return;
	for (i = 0; i < len; i++) {
		t->s[t->len++] = hex[p[i] >> 4];
		t->s[t->len++] = hex[p[i] & 15];
	}
	t->s[t->len] = '\0';
}

static enum binval_result scalar_text(uint32_t oid, const uint8_t *p, size_t len, struct bv_text *t)
{
	union { uint32_t u; float f; } f4;
	union { uint64_t u; double d; } f8;

	switch (oid) {
	case OID_BOOL:
		if (len != 1)
			return BV_INVALID;
		put(t, p[0] ? "t" : "f", 1);
		return BV_OK;
	case OID_INT2:
		if (len != 2)
			return BV_INVALID;
		put_int(t, (int16_t)be16(p), 1);
		return BV_OK;
	case OID_INT4:
		if (len != 4)
			return BV_INVALID;
		put_int(t, (int32_t)be32(p), 1);
		return BV_OK;
	case OID_INT8:
		if (len != 8)
			return BV_INVALID;
		put_int(t, (int64_t)be64(p), 1);
		return BV_OK;
	case OID_FLOAT4:
		if (len != 4)
			return BV_INVALID;
		f4.u = be32(p);
		put_double(t, f4.f, 9);
		return BV_OK;
	case OID_FLOAT8:
		if (len != 8)
			return BV_INVALID;
		f8.u = be64(p);
		put_double(t, f8.d, 17);
		return BV_OK;
	case OID_NUMERIC:
		return numeric_text(p, len, t);
	case OID_TEXT:
	case OID_VARCHAR:
	case OID_BPCHAR:
	case OID_JSON:
		return string_text(p, len, SIZE_MAX, t);
	case OID_NAME:
		return string_text(p, len, 63, t);
	case OID_JSONB:
		if (len < 1 || p[0] != 1)
			return BV_INVALID;
		return string_text(p + 1, len - 1, SIZE_MAX, t);
	case OID_BYTEA:
		put(t, "\\x", 2);
		put_hex(t, p, len);
		return BV_OK;
	case OID_UUID:
		if (len != 16)
			return BV_INVALID;
		put_hex(t, p, 4);
		put(t, "-", 1);
		put_hex(t, p + 4, 2);
		put(t, "-", 1);
		put_hex(t, p + 6, 2);
		put(t, "-", 1);
		put_hex(t, p + 8, 2);
		put(t, "-", 1);
		put_hex(t, p + 10, 6);
		return BV_OK;
	case OID_DATE:
		return date_text(p, len, t);
	case OID_TIME:
		return time_text(p, len, false, t);
	case OID_TIMETZ:
		return time_text(p, len, true, t);
	case OID_TIMESTAMP:
		return timestamp_text(p, len, false, t);
	case OID_TIMESTAMPTZ:
		return timestamp_text(p, len, true, t);
	case OID_INTERVAL:
		return interval_text(p, len, t);
	default:
		return BV_UNSUPPORTED;
	}
}

/* (a switch: asked for every binary parameter of every Bind) */
static uint32_t element_type(uint32_t oid)
{
#define ARRAY_CASE(a, e) case a: return e;
	switch (oid) {
	ARRAY_TYPES(ARRAY_CASE)
	default:
		return 0;
	}
#undef ARRAY_CASE
}

/* An element as array_out writes it: quoted when it would not read back alone. */
static void put_element(struct bv_text *t, const char *s, size_t n)
{
	bool quote = n == 0 || (n == 4 && strncasecmp(s, "null", 4) == 0);
	size_t i;

	for (i = 0; i < n && !quote; i++)
		quote = strchr("\"\\{},", s[i]) != NULL || s[i] == ' ' || s[i] == '\t' || s[i] == '\n' ||
			s[i] == '\r' || s[i] == '\v' || s[i] == '\f';
	if (!quote) {
		put(t, s, n);
		return;
	}
	put(t, "\"", 1);
	for (i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			put(t, "\\", 1);
		put(t, s + i, 1);
	}
	put(t, "\"", 1);
}

static enum binval_result array_text(uint32_t elem, const uint8_t *p, size_t len, struct bv_text *t)
{
	struct bv_text e = { 0 };
	enum binval_result r = BV_OK;
	int32_t ndim, flags, n, lb, i, elen;
	size_t at;

	if (len < 12)
		return BV_INVALID;
	ndim = (int32_t)be32(p);
	flags = (int32_t)be32(p + 4);
	if (ndim < 0 || (flags != 0 && flags != 1))
		return BV_INVALID;
	if (ndim == 0) {
		put(t, "{}", 2);
		return BV_OK;
	}
	if (ndim > 1)
		return BV_UNSUPPORTED;
	if (be32(p + 8) != elem || len < 20)
		return BV_INVALID;
	n = (int32_t)be32(p + 12);
	lb = (int32_t)be32(p + 16);
	if (n < 0 || (n > 0 && (int64_t)lb + n - 1 > INT32_MAX))
		return BV_INVALID;
	if (n == 0) {
		put(t, "{}", 2);
		return BV_OK;
	}
	if (lb != 1)
		putf(t, "[%ld:%ld]=", (long)lb, (long)((int64_t)lb + n - 1));
	put(t, "{", 1);
	at = 20;
	for (i = 0; i < n && r == BV_OK; i++) {
		if (len - at < 4) {
			r = BV_INVALID;
			break;
		}
		elen = (int32_t)be32(p + at);
		at += 4;
		if (i > 0)
			put(t, ",", 1);
		if (elen == -1) {
			put(t, "NULL", 4);
			continue;
		}
		if (elen < 0 || (size_t)elen > len - at) {
			r = BV_INVALID;
			break;
		}
		e.len = 0;
		r = scalar_text(elem, p + at, (size_t)elen, &e);
		if (r == BV_OK && e.failed)
			r = BV_NOMEM;
		if (r == BV_OK)
			put_element(t, e.s ? e.s : "", e.len);
		at += (size_t)elen;
	}
	if (r == BV_OK && at != len)
		r = BV_INVALID;
	put(t, "}", 1);
	bv_text_free(&e);
	return r;
}

bool binval_supported(uint32_t oid)
{
	for (size_t i = 0; i < sizeof(array_types) / sizeof(array_types[0]); i++)
		if (array_types[i][0] == oid || array_types[i][1] == oid)
			return true;
	return false;
}

enum binval_result binval_text(uint32_t oid, const uint8_t *data, size_t len, struct bv_text *out)
{
	uint32_t elem = element_type(oid);
	enum binval_result r;

	if (!reserve(out, 0))
		return BV_NOMEM;
	out->s[out->len] = '\0';
	r = elem ? array_text(elem, data, len, out) : scalar_text(oid, data, len, out);
	if (r == BV_OK && out->failed)
		r = BV_NOMEM;
	return r;
}
