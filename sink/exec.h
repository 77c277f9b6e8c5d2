/* A batch's transaction as statements: building the Queries of an attempt and reading what their results mean. */
#ifndef PGBATCHD_SINK_EXEC_H
#define PGBATCHD_SINK_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sink/internal.h"
#include "sink/pgconn.h"
#include "sink/plan.h"

/*
 * An attempt writes a batch in one transaction, in one of two modes:
 *  - plain: every unit at once, planned as one piece (plan.h);
 *  - isolating (after a row was rejected): pieces of whole units in unit
 *    order, each under a savepoint. A piece that fails is rolled back and split
 *    in two; a single unit that fails is rejected whole (exceptionmode=strict)
 *    or split by rows until the bad ones stand alone (ignore). Pieces run in
 *    unit order, so each sees exactly what the units before it left, and a
 *    rejected unit never had a row written: the outcome is that of running the
 *    units one by one, at O(bad units x log units) pieces.
 * The attempt is a series of simple Queries (statements packed up to a size);
 * the first begins with BEGIN and the batch's ledger row, the last ends with
 * COMMIT.
 */

enum xkind {
	X_BEGIN = 0, X_LEDGER, X_STAGE_CREATE, X_SAVEPOINT, X_RELEASE, X_UNDO, X_WRITE,
	X_COPY_STAGE, X_CLEAR_STAGE, X_COMMIT,
	X_PROBE_UNDO,       /* a probe piece succeeded: its rows are undone */
	X_IMMEDIATE,        /* SET CONSTRAINTS ALL IMMEDIATE before a change of role or
	                       settings: the rows before's deferred triggers fire now */
	X_ROLE,             /* SET LOCAL ROLE, or set_config(..., true): what follows is
	                       written as a client's role, with its session's settings */
	X_CHECK,            /* the catalog fence (fence.h) */
	X_FENCE_PREP,       /* PREPARE of a fence check (stage_tab, stage_gen name it) */
	X_FENCE_DROP,       /* DEALLOCATE of the one it replaces */
	X_LEDGER_PREP,      /* PREPARE of the ledger's INSERT */
	X_LOCK,             /* the fence's wait for DDL (pgbatchd_lock), or its PREPARE */
};

struct xstmt {
	uint8_t kind;
	uint32_t piece;             /* the piece it belongs to (index into work) */
	struct srow **rows;         /* X_WRITE, X_COPY_STAGE: its rows (owned array) */
	uint32_t n;
	struct stable *tab;
	struct sg_shape shape;      /* the columns it writes */
	bool has_shape;
	bool returning;             /* X_WRITE: RETURNING the key of every row written */
	bool values;                /* X_WRITE: INSERT ... VALUES (its errors read as direct ones) */
	int copy;                   /* its COPY FROM STDIN in the Query, or -1 */
	uint32_t copy_pos;
	int stage_tab;              /* X_STAGE_CREATE, X_FENCE_*: the table index; gen below */
	uint32_t stage_gen;
};

struct piece {
	uint32_t ua, ub;            /* units [ua, ub) of the batch */
	uint32_t ra, rb;            /* in_unit: rows [ra, rb) of unit ua */
	bool in_unit;
	bool done;
	/* A rejected strict unit of several statements: which statement failed,
	 * as in a serial run, is found by bisection on statement prefixes. The
	 * piece writes the rows of statements [0, mid] and is undone either way;
	 * the answer lies in [slo, shi]. */
	bool probe;
	uint32_t slo, shi;
};

enum xresult {
	XR_NEXT = 0,        /* send the next Query */
	XR_COMMITTED,       /* every row has its outcome */
	XR_ISOLATE,         /* a row was rejected: roll back, then an isolating attempt */
	XR_SINGLES,         /* the rows a statement wrote cannot be told apart: roll back,
			       then an attempt with one row per statement */
	XR_TRANSIENT,       /* roll back (if still connected) and retry; ambiguous: the
			       COMMIT may have run */
	XR_LEDGER_GONE,     /* the ledger cannot be written: retry without it */
	XR_FAIL,            /* the batch fails as a whole (err) */
	XR_CATALOG,         /* a table changed since its rows were read: roll back, rebase, again */
	XR_ALREADY,         /* the ledger says an earlier attempt committed the batch: roll back */
};

struct xrun {
	struct sink *s;
	struct batch *b;
	bool isolating;
	bool singles;               /* one row per statement */
	bool ledger;                /* write the batch's ledger row */
	bool *lock_prep;            /* the writer's: pgbatchd_lock is prepared (NULL: inline) */
	bool *ledger_prep;          /* the writer's: its connection has pgbatchd_ledger
				       prepared; NULL: the INSERT's text each time */
	bool counts;                /* some unit waits for its row counts (ackmode=commit) */
	bool fence;                 /* check the catalog fence after BEGIN */
	bool fence_func;            /* with the connection's pg_temp.pgbatchd_fp */
	uint32_t *fence_gen;        /* the writer's: per table, the snapshot its prepared
				       check is for (nstage long; 0: none), or NULL */
	uint32_t *stage_gen;        /* the writer's: per table, the staging table it has */
	int nstage;
	/* the pieces; those before `it` are written (done when their RELEASE answered) */
	struct piece *work;
	size_t nwork, capwork;
	/* where the next statement comes from */
	size_t it;                  /* the piece being emitted */
	bool it_open;               /* its SAVEPOINT (isolating) is sent */
	struct srow **prows;        /* its rows */
	size_t nprows;
	struct plan plan;
	bool planned;
	size_t step;                /* the step of the plan, and the row in it */
	size_t pos;
	bool begun;                 /* BEGIN is sent */
	bool undo;                  /* the next Query starts by undoing a failed piece */
	bool probe_wait;            /* a probe piece is sent: nothing follows until its answer */
	const char *role;           /* the role SET LOCAL last in this transaction (sink_role), or NULL */
	const char *ctx;            /* the settings set last (session_ctx), NULL: the connection's own */
	bool ctx_moved;             /* settings were set in this transaction */
	bool ctx_unsure;            /* ... and a savepoint may have undone the last */
	bool wrote;                 /* rows were written in this transaction */
	bool immediate;             /* SET CONSTRAINTS ALL IMMEDIATE was said in it */
	bool commit_sent;
	/* the Query in flight */
	struct xstmt *q;
	size_t nq, capq;
	int ncopy;
	int fail_at;                /* the statement that failed, -1 */
	/* staging tables created in this transaction (recorded once it commits) */
	int *tx_stage;
	uint32_t *tx_gen;
	int ntx_stage;
	struct berr *err;           /* XR_FAIL, XR_TRANSIENT: why */
	bool ambiguous;             /* XR_TRANSIENT with COMMIT sent and no answer */
	bool fence_lost;            /* XR_TRANSIENT: the prepared statements are not as noted */
};

/* A new attempt over b (rows keep the outcomes the caller left them with);
 * own_role: the role the connection's transactions start as (sink_role), or NULL. */
bool xrun_start(struct xrun *x, struct sink *s, struct batch *b, bool isolating, bool singles,
		uint32_t *stage_gen, int nstage, const char *own_role) __attribute__((warn_unused_result));
void xrun_clear(struct xrun *x);
/* The next Query's text into sql; false when out of memory (sql failed). */
bool xrun_build(struct xrun *x, struct buf *sql);
/* Whether the Query built holds COPY FROM STDIN. */
bool xrun_has_copy(const struct xrun *x);
/* pc_copy_fill for the Query built. */
void xrun_fill(void *arg, int copy, struct buf *chunk, bool *done);
/* Reads the Query's result. */
enum xresult xrun_result(struct xrun *x, const struct pc_result *r);
/* After XR_COMMITTED: the staging tables this transaction created exist now. */
void xrun_commit_stages(struct xrun *x);

/* Shared by the Query builder (exec.c) and the result reader (xresult.c). */
/* Replaces work[at] by the pieces a and b (b may be NULL). */
bool xrun_work_replace(struct xrun *x, size_t at, const struct piece *a, const struct piece *b);
bool xrun_work_remove(struct xrun *x, size_t at);
/* A row not rejected (nor dropped with its unit). */
bool xrun_row_live(const struct srow *r);

#endif
