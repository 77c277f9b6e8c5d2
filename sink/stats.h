/* What the sink tells its operators: one snapshot of its counters, tables, writers, histograms and recent rejects; and the operators' levers (pause, resume, flush). */
#ifndef PGBATCHD_SINK_STATS_H
#define PGBATCHD_SINK_STATS_H

#include <stdbool.h>
#include <stdint.h>

struct sink;

/* Histograms of fixed buckets (Prometheus's `le` upper bounds). Counts are
 * per bucket; counts[nb] is +Inf. */
#define SINK_HIST_MAX 16
struct sink_hist {
	int nb;
	const double *le;
	uint64_t counts[SINK_HIST_MAX + 1];
	uint64_t count;
	double sum;
};

enum sink_hist_kind {
	HIST_BATCH_ROWS = 0,        /* rows per batch */
	HIST_BATCH_SECONDS,         /* a batch's write, taken to settled */
	HIST_ACK_COMMIT,            /* a unit's arrival to its answer, ackmode = commit */
	HIST_ACK_IMMEDIATE,         /* ... ackmode = immediate */
	HIST_ACK_SPOOL,             /* ... ackmode = spool */
	HIST_KINDS
};

/* Every name is the table's as configured (case-folded unless casesensitive). */
struct sink_table_stats {
	char schema[128];
	char name[128];
	const char *conflictmode, *writemode, *ackmode;     /* the config's words */
	uint64_t rows_in;           /* taken: buffered, or sent in a client's transaction */
	uint64_t rows_written;      /* inserted or updated */
	uint64_t rows_skipped;      /* conflictmode = ignore: a row of that key existed */
	uint64_t rows_rejected;     /* not written: refused, failed or given up */
	uint64_t batches;           /* the writers' batches that held its rows */
	uint64_t flush[8];          /* ... by reason (sink_flush_reason_key) */
	uint64_t retries;           /* batch attempts again after a transient failure */
	uint64_t held;              /* flushes that were due while it was paused */
	uint64_t buffered_rows;     /* in the sink now, not yet settled */
	uint64_t buffered_bytes;
	int64_t last_flush_age_ms;  /* since its last batch was taken; -1: none yet */
	const char *last_flush_reason;  /* NULL: none yet */
	bool paused;                /* PAUSE: its rows wait */
	bool stopped;               /* exceptionmode = strict stopped it (55000 until resumed) */
	bool removed;               /* a reload removed it: what it holds is written, nothing taken */
};

struct sink_writer_stats {
	int idx;
	const char *state;          /* down, connecting, setup, idle, tx, ... */
	int backend_pid;            /* 0: none */
	uint64_t rows_in_flight;    /* of its batch */
	char table[260];            /* schema.name of its batch's first row; "" when idle */
	char last_error[256];       /* "SQLSTATE: message" of its last failure; "" */
};

struct sink_stats {
	uint64_t units, rows_in, rows_written, rows_skipped, rows_rejected, rows_rejected_file;
	uint64_t batches, batches_failed, retries, errors;
	uint64_t tx_rows, direct_rows;
	uint64_t flush[8];          /* batches by reason */
	uint64_t passthrough[32];   /* statements the sink gave back, by reason (sink_pass_reason_key) */
	uint64_t buffered_bytes, buffered_rows;
	int ntables;
	struct sink_table_stats *tables;
	int nwriters;
	struct sink_writer_stats *writers;
	struct sink_hist hist[HIST_KINDS];
	/* ackmode = spool (spool_dir set) */
	bool spool;
	bool spool_replaying;       /* read back at start-up, not all placed yet */
	uint64_t spool_id, spool_units, spool_fsyncs;
	int64_t spool_bytes, spool_oldest_us;   /* (oldest: append time in µs since the epoch, 0: none) */
	int spool_segments;
};

/* Seconds since the oldest spool segment holding an unwritten unit began; 0: none. */
double sink_spool_age(const struct sink_stats *st);

/* One snapshot (allocated; sink_stats_free). False when out of memory. */
bool sink_stats_take(const struct sink *s, struct sink_stats *out);
void sink_stats_free(struct sink_stats *st);

/* The names of the reasons, in snake case; NULL past the last. */
const char *sink_flush_reason_key(int i);
const char *sink_pass_reason_key(int i);

/* The rows refused last (at most SINK_REJECTS_KEPT), newest first. */
#define SINK_REJECTS_KEPT 64
struct sink_reject {
	int64_t unix_ms;
	char table[260];
	char sqlstate[6];
	char message[256];
	char row[256];              /* its values, as text, cut at 255 bytes */
	bool acknowledged;          /* its client had its answer already (ackmode = immediate) */
};
int sink_rejects_recent(const struct sink *s, struct sink_reject *out, int max);

/* PAUSE / RESUME: a paused table's rows are taken and buffered (up to
 * max_buffer_bytes, then the clients wait) but not written; ackmode = commit
 * clients wait for their answers. Units queued behind one of its rows in a
 * writer's queue wait with it (a writer's queue commits in order). A drain
 * (shutdown) writes them anyway, as does a reload that removes the table.
 * Rows inside a client's own transaction block are the client's to commit:
 * not held. table: "name" or "schema.name" as configured (case-folded
 * unless casesensitive), NULL for every table. Returns the tables it
 * changed, -1 when none matches. RESUME also ends a strict stop. */
int sink_pause(struct sink *s, const char *table, bool pause);

/* FLUSH: every row buffered now of the table (NULL: of every table not
 * paused) is written; done(arg, false) runs once they are all committed or
 * failed -- done(arg, true) when the table was paused before they were
 * (a FLUSH of every table does not wait for paused ones, nor for what waits
 * behind them in a writer's queue). Returns 0, -1 when no table matches, -2
 * when it is paused, -3 out of memory. */
int sink_flush_now(struct sink *s, const char *table, void (*done)(void *arg, bool paused), void *arg);
/* The caller of sink_flush_now with arg is gone: done will not run. */
void sink_flush_forget(struct sink *s, void *arg);

#endif
