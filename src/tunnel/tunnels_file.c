#include "tunnel/tunnels_file.h"

#include <stdio.h>
#include <string.h>

#include "proto/text/yamldoc.h"
#include "base/mem.h"
#include "io/file.h"
#include "proto/text/base64.h"
#include "proto/text/hostname.h"
#include "proto/text/uuid.h"

void wr_tunnels_init(wr_tunnels_file *tf) { memset(tf, 0, sizeof *tf); }

static void entry_free(wr_tunnel_entry *e) {
  wr_free(e->name);
  for (size_t i = 0; i < e->nhostnames; i++)
    wr_free(e->hostnames[i]);
  wr_free(e->hostnames);
  explicit_bzero(e->secret, sizeof e->secret);
  memset(e, 0, sizeof *e);
}

void wr_tunnels_free(wr_tunnels_file *tf) {
  for (size_t i = 0; i < tf->n; i++)
    entry_free(&tf->tunnels[i]);
  wr_free(tf->tunnels);
  wr_tunnels_init(tf);
}

const wr_tunnel_entry *wr_tunnels_find_name(const wr_tunnels_file *tf, const char *name) {
  for (size_t i = 0; i < tf->n; i++)
    if (strcmp(tf->tunnels[i].name, name) == 0)
      return &tf->tunnels[i];
  return NULL;
}

const wr_tunnel_entry *wr_tunnels_find_id(const wr_tunnels_file *tf, const uint8_t id[16]) {
  for (size_t i = 0; i < tf->n; i++)
    if (memcmp(tf->tunnels[i].id, id, 16) == 0)
      return &tf->tunnels[i];
  return NULL;
}

const wr_tunnel_entry *wr_tunnels_find_host(const wr_tunnels_file *tf, const char *host) {
  for (size_t i = 0; i < tf->n; i++)
    for (size_t j = 0; j < tf->tunnels[i].nhostnames; j++)
      if (strcmp(tf->tunnels[i].hostnames[j], host) == 0)
        return &tf->tunnels[i];
  return NULL;
}

/* Makes room for one more entry and returns it zeroed, or NULL. */
static wr_tunnel_entry *grow(wr_tunnels_file *tf) {
  if (tf->n == tf->cap) {
    size_t cap = tf->cap ? tf->cap * 2 : 8;
    wr_tunnel_entry *t = wr_realloc(tf->tunnels, cap * sizeof *t);
    if (!t)
      return NULL;
    tf->tunnels = t;
    tf->cap = cap;
  }
  wr_tunnel_entry *e = &tf->tunnels[tf->n];
  memset(e, 0, sizeof *e);
  return e;
}

static int push_host(wr_tunnel_entry *e, const char *h) {
  char **hs = wr_realloc(e->hostnames, (e->nhostnames + 1) * sizeof *hs);
  if (!hs)
    return WR_ERR_NOMEM;
  e->hostnames = hs;
  if (!(hs[e->nhostnames] = wr_strdup(h)))
    return WR_ERR_NOMEM;
  e->nhostnames++;
  return 0;
}

/* Parses one list item into a new entry at tf->tunnels[tf->n] and counts it
 * when everything, including the duplicate checks, passed. */
/* The id of entry e: a UUID no other tunnel has. */
static int parse_id(wr_yaml *y, const wr_tunnels_file *tf, wr_tunnel_entry *e, yaml_node_t *id) {
  const char *s;
  int rv = wr_yaml_get_string(y, id, "id", &s);
  if (rv)
    return rv;
  if (wr_uuid_parse(s, strlen(s), e->id) != 0)
    return wr_yaml_fail(y, id, "id \"%s\" is not a UUID", s);
  const wr_tunnel_entry *other = wr_tunnels_find_id(tf, e->id);
  if (other)
    return wr_yaml_fail(y, id, "id %s is already used by tunnel \"%s\" (line %lu)", s,
                        other->name, other->line);
  return 0;
}

/* The name of entry e: valid, and no other tunnel's. */
static int parse_name(wr_yaml *y, const wr_tunnels_file *tf, wr_tunnel_entry *e,
                      yaml_node_t *name) {
  const char *s, *why = NULL;
  int rv = wr_yaml_get_string(y, name, "name", &s);
  if (rv)
    return rv;
  if (wr_tunnel_name_check(s, &why) != 0)
    return wr_yaml_fail(y, name, "\"%s\" is not a valid tunnel name: %s", s, why);
  const wr_tunnel_entry *other = wr_tunnels_find_name(tf, s);
  if (other)
    return wr_yaml_fail(y, name, "a tunnel named \"%s\" is already defined at line %lu", s,
                        other->line);
  return (e->name = wr_strdup(s)) ? 0 : WR_ERR_NOMEM;
}

/* The secret of entry e: base64 of WR_TUNNEL_SECRET_MIN to _MAX bytes. */
static int parse_secret(wr_yaml *y, wr_tunnel_entry *e, yaml_node_t *secret) {
  const char *s, *why = NULL;
  int rv = wr_yaml_get_string(y, secret, "secret", &s);
  if (rv)
    return rv;
  size_t off = 0;
  int brv = wr_base64_decode(s, strlen(s), e->secret, sizeof e->secret, &e->secret_len, &off, &why);
  if (brv == WR_ERR_LIMIT || (!brv && e->secret_len < WR_TUNNEL_SECRET_MIN))
    return wr_yaml_fail(y, secret, "the secret must decode to %d to %d bytes",
                        WR_TUNNEL_SECRET_MIN, WR_TUNNEL_SECRET_MAX);
  if (brv)
    return wr_yaml_fail(y, secret, "the secret is not valid base64: %s at character %zu", why,
                        off + 1);
  return 0;
}

/* The hostnames of entry e: a list of valid names, none listed twice and
 * none another tunnel's. */
static int parse_hostnames(wr_yaml *y, const wr_tunnels_file *tf, wr_tunnel_entry *e,
                           yaml_node_t *hosts) {
  if (hosts->type != YAML_SEQUENCE_NODE ||
      hosts->data.sequence.items.top == hosts->data.sequence.items.start)
    return wr_yaml_fail(y, hosts, "hostnames must be a list of at least one hostname");
  if (hosts->data.sequence.items.top - hosts->data.sequence.items.start > WR_TUNNEL_HOSTS_MAX)
    return wr_yaml_fail(y, hosts, "a tunnel may have at most %d hostnames", WR_TUNNEL_HOSTS_MAX);
  for (yaml_node_item_t *it = hosts->data.sequence.items.start; it < hosts->data.sequence.items.top;
       it++) {
    yaml_node_t *h = wr_yaml_node(y, *it);
    char norm[WR_HOSTNAME_MAX + 1];
    const char *s, *why = NULL;
    int rv = wr_yaml_get_string(y, h, "a hostname", &s);
    if (rv)
      return rv;
    if (wr_hostname_check(s, strlen(s), 1, norm, &why) != 0)
      return wr_yaml_fail(y, h, "\"%s\" is not a valid hostname: %s", s, why);
    for (size_t j = 0; j < e->nhostnames; j++)
      if (strcmp(e->hostnames[j], norm) == 0)
        return wr_yaml_fail(y, h, "hostname \"%s\" is listed twice for tunnel \"%s\"", norm,
                            e->name);
    const wr_tunnel_entry *other = wr_tunnels_find_host(tf, norm);
    if (other)
      return wr_yaml_fail(y, h, "hostname \"%s\" already belongs to tunnel \"%s\" (line %lu)",
                          norm, other->name, other->line);
    if ((rv = push_host(e, norm)) != 0)
      return rv;
  }
  return 0;
}

static int parse_tunnel(wr_yaml *y, wr_tunnels_file *tf, yaml_node_t *item, size_t index) {
  char what[48];
  snprintf(what, sizeof what, "tunnel #%zu", index + 1);
  int rv = wr_yaml_check_mapping(y, item, what);
  if (rv)
    return rv;
  wr_tunnel_entry *e = grow(tf);
  if (!e)
    return wr_yaml_fail(y, item, "out of memory"), WR_ERR_NOMEM;
  e->line = wr_yaml_line(item);
  yaml_node_t *id = NULL, *name = NULL, *secret = NULL, *hosts = NULL;
  for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top; p++) {
    yaml_node_t *k = wr_yaml_node(y, p->key), *v = wr_yaml_node(y, p->value);
    const char *key = wr_yaml_scalar(k);
    if (strcmp(key, "id") == 0)
      id = v;
    else if (strcmp(key, "name") == 0)
      name = v;
    else if (strcmp(key, "secret") == 0)
      secret = v;
    else if (strcmp(key, "hostnames") == 0)
      hosts = v;
    else {
      rv = wr_yaml_fail(y, k, "unknown key \"%s\" in %s (expected id, name, secret, hostnames)",
                        key, what);
      goto fail;
    }
  }
  const char *missing = !id ? "id" : !name ? "name" : !secret ? "secret" : !hosts ? "hostnames" : NULL;
  if (missing) {
    rv = wr_yaml_fail(y, item, "%s has no \"%s\"", what, missing);
    goto fail;
  }
  if ((rv = parse_id(y, tf, e, id)) != 0 || (rv = parse_name(y, tf, e, name)) != 0 ||
      (rv = parse_secret(y, e, secret)) != 0 || (rv = parse_hostnames(y, tf, e, hosts)) != 0)
    goto fail;
  tf->n++;
  return 0;
fail:
  if (rv == WR_ERR_NOMEM)
    wr_yaml_fail(y, item, "out of memory");
  entry_free(e);
  return rv;
}

int wr_tunnels_parse(const char *text, size_t len, const char *file, wr_tunnels_file *tf, char *err,
                     size_t errlen) {
  wr_yaml y;
  int rv = wr_yaml_load(&y, text, len, file, err, errlen);
  if (rv)
    goto out;
  yaml_node_t *root = wr_yaml_root(&y), *list = NULL;
  if (!root)
    goto out; /* an empty file: no tunnels yet */
  if ((rv = wr_yaml_check_mapping(&y, root, "the tunnels file")) != 0)
    goto out;
  for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
    yaml_node_t *k = wr_yaml_node(&y, p->key);
    if (strcmp(wr_yaml_scalar(k), "tunnels") != 0) {
      rv = wr_yaml_fail(&y, k, "unknown key \"%s\" (the tunnels file has one key, \"tunnels\")",
                        wr_yaml_scalar(k));
      goto out;
    }
    list = wr_yaml_node(&y, p->value);
  }
  if (!list || (list->type == YAML_SCALAR_NODE && list->data.scalar.length == 0))
    goto out; /* "tunnels:" with nothing under it */
  if (list->type != YAML_SEQUENCE_NODE) {
    rv = wr_yaml_fail(&y, list, "\"tunnels\" must be a list");
    goto out;
  }
  size_t i = 0;
  for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top;
       it++, i++) {
    if (i >= WR_TUNNELS_MAX) {
      rv = wr_yaml_fail(&y, list, "more than %d tunnels in one file", WR_TUNNELS_MAX);
      goto out;
    }
    if ((rv = parse_tunnel(&y, tf, wr_yaml_node(&y, *it), i)) != 0)
      goto out;
  }
out:
  wr_yaml_free(&y);
  if (rv)
    wr_tunnels_free(tf);
  return rv;
}

int wr_tunnels_load(const char *path, wr_tunnels_file *tf, char *err, size_t errlen) {
  wr_buf b;
  wr_buf_init(&b, WR_YAML_MAX_SIZE);
  int rv = wr_file_read_all(path, WR_YAML_MAX_SIZE, &b, err, errlen);
  if (rv == 0)
    rv = wr_tunnels_parse((const char *)b.data, b.len, path, tf, err, errlen);
  if (b.data)
    explicit_bzero(b.data, b.cap);
  wr_buf_free(&b);
  return rv;
}

int wr_tunnels_encode(const wr_tunnels_file *tf, wr_buf *b) {
  int rv = wr_buf_puts(b, "# warren tunnels file: it holds tunnel secrets, keep it mode 0600.\n"
                          "# `warren tunnel create` adds to it; see `warren tunnel --help`.\n"
                          "tunnels:\n");
  for (size_t i = 0; !rv && i < tf->n; i++) {
    const wr_tunnel_entry *e = &tf->tunnels[i];
    char id[WR_UUID_STR_LEN + 1], sec[WR_BASE64_ENCODED_LEN(WR_TUNNEL_SECRET_MAX) + 1];
    wr_uuid_format(e->id, id);
    if ((rv = wr_base64_encode(e->secret, e->secret_len, sec, sizeof sec)) < 0)
      break;
    /* Names and hostnames are checked to plain characters, so quoting them
     * needs no escapes; quoted, "*.x" and names like "true" stay strings. */
    rv = wr_buf_printf(b, "  - id: %s\n    name: \"%s\"\n    secret: %s\n    hostnames:\n", id,
                       e->name, sec);
    for (size_t j = 0; !rv && j < e->nhostnames; j++)
      rv = wr_buf_printf(b, "      - \"%s\"\n", e->hostnames[j]);
    explicit_bzero(sec, sizeof sec);
  }
  return rv;
}

int wr_tunnels_save(const char *path, const wr_tunnels_file *tf, char *err, size_t errlen) {
  wr_buf b;
  wr_buf_init(&b, WR_YAML_MAX_SIZE);
  int rv = wr_tunnels_encode(tf, &b);
  if (rv)
    wr_errf(err, errlen, rv, "%s: cannot encode the tunnels: %s", path, wr_strerror(rv));
  else
    rv = wr_file_write_atomic(path, b.data, b.len, 0600, WR_FILE_REPLACE, err, errlen);
  if (b.data)
    explicit_bzero(b.data, b.cap);
  wr_buf_free(&b);
  return rv;
}

int wr_tunnels_add(wr_tunnels_file *tf, const uint8_t id[16], const char *name,
                   const uint8_t *secret, size_t secret_len, const char *const *hostnames,
                   size_t nhostnames, char *err, size_t errlen) {
  const char *why = NULL;
  if (wr_tunnel_name_check(name, &why) != 0)
    return wr_errf(err, errlen, WR_ERR_INVAL, "\"%s\" is not a valid tunnel name: %s", name, why);
  if (secret_len < WR_TUNNEL_SECRET_MIN || secret_len > WR_TUNNEL_SECRET_MAX)
    return wr_errf(err, errlen, WR_ERR_INVAL, "a tunnel secret has %d to %d bytes",
                WR_TUNNEL_SECRET_MIN, WR_TUNNEL_SECRET_MAX);
  if (nhostnames == 0 || nhostnames > WR_TUNNEL_HOSTS_MAX)
    return wr_errf(err, errlen, WR_ERR_INVAL, "a tunnel needs 1 to %d hostnames", WR_TUNNEL_HOSTS_MAX);
  if (tf->n >= WR_TUNNELS_MAX)
    return wr_errf(err, errlen, WR_ERR_LIMIT, "the tunnels file already has %d tunnels",
                WR_TUNNELS_MAX);
  const wr_tunnel_entry *other;
  if (wr_tunnels_find_name(tf, name))
    return wr_errf(err, errlen, WR_ERR_EXISTS, "a tunnel named \"%s\" already exists", name);
  if ((other = wr_tunnels_find_id(tf, id))) {
    char s[WR_UUID_STR_LEN + 1];
    wr_uuid_format(id, s);
    return wr_errf(err, errlen, WR_ERR_EXISTS, "tunnel id %s is already used by tunnel \"%s\"", s,
                other->name);
  }
  wr_tunnel_entry *e = grow(tf);
  if (!e)
    return wr_errf(err, errlen, WR_ERR_NOMEM, "out of memory");
  int rv = 0;
  memcpy(e->id, id, 16);
  memcpy(e->secret, secret, secret_len);
  e->secret_len = secret_len;
  if (!(e->name = wr_strdup(name))) {
    rv = wr_errf(err, errlen, WR_ERR_NOMEM, "out of memory");
    goto fail;
  }
  for (size_t i = 0; i < nhostnames; i++) {
    char norm[WR_HOSTNAME_MAX + 1];
    if (wr_hostname_check(hostnames[i], strlen(hostnames[i]), 1, norm, &why) != 0) {
      rv = wr_errf(err, errlen, WR_ERR_INVAL, "\"%s\" is not a valid hostname: %s", hostnames[i], why);
      goto fail;
    }
    for (size_t j = 0; j < e->nhostnames; j++)
      if (strcmp(e->hostnames[j], norm) == 0) {
        rv = wr_errf(err, errlen, WR_ERR_INVAL, "hostname \"%s\" is given twice", norm);
        goto fail;
      }
    if ((other = wr_tunnels_find_host(tf, norm))) {
      rv = wr_errf(err, errlen, WR_ERR_EXISTS, "hostname \"%s\" already belongs to tunnel \"%s\"",
                norm, other->name);
      goto fail;
    }
    if (push_host(e, norm) != 0) {
      rv = wr_errf(err, errlen, WR_ERR_NOMEM, "out of memory");
      goto fail;
    }
  }
  tf->n++;
  return 0;
fail:
  entry_free(e);
  return rv;
}

int wr_tunnels_remove(wr_tunnels_file *tf, const char *name) {
  for (size_t i = 0; i < tf->n; i++) {
    if (strcmp(tf->tunnels[i].name, name) != 0)
      continue;
    entry_free(&tf->tunnels[i]);
    memmove(&tf->tunnels[i], &tf->tunnels[i + 1], (tf->n - i - 1) * sizeof *tf->tunnels);
    tf->n--;
    return 0;
  }
  return WR_ERR_NOTFOUND;
}

int wr_tunnels_default_path(const char *home, char *out, size_t cap) {
  static const char etc[] = "/etc/warren/tunnels.yml";
  char mine[4096] = "";
  if (home && *home && (size_t)snprintf(mine, sizeof mine, "%s/.warren/tunnels.yml", home) >=
                           sizeof mine)
    return WR_ERR_LIMIT;
  const char *pick = *mine && wr_file_exists(mine) ? mine : wr_file_exists(etc) ? etc : mine;
  if (!*pick)
    return WR_ERR_NOTFOUND;
  return (size_t)snprintf(out, cap, "%s", pick) < cap ? 0 : WR_ERR_LIMIT;
}
