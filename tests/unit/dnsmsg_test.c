/* dnsmsg_test.c: TXT answers read from DNS response messages built here byte
 * by byte (proto/dns/dnsmsg). */
#include "proto/dns/dnsmsg.h"

#include "test.h"

typedef struct {
  uint8_t b[4096];
  size_t n;
} msg;

static void put8(msg *m, unsigned v) { m->b[m->n++] = (uint8_t)v; }
static void put16(msg *m, unsigned v) {
  put8(m, v >> 8);
  put8(m, v & 0xff);
}
static void put32(msg *m, uint32_t v) {
  put16(m, v >> 16);
  put16(m, v & 0xffff);
}
/* Writes a name in labels; returns its offset (for compression pointers). */
static size_t put_name(msg *m, const char *name) {
  size_t at = m->n;
  while (*name) {
    const char *dot = strchr(name, '.');
    size_t len = dot ? (size_t)(dot - name) : strlen(name);
    put8(m, (unsigned)len);
    memcpy(m->b + m->n, name, len);
    m->n += len;
    name += len + (dot ? 1 : 0);
  }
  put8(m, 0);
  return at;
}
static void put_ptr(msg *m, size_t off) { put16(m, 0xc000 | (unsigned)off); }

/* Header and question; returns the question name's offset. */
static size_t head(msg *m, unsigned flags, unsigned an, const char *qname) {
  m->n = 0;
  put16(m, 0x1234);
  put16(m, flags);
  put16(m, 1);
  put16(m, an);
  put16(m, 0);
  put16(m, 0);
  size_t q = put_name(m, qname);
  put16(m, 16);
  put16(m, 1);
  return q;
}
/* A TXT record at a compressed owner with the given strings. */
static void txt_rr(msg *m, size_t owner, uint32_t ttl, const char **strs, size_t ns) {
  put_ptr(m, owner);
  put16(m, 16);
  put16(m, 1);
  put32(m, ttl);
  size_t len = 0;
  for (size_t i = 0; i < ns; i++)
    len += 1 + strlen(strs[i]);
  put16(m, (unsigned)len);
  for (size_t i = 0; i < ns; i++) {
    put8(m, (unsigned)strlen(strs[i]));
    memcpy(m->b + m->n, strs[i], strlen(strs[i]));
    m->n += strlen(strs[i]);
  }
}

static void test_two_records(void) {
  msg m;
  wr_dnsmsg_answer a;
  const char *why = NULL;
  char v[WR_DNSMSG_MAX_TXT_VALUE];
  size_t vl;
  size_t q = head(&m, 0x8180, 2, "_dnslink.Example.Test");
  const char *s1[] = {"dnslink=/ipfs/a"}, *s2[] = {"v=spf1"};
  txt_rr(&m, q, 300, s1, 1);
  txt_rr(&m, q, 60, s2, 1);
  CHECK_EQ(wr_dnsmsg_parse_txt(m.b, m.n, &a, &why), 0);
  CHECK_EQ(a.id, 0x1234);
  CHECK_EQ(a.rcode, 0);
  CHECK_STREQ(a.qname, "_dnslink.example.test");
  CHECK_EQ(a.ntxt, 2);
  CHECK_EQ(a.min_ttl, 60);
  CHECK_EQ(a.txt[0].ttl, 300);
  CHECK_EQ(wr_dnsmsg_txt_value(m.b, &a.txt[0], v, sizeof v, &vl, &why), 0);
  CHECK_STREQ(v, "dnslink=/ipfs/a");
  CHECK_EQ(vl, 15);
  CHECK_EQ(wr_dnsmsg_txt_value(m.b, &a.txt[0], v, 10, &vl, &why), WR_ERR_LIMIT);
  /* every strict prefix is refused, never read past */
  for (size_t cut = 0; cut < m.n; cut++)
    CHECK(wr_dnsmsg_parse_txt(m.b, cut, &a, &why) < 0);
}

static void test_chunks(void) {
  msg m;
  wr_dnsmsg_answer a;
  const char *why = NULL;
  char v[WR_DNSMSG_MAX_TXT_VALUE], c1[256], c2[100];
  size_t vl;
  memset(c1, 'x', 255);
  c1[255] = '\0';
  memset(c2, 'y', 99);
  c2[99] = '\0';
  size_t q = head(&m, 0x8180, 1, "long.test");
  const char *s[] = {c1, c2, ""};
  txt_rr(&m, q, 5, s, 3);
  CHECK_EQ(wr_dnsmsg_parse_txt(m.b, m.n, &a, &why), 0);
  CHECK_EQ(a.ntxt, 1);
  CHECK_EQ(wr_dnsmsg_txt_value(m.b, &a.txt[0], v, sizeof v, &vl, &why), 0);
  CHECK_EQ(vl, 354);
  CHECK(v[254] == 'x' && v[255] == 'y' && v[353] == 'y');
  /* a string length that runs past the record */
  m.b[a.txt[0].off + 256] = 200;
  CHECK_EQ(wr_dnsmsg_txt_value(m.b, &a.txt[0], v, sizeof v, &vl, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "a TXT string runs past its record");
}

static void test_cname(void) {
  msg m;
  wr_dnsmsg_answer a;
  const char *why = NULL;
  size_t q = head(&m, 0x8180, 4, "_dnslink.a.test");
  /* a stray TXT for another name first: not ours */
  size_t other = m.n;
  put_name(&m, "other.test");
  put16(&m, 16), put16(&m, 1), put32(&m, 1), put16(&m, 2), put8(&m, 1), put8(&m, 'z');
  /* _dnslink.a.test CNAME _dnslink.b.test (target written with a pointer to "test") */
  put_ptr(&m, q);
  put16(&m, 5), put16(&m, 1), put32(&m, 30);
  put16(&m, 1 + 8 + 2 + 2);
  put8(&m, 8);
  memcpy(m.b + m.n, "_dnslink", 8);
  m.n += 8;
  put8(&m, 1);
  put8(&m, 'b');
  put_ptr(&m, q + 11); /* "test" inside the question */
  size_t target = m.n - 13;
  const char *s1[] = {"dnslink=/ipns/c.test"};
  txt_rr(&m, target, 100, s1, 1);
  txt_rr(&m, other, 1, s1, 1);
  CHECK_EQ(wr_dnsmsg_parse_txt(m.b, m.n, &a, &why), 0);
  CHECK_STREQ(a.name, "_dnslink.b.test");
  CHECK_EQ(a.ntxt, 1);
  CHECK_EQ(a.min_ttl, 30);
}

static void test_nxdomain_and_bad(void) {
  msg m;
  wr_dnsmsg_answer a;
  const char *why = NULL;
  head(&m, 0x8183, 0, "nope.test");
  CHECK_EQ(wr_dnsmsg_parse_txt(m.b, m.n, &a, &why), 0);
  CHECK_EQ(a.rcode, 3);
  CHECK_EQ(a.ntxt, 0);
  CHECK_EQ(a.min_ttl, UINT32_MAX);
  head(&m, 0x0100, 0, "q.test");
  CHECK_EQ(wr_dnsmsg_parse_txt(m.b, m.n, &a, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "the message is a query, not a response");
  /* TC bit */
  head(&m, 0x8380, 0, "t.test");
  CHECK_EQ(wr_dnsmsg_parse_txt(m.b, m.n, &a, &why), 0);
  CHECK_EQ(a.truncated, 1);
  /* a pointer to itself, and a pointer loop through labels */
  size_t q = head(&m, 0x8180, 1, "x.test");
  size_t at = m.n;
  put_ptr(&m, at);
  CHECK_EQ(wr_dnsmsg_parse_txt(m.b, m.n, &a, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "a name compression pointer does not point back");
  head(&m, 0x8180, 1, "x.test");
  at = m.n;
  put8(&m, 1), put8(&m, 'a'), put_ptr(&m, at);
  CHECK_EQ(wr_dnsmsg_parse_txt(m.b, m.n, &a, &why), WR_ERR_MALFORMED);
  /* TTL with the top bit set counts as 0 */
  q = head(&m, 0x8180, 1, "x.test");
  const char *s[] = {"v"};
  txt_rr(&m, q, 0x80000001u, s, 1);
  CHECK_EQ(wr_dnsmsg_parse_txt(m.b, m.n, &a, &why), 0);
  CHECK_EQ(a.min_ttl, 0);
  /* two questions */
  head(&m, 0x8180, 0, "x.test");
  m.b[5] = 2;
  CHECK_EQ(wr_dnsmsg_parse_txt(m.b, m.n, &a, &why), WR_ERR_MALFORMED);
}

static void test_many(void) {
  msg m;
  wr_dnsmsg_answer a;
  const char *why = NULL;
  size_t q = head(&m, 0x8180, 40, "many.test");
  const char *s[] = {"dnslink=/ipfs/x"};
  for (int i = 0; i < 40; i++)
    txt_rr(&m, q, 10, s, 1);
  CHECK_EQ(wr_dnsmsg_parse_txt(m.b, m.n, &a, &why), 0);
  CHECK_EQ(a.ntxt, WR_DNSMSG_MAX_TXT);
  CHECK_EQ(a.dropped, 8);
}

int main(void) {
  RUN(test_two_records);
  RUN(test_chunks);
  RUN(test_cname);
  RUN(test_nxdomain_and_bad);
  RUN(test_many);
  return test_done();
}
