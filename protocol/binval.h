/* Binary-format Bind parameters of the common types, decoded into the text their input functions read; no I/O. */
#ifndef PGBATCHD_PROTOCOL_BINVAL_H
#define PGBATCHD_PROTOCOL_BINVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Type OIDs of pg_type (stable across PostgreSQL versions). */
enum {
	OID_BOOL = 16, OID_BYTEA = 17, OID_NAME = 19, OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23,
	OID_TEXT = 25, OID_JSON = 114, OID_FLOAT4 = 700, OID_FLOAT8 = 701, OID_UNKNOWN = 705,
	OID_BPCHAR = 1042, OID_VARCHAR = 1043, OID_DATE = 1082, OID_TIME = 1083,
	OID_TIMESTAMP = 1114, OID_TIMESTAMPTZ = 1184, OID_INTERVAL = 1186, OID_TIMETZ = 1266,
	OID_NUMERIC = 1700, OID_UUID = 2950, OID_JSONB = 3802,
};

enum binval_result {
	BV_OK = 0,
	BV_UNSUPPORTED,     /* a type (or array shape) not decoded here */
	BV_INVALID,         /* not a valid binary value of the type: the server rejects it */
	BV_NOMEM,
};

/* A growable output string; zero it to start. A short one (a number, a
 * timestamp) stays in `small` (s points there): never copy the struct. */
struct bv_text {
	char *s;
	size_t len, cap;
	bool failed;
	char small[48];
};

void bv_text_free(struct bv_text *t);

/* Appends the text form of the binary value data[0..len) of type `oid` to out
 * (NUL-terminated). The text reads back as the same value under any DateStyle,
 * IntervalStyle and TimeZone: timestamptz is written with +00, intervals with a
 * sign on every field, floats with enough digits to round-trip. */
enum binval_result binval_text(uint32_t oid, const uint8_t *data, size_t len, struct bv_text *out);

/* True when binval_text decodes this type (its one-dimensional arrays too). */
bool binval_supported(uint32_t oid);

/* A text-format value: valid UTF-8 with no NUL (what the server's conversion
 * of a text parameter accepts). */
bool binval_text_ok(const char *s, size_t len);

#endif
