/* crawl.h: a web site copied into a folder, for `warren publish --url`: from
 * a start URL, breadth first, the pages of the same host and port that
 * HTML href and src attributes lead to, each stored at its URL path (a path
 * ending in '/' as index.html in that folder), so the folder served as a
 * site answers the same paths. Small and strict: http only, URLs with a
 * query are passed over (a folder has no place for them), at most
 * max_pages pages and max_bytes bytes (more is an error, never a silent
 * partial copy), a 404 or 410 on a linked page is a broken link (warned and
 * passed over), any other status but 200 and redirects within the site
 * fails the crawl. */
#ifndef WR_CMD_CRAWL_H
#define WR_CMD_CRAWL_H

#include <stddef.h>
#include <stdint.h>

typedef struct wr_crawl_opts {
  const char *url;     /* the start: http://HOST[:PORT]/PATH */
  const char *connect; /* HOST:PORT to connect to instead of the URL's (an edge); NULL: the URL's */
  size_t max_pages;    /* 0: 1000 */
  uint64_t max_bytes;  /* 0: 256 MiB */
  uint64_t timeout_ms; /* per connect and read; 0: 30 s */
} wr_crawl_opts;

typedef struct wr_crawl_stats {
  size_t pages, broken, skipped; /* stored; 404/410; passed over (queries, bad names) */
  uint64_t bytes;
} wr_crawl_stats;

/* Checks the URL and --connect; a usage error exits (status 2). */
void wr_cmd_crawl_check(const wr_crawl_opts *o);

/* Copies the site into dir (an empty folder). 0, or -1 after printing one
 * sentence ("warren: publish: ..."). Warnings go to stderr. */
int wr_cmd_crawl(const wr_crawl_opts *o, const char *dir, wr_crawl_stats *st);

#endif
