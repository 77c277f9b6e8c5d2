/* The catalog loader's questions as SQL text: a table's columns, unique indexes and traits, by server version. */
#include "sink/internal.h"

#include <stdio.h>
#include <string.h>

/* Appends tmpl with each $1 read as oid. */
static void put_oid(struct buf *b, const char *tmpl, const char *oid)
{
	const char *p;

	while ((p = strstr(tmpl, "$1")) != NULL) {
		buf_append(b, tmpl, (size_t)(p - tmpl));
		buf_puts(b, oid);
		tmpl = p + 2;
	}
	buf_puts(b, tmpl);
}

void catalog_columns_sql(struct catalog *c, struct buf *b, const char *oid)
{
	char sql[3072];

	snprintf(sql, sizeof(sql),
		 "SELECT a.attnum, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), "
		 "pg_catalog.format_type(a.atttypid, -1), b.oid, "
		 "pg_catalog.format_type(b.oid, CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END), "
		 "pg_catalog.format_type(b.oid, -1), b.typcategory, b.typdelim, "
		 /* a default is read without opening the table (relid 0): a
		  * client's lock on it (LOCK TABLE, TRUNCATE, ALTER) must not stall
		  * the catalog connection every session shares; a generated column's
		  * expression names columns and cannot be read so (it is not needed) */
		 "CASE WHEN %s = '' THEN pg_catalog.pg_get_expr(d.adbin, 0) END, a.attnotnull, %s, %s, "
		 "CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END, %s, "
		 "(SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname) "
		 "FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace "
		 "WHERE co.oid = a.attcollation), a.atttypid "
		 "FROM pg_catalog.pg_attribute a "
		 "JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
		 "JOIN pg_catalog.pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END "
		 "LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
		 "WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
		 catalog_version(c) >= 120000 ? "a.attgenerated" : "''",
		 catalog_version(c) >= 120000 ? "a.attgenerated" : "''",
		 catalog_version(c) >= 100000 ? "a.attidentity" : "''",
		 catalog_version(c) >= 120000 ? "COALESCE((SELECT NOT co.collisdeterministic FROM pg_catalog.pg_collation co "
					"WHERE co.oid = a.attcollation), false)" : "false");
	put_oid(b, sql, oid);
}

void catalog_index_sql(struct catalog *c, struct buf *b, const char *oid)
{
	buf_printf(b, "SELECT i.indisprimary, i.indkey, %s, i.indimmediate FROM pg_catalog.pg_index i "
		   "WHERE i.indrelid = %s AND i.indisunique AND i.indisvalid "
		   "AND i.indpred IS NULL AND i.indexprs IS NULL ORDER BY i.indexrelid",
		   catalog_version(c) >= 150000 ? "i.indnullsnotdistinct" : "false", oid);
}

/* What decides how the table's rows may be ordered and written: other unique
 * indexes and exclusion constraints, foreign keys both ways, user triggers on
 * INSERT or UPDATE, INSERT or UPDATE rules. */
void catalog_traits_sql(struct catalog *c, struct buf *out, const char *oid)
{
	/* a partitioned table's rows fire its partitions' triggers too */
	const char *trig_rels = catalog_version(c) >= 120000 ?
		"(g.tgrelid = $1 OR g.tgrelid IN (SELECT pt.relid FROM pg_catalog.pg_partition_tree($1) pt))" :
		"g.tgrelid = $1";
	const char *check_rels = catalog_version(c) >= 120000 ?
		"(k.conrelid = $1 OR k.conrelid IN (SELECT pt.relid FROM pg_catalog.pg_partition_tree($1) pt))" :
		"k.conrelid = $1";
	struct buf sql;

	buf_init(&sql);
	buf_printf(&sql, "SELECT "
		  "(SELECT count(*) FROM pg_catalog.pg_index i WHERE i.indrelid = $1 AND i.indisunique), "
		  "(SELECT count(*) FROM pg_catalog.pg_constraint x WHERE x.conrelid = $1 AND x.contype = 'x'), "
		  "(SELECT pg_catalog.string_agg(f.r::pg_catalog.text, ' ') FROM ("
		  "SELECT confrelid AS r FROM pg_catalog.pg_constraint WHERE conrelid = $1 AND contype = 'f' UNION "
		  "SELECT conrelid FROM pg_catalog.pg_constraint WHERE confrelid = $1 AND contype = 'f') f), "
		  "(SELECT pg_catalog.string_agg(g.tgtype::pg_catalog.text, ' ') FROM pg_catalog.pg_trigger g "
		  "WHERE %s AND NOT g.tgisinternal AND g.tgenabled <> 'D'), "
		  "EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite w WHERE w.ev_class = $1 "
		  "AND w.ev_type IN ('2', '3') AND w.rulename <> '_RETURN'), "
		  /* a default that calls a volatile function (nextval, random, ...):
		   * the functions an expression calls are in its node tree */
		  "EXISTS (SELECT 1 FROM pg_catalog.pg_attrdef d CROSS JOIN LATERAL "
		  "pg_catalog.regexp_matches(d.adbin::pg_catalog.text, ':(?:funcid|opfuncid) ([0-9]+)', 'g') m "
		  "JOIN pg_catalog.pg_proc f ON f.oid = m[1]::pg_catalog.oid "
		  "WHERE d.adrelid = $1 AND f.provolatile = 'v'), "
		  /* nextval(): the session's currval()/lastval() */
		  "EXISTS (SELECT 1 FROM pg_catalog.pg_attrdef d CROSS JOIN LATERAL "
		  "pg_catalog.regexp_matches(d.adbin::pg_catalog.text, ':(?:funcid|opfuncid) ([0-9]+)', 'g') m "
		  "WHERE d.adrelid = $1 AND m[1]::pg_catalog.oid = 'pg_catalog.nextval(pg_catalog.regclass)'"
		  "::pg_catalog.regprocedure), "
		  /* facts of the connection that writes it */
		  "EXISTS (SELECT 1 FROM pg_catalog.pg_attrdef d CROSS JOIN LATERAL "
		  "pg_catalog.regexp_matches(d.adbin::pg_catalog.text, ':(?:funcid|opfuncid) ([0-9]+)', 'g') m "
		  "JOIN pg_catalog.pg_proc f ON f.oid = m[1]::pg_catalog.oid "
		  "WHERE d.adrelid = $1 AND f.pronamespace = (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname = 'pg_catalog') AND f.proname IN "
		  "('pg_backend_pid', 'inet_client_addr', 'inet_client_port', 'inet_server_addr', "
		  "'inet_server_port', 'current_setting', 'pg_my_temp_schema', 'pg_current_xact_id', "
		  "'txid_current', 'pg_current_xact_id_if_assigned', 'txid_current_if_assigned')), "
		  /* a volatile function besides nextval(): it may change the session */
		  "EXISTS (SELECT 1 FROM pg_catalog.pg_attrdef d CROSS JOIN LATERAL "
		  "pg_catalog.regexp_matches(d.adbin::pg_catalog.text, ':(?:funcid|opfuncid) ([0-9]+)', 'g') m "
		  "JOIN pg_catalog.pg_proc f ON f.oid = m[1]::pg_catalog.oid "
		  "WHERE d.adrelid = $1 AND f.provolatile = 'v' AND f.oid <> "
		  "'pg_catalog.nextval(pg_catalog.regclass)'::pg_catalog.regprocedure), "
		  /* more code an INSERT or its DO UPDATE runs: a CHECK constraint
		   * calling a volatile function (of the table or a partition), a
		   * column of a domain (or an array of one), a foreign key whose ON
		   * UPDATE action changes the referencing rows */
		  "EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k CROSS JOIN LATERAL "
		  "pg_catalog.regexp_matches(k.conbin::pg_catalog.text, ':(?:funcid|opfuncid) ([0-9]+)', 'g') m "
		  "JOIN pg_catalog.pg_proc f ON f.oid = m[1]::pg_catalog.oid "
		  "WHERE %s AND k.contype = 'c' AND f.provolatile = 'v') "
		  "OR EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type y ON y.oid = a.atttypid "
		  "LEFT JOIN pg_catalog.pg_type e ON e.oid = y.typelem "
		  "WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped "
		  "AND (y.typtype = 'd' OR e.typtype = 'd')) "
		  "OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint r WHERE r.confrelid = $1 AND r.contype = 'f' "
		  "AND r.confupdtype IN ('c', 'n', 'd'))%s", trig_rels, check_rels,
		   /* on a Citus coordinator, how the table is spread: method,
		    * replication model, distribution column, shards, and a
		    * hash-distributed table's shards' lower bounds, ascending */
		   catalog_kind(c) != BACKEND_CITUS ? "" :
		   ", (SELECT p.partmethod::pg_catalog.text FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = $1), "
		   "(SELECT p.repmodel::pg_catalog.text FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = $1), "
		   "(SELECT pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) "
		   "FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = $1 AND p.partkey IS NOT NULL), "
		   "(SELECT pg_catalog.count(*) FROM pg_catalog.pg_dist_shard d WHERE d.logicalrelid = $1), "
		   "(SELECT pg_catalog.string_agg(d.shardminvalue, ' ' ORDER BY d.shardminvalue::pg_catalog.int4) "
		   "FROM pg_catalog.pg_dist_shard d WHERE d.logicalrelid = $1 AND d.shardminvalue IS NOT NULL "
		   "AND EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = $1 AND p.partmethod = 'h'))");
	if (buf_ok(&sql))
		put_oid(out, sql.data, oid);
	else
		out->failed = true;
	buf_free(&sql);
}
