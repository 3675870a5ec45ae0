#include "base/mem.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

#define BULK_TUNABLES                                                                              \
  "glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=4194304:"                                    \
  "glibc.malloc.trim_threshold=67108864"

void wr_mem_tune_for_bulk(char *const *argv) {
  const char *had = getenv("GLIBC_TUNABLES");
  if (had && strstr(had, "glibc.malloc.hugetlb"))
    return; /* done, by the execution before this one or by the user */
  char v[1024];
  int n = snprintf(v, sizeof v, "%s%s" BULK_TUNABLES, had ? had : "", had && *had ? ":" : "");
  /* The program's own path, not /proc/self/exe: its name is what ps shows. */
  char self[4096];
  ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
  if (k > 0 && n > 0 && (size_t)n < sizeof v && setenv("GLIBC_TUNABLES", v, 1) == 0) {
    self[k] = '\0';
    execv(self, argv);
    /* Not executed again (no /proc, a deleted binary): what mallopt can do. */
    if (had)
      (void)setenv("GLIBC_TUNABLES", had, 1);
    else
      (void)unsetenv("GLIBC_TUNABLES");
  }
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
