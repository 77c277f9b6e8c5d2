/* Unit tests for proxy/txn's statement classes: which statements begin, end or roll back a transaction block. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/txn.h"

static const struct {
	const char *sql;
	enum txn_class cls;
} cases[] = {
	{ "BEGIN", TC_BEGIN },
	{ "begin;", TC_BEGIN },
	{ "BEGIN ISOLATION LEVEL REPEATABLE READ", TC_BEGIN },
	{ "START TRANSACTION READ WRITE", TC_BEGIN },
	{ "  /* c */ BEGIN WORK -- x", TC_BEGIN },
	{ "COMMIT", TC_COMMIT },
	{ "END", TC_COMMIT },
	{ "commit work", TC_COMMIT },
	{ "COMMIT AND CHAIN", TC_COMMIT },
	{ "COMMIT PREPARED 'x'", TC_OTHER },
	{ "COMMIT; SELECT 1", TC_OTHER },
	{ "COMMIT;;", TC_COMMIT },
	{ "ROLLBACK", TC_ROLLBACK },
	{ "ABORT", TC_ROLLBACK },
	{ "rollback transaction", TC_ROLLBACK },
	{ "ROLLBACK AND NO CHAIN", TC_ROLLBACK },
	{ "ROLLBACK TO SAVEPOINT a", TC_ROLLBACK },
	{ "ROLLBACK TO a", TC_ROLLBACK },
	{ "ROLLBACK WORK TO SAVEPOINT a", TC_ROLLBACK },
	{ "ROLLBACK PREPARED 'x'", TC_OTHER },
	{ "ROLLBACK; INSERT INTO t VALUES (1)", TC_OTHER },
	{ "SAVEPOINT a", TC_OTHER },
	{ "RELEASE SAVEPOINT a", TC_OTHER },
	{ "PREPARE TRANSACTION 'x'", TC_OTHER },
	{ "SET LOCAL work_mem = '8MB'", TC_OTHER },
	{ "SELECT 1", TC_OTHER },
	{ "", TC_OTHER },
	{ "'begin'", TC_OTHER },
};

static void test_classify(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum txn_class got = txn_classify(cases[i].sql, strlen(cases[i].sql));

		if (got != cases[i].cls)
			fail_msg("%s: got %d, want %d", cases[i].sql, got, cases[i].cls);
	}
	assert_int_equal(txn_classify(NULL, 0), TC_OTHER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
