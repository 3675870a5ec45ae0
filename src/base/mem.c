#include "base/mem.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

static long fail_after = -1;

static int should_fail(void) {
  if (fail_after < 0)
    return 0;
  if (fail_after == 0)
    return 1;
  fail_after--;
  return 0;
}

void wr_mem_fail_after(long n) { fail_after = n; }

void wr_mem_keep_freed(void) {
  /* Setting either turns glibc's dynamic thresholds off, so both are set. */
  (void)mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
  (void)mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
}

void *wr_malloc(size_t n) { return should_fail() ? NULL : malloc(n ? n : 1); }

void *wr_calloc(size_t count, size_t n) {
  return should_fail() ? NULL : calloc(count ? count : 1, n ? n : 1);
}

void *wr_realloc(void *p, size_t n) { return should_fail() ? NULL : realloc(p, n ? n : 1); }

void wr_free(void *p) { free(p); }

char *wr_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = wr_malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}
