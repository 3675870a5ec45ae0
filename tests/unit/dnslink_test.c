/* dnslink_test.c: DNSLink TXT values, content paths and the choice among
 * several records (proto/text/dnslink). */
#include "proto/text/dnslink.h"

#include "test.h"

#define CID1 "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"
#define CID0 "QmPZ9gcCEpqKTo6aq61g2nXGUhM4iCL3ewB6LDXZCtioEB"
#define KEY36 "k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8"
#define PEER "12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"

static int txt(const char *s, wr_dnslink *l, const char **why) {
  return wr_dnslink_parse_txt(s, strlen(s), l, why);
}

static void test_parse_ipfs(void) {
  wr_dnslink l;
  const char *why = NULL;
  char out[WR_DNSLINK_MAX_STR + 1];
  CHECK_EQ(txt("dnslink=/ipfs/" CID1, &l, &why), 0);
  CHECK_EQ(l.ns, WR_DNSLINK_IPFS);
  CHECK_STREQ(l.id, CID1);
  CHECK_STREQ(l.path, "");
  CHECK_EQ(txt("dnslink=/ipfs/" CID0 "/a/b.html", &l, &why), 0);
  CHECK_STREQ(l.id, CID0);
  CHECK_STREQ(l.path, "/a/b.html");
  CHECK_EQ(wr_dnslink_format(&l, "/x", out, sizeof out), (int)strlen("/ipfs/" CID0 "/a/b.html/x"));
  CHECK_STREQ(out, "/ipfs/" CID0 "/a/b.html/x");
  /* one trailing slash names the same thing */
  CHECK_EQ(txt("dnslink=/ipfs/" CID1 "/", &l, &why), 0);
  CHECK_STREQ(l.path, "");
  CHECK_EQ(txt("dnslink=/ipfs/" CID1 "/docs/", &l, &why), 0);
  CHECK_STREQ(l.path, "/docs");
  CHECK_EQ(wr_dnslink_format(&l, NULL, out, 10), WR_ERR_LIMIT);
}

static void test_parse_ipns(void) {
  wr_dnslink l;
  const char *why = NULL;
  CHECK_EQ(txt("dnslink=/ipns/Example.COM/blog", &l, &why), 0);
  CHECK_EQ(l.ns, WR_DNSLINK_IPNS);
  CHECK_EQ(l.is_domain, 1);
  CHECK_STREQ(l.id, "example.com");
  CHECK_STREQ(l.path, "/blog");
  CHECK_EQ(txt("dnslink=/ipns/" KEY36, &l, &why), 0);
  CHECK_EQ(l.is_domain, 0);
  CHECK_STREQ(l.id, KEY36);
  CHECK_EQ(txt("dnslink=/ipns/" PEER "/x", &l, &why), 0);
  CHECK_EQ(l.is_domain, 0);
  CHECK_STREQ(l.id, PEER);
  CHECK_EQ(wr_dnslink_parse_path("/ipns/a.test", 12, &l, &why), 0);
  CHECK_STREQ(l.id, "a.test");
}

static void test_parse_bad(void) {
  wr_dnslink l;
  const char *why = NULL;
  CHECK_EQ(txt("v=spf1 -all", &l, &why), WR_ERR_NOTFOUND);
  CHECK_STREQ(why, "the TXT value does not start with \"dnslink=\"");
  CHECK_EQ(txt(" dnslink=/ipfs/" CID1, &l, &why), WR_ERR_NOTFOUND);
  CHECK_EQ(txt("DNSLINK=/ipfs/" CID1, &l, &why), WR_ERR_NOTFOUND);
  CHECK_EQ(txt("dnslink=/foo/bar", &l, &why), WR_ERR_UNSUPPORTED);
  CHECK_STREQ(why, "the namespace is neither /ipfs/ nor /ipns/");
  CHECK_EQ(txt("dnslink=", &l, &why), WR_ERR_MALFORMED);
  CHECK_EQ(txt("dnslink=ipfs/" CID1, &l, &why), WR_ERR_MALFORMED);
  CHECK_EQ(txt("dnslink=/ipfs", &l, &why), WR_ERR_MALFORMED);
  CHECK_EQ(txt("dnslink=/ipfs/", &l, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "the identifier after the namespace is empty");
  CHECK_EQ(txt("dnslink=/ipfs/notacid", &l, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "the identifier after /ipfs/ is not a valid CID");
  CHECK_EQ(txt("dnslink=/ipfs/" CID1 "//a", &l, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "the path has an empty segment (\"//\")");
  CHECK_EQ(txt("dnslink=/ipfs/" CID1 "/../etc", &l, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "the path has a \".\" or \"..\" segment");
  CHECK_EQ(txt("dnslink=/ipfs/" CID1 "/a b", &l, &why), WR_ERR_MALFORMED);
  CHECK_EQ(txt("dnslink=/ipfs/" CID1 "/\xc3\xa9", &l, &why), WR_ERR_MALFORMED);
  CHECK_EQ(txt("dnslink=/ipns/bad_name.test", &l, &why), WR_ERR_MALFORMED);
  CHECK_EQ(txt("dnslink=/ipns/notakey", &l, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "the name after /ipns/ is neither a key (CID or peer ID) nor a domain");
  char big[2048];
  memcpy(big, "dnslink=/ipfs/" CID1 "/", 14 + strlen(CID1) + 1);
  size_t n = strlen(big);
  memset(big + n, 'a', sizeof big - n - 1);
  big[sizeof big - 1] = '\0';
  CHECK_EQ(txt(big, &l, &why), WR_ERR_LIMIT);
  /* NUL inside the value is not printable */
  CHECK_EQ(wr_dnslink_parse_txt("dnslink=/ipfs/" CID1 "/a\0b", 14 + strlen(CID1) + 4, &l, &why),
           WR_ERR_MALFORMED);
}

typedef struct {
  size_t n;
  size_t idx[8];
  int err[8];
} seen;

static void on_ignored(size_t i, int err, const char *why, void *arg) {
  seen *s = arg;
  CHECK(why != NULL);
  if (s->n < 8) {
    s->idx[s->n] = i;
    s->err[s->n++] = err;
  }
}

static void test_select(void) {
  const char *a = "dnslink=/ipfs/" CID1, *b = "dnslink=/ipfs/" CID0, *c = "dnslink=/ipns/x.test",
             *bad = "dnslink=/ipfs/zzz", *other = "google-site-verification=abc",
             *foo = "dnslink=/foo/bar";
  wr_dnslink_txt t1[] = {{a, strlen(a)},     {other, strlen(other)}, {b, strlen(b)},
                         {bad, strlen(bad)}, {c, strlen(c)},         {foo, strlen(foo)}};
  wr_dnslink l;
  size_t idx = 99;
  const char *why = NULL;
  seen s = {0};
  /* "Qm..." sorts before "bafy..." bytewise */
  CHECK_EQ(wr_dnslink_select(t1, 6, &l, &idx, on_ignored, &s, &why), 0);
  CHECK_EQ(idx, 2);
  CHECK_STREQ(l.id, CID0);
  CHECK_EQ(s.n, 4);
  CHECK_EQ(s.idx[0], 0);
  CHECK_EQ(s.err[0], WR_ERR_EXISTS);
  CHECK_EQ(s.idx[1], 3);
  CHECK_EQ(s.err[1], WR_ERR_MALFORMED);
  CHECK_EQ(s.idx[2], 4);
  CHECK_EQ(s.err[2], WR_ERR_EXISTS);
  CHECK_EQ(s.idx[3], 5);
  CHECK_EQ(s.err[3], WR_ERR_UNSUPPORTED);
  /* the same records in another order choose the same one */
  wr_dnslink_txt t2[] = {t1[4], t1[3], t1[2], t1[0], t1[1]};
  CHECK_EQ(wr_dnslink_select(t2, 5, &l, &idx, NULL, NULL, &why), 0);
  CHECK_EQ(idx, 2);
  CHECK_STREQ(l.id, CID0);
  /* /ipns alone */
  CHECK_EQ(wr_dnslink_select(&t1[4], 1, &l, &idx, NULL, NULL, &why), 0);
  CHECK_EQ(l.ns, WR_DNSLINK_IPNS);
  /* nothing usable: the reason of the smallest malformed value */
  wr_dnslink_txt t3[] = {t1[3], t1[5], t1[1]};
  CHECK_EQ(wr_dnslink_select(t3, 3, &l, &idx, NULL, NULL, &why), WR_ERR_UNSUPPORTED);
  CHECK_STREQ(why, "the namespace is neither /ipfs/ nor /ipns/"); /* "/foo" < "/ipfs" */
  CHECK_EQ(wr_dnslink_select(t3, 1, &l, &idx, NULL, NULL, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "the identifier after /ipfs/ is not a valid CID");
  CHECK_EQ(wr_dnslink_select(&t1[1], 1, &l, &idx, NULL, NULL, &why), WR_ERR_NOTFOUND);
  CHECK_EQ(wr_dnslink_select(NULL, 0, &l, &idx, NULL, NULL, &why), WR_ERR_NOTFOUND);
}

int main(void) {
  RUN(test_parse_ipfs);
  RUN(test_parse_ipns);
  RUN(test_parse_bad);
  RUN(test_select);
  return test_done();
}
