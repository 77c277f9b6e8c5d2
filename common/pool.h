/* Recycled memory blocks by size class: what the row path allocates per row and frees per batch, without malloc's slow path. */
#ifndef PGBATCHD_COMMON_POOL_H
#define PGBATCHD_COMMON_POOL_H

#include <stddef.h>

/* Single-threaded, process-wide. A block of n bytes (n <= POOL_MAX) comes from
 * a free list of its class (sizes 48, 64, 96, 128, 192, ... 8192: each 1.5x or
 * 4/3 the one before) or from malloc; pool_free puts it back on that list,
 * unless the lists already hold POOL_KEEP_BYTES, in which case it goes back to
 * malloc. Larger blocks are malloc's own. The caller gives pool_free the same
 * n it gave pool_alloc. Under AddressSanitizer both are plain malloc and
 * free, so that a use after free is still caught. */
#define POOL_MAX 8192
#define POOL_KEEP_BYTES ((size_t)16 << 20)

void *pool_alloc(size_t n) __attribute__((malloc, warn_unused_result));
void *pool_zalloc(size_t n) __attribute__((malloc, warn_unused_result));
void pool_free(void *p, size_t n);
/* Bytes held on the free lists (for the tests and the stats line). */
size_t pool_kept(void);
/* Every kept block back to malloc. (Not called at exit: the lists are
 * reachable, and freeing them would only cost time.) */
void pool_trim(void);

#endif
