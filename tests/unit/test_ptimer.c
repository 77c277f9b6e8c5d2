/* common/ptimer.c: expiry, re-arming, disarming and freeing, on a real event loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <event2/event.h>

#include "common/ptimer.h"

struct probe {
	struct event_base *base;
	int fired;
	int order;              /* when it fired, counting all probes */
	bool stop;              /* ends the loop when it fires */
};

static int fired_total;

static void on_fire(void *arg)
{
	struct probe *p = arg;

	p->fired++;
	p->order = ++fired_total;
	if (p->stop)
		event_base_loopbreak(p->base);
}

static void test_fires_once(void **state)
{
	struct event_base *base = event_base_new();
	struct probe p = { base, 0, 0, true };
	struct ptimer *t = ptimer_new(base, on_fire, &p);

	(void)state;
	assert_non_null(t);
	assert_false(ptimer_armed(t));
	assert_true(ptimer_arm(t, 300));
	assert_true(ptimer_armed(t));
	assert_int_equal(event_base_dispatch(base), 0);
	assert_int_equal(p.fired, 1);
	assert_false(ptimer_armed(t));
	/* armed again, even in the past: it fires once more */
	assert_true(ptimer_arm(t, -5));
	assert_int_equal(event_base_dispatch(base), 0);
	assert_int_equal(p.fired, 2);
	ptimer_free(t);
	event_base_free(base);
}

/* Re-arming replaces the earlier time; a disarmed timer never fires. Each
 * ends with the loop stopped by a later timer, so the order is the proof. */
static void test_rearm_and_disarm(void **state)
{
	struct event_base *base = event_base_new();
	struct probe a = { base, 0, 0, false }, b = { base, 0, 0, false }, last = { base, 0, 0, true };
	struct ptimer *ta = ptimer_new(base, on_fire, &a);
	struct ptimer *tb = ptimer_new(base, on_fire, &b);
	struct ptimer *tl = ptimer_new(base, on_fire, &last);

	(void)state;
	fired_total = 0;
	assert_true(ptimer_arm(ta, 5000000));   /* 5 s, moved to 1 ms below */
	assert_true(ptimer_arm(tb, 1000));      /* disarmed below */
	assert_true(ptimer_arm(tl, 20000));
	assert_true(ptimer_arm(ta, 1000));
	ptimer_disarm(tb);
	assert_false(ptimer_armed(tb));
	assert_int_equal(event_base_dispatch(base), 0);
	assert_int_equal(a.fired, 1);
	assert_int_equal(a.order, 1);
	assert_int_equal(b.fired, 0);
	assert_int_equal(last.fired, 1);
	assert_int_equal(last.order, 2);
	/* a timer freed while armed leaves nothing behind in the loop */
	assert_true(ptimer_arm(tb, 1000));
	ptimer_free(tb);
	assert_true(ptimer_arm(tl, 20000));
	assert_int_equal(event_base_dispatch(base), 0);
	assert_int_equal(last.fired, 2);
	assert_int_equal(b.fired, 0);
	ptimer_free(ta);
	ptimer_free(tl);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fires_once),
		cmocka_unit_test(test_rearm_and_disarm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
