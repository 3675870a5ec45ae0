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

/* Test hook: after n more successful allocations every allocation fails.
 * A negative n turns failure injection off. */
void wr_mem_fail_after(long n);

#endif
