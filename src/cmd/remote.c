/* remote.c: finding the daemon and asking it (see remote.h). */
#include "cmd/remote.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"
#include "cmd/cli.h"
#include "cmd/repoflag.h"
#include "io/random.h"
#include "proto/text/json.h"

static int offline;

void wr_cmd_set_offline(int on) { offline = on; }

static const char *timeout;
void wr_cmd_set_timeout(const char *d) { timeout = d; }

int wr_cmd_find_daemon(const char *cmd, wr_addr *pa) {
  if (offline)
    return 0;
  char repo[4096], err[512];
  if (wr_cmd_repo_path(repo, sizeof repo) != 0)
    return 0; /* the direct path prints why */
  int rv = wr_rpc_client_find(repo, pa, err, sizeof err);
  if (rv < 0) {
    wr_cli_fail("%s: %s; remove the file if no daemon runs, or use --offline.", cmd, err);
    return -1;
  }
  return rv;
}

int wr_cmd_remote_post(const char *cmd, const wr_addr *a, const char *target,
                       const char *content_type, wr_rpc_produce_fn produce, void *parg,
                       wr_rpc_recv_fn recv, void *rarg) {
  char err[1024];
  char t[8192];
  if (timeout) {
    snprintf(t, sizeof t, "%s%stimeout=%s", target, strchr(target, '?') ? "&" : "?", timeout);
    target = t;
  }
  int status = 0;
  int rv = wr_rpc_client_post(a, target, content_type, produce, parg, recv, rarg, &status, err,
                              sizeof err);
  if (rv && err[0])
    wr_cli_fail("%s: %s.", cmd, err);
  else if (rv && rv != WR_ERR_IO)
    wr_cli_fail("%s: %s.", cmd, wr_strerror(rv));
  return rv;
}

int wr_cmd_lines_recv(void *arg, const uint8_t *p, size_t n) {
  wr_cmd_lines *l = arg;
  while (n) {
    const uint8_t *nl = memchr(p, '\n', n);
    size_t k = nl ? (size_t)(nl - p) : n;
    if (l->len + k > sizeof l->buf)
      return WR_ERR_LIMIT;
    memcpy(l->buf + l->len, p, k);
    l->len += k;
    if (!nl)
      break;
    int rv = l->fn(l->arg, l->buf, l->len);
    l->len = 0;
    if (rv)
      return rv;
    p += k + 1;
    n -= k + 1;
  }
  return 0;
}

int wr_cmd_stdout_recv(void *arg, const uint8_t *p, size_t n) {
  (void)arg;
  while (n) {
    ssize_t w = write(1, p, n);
    if (w < 0)
      return WR_ERR_IO;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int wr_cmd_remote_bytes(const char *cmd, const wr_addr *a, const char *cmdpath, const char *arg) {
  char esc[3 * 1024 + 1], target[3 * 1024 + 128];
  if (wr_rpc_url_escape(arg, 1, esc, sizeof esc) != 0) {
    wr_cli_fail("%s: the argument is too long.", cmd);
    return 1;
  }
  snprintf(target, sizeof target, "/api/v0/%s?arg=%s", cmdpath, esc);
  return wr_cmd_remote_post(cmd, a, target, NULL, NULL, NULL, wr_cmd_stdout_recv, NULL) ? 1 : 0;
}

typedef struct upload {
  const char *cmd;
  char **files;
  int n;
  const uint8_t *data;
  size_t len;
  char boundary[48];
  uint8_t *buf;
  char err[512];
} upload;

static int upload_part(upload *u, wr_rpc_conn *conn, const char *name, int first) {
  char esc[3 * 1024 + 1];
  if (wr_rpc_url_escape(name, 0, esc, sizeof esc) != 0) {
    snprintf(u->err, sizeof u->err, "the name %.300s is too long", name);
    return WR_ERR_LIMIT;
  }
  wr_buf h;
  wr_buf_init(&h, 8 * 1024);
  int rv = wr_buf_printf(&h,
                         "%s--%s\r\nContent-Disposition: form-data; name=\"file\"; "
                         "filename=\"%s\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                         first ? "" : "\r\n", u->boundary, esc);
  if (!rv)
    rv = wr_rpc_conn_send(conn, h.data, h.len);
  wr_buf_free(&h);
  return rv;
}

static int upload_produce(void *arg, wr_rpc_conn *conn) {
  upload *u = arg;
  int rv = 0;
  if (!u->files) {
    rv = upload_part(u, conn, "", 1);
    if (!rv)
      rv = wr_rpc_conn_send(conn, u->data, u->len);
  }
  for (int i = 0; u->files && i < u->n && !rv; i++) {
    const char *f = u->files[i];
    int stdin_ = strcmp(f, "-") == 0;
    int fd = stdin_ ? 0 : open(f, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      snprintf(u->err, sizeof u->err, "cannot open %.300s: %s", f, strerror(errno));
      return WR_ERR_IO;
    }
    rv = upload_part(u, conn, stdin_ ? "stdin" : f, i == 0);
    for (;;) {
      if (rv)
        break;
      ssize_t k = read(fd, u->buf, 1024 * 1024);
      if (k < 0 && errno == EINTR)
        continue;
      if (k < 0) {
        snprintf(u->err, sizeof u->err, "cannot read %.300s: %s", f, strerror(errno));
        rv = WR_ERR_IO;
      }
      if (k <= 0)
        break;
      rv = wr_rpc_conn_send(conn, u->buf, (size_t)k);
    }
    if (!stdin_)
      close(fd);
  }
  if (!rv) {
    char tail[96];
    int k = snprintf(tail, sizeof tail, "\r\n--%s--\r\n", u->boundary);
    rv = wr_rpc_conn_send(conn, tail, (size_t)k);
  }
  return rv;
}

int wr_cmd_remote_upload(const char *cmd, const wr_addr *a, const char *target, char **files, int n,
                         const uint8_t *data, size_t len,
                         int (*line)(void *arg, const char *line, size_t n), void *arg) {
  upload u = {.cmd = cmd, .files = files, .n = n, .data = data, .len = len};
  uint8_t rnd[12];
  char hex[25];
  /* The boundary must not occur in any file: random, never fixed. */
  if (wr_random_bytes(rnd, sizeof rnd) != 0) {
    wr_cli_fail("%s: cannot get random bytes for the upload's boundary.", cmd);
    return WR_ERR_IO;
  }
  wr_hex_encode(hex, rnd, sizeof rnd);
  snprintf(u.boundary, sizeof u.boundary, "warren-%s", hex);
  if (files && !(u.buf = wr_malloc(1024 * 1024))) {
    wr_cli_fail("%s: out of memory.", cmd);
    return WR_ERR_NOMEM;
  }
  char ctype[96];
  snprintf(ctype, sizeof ctype, "multipart/form-data; boundary=%s", u.boundary);
  wr_cmd_lines lines = {.fn = line, .arg = arg};
  int status = 0;
  int rv = wr_rpc_client_post(a, target, ctype, upload_produce, &u, wr_cmd_lines_recv, &lines,
                              &status, u.err, sizeof u.err);
  if (rv)
    wr_cli_fail("%s: %s.", cmd, u.err[0] ? u.err : wr_strerror(rv));
  wr_free(u.buf);
  return rv;
}

typedef struct first_line {
  char buf[8192];
  size_t len;
  int got;
} first_line;

static int keep_first(void *arg, const char *line, size_t n) {
  first_line *o = arg;
  if (!o->got && n < sizeof o->buf) {
    memcpy(o->buf, line, n);
    o->len = n;
    o->got = 1;
  }
  return 0;
}

int wr_cmd_remote_field(const char *cmd, const wr_addr *api, const char *target, const char *field,
                        char *out, size_t cap) {
  first_line o = {0};
  static wr_cmd_lines lines; /* 64 KiB: not on the stack */
  memset(&lines, 0, sizeof lines);
  lines.fn = keep_first;
  lines.arg = &o;
  int rv = wr_cmd_remote_post(cmd, api, target, NULL, NULL, NULL, wr_cmd_lines_recv, &lines);
  if (rv != 0)
    return rv;
  wr_json *root = NULL;
  const wr_json *v = NULL;
  if (o.got && wr_json_parse(o.buf, o.len, NULL, &root, NULL) == 0)
    v = wr_json_get(root, field);
  if (!v || v->type != WR_JSON_STRING || (size_t)snprintf(out, cap, "%s", v->str) >= cap) {
    wr_cli_fail("%s: the daemon's answer has no %s.", cmd, field);
    wr_json_del(root);
    return WR_ERR_MALFORMED;
  }
  wr_json_del(root);
  return 0;
}

int wr_cmd_query_add(wr_buf *t, const char *key, const char *value) {
  char esc[3 * 4096 + 1];
  if (wr_rpc_url_escape(value, 0, esc, sizeof esc) != 0)
    return WR_ERR_LIMIT;
  return wr_buf_printf(t, "%c%s=%s", t->data && memchr(t->data, '?', t->len) ? '&' : '?', key, esc);
}

int wr_cmd_remote_name_publish(const char *cmd, const wr_addr *api, const char *value,
                               const char *keyname, uint64_t lifetime_ns, uint64_t ttl_ns,
                               char *name, size_t cap) {
  char dur[64];
  wr_buf t;
  wr_buf_init(&t, 4096 + 3 * strlen(value));
  int rv = wr_buf_puts(&t, "/api/v0/name/publish");
  if (!rv)
    rv = wr_cmd_query_add(&t, "arg", value);
  if (!rv)
    rv = wr_cmd_query_add(&t, "key", keyname);
  snprintf(dur, sizeof dur, "%llums", (unsigned long long)(lifetime_ns / 1000000));
  if (!rv)
    rv = wr_cmd_query_add(&t, "lifetime", dur);
  snprintf(dur, sizeof dur, "%llums", (unsigned long long)(ttl_ns / 1000000));
  if (!rv)
    rv = wr_cmd_query_add(&t, "ttl", dur);
  if (!rv)
    rv = wr_buf_append(&t, "", 1); /* the target is a C string */
  if (rv)
    wr_cli_fail("%s: the request is too long.", cmd);
  else
    rv = wr_cmd_remote_field(cmd, api, (const char *)t.data, "Name", name, cap);
  wr_buf_free(&t);
  return rv;
}
