/* The catalog fence: a batch is written only under the catalog its rows were read with, checked inside its own transaction; columns renamed meanwhile are followed by attnum. */
#ifndef PGBATCHD_SINK_FENCE_H
#define PGBATCHD_SINK_FENCE_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "sink/buf.h"
#include "sink/internal.h"
#include "sink/pgconn.h"

/*
 * Each catalog snapshot (struct tcat) keeps the fingerprint it was read at
 * (sg_fingerprint). The first Query of a batch's transaction checks, in one
 * statement after BEGIN, that every snapshot its rows use is still current:
 * it fails (22012, a division by zero, chosen because it cannot come from
 * anything else in that statement) when DDL has changed one of the tables
 * since, whoever ran it — another connection, a DO block, a function. The
 * writer then rolls back, reads the tables' columns as they are now
 * (fence_rebase_sql), renames the snapshot's columns by attnum and reads
 * its key again (fence_rebase), marks the tables stale for rows still to
 * come, and writes the batch again. Named rows keep the meaning they had
 * when they arrived: a value goes to the column that had that name then (by
 * attnum); a column dropped or retyped since leaves them as they were, and
 * the database's answer to them is the client's, as it would be directly.
 * Positional rows (no column list) are read as PostgreSQL reads their INSERT
 * when it runs: when the table's leading columns are no longer the
 * snapshot's, the snapshot gets a pos, the table as it is now, and its
 * positional rows are made anew for it before any batch of theirs is written
 * (fence_follow), wherever they wait.
 */

#define FENCE_MAX 64            /* distinct snapshots checked per batch */

/* The distinct snapshots of b's rows (the first FENCE_MAX), each with its
 * table, into cats and tabs; how many. */
int fence_snapshots(const struct batch *b, struct tcat **cats, struct stable **tabs);
/* A writer checks each snapshot with a statement it prepares once per
 * connection, table index t and snapshot (no parameters: planned once, the
 * cheapest form, 60 us a check against 110 for the function below):
 * PREPARE pgbatchd_fence_T_GEN, its EXECUTE, and the DEALLOCATE of the one a
 * newer snapshot replaces (no separators). Prepared statements outlive a
 * rolled-back transaction; the writer notes each as its answer comes. */
void fence_prepare_sql(const struct tcat *cat, int t, struct buf *out);
void fence_execute_sql(int t, uint32_t gen, bool drop, struct buf *out);
/* The wait for DDL still uncommitted on a table, before its check: EXECUTE
 * pgbatchd_lock(oid) (pg_relation_size takes an ACCESS SHARE lock by OID);
 * oid 0: the writer's PREPARE of it. */
void fence_lock_sql(uint32_t oid, struct buf *out);
/* The check statement for the snapshots of b not in `skip` (indexed as
 * fence_snapshots's; may be NULL), no separator, calling the connection's
 * pg_temp.pgbatchd_fp when `func`, else with the fingerprint's text inline
 * (planned every time: several times dearer); false when none is left with
 * a fingerprint, or out of memory (out->failed). */
bool fence_check_sql(const struct batch *b, bool func, const bool *skip, struct buf *out);
/* CREATE FUNCTION pg_temp.pgbatchd_fp(oid): the fingerprint in PL/pgSQL, its
 * plan kept for the writer's session (sent when the writer connects). */
void fence_function_sql(struct buf *out);
/* The question behind a failed check, four statements per table of b: its
 * columns now (oid, attnum, attname, type, fingerprint), its unique
 * indexes, its columns in full and its traits (as the catalog loader reads
 * them). */
bool fence_rebase_sql(struct sink *s, const struct batch *b, struct buf *out);
/* Its answer applied to the snapshots of b; *rekeyed when a table's key
 * changed (the rows' key identities no longer hold: the batch is written one
 * row per statement, in order). False when out of memory. */
bool fence_rebase(struct sink *s, const struct batch *b, const struct pc_result *r, const char *prefix,
		  bool *rekeyed);
/* The positional rows of b whose snapshot has a pos, made anew for it (in
 * b and in their units); the number moved: their key routes were made for
 * the old columns, so the batch is written one row per statement. */
int fence_follow(struct sink *s, struct batch *b);

#endif
