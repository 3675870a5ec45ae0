#include "tunnel/tunnel_config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tunnel/credentials.h"
#include "proto/text/yamldoc.h"
#include "base/mem.h"
#include "io/dns.h"
#include "io/file.h"
#include "proto/text/uuid.h"

#define MAX_WARNINGS_BYTES 16384

void wr_tunnel_config_init(wr_tunnel_config *c) {
  memset(c, 0, sizeof *c);
  wr_ingress_init(&c->ingress);
  c->ha_connections = WR_CONFIG_DEFAULT_HA;
  c->protocol = WR_PROTOCOL_AUTO;
  c->grace_period_ns = WR_CONFIG_DEFAULT_GRACE_NS;
  c->loglevel = WR_LOG_INFO;
  wr_buf_init(&c->warnings, MAX_WARNINGS_BYTES);
}

void wr_tunnel_config_free(wr_tunnel_config *c) {
  wr_free(c->source);
  wr_free(c->tunnel);
  wr_free(c->credentials_file);
  wr_free(c->url);
  wr_ingress_free(&c->ingress);
  wr_free(c->rule_line);
  wr_free(c->rule_col);
  for (size_t i = 0; i < c->nedges; i++)
    wr_free(c->edges[i]);
  wr_free(c->edges);
  wr_free(c->edge_ca);
  wr_free(c->metrics);
  wr_buf_free(&c->warnings);
  wr_tunnel_config_init(c);
}

int wr_hostport_check(const char *s) { return wr_dns_split_hostport(s, NULL, 0, NULL); }

/* Records an unknown key as a warning; a full warnings buffer drops the rest
 * (they are advice, not errors). */
static void warn_key(wr_tunnel_config *c, const yaml_node_t *k, const char *prefix) {
  if (wr_buf_printf(&c->warnings, "%lu:%lu: %s%s\n", wr_yaml_line(k), wr_yaml_col(k), prefix,
                    wr_yaml_scalar(k)) != 0)
    c->warnings_dropped++;
}

static int set_str(wr_yaml *y, const yaml_node_t *v, const char *key, char **dst) {
  const char *s;
  int rv = wr_yaml_get_string(y, v, key, &s);
  if (rv)
    return rv;
  wr_free(*dst);
  if (!(*dst = wr_strdup(s)))
    return wr_yaml_fail(y, v, "out of memory"), WR_ERR_NOMEM;
  return 0;
}

static int parse_origin(wr_yaml *y, wr_tunnel_config *c, const yaml_node_t *map,
                        wr_origin_request *o, const char *what) {
  int rv = wr_yaml_check_mapping(y, map, what);
  if (rv)
    return rv;
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; !rv && p < map->data.mapping.pairs.top;
       p++) {
    yaml_node_t *k = wr_yaml_node(y, p->key), *v = wr_yaml_node(y, p->value);
    const char *key = wr_yaml_scalar(k);
    int b;
    if (strcmp(key, "connectTimeout") == 0) {
      rv = wr_yaml_get_duration(y, v, key, &o->connect_timeout_ns);
      o->set |= WR_OR_CONNECT_TIMEOUT;
    } else if (strcmp(key, "tlsTimeout") == 0) {
      rv = wr_yaml_get_duration(y, v, key, &o->tls_timeout_ns);
      o->set |= WR_OR_TLS_TIMEOUT;
    } else if (strcmp(key, "tcpKeepAlive") == 0) {
      rv = wr_yaml_get_duration(y, v, key, &o->tcp_keepalive_ns);
      o->set |= WR_OR_TCP_KEEPALIVE;
    } else if (strcmp(key, "keepAliveTimeout") == 0) {
      rv = wr_yaml_get_duration(y, v, key, &o->keepalive_timeout_ns);
      o->set |= WR_OR_KEEPALIVE_TIMEOUT;
    } else if (strcmp(key, "keepAliveConnections") == 0) {
      rv = wr_yaml_get_uint(y, v, key, 0, 1000000, &o->keepalive_connections);
      o->set |= WR_OR_KEEPALIVE_CONNECTIONS;
    } else if (strcmp(key, "noTLSVerify") == 0) {
      rv = wr_yaml_get_bool(y, v, key, &b);
      o->no_tls_verify = b;
      o->set |= WR_OR_NO_TLS_VERIFY;
    } else if (strcmp(key, "noHappyEyeballs") == 0) {
      rv = wr_yaml_get_bool(y, v, key, &b);
      o->no_happy_eyeballs = b;
      o->set |= WR_OR_NO_HAPPY_EYEBALLS;
    } else if (strcmp(key, "disableChunkedEncoding") == 0) {
      rv = wr_yaml_get_bool(y, v, key, &b);
      o->disable_chunked_encoding = b;
      o->set |= WR_OR_DISABLE_CHUNKED;
    } else if (strcmp(key, "http2Origin") == 0) {
      rv = wr_yaml_get_bool(y, v, key, &b);
      o->http2_origin = b;
      o->set |= WR_OR_HTTP2_ORIGIN;
    } else if (strcmp(key, "httpHostHeader") == 0) {
      rv = set_str(y, v, key, &o->http_host_header);
      o->set |= WR_OR_HTTP_HOST_HEADER;
    } else if (strcmp(key, "originServerName") == 0) {
      rv = set_str(y, v, key, &o->origin_server_name);
      o->set |= WR_OR_ORIGIN_SERVER_NAME;
    } else if (strcmp(key, "caPool") == 0) {
      rv = set_str(y, v, key, &o->ca_pool);
      o->set |= WR_OR_CA_POOL;
    } else {
      warn_key(c, k, "originRequest.");
    }
  }
  return rv;
}

static int add_rule(wr_yaml *y, wr_tunnel_config *c, const yaml_node_t *item, size_t index) {
  char what[48];
  snprintf(what, sizeof what, "ingress rule #%zu", index + 1);
  int rv = wr_yaml_check_mapping(y, item, what);
  if (rv)
    return rv;
  const char *hostname = NULL, *path = NULL, *service = NULL;
  yaml_node_t *svc_node = NULL, *host_node = NULL, *path_node = NULL;
  wr_origin_request over;
  memset(&over, 0, sizeof over);
  for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top; p++) {
    yaml_node_t *k = wr_yaml_node(y, p->key), *v = wr_yaml_node(y, p->value);
    const char *key = wr_yaml_scalar(k);
    if (strcmp(key, "hostname") == 0) {
      rv = wr_yaml_get_string(y, v, "hostname", &hostname);
      host_node = v;
    } else if (strcmp(key, "path") == 0) {
      rv = wr_yaml_get_string(y, v, "path", &path);
      path_node = v;
    } else if (strcmp(key, "service") == 0) {
      rv = wr_yaml_get_string(y, v, "service", &service);
      svc_node = v;
    } else if (strcmp(key, "originRequest") == 0) {
      rv = parse_origin(y, c, v, &over, "originRequest");
    } else {
      warn_key(c, k, "ingress.");
    }
    if (rv)
      goto out;
  }
  if (!service) {
    rv = wr_yaml_fail(y, item, "Rule #%zu has no service (add one, e.g. service: http://localhost:8000)",
                      index + 1);
    goto out;
  }
  char msg[512];
  rv = wr_ingress_add(&c->ingress, hostname, path, service, &over, msg, sizeof msg);
  if (rv == WR_ERR_NOMEM) {
    wr_yaml_fail(y, item, "out of memory");
  } else if (rv) {
    /* Point at the field at fault: the service, the hostname, or the path. */
    const yaml_node_t *at = svc_node;
    if (strncmp(msg, "Hostname", 8) == 0 || strstr(msg, "invalid hostname"))
      at = host_node;
    else if (strstr(msg, "invalid regex"))
      at = path_node;
    wr_yaml_fail(y, at ? at : item, "%s", msg);
    if (rv != WR_ERR_UNSUPPORTED && rv != WR_ERR_LIMIT)
      rv = WR_ERR_INVAL;
  }
  if (!rv) {
    unsigned long *l = wr_realloc(c->rule_line, c->ingress.n * sizeof *l);
    if (l)
      c->rule_line = l;
    unsigned long *col = l ? wr_realloc(c->rule_col, c->ingress.n * sizeof *col) : NULL;
    if (col)
      c->rule_col = col;
    if (!l || !col) {
      wr_yaml_fail(y, item, "out of memory");
      rv = WR_ERR_NOMEM;
      goto out;
    }
    c->rule_line[c->ingress.n - 1] = wr_yaml_line(item);
    c->rule_col[c->ingress.n - 1] = wr_yaml_col(item);
  }
out:
  wr_origin_request_free(&over);
  return rv;
}

static int parse_edges(wr_yaml *y, wr_tunnel_config *c, const yaml_node_t *v) {
  const yaml_node_item_t *start = NULL, *top = NULL;
  int single = v->type == YAML_SCALAR_NODE;
  if (!single) {
    if (v->type != YAML_SEQUENCE_NODE)
      return wr_yaml_fail(y, v, "edge must be an address (ADDR:PORT) or a list of them");
    start = v->data.sequence.items.start;
    top = v->data.sequence.items.top;
    if (start == top)
      return wr_yaml_fail(y, v, "edge must list at least one address");
  }
  size_t n = single ? 1 : (size_t)(top - start);
  if (n > WR_CONFIG_MAX_EDGES)
    return wr_yaml_fail(y, v, "edge may list at most %d addresses", WR_CONFIG_MAX_EDGES);
  for (size_t i = 0; i < c->nedges; i++)
    wr_free(c->edges[i]);
  wr_free(c->edges);
  c->nedges = 0;
  if (!(c->edges = wr_calloc(n, sizeof *c->edges)))
    return wr_yaml_fail(y, v, "out of memory"), WR_ERR_NOMEM;
  for (size_t i = 0; i < n; i++) {
    const yaml_node_t *e = single ? v : wr_yaml_node(y, start[i]);
    const char *s;
    int rv = wr_yaml_get_string(y, e, "an edge address", &s);
    if (rv)
      return rv;
    if (wr_hostport_check(s) != 0)
      return wr_yaml_fail(y, e, "edge address \"%s\" is not ADDR:PORT (e.g. edge.example.com:7844 or [2001:db8::1]:7844)", s);
    if (!(c->edges[i] = wr_strdup(s)))
      return wr_yaml_fail(y, e, "out of memory"), WR_ERR_NOMEM;
    c->nedges++;
  }
  return 0;
}

static int parse_fingerprint(wr_yaml *y, wr_tunnel_config *c, const yaml_node_t *v) {
  const char *s;
  int rv = wr_yaml_get_string(y, v, "edge-fingerprint", &s);
  if (rv)
    return rv;
  char hex[65];
  size_t h = 0;
  const char *q = s;
  if (strncmp(q, "sha256:", 7) == 0)
    q += 7;
  for (; *q; q++) {
    if (*q == ':')
      continue;
    if (h == 64) {
      h++;
      break;
    }
    hex[h++] = *q;
  }
  if (h != 64 || wr_hex_decode(c->edge_fingerprint, 32, hex, 64) != 0)
    return wr_yaml_fail(y, v, "edge-fingerprint must be the SHA-256 of the edge certificate as 64 hex digits (colons allowed)");
  c->has_fingerprint = 1;
  return 0;
}

static int parse_root(wr_yaml *y, wr_tunnel_config *c, const yaml_node_t *root) {
  int rv = wr_yaml_check_mapping(y, root, "the config");
  if (rv)
    return rv;
  const yaml_node_t *ingress = NULL, *origin = NULL, *edge_ca = NULL, *fp = NULL;
  for (yaml_node_pair_t *p = root->data.mapping.pairs.start; !rv && p < root->data.mapping.pairs.top;
       p++) {
    yaml_node_t *k = wr_yaml_node(y, p->key), *v = wr_yaml_node(y, p->value);
    const char *key = wr_yaml_scalar(k);
    uint64_t u;
    if (strcmp(key, "tunnel") == 0)
      rv = set_str(y, v, key, &c->tunnel);
    else if (strcmp(key, "credentials-file") == 0)
      rv = set_str(y, v, key, &c->credentials_file);
    else if (strcmp(key, "url") == 0)
      rv = set_str(y, v, key, &c->url);
    else if (strcmp(key, "ingress") == 0)
      ingress = v;
    else if (strcmp(key, "originRequest") == 0)
      origin = v;
    else if (strcmp(key, "edge") == 0)
      rv = parse_edges(y, c, v);
    else if (strcmp(key, "edge-ca") == 0)
      rv = set_str(y, v, key, &c->edge_ca), edge_ca = v;
    else if (strcmp(key, "edge-fingerprint") == 0)
      rv = parse_fingerprint(y, c, v), fp = v;
    else if (strcmp(key, "ha-connections") == 0) {
      if (!(rv = wr_yaml_get_uint(y, v, key, 1, WR_CONFIG_MAX_HA, &u)))
        c->ha_connections = (unsigned)u;
    } else if (strcmp(key, "protocol") == 0) {
      const char *s = wr_yaml_scalar(v);
      if (s && strcmp(s, "auto") == 0)
        c->protocol = WR_PROTOCOL_AUTO;
      else if (s && strcmp(s, "quic") == 0)
        c->protocol = WR_PROTOCOL_QUIC;
      else if (s && strcmp(s, "http2") == 0)
        c->protocol = WR_PROTOCOL_HTTP2;
      else
        rv = wr_yaml_fail(y, v, "protocol must be auto, quic or http2, not \"%s\"", s ? s : "");
    } else if (strcmp(key, "metrics") == 0) {
      if (!(rv = set_str(y, v, key, &c->metrics)) && wr_hostport_check(c->metrics) != 0)
        rv = wr_yaml_fail(y, v, "metrics must be ADDR:PORT, e.g. 127.0.0.1:2000, not \"%s\"",
                          c->metrics);
    } else if (strcmp(key, "grace-period") == 0)
      rv = wr_yaml_get_duration(y, v, key, &c->grace_period_ns);
    else if (strcmp(key, "tunnel-idle-timeout") == 0)
      rv = wr_yaml_get_duration(y, v, key, &c->tunnel_idle_timeout_ns);
    else if (strcmp(key, "tunnel-keepalive") == 0)
      rv = wr_yaml_get_duration(y, v, key, &c->tunnel_keepalive_ns);
    else if (strcmp(key, "loglevel") == 0) {
      const char *s = wr_yaml_scalar(v);
      if (!s || wr_log_level_parse(s, &c->loglevel) != 0)
        rv = wr_yaml_fail(y, v, "loglevel must be debug, info, warn or error, not \"%s\"", s ? s : "");
      c->has_loglevel = 1;
    } else
      warn_key(c, k, "");
  }
  if (rv)
    return rv;
  if (edge_ca && fp)
    return wr_yaml_fail(y, fp, "give edge-ca or edge-fingerprint, not both");
  if (origin) {
    wr_origin_request top;
    memset(&top, 0, sizeof top);
    rv = parse_origin(y, c, origin, &top, "originRequest");
    if (!rv && (rv = wr_ingress_set_defaults(&c->ingress, &top)) != 0)
      wr_yaml_fail(y, origin, "out of memory");
    wr_origin_request_free(&top);
    if (rv)
      return rv;
  }
  if (ingress && !(ingress->type == YAML_SCALAR_NODE && ingress->data.scalar.length == 0)) {
    if (ingress->type != YAML_SEQUENCE_NODE)
      return wr_yaml_fail(y, ingress, "ingress must be a list of rules");
    size_t i = 0;
    for (yaml_node_item_t *it = ingress->data.sequence.items.start;
         it < ingress->data.sequence.items.top; it++, i++) {
      if (i >= WR_INGRESS_MAX_RULES)
        return wr_yaml_fail(y, ingress, "more than %d ingress rules", WR_INGRESS_MAX_RULES);
      if ((rv = add_rule(y, c, wr_yaml_node(y, *it), i)) != 0)
        return rv;
    }
  }
  return 0;
}

int wr_tunnel_config_parse(const char *text, size_t len, const char *file, wr_tunnel_config *c,
                           char *err, size_t errlen) {
  wr_yaml y;
  int rv = wr_yaml_load(&y, text, len, file, err, errlen);
  if (!rv && !(c->source = wr_strdup(file)))
    rv = WR_ERR_NOMEM;
  yaml_node_t *root = rv ? NULL : wr_yaml_root(&y);
  if (root)
    rv = parse_root(&y, c, root);
  wr_yaml_free(&y);
  return rv;
}

int wr_tunnel_config_load(const char *path, wr_tunnel_config *c, char *err, size_t errlen) {
  wr_buf b;
  wr_buf_init(&b, WR_YAML_MAX_SIZE);
  int rv = wr_file_read_all(path, WR_YAML_MAX_SIZE, &b, err, errlen);
  if (rv == 0)
    rv = wr_tunnel_config_parse((const char *)b.data, b.len, path, c, err, errlen);
  wr_buf_free(&b);
  return rv;
}

int wr_tunnel_config_validate_ingress(const wr_tunnel_config *c, char *err, size_t errlen) {
  char msg[512];
  size_t bad = 0;
  int rv = wr_ingress_validate(&c->ingress, &bad, msg, sizeof msg);
  if (!rv)
    return 0;
  const char *src = c->source ? c->source : "config";
  if (bad < c->ingress.n && c->rule_line)
    snprintf(err, errlen, "%s:%lu:%lu: %s", src, c->rule_line[bad], c->rule_col[bad], msg);
  else
    snprintf(err, errlen, "%s: %s", src, msg);
  return rv;
}

int wr_tunnel_config_find_default(const char *home, char *out, size_t cap) {
  static const char *const names[] = {"config.yml", "config.yaml"};
  char path[4096];
  if (home && *home) {
    for (size_t i = 0; i < 2; i++) {
      snprintf(path, sizeof path, "%s/.warren/%s", home, names[i]);
      if (wr_file_exists(path) && (size_t)snprintf(out, cap, "%s", path) < cap)
        return 0;
    }
  }
  for (size_t i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "/etc/warren/%s", names[i]);
    if (wr_file_exists(path) && (size_t)snprintf(out, cap, "%s", path) < cap)
      return 0;
  }
  return WR_ERR_NOTFOUND;
}

int wr_tunnel_config_use_url(wr_tunnel_config *c, const char *url, char *err, size_t errlen) {
  if (c->ingress.n) {
    snprintf(err, errlen, "You can't set the --url flag (or $TUNNEL_URL) when using "
                          "multiple-origin ingress rules");
    return WR_ERR_INVAL;
  }
  return wr_ingress_add(&c->ingress, NULL, NULL, url, NULL, err, errlen);
}

