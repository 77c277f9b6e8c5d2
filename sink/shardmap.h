/* Citus shard routing: PostgreSQL's hash of a distribution value, and its shard; pure, no I/O. */
#ifndef PGBATCHD_SINK_SHARDMAP_H
#define PGBATCHD_SINK_SHARDMAP_H

/* Only the grouping of a batch's rows depends on it: Citus routes every row
 * itself, so a value hashed wrongly (or not at all) costs a statement that
 * touches more shards, never a row. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sink/keycanon.h"

/* Which of PostgreSQL's hash functions a distribution column's type uses
 * (its default hash operator class), for the types handled here. */
enum dist_hash {
	DH_NONE = 0,    /* not computed here: its rows are not grouped by shard */
	DH_INT2,        /* hashint2 */
	DH_INT4,        /* hashint4 */
	DH_INT8,        /* hashint8 */
	DH_TEXT,        /* hashtext (text, varchar) with a deterministic collation */
	DH_BPCHAR,      /* hashbpchar: trailing spaces do not count */
	DH_UUID,        /* uuid_hash: the 16 bytes */
	DH_DATE,        /* hashint4 of the days since 2000-01-01 */
	DH_TIMESTAMP,   /* timestamp_hash: hashint8 of the microseconds since 2000 */
	DH_TIMESTAMPTZ, /* the same, for a value that names its zone (else the
			   session's TimeZone decides: not computed) */
	DH_NUMERIC,     /* hash_numeric: its base-10000 digits and weight */
};

/* The hash for a column of key kind k (its base type's, keycanon.h). */
enum dist_hash dist_hash_for(enum key_kind k, bool nondet_collation);

/* PostgreSQL's hash_bytes() and hash_bytes_uint32(): Bob Jenkins's lookup3
 * mix as PostgreSQL seeds and finishes it (little-endian words). */
uint32_t pg_hash_bytes(const void *p, size_t n);
uint32_t pg_hash_uint32(uint32_t k);

/* The hash Citus computes for the value whose text input form is
 * text[0..len), in a column of type modifier typmod (-1: none; a numeric's
 * scale or a timestamp's precision rounds the value stored, and a value that
 * would be rounded is not computed). False when the text is not one this
 * parser reads exactly. */
bool dist_hash_value(enum dist_hash h, int typmod, const char *text, size_t len, int32_t *out)
	__attribute__((warn_unused_result));

/* A hash-distributed table's shards: the lower ends of their hash ranges,
 * ascending (pg_dist_shard.shardminvalue). */
struct shardmap {
	int n;
	int32_t *mins;
};

/* Reads the space-separated minimum values, ascending. False when the list
 * is not one (the map stays empty) or on no memory. */
bool shardmap_parse(struct shardmap *m, const char *list) __attribute__((warn_unused_result));
void shardmap_free(struct shardmap *m);
/* The index of the shard whose range holds hash h, or -1 for none. */
int shardmap_find(const struct shardmap *m, int32_t h);

#endif
