/* A growable byte buffer with a sticky error flag, used to build SQL text and COPY data. */
#ifndef PGBATCHD_SINK_BUF_H
#define PGBATCHD_SINK_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Every append is a no-op once `failed` is set (allocation failure or the
 * BUF_MAX_LEN cap); callers check buf_ok() once at the end. data is always
 * NUL-terminated when non-NULL and not failed. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
	bool failed;
};

#define BUF_MAX_LEN ((size_t)1 << 30)

void buf_init(struct buf *b);
void buf_free(struct buf *b);
/* Empties the buffer, keeps its memory, clears the error. */
void buf_reset(struct buf *b);
bool buf_ok(const struct buf *b) __attribute__((warn_unused_result));
/* Makes room for n more bytes (plus the terminating NUL); returns a pointer to
 * the free space or NULL (and sets the error). Commit with buf_advance. */
char *buf_reserve(struct buf *b, size_t n);
void buf_advance(struct buf *b, size_t n);
void buf_append_slow(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);

/* (inline: COPY rows and key tokens are built a few bytes at a time; the
 * call is made only when the buffer must grow or has failed) */
static inline void buf_append(struct buf *b, const void *p, size_t n)
{
	if (n < b->cap - b->len && !b->failed) {
		if (n)
			memcpy(b->data + b->len, p, n);
		b->len += n;
		b->data[b->len] = '\0';
		return;
	}
	buf_append_slow(b, p, n);
}

static inline void buf_putc(struct buf *b, char c)
{
	if (1 < b->cap - b->len && !b->failed) {
		b->data[b->len++] = c;
		b->data[b->len] = '\0';
		return;
	}
	buf_append_slow(b, &c, 1);
}
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the contents to the caller (NUL-terminated, free() it) and empties b;
 * NULL when the buffer failed. */
char *buf_steal(struct buf *b);

#endif
