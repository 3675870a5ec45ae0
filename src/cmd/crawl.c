/* crawl.c: a web site copied into a folder (see crawl.h). */
#include "cmd/crawl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"
#include "cmd/cli.h"
#include "io/dns.h"
#include "io/httpget.h"
#include "proto/http/query.h"
#include "proto/http/weblinks.h"

#define CMD "publish"
#define MAX_LINKS_PER_PAGE 10000

typedef struct crawl {
  const wr_crawl_opts *o;
  const char *dir;
  wr_crawl_stats *st;
  wr_url start;
  char host[WR_DNS_MAX_HOST]; /* where to connect */
  uint16_t port;
  char host_header[WR_URL_HOST_MAX + 8];
  /* Paths seen (queued or done), and the queue: indexes into it. */
  char **paths;
  size_t npaths, cap, next;
  const wr_url *page; /* the page whose links are being read */
} crawl;

/* Queues u's path once; a URL of another origin or with a query is passed
 * over. 0, or -1 when the page limit is passed. */
static int enqueue(crawl *c, const wr_url *in) {
  if (!wr_url_same_origin(in, &c->start))
    return 0;
  if (in->has_query) {
    c->st->skipped++;
    return 0;
  }
  /* ".../index.html" is the page ".../" is stored as: one page, not two. */
  wr_url canon = *in;
  const wr_url *u = &canon;
  size_t pl = strlen(canon.path);
  static const char idx[] = "/index.html";
  if (pl >= sizeof idx - 1 && strcmp(canon.path + pl - (sizeof idx - 1), idx) == 0)
    canon.path[pl - (sizeof idx - 2)] = '\0';
  for (size_t i = 0; i < c->npaths; i++)
    if (strcmp(c->paths[i], u->path) == 0)
      return 0;
  if (c->npaths == c->o->max_pages) {
    wr_cli_fail("%s: the site has more than %zu pages (--max-pages): nothing was published.", CMD,
                c->o->max_pages);
    return -1;
  }
  if (c->npaths == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 64;
    char **a = wr_realloc(c->paths, cap * sizeof *a);
    if (!a)
      goto nomem;
    c->paths = a;
    c->cap = cap;
  }
  if (!(c->paths[c->npaths] = wr_strdup(u->path)))
    goto nomem;
  c->npaths++;
  return 0;
nomem:
  wr_cli_fail("%s: out of memory.", CMD);
  return -1;
}

static int on_link(void *arg, const char *v, size_t n) {
  crawl *c = arg;
  wr_url u;
  if (wr_url_resolve(c->page, v, n, &u, NULL) != 0)
    return 0; /* another scheme (mailto:, https:), or not a URL */
  return enqueue(c, &u) ? WR_ERR_LIMIT : 0;
}

/* The file a URL path is stored in: each segment percent-decoded, "" and
 * "index.html" for a path ending in '/'. 0, or -1 when a segment cannot be
 * a file name ("", ".", "..", or holding '/' once decoded). */
static int file_for(const crawl *c, const char *path, char *out, size_t cap) {
  size_t o = (size_t)snprintf(out, cap, "%s", c->dir);
  const char *p = path + 1;
  for (;;) {
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    char seg[1024];
    if (!slash && len == 0) {
      snprintf(seg, sizeof seg, "index.html");
    } else {
      long dl = wr_percent_decode(p, len, seg, sizeof seg);
      if (dl <= 0 || strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0 || strchr(seg, '/'))
        return -1;
    }
    int k = snprintf(out + o, cap - o, "/%s", seg);
    if (k < 0 || (size_t)k >= cap - o)
      return -1;
    o += (size_t)k;
    if (!slash)
      return 0;
    p = slash + 1;
  }
}

/* Creates the folders above file (mode 0755). 0, or -1 when one of them is
 * a file already. */
static int make_parents(const crawl *c, char *file) {
  size_t base = strlen(c->dir);
  for (char *s = file + base + 1; (s = strchr(s, '/')) != NULL; s++) {
    *s = '\0';
    int rv = mkdir(file, 0755);
    int e = errno;
    struct stat st;
    int isdir = stat(file, &st) == 0 && S_ISDIR(st.st_mode);
    *s = '/';
    if (rv != 0 && (e != EEXIST || !isdir))
      return -1;
  }
  return 0;
}

static int write_file(const char *path, const uint8_t *p, size_t n) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return -1;
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0) {
      close(fd);
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return close(fd);
}

static int is_html(const char *ctype) {
  static const char t[] = "text/html";
  return strncasecmp(ctype, t, sizeof t - 1) == 0 &&
         (ctype[sizeof t - 1] == '\0' || ctype[sizeof t - 1] == ';' || ctype[sizeof t - 1] == ' ');
}

/* Fetches the queue's next page and stores it. 0, or -1 after a printed
 * failure. */
static int fetch_one(crawl *c, wr_buf *body) {
  const char *path = c->paths[c->next++];
  char file[8192];
  wr_url u = c->start;
  snprintf(u.path, sizeof u.path, "%s", path);
  u.has_query = 0;
  u.query[0] = '\0';
  if (file_for(c, path, file, sizeof file) != 0) {
    fprintf(stderr, "%s: passing over %s: its path cannot be a file name.\n", CMD, path);
    c->st->skipped++;
    return 0;
  }
  wr_httpget_result res;
  char err[512];
  wr_buf_reset(body);
  uint64_t left = c->o->max_bytes - c->st->bytes;
  int rv = wr_httpget(c->host, c->port, c->host_header, path, c->o->timeout_ms,
                      left < SIZE_MAX ? (size_t)left : SIZE_MAX, body, &res, err, sizeof err);
  if (rv == WR_ERR_LIMIT) {
    wr_cli_fail("%s: the site is larger than %llu bytes (--max-bytes) at %s: nothing was "
                "published.",
                CMD, (unsigned long long)c->o->max_bytes, path);
    return -1;
  }
  if (rv) {
    wr_cli_fail("%s: GET %s: %s. Nothing was published.", CMD, path, err);
    return -1;
  }
  if (res.status >= 300 && res.status < 400 && res.status != 304 && res.location[0]) {
    wr_url to;
    if (wr_url_resolve(&u, res.location, strlen(res.location), &to, NULL) == 0) {
      if (!wr_url_same_origin(&to, &c->start))
        fprintf(stderr, "%s: %s redirects off the site (%s): passed over.\n", CMD, path,
                res.location);
      else if (enqueue(c, &to) != 0)
        return -1;
    }
    return 0;
  }
  if ((res.status == 404 || res.status == 410) && c->next > 1) {
    fprintf(stderr, "%s: broken link: %s answered %d; passed over.\n", CMD, path, res.status);
    c->st->broken++;
    return 0;
  }
  if (res.status != 200) {
    wr_cli_fail("%s: GET %s answered %d: nothing was published.", CMD, path, res.status);
    return -1;
  }
  c->st->bytes += body->len;
  if (make_parents(c, file) != 0 || write_file(file, body->data, body->len) != 0) {
    fprintf(stderr, "%s: passing over %s: a page and a folder of the same name.\n", CMD, path);
    c->st->skipped++;
    return 0;
  }
  c->st->pages++;
  if (is_html(res.content_type)) {
    c->page = &u;
    const char *why = NULL;
    rv = wr_html_links(body->data, body->len, MAX_LINKS_PER_PAGE, on_link, c, &why);
    if (rv == WR_ERR_LIMIT && why) {
      wr_cli_fail("%s: %s: %s (%d): nothing was published.", CMD, path, why, MAX_LINKS_PER_PAGE);
      return -1;
    }
    if (rv == WR_ERR_LIMIT)
      return -1; /* enqueue printed it */
    if (rv)
      fprintf(stderr, "%s: links of %s not read: %s.\n", CMD, path, why ? why : "?");
  }
  return 0;
}

void wr_cmd_crawl_check(const wr_crawl_opts *o) {
  wr_url u;
  const char *why = NULL;
  if (wr_url_parse(o->url, strlen(o->url), &u, &why) != 0)
    wr_cli_usage_error(CMD, "--url %s: %s.", o->url, why);
  if (u.has_query)
    wr_cli_usage_error(CMD, "--url %s: a start URL with a query cannot be a folder's page.",
                       o->url);
  if (o->connect && wr_dns_split_hostport(o->connect, NULL, 0, NULL) != 0)
    wr_cli_usage_error(CMD, "--connect takes HOST:PORT, not \"%s\".", o->connect);
}

int wr_cmd_crawl(const wr_crawl_opts *opts, const char *dir, wr_crawl_stats *st) {
  wr_cmd_crawl_check(opts);
  wr_crawl_opts o = *opts;
  if (!o.max_pages)
    o.max_pages = 1000;
  if (!o.max_bytes)
    o.max_bytes = 256ull << 20;
  if (!o.timeout_ms)
    o.timeout_ms = 30000;
  memset(st, 0, sizeof *st);
  crawl c = {.o = &o, .dir = dir, .st = st};
  const char *why = NULL;
  if (wr_url_parse(o.url, strlen(o.url), &c.start, &why) != 0)
    wr_cli_usage_error(CMD, "--url %s: %s.", o.url, why);
  if (c.start.has_query)
    wr_cli_usage_error(CMD, "--url %s: a start URL with a query cannot be a folder's page.", o.url);
  if (o.connect) {
    if (wr_dns_split_hostport(o.connect, c.host, sizeof c.host, &c.port) != 0)
      wr_cli_usage_error(CMD, "--connect takes HOST:PORT, not \"%s\".", o.connect);
  } else {
    snprintf(c.host, sizeof c.host, "%s", c.start.host);
    c.port = c.start.port;
  }
  if (c.start.port == 80)
    snprintf(c.host_header, sizeof c.host_header, "%s", c.start.host);
  else
    snprintf(c.host_header, sizeof c.host_header, "%s:%u", c.start.host, c.start.port);
  wr_buf body;
  wr_buf_init(&body, o.max_bytes < SIZE_MAX ? (size_t)o.max_bytes : SIZE_MAX);
  int rv = enqueue(&c, &c.start);
  while (rv == 0 && c.next < c.npaths)
    rv = fetch_one(&c, &body);
  if (rv == 0 && st->pages == 0) {
    wr_cli_fail("%s: %s gave no page to publish.", CMD, o.url);
    rv = -1;
  }
  wr_buf_free(&body);
  for (size_t i = 0; i < c.npaths; i++)
    wr_free(c.paths[i]);
  wr_free(c.paths);
  return rv ? -1 : 0;
}
