#include "tunnel/credentials.h"

#include <stdio.h>
#include <string.h>

#include "io/file.h"
#include "proto/text/base64.h"
#include "proto/text/json.h"
#include "proto/text/uuid.h"

int wr_tunnel_name_check(const char *name, const char **preason) {
  size_t n = strlen(name);
  const char *why = NULL;
  if (n == 0)
    why = "a tunnel name cannot be empty";
  else if (n > WR_TUNNEL_NAME_MAX)
    why = "a tunnel name is at most 64 characters";
  else if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z') ||
             (name[0] >= '0' && name[0] <= '9')))
    why = "a tunnel name starts with a letter or digit";
  for (size_t i = 0; !why && i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_' || c == '.'))
      why = "a tunnel name may hold only letters, digits, '-', '_' and '.'";
  }
  if (why) {
    if (preason)
      *preason = why;
    return WR_ERR_INVAL;
  }
  return 0;
}

/* The member names of one credentials format: the file's, or a token's. */
typedef struct members {
  const char *id, *secret, *tag, *name; /* name may be NULL: the format has none */
} members;

static const members FILE_MEMBERS = {"TunnelID", "TunnelSecret", "AccountTag", "TunnelName"};
/* cloudflared's token: base64 of {"a": AccountTag, "s": TunnelSecret, "t": TunnelID}, in
 * the order Go's encoder writes its fields. */
static const members TOKEN_MEMBERS = {"t", "s", "a", NULL};

/* Fills c from a parsed JSON object with the members m names. */
static int from_json(const wr_json *root, const members *m, const char *file, wr_credentials *c,
                     char *err, size_t errlen) {
  const wr_json *id = wr_json_get(root, m->id), *sec = wr_json_get(root, m->secret);
  const wr_json *tag = wr_json_get(root, m->tag), *name = m->name ? wr_json_get(root, m->name) : NULL;
  size_t off = 0;
  const char *why = NULL;
  int rv = WR_ERR_INVAL;
  if (root->type != WR_JSON_OBJECT)
    return wr_errf(err, errlen, rv, "%s: a credentials file is a JSON object, not %s %s", file,
                   root->type == WR_JSON_ARRAY || root->type == WR_JSON_OBJECT ? "an" : "a",
                   wr_json_type_name(root->type));
  if (!id || id->type != WR_JSON_STRING)
    return wr_errf(err, errlen, rv, "%s: the %s member (a UUID string) is missing", file, m->id);
  if (wr_uuid_parse(id->str, id->len, c->tunnel_id) != 0)
    return wr_errf(err, errlen, rv, "%s: byte %zu: %s \"%s\" is not a UUID", file, id->offset,
                   m->id, id->str);
  if (!sec || sec->type != WR_JSON_STRING)
    return wr_errf(err, errlen, rv, "%s: the %s member (a base64 string) is missing", file,
                   m->secret);
  int brv = wr_base64_decode(sec->str, sec->len, c->secret, sizeof c->secret, &c->secret_len, &off,
                             &why);
  if (brv == WR_ERR_LIMIT || (brv == 0 && c->secret_len < WR_TUNNEL_SECRET_MIN))
    return wr_errf(err, errlen, rv, "%s: %s must decode to %d to %d bytes", file, m->secret,
                   WR_TUNNEL_SECRET_MIN, WR_TUNNEL_SECRET_MAX);
  if (brv)
    return wr_errf(err, errlen, rv, "%s: %s is not valid base64: %s at character %zu", file,
                   m->secret, why, off + 1);
  if (tag && (tag->type != WR_JSON_STRING || tag->len > WR_TUNNEL_NAME_MAX))
    return wr_errf(err, errlen, rv, "%s: %s must be a string of at most 64 characters", file,
                   m->tag);
  if (tag)
    memcpy(c->account_tag, tag->str, tag->len + 1);
  if (name && (name->type != WR_JSON_STRING || wr_tunnel_name_check(name->str, &why) != 0))
    return wr_errf(err, errlen, rv, "%s: %s is not a valid tunnel name", file, m->name);
  if (name)
    memcpy(c->tunnel_name, name->str, name->len + 1);
  return 0;
}

static int parse_as(const char *text, size_t len, const members *m, const char *file,
                    wr_credentials *c, char *err, size_t errlen) {
  memset(c, 0, sizeof *c);
  wr_json *root = NULL;
  wr_json_error je;
  wr_json_limits lim = {8, WR_CREDENTIALS_MAX_SIZE, 1024};
  int rv = wr_json_parse(text, len, &lim, &root, &je);
  if (rv == WR_ERR_NOMEM)
    return wr_errf(err, errlen, rv, "%s: out of memory", file);
  if (rv)
    return wr_errf(err, errlen, rv, "%s: byte %zu: not a valid credentials file: %s", file,
                   je.offset, je.msg);
  rv = from_json(root, m, file, c, err, errlen);
  wr_json_del(root);
  if (rv)
    explicit_bzero(c, sizeof *c);
  return rv;
}

int wr_credentials_parse(const char *text, size_t len, const char *file, wr_credentials *c,
                         char *err, size_t errlen) {
  return parse_as(text, len, &FILE_MEMBERS, file, c, err, errlen);
}

int wr_credentials_from_token(const char *token, size_t len, wr_credentials *c, char *err,
                              size_t errlen) {
  uint8_t json[WR_TUNNEL_TOKEN_MAX];
  size_t n = 0, off = 0;
  const char *why = NULL;
  int rv = wr_base64_decode(token, len, json, sizeof json, &n, &off, &why);
  if (rv == WR_ERR_LIMIT)
    return wr_errf(err, errlen, WR_ERR_INVAL, "the tunnel token is longer than %d bytes",
                   WR_TUNNEL_TOKEN_MAX);
  if (rv)
    return wr_errf(err, errlen, WR_ERR_INVAL,
                   "the tunnel token is not valid base64: %s at character %zu", why, off + 1);
  rv = parse_as((const char *)json, n, &TOKEN_MEMBERS, "the tunnel token", c, err, errlen);
  explicit_bzero(json, sizeof json);
  return rv;
}

int wr_credentials_token(const wr_credentials *c, wr_buf *b) {
  char id[WR_UUID_STR_LEN + 1], sec[WR_BASE64_ENCODED_LEN(WR_TUNNEL_SECRET_MAX) + 1];
  wr_uuid_format(c->tunnel_id, id);
  int rv = wr_base64_encode(c->secret, c->secret_len, sec, sizeof sec);
  if (rv < 0)
    return rv;
  wr_buf json;
  wr_buf_init(&json, WR_TUNNEL_TOKEN_MAX);
  if ((rv = wr_buf_puts(&json, "{\"a\":")) == 0 &&
      (rv = wr_json_put_string(&json, c->account_tag, strlen(c->account_tag))) == 0 &&
      (rv = wr_buf_printf(&json, ",\"s\":\"%s\",\"t\":\"%s\"}", sec, id)) == 0 &&
      (rv = wr_buf_reserve(b, WR_BASE64_ENCODED_LEN(json.len) + 1)) == 0) {
    int n = wr_base64_encode(json.data, json.len, (char *)b->data + b->len, b->cap - b->len);
    if (n < 0)
      rv = n;
    else
      b->len += (size_t)n;
  }
  /* Both held the secret in text. */
  explicit_bzero(sec, sizeof sec);
  if (json.data)
    explicit_bzero(json.data, json.cap);
  wr_buf_free(&json);
  return rv;
}

int wr_credentials_load(const char *path, wr_credentials *c, char *err, size_t errlen) {
  wr_buf b;
  wr_buf_init(&b, WR_CREDENTIALS_MAX_SIZE);
  int rv = wr_file_read_all(path, WR_CREDENTIALS_MAX_SIZE, &b, err, errlen);
  if (rv == 0)
    rv = wr_credentials_parse((const char *)b.data, b.len, path, c, err, errlen);
  wr_buf_free(&b);
  return rv;
}

int wr_credentials_check_tunnel(const wr_credentials *c, const char *wanted, const char *source,
                                char *err, size_t errlen) {
  uint8_t id[16];
  char have[WR_UUID_STR_LEN + 1];
  wr_uuid_format(c->tunnel_id, have);
  if (wr_uuid_parse(wanted, strlen(wanted), id) == 0) {
    if (memcmp(id, c->tunnel_id, 16) == 0)
      return 0;
    return wr_errf(err, errlen, WR_ERR_INVAL, "%s is for tunnel %s, not %s", source, have, wanted);
  }
  if (!c->tunnel_name[0] || strcmp(c->tunnel_name, wanted) == 0)
    return 0;
  return wr_errf(err, errlen, WR_ERR_INVAL, "%s is for tunnel \"%s\" (%s), not \"%s\"", source,
                 c->tunnel_name, have, wanted);
}

int wr_credentials_encode(const wr_credentials *c, wr_buf *b) {
  char id[WR_UUID_STR_LEN + 1], sec[WR_BASE64_ENCODED_LEN(WR_TUNNEL_SECRET_MAX) + 1];
  wr_uuid_format(c->tunnel_id, id);
  int rv = wr_base64_encode(c->secret, c->secret_len, sec, sizeof sec);
  if (rv < 0)
    return rv;
  if ((rv = wr_buf_puts(b, "{\"AccountTag\":")) != 0 ||
      (rv = wr_json_put_string(b, c->account_tag, strlen(c->account_tag))) != 0 ||
      (rv = wr_buf_printf(b, ",\"TunnelSecret\":\"%s\",\"TunnelID\":\"%s\"", sec, id)) != 0)
    return rv;
  if (c->tunnel_name[0] &&
      ((rv = wr_buf_puts(b, ",\"TunnelName\":")) != 0 ||
       (rv = wr_json_put_string(b, c->tunnel_name, strlen(c->tunnel_name))) != 0))
    return rv;
  return wr_buf_puts(b, "}\n");
}

int wr_credentials_save(const char *path, const wr_credentials *c, char *err, size_t errlen) {
  wr_buf b;
  wr_buf_init(&b, 4096);
  int rv = wr_credentials_encode(c, &b);
  if (rv)
    wr_errf(err, errlen, rv, "%s: cannot encode the credentials: %s", path, wr_strerror(rv));
  else
    rv = wr_file_write_atomic(path, b.data, b.len, 0600, WR_FILE_NO_REPLACE, err, errlen);
  /* The buffer held the secret in text. */
  if (b.data)
    explicit_bzero(b.data, b.cap);
  wr_buf_free(&b);
  return rv;
}
