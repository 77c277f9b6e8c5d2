/* COPY text format: escaping one field, NULL, booleans, bytea; pure functions over bytes. */
#ifndef PGBATCHD_PROTOCOL_COPYTEXT_H
#define PGBATCHD_PROTOCOL_COPYTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A field separator, a row terminator and the NULL marker of COPY ... FROM
 * STDIN in text format with the default options. */
#define COPYTEXT_DELIM '\t'
#define COPYTEXT_EOL '\n'
#define COPYTEXT_NULL "\\N"
#define COPYTEXT_NULL_LEN 2

/* Bytes the escaped form of s[0..n) takes: backslash, tab, newline, carriage
 * return, backspace, form feed and vertical tab become two-byte escapes; every
 * other byte (multibyte characters included) is copied as is. At most 2n. */
size_t copytext_escaped_len(const char *s, size_t n);
/* Writes the escaped form of s[0..n) to dst (room for copytext_escaped_len(s, n)
 * bytes, no NUL added) and returns the bytes written. */
size_t copytext_escape(char *dst, const char *s, size_t n);

/* The field for a boolean: "t" or "f". */
const char *copytext_bool(bool v);

/* bytea in the hex input format, escaped for COPY: "\\x" then two lowercase hex
 * digits per byte. copytext_bytea_len(n) bytes are written, no NUL added. */
size_t copytext_bytea_len(size_t n);
size_t copytext_bytea(char *dst, const uint8_t *bytes, size_t n);

/* The inverse of copytext_escape for one field as PostgreSQL's COPY reads it
 * (also octal \NNN and hex \xHH escapes; a backslash before any other byte
 * stands for that byte). src is one field without its delimiters; "\N" is NULL
 * and sets *is_null. dst needs room for n bytes. Returns false on a trailing
 * lone backslash or an escape that would produce a NUL byte. */
bool copytext_unescape(const char *src, size_t n, char *dst, size_t *outlen, bool *is_null)
	__attribute__((warn_unused_result));

#endif
