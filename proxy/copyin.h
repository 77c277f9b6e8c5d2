/* COPY ... FROM into a configured table, with the table's conflict clause: the Query rewritten around a staging table on the client's own connection, and its answer made the COPY's own; no sockets. */
#ifndef PGBATCHD_PROXY_COPYIN_H
#define PGBATCHD_PROXY_COPYIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/insert_find.h"
#include "sink/buf.h"
#include "sink/sink.h"

struct evbuffer;

/*
 * COPY has no ON CONFLICT. A Query that is one COPY name [(columns)] FROM
 * ... (STDIN, a file, a program; any options, WHERE) into a configured table
 * is sent as one Query of four statements, which PostgreSQL runs in one
 * transaction (the client's own when it has one open):
 *
 *   DO block: checks that the columns COPY fills (not generated ones) are
 *             the catalog's (else 55000: the table is read again, and the
 *             COPY works when sent again), then CREATE TEMP TABLE
 *             pgbatchd_copy with them as they are now, their types and
 *             collations, no constraints;
 *   the client's COPY, its table's name replaced by pg_temp.pgbatchd_copy;
 *   INSERT INTO the table (columns) SELECT ... FROM pg_temp.pgbatchd_copy
 *             with the table's conflict clause (sink_copy);
 *   DROP TABLE pg_temp.pgbatchd_copy.
 *
 * The COPY sub-protocol between client and server is untouched. The client
 * hears what a COPY into the table would say: CopyInResponse and `COPY n`
 * (n: the rows COPY read; held until the rows are in the table, so that an
 * error of the INSERT is the COPY's only answer), not the other statements'
 * CommandCompletes; an
 * error or notice that names the staging table names the table instead (a
 * bad value: "COPY t, line 3, column v: ..."), and its position points into
 * the text the client sent.
 */
struct copyin;

#define COPYIN_STAGE "pgbatchd_copy"

/* sql[0..len) (UTF-8; *from maps its offsets to the client's text, NULL when
 * it is that text) with copy site s rewritten as above; cp from sink_copy
 * (its create, insert, relname and schema);
 * `client` is the text the client sent. *out gets the new text in the
 * client's encoding `enc`, *info what its answer needs. False when the
 * clause or the names cannot be written in that encoding, or out of memory. */
bool copyin_build(const char *client, size_t clen, const char *sql, size_t len, const uint32_t *from,
		  const struct ins_site *s, const struct sink_copy *cp, const char *enc, struct buf *out,
		  struct copyin **info);
void copyin_free(struct copyin *ci);

/* Whether a backend message of this type, in the answer to such a Query,
 * is one copyin_relay rewrites (it needs it whole). */
bool copyin_reads(uint8_t type);
/* msg[0..total) of the answer, as the client gets it, onto out (nothing for
 * the staging statements' CommandCompletes). */
void copyin_relay(struct copyin *ci, const uint8_t *msg, size_t total, struct evbuffer *out);
/* Whether the answer so far says the table changed since its catalog was
 * read (the caller has it read again); its names (UTF-8). */
bool copyin_stale(const struct copyin *ci, const char **schema, const char **table);

#endif
