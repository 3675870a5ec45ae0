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

/* For a process that moves bulk data (the IPFS daemon): allocations under
 * 4 MiB come from the heap, and up to 64 MiB freed at its top stay mapped.
 * glibc's defaults give every 256 KiB block buffer fresh pages (an mmap, or a
 * heap trimmed and grown again), and a first touch costs a page fault per
 * 4 KiB: in a 256 MiB Bitswap fetch here, 21,000 faults and a quarter of
 * the fetching daemon's CPU (1.12 s against 0.84 s with this). */
void wr_mem_keep_freed(void);

/* Test hook: after n more successful allocations every allocation fails.
 * A negative n turns failure injection off. */
void wr_mem_fail_after(long n);

#endif
