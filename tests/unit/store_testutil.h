/* store_testutil.h: temp repos for the store unit tests. */
#ifndef WR_STORE_TESTUTIL_H
#define WR_STORE_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Makes a fresh temp folder; the path is in a static buffer per call site. */
static inline void tmpdir_make(char *out, size_t n) {
  const char *base = getenv("TMPDIR");
  snprintf(out, n, "%s/warren-store-XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(out)) {
    perror("mkdtemp");
    exit(1);
  }
}

/* rm -rf of a temp folder made by tmpdir_make. */
static inline void tmpdir_remove(const char *path) {
  char cmd[4200];
  if (strncmp(path, "/tmp/", 5) != 0 && !getenv("TMPDIR"))
    return;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", path);
}

#endif
