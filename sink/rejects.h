/* The rejects file: one JSON line per row the database refused, per table (rejectfile), reopened on SIGHUP. */
#ifndef PGBATCHD_SINK_REJECTS_H
#define PGBATCHD_SINK_REJECTS_H

#include "sink/internal.h"

/*
 * A line: {"time": "2026-11-28T16:10:00.123Z", "table": "public.t",
 * "sqlstate": "23514", "message": ..., "detail": ... or null, "role": ...,
 * "client": "127.0.0.1:5432" or null, "row": true, "values": {"col": "text" or
 * null, ...}} (columns the row did not name are left out). "row" is false for
 * a row refused with its statement (exceptionmode = strict, ackmode =
 * immediate: acknowledged, not written, though another row was the bad one). Each line is one write(2) to
 * a file opened with O_APPEND: lines of concurrent writers never interleave.
 * A file that cannot be opened or written is said in the log, once per
 * opening; the row is then in the log instead.
 */

/* r (of u) was refused with e: its line, when its table has a rejectfile.
 * False when it has none, or the line could not be written. */
bool rejects_write(struct sink *s, const struct sink_unit *u, const struct srow *r, const struct berr *e,
		   bool own);
/* SIGHUP: every rejects file is closed, and opened again at its next line
 * (logrotate moves the file, then signals). */
void rejects_reopen(struct sink *s);

#endif
