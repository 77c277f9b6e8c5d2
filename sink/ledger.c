/* The batch ledger: one row per batch written in the batch's own transaction, so that a COMMIT whose answer was lost is resolved exactly. */
#include "sink/internal.h"
#include "sink/spool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The ledger holds (instance, id, at): instance is random per pgbatchd
 * process, id counts its batches. Every attempt at a batch inserts the same
 * row first. When the connection is lost after COMMIT was sent, the writer
 * asks on a new connection by inserting that row again inside a transaction it
 * rolls back: a unique violation means the COMMIT ran; success means it did
 * not (the insert waits for a transaction still holding the row, so the answer
 * is never "not yet"). transaction ids would not do: after a crash, an id whose
 * commit never reached the WAL is handed out again.
 * Rows older than an hour are deleted (pruned by the catalog connection),
 * except those of batches of this process still in flight.
 */

#define LEDGER_KEEP "1 hour"

/* The quoted schema and table of `name` ("schema.table", or "table" in public). */
static void split_name(const char *name, struct buf *out)
{
	const char *dot = strchr(name, '.');
	char part[256];

	if (dot == NULL) {
		sg_ident(out, "public");
		buf_putc(out, '.');
		sg_ident(out, name);
		return;
	}
	snprintf(part, sizeof(part), "%.*s", (int)(dot - name), name);
	sg_ident(out, part);
	buf_putc(out, '.');
	sg_ident(out, dot + 1);
}

char *ledger_name(const char *config_name)
{
	struct buf b;

	if (config_name == NULL || config_name[0] == '\0')
		return NULL;
	buf_init(&b);
	split_name(config_name, &b);
	return buf_steal(&b);
}

void ledger_create_sql(const struct sink *s, struct buf *sql)
{
	const char *dot = strchr(s->ledger_config, '.');
	struct buf schema;

	buf_init(&schema);
	if (dot) {
		char part[256];

		snprintf(part, sizeof(part), "%.*s", (int)(dot - s->ledger_config), s->ledger_config);
		sg_ident(&schema, part);
	} else {
		sg_ident(&schema, "public");
	}
	/* CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the
	 * schema exists: each object is made only where it is missing */
	buf_puts(sql, "DO $pgbatchd$ BEGIN ");
	if (buf_ok(&schema)) {
		buf_puts(sql, "IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = ");
		sg_literal(sql, dot ? s->ledger_config : "public", dot ? (size_t)(dot - s->ledger_config) : 6);
		buf_puts(sql, ") THEN CREATE SCHEMA ");
		buf_append(sql, schema.data, schema.len);
		buf_puts(sql, "; END IF; ");
	}
	buf_puts(sql, "IF pg_catalog.to_regclass(");
	sg_literal(sql, s->ledger, strlen(s->ledger));
	buf_puts(sql, ") IS NULL THEN CREATE TABLE ");
	buf_puts(sql, s->ledger);
	buf_puts(sql, " (instance bigint NOT NULL, id bigint NOT NULL, "
		 "at timestamptz NOT NULL DEFAULT pg_catalog.now(), PRIMARY KEY (instance, id)); END IF; ");
	if (s->spool) {
		/* ackmode = spool: a batch's row names the spool and the ids of
		 * its spooled units (a ledger made by an older pgbatchd gets them) */
		buf_puts(sql, "IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = "
			 "pg_catalog.to_regclass(");
		sg_literal(sql, s->ledger, strlen(s->ledger));
		buf_puts(sql, ") AND attname = 'units' AND NOT attisdropped) THEN ALTER TABLE ");
		buf_puts(sql, s->ledger);
		buf_puts(sql, " ADD COLUMN spool bigint, ADD COLUMN units bigint[]; END IF; ");
		/* each start's generation of a spool: a batch of an earlier start
		 * checks its own (spooled.c) */
		if (s->spool_owner) {
			buf_puts(sql, "IF pg_catalog.to_regclass(");
			sg_literal(sql, s->spool_owner, strlen(s->spool_owner));
			buf_puts(sql, ") IS NULL THEN CREATE TABLE ");
			buf_puts(sql, s->spool_owner);
			buf_puts(sql, " (spool bigint PRIMARY KEY, gen bigint NOT NULL); END IF; ");
		}
	}
	buf_puts(sql, "END $pgbatchd$; SELECT pg_catalog.has_table_privilege(");
	sg_literal(sql, s->ledger, strlen(s->ledger));
	buf_puts(sql, ", 'INSERT, SELECT, DELETE')");
	buf_free(&schema);
}

void ledger_insert_sql(const struct sink *s, uint64_t id, struct buf *sql)
{
	buf_printf(sql, "INSERT INTO %s (instance, id) VALUES (%lld, %llu)", s->ledger,
		   (long long)s->instance, (unsigned long long)id);
}

/* The same row by a statement each writer prepares once per connection:
 * planned once, not for every batch (27 us of planning a batch, per
 * pg_stat_statements). */
void ledger_prepare_sql(const struct sink *s, struct buf *sql)
{
	buf_printf(sql, "PREPARE pgbatchd_ledger(pg_catalog.int8) AS INSERT INTO %s (instance, id) VALUES (%lld, $1)",
		   s->ledger, (long long)s->instance);
}

void ledger_execute_sql(uint64_t id, struct buf *sql)
{
	buf_printf(sql, "EXECUTE pgbatchd_ledger(%llu)", (unsigned long long)id);
}

void ledger_prune_sql(const struct sink *s, uint64_t keep_from, struct buf *sql)
{
	buf_printf(sql, "DELETE FROM %s WHERE at < pg_catalog.now() - interval '" LEDGER_KEEP "' "
		   "AND NOT (instance = %lld AND id >= %llu)", s->ledger, (long long)s->instance,
		   (unsigned long long)keep_from);
	/* a spooled unit's row stays while the spool may hold its record (a
	 * crash would read it back); another spool's rows are its owner's */
	if (s->spool)
		buf_printf(sql, " AND (spool IS NULL OR (spool = %lld AND "
			   "(SELECT pg_catalog.max(u) FROM pg_catalog.unnest(units) u) < %llu))",
			   (long long)spool_id(s->spool), (unsigned long long)spool_low(s->spool));
}

bool ledger_conflict(const struct sink *s, const char *sqlstate, const struct pkt_diag *d)
{
	const char *table = d ? d->f[pkt_diag_index('t')] : NULL;
	const char *dot = strchr(s->ledger_config, '.');
	const char *name = dot ? dot + 1 : s->ledger_config;

	return sqlstate && strcmp(sqlstate, "23505") == 0 && table && strcmp(table, name) == 0;
}

uint64_t ledger_oldest_open(const struct sink *s)
{
	uint64_t oldest = UINT64_MAX, id;

	for (int i = 0; i < s->nwriters; i++) {
		id = writer_batch_id(s->writers[i]);
		if (id && id < oldest)
			oldest = id;
	}
	return oldest == UINT64_MAX ? s->batch_seq + 1 : oldest;
}
