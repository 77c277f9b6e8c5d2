/* Unit tests for sink/plan: key generations, ordered runs, row-wise steps, and the invariants every plan keeps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sink/plan.h"

static const char TA[] = "A", TB[] = "B", TC[] = "C", C1[] = "c1", C2[] = "c2";

/* A row of table t (catalog c) with key k (0: none). */
static struct plan_row row(const char *t, const char *c, uint64_t k, enum plan_class cls)
{
	struct plan_row r;

	memset(&r, 0, sizeof(r));
	r.table = t;
	r.cat = c;
	r.route = k;
	r.has_route = k != 0;
	r.keyed = true;
	r.cls = (uint8_t)cls;
	return r;
}

/* The plan as text: steps separated by '|', rows by ','. */
static void show(const struct plan *p, char *out, size_t len)
{
	size_t o = 0, i, j;

	out[0] = '\0';
	for (i = 0; i < p->nsteps; i++) {
		if (i)
			o += (size_t)snprintf(out + o, len - o, "|");
		for (j = 0; j < p->steps[i].n; j++)
			o += (size_t)snprintf(out + o, len - o, "%s%u", j ? "," : "",
					      p->order[p->steps[i].first + j]);
	}
}

static void expect(const struct plan_row *rows, size_t n, const char *want)
{
	struct plan p;
	char got[512];

	assert_true(plan_build(&p, rows, n));
	show(&p, got, sizeof(got));
	assert_string_equal(got, want);
	plan_free(&p);
}

static void test_generations(void **state)
{
	struct plan_row r[] = {
		row(TA, C1, 1, PLAN_FREE), row(TA, C1, 2, PLAN_FREE), row(TA, C1, 1, PLAN_FREE),
		row(TA, C1, 3, PLAN_FREE), row(TA, C1, 1, PLAN_FREE),
	};

	(void)state;
	/* the k-th row of a key in the k-th statement, arrival order inside each */
	expect(r, 5, "0,1,3|2|4");
	/* no ON CONFLICT (strict, no key): one statement, the database checks */
	for (size_t i = 0; i < 5; i++)
		r[i].keyed = false;
	expect(r, 5, "0,1,2,3,4");
}

/* Rows of a table Citus spreads: a step per shard inside each generation,
 * shards ascending, rows of no known shard first; arrival order in a step. */
static void test_shards(void **state)
{
	struct plan_row r[] = {
		row(TA, C1, 1, PLAN_FREE), row(TA, C1, 2, PLAN_FREE), row(TA, C1, 3, PLAN_FREE),
		row(TA, C1, 1, PLAN_FREE), row(TA, C1, 4, PLAN_FREE), row(TA, C1, 5, PLAN_FREE),
		row(TA, C1, 6, PLAN_FREE),
	};
	static const uint32_t shard[] = { 3, 1, 3, 3, 2, 0, 1 };

	(void)state;
	for (size_t i = 0; i < 7; i++)
		r[i].shard = shard[i];
	expect(r, 7, "5|1,6|4|0,2|3");
	/* strict (no ON CONFLICT): one generation, still a step per shard */
	for (size_t i = 0; i < 7; i++)
		r[i].keyed = false;
	expect(r, 7, "5|1,6|4|0,2,3");
	/* ordered and row-wise tables keep their arrival order */
	for (size_t i = 0; i < 7; i++)
		r[i].cls = PLAN_ORDERED;
	expect(r, 7, "0,1,2,3,4,5,6");
}

static void test_keyless_and_single(void **state)
{
	struct plan_row r[] = {
		row(TA, C1, 0, PLAN_FREE), row(TA, C1, 0, PLAN_FREE), row(TA, C1, 5, PLAN_FREE),
		row(TA, C1, 5, PLAN_FREE),
	};

	(void)state;
	expect(r, 4, "0,1,2|3");
	r[1].single = true;
	expect(r, 4, "0|1|2|3");
}

static void test_tables_and_catalogs(void **state)
{
	struct plan_row two[] = {
		row(TA, C1, 1, PLAN_FREE), row(TB, C1, 1, PLAN_FREE), row(TA, C1, 1, PLAN_FREE),
		row(TB, C1, 2, PLAN_FREE),
	};
	/* a catalog change: the table's earlier rows go first, whatever the keys */
	struct plan_row cats[] = {
		row(TA, C1, 1, PLAN_FREE), row(TA, C2, 1, PLAN_FREE), row(TA, C1, 2, PLAN_FREE),
	};

	/* ... and so does a change of role or of the settings the rows are
	 * written under; rows of one role and settings share statements again */
	struct plan_row ctxs[] = {
		row(TA, C1, 1, PLAN_FREE), row(TA, C1, 2, PLAN_FREE), row(TA, C1, 3, PLAN_FREE),
		row(TA, C1, 4, PLAN_FREE), row(TA, C1, 5, PLAN_FREE),
	};

	(void)state;
	expect(two, 4, "0|2|1,3");
	expect(cats, 3, "0|1|2");
	ctxs[2].ctx = TB;
	ctxs[3].ctx = TB;
	expect(ctxs, 5, "0,1|2,3|4");
	ctxs[3].ctx = NULL;
	ctxs[3].role = TC;
	expect(ctxs, 5, "0,1|2|3|4");
}

static void test_ordered(void **state)
{
	struct plan_row r[] = {
		row(TA, C1, 1, PLAN_ORDERED), row(TA, C1, 2, PLAN_ORDERED), row(TA, C1, 1, PLAN_ORDERED),
		row(TA, C1, 3, PLAN_ORDERED), row(TB, C1, 9, PLAN_FREE),
	};

	(void)state;
	/* arrival order, a new statement where a key repeats; free tables last */
	expect(r, 5, "0,1|2,3|4");
}

static void test_rowwise(void **state)
{
	struct plan_row r[] = {
		row(TA, C1, 1, PLAN_ROWWISE), row(TA, C1, 2, PLAN_ROWWISE), row(TB, C1, 1, PLAN_ROWWISE),
		row(TA, C1, 3, PLAN_ROWWISE), row(TC, C1, 4, PLAN_FREE), row(TA, C1, 3, PLAN_ROWWISE),
	};

	(void)state;
	/* each row alone, in arrival order across tables; free tables last */
	expect(r, 6, "0|1|2|3|5|4");
}

/* Invariants of any plan: every row once; a step has one table and catalog
 * and distinct keys (when keyed); the rows of a key keep their order; ordered
 * tables keep all their rows' order; row-wise rows are steps of their own, in
 * arrival order across their tables. */
static void check_invariants(const struct plan_row *rows, size_t n, const struct plan *p)
{
	int *seen = calloc(n + 1, sizeof(int));
	size_t *pos = calloc(n + 1, sizeof(size_t));
	size_t *stepof = calloc(n + 1, sizeof(size_t));
	size_t i, j, k, at = 0;

	assert_non_null(seen);
	assert_non_null(pos);
	assert_non_null(stepof);
	assert_int_equal(p->norder, n);
	for (i = 0; i < p->nsteps; i++) {
		const struct plan_step *s = &p->steps[i];

		assert_true(s->n > 0);
		for (j = 0; j < s->n; j++) {
			uint32_t r = p->order[s->first + j];

			assert_true(r < n);
			assert_int_equal(seen[r], 0);
			seen[r] = 1;
			pos[r] = at++;
			stepof[r] = i;
			assert_ptr_equal(rows[r].table, rows[p->order[s->first]].table);
			assert_ptr_equal(rows[r].cat, rows[p->order[s->first]].cat);
			assert_ptr_equal(rows[r].role, rows[p->order[s->first]].role);
			assert_ptr_equal(rows[r].ctx, rows[p->order[s->first]].ctx);
			if (rows[r].cls == PLAN_ROWWISE)
				assert_int_equal(s->n, 1);
			/* a free table's statement is one shard's */
			if (rows[r].cls == PLAN_FREE)
				assert_int_equal(rows[r].shard, rows[p->order[s->first]].shard);
			for (k = 0; k < j; k++) {
				uint32_t q = p->order[s->first + k];

				if (rows[r].keyed && rows[r].has_route && rows[q].has_route)
					assert_false(rows[q].route == rows[r].route);
			}
		}
	}
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++) {
			if (rows[i].table != rows[j].table)
				continue;
			if (rows[i].has_route && rows[j].has_route && rows[i].route == rows[j].route)
				assert_true(pos[i] < pos[j]);
			if (rows[i].cls != PLAN_FREE)
				assert_true(pos[i] < pos[j]);
			if (rows[i].cat != rows[j].cat || rows[i].role != rows[j].role || rows[i].ctx != rows[j].ctx)
				assert_true(pos[i] < pos[j]);
		}
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (rows[i].cls == PLAN_ROWWISE && rows[j].cls == PLAN_ROWWISE)
				assert_true(stepof[i] < stepof[j]);
	free(seen);
	free(pos);
	free(stepof);
}

static void test_random(void **state)
{
	static const char *const tabs[] = { TA, TB };
	static const char *const cats[] = { C1, C2 };
	struct plan_row rows[200];
	struct plan p;
	uint32_t seed = 12345;
	int iter;
	size_t n, i;

	(void)state;
	for (iter = 0; iter < 500; iter++) {
		n = 1 + (seed = seed * 1103515245 + 12345) % 200;
		for (i = 0; i < n; i++) {
			uint32_t x = (seed = seed * 1103515245 + 12345) >> 8;
			int t = (int)(x & 1);
			/* a table's class is fixed per iteration */
			enum plan_class cls = (enum plan_class)((uint32_t)(iter + t) % 3);

			rows[i] = row(tabs[t], cats[(x >> 3) % 7 == 0], (x >> 5) % 9, cls);
			rows[i].keyed = (x >> 9) % 5 != 0 || cls != PLAN_FREE;
			rows[i].single = (x >> 12) % 23 == 0;
			rows[i].ctx = (x >> 14) % 11 == 0 ? TC : NULL;
			/* every third iteration a table spread over shards: a key
			 * has one shard, a keyless row any */
			if (iter % 3 == 0)
				rows[i].shard = 1 + (uint32_t)(rows[i].route ? rows[i].route % 4 : (x >> 17) % 4);
		}
		/* one table, one keyed flag per iteration: the sink sets it per table */
		for (i = 0; i < n; i++)
			rows[i].keyed = rows[i].table == TA ? true : iter % 2 == 0;
		assert_true(plan_build(&p, rows, n));
		check_invariants(rows, n, &p);
		plan_free(&p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generations),
		cmocka_unit_test(test_shards),
		cmocka_unit_test(test_keyless_and_single),
		cmocka_unit_test(test_tables_and_catalogs),
		cmocka_unit_test(test_ordered),
		cmocka_unit_test(test_rowwise),
		cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
