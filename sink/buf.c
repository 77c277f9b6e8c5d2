/* A growable byte buffer with a sticky error flag. */
#include "sink/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->failed = false;
}

void buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	b->failed = false;
	if (b->data)
		b->data[0] = '\0';
}

bool buf_ok(const struct buf *b)
{
	return !b->failed;
}

char *buf_reserve(struct buf *b, size_t n)
{
	size_t need, cap;
	char *p;

	if (b->failed)
		return NULL;
	if (n > BUF_MAX_LEN || b->len > BUF_MAX_LEN - n) {
		b->failed = true;
		return NULL;
	}
	need = b->len + n + 1;
	if (need > b->cap) {
		cap = b->cap ? b->cap : 256;
		while (cap < need)
			cap *= 2;
		/* (never room past the cap: buf_append's inline path checks only
		 * the room) */
		if (cap > BUF_MAX_LEN + 1)
			cap = BUF_MAX_LEN + 1;
		p = realloc(b->data, cap);
		if (p == NULL) {
			b->failed = true;
			return NULL;
		}
		b->data = p;
		b->cap = cap;
		b->data[b->len] = '\0';
	}
	return b->data + b->len;
}

void buf_advance(struct buf *b, size_t n)
{
	if (b->failed)
		return;
	b->len += n;
	b->data[b->len] = '\0';
}

void buf_append_slow(struct buf *b, const void *p, size_t n)
{
	char *dst = buf_reserve(b, n);

	if (dst == NULL)
		return;
	if (n)
		memcpy(dst, p, n);
	buf_advance(b, n);
}

void buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char *dst;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	dst = buf_reserve(b, (size_t)n);
	if (dst == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(dst, (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf_advance(b, (size_t)n);
}

char *buf_steal(struct buf *b)
{
	char *p;

	if (b->failed || buf_reserve(b, 0) == NULL) {
		buf_free(b);
		return NULL;
	}
	p = b->data;
	buf_init(b);
	return p;
}
