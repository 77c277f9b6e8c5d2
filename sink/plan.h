/* Batch plans: which rows share a statement and in what order the statements run; pure, no I/O. */
#ifndef PGBATCHD_SINK_PLAN_H
#define PGBATCHD_SINK_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How the rows of a table may be grouped (the sink's enum tclass has the same values). */
enum plan_class {
	PLAN_FREE = 0,      /* rows interact only through their key */
	PLAN_ORDERED,       /* rows keep their arrival order */
	PLAN_ROWWISE,       /* each row is a statement of its own, in arrival order */
};

/* One row of a batch, in arrival order (units in order, each unit's rows in order). */
struct plan_row {
	const void *table;      /* identity of its table */
	const void *cat;        /* its catalog snapshot: rows of two never share a statement */
	const void *role;       /* the role it is written as: rows of two never share a statement */
	const void *ctx;        /* the settings it is written under: the same */
	uint64_t route;         /* its key's identity, when has_route */
	bool has_route;         /* false: it cannot conflict with another row */
	bool keyed;             /* its statement has an ON CONFLICT clause (keys must be unique in it) */
	bool single;            /* must be alone in its statement */
	uint8_t cls;            /* enum plan_class of its table */
	uint32_t shard;         /* its shard + 1 in a table spread by Citus, 0: not known */
};

/* A statement's worth of rows: order[first .. first + n), one table and catalog. */
struct plan_step {
	uint32_t first, n;
};

struct plan {
	uint32_t *order;        /* indexes into the input rows */
	size_t norder;
	struct plan_step *steps;
	size_t nsteps;
};

/* Groups rows[0..n) into steps so that running the steps in order, each as one
 * statement, leaves every table as running the rows one by one in arrival
 * order does (for rows that all succeed):
 *   PLAN_FREE: the k-th row of a key goes into the table's k-th "generation";
 *     a generation has each key once, generations run in order (rows without a
 *     key or without ON CONFLICT all go into the first); a generation's rows
 *     are a step per shard, shards in ascending order (rows of no known
 *     shard first), so that each statement is one shard's and every writer
 *     takes a table's shards in one order;
 *   PLAN_ORDERED: rows in arrival order, a new step where a key repeats;
 *   PLAN_ROWWISE: each row on its own, in arrival order (so that a foreign key
 *     or a statement trigger sees exactly what it sees with one row per statement).
 * A row marked single is a step of its own, after its table's rows before it
 * and before those after it. Steps of one table keep the order of its rows'
 * catalogs, roles and settings (rows of another catalog, role or settings
 * than the row before them start a new group). False when out of memory. */
bool plan_build(struct plan *p, const struct plan_row *rows, size_t n)
	__attribute__((warn_unused_result));
void plan_free(struct plan *p);

#endif
