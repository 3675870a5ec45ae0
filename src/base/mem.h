/* mem.h: the one allocation seam.
 *
 * Every heap allocation in warren goes through these, so a test can make the
 * Nth allocation fail (wr_mem_fail_after) and check that errors unwind cleanly. */
#ifndef WR_BASE_MEM_H
#define WR_BASE_MEM_H

#include <stddef.h>

void *wr_malloc(size_t n);
void *wr_calloc(size_t count, size_t n);
void *wr_realloc(void *p, size_t n);
void wr_free(void *p);
/* Duplicates a NUL-terminated string; NULL when out of memory. */
char *wr_strdup(const char *s);

/* For a process that moves bulk data (the IPFS daemon), before it does
 * anything else: glibc's allocator is told (GLIBC_TUNABLES, read only when a
 * program starts, so the program is executed again with argv) to back its
 * heaps with transparent huge pages, to serve allocations under 4 MiB from
 * them, and to keep up to 64 MiB freed at their tops. Its defaults give
 * every 256 KiB block buffer fresh 4 KiB pages, each first touched through
 * a page fault: a 256 MiB Bitswap fetch here took 16,000 faults in the
 * fetching daemon and 20 % more of its CPU (1.01 s against 0.81 s). Returns
 * only when the tunables are in effect or cannot be (then mallopt sets what
 * it can). */
void wr_mem_tune_for_bulk(char *const *argv);

/* Test hook: after n more successful allocations every allocation fails.
 * A negative n turns failure injection off. */
void wr_mem_fail_after(long n);

#endif
