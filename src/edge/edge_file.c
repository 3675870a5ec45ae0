/* edge_file.c: the edge's YAML config file. */
#include "edge/edge_file.h"

#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "io/file.h"

static const struct {
  const char *key;
  size_t off;
} keys[] = {
    {"listen", offsetof(wr_edge_file, listen)},
    {"listen-http2", offsetof(wr_edge_file, listen_http2)},
    {"http", offsetof(wr_edge_file, http)},
    {"https", offsetof(wr_edge_file, https)},
    {"tunnels", offsetof(wr_edge_file, tunnels)},
    {"cert", offsetof(wr_edge_file, cert)},
    {"key", offsetof(wr_edge_file, key)},
    {"self-signed", offsetof(wr_edge_file, self_signed)},
    {"metrics", offsetof(wr_edge_file, metrics)},
    {"location", offsetof(wr_edge_file, location)},
    {"grace-period", offsetof(wr_edge_file, grace_period)},
    {"header-timeout", offsetof(wr_edge_file, header_timeout)},
    {"idle-timeout", offsetof(wr_edge_file, idle_timeout)},
    {"max-connections", offsetof(wr_edge_file, max_connections)},
    {"max-connections-per-client", offsetof(wr_edge_file, max_connections_per_client)},
    {"tunnel-idle-timeout", offsetof(wr_edge_file, tunnel_idle_timeout)},
    {"tunnel-keepalive", offsetof(wr_edge_file, tunnel_keepalive)},
    {"repo", offsetof(wr_edge_file, repo)},
    {"dnslink", offsetof(wr_edge_file, dnslink)},
    {"dns-resolver", offsetof(wr_edge_file, dns_resolver)},
    {"dns-timeout", offsetof(wr_edge_file, dns_timeout)},
    {"dns-max-lookups", offsetof(wr_edge_file, dns_max_lookups)},
    {"p2p", offsetof(wr_edge_file, p2p)},
    {"gateway-timeout", offsetof(wr_edge_file, gateway_timeout)},
    {"gateway-fetches", offsetof(wr_edge_file, gateway_fetches)},
};

static const char **slot(wr_edge_file *f, size_t i) {
  return (const char **)((char *)f + keys[i].off);
}

static const char *value(const wr_edge_file *f, size_t i) {
  return *(const char *const *)((const char *)f + keys[i].off);
}

/* One file name or a list of them into list (*n entries). */
static int file_list(wr_yaml *y, yaml_node_t *v, const char *key, const char **list, size_t *n) {
  if (v->type == YAML_SCALAR_NODE)
    return wr_yaml_get_string(y, v, key, &list[(*n)++]);
  if (v->type != YAML_SEQUENCE_NODE)
    return wr_yaml_fail(y, v, "%s must be a file name or a list of file names", key);
  for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
    yaml_node_t *item = wr_yaml_node(y, *it);
    if (*n == WR_EDGE_FILE_MAX_CERTS)
      return wr_yaml_fail(y, item, "%s lists more than %d files", key, WR_EDGE_FILE_MAX_CERTS);
    int rc = wr_yaml_get_string(y, item, key, &list[(*n)++]);
    if (rc)
      return rc;
  }
  return 0;
}

/* content: a mapping HOST: ROOT, kept as "HOST=ROOT" like the flag. */
static int content_map(wr_edge_file *f, wr_yaml *y, yaml_node_t *v) {
  for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
    yaml_node_t *k = wr_yaml_node(y, p->key), *val = wr_yaml_node(y, p->value);
    const char *host, *root;
    int rc = wr_yaml_get_string(y, k, "content", &host);
    if (rc == 0)
      rc = wr_yaml_get_string(y, val, "content", &root);
    if (rc)
      return rc;
    if (f->n_content == WR_EDGE_FILE_MAX_CERTS)
      return wr_yaml_fail(y, k, "content lists more than %d sites", WR_EDGE_FILE_MAX_CERTS);
    size_t n = strlen(host) + strlen(root) + 2;
    char *s = wr_malloc(n);
    if (!s)
      return WR_ERR_NOMEM;
    snprintf(s, n, "%s=%s", host, root);
    f->content_owned[f->n_content] = s;
    f->content[f->n_content++] = s;
  }
  return 0;
}

int wr_edge_file_parse(wr_edge_file *f, const char *text, size_t len, const char *file, char *err,
                       size_t errlen) {
  memset(f, 0, sizeof *f);
  wr_yaml *y = &f->y;
  int rc = wr_yaml_load(y, text, len, file, err, errlen);
  if (rc)
    return rc;
  yaml_node_t *root = wr_yaml_root(y);
  if (!root)
    return 0;
  if ((rc = wr_yaml_check_mapping(y, root, "the edge config")) != 0)
    return rc;
  for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
       p++) {
    yaml_node_t *k = wr_yaml_node(y, p->key), *v = wr_yaml_node(y, p->value);
    const char *name = wr_yaml_scalar(k);
    if (strcmp(name, "https-cert") == 0)
      rc = file_list(y, v, name, f->https_cert, &f->n_https_cert);
    else if (strcmp(name, "https-key") == 0)
      rc = file_list(y, v, name, f->https_key, &f->n_https_key);
    else if (strcmp(name, "gateway") == 0)
      rc = file_list(y, v, name, f->gateway, &f->n_gateway);
    else if (strcmp(name, "subdomain-gateway") == 0)
      rc = file_list(y, v, name, f->subdomain_gateway, &f->n_subdomain_gateway);
    else if (strcmp(name, "swarm") == 0)
      rc = file_list(y, v, name, f->swarm, &f->n_swarm);
    else if (strcmp(name, "bootstrap") == 0)
      rc = file_list(y, v, name, f->bootstrap, &f->n_bootstrap);
    else if (strcmp(name, "content") == 0)
      rc = v->type == YAML_MAPPING_NODE ? content_map(f, y, v)
                                        : file_list(y, v, name, f->content, &f->n_content);
    else {
      size_t i = 0;
      while (i < sizeof keys / sizeof keys[0] && strcmp(keys[i].key, name) != 0)
        i++;
      rc = i < sizeof keys / sizeof keys[0]
               ? wr_yaml_get_string(y, v, name, slot(f, i))
               : wr_yaml_fail(y, k, "unknown key \"%s\" in the edge config", name);
    }
    if (rc)
      return rc;
  }
  return 0;
}

int wr_edge_file_load(wr_edge_file *f, const char *path, char *err, size_t errlen) {
  memset(f, 0, sizeof *f);
  wr_buf text;
  wr_buf_init(&text, WR_YAML_MAX_SIZE);
  int rc = wr_file_read_all(path, WR_YAML_MAX_SIZE, &text, err, errlen);
  if (rc == 0)
    rc = wr_edge_file_parse(f, (const char *)text.data, text.len, path, err, errlen);
  wr_buf_free(&text); /* the document holds its own copies */
  return rc;
}

void wr_edge_file_free(wr_edge_file *f) {
  for (size_t i = 0; i < WR_EDGE_FILE_MAX_CERTS; i++) {
    wr_free(f->content_owned[i]);
    f->content_owned[i] = NULL;
  }
  wr_yaml_free(&f->y);
}

void wr_edge_file_fill(wr_edge_file *dst, const wr_edge_file *src) {
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    if (!*slot(dst, i))
      *slot(dst, i) = value(src, i);
  if (!dst->n_https_cert) {
    memcpy(dst->https_cert, src->https_cert, sizeof src->https_cert);
    dst->n_https_cert = src->n_https_cert;
  }
#define FILL_LIST(a, n)                                                                            \
  if (!dst->n) {                                                                                   \
    memcpy(dst->a, src->a, sizeof src->a);                                                         \
    dst->n = src->n;                                                                               \
  }
  FILL_LIST(gateway, n_gateway)
  FILL_LIST(subdomain_gateway, n_subdomain_gateway)
  FILL_LIST(content, n_content)
  FILL_LIST(swarm, n_swarm)
  FILL_LIST(bootstrap, n_bootstrap)
#undef FILL_LIST
  if (!dst->n_https_key) {
    memcpy(dst->https_key, src->https_key, sizeof src->https_key);
    dst->n_https_key = src->n_https_key;
  }
}

int wr_edge_file_check(const wr_edge_file *f, char *err, size_t errlen) {
  const char *why = NULL;
  if (!f->listen)
    why = "--listen ADDR:PORT is required (the UDP address for connectors).";
  else if (!f->http)
    why = "--http ADDR:PORT is required (the TCP address for users).";
  else if (!f->tunnels && !f->n_gateway && !f->n_subdomain_gateway && !f->n_content && !f->dnslink)
    why = "--tunnels FILE is required (create one with `warren tunnel create`), unless the "
          "edge serves content (--gateway, --subdomain-gateway, --content, --dnslink).";
  else if (f->self_signed && (f->cert || f->key))
    why = "give either --cert and --key, or --self-signed DIR, not both.";
  else if (!f->self_signed && (!f->cert || !f->key))
    why = "a certificate is required: --cert FILE --key FILE, or --self-signed DIR for "
          "development.";
  if (why) {
    snprintf(err, errlen, "%s", why);
    return WR_ERR_INVAL;
  }
  if (f->n_https_cert != f->n_https_key) {
    snprintf(err, errlen,
             "--https-cert and --https-key come in pairs: %zu certificate(s), %zu key(s).",
             f->n_https_cert, f->n_https_key);
    return WR_ERR_INVAL;
  }
  if (f->n_https_cert && !f->https) {
    snprintf(err, errlen, "--https-cert is for users' HTTPS: give --https ADDR:PORT too.");
    return WR_ERR_INVAL;
  }
  return 0;
}
