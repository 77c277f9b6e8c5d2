/* common/later.c: calls run when the outermost callback leaves, or from a real event loop when none is open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <event2/event.h>

#include "common/later.h"

static char trace[64];
static int ntrace;

struct probe {
	char name;
	struct later *also;     /* asked for when this one runs */
	struct later *self;
	bool ask_self;          /* asks for itself again when it runs */
};

static void on_run(void *arg)
{
	struct probe *p = arg;

	trace[ntrace++] = p->name;
	trace[ntrace] = '\0';
	if (p->also)
		later_ask(p->also);
	if (p->ask_self) {
		p->ask_self = false;
		later_ask(p->self);
	}
}

static void reset(void)
{
	ntrace = 0;
	trace[0] = '\0';
}

/* Inside a callback: each call runs once, when the outermost one leaves, in
 * the order asked; what a call asks for runs in the same leave. */
static void test_runs_at_leave(void **state)
{
	struct event_base *base = event_base_new();
	struct probe a = { 'a', NULL, NULL, false }, b = { 'b', NULL, NULL, false }, c = { 'c', NULL, NULL, false };
	struct later *la = later_new(base, on_run, &a), *lb = later_new(base, on_run, &b),
		     *lc = later_new(base, on_run, &c);

	(void)state;
	assert_non_null(la);
	assert_non_null(lb);
	assert_non_null(lc);
	a.also = lc;
	reset();
	later_enter();
	later_ask(lb);
	later_ask(la);
	later_ask(lb);                  /* once until it runs */
	later_enter();                  /* nested: the inner leave runs nothing */
	later_leave();
	assert_string_equal(trace, "");
	assert_true(later_pending(la));
	later_leave();
	assert_string_equal(trace, "bac");
	assert_false(later_pending(la));
	assert_false(later_pending(lc));
	/* nothing was left for the loop */
	(void)event_base_loop(base, EVLOOP_NONBLOCK);
	assert_string_equal(trace, "bac");
	later_free(la);
	later_free(lb);
	later_free(lc);
	event_base_free(base);
}

/* Outside a callback: the call runs from the loop, once, and a call that asks
 * for itself again runs again. */
static void test_runs_from_loop(void **state)
{
	struct event_base *base = event_base_new();
	struct probe a = { 'a', NULL, NULL, true };
	struct later *la = later_new(base, on_run, &a);

	(void)state;
	a.self = la;
	reset();
	later_ask(la);
	later_ask(la);
	assert_string_equal(trace, "");
	assert_true(later_pending(la));
	(void)event_base_loop(base, EVLOOP_NONBLOCK);
	/* the second run was asked for while the first ran (entered): same turn */
	assert_string_equal(trace, "aa");
	assert_false(later_pending(la));
	later_free(la);
	event_base_free(base);
}

/* Freed while asked for: it never runs. */
static void test_freed_never_runs(void **state)
{
	struct event_base *base = event_base_new();
	struct probe a = { 'a', NULL, NULL, false }, b = { 'b', NULL, NULL, false };
	struct later *la = later_new(base, on_run, &a), *lb = later_new(base, on_run, &b);

	(void)state;
	reset();
	later_ask(la);                  /* from the loop */
	later_free(la);
	later_enter();
	la = later_new(base, on_run, &a);
	later_ask(la);                  /* queued */
	later_ask(lb);
	later_free(la);
	later_leave();
	assert_string_equal(trace, "b");
	(void)event_base_loop(base, EVLOOP_NONBLOCK);
	assert_string_equal(trace, "b");
	later_free(lb);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runs_at_leave),
		cmocka_unit_test(test_runs_from_loop),
		cmocka_unit_test(test_freed_never_runs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
