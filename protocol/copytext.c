/* COPY text format encoder (and the decoder the tests check it against). */
#include "protocol/copytext.h"
#include "protocol/chars.h"

#include <stdint.h>
#include <string.h>

/* The escape letter for a byte that must not appear raw in a field, or 0
 * (a table: one load per byte on the row path). */
static const char escape_table[256] = {
	['\\'] = '\\', ['\t'] = 't', ['\n'] = 'n', ['\r'] = 'r', ['\b'] = 'b', ['\f'] = 'f', ['\v'] = 'v',
};

static char escape_letter(unsigned char c)
{
	return escape_table[c];
}

size_t copytext_escaped_len(const char *s, size_t n)
{
	size_t i, out = n;

	for (i = 0; i < n; i++)
		if (escape_letter((unsigned char)s[i]))
			out++;
	return out;
}

/* Whether none of the 8 bytes in x needs an escape: none below 14 (the
 * escaped control characters are 8 to 13) and none a backslash. Bit tricks
 * that test all bytes at once; a word that fails goes byte by byte. */
static bool word_clean(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	uint64_t below = (x - ones * 14) & ~x & highs;
	uint64_t y = x ^ (ones * '\\');
	uint64_t backslash = (y - ones) & ~y & highs;

	return (below | backslash) == 0;
}

size_t copytext_escape(char *dst, const char *s, size_t n)
{
	size_t i = 0, o = 0;
	uint64_t x;
	char e;

	for (; i + sizeof(x) <= n; i += sizeof(x), o += sizeof(x)) {
		memcpy(&x, s + i, sizeof(x));
		if (!word_clean(x))
			break;
		memcpy(dst + o, &x, sizeof(x));
	}
	for (; i < n; i++) {
		e = escape_letter((unsigned char)s[i]);
		if (__builtin_expect(e == 0, 1)) {
			dst[o++] = s[i];
		} else {
			dst[o++] = '\\';
			dst[o++] = e;
		}
	}
	return o;
}

const char *copytext_bool(bool v)
{
	return v ? "t" : "f";
}

size_t copytext_bytea_len(size_t n)
{
	return 3 + 2 * n;
}

size_t copytext_bytea(char *dst, const uint8_t *bytes, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	dst[o++] = '\\';
	dst[o++] = '\\';
	dst[o++] = 'x';
	for (i = 0; i < n; i++) {
		dst[o++] = hex[bytes[i] >> 4];
		dst[o++] = hex[bytes[i] & 15];
	}
	return o;
}

bool copytext_unescape(const char *src, size_t n, char *dst, size_t *outlen, bool *is_null)
{
	size_t i = 0, o = 0;
	int v, d, k;
	char c;

	*is_null = false;
	if (n == COPYTEXT_NULL_LEN && src[0] == '\\' && src[1] == 'N') {
		*is_null = true;
		*outlen = 0;
		return true;
	}
	while (i < n) {
		c = src[i++];
		if (c != '\\') {
			dst[o++] = c;
			continue;
		}
		if (i >= n)
			return false;
		c = src[i++];
		switch (c) {
		case 'b': dst[o++] = '\b'; break;
		case 'f': dst[o++] = '\f'; break;
		case 'n': dst[o++] = '\n'; break;
		case 'r': dst[o++] = '\r'; break;
		case 't': dst[o++] = '\t'; break;
		case 'v': dst[o++] = '\v'; break;
		case 'x':
			if (i < n && hexval((unsigned char)src[i]) >= 0) {
				v = hexval((unsigned char)src[i++]);
				if (i < n && hexval((unsigned char)src[i]) >= 0)
					v = v * 16 + hexval((unsigned char)src[i++]);
				if (v == 0)
					return false;
				dst[o++] = (char)v;
			} else {
				dst[o++] = 'x';
			}
			break;
		default:
			if (c >= '0' && c <= '7') {
				v = c - '0';
				for (k = 0; k < 2 && i < n && src[i] >= '0' && src[i] <= '7'; k++) {
					d = src[i++] - '0';
					v = v * 8 + d;
				}
				v &= 0xff;
				if (v == 0)
					return false;
				dst[o++] = (char)v;
			} else {
				dst[o++] = c;
			}
		}
	}
	*outlen = o;
	return true;
}
