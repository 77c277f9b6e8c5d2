/* The console's SQL text (proxy/csql.c): statements split outside quotes and comments, words folded as PostgreSQL folds identifiers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/csql.h"

/* Every statement of sql joined with '|' into out. */
static const char *split(const char *sql, char *out, size_t size, const char **err)
{
	size_t pos = 0;
	char *one;

	out[0] = '\0';
	while ((one = csql_next(sql, &pos, err)) != NULL) {
		if (out[0])
			strncat(out, "|", size - strlen(out) - 1);
		strncat(out, one, size - strlen(out) - 1);
		free(one);
	}
	return out;
}

static void test_split(void **state)
{
	char out[256];
	const char *err;

	(void)state;
	assert_string_equal(split("SHOW VERSION; SHOW STATS", out, sizeof(out), &err), "SHOW VERSION| SHOW STATS");
	assert_null(err);
	assert_string_equal(split(";;  ;\n", out, sizeof(out), &err), "");
	assert_null(err);
	assert_int_equal(csql_count(";;;", &err), 0);
	/* quotes and comments keep their semicolons */
	assert_string_equal(split("FLUSH \"a;b\"; SHOW 'x;y'", out, sizeof(out), &err), "FLUSH \"a;b\"| SHOW 'x;y'");
	assert_string_equal(split("SHOW VERSION -- a; b\n; /* c; /* nested; */ d; */ SHOW HELP", out, sizeof(out),
				  &err), "SHOW VERSION  \n|   SHOW HELP");
	assert_null(err);
	assert_string_equal(split("-- only a comment", out, sizeof(out), &err), "");
	assert_int_equal(csql_count("SHOW VERSION; SHUTDOWN", &err), 2);
	assert_int_equal(csql_count("SHOW VERSION;", &err), 1);
	/* doubled quotes inside quotes */
	assert_string_equal(split("FLUSH \"a\"\";b\"", out, sizeof(out), &err), "FLUSH \"a\"\";b\"");
	/* what does not end */
	split("FLUSH \"abc", out, sizeof(out), &err);
	assert_string_equal(err, "unterminated quoted identifier");
	split("SHOW 'abc", out, sizeof(out), &err);
	assert_string_equal(err, "unterminated quoted string");
	assert_int_equal(csql_count("SHOW /* open", &err), -1);
	assert_string_equal(err, "unterminated /* comment");
}

static void test_words(void **state)
{
	const char *p = "  ShOw\tTABLES Public.\"MyTable\" \"\"\"q\"\"\" x\"Y\"z", *err;
	char w[64];
	bool q;

	(void)state;
	assert_int_equal(csql_word(&p, w, sizeof(w), &q, &err), 1);
	assert_string_equal(w, "show");
	assert_false(q);
	assert_int_equal(csql_word(&p, w, sizeof(w), &q, &err), 1);
	assert_string_equal(w, "tables");
	assert_int_equal(csql_word(&p, w, sizeof(w), &q, &err), 1);
	assert_string_equal(w, "public.MyTable");
	assert_true(q);
	assert_int_equal(csql_word(&p, w, sizeof(w), &q, &err), 1);
	assert_string_equal(w, "\"q\"");
	assert_int_equal(csql_word(&p, w, sizeof(w), &q, &err), 1);
	assert_string_equal(w, "xYz");
	assert_int_equal(csql_word(&p, w, sizeof(w), &q, &err), 0);
	p = "\"\"";
	assert_int_equal(csql_word(&p, w, sizeof(w), &q, &err), -1);
	assert_string_equal(err, "zero-length delimited identifier");
	p = "\"abc";
	assert_int_equal(csql_word(&p, w, sizeof(w), &q, &err), -1);
	assert_string_equal(err, "unterminated quoted identifier");
	/* cut to the buffer, never past it */
	p = "abcdefghij";
	assert_int_equal(csql_word(&p, w, 4, &q, &err), 1);
	assert_string_equal(w, "abc");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
