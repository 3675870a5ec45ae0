/* kad.c: the kad-dht message, its framing, and XOR distance. */
#include "proto/p2p/kad.h"

#include <string.h>

#include "proto/ipld/pb.h"
#include "proto/multiformats/multihash.h"
#include "proto/multiformats/varint.h"

#define FAIL(code, why)                                                                            \
  do {                                                                                             \
    if (preason)                                                                                   \
      *preason = (why);                                                                            \
    return (code);                                                                                 \
  } while (0)

/* Skips a field of a wire type we do not read. */
static int skip(wr_cursor *c, int wt, const char **preason) {
  if (wt == WR_PB_VARINT) {
    uint64_t v;
    if (wr_pb_get_varint(c, &v, preason) != 0)
      return WR_ERR_MALFORMED;
    return 0;
  }
  if (wt == WR_PB_I64 || wt == WR_PB_I32) {
    size_t k = wt == WR_PB_I64 ? 8 : 4;
    if (wr_cursor_left(c) < k)
      FAIL(WR_ERR_MALFORMED, "kad fixed-size field runs past the end");
    c->pos += k;
    return 0;
  }
  if (wt == WR_PB_LEN) {
    const uint8_t *p;
    size_t n;
    if (wr_pb_get_bytes(c, &p, &n, preason) != 0)
      FAIL(WR_ERR_MALFORMED, "kad field runs past the end");
    return 0;
  }
  FAIL(WR_ERR_MALFORMED, "kad field has an unknown wire type");
}

static int get_len(wr_cursor *c, int wt, wr_bytes *b, const char **preason) {
  if (wt != WR_PB_LEN)
    FAIL(WR_ERR_MALFORMED, "kad bytes field has the wrong wire type");
  if (wr_pb_get_bytes(c, &b->p, &b->n, preason) != 0)
    FAIL(WR_ERR_MALFORMED, "kad field runs past the end");
  return 0;
}

static int get_uint(wr_cursor *c, int wt, uint64_t *v, const char **preason) {
  if (wt != WR_PB_VARINT)
    FAIL(WR_ERR_MALFORMED, "kad number field has the wrong wire type");
  if (wr_pb_get_varint(c, v, preason) != 0)
    return WR_ERR_MALFORMED;
  return 0;
}

static int decode_peer(const uint8_t *p, size_t n, wr_kad_peer *peer, const char **preason) {
  memset(peer, 0, sizeof *peer);
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  int seen_id = 0, seen_conn = 0;
  while (wr_cursor_left(&c) > 0) {
    uint32_t field;
    int wt, rv;
    if (wr_pb_get_key(&c, &field, &wt, preason) != 0)
      return WR_ERR_MALFORMED;
    if (field == 1) {
      if (seen_id++)
        FAIL(WR_ERR_MALFORMED, "kad peer repeats its id");
      if ((rv = get_len(&c, wt, &peer->id, preason)) != 0)
        return rv;
    } else if (field == 2) {
      if (peer->naddrs == WR_KAD_MAX_ADDRS)
        FAIL(WR_ERR_LIMIT, "kad peer lists more than 32 addresses");
      if ((rv = get_len(&c, wt, &peer->addrs[peer->naddrs++], preason)) != 0)
        return rv;
    } else if (field == 3) {
      uint64_t v;
      if (seen_conn++)
        FAIL(WR_ERR_MALFORMED, "kad peer repeats its connection type");
      if ((rv = get_uint(&c, wt, &v, preason)) != 0)
        return rv;
      if (v > WR_KAD_CANNOT_CONNECT)
        FAIL(WR_ERR_MALFORMED, "kad peer has an unknown connection type");
      peer->connection = (int)v;
    } else if ((rv = skip(&c, wt, preason)) != 0) {
      return rv;
    }
  }
  if (peer->id.n == 0)
    FAIL(WR_ERR_MALFORMED, "kad peer has no id");
  return 0;
}

static int decode_record(const uint8_t *p, size_t n, wr_kad_record *r, const char **preason) {
  memset(r, 0, sizeof *r);
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  int seen[6] = {0};
  while (wr_cursor_left(&c) > 0) {
    uint32_t field;
    int wt, rv;
    if (wr_pb_get_key(&c, &field, &wt, preason) != 0)
      return WR_ERR_MALFORMED;
    wr_bytes *dst = field == 1   ? &r->key
                    : field == 2 ? &r->value
                    : field == 5 ? &r->time_received
                                 : NULL;
    if (!dst) {
      if ((rv = skip(&c, wt, preason)) != 0)
        return rv;
      continue;
    }
    if (seen[field]++)
      FAIL(WR_ERR_MALFORMED, "kad record repeats a field");
    if ((rv = get_len(&c, wt, dst, preason)) != 0)
      return rv;
  }
  return 0;
}

int wr_kad_decode(const uint8_t *p, size_t n, wr_kad_msg *m, const char **preason) {
  m->type = 0;
  m->cluster_level = 0;
  m->key = (wr_bytes){0};
  m->has_record = 0;
  memset(&m->record, 0, sizeof m->record);
  m->ncloser = m->nproviders = 0;
  if (n > WR_KAD_MAX_MSG)
    FAIL(WR_ERR_LIMIT, "kad message longer than 4 MiB");
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  int seen_type = 0, seen_key = 0, seen_level = 0;
  while (wr_cursor_left(&c) > 0) {
    uint32_t field;
    int wt, rv;
    uint64_t v;
    wr_bytes b;
    if (wr_pb_get_key(&c, &field, &wt, preason) != 0)
      return WR_ERR_MALFORMED;
    switch (field) {
    case 1:
      if (seen_type++)
        FAIL(WR_ERR_MALFORMED, "kad message repeats its type");
      if ((rv = get_uint(&c, wt, &v, preason)) != 0)
        return rv;
      if (v > WR_KAD_PING)
        FAIL(WR_ERR_MALFORMED, "kad message has an unknown type");
      m->type = (int)v;
      break;
    case 2:
      if (seen_key++)
        FAIL(WR_ERR_MALFORMED, "kad message repeats its key");
      if ((rv = get_len(&c, wt, &m->key, preason)) != 0)
        return rv;
      break;
    case 3:
      if (m->has_record++)
        FAIL(WR_ERR_MALFORMED, "kad message repeats its record");
      if ((rv = get_len(&c, wt, &b, preason)) != 0)
        return rv;
      if ((rv = decode_record(b.p, b.n, &m->record, preason)) != 0)
        return rv;
      break;
    case 8:
    case 9: {
      size_t *cnt = field == 8 ? &m->ncloser : &m->nproviders;
      wr_kad_peer *arr = field == 8 ? m->closer : m->providers;
      if (*cnt == WR_KAD_MAX_PEERS)
        FAIL(WR_ERR_LIMIT, "kad message lists more than 64 peers");
      if ((rv = get_len(&c, wt, &b, preason)) != 0)
        return rv;
      if ((rv = decode_peer(b.p, b.n, &arr[*cnt], preason)) != 0)
        return rv;
      (*cnt)++;
      break;
    }
    case 10:
      if (seen_level++)
        FAIL(WR_ERR_MALFORMED, "kad message repeats its cluster level");
      if ((rv = get_uint(&c, wt, &v, preason)) != 0)
        return rv;
      /* int32: negative values are sign-extended to 10 bytes. */
      if (v > INT32_MAX && v < (uint64_t)(int64_t)INT32_MIN)
        FAIL(WR_ERR_MALFORMED, "kad cluster level is out of the int32 range");
      m->cluster_level = (int32_t)(int64_t)v;
      break;
    default:
      if ((rv = skip(&c, wt, preason)) != 0)
        return rv;
    }
  }
  return 0;
}

static int put(wr_buf *out, uint32_t field, wr_bytes b) {
  return b.n ? wr_pb_put_bytes(out, field, b.p, b.n) : 0;
}

static size_t len_field(uint32_t field, size_t n) {
  return wr_pb_varint_size((uint64_t)field << 3) + wr_pb_varint_size(n) + n;
}

static size_t peer_size(const wr_kad_peer *p) {
  size_t s = p->id.n ? len_field(1, p->id.n) : 0;
  for (size_t i = 0; i < p->naddrs; i++)
    s += len_field(2, p->addrs[i].n);
  if (p->connection)
    s += 1 + wr_pb_varint_size((uint64_t)p->connection);
  return s;
}

static int put_peer(wr_buf *out, uint32_t field, const wr_kad_peer *p) {
  int rv = wr_pb_put_key(out, field, WR_PB_LEN);
  if (rv == 0)
    rv = wr_pb_put_varint(out, peer_size(p));
  if (rv == 0)
    rv = put(out, 1, p->id);
  for (size_t i = 0; rv == 0 && i < p->naddrs; i++)
    rv = wr_pb_put_bytes(out, 2, p->addrs[i].p, p->addrs[i].n);
  if (rv == 0 && p->connection)
    rv = wr_pb_put_uint(out, 3, (uint64_t)p->connection);
  return rv;
}

int wr_kad_encode(const wr_kad_msg *m, wr_buf *out) {
  int rv = 0;
  if (m->type)
    rv = wr_pb_put_uint(out, 1, (uint64_t)m->type);
  if (rv == 0)
    rv = put(out, 2, m->key);
  if (rv == 0 && m->has_record) {
    const wr_kad_record *r = &m->record;
    size_t s = (r->key.n ? len_field(1, r->key.n) : 0) +
               (r->value.n ? len_field(2, r->value.n) : 0) +
               (r->time_received.n ? len_field(5, r->time_received.n) : 0);
    rv = wr_pb_put_key(out, 3, WR_PB_LEN);
    if (rv == 0)
      rv = wr_pb_put_varint(out, s);
    if (rv == 0)
      rv = put(out, 1, r->key);
    if (rv == 0)
      rv = put(out, 2, r->value);
    if (rv == 0)
      rv = put(out, 5, r->time_received);
  }
  for (size_t i = 0; rv == 0 && i < m->ncloser; i++)
    rv = put_peer(out, 8, &m->closer[i]);
  for (size_t i = 0; rv == 0 && i < m->nproviders; i++)
    rv = put_peer(out, 9, &m->providers[i]);
  if (rv == 0 && m->cluster_level)
    rv = wr_pb_put_uint(out, 10, (uint64_t)(int64_t)m->cluster_level);
  return rv;
}

int wr_kad_encode_frame(const wr_kad_msg *m, wr_buf *out) {
  /* Encode after a 5-byte hole, then move the message up to its prefix. */
  size_t start = out->len;
  int rv = wr_buf_reserve(out, 5);
  if (rv != 0)
    return rv;
  out->len += 5;
  if ((rv = wr_kad_encode(m, out)) != 0) {
    out->len = start;
    return rv;
  }
  size_t n = out->len - start - 5;
  uint8_t pre[WR_VARINT_MAX_BYTES];
  int k = wr_varint_encode(pre, n);
  if (k < 0 || k > 5) {
    out->len = start;
    return WR_ERR_LIMIT;
  }
  memmove(out->data + start + (size_t)k, out->data + start + 5, n);
  memcpy(out->data + start, pre, (size_t)k);
  out->len = start + (size_t)k + n;
  return 0;
}

int wr_kad_frame_next(const uint8_t *p, size_t n, const uint8_t **pmsg, size_t *pmsglen,
                      size_t *pconsumed, const char **preason) {
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  uint64_t len;
  const char *why = NULL;
  int rv = wr_varint_decode(&c, &len, &why);
  if (rv == WR_ERR_TRUNCATED) {
    if (n >= 4) /* 4 varint bytes already say more than 4 MiB */
      FAIL(WR_ERR_LIMIT, "kad message longer than 4 MiB");
    return WR_ERR_AGAIN;
  }
  if (rv != 0)
    FAIL(WR_ERR_MALFORMED, why ? why : "kad message length is not a varint");
  if (len > WR_KAD_MAX_MSG)
    FAIL(WR_ERR_LIMIT, "kad message longer than 4 MiB");
  size_t head = (size_t)(c.pos - (const uint8_t *)p);
  if (n - head < len)
    return WR_ERR_AGAIN;
  *pmsg = p + head;
  *pmsglen = (size_t)len;
  *pconsumed = head + (size_t)len;
  return 0;
}

const char *wr_kad_type_name(int type) {
  static const char *const names[] = {"PUT_VALUE",     "GET_VALUE", "ADD_PROVIDER",
                                      "GET_PROVIDERS", "FIND_NODE", "PING"};
  return type >= 0 && type <= WR_KAD_PING ? names[type] : "?";
}

void wr_kad_key(const void *p, size_t n, uint8_t out[WR_KAD_KEY_BYTES]) {
  wr_sha256 s;
  wr_sha256_init(&s);
  wr_sha256_update(&s, p, n);
  wr_sha256_final(&s, out);
}

void wr_kad_distance(const uint8_t a[WR_KAD_KEY_BYTES], const uint8_t b[WR_KAD_KEY_BYTES],
                     uint8_t out[WR_KAD_KEY_BYTES]) {
  for (size_t i = 0; i < WR_KAD_KEY_BYTES; i++)
    out[i] = a[i] ^ b[i];
}

int wr_kad_closer(const uint8_t target[WR_KAD_KEY_BYTES], const uint8_t a[WR_KAD_KEY_BYTES],
                  const uint8_t b[WR_KAD_KEY_BYTES]) {
  for (size_t i = 0; i < WR_KAD_KEY_BYTES; i++) {
    uint8_t da = a[i] ^ target[i], db = b[i] ^ target[i];
    if (da != db)
      return da < db ? -1 : 1;
  }
  return 0;
}

unsigned wr_kad_common_prefix(const uint8_t a[WR_KAD_KEY_BYTES],
                              const uint8_t b[WR_KAD_KEY_BYTES]) {
  for (size_t i = 0; i < WR_KAD_KEY_BYTES; i++) {
    uint8_t x = a[i] ^ b[i];
    if (x)
      return (unsigned)(i * 8) + (unsigned)__builtin_clz(x) - 24u;
  }
  return WR_KAD_KEY_BYTES * 8;
}
