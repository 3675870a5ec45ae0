/* redirstep.c: `_redirects` in the gateway (gateway/redirstep.h). */
#include "gateway/redirstep.h"

#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "gateway/redirects.h"

typedef struct file_acc {
  char *p;
  size_t n;
} file_acc;

static int acc_write(void *arg, const uint8_t *p, size_t n) {
  file_acc *a = arg;
  if (a->n + n > WR_REDIRECTS_MAX_SIZE)
    return WR_ERR_LIMIT;
  memcpy(a->p + a->n, p, n);
  a->n += n;
  return 0;
}

static void fail(wr_gw_redir *out, const char *why, size_t line) {
  out->action = WR_GW_REDIR_ERROR;
  out->status = 500;
  if (line)
    snprintf(out->err, sizeof out->err, "could not parse _redirects: line %zu: %s", line, why);
  else
    snprintf(out->err, sizeof out->err, "could not parse _redirects: %s", why);
}

void wr_gw_redirects_apply(wr_export *ex, const char *site_root, const char *url_path,
                           const char *query, size_t qlen, wr_gw_redir *out) {
  memset(out, 0, sizeof *out);
  char path[WR_GW_PATH_MAX];
  if ((size_t)snprintf(path, sizeof path, "%s/_redirects", site_root) >= sizeof path)
    return;
  wr_cid cid;
  wr_export_kind kind;
  uint64_t size;
  if (wr_export_resolve(ex, path, &cid) != 0 || wr_export_stat(ex, &cid, &kind, &size) != 0 ||
      kind != WR_EXPORT_FILE)
    return; /* no file: nothing to apply */
  if (size > WR_REDIRECTS_MAX_SIZE)
    return fail(out, "redirects file size cannot exceed 65536 bytes", 0);
  file_acc a = {.p = wr_malloc(size ? (size_t)size : 1), .n = 0};
  if (!a.p)
    return fail(out, "out of memory", 0);
  int rc = wr_export_cat(ex, &cid, 0, size, acc_write, &a);
  const char *why = NULL;
  size_t line = 0;
  if (rc)
    fail(out, "the file cannot be read", 0);
  else if (wr_redirects_check(a.p, a.n, &why, &line) != 0)
    fail(out, why, line);
  else {
    char to[WR_GW_PATH_MAX];
    int status = 0;
    int m = wr_redirects_match(a.p, a.n, url_path, 0, &status, to, sizeof to);
    if (m == 1 && status >= 300 && status < 400) {
      m = wr_redirects_match(a.p, a.n, url_path, 1, &status, to, sizeof to);
      out->action = WR_GW_REDIR_REDIRECT;
      out->status = status;
      int k = qlen ? snprintf(out->target, sizeof out->target, "%s%c%.*s", to,
                              strchr(to, '?') ? '&' : '?', (int)qlen, query)
                   : snprintf(out->target, sizeof out->target, "%s", to);
      if (m != 1 || k < 0 || (size_t)k >= sizeof out->target)
        fail(out, "the redirect's target is too long", 0);
    } else if (m == 1) {
      if (to[0] != '/') {
        fail(out, "a rule with status 200, 404, 410 or 451 must name a path of the site", 0);
      } else {
        out->action = WR_GW_REDIR_REWRITE;
        out->status = status;
        to[strcspn(to, "?")] = '\0';
        snprintf(out->target, sizeof out->target, "%s", to);
      }
    } else if (m < 0) {
      fail(out, "a rule's target is too long", 0);
    }
  }
  wr_free(a.p);
}
