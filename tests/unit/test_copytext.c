/* Unit tests for protocol/copytext: COPY text escaping of tricky strings, NULL, booleans, bytea, round trips. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "protocol/copytext.h"

static char *escape(const char *s, size_t n, size_t *outlen)
{
	size_t len = copytext_escaped_len(s, n);
	char *out = malloc(len + 1);

	assert_non_null(out);
	*outlen = copytext_escape(out, s, n);
	assert_int_equal(*outlen, len);
	out[*outlen] = '\0';
	return out;
}

static void check_escape(const char *in, const char *want)
{
	size_t n;
	char *got = escape(in, strlen(in), &n);

	assert_string_equal(got, want);
	free(got);
}

static void test_escape_table(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "", "" },
		{ "plain", "plain" },
		{ "a\tb", "a\\tb" },
		{ "line1\nline2", "line1\\nline2" },
		{ "cr\r", "cr\\r" },
		{ "back\\slash", "back\\\\slash" },
		{ "\\N", "\\\\N" },                 /* the text \N is not NULL */
		{ "\\.", "\\\\." },                 /* nor the end-of-data marker */
		{ "null", "null" },                 /* the text null stays text */
		{ "NULL", "NULL" },
		{ "\b\f\v", "\\b\\f\\v" },
		{ "'quote' \"dq\"", "'quote' \"dq\"" },
		{ "\\x41", "\\\\x41" },             /* bytea hex input stays hex input */
		{ "caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac" },  /* multibyte untouched */
		{ "\x01\x1f\x7f", "\x01\x1f\x7f" }, /* other control bytes are legal raw */
		{ "tab\t\\t", "tab\\t\\\\t" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_escape(cases[i].in, cases[i].out);
}

/* Every escaped field decodes back to its bytes, and never contains a raw
 * delimiter, row end or carriage return that would split the row. */
static void test_roundtrip_all_bytes(void **state)
{
	char in[512], dec[1024];
	size_t n, outlen, declen, i, round;
	bool is_null;
	char *out;

	(void)state;
	srand(7);
	for (round = 0; round < 2000; round++) {
		n = (size_t)(rand() % 64);
		for (i = 0; i < n; i++)
			in[i] = (char)(1 + rand() % 255);
		if (round == 0) {
			n = 255;
			for (i = 0; i < n; i++)
				in[i] = (char)(i + 1);
		}
		out = escape(in, n, &outlen);
		assert_null(memchr(out, '\t', outlen));
		assert_null(memchr(out, '\n', outlen));
		assert_null(memchr(out, '\r', outlen));
		assert_true(copytext_unescape(out, outlen, dec, &declen, &is_null));
		assert_false(is_null);
		assert_int_equal(declen, n);
		assert_memory_equal(dec, in, n);
		free(out);
	}
}

/* The escaper reads 8 bytes at a time where it can: every byte value at
 * every position of fields up to 24 bytes long is escaped exactly as a byte
 * by byte reference does. */
static void test_every_byte_everywhere(void **state)
{
	static const char letters[256] = {
		['\\'] = '\\', ['\t'] = 't', ['\n'] = 'n', ['\r'] = 'r', ['\b'] = 'b', ['\f'] = 'f', ['\v'] = 'v',
	};
	char in[24], want[48], got[48];
	size_t n, pos, w, k, outlen;

	(void)state;
	for (n = 1; n <= sizeof(in); n++)
		for (pos = 0; pos < n; pos++)
			for (int b = 1; b < 256; b++) {
				memset(in, 'x', n);
				in[pos] = (char)b;
				for (k = 0, w = 0; k < n; k++) {
					if (letters[(unsigned char)in[k]]) {
						want[w++] = '\\';
						want[w++] = letters[(unsigned char)in[k]];
					} else {
						want[w++] = in[k];
					}
				}
				assert_int_equal(copytext_escaped_len(in, n), w);
				outlen = copytext_escape(got, in, n);
				assert_int_equal(outlen, w);
				assert_memory_equal(got, want, w);
			}
}

static void test_null_and_bool(void **state)
{
	char dec[8];
	size_t n;
	bool is_null;

	(void)state;
	assert_int_equal(COPYTEXT_NULL_LEN, strlen(COPYTEXT_NULL));
	assert_true(copytext_unescape(COPYTEXT_NULL, COPYTEXT_NULL_LEN, dec, &n, &is_null));
	assert_true(is_null);
	assert_true(copytext_unescape("\\\\N", 3, dec, &n, &is_null));
	assert_false(is_null);
	assert_int_equal(n, 2);
	assert_memory_equal(dec, "\\N", 2);
	assert_string_equal(copytext_bool(true), "t");
	assert_string_equal(copytext_bool(false), "f");
}

static void test_bytea(void **state)
{
	const uint8_t bytes[] = { 0x00, 0x01, 0x7f, 0x80, 0xff, '\\', '\t' };
	char out[64], dec[64];
	size_t n, declen;
	bool is_null;

	(void)state;
	n = copytext_bytea(out, bytes, sizeof(bytes));
	assert_int_equal(n, copytext_bytea_len(sizeof(bytes)));
	out[n] = '\0';
	assert_string_equal(out, "\\\\x00017f80ff5c09");
	/* what COPY hands bytea's input function: \x + hex */
	assert_true(copytext_unescape(out, n, dec, &declen, &is_null));
	dec[declen] = '\0';
	assert_string_equal(dec, "\\x00017f80ff5c09");
	n = copytext_bytea(out, bytes, 0);
	out[n] = '\0';
	assert_string_equal(out, "\\\\x");
}

static void test_unescape_rejects(void **state)
{
	char dec[16];
	size_t n;
	bool is_null;

	(void)state;
	assert_false(copytext_unescape("abc\\", 4, dec, &n, &is_null));   /* trailing backslash */
	assert_false(copytext_unescape("\\000", 4, dec, &n, &is_null));   /* would be a NUL */
	assert_false(copytext_unescape("\\x00", 4, dec, &n, &is_null));
	assert_true(copytext_unescape("\\101\\x42\\q", 10, dec, &n, &is_null));
	assert_int_equal(n, 3);
	assert_memory_equal(dec, "ABq", 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_table),
		cmocka_unit_test(test_roundtrip_all_bytes),
		cmocka_unit_test(test_every_byte_everywhere),
		cmocka_unit_test(test_null_and_bool),
		cmocka_unit_test(test_bytea),
		cmocka_unit_test(test_unescape_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
