/* multiaddr.c: multiaddr binary and text forms. */
#include "proto/p2p/multiaddr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "proto/multiformats/multibase.h"
#include "proto/multiformats/varint.h"

#define FAIL(code, why)                                                                            \
  do {                                                                                             \
    if (preason)                                                                                   \
      *preason = (why);                                                                            \
    return (code);                                                                                 \
  } while (0)

/* Value size: >= 0 fixed, -1 length-prefixed. */
static const struct proto {
  uint64_t code;
  const char *name;
  int size;
} protos[] = {
    {WR_MA_IP4, "ip4", 4},  {WR_MA_TCP, "tcp", 2},    {WR_MA_UDP, "udp", 2},
    {WR_MA_DNS, "dns", -1}, {WR_MA_DNS4, "dns4", -1}, {WR_MA_DNS6, "dns6", -1},
    {WR_MA_IP6, "ip6", 16}, {WR_MA_P2P, "p2p", -1},   {WR_MA_QUIC_V1, "quic-v1", 0},
};

static const struct proto *by_code(uint64_t code) {
  for (size_t i = 0; i < sizeof protos / sizeof protos[0]; i++)
    if (protos[i].code == code)
      return &protos[i];
  return NULL;
}

static const struct proto *by_name(const char *s, size_t n) {
  for (size_t i = 0; i < sizeof protos / sizeof protos[0]; i++)
    if (strlen(protos[i].name) == n && memcmp(protos[i].name, s, n) == 0)
      return &protos[i];
  return NULL;
}

const char *wr_ma_name(uint64_t code) {
  const struct proto *p = by_code(code);
  return p ? p->name : NULL;
}

static int check_value(uint64_t code, const uint8_t *v, size_t n, const char **preason) {
  if (code == WR_MA_DNS || code == WR_MA_DNS4 || code == WR_MA_DNS6) {
    if (n == 0 || n > 255)
      FAIL(WR_ERR_MALFORMED, "multiaddr DNS name is empty or longer than 255 bytes");
    for (size_t i = 0; i < n; i++)
      if (v[i] == '/' || v[i] <= 0x20 || v[i] >= 0x7f)
        FAIL(WR_ERR_MALFORMED, "multiaddr DNS name holds '/', a space or a non-ASCII byte");
  } else if (code == WR_MA_P2P) {
    wr_peerid id;
    const char *why = NULL;
    if (wr_peerid_decode(v, n, &id, &why) != 0)
      FAIL(WR_ERR_MALFORMED, "multiaddr /p2p value is not a peer ID");
  }
  return 0;
}

int wr_maddr_decode(const uint8_t *p, size_t n, wr_maddr *ma, const char **preason) {
  ma->len = 0;
  if (n == 0)
    FAIL(WR_ERR_MALFORMED, "empty multiaddr");
  if (n > WR_MA_MAX_BYTES)
    FAIL(WR_ERR_LIMIT, "multiaddr longer than 400 bytes");
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  while (wr_cursor_left(&c) > 0) {
    uint64_t code;
    int rv = wr_varint_decode(&c, &code, preason);
    if (rv != 0)
      return rv;
    const struct proto *pr = by_code(code);
    if (!pr)
      FAIL(WR_ERR_MALFORMED, "multiaddr has a protocol code warren does not know");
    uint64_t len = (uint64_t)pr->size;
    if (pr->size < 0) {
      rv = wr_varint_decode(&c, &len, preason);
      if (rv != 0)
        return rv;
    }
    if (len > wr_cursor_left(&c))
      FAIL(WR_ERR_TRUNCATED, "multiaddr component value runs past the end");
    rv = check_value(code, c.pos, (size_t)len, preason);
    if (rv != 0)
      return rv;
    c.pos += len;
  }
  memcpy(ma->bytes, p, n);
  ma->len = n;
  return 0;
}

int wr_maddr_next(const wr_maddr *ma, size_t *poff, wr_ma_comp *pc) {
  if (*poff >= ma->len)
    return 0;
  wr_cursor c;
  wr_cursor_init(&c, ma->bytes + *poff, ma->len - *poff);
  uint64_t code, len;
  if (wr_varint_decode(&c, &code, NULL) != 0)
    return 0;
  const struct proto *pr = by_code(code);
  if (!pr)
    return 0;
  len = (uint64_t)pr->size;
  if (pr->size < 0 && wr_varint_decode(&c, &len, NULL) != 0)
    return 0;
  if (len > wr_cursor_left(&c))
    return 0;
  pc->code = code;
  pc->value = c.pos;
  pc->len = (size_t)len;
  *poff = (size_t)(c.pos + len - ma->bytes);
  return 1;
}

int wr_maddr_push(wr_maddr *ma, uint64_t code, const uint8_t *value, size_t len) {
  const struct proto *pr = by_code(code);
  if (!pr)
    return WR_ERR_MALFORMED;
  if (pr->size >= 0 && (size_t)pr->size != len)
    return WR_ERR_MALFORMED;
  if (check_value(code, value, len, NULL) != 0)
    return WR_ERR_MALFORMED;
  uint8_t head[2 * WR_VARINT_MAX_BYTES];
  int a = wr_varint_encode(head, code);
  if (a < 0)
    return a;
  size_t hn = (size_t)a;
  if (pr->size < 0) {
    int b = wr_varint_encode(head + hn, len);
    if (b < 0)
      return b;
    hn += (size_t)b;
  }
  if (ma->len + hn + len > WR_MA_MAX_BYTES)
    return WR_ERR_LIMIT;
  memcpy(ma->bytes + ma->len, head, hn);
  if (len) /* a protocol without a value (quic-v1) may come with NULL */
    memcpy(ma->bytes + ma->len + hn, value, len);
  ma->len += hn + len;
  return 0;
}

static int parse_port(const char *s, size_t n, uint8_t out[2]) {
  if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
    return WR_ERR_MALFORMED;
  unsigned v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return WR_ERR_MALFORMED;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  if (v > 65535)
    return WR_ERR_MALFORMED;
  out[0] = (uint8_t)(v >> 8);
  out[1] = (uint8_t)v;
  return 0;
}

int wr_maddr_parse(const char *s, size_t n, wr_maddr *ma, const char **preason) {
  ma->len = 0;
  if (n == 0 || s[0] != '/')
    FAIL(WR_ERR_MALFORMED, "multiaddr text does not start with '/'");
  if (n > WR_MA_MAX_STR)
    FAIL(WR_ERR_LIMIT, "multiaddr text longer than 1024 characters");
  if (memchr(s, '\0', n))
    FAIL(WR_ERR_MALFORMED, "multiaddr text holds a NUL byte");
  size_t i = 1;
  while (i <= n) {
    if (i == n)
      FAIL(WR_ERR_MALFORMED, "multiaddr text ends with '/'");
    size_t j = i;
    while (j < n && s[j] != '/')
      j++;
    const struct proto *pr = by_name(s + i, j - i);
    if (!pr)
      FAIL(WR_ERR_MALFORMED, "multiaddr names a protocol warren does not know");
    uint8_t val[WR_MA_MAX_BYTES];
    size_t vlen = 0;
    if (pr->size != 0) {
      if (j >= n)
        FAIL(WR_ERR_MALFORMED, "multiaddr protocol lacks its value");
      size_t k = j + 1;
      size_t e = k;
      while (e < n && s[e] != '/')
        e++;
      const char *v = s + k;
      size_t vn = e - k;
      char tmp[64];
      switch (pr->code) {
      case WR_MA_IP4:
      case WR_MA_IP6: {
        if (vn == 0 || vn >= sizeof tmp)
          FAIL(WR_ERR_MALFORMED, "multiaddr IP address is empty or too long");
        memcpy(tmp, v, vn);
        tmp[vn] = '\0';
        int fam = pr->code == WR_MA_IP4 ? AF_INET : AF_INET6;
        if (inet_pton(fam, tmp, val) != 1)
          FAIL(WR_ERR_MALFORMED, "multiaddr IP address does not parse");
        vlen = (size_t)pr->size;
        char back[64];
        if (!inet_ntop(fam, val, back, sizeof back) || strcmp(back, tmp) != 0)
          FAIL(WR_ERR_MALFORMED, "multiaddr IP address is not in its canonical form");
        break;
      }
      case WR_MA_TCP:
      case WR_MA_UDP:
        if (parse_port(v, vn, val) != 0)
          FAIL(WR_ERR_MALFORMED, "multiaddr port is not a number from 0 to 65535 "
                                 "without leading zeros");
        vlen = 2;
        break;
      case WR_MA_P2P: {
        wr_peerid id;
        int rv = wr_peerid_parse(v, vn, &id, preason);
        if (rv != 0)
          return rv;
        int m = wr_peerid_to_bytes(&id, val, sizeof val);
        if (m < 0)
          FAIL(WR_ERR_LIMIT, "multiaddr peer ID too long");
        vlen = (size_t)m;
        break;
      }
      default: /* dns names */
        if (vn > sizeof val)
          FAIL(WR_ERR_MALFORMED, "multiaddr DNS name too long");
        memcpy(val, v, vn);
        vlen = vn;
        break;
      }
      j = e;
    }
    int rv = wr_maddr_push(ma, pr->code, val, vlen);
    if (rv == WR_ERR_LIMIT)
      FAIL(WR_ERR_LIMIT, "multiaddr longer than 400 bytes");
    if (rv != 0)
      FAIL(WR_ERR_MALFORMED, "multiaddr DNS name is empty or holds a bad byte");
    if (j >= n)
      return 0;
    i = j + 1;
  }
  return 0;
}

int wr_maddr_format(const wr_maddr *ma, char *out, size_t cap) {
  size_t off = 0, len = 0;
  wr_ma_comp c;
  if (cap == 0)
    return WR_ERR_LIMIT;
  out[0] = '\0';
  while (wr_maddr_next(ma, &off, &c)) {
    char v[WR_PEERID_MAX_STR + 300];
    v[0] = '\0';
    switch (c.code) {
    case WR_MA_IP4:
      inet_ntop(AF_INET, c.value, v, sizeof v);
      break;
    case WR_MA_IP6:
      inet_ntop(AF_INET6, c.value, v, sizeof v);
      break;
    case WR_MA_TCP:
    case WR_MA_UDP:
      snprintf(v, sizeof v, "%u", (unsigned)c.value[0] << 8 | c.value[1]);
      break;
    case WR_MA_P2P: {
      wr_peerid id;
      if (wr_peerid_decode(c.value, c.len, &id, NULL) != 0 ||
          wr_peerid_format(&id, v, sizeof v) < 0)
        return WR_ERR_MALFORMED;
      break;
    }
    case WR_MA_QUIC_V1:
      break;
    default:
      memcpy(v, c.value, c.len);
      v[c.len] = '\0';
      break;
    }
    int m = c.code == WR_MA_QUIC_V1
                ? snprintf(out + len, cap - len, "/%s", wr_ma_name(c.code))
                : snprintf(out + len, cap - len, "/%s/%s", wr_ma_name(c.code), v);
    if (m < 0 || (size_t)m >= cap - len)
      return WR_ERR_LIMIT;
    len += (size_t)m;
  }
  return (int)len;
}

int wr_maddr_from_ip(wr_maddr *ma, int family, const uint8_t *ip, uint16_t port, int quic) {
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  uint8_t p[2] = {(uint8_t)(port >> 8), (uint8_t)port};
  ma->len = 0;
  int rv;
  if (family == AF_INET6 && memcmp(ip, mapped, 12) == 0)
    rv = wr_maddr_push(ma, WR_MA_IP4, ip + 12, 4);
  else if (family == AF_INET6)
    rv = wr_maddr_push(ma, WR_MA_IP6, ip, 16);
  else if (family == AF_INET)
    rv = wr_maddr_push(ma, WR_MA_IP4, ip, 4);
  else
    return WR_ERR_INVAL;
  if (rv != 0)
    return rv;
  if (!quic)
    return wr_maddr_push(ma, WR_MA_TCP, p, 2);
  rv = wr_maddr_push(ma, WR_MA_UDP, p, 2);
  return rv != 0 ? rv : wr_maddr_push(ma, WR_MA_QUIC_V1, NULL, 0);
}

int wr_maddr_from_ip_tcp(wr_maddr *ma, int family, const uint8_t *ip, uint16_t port) {
  return wr_maddr_from_ip(ma, family, ip, port, 0);
}

int wr_maddr_to_ip(const wr_maddr *ma, int *pfamily, uint8_t ip[16], uint16_t *pport, int *pquic,
                   wr_peerid *pid, int *phas_id) {
  size_t off = 0;
  wr_ma_comp c;
  *phas_id = 0;
  *pquic = 0;
  if (!wr_maddr_next(ma, &off, &c))
    return WR_ERR_UNSUPPORTED;
  if (c.code == WR_MA_IP4)
    *pfamily = AF_INET;
  else if (c.code == WR_MA_IP6)
    *pfamily = AF_INET6;
  else
    return WR_ERR_UNSUPPORTED;
  memcpy(ip, c.value, c.len);
  if (!wr_maddr_next(ma, &off, &c) || (c.code != WR_MA_TCP && c.code != WR_MA_UDP))
    return WR_ERR_UNSUPPORTED;
  *pport = (uint16_t)(c.value[0] << 8 | c.value[1]);
  if (c.code == WR_MA_UDP) {
    if (!wr_maddr_next(ma, &off, &c) || c.code != WR_MA_QUIC_V1)
      return WR_ERR_UNSUPPORTED;
    *pquic = 1;
  }
  if (wr_maddr_next(ma, &off, &c)) {
    if (c.code != WR_MA_P2P)
      return WR_ERR_UNSUPPORTED;
    if (wr_peerid_decode(c.value, c.len, pid, NULL) != 0)
      return WR_ERR_MALFORMED;
    *phas_id = 1;
    if (wr_maddr_next(ma, &off, &c))
      return WR_ERR_UNSUPPORTED;
  }
  return 0;
}

int wr_maddr_to_ip_tcp(const wr_maddr *ma, int *pfamily, uint8_t ip[16], uint16_t *pport,
                       wr_peerid *pid, int *phas_id) {
  int quic;
  int rv = wr_maddr_to_ip(ma, pfamily, ip, pport, &quic, pid, phas_id);
  return rv == 0 && quic ? WR_ERR_UNSUPPORTED : rv;
}
