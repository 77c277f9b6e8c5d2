/* Client encodings other than UTF8: PostgreSQL's names, their text as UTF-8 with where each byte came from, and back. */
#ifndef PGBATCHD_PROTOCOL_PGENC_H
#define PGBATCHD_PROTOCOL_PGENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A client's text read as UTF-8. */
struct pgenc_text {
	char *s;            /* NUL-terminated */
	size_t len;
	uint32_t *from;     /* from[i]: the offset in the client's text of the
	                       character UTF-8 byte i belongs to; from[len]: its length */
};

/* Whether a text in client encoding enc reads the same as UTF-8 does: enc
 * is UTF8 or SQL_ASCII (PostgreSQL checks it as UTF-8), or the text is ASCII
 * (every client encoding is a superset of ASCII). */
bool pgenc_reads_as_utf8(const char *enc, const char *s, size_t len);

/* The text s[0..len) of client encoding enc (a name as ParameterStatus
 * reports it: LATIN1, WIN1252, EUC_JP, SJIS, ...) as UTF-8. False when the
 * encoding is not known here, the text is not valid in it, it is 1 GB or
 * more (no protocol message is), or out of memory. Memory grows with the
 * text: about 5 bytes per byte of the UTF-8 text. */
bool pgenc_to_utf8(const char *enc, const char *s, size_t len, struct pgenc_text *out);
void pgenc_text_free(struct pgenc_text *t);

/* UTF-8 text in client encoding enc (malloc'd, NUL-terminated), or NULL. */
char *pgenc_from_utf8(const char *enc, const char *s, size_t len, size_t *outlen);

#endif
