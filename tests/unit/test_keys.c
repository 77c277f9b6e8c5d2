/* Unit tests for sink/keycanon: typed key canonicalization (value, not spelling), exactness, and in-batch reduction. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sink/keycanon.h"

/* Canonical bytes of one value, and its exactness. */
static size_t canon(enum key_kind k, const char *text, char *out, size_t outlen, bool *exact)
{
	struct buf b;
	size_t n;

	buf_init(&b);
	*exact = key_canon(k, text, strlen(text), &b);
	assert_true(buf_ok(&b));
	n = b.len;
	assert_true(n <= outlen);
	memcpy(out, b.data, n);
	buf_free(&b);
	return n;
}

static bool same(enum key_kind k, const char *a, const char *b)
{
	char x[256], y[256];
	size_t nx, ny;
	bool ex, ey;

	nx = canon(k, a, x, sizeof(x), &ex);
	ny = canon(k, b, y, sizeof(y), &ey);
	return nx == ny && memcmp(x, y, nx) == 0;
}

static bool exact(enum key_kind k, const char *a)
{
	char x[256];
	bool e;

	canon(k, a, x, sizeof(x), &e);
	return e;
}

static void test_kinds(void **state)
{
	(void)state;
	assert_int_equal(key_kind_for_type(23), KEY_INT4);
	assert_int_equal(key_kind_for_type(20), KEY_INT8);
	assert_int_equal(key_kind_for_type(21), KEY_INT2);
	assert_int_equal(key_kind_for_type(1700), KEY_NUMERIC);
	assert_int_equal(key_kind_for_type(25), KEY_TEXT);
	assert_int_equal(key_kind_for_type(1043), KEY_TEXT);
	assert_int_equal(key_kind_for_type(1184), KEY_TIMESTAMPTZ);
	assert_int_equal(key_kind_for_type(869), KEY_RAW);     /* inet */
}

static void test_integers(void **state)
{
	int64_t v;

	(void)state;
	assert_true(key_parse_int(" +7 ", 4, INT32_MIN, INT32_MAX, &v));
	assert_int_equal(v, 7);
	assert_true(key_parse_int("-2147483648", 11, INT32_MIN, INT32_MAX, &v));
	assert_true(v == INT32_MIN);
	assert_false(key_parse_int("2147483648", 10, INT32_MIN, INT32_MAX, &v));
	assert_true(key_parse_int("-9223372036854775808", 20, INT64_MIN, INT64_MAX, &v));
	assert_true(v == INT64_MIN);
	assert_false(key_parse_int("9223372036854775808", 19, INT64_MIN, INT64_MAX, &v));
	assert_false(key_parse_int("32768", 5, -32768, 32767, &v));
	assert_false(key_parse_int("1.0", 3, INT32_MIN, INT32_MAX, &v));
	assert_false(key_parse_int("", 0, INT32_MIN, INT32_MAX, &v));
	assert_false(key_parse_int("-", 1, INT32_MIN, INT32_MAX, &v));
	assert_false(key_parse_int("1_000", 5, INT32_MIN, INT32_MAX, &v));
	assert_true(same(KEY_INT4, "007", "7"));
	assert_true(same(KEY_INT4, " 7", "+7"));
	assert_true(same(KEY_INT4, "-0", "0"));
	assert_false(same(KEY_INT4, "7", "8"));
	assert_true(exact(KEY_INT4, "007"));
	/* a spelling the parser does not take stays apart, and says so */
	assert_false(exact(KEY_INT4, "0x1F"));
	assert_false(same(KEY_INT4, "0x1F", "31"));
	/* the same digits in another kind are another value */
	assert_false(same(KEY_INT4, "1", "1") != same(KEY_INT8, "1", "1"));
}

static void test_numeric(void **state)
{
	struct buf b;

	(void)state;
	assert_true(same(KEY_NUMERIC, "1", "1.0"));
	assert_true(same(KEY_NUMERIC, "1.00", "+1"));
	assert_true(same(KEY_NUMERIC, "1e0", "0.1e1"));
	assert_true(same(KEY_NUMERIC, "100", "1e2"));
	assert_true(same(KEY_NUMERIC, "0.5", "5e-1"));
	assert_true(same(KEY_NUMERIC, "-0", "0.000"));
	assert_true(same(KEY_NUMERIC, " 12.50 ", "12.5"));
	assert_true(same(KEY_NUMERIC, "nan", "NaN"));
	assert_true(same(KEY_NUMERIC, "Infinity", "+infinity"));
	assert_false(same(KEY_NUMERIC, "Infinity", "-Infinity"));
	assert_false(same(KEY_NUMERIC, "1.01", "1.1"));
	assert_false(same(KEY_NUMERIC, "10", "1"));
	assert_false(same(KEY_NUMERIC, "-1", "1"));
	assert_false(same(KEY_NUMERIC, "0.0000000000000000000001", "0"));
	assert_false(exact(KEY_NUMERIC, "1.2.3"));
	assert_false(exact(KEY_NUMERIC, "."));
	assert_false(exact(KEY_NUMERIC, "1e"));
	buf_init(&b);
	assert_true(key_norm_numeric("-012.3400", 9, &b));
	assert_string_equal(b.data, "-1234e-2");
	buf_free(&b);
}

static void test_floats(void **state)
{
	(void)state;
	assert_true(same(KEY_FLOAT8, "1", "1.0"));
	assert_true(same(KEY_FLOAT8, "1e0", " 1.000 "));
	assert_true(same(KEY_FLOAT8, "-0", "0"));
	assert_true(same(KEY_FLOAT8, "NaN", "nan"));
	assert_true(same(KEY_FLOAT8, "inf", "Infinity"));
	/* distinct decimals that round to the same double are the same float8 */
	assert_true(same(KEY_FLOAT8, "0.1", "0.10000000000000000001"));
	assert_true(same(KEY_FLOAT8, "0.1", "0.10000000000000001"));
	assert_false(same(KEY_FLOAT8, "0.1", "0.1000000000000001"));
	/* ... but not the same float4 distinction */
	assert_true(same(KEY_FLOAT4, "0.1", "0.100000001"));
	assert_false(same(KEY_FLOAT4, "1", "1.0000001"));
	assert_false(exact(KEY_FLOAT8, "1e400"));     /* out of range: the database errors */
	assert_false(exact(KEY_FLOAT8, "0x10"));
}

static void test_bool_uuid_bpchar(void **state)
{
	bool v;
	uint8_t u[16];

	(void)state;
	assert_true(key_parse_bool("t", 1, &v) && v);
	assert_true(key_parse_bool(" TRUE ", 6, &v) && v);
	assert_true(key_parse_bool("of", 2, &v) && !v);
	assert_true(key_parse_bool("yes", 3, &v) && v);
	assert_false(key_parse_bool("o", 1, &v));
	assert_false(key_parse_bool("truex", 5, &v));
	assert_false(key_parse_bool("10", 2, &v));
	assert_true(same(KEY_BOOL, "t", "on"));
	assert_true(same(KEY_BOOL, "0", "false"));
	assert_false(same(KEY_BOOL, "t", "f"));

	assert_true(key_parse_uuid("{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", 38, u));
	assert_int_equal(u[0], 0xa0);
	assert_true(same(KEY_UUID, "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
			 "a0eebc999c0b4ef8bb6d6bb9bd380a11"));
	assert_true(same(KEY_UUID, "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
			 "{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}"));
	assert_false(key_parse_uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1", 35, u));
	assert_false(key_parse_uuid("{a0eebc999c0b4ef8bb6d6bb9bd380a11", 33, u));
	assert_false(key_parse_uuid("a0e-ebc999c0b4ef8bb6d6bb9bd380a11", 33, u));

	assert_true(same(KEY_BPCHAR, "ab", "ab   "));
	assert_false(same(KEY_BPCHAR, "ab", " ab"));
	assert_true(same(KEY_TEXT, "ab", "ab"));
	assert_false(same(KEY_TEXT, "ab", "ab "));
	assert_true(exact(KEY_TEXT, "anything at all"));
	assert_false(exact(KEY_NAME, "a name longer than sixty-three bytes is truncated by PostgreSQL ....."));
	assert_false(exact(KEY_RAW, "10.0.0.1"));
}

static void test_timestamps(void **state)
{
	int64_t us;
	bool zoned;

	(void)state;
	assert_true(key_parse_timestamp("2000-01-01 00:00:00", 19, false, false, &us, &zoned));
	assert_true(us == 0);
	assert_true(key_parse_timestamp("2000-01-02", 10, true, false, &us, &zoned));
	assert_true(us == 86400000000LL);
	assert_true(same(KEY_TIMESTAMP, "2024-01-01 00:00:00", "2024-01-01T00:00"));
	assert_true(same(KEY_TIMESTAMP, "2024-01-01 00:00:00.5", "2024-01-01 00:00:00.500000"));
	/* a microsecond apart: two keys */
	assert_false(same(KEY_TIMESTAMP, "2024-01-01 00:00:00.000001", "2024-01-01 00:00:00.000002"));
	assert_false(same(KEY_TIMESTAMP, "2024-01-01 00:00:00", "2024-01-01 00:00:00.000001"));
	/* more than microseconds rounds in PostgreSQL: kept as written, not exact */
	assert_false(exact(KEY_TIMESTAMP, "2024-01-01 00:00:00.0000001"));
	assert_false(exact(KEY_TIMESTAMP, "Jan 1 2024"));
	assert_false(exact(KEY_TIMESTAMP, "2023-02-29 00:00:00"));
	assert_true(exact(KEY_TIMESTAMP, "2024-02-29 00:00:00"));
	assert_false(exact(KEY_TIMESTAMP, "2024-01-01 24:00:00"));
	assert_true(same(KEY_DATE, "2024-03-01", "2024-03-01"));
	assert_false(same(KEY_DATE, "2024-03-01", "2024-03-02"));
	/* instants with a zone compare in UTC */
	assert_true(same(KEY_TIMESTAMPTZ, "2024-01-01 10:00:00+02", "2024-01-01 08:00:00Z"));
	assert_true(same(KEY_TIMESTAMPTZ, "2024-01-01 10:30:00+02:30", "2024-01-01T08:00:00+00"));
	assert_true(same(KEY_TIMESTAMPTZ, "2024-01-01 05:00:00-0300", "2024-01-01 08:00:00+00:00"));
	/* local times (session TimeZone) never equal a zoned spelling here */
	assert_false(same(KEY_TIMESTAMPTZ, "2024-01-01 08:00:00", "2024-01-01 08:00:00+00"));
	assert_true(same(KEY_TIMESTAMPTZ, "2024-01-01 08:00:00", "2024-01-01T08:00"));
	/* time of day */
	assert_true(key_parse_time("12:00", 5, &us));
	assert_true(us == 12LL * 3600 * 1000000);
	assert_true(same(KEY_TIME, "12:00", "12:00:00.000000"));
	assert_false(same(KEY_TIME, "12:00", "12:00:00.000001"));
	assert_false(exact(KEY_TIME, "24:00:00"));
	assert_false(exact(KEY_TIME, "12:00:00.1234567"));
	assert_false(exact(KEY_TIME, "noon"));
	assert_int_equal(key_kind_for_type(1083), KEY_TIME);
	assert_true(key_kind_parses(KEY_TIME));
	assert_false(key_kind_parses(KEY_RAW));
}

static void test_key_build(void **state)
{
	static const enum key_kind kinds[] = { KEY_INT4, KEY_TEXT };
	static const int cols[] = { 0, 2 };
	struct sg_val r1[] = { { SG_VALUE, 2, "07" }, { SG_VALUE, 1, "x" }, { SG_VALUE, 2, "ab" } };
	struct sg_val r2[] = { { SG_VALUE, 1, "7" }, { SG_NULL, 0, NULL }, { SG_VALUE, 2, "ab" } };
	struct sg_val r3[] = { { SG_VALUE, 1, "7" }, { SG_VALUE, 1, "x" }, { SG_NULL, 0, NULL } };
	struct sg_val r4[] = { { SG_DEFAULT, 0, NULL }, { SG_VALUE, 1, "x" }, { SG_VALUE, 1, "a" } };
	struct buf a, b;
	bool ex;

	(void)state;
	buf_init(&a);
	buf_init(&b);
	assert_int_equal(key_build(&a, kinds, cols, 2, r1, false, &ex), KEY_OK);
	assert_true(ex);
	assert_int_equal(key_build(&b, kinds, cols, 2, r2, false, &ex), KEY_OK);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	assert_true(key_hash(a.data, a.len) == key_hash(b.data, b.len));
	assert_int_equal(key_build(&b, kinds, cols, 2, r3, false, &ex), KEY_NULL);
	assert_int_equal(key_build(&b, kinds, cols, 2, r3, true, &ex), KEY_OK);
	assert_int_equal(key_build(&b, kinds, cols, 2, r4, false, &ex), KEY_DEFAULTED);
	/* parts are length-prefixed: ("ab","c") is not ("a","bc") */
	{
		static const enum key_kind tt[] = { KEY_TEXT, KEY_TEXT };
		static const int c2[] = { 0, 1 };
		struct sg_val p[] = { { SG_VALUE, 2, "ab" }, { SG_VALUE, 1, "c" } };
		struct sg_val q[] = { { SG_VALUE, 1, "a" }, { SG_VALUE, 2, "bc" } };

		assert_int_equal(key_build(&a, tt, c2, 2, p, false, &ex), KEY_OK);
		assert_int_equal(key_build(&b, tt, c2, 2, q, false, &ex), KEY_OK);
		assert_false(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	}
	buf_free(&a);
	buf_free(&b);
}

/* ---- reduction ---- */

/* Table (k int key, a text, b text). */
static struct sg_col rcols[] = {
	{ "k", "integer", "integer", ',', false, true, true, false },
	{ "a", "text", "text", ',', false, false, true, true },
	{ "b", "text", "text", ',', false, false, true, true },
};
static int rkey[] = { 0 };
static struct sg_table rtab = { "public", "t", "st", 3, rcols, 1, rkey };
static const enum key_kind rkinds[] = { KEY_INT4 };

#define NROWS 6
struct fixture {
	struct sg_val rows[NROWS][3];
	struct key_row_in in[NROWS];
	struct buf keys[NROWS];
	size_t n;
};

static void add_row(struct fixture *f, const char *k, const char *a, const char *b)
{
	struct sg_val *r = f->rows[f->n];
	const char *v[3] = { k, a, b };
	bool ex;
	int i;

	for (i = 0; i < 3; i++) {
		if (v[i] == NULL) {
			r[i].state = SG_OMIT;
		} else if (strcmp(v[i], "DEFAULT") == 0) {
			r[i].state = SG_DEFAULT;
		} else if (strcmp(v[i], "NULL") == 0) {
			r[i].state = SG_NULL;
		} else {
			r[i].state = SG_VALUE;
			r[i].text = v[i];
			r[i].len = (uint32_t)strlen(v[i]);
		}
	}
	buf_init(&f->keys[f->n]);
	f->in[f->n].vals = r;
	if (key_build(&f->keys[f->n], rkinds, rkey, 1, r, false, &ex) == KEY_OK) {
		f->in[f->n].key = (const unsigned char *)f->keys[f->n].data;
		f->in[f->n].keylen = f->keys[f->n].len;
		f->in[f->n].hash = key_hash(f->keys[f->n].data, f->keys[f->n].len);
		f->in[f->n].exact = ex;
	}
	f->n++;
}

static void fixture_free(struct fixture *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		buf_free(&f->keys[i]);
}

static const char *val(sg_row r, int c)
{
	switch (r[c].state) {
	case SG_OMIT: return "(omit)";
	case SG_DEFAULT: return "DEFAULT";
	case SG_NULL: return "NULL";
	default: return r[c].text;
	}
}

static void standard_rows(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	add_row(f, "1", "a1", NULL);        /* 0 */
	add_row(f, "2", "x", "y");          /* 1 */
	add_row(f, "01", NULL, "b2");       /* 2: key 1 again, another spelling */
	add_row(f, "1", "DEFAULT", NULL);   /* 3: key 1 */
	add_row(f, "NULL", "n", "n");       /* 4: NULL key: never merged */
	add_row(f, "NULL", "m", "m");       /* 5 */
}

static void test_reduce_upsert(void **state)
{
	struct fixture f;
	struct key_reduction r;

	(void)state;
	standard_rows(&f);
	assert_true(key_reduce(f.in, f.n, &rtab, CONFLICT_UPSERT, &r));
	assert_int_equal(r.n, 4);
	/* key 1: the last row whole (a DEFAULT, b omitted), the first row's key spelling */
	assert_string_equal(val(r.rows[0].vals, 0), "1");
	assert_string_equal(val(r.rows[0].vals, 1), "DEFAULT");
	assert_string_equal(val(r.rows[0].vals, 2), "(omit)");
	assert_int_equal(r.rows[0].nsrc, 3);
	assert_int_equal(r.srcs[r.rows[0].src], 0);
	assert_int_equal(r.srcs[r.rows[0].src + 1], 2);
	assert_int_equal(r.srcs[r.rows[0].src + 2], 3);
	assert_string_equal(val(r.rows[1].vals, 1), "x");
	assert_string_equal(val(r.rows[2].vals, 1), "n");
	assert_string_equal(val(r.rows[3].vals, 1), "m");
	key_reduction_free(&r);
	fixture_free(&f);
}

static void test_reduce_update(void **state)
{
	struct fixture f;
	struct key_reduction r;

	(void)state;
	standard_rows(&f);
	assert_true(key_reduce(f.in, f.n, &rtab, CONFLICT_UPDATE, &r));
	assert_int_equal(r.n, 4);
	/* later rows overwrite what they name: a from row 3 (DEFAULT), b from row 2 */
	assert_string_equal(val(r.rows[0].vals, 0), "1");
	assert_string_equal(val(r.rows[0].vals, 1), "DEFAULT");
	assert_string_equal(val(r.rows[0].vals, 2), "b2");
	key_reduction_free(&r);
	fixture_free(&f);
}

static void test_reduce_ignore_strict(void **state)
{
	struct fixture f;
	struct key_reduction r;

	(void)state;
	standard_rows(&f);
	assert_true(key_reduce(f.in, f.n, &rtab, CONFLICT_IGNORE, &r));
	assert_int_equal(r.n, 4);
	assert_string_equal(val(r.rows[0].vals, 1), "a1");
	assert_string_equal(val(r.rows[0].vals, 2), "(omit)");
	assert_int_equal(r.rows[0].nsrc, 3);
	key_reduction_free(&r);
	/* strict: every row, in order; a duplicate is the database's to reject */
	assert_true(key_reduce(f.in, f.n, &rtab, CONFLICT_STRICT, &r));
	assert_int_equal(r.n, 6);
	assert_string_equal(val(r.rows[2].vals, 0), "01");
	key_reduction_free(&r);
	fixture_free(&f);
}

static void test_reduce_no_key(void **state)
{
	struct sg_table nokey = rtab;
	struct fixture f;
	struct key_reduction r;

	(void)state;
	nokey.nkey = 0;
	standard_rows(&f);
	assert_true(key_reduce(f.in, f.n, &nokey, CONFLICT_UPSERT, &r));
	assert_int_equal(r.n, 6);
	key_reduction_free(&r);
	fixture_free(&f);
}

static void test_reduce_fence(void **state)
{
	static const enum key_kind tskind[] = { KEY_TIMESTAMP };
	struct sg_val rows[4][2] = {
		{ { SG_VALUE, 19, "2024-01-01 00:00:01" }, { SG_VALUE, 1, "1" } },
		{ { SG_VALUE, 19, "Jan 1 2024 00:00:01" }, { SG_VALUE, 1, "2" } },  /* same instant */
		{ { SG_VALUE, 16, "2024-01-01T00:00" }, { SG_VALUE, 1, "3" } },
		{ { SG_VALUE, 19, "2024-01-01 00:00:01" }, { SG_VALUE, 1, "4" } },
	};
	static struct sg_col c2[] = {
		{ "ts", "timestamp", "timestamp", ',', false, true, true, false },
		{ "v", "text", "text", ',', false, false, true, true },
	};
	struct sg_table t2 = { "public", "t", "st", 2, c2, 1, rkey };
	struct key_row_in in[4];
	struct buf keys[4];
	struct key_reduction r;
	bool ex;
	int i;

	(void)state;
	memset(in, 0, sizeof(in));
	for (i = 0; i < 4; i++) {
		buf_init(&keys[i]);
		assert_int_equal(key_build(&keys[i], tskind, rkey, 1, rows[i], false, &ex), KEY_OK);
		in[i].key = (const unsigned char *)keys[i].data;
		in[i].keylen = keys[i].len;
		in[i].hash = key_hash(keys[i].data, keys[i].len);
		in[i].exact = ex;
		in[i].vals = rows[i];
	}
	assert_false(in[1].exact);
	assert_true(key_reduce(in, 4, &t2, CONFLICT_UPSERT, &r));
	/* rows 0 and 3 are one key, but the fence (row 1) between them may equal
	 * it: nothing merges across it, so the database sees 0, 1, 3 in order */
	assert_int_equal(r.n, 4);
	assert_string_equal(r.rows[0].vals[1].text, "1");
	assert_string_equal(r.rows[1].vals[1].text, "2");
	assert_string_equal(r.rows[2].vals[1].text, "3");
	assert_string_equal(r.rows[3].vals[1].text, "4");
	key_reduction_free(&r);
	/* without the fence they merge */
	assert_true(key_reduce(in + 2, 2, &t2, CONFLICT_UPSERT, &r));
	assert_int_equal(r.n, 2);
	key_reduction_free(&r);
	in[2].vals = rows[0];
	assert_true(key_reduce(in + 3, 1, &t2, CONFLICT_UPSERT, &r));
	key_reduction_free(&r);
	for (i = 0; i < 4; i++)
		buf_free(&keys[i]);
}

static void test_reduce_many(void **state)
{
	enum { N = 10000, KEYS = 37 };
	struct key_row_in *in = calloc(N, sizeof(*in));
	struct sg_val (*rows)[3] = calloc(N, sizeof(*rows));
	char (*txt)[16] = calloc(N, 16);
	struct buf *keys = calloc(N, sizeof(*keys));
	struct key_reduction r;
	bool ex;
	size_t i, total = 0;

	(void)state;
	assert_non_null(in);
	for (i = 0; i < N; i++) {
		snprintf(txt[i], 16, "%zu", i % KEYS);
		rows[i][0] = (struct sg_val){ SG_VALUE, (uint32_t)strlen(txt[i]), txt[i] };
		rows[i][1] = (struct sg_val){ SG_VALUE, (uint32_t)strlen(txt[i]), txt[i] };
		rows[i][2] = (struct sg_val){ SG_OMIT, 0, NULL };
		buf_init(&keys[i]);
		assert_int_equal(key_build(&keys[i], rkinds, rkey, 1, rows[i], false, &ex), KEY_OK);
		in[i] = (struct key_row_in){ (const unsigned char *)keys[i].data, keys[i].len,
					     key_hash(keys[i].data, keys[i].len), ex, rows[i] };
	}
	assert_true(key_reduce(in, N, &rtab, CONFLICT_UPSERT, &r));
	assert_int_equal(r.n, KEYS);
	for (i = 0; i < r.n; i++) {
		total += r.rows[i].nsrc;
		/* the last row of each key wins: its sources end with the last index */
		assert_int_equal(r.srcs[r.rows[i].src + r.rows[i].nsrc - 1] % KEYS, i);
		assert_true(r.srcs[r.rows[i].src + r.rows[i].nsrc - 1] >= N - KEYS);
	}
	assert_int_equal(total, N);
	key_reduction_free(&r);
	for (i = 0; i < N; i++)
		buf_free(&keys[i]);
	free(keys);
	free(txt);
	free(rows);
	free(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_numeric),
		cmocka_unit_test(test_floats),
		cmocka_unit_test(test_bool_uuid_bpchar),
		cmocka_unit_test(test_timestamps),
		cmocka_unit_test(test_key_build),
		cmocka_unit_test(test_reduce_upsert),
		cmocka_unit_test(test_reduce_update),
		cmocka_unit_test(test_reduce_ignore_strict),
		cmocka_unit_test(test_reduce_no_key),
		cmocka_unit_test(test_reduce_fence),
		cmocka_unit_test(test_reduce_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
