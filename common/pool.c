/* Size-class free lists in front of malloc (see pool.h). */
#include "common/pool.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(POOL_FORCE_RECYCLE)
/* (tests/unit/test_pool.c: the recycling, under AddressSanitizer too) */
#elif defined(__SANITIZE_ADDRESS__)
#define POOL_PASSTHROUGH 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_PASSTHROUGH 1
#endif
#endif

/* Classes: for m = n - 1 with 2^b <= m < 2^(b+1) (b >= 5), the block is
 * 3 * 2^(b-1) bytes when m is below that, else 2^(b+1): two classes per
 * power of two, from 48 bytes (b = 5) to 8192 (b = 12). */
#define POOL_CLASSES 16

#ifndef POOL_PASSTHROUGH

struct block {
	struct block *next;
};

static struct block *free_list[POOL_CLASSES];
static size_t kept;

static int class_of(size_t n)
{
	size_t m = n - 1;
	int b;

	if (n <= 48)
		return 0;
	b = 63 - __builtin_clzll((unsigned long long)m);
	return (b - 5) * 2 + (int)((m >> (b - 1)) & 1);
}

static size_t class_size(int k)
{
	int b = k / 2 + 5;

	return k % 2 ? (size_t)1 << (b + 1) : (size_t)3 << (b - 1);
}

#endif

void *pool_alloc(size_t n)
{
#ifndef POOL_PASSTHROUGH
	if (n <= POOL_MAX) {
		int k = class_of(n);
		struct block *b = free_list[k];

		if (b) {
			free_list[k] = b->next;
			kept -= class_size(k);
			return b;
		}
		return malloc(class_size(k));
	}
#endif
	return malloc(n > 0 ? n : 1);
}

void *pool_zalloc(size_t n)
{
	void *p = pool_alloc(n);

	if (p)
		memset(p, 0, n);
	return p;
}

void pool_free(void *p, size_t n)
{
	if (p == NULL)
		return;
#ifndef POOL_PASSTHROUGH
	if (n <= POOL_MAX) {
		int k = class_of(n);
		size_t size = class_size(k);

		if (kept + size <= POOL_KEEP_BYTES) {
			struct block *b = p;

			b->next = free_list[k];
			free_list[k] = b;
			kept += size;
			return;
		}
	}
#else
	(void)n;
#endif
	free(p);
}

size_t pool_kept(void)
{
#ifndef POOL_PASSTHROUGH
	return kept;
#else
	return 0;
#endif
}

void pool_trim(void)
{
#ifndef POOL_PASSTHROUGH
	for (int k = 0; k < POOL_CLASSES; k++)
		while (free_list[k]) {
			struct block *b = free_list[k];

			free_list[k] = b->next;
			free(b);
		}
	kept = 0;
#endif
}
