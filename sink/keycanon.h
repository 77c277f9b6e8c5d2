/* Conflict keys: canonical typed values (so keys compare by value, not spelling) and hashing. */
#ifndef PGBATCHD_SINK_KEYCANON_H
#define PGBATCHD_SINK_KEYCANON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "sink/buf.h"
#include "sink/sqlgen.h"

/* How a key column's text is made canonical. The rule for each kind is sound:
 * two texts get the same canonical bytes only if PostgreSQL reads them as the
 * same value. It need not be complete: a spelling the parser does not take is
 * kept as is ("raw"), so two spellings of one value may stay apart; the writer
 * then meets the duplicate in the database and splits the statement. */
enum key_kind {
	KEY_RAW = 0,        /* bytes as written, inexact: every type without a rule below */
	KEY_TEXT,           /* text, varchar: bytes as written, exact */
	KEY_NAME,           /* name: bytes as written, exact below NAMEDATALEN */
	KEY_INT2,
	KEY_INT4,
	KEY_INT8,           /* integer value (PostgreSQL's int input: spaces, sign, decimal digits) */
	KEY_NUMERIC,        /* normalized decimal: no leading/trailing zeros, exponent; NaN, +-Infinity */
	KEY_FLOAT4,
	KEY_FLOAT8,         /* the binary value (strtof / strtod), -0 = 0, one NaN */
	KEY_BOOL,           /* every spelling boolin takes */
	KEY_UUID,           /* 16 bytes (braces, hyphens after any 4 hex digits, either case) */
	KEY_BPCHAR,         /* trailing spaces removed */
	KEY_DATE,           /* ISO YYYY-MM-DD only */
	KEY_TIMESTAMP,      /* ISO date, ' ' or 'T', HH:MM[:SS[.ffffff]], no zone */
	KEY_TIMESTAMPTZ,    /* as KEY_TIMESTAMP with Z or +-HH[:MM] (an instant); without a zone
			       (a local time) the form is not exact: the database reads it */
	KEY_TIME,           /* HH:MM[:SS[.ffffff]] */
};

/* The kind for a base type OID. */
enum key_kind key_kind_for_type(uint32_t typoid);
/* True for kinds with a parser: PostgreSQL's output form of their values is
 * one the parser takes exactly. */
bool key_kind_parses(enum key_kind k);

/* Appends the canonical form of text[0..len) (a tag byte then the value) to
 * out. Returns whether the form is exact: equal forms iff equal values. A
 * spelling kept raw for a type that has other spellings is not. */
bool key_canon(enum key_kind k, const char *text, size_t len, struct buf *out);

/* A key's token is each column's canonical form (or a marker) framed by its
 * length (4 bytes, host order); the key's route is key_hash of its token. */
void key_token_put(struct buf *tok, const void *p, size_t n);
/* The route of a one-column key of an integer kind, from its text, without a
 * buffer: what key_hash of the token of key_canon's form gives. False when
 * the kind is not an integer or the text is not an exact one of it. */
bool key_route_int(enum key_kind k, const char *text, size_t len, uint64_t *route)
	__attribute__((warn_unused_result));

/* Parsers behind key_canon, exposed for tests. Each returns false when the text
 * is not in the form it takes exactly. */
bool key_parse_int(const char *s, size_t n, int64_t min, int64_t max, int64_t *out)
	__attribute__((warn_unused_result));
bool key_parse_bool(const char *s, size_t n, bool *out) __attribute__((warn_unused_result));
bool key_parse_uuid(const char *s, size_t n, uint8_t out[16]) __attribute__((warn_unused_result));
/* Normalized decimal: "-123e-2", "0", "NaN", "+Inf", "-Inf". */
bool key_norm_numeric(const char *s, size_t n, struct buf *out) __attribute__((warn_unused_result));
/* Microseconds since 2000-01-01 of a date / timestamp in the ISO form;
 * *zoned tells whether a zone was given (then the value is UTC). */
bool key_parse_timestamp(const char *s, size_t n, bool date_only, bool allow_zone, int64_t *usec,
			 bool *zoned) __attribute__((warn_unused_result));

/* Microseconds since midnight of a time of day HH:MM[:SS[.ffffff]]. */
bool key_parse_time(const char *s, size_t n, int64_t *usec) __attribute__((warn_unused_result));

enum key_result {
	KEY_OK = 0,
	KEY_NULL,           /* a key column is NULL: never conflicts (NULLS DISTINCT) */
	KEY_DEFAULTED,      /* a key column is omitted or DEFAULT: the database computes it */
};

/* Whether row's key over cols[0..nkey) is a value, NULL or defaulted (what
 * key_build returns, without building it). */
enum key_result key_result_of(const int *cols, int nkey, sg_row row, bool nulls_not_distinct);

/* Builds the canonical composite key of row over the key columns cols[0..nkey)
 * of the given kinds into out (emptied first). A NULL counts as a value when
 * nulls_not_distinct. *exact tells whether every part is exact. */
enum key_result key_build(struct buf *out, const enum key_kind *kinds, const int *cols, int nkey,
			  sg_row row, bool nulls_not_distinct, bool *exact);

uint64_t key_hash(const void *p, size_t n);

#endif
