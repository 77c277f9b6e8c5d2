/* Character classes shared by the byte-level parsers (SQL lexer, COPY text). */
#ifndef PGBATCHD_PROTOCOL_CHARS_H
#define PGBATCHD_PROTOCOL_CHARS_H

/* The value of a hexadecimal digit, or -1. */
static inline int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
