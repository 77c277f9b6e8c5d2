/* Strict standard base64 (RFC 4648, padded, no whitespace) over byte buffers, no sockets. */
#ifndef PGBATCHD_PROTOCOL_BASE64_H
#define PGBATCHD_PROTOCOL_BASE64_H

#include <stdbool.h>
#include <stddef.h>

/* Characters needed to encode n bytes, not counting a terminating NUL. */
#define BASE64_ENC_LEN(n) ((((n) + 2) / 3) * 4)
/* Upper bound on the bytes that n characters of base64 decode to. */
#define BASE64_DEC_MAX(n) (((n) / 4) * 3)

/* Encodes src[0..len) into dst, which must hold BASE64_ENC_LEN(len) + 1 bytes.
 * Always NUL-terminates; returns the number of characters written (without NUL). */
size_t base64_encode(const unsigned char *src, size_t len, char *dst);

/* Decodes src[0..len) into dst (capacity dstcap). Accepts only the standard
 * alphabet with '=' padding, a length that is a multiple of 4, and zero bits in
 * the unused tail of the last group; no whitespace, no embedded NULs. On success
 * *outlen holds the decoded length. False on any malformed input or when dst is
 * too small; dst's contents are then unspecified. */
bool base64_decode(const char *src, size_t len, unsigned char *dst, size_t dstcap,
		   size_t *outlen) __attribute__((warn_unused_result));

#endif
