#include "proto/dns/dnsmsg.h"

#include <string.h>

static int fail(const char **preason, int err, const char *why) {
  if (preason)
    *preason = why;
  return err;
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads the name at *poff (following compression pointers, each to a spot
 * before the previous pointer's target, so the walk ends) into out as lowercase text without the
 * final dot; moves *poff past the name where it sits. */
static int read_name(const uint8_t *msg, size_t n, size_t *poff, char *out, const char **preason) {
  size_t off = *poff, o = 0, end = 0, limit = *poff;
  int jumped = 0;
  for (;;) {
    if (off >= n)
      return fail(preason, WR_ERR_TRUNCATED, "the message ends inside a name");
    uint8_t len = msg[off];
    if ((len & 0xc0) == 0xc0) {
      if (off + 1 >= n)
        return fail(preason, WR_ERR_TRUNCATED, "the message ends inside a name");
      size_t target = (size_t)(len & 0x3f) << 8 | msg[off + 1];
      if (target >= limit)
        return fail(preason, WR_ERR_MALFORMED, "a name compression pointer does not point back");
      limit = target;
      if (!jumped)
        end = off + 2;
      jumped = 1;
      off = target;
      continue;
    }
    if (len & 0xc0)
      return fail(preason, WR_ERR_MALFORMED, "a name has a label type other than plain");
    if (len == 0) {
      if (!jumped)
        end = off + 1;
      break;
    }
    if (off + 1 + len > n)
      return fail(preason, WR_ERR_TRUNCATED, "the message ends inside a name");
    if (o + (o ? 1 : 0) + len > WR_DNSMSG_MAX_NAME - 1)
      return fail(preason, WR_ERR_MALFORMED, "a name is longer than 253 characters");
    if (o)
      out[o++] = '.';
    for (size_t i = 0; i < len; i++) {
      char c = (char)msg[off + 1 + i];
      if (c >= 'A' && c <= 'Z')
        c = (char)(c + 32);
      out[o++] = c;
    }
    off += 1 + len;
  }
  out[o] = '\0';
  *poff = end;
  return 0;
}

int wr_dnsmsg_parse_txt(const uint8_t *msg, size_t n, wr_dnsmsg_answer *a, const char **preason) {
  char owner[WR_DNSMSG_MAX_NAME];
  int rv;
  memset(a, 0, sizeof *a);
  a->min_ttl = UINT32_MAX;
  if (n < 12)
    return fail(preason, WR_ERR_TRUNCATED, "the message is shorter than a DNS header");
  if (n > 65535)
    return fail(preason, WR_ERR_MALFORMED, "the message is longer than 65535 bytes");
  a->id = get16(msg);
  uint16_t flags = get16(msg + 2);
  if (!(flags & 0x8000))
    return fail(preason, WR_ERR_MALFORMED, "the message is a query, not a response");
  a->truncated = (flags & 0x0200) != 0;
  a->rcode = flags & 0x000f;
  uint16_t qd = get16(msg + 4), an = get16(msg + 6);
  if (qd != 1)
    return fail(preason, WR_ERR_MALFORMED, "the response does not carry exactly one question");
  size_t off = 12;
  if ((rv = read_name(msg, n, &off, a->qname, preason)) != 0)
    return rv;
  if (off + 4 > n)
    return fail(preason, WR_ERR_TRUNCATED, "the message ends inside the question");
  off += 4;
  memcpy(a->name, a->qname, sizeof a->name);
  for (uint16_t i = 0; i < an; i++) {
    if ((rv = read_name(msg, n, &off, owner, preason)) != 0)
      return rv;
    if (off + 10 > n)
      return fail(preason, WR_ERR_TRUNCATED, "the message ends inside a record header");
    uint16_t type = get16(msg + off), cls = get16(msg + off + 2);
    uint32_t ttl = get32(msg + off + 4);
    uint16_t rdlen = get16(msg + off + 8);
    off += 10;
    if (off + rdlen > n)
      return fail(preason, WR_ERR_TRUNCATED, "a record's data runs past the message");
    /* RFC 2181: a TTL with the top bit set counts as 0 */
    if (ttl & 0x80000000u)
      ttl = 0;
    if (cls == 1 && strcmp(owner, a->name) == 0) {
      if (type == WR_DNSMSG_TYPE_CNAME) {
        size_t t = off;
        char target[WR_DNSMSG_MAX_NAME];
        if ((rv = read_name(msg, n, &t, target, preason)) != 0)
          return rv;
        if (t != off + rdlen)
          return fail(preason, WR_ERR_MALFORMED, "a CNAME's data is not exactly one name");
        memcpy(a->name, target, sizeof a->name);
        if (ttl < a->min_ttl)
          a->min_ttl = ttl;
      } else if (type == WR_DNSMSG_TYPE_TXT) {
        if (a->ntxt == WR_DNSMSG_MAX_TXT) {
          a->dropped++;
        } else {
          a->txt[a->ntxt++] = (wr_dnsmsg_txt){.ttl = ttl, .off = (uint16_t)off, .len = rdlen};
          if (ttl < a->min_ttl)
            a->min_ttl = ttl;
        }
      }
    }
    off += rdlen;
  }
  return 0;
}

int wr_dnsmsg_txt_value(const uint8_t *msg, const wr_dnsmsg_txt *t, char *out, size_t cap,
                        size_t *plen, const char **preason) {
  size_t i = 0, o = 0;
  const uint8_t *r = msg + t->off;
  while (i < t->len) {
    size_t len = r[i++];
    if (i + len > t->len)
      return fail(preason, WR_ERR_MALFORMED, "a TXT string runs past its record");
    if (o + len + 1 > cap)
      return fail(preason, WR_ERR_LIMIT, "a TXT value is longer than the space for it");
    memcpy(out + o, r + i, len);
    o += len;
    i += len;
  }
  if (cap == 0)
    return fail(preason, WR_ERR_LIMIT, "a TXT value is longer than the space for it");
  out[o] = '\0';
  *plen = o;
  return 0;
}
