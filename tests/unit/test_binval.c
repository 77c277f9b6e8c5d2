/* Unit tests for protocol/binval: binary Bind parameters (as PostgreSQL's typsend functions write them) to the text their input functions read. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include <cmocka.h>

#include "protocol/binval.h"

/* The hex vectors are what PostgreSQL 15's typsend functions return
 * (SELECT encode(<typsend>(value), 'hex')). */
struct vec {
	uint32_t oid;
	const char *hex;
	const char *text;
};

static const struct vec good[] = {
	{ OID_INT2, "8000", "-32768" },
	{ OID_INT4, "7fffffff", "2147483647" },
	{ OID_INT8, "8000000000000000", "-9223372036854775808" },
	{ OID_FLOAT4, "3fc00000", "1.5" },
	{ OID_FLOAT8, "bfb999999999999a", "-0.10000000000000001" },
	{ OID_FLOAT8, "7ff0000000000000", "Infinity" },
	{ OID_FLOAT8, "fff0000000000000", "-Infinity" },
	{ OID_FLOAT8, "7ff8000000000000", "NaN" },
	{ OID_NUMERIC, "0000000000000000", "0" },
	{ OID_NUMERIC, "0003000100000004000109291a85", "12345.6789" },
	{ OID_NUMERIC, "0002ffff40000005000107d0", "-0.00012" },
	{ OID_NUMERIC, "00010005000000000001", "100000000000000000000" },
	{ OID_NUMERIC, "00010001000000020001", "10000.00" },
	{ OID_NUMERIC, "00000000c0000000", "NaN" },
	{ OID_NUMERIC, "00000000d0000020", "Infinity" },
	{ OID_NUMERIC, "00000000f0000020", "-Infinity" },
	{ OID_BOOL, "01", "t" },
	{ OID_BOOL, "00", "f" },
	{ OID_TEXT, "61096220c3a9", "a\tb \xc3\xa9" },
	{ OID_VARCHAR, "", "" },
	{ OID_BYTEA, "00ff10", "\\x00ff10" },
	{ OID_UUID, "a0eebc999c0b4ef8bb6d6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" },
	{ OID_DATE, "00002279", "2024-02-29" },
	{ OID_DATE, "fff49d7b", "0044-03-15 BC" },
	{ OID_DATE, "7fffffff", "infinity" },
	{ OID_DATE, "80000000", "-infinity" },
	{ OID_TIME, "000000141dd75fff", "23:59:59.999999" },
	{ OID_TIMETZ, "00000000ddf019e000004d58", "01:02:03.5-05:30:00" },
	{ OID_TIMESTAMP, "fffffffffff85ee0", "1999-12-31 23:59:59.5" },
	{ OID_TIMESTAMP, "ff1fc63d1bb12000", "0001-01-01 00:00:00 BC" },
	{ OID_TIMESTAMP, "7fffffffffffffff", "infinity" },
	{ OID_TIMESTAMPTZ, "0000000000000000", "2000-01-01 00:00:00+00" },
	{ OID_TIMESTAMPTZ, "fffc96188bae6100", "1969-07-20 20:17:40+00" },
	{ OID_INTERVAL, "000000036c97ca88fffffffd0000000e",
	  "+14 mons -3 days +4 hours +5 mins +6789000 microseconds" },
	{ OID_INTERVAL, "ffffffffffe91ca00000000000000000",
	  "+0 mons +0 days +0 hours +0 mins -1500000 microseconds" },
	{ OID_JSON, "7b2261223a205b312c206e756c6c5d7d", "{\"a\": [1, null]}" },
	{ OID_JSONB, "017b2261223a20317d", "{\"a\": 1}" },
	/* int4[] {1,NULL,-3} */
	{ 1007, "00000001000000010000001700000003000000010000000400000001ffffffff00000004fffffffd",
	  "{1,NULL,-3}" },
	/* int4[] '[0:1]={5,6}' */
	{ 1007, "00000001000000000000001700000002000000000000000400000005000000040000000" "6",
	  "[0:1]={5,6}" },
	/* int4[] '{}' */
	{ 1007, "000000000000000000000017", "{}" },
	/* text[] {"a b",NULL,"NULL","","q\"x"} */
	{ 1009, "0000000100000001000000190000000500000001"
		"00000003612062" "ffffffff" "000000044e554c4c" "00000000" "000000037122" "78",
	  "{\"a b\",NULL,\"NULL\",\"\",\"q\\\"x\"}" },
};

static const struct vec bad[] = {
	{ OID_INT4, "000001", NULL },                   /* short */
	{ OID_BOOL, "0101", NULL },
	{ OID_NUMERIC, "0000000012340000", NULL },      /* no such sign */
	{ OID_NUMERIC, "000100000000000027101", NULL }, /* odd length */
	{ OID_NUMERIC, "0001000000000000ffff", NULL },  /* a digit over 9999 */
	{ OID_TEXT, "ff", NULL },                       /* not UTF-8 */
	{ OID_TEXT, "6100", NULL },                     /* a NUL */
	{ OID_JSONB, "027b7d", NULL },                  /* jsonb version 2 */
	{ OID_DATE, "7ffffff0", NULL },                 /* past 5874897 AD */
	{ OID_TIME, "000000141dd76001", NULL },         /* past 24:00:00 */
	{ OID_TIMETZ, "000000000000000000010000", NULL },  /* zone out of range */
	{ OID_UUID, "00", NULL },
	/* int4[] whose element type says int8 */
	{ 1007, "000000010000000000000014000000010000000100000004" "00000001", NULL },
	/* int4[] with an element longer than the rest */
	{ 1007, "000000010000000000000017000000010000000100000008" "00000001", NULL },
};

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = strlen(h) / 2;

	for (size_t i = 0; i < n; i++) {
		unsigned v;

		assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static void test_decodes_as_input_reads(void **state)
{
	uint8_t buf[256];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct bv_text t = { 0 };
		size_t n = unhex(good[i].hex, buf);

		assert_int_equal(binval_text(good[i].oid, buf, n, &t), BV_OK);
		assert_string_equal(t.s, good[i].text);
		assert_int_equal(t.len, strlen(good[i].text));
		assert_true(binval_supported(good[i].oid));
		bv_text_free(&t);
	}
}

static void test_rejects_what_the_server_rejects(void **state)
{
	uint8_t buf[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct bv_text t = { 0 };
		size_t n = unhex(bad[i].hex, buf);

		assert_int_equal(binval_text(bad[i].oid, buf, n, &t), BV_INVALID);
		bv_text_free(&t);
	}
}

static void test_unsupported(void **state)
{
	/* a two-dimensional int4[], and types not decoded here (point, inet) */
	static const char two_d[] = "00000002000000000000001700000001000000010000000100000001" "0000000400000005";
	uint8_t buf[128];
	struct bv_text t = { 0 };
	size_t n = unhex(two_d, buf);

	(void)state;
	assert_int_equal(binval_text(1007, buf, n, &t), BV_UNSUPPORTED);
	assert_int_equal(binval_text(600, buf, 16, &t), BV_UNSUPPORTED);
	assert_int_equal(binval_text(869, buf, 8, &t), BV_UNSUPPORTED);
	assert_false(binval_supported(600));
	assert_false(binval_supported(0));
	bv_text_free(&t);
}

static void test_interval_of_hours_past_int32_is_unsupported(void **state)
{
	/* 2.2e9 hours: the interval input reads each field as a 32-bit integer */
	static const uint8_t big[16] = { 0x6d, 0xe9, 0x7e, 0x09, 0xbd, 0x18, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0 };
	struct bv_text t = { 0 };

	(void)state;
	assert_int_equal(binval_text(OID_INTERVAL, big, sizeof(big), &t), BV_UNSUPPORTED);
	bv_text_free(&t);
}

/* float8 as "%.17g" prints it (PostgreSQL reads that back to the same
 * double), whichever way binval takes: short dyadic values without printf. */
static void check_float8(double v)
{
	uint8_t buf[8];
	union { double d; uint64_t u; } f;
	struct bv_text t = { 0 };
	char want[64];

	f.d = v;
	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t)(f.u >> (56 - 8 * i));
	snprintf(want, sizeof(want), "%.17g", v);
	assert_int_equal(binval_text(OID_FLOAT8, buf, 8, &t), BV_OK);
	if (strcmp(t.s, want) != 0)
		fail_msg("float8 %a: \"%s\", printf \"%s\"", v, t.s, want);
	bv_text_free(&t);
}

static void test_float8_as_printf(void **state)
{
	static const double fixed[] = { 0, -0.0, 1, -1, 0.5, 0.125, 1e-4, 0.0001220703125, 0.00006103515625,
		9007199254740991.0, 9007199254740992.0, 4503599627370495.5, 123456789012.0009765625,
		1e15, 1e16, 1e17, 0.1, 2.5e-5, 1234567.875, 99999999999999.99, 0.3333333333333333,
		-9876.5432, 1.0 / 1024, 3.0 / 2048, 1e300, 5e-324 };
	uint64_t x = 88172645463325252ull;

	(void)state;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		check_float8(fixed[i]);
	for (int i = -5000; i < 5000; i++) {
		check_float8(i / 8.0);
		check_float8(i / 1024.0);
		check_float8(i * 1048576.0 + 0.5);
	}
	for (int i = 0; i < 200000; i++) {
		double d;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		d = (double)(int64_t)(x >> (x % 50)) / (double)(1u << (x % 12));
		check_float8(i & 1 ? -d : d);
		memcpy(&d, &x, sizeof(d));
		if (isfinite(d))
			check_float8(d);
	}
}

/* Integers as "%lld" prints them, at every digit count's edges (10^k - 1,
 * 10^k, 10^k + 1, both signs) and at random, in each width. */
static void check_int(uint32_t oid, int64_t v)
{
	uint8_t buf[8];
	int size = oid == OID_INT8 ? 8 : oid == OID_INT4 ? 4 : 2;
	struct bv_text t = { 0 };
	char want[32];

	for (int i = 0; i < size; i++)
		buf[i] = (uint8_t)((uint64_t)v >> (8 * (size - 1 - i)));
	snprintf(want, sizeof(want), "%lld", (long long)v);
	assert_int_equal(binval_text(oid, buf, (size_t)size, &t), BV_OK);
	if (strcmp(t.s, want) != 0)
		fail_msg("int%d %lld: \"%s\"", size, (long long)v, t.s);
	bv_text_free(&t);
}

static void test_integers_as_printf(void **state)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int64_t p = 1;

	(void)state;
	check_int(OID_INT8, INT64_MIN);
	check_int(OID_INT8, INT64_MAX);
	check_int(OID_INT4, INT32_MIN);
	check_int(OID_INT2, INT16_MIN);
	for (int k = 0; k <= 18; k++, p = k <= 18 ? p * 10 : p)
		for (int64_t d = -1; d <= 1; d++) {
			check_int(OID_INT8, p + d);
			check_int(OID_INT8, -(p + d));
			if (p + d <= INT32_MAX) {
				check_int(OID_INT4, (int32_t)(p + d));
				check_int(OID_INT4, -(int32_t)(p + d));
			}
			if (p + d <= INT16_MAX) {
				check_int(OID_INT2, (int16_t)(p + d));
				check_int(OID_INT2, -(int16_t)(p + d));
			}
		}
	for (int i = -1000; i <= 1000; i++)
		check_int(OID_INT2, i);
	for (int i = 0; i < 100000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		check_int(OID_INT8, (int64_t)(x >> (x % 64)) * (i & 1 ? -1 : 1));
		check_int(OID_INT4, (int32_t)(uint32_t)x);
	}
}

static void test_text_ok(void **state)
{
	(void)state;
	assert_true(binval_text_ok("plain", 5));
	assert_true(binval_text_ok("\xc3\xa9", 2));
	assert_false(binval_text_ok("a\0b", 3));
	assert_false(binval_text_ok("\xc3", 1));
	assert_false(binval_text_ok("\xed\xa0\x80", 3));      /* a surrogate */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decodes_as_input_reads),
		cmocka_unit_test(test_rejects_what_the_server_rejects),
		cmocka_unit_test(test_unsupported),
		cmocka_unit_test(test_interval_of_hours_past_int32_is_unsupported),
		cmocka_unit_test(test_text_ok),
		cmocka_unit_test(test_float8_as_printf),
		cmocka_unit_test(test_integers_as_printf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
