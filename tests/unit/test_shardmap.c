/* Unit tests for sink/shardmap: PostgreSQL's hash of distribution values (vectors read off PostgreSQL 15) and shard lookup. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sink/shardmap.h"

static int32_t hv(enum dist_hash h, const char *text)
{
	int32_t out = 0;

	assert_true(dist_hash_value(h, -1, text, strlen(text), &out));
	return out;
}

/* Each expected value is what the server's own function returned for the
 * value (SELECT hashint2(7::int2), hashtext('abc'), ... on PostgreSQL 15). */
static void test_server_vectors(void **state)
{
	(void)state;
	assert_int_equal(hv(DH_INT2, "7"), -978793473);
	assert_int_equal(hv(DH_INT4, "42"), 1509752520);
	assert_int_equal(hv(DH_INT4, " -1 "), 385747274);
	/* an int8 that fits in an int4 hashes as the int4 */
	assert_int_equal(hv(DH_INT8, "42"), 1509752520);
	assert_int_equal(hv(DH_INT8, "-5000000000"), 954517114);
	assert_int_equal(hv(DH_INT8, "9223372036854775807"), -1524351049);
	/* every tail length of lookup3's last 11 bytes, and a long string */
	assert_int_equal(hv(DH_TEXT, ""), -1477818771);
	assert_int_equal(hv(DH_TEXT, "a"), 1075015857);
	assert_int_equal(hv(DH_TEXT, "abcd"), -393934804);
	assert_int_equal(hv(DH_TEXT, "abcde"), -445659580);
	assert_int_equal(hv(DH_TEXT, "abcdefgh"), -1960928205);
	assert_int_equal(hv(DH_TEXT, "abcdefghi"), -92131489);
	assert_int_equal(hv(DH_TEXT, "abcdefghijk"), -1483803693);
	assert_int_equal(hv(DH_TEXT, "abcdefghijkl"), -1586087212);
	assert_int_equal(hv(DH_TEXT, "abcdefghijklmnopqrstuvw"), -1149376136);
	assert_int_equal(hv(DH_TEXT, "h\xc3\xa9llo w\xc3\xb6rld, \xc3\xbc" "n\xc3\xaf" "code"), 1505357553);
	assert_int_equal(hv(DH_BPCHAR, "ab   "), 1718550461);
	assert_int_equal(hv(DH_BPCHAR, "ab"), 1718550461);
	assert_int_equal(hv(DH_UUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), 1154666245);
	assert_int_equal(hv(DH_UUID, "{A0EEBC999C0B4EF8BB6D6BB9BD380A11}"), 1154666245);
}

/* Dates, timestamps and numerics (hashint4, timestamp_hash, hash_numeric),
 * read off PostgreSQL 15 the same way. */
static void test_server_vectors_more(void **state)
{
	static const struct { const char *text; int32_t want; } num[] = {
		{ "0", -1 }, { "0.000", -1 }, { "1", 1324868424 }, { "-1", 1324868424 },
		{ "123.45", 258302971 }, { "10000", 1324868425 }, { "1e8", 1324868426 },
		{ "0.0001", -1324868425 }, { "0.00012", 1267246686 }, { "-0.00012", 1267246686 },
		{ "123456789.123456789", -1990724393 }, { "NaN", 0 }, { "1.500", 692967894 },
		{ "1.5", 692967894 }, { "99999999999999999999", -1273478183 }, { "0.5", -1968164085 },
		{ "1e-10", -1186574834 }, { "100000000000000000000.0001", 62289846 }, { "12.3", -160933775 },
	};
	int32_t out;

	(void)state;
	for (size_t i = 0; i < sizeof(num) / sizeof(num[0]); i++)
		assert_int_equal(hv(DH_NUMERIC, num[i].text), num[i].want);
	assert_int_equal(hv(DH_DATE, "2026-12-07"), 1099521278);
	assert_int_equal(hv(DH_DATE, "1999-12-31"), 385747274);
	assert_int_equal(hv(DH_TIMESTAMP, "2026-12-07 10:11:12.345678"), -1808347820);
	assert_int_equal(hv(DH_TIMESTAMP, "1970-01-01 00:00:00"), 680174221);
	assert_int_equal(hv(DH_TIMESTAMPTZ, "2026-12-07 10:11:12+02"), 1302765557);
	/* a local time: the session's TimeZone decides */
	assert_false(dist_hash_value(DH_TIMESTAMPTZ, -1, "2026-12-07 10:11:12", 19, &out));
	/* values the column's type modifier would round */
	assert_false(dist_hash_value(DH_NUMERIC, ((10 << 16) | 2) + 4, "1.005", 5, &out));
	assert_true(dist_hash_value(DH_NUMERIC, ((10 << 16) | 2) + 4, "1.5", 3, &out));
	assert_int_equal(out, 692967894);
	assert_false(dist_hash_value(DH_TIMESTAMP, 0, "2026-12-07 10:11:12.5", 21, &out));
	assert_true(dist_hash_value(DH_TIMESTAMP, 0, "1970-01-01 00:00:00", 19, &out));
	assert_int_equal(out, 680174221);
}

static void test_unreadable(void **state)
{
	int32_t out;

	(void)state;
	assert_false(dist_hash_value(DH_INT2, -1, "40000", 5, &out));
	assert_false(dist_hash_value(DH_INT4, -1, "4x", 2, &out));
	assert_false(dist_hash_value(DH_INT8, -1, "", 0, &out));
	assert_false(dist_hash_value(DH_UUID, -1, "abc", 3, &out));
	assert_false(dist_hash_value(DH_NONE, -1, "1", 1, &out));
	assert_int_equal(dist_hash_for(KEY_TEXT, true), DH_NONE);
	assert_int_equal(dist_hash_for(KEY_TEXT, false), DH_TEXT);
	assert_int_equal(dist_hash_for(KEY_NUMERIC, false), DH_NUMERIC);
	assert_int_equal(dist_hash_for(KEY_FLOAT8, false), DH_NONE);
}

static void test_shard_lookup(void **state)
{
	struct shardmap m;

	(void)state;
	/* four shards, as Citus spreads the int4 range */
	assert_true(shardmap_parse(&m, "-2147483648 -1073741824 0 1073741824"));
	assert_int_equal(m.n, 4);
	assert_int_equal(shardmap_find(&m, INT32_MIN), 0);
	assert_int_equal(shardmap_find(&m, -1073741825), 0);
	assert_int_equal(shardmap_find(&m, -1073741824), 1);
	assert_int_equal(shardmap_find(&m, -1), 1);
	assert_int_equal(shardmap_find(&m, 0), 2);
	assert_int_equal(shardmap_find(&m, INT32_MAX), 3);
	shardmap_free(&m);
	/* a gap below the first shard */
	assert_true(shardmap_parse(&m, "-5 7"));
	assert_int_equal(shardmap_find(&m, -6), -1);
	assert_int_equal(shardmap_find(&m, 6), 0);
	assert_int_equal(shardmap_find(&m, 7), 1);
	shardmap_free(&m);
	/* one shard */
	assert_true(shardmap_parse(&m, "-2147483648"));
	assert_int_equal(shardmap_find(&m, 12345), 0);
	shardmap_free(&m);
	/* empty, out of order, out of range, junk */
	assert_true(shardmap_parse(&m, ""));
	assert_int_equal(shardmap_find(&m, 1), -1);
	shardmap_free(&m);
	assert_false(shardmap_parse(&m, "5 1"));
	assert_false(shardmap_parse(&m, "5 5"));
	assert_false(shardmap_parse(&m, "2147483648"));
	assert_false(shardmap_parse(&m, "1 x"));
	assert_false(shardmap_parse(&m, "1  2"));
	assert_int_equal(m.n, 0);
	assert_null(m.mins);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_vectors),
		cmocka_unit_test(test_server_vectors_more),
		cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_shard_lookup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
