/* Unit tests for sink/keycanon: typed key canonicalization (value, not spelling) and exactness. */
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
	assert_true(key_parse_int("-32768", 6, -32768, 32767, &v));
	assert_true(v == -32768);
	assert_false(key_parse_int("-32769", 6, -32768, 32767, &v));
	/* 18 digits and fewer are read without a check per digit; more with it */
	assert_true(key_parse_int("999999999999999999", 18, INT64_MIN, INT64_MAX, &v));
	assert_true(v == 999999999999999999LL);
	assert_true(key_parse_int("9223372036854775807", 19, INT64_MIN, INT64_MAX, &v));
	assert_true(v == INT64_MAX);
	assert_false(key_parse_int("99999999999999999999", 20, INT64_MIN, INT64_MAX, &v));
	assert_true(key_parse_int("000000000000000000000042", 24, INT32_MIN, INT32_MAX, &v));
	assert_true(v == 42);
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

/* The one-column integer route without buffers is the route of the token
 * built from key_canon's form; texts that are not exact integers of the kind
 * (and other kinds) are left to that general path. */
static void test_route_int(void **state)
{
	static const char *const texts[] = {
		"0", "1", "-1", "+7", " 42 ", "007", "32767", "32768", "-32768", "-32769",
		"2147483647", "2147483648", "-2147483648", "9223372036854775807",
		"-9223372036854775808", "9223372036854775808", "1.0", "1e3", "", "-", "12a", "0x10",
	};
	static const enum key_kind kinds[] = { KEY_INT2, KEY_INT4, KEY_INT8, KEY_NUMERIC, KEY_TEXT };
	(void)state;

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
			struct buf form, tok;
			uint64_t fast = 0;
			size_t len = strlen(texts[i]);
			bool ok = key_route_int(kinds[k], texts[i], len, &fast);

			buf_init(&form);
			buf_init(&tok);
			bool exact = key_canon(kinds[k], texts[i], len, &form);
			key_token_put(&tok, form.data, form.len);
			if (ok) {
				assert_true(exact);
				assert_int_equal(fast, key_hash(tok.data, tok.len));
			} else {
				/* only a text the integer parser refuses, or another kind */
				assert_true(kinds[k] > KEY_INT8 || form.len == 0 || form.data[0] != 'i');
			}
			buf_free(&form);
			buf_free(&tok);
		}
	}
	uint64_t r;
	assert_true(key_route_int(KEY_INT4, "5", 1, &r));
	assert_false(key_route_int(KEY_INT2, "40000", 5, &r));
	assert_false(key_route_int(KEY_NUMERIC, "5", 1, &r));
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
	/* a local time is an instant only under the session's TimeZone: not
	 * exact, the database reads it (keyed to its output, which has a zone) */
	assert_false(exact(KEY_TIMESTAMPTZ, "2024-01-01 08:00:00"));
	assert_true(exact(KEY_TIMESTAMPTZ, "2024-01-01 08:00:00+00"));
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
	/* what key_build returns, without building the key */
	assert_int_equal(key_result_of(cols, 2, r1, false), KEY_OK);
	assert_int_equal(key_result_of(cols, 2, r2, false), KEY_OK);
	assert_int_equal(key_result_of(cols, 2, r3, false), KEY_NULL);
	assert_int_equal(key_result_of(cols, 2, r3, true), KEY_OK);
	assert_int_equal(key_result_of(cols, 2, r4, false), KEY_DEFAULTED);
	assert_int_equal(key_result_of(cols, 2, r4, true), KEY_DEFAULTED);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_route_int),
		cmocka_unit_test(test_numeric),
		cmocka_unit_test(test_floats),
		cmocka_unit_test(test_bool_uuid_bpchar),
		cmocka_unit_test(test_timestamps),
		cmocka_unit_test(test_key_build),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
