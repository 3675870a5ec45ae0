/* tunnel_info.c: `warren tunnel info NAME` — a tunnel's live connections, as
 * cloudflared's `tunnel info`. There is no account API to ask: each edge
 * serves its registered connections at /tunnels on its metrics address, and
 * this command asks every edge it is given and prints one table. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"
#include "cmd/cli.h"
#include "cmd/tunnel_info.h"
#include "proto/text/json.h"

#define MAX_ROWS 1024

/* GET http://ADDR/tunnels over one connection (the endpoint closes it after
 * the answer). 0 with the body in out, or 1 after saying why. */
static int fetch_tunnels(const char *addr, wr_buf *out) {
  wr_addr a;
  char why[256];
  if (wr_cli_listen_addr(addr, &a, why, sizeof why) != 0) {
    wr_cli_fail("tunnel info: --edge-metrics %s: %s.", addr, why);
    return 1;
  }
  int fd = socket(a.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct timeval tv = {5, 0};
  if (fd >= 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  static const char req[] = "GET /tunnels HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n";
  if (fd < 0 || connect(fd, &a.sa, a.len) != 0 || write(fd, req, sizeof req - 1) < 0) {
    wr_cli_fail("tunnel info: cannot reach the edge's metrics address %s: %s.", addr,
                strerror(errno));
    if (fd >= 0)
      close(fd);
    return 1;
  }
  wr_buf raw;
  wr_buf_init(&raw, 8u << 20);
  char chunk[16384];
  ssize_t n;
  int rv = 0;
  while (!rv && (n = read(fd, chunk, sizeof chunk)) > 0)
    rv = wr_buf_append(&raw, chunk, (size_t)n);
  close(fd);
  const char *body = raw.len ? memmem(raw.data, raw.len, "\r\n\r\n", 4) : NULL;
  if (rv || !body || raw.len < 12 || memcmp(raw.data + 9, "200", 3) != 0) {
    wr_cli_fail("tunnel info: %s did not answer /tunnels (is it a warren edge's --metrics "
                "address?).",
                addr);
    wr_buf_free(&raw);
    return 1;
  }
  body += 4;
  rv = wr_buf_append(out, body, raw.len - (size_t)(body - (const char *)raw.data));
  wr_buf_free(&raw);
  return rv ? 1 : 0;
}

typedef struct row {
  char connector[40], origin[64], since[32], location[64];
  int quic, http2, unresponsive;
} row;

static const char *str_of(const wr_json *obj, const char *key) {
  const wr_json *v = wr_json_get(obj, key);
  return v && v->type == WR_JSON_STRING ? v->str : "";
}

/* Adds the connections of the tunnel named name in one edge's answer to the
 * rows (one per connector, per edge). Sets *pid when the tunnel is there. */
static void add_rows(const wr_json *root, const char *name, char *id, row *rows, size_t *pn) {
  const char *loc = str_of(root, "location");
  const wr_json *ts = wr_json_get(root, "tunnels");
  for (const wr_json *t = ts && ts->type == WR_JSON_ARRAY ? ts->child : NULL; t; t = t->next) {
    if (strcmp(str_of(t, "name"), name) != 0 && strcmp(str_of(t, "id"), name) != 0)
      continue;
    snprintf(id, 40, "%s", str_of(t, "id"));
    const wr_json *cs = wr_json_get(t, "connections");
    for (const wr_json *c = cs && cs->type == WR_JSON_ARRAY ? cs->child : NULL; c; c = c->next) {
      const char *cid = str_of(c, "connectorID");
      row *r = NULL;
      for (size_t i = 0; i < *pn && !r; i++)
        if (strcmp(rows[i].connector, cid) == 0 && strcmp(rows[i].location, loc) == 0)
          r = &rows[i];
      if (!r) {
        if (*pn == MAX_ROWS)
          return;
        r = &rows[(*pn)++];
        memset(r, 0, sizeof *r);
        snprintf(r->connector, sizeof r->connector, "%s", cid);
        snprintf(r->origin, sizeof r->origin, "%s", str_of(c, "originIP"));
        snprintf(r->location, sizeof r->location, "%s", loc);
        snprintf(r->since, sizeof r->since, "%s", str_of(c, "since"));
      }
      const char *since = str_of(c, "since");
      if (strcmp(since, r->since) < 0) /* RFC 3339 in UTC sorts as text */
        snprintf(r->since, sizeof r->since, "%s", since);
      if (strcmp(str_of(c, "protocol"), "quic") == 0)
        r->quic++;
      else
        r->http2++;
      if (strcmp(str_of(c, "state"), "ready") != 0)
        r->unresponsive++;
    }
  }
}

int wr_tunnel_info(const char *name, const char *const *edges, size_t nedges) {
  row *rows = wr_calloc(MAX_ROWS, sizeof *rows);
  if (!rows) {
    wr_cli_fail("tunnel info: out of memory.");
    return 1;
  }
  size_t n = 0;
  char id[40] = "";
  int failed = 0;
  for (size_t e = 0; e < nedges; e++) {
    wr_buf body;
    wr_buf_init(&body, 8u << 20);
    wr_json *root = NULL;
    if (fetch_tunnels(edges[e], &body) != 0) {
      failed = 1;
    } else if (wr_json_parse((const char *)body.data, body.len, NULL, &root, NULL) != 0) {
      wr_cli_fail("tunnel info: %s answered /tunnels with something that is not JSON.", edges[e]);
      failed = 1;
    } else {
      add_rows(root, name, id, rows, &n);
    }
    wr_json_del(root);
    wr_buf_free(&body);
  }
  if (failed && n == 0) {
    wr_free(rows);
    return 1;
  }
  if (n == 0) {
    printf("Your tunnel %s does not have any active connection.\n", name);
    wr_free(rows);
    return failed;
  }
  printf("NAME:     %s\nID:       %s\n\n", name, id);
  printf("%-36s  %-20s  %-39s  %s\n", "CONNECTOR ID", "SINCE", "ORIGIN IP", "EDGE");
  for (size_t i = 0; i < n; i++) {
    char edge[160];
    int k = snprintf(edge, sizeof edge, "%s:", rows[i].location);
    if (rows[i].quic)
      k += snprintf(edge + k, sizeof edge - (size_t)k, " %dxquic", rows[i].quic);
    if (rows[i].http2)
      k += snprintf(edge + k, sizeof edge - (size_t)k, " %dxhttp2", rows[i].http2);
    if (rows[i].unresponsive)
      snprintf(edge + k, sizeof edge - (size_t)k, " (%d not answering)", rows[i].unresponsive);
    printf("%-36s  %-20s  %-39s  %s\n", rows[i].connector, rows[i].since, rows[i].origin, edge);
  }
  wr_free(rows);
  return failed;
}
