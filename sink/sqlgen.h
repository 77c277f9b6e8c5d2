/* SQL text generation for the write paths: quoting, COPY, staging, VALUES, unnest, ON CONFLICT. */
#ifndef PGBATCHD_SINK_SQLGEN_H
#define PGBATCHD_SINK_SQLGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "sink/buf.h"

/* One column of a target table, as the catalog found it. */
struct sg_col {
	char *name;         /* attname, exact */
	char *type;         /* type with typmod, a domain resolved to its base: staging columns */
	char *castbase;     /* that base type without typmod: unnest casts */
	char delim;         /* array element delimiter of the base type */
	bool is_array;      /* the base type is an array or a composite: unnest passes it as
	                       text[] and it is cast from text */
	bool key;           /* part of the conflict key */
	bool insertable;    /* may carry a value (not generated, not GENERATED ALWAYS identity) */
	bool settable;      /* may appear in DO UPDATE SET: insertable and not a key column */
};

struct sg_table {
	char *schema;
	char *name;
	char *stage;        /* the writer connection's temp staging table */
	int ncols;
	struct sg_col *cols;
	int nkey;           /* 0: no key, the table is append-only */
	int *key;           /* column indexes of the key, in key order */
};

/* What a row says about one column. OMIT: not named; DEFAULT: named with the
 * DEFAULT keyword (the same value as omitted, but "named" for update mode). */
enum sg_state { SG_OMIT = 0, SG_DEFAULT, SG_NULL, SG_VALUE };

struct sg_val {
	uint8_t state;
	uint32_t len;
	const char *text;   /* SG_VALUE: the value in its text input form */
};

/* A row is an array of ncols values. */
typedef const struct sg_val *sg_row;

enum sg_action { SG_PLAIN = 0, SG_NOTHING, SG_UPDATE };

/* The statement shape of a run of rows: the columns given values (the rest
 * take their defaults in the database) and the conflict action. */
struct sg_shape {
	int nins;
	int *ins;           /* column indexes with an explicit value, in table order */
	int nset;
	int *set;           /* SG_UPDATE: the columns of DO UPDATE SET */
	enum sg_action action;
	bool by_position;   /* sg_values_stmt: ins is the table's first nins columns, given
	                       without a column list, so that PostgreSQL places the values
	                       by the table's columns when the statement runs */
};

/* True when b may share a statement with a (a run). In writemode 0 rows with
 * different omitted columns share one statement (DEFAULT fills them); in the
 * other writemodes every row of a run gives values to the same columns. In
 * update mode the rows of a run also name the same columns. */
bool sg_same_run(const struct sg_table *t, enum conflict_mode m, enum write_mode w,
		 sg_row a, sg_row b);
/* Builds the shape of rows[0..n) (one run). mode STRICT or a table without a
 * key: plain INSERT; IGNORE: DO NOTHING; UPSERT: every settable column;
 * UPDATE: the settable columns the rows named; an empty SET list degrades to
 * DO NOTHING. */
bool sg_shape_build(struct sg_shape *sh, const struct sg_table *t, enum conflict_mode m,
		    const sg_row *rows, size_t n) __attribute__((warn_unused_result));
void sg_shape_free(struct sg_shape *sh);

/* "name" with embedded double quotes doubled. */
void sg_ident(struct buf *b, const char *name);
/* "schema"."table" */
void sg_qualified(struct buf *b, const struct sg_table *t);
/* A string constant: '...' with quotes doubled, or E'...' with backslashes and
 * quotes doubled when the text holds a backslash (independent of
 * standard_conforming_strings). */
void sg_literal(struct buf *b, const char *s, size_t n);
/* One array element for an array literal's text form: "..." with backslash and
 * double quote escaped by a backslash, or NULL. */
void sg_array_elem(struct buf *b, const struct sg_val *v);
/* The text of a one-dimensional array literal of column col of rows[0..n). */
void sg_array_literal(struct buf *b, const sg_row *rows, size_t n, int col, char delim);
/* " ON CONFLICT (key) DO ..." or nothing for SG_PLAIN. */
void sg_conflict_clause(struct buf *b, const struct sg_table *t, const struct sg_shape *sh);

/* CREATE TEMP TABLE IF NOT EXISTS for the staging table. */
/* A table's catalog fingerprint: md5 of the row versions (xmin) of everything
 * that decides how its rows are written (pg_class, pg_attribute, pg_attrdef,
 * pg_index, its pg_constraint, pg_trigger, pg_rewrite); any DDL on the table
 * changes it (a foreign key from another table adds triggers to this one). oid_expr is an SQL expression for the table's OID. */
void sg_fingerprint(struct buf *b, const char *oid_expr);
void sg_stage_create(struct buf *b, const struct sg_table *t);
void sg_stage_clear(struct buf *b, const struct sg_table *t);
/* COPY "s"."t" (cols) FROM STDIN */
void sg_copy_target(struct buf *b, const struct sg_table *t, const struct sg_shape *sh);
/* COPY pg_temp."stage" (cols) FROM STDIN */
void sg_copy_stage(struct buf *b, const struct sg_table *t, const struct sg_shape *sh);
/* One line of COPY text data: the shape's columns of row, tab separated. */
void sg_copy_row(struct buf *b, const struct sg_shape *sh, sg_row row);
/* INSERT INTO "s"."t" (cols) SELECT cols FROM pg_temp."stage" ON CONFLICT ... */
void sg_insert_from_stage(struct buf *b, const struct sg_table *t, const struct sg_shape *sh);
/* INSERT INTO "s"."t" (cols) VALUES (...), ... ON CONFLICT ...: as many rows
 * of rows[0..n) as fit in maxbytes (at least one). Returns the rows used. A
 * shape with no explicit column names the first column with DEFAULT. */
size_t sg_values_stmt(struct buf *b, const struct sg_table *t, const struct sg_shape *sh,
		      const sg_row *rows, size_t n, size_t maxbytes);
/* INSERT INTO "s"."t" (cols) SELECT ... FROM unnest('{...}'::t1[], ...) AS u(...) ON CONFLICT ...
 * with one array literal per shape column holding that column of rows[0..n)
 * (an array column travels as text[] of array literals). */
void sg_unnest_stmt(struct buf *b, const struct sg_table *t, const struct sg_shape *sh,
		    const sg_row *rows, size_t n);

#endif
