/* Unit tests for common/pool: size classes, recycling, the bound on what is kept. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The recycling code itself, which an AddressSanitizer build of the library
 * replaces by plain malloc and free. */
#define POOL_FORCE_RECYCLE 1
#include "common/pool.c"

static void test_classes(void **state)
{
	(void)state;
	for (size_t n = 1; n <= POOL_MAX; n++) {
		int k = class_of(n);

		assert_true(k >= 0 && k < POOL_CLASSES);
		assert_true(class_size(k) >= n);
		if (k > 0)
			assert_true(class_size(k - 1) < n);
	}
	assert_int_equal(class_size(class_of(672)), 768);
	assert_int_equal(class_size(class_of(POOL_MAX)), POOL_MAX);
}

static void test_recycled(void **state)
{
	char *a, *b, *c;

	(void)state;
	a = pool_alloc(100);
	assert_non_null(a);
	memset(a, 'x', 100);
	pool_free(a, 100);
	assert_int_equal(pool_kept(), 128);
	b = pool_alloc(120);            /* the same class: the same block */
	assert_ptr_equal(a, b);
	assert_int_equal(pool_kept(), 0);
	pool_free(b, 120);
	c = pool_zalloc(97);
	assert_ptr_equal(a, c);
	for (int i = 0; i < 97; i++)
		assert_int_equal(c[i], 0);
	pool_free(c, 97);
	a = pool_alloc(200);            /* another class: not that block */
	assert_ptr_not_equal(a, c);
	pool_free(a, 200);
	pool_trim();
	assert_int_equal(pool_kept(), 0);
}

static void test_large_and_bounded(void **state)
{
	size_t n = POOL_KEEP_BYTES / 8192 + 16, i;
	void **v = calloc(n, sizeof(*v));
	void *big;

	(void)state;
	big = pool_alloc(POOL_MAX + 1);         /* malloc's own: never kept */
	assert_non_null(big);
	pool_free(big, POOL_MAX + 1);
	assert_int_equal(pool_kept(), 0);
	assert_non_null(v);
	for (i = 0; i < n; i++)
		assert_non_null(v[i] = pool_alloc(8000));
	for (i = 0; i < n; i++)
		pool_free(v[i], 8000);
	assert_true(pool_kept() <= POOL_KEEP_BYTES);
	assert_true(pool_kept() > POOL_KEEP_BYTES - 8192);
	pool_trim();
	assert_int_equal(pool_kept(), 0);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_recycled),
		cmocka_unit_test(test_large_and_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
