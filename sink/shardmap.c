/* Citus shard routing: PostgreSQL's hash of a distribution value and the shard whose hash range holds it. */
#include "sink/shardmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum dist_hash dist_hash_for(enum key_kind k, bool nondet_collation)
{
	switch (k) {
	case KEY_INT2: return DH_INT2;
	case KEY_INT4: return DH_INT4;
	case KEY_INT8: return DH_INT8;
	case KEY_UUID: return DH_UUID;
	case KEY_DATE: return DH_DATE;
	case KEY_TIMESTAMP: return DH_TIMESTAMP;
	case KEY_TIMESTAMPTZ: return DH_TIMESTAMPTZ;
	case KEY_NUMERIC: return DH_NUMERIC;
	/* a nondeterministic collation hashes a sort key, not the bytes */
	case KEY_TEXT: return nondet_collation ? DH_NONE : DH_TEXT;
	case KEY_BPCHAR: return nondet_collation ? DH_NONE : DH_BPCHAR;
	default: return DH_NONE;
	}
}

/* ---- lookup3, seeded and finished as PostgreSQL's hashfn.c does ---- */

static uint32_t rotl(uint32_t x, int k)
{
	return (x << k) | (x >> (32 - k));
}

static void mix3(uint32_t *a, uint32_t *b, uint32_t *c)
{
	*a -= *c; *a ^= rotl(*c, 4);  *c += *b;
	*b -= *a; *b ^= rotl(*a, 6);  *a += *c;
	*c -= *b; *c ^= rotl(*b, 8);  *b += *a;
	*a -= *c; *a ^= rotl(*c, 16); *c += *b;
	*b -= *a; *b ^= rotl(*a, 19); *a += *c;
	*c -= *b; *c ^= rotl(*b, 4);  *b += *a;
}

static void final3(uint32_t *a, uint32_t *b, uint32_t *c)
{
	*c ^= *b; *c -= rotl(*b, 14);
	*a ^= *c; *a -= rotl(*c, 11);
	*b ^= *a; *b -= rotl(*a, 25);
	*c ^= *b; *c -= rotl(*b, 16);
	*a ^= *c; *a -= rotl(*c, 4);
	*b ^= *a; *b -= rotl(*a, 14);
	*c ^= *b; *c -= rotl(*b, 24);
}

/* The first n (<= 4) bytes at p as the low bytes of a little-endian word. */
static uint32_t word_le(const unsigned char *p, size_t n)
{
	uint32_t w = 0;

	for (size_t i = 0; i < n && i < 4; i++)
		w |= (uint32_t)p[i] << (8 * i);
	return w;
}

#define SEED 0x9e3779b9u
#define SEED_EXTRA 3923095u

uint32_t pg_hash_bytes(const void *p, size_t n)
{
	const unsigned char *k = p;
	uint32_t a, b, c;

	a = b = c = SEED + (uint32_t)n + SEED_EXTRA;
	for (; n >= 12; n -= 12, k += 12) {
		a += word_le(k, 4);
		b += word_le(k + 4, 4);
		c += word_le(k + 8, 4);
		mix3(&a, &b, &c);
	}
	/* the last 0..11 bytes; c's lowest byte stays for the length */
	if (n > 8)
		c += word_le(k + 8, n - 8) << 8;
	if (n > 4)
		b += word_le(k + 4, n > 8 ? 4 : n - 4);
	if (n > 0)
		a += word_le(k, n > 4 ? 4 : n);
	final3(&a, &b, &c);
	return c;
}

uint32_t pg_hash_uint32(uint32_t k)
{
	uint32_t a, b, c;

	a = b = c = SEED + (uint32_t)sizeof(uint32_t) + SEED_EXTRA;
	a += k;
	final3(&a, &b, &c);
	return c;
}

/* ---- the hash of a value ---- */

static uint32_t hash_int8(int64_t v)
{
	/* folded so that a value that fits in an int4 hashes as one */
	uint32_t lo = (uint32_t)(uint64_t)v, hi = (uint32_t)((uint64_t)v >> 32);

	lo ^= v >= 0 ? hi : ~hi;
	return pg_hash_uint32(lo);
}

#define NUMERIC_MAX_GROUPS 512

/* hash_numeric of a value in key_norm_numeric's form: "0", "NaN", "+Inf",
 * "-Inf", or [-]D...De<exp> (no leading or trailing zero digit). PostgreSQL
 * hashes the base-10000 digits between the first and last nonzero one (the
 * sign left out), as int16 in memory, XORed with the first one's weight (its
 * power of 10000); zero hashes as -1 and the special values as 0. scale >= 0:
 * the column's; a value with more fractional digits would be rounded. */
static bool hash_numeric_text(const char *t, size_t n, int scale, uint32_t *out)
{
	int16_t groups[NUMERIC_MAX_GROUPS];
	const char *e = memchr(t, 'e', n);
	long long exp;
	long long p, gtop, g;
	size_t nd, i;
	int ngroups;

	if (n == 1 && t[0] == '0') {
		*out = UINT32_MAX;
		return true;
	}
	if (e == NULL) {
		*out = 0;       /* NaN, +-Inf */
		return true;
	}
	exp = strtoll(e + 1, NULL, 10);
	if (t[0] == '-')
		t++;
	nd = (size_t)(e - t);
	if (scale > 1000 || (scale >= 0 && exp < -scale))
		return false;       /* (a negative scale reads as a large one: not computed) */
	/* digit i has the power (nd - 1 - i) + exp; group g holds 10^(4g .. 4g+3) */
	p = (long long)nd - 1 + exp;
	gtop = p >= 0 ? p / 4 : -((-p + 3) / 4);
	g = exp >= 0 ? exp / 4 : -((-exp + 3) / 4);
	if (gtop - g + 1 > NUMERIC_MAX_GROUPS)
		return false;
	ngroups = (int)(gtop - g + 1);
	memset(groups, 0, (size_t)ngroups * sizeof(groups[0]));
	for (i = 0; i < nd; i++, p--) {
		long long gi = p >= 0 ? p / 4 : -((-p + 3) / 4);
		int pos = (int)(p - 4 * gi);
		static const int16_t pow10[4] = { 1, 10, 100, 1000 };

		groups[gtop - gi] = (int16_t)(groups[gtop - gi] + (t[i] - '0') * pow10[pos]);
	}
	{
		unsigned char bytes[NUMERIC_MAX_GROUPS * 2];

		for (i = 0; i < (size_t)ngroups; i++) {
			bytes[2 * i] = (unsigned char)((uint16_t)groups[i] & 0xff);
			bytes[2 * i + 1] = (unsigned char)((uint16_t)groups[i] >> 8);
		}
		*out = pg_hash_bytes(bytes, (size_t)ngroups * 2) ^ (uint32_t)(int32_t)gtop;
	}
	return true;
}

bool dist_hash_value(enum dist_hash h, int typmod, const char *text, size_t len, int32_t *out)
{
	int64_t v;
	uint8_t uuid[16];
	struct buf norm;
	uint32_t hv;
	bool zoned, ok;

	switch (h) {
	case DH_INT2:
		if (!key_parse_int(text, len, INT16_MIN, INT16_MAX, &v))
			return false;
		*out = (int32_t)pg_hash_uint32((uint32_t)(int32_t)v);
		return true;
	case DH_INT4:
		if (!key_parse_int(text, len, INT32_MIN, INT32_MAX, &v))
			return false;
		*out = (int32_t)pg_hash_uint32((uint32_t)(int32_t)v);
		return true;
	case DH_INT8:
		if (!key_parse_int(text, len, INT64_MIN, INT64_MAX, &v))
			return false;
		*out = (int32_t)hash_int8(v);
		return true;
	case DH_TEXT:
		*out = (int32_t)pg_hash_bytes(text, len);
		return true;
	case DH_BPCHAR:
		while (len > 0 && text[len - 1] == ' ')
			len--;
		*out = (int32_t)pg_hash_bytes(text, len);
		return true;
	case DH_UUID:
		if (!key_parse_uuid(text, len, uuid))
			return false;
		*out = (int32_t)pg_hash_bytes(uuid, sizeof(uuid));
		return true;
	case DH_DATE:
		if (!key_parse_timestamp(text, len, true, false, &v, &zoned))
			return false;
		*out = (int32_t)pg_hash_uint32((uint32_t)(int32_t)(v / 86400000000LL));
		return true;
	case DH_TIMESTAMP:
	case DH_TIMESTAMPTZ:
		if (!key_parse_timestamp(text, len, false, h == DH_TIMESTAMPTZ, &v, &zoned) ||
		    (h == DH_TIMESTAMPTZ && !zoned))
			return false;
		/* timestamp(p): a value with finer fractions would be rounded */
		if (typmod >= 0 && typmod < 6) {
			static const int64_t unit[6] = { 1000000, 100000, 10000, 1000, 100, 10 };

			if (v % unit[typmod] != 0)
				return false;
		}
		*out = (int32_t)hash_int8(v);
		return true;
	case DH_NUMERIC:
		buf_init(&norm);
		ok = key_norm_numeric(text, len, &norm) && buf_ok(&norm) &&
		     hash_numeric_text(norm.data, norm.len, typmod >= 4 ? (typmod - 4) & 0xffff : -1, &hv);
		buf_free(&norm);
		if (ok)
			*out = (int32_t)hv;
		return ok;
	case DH_NONE:
		break;
	}
	return false;
}

/* ---- the shards' hash ranges ---- */

bool shardmap_parse(struct shardmap *m, const char *list)
{
	const char *p;
	char *end;
	long v;
	int n = 0, cap = 1;

	memset(m, 0, sizeof(*m));
	for (p = list; *p; p++)
		cap += *p == ' ';
	m->mins = malloc((size_t)cap * sizeof(*m->mins));
	if (m->mins == NULL)
		return false;
	for (p = list; *p; p = *end ? end + 1 : end) {
		if (*p != '-' && (*p < '0' || *p > '9'))
			goto bad;
		errno = 0;
		v = strtol(p, &end, 10);
		if (end == p || errno || v < INT32_MIN || v > INT32_MAX || (*end && *end != ' ') ||
		    n >= cap || (n > 0 && (int32_t)v <= m->mins[n - 1]))
			goto bad;
		m->mins[n++] = (int32_t)v;
	}
	m->n = n;
	return true;
bad:
	shardmap_free(m);
	return false;
}

void shardmap_free(struct shardmap *m)
{
	free(m->mins);
	memset(m, 0, sizeof(*m));
}

int shardmap_find(const struct shardmap *m, int32_t h)
{
	int lo = 0, hi = m->n;  /* the answer is in [lo - 1, hi) */

	if (m->n == 0 || h < m->mins[0])
		return -1;
	while (hi - lo > 1) {
		int mid = lo + (hi - lo) / 2;

		if (m->mins[mid] <= h)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}
