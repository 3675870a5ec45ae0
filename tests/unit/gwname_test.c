/* gwname_test.c: names in gateway requests (gateway/gwname.h): IPNS names
 * in every text form, DNS-label inlining both ways, hosts under
 * ".ipns.", and the plan for each kind of site. */
#include "test.h"

#include "gateway/gwname.h"

/* One Ed25519 key in three forms (gateway-conformance's
 * TestRedirectCanonicalIPNS). */
#define B58 "12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK"
#define B36 "k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8"

static void test_name_parse(void) {
  char canon[WR_GW_NAME_TEXT_MAX];
  int c;
  const char *why = NULL;
  CHECK_EQ(wr_gw_name_parse(B36, strlen(B36), canon, &c, &why), WR_GW_NAME_KEY);
  CHECK_STREQ(canon, B36);
  CHECK_EQ(c, 1);
  CHECK_EQ(wr_gw_name_parse(B58, strlen(B58), canon, &c, &why), WR_GW_NAME_KEY);
  CHECK_STREQ(canon, B36);
  CHECK_EQ(c, 0);
  /* the same key as a dag-pb CIDv1 in base36: not canonical */
  const char *dagpb = "k50rm9yjlt0jgpsda4l8mc71y4p3ywu68fq4gezfbbkao4mv086nxxhxb7y52c";
  CHECK_EQ(wr_gw_name_parse(dagpb, strlen(dagpb), canon, &c, &why), WR_GW_NAME_KEY);
  CHECK_EQ(c, 0);
  CHECK_STREQ(canon, B36);
  CHECK_EQ(wr_gw_name_parse("Example.COM", 11, canon, &c, &why), WR_GW_NAME_DOMAIN);
  CHECK_STREQ(canon, "example.com");
  CHECK_EQ(c, 0);
  CHECK_EQ(wr_gw_name_parse("example.com", 11, canon, &c, &why), WR_GW_NAME_DOMAIN);
  CHECK_EQ(c, 1);
  CHECK_EQ(wr_gw_name_parse("nodots", 6, canon, &c, &why), WR_ERR_INVAL);
  CHECK_STREQ(why, "the IPNS name is neither a key (a peer ID or a libp2p-key CID) nor a DNS name");
  CHECK_EQ(wr_gw_name_parse("a..b", 4, canon, &c, &why), WR_ERR_INVAL);
  CHECK_STREQ(why, "the IPNS name is not a valid DNS name");
  CHECK_EQ(wr_gw_name_parse("", 0, canon, &c, &why), WR_ERR_INVAL);
  CHECK_STREQ(why, "the path names no IPNS name after /ipns/");
}

static void test_inline(void) {
  char out[80];
  CHECK_EQ(wr_gw_dns_inline("en.wikipedia-on-ipfs.org", out, sizeof out), 26);
  CHECK_STREQ(out, "en-wikipedia--on--ipfs-org");
  CHECK_EQ(wr_gw_dns_uninline(out, strlen(out), out, sizeof out), 24);
  CHECK_STREQ(out, "en.wikipedia-on-ipfs.org");
  CHECK_EQ(wr_gw_dns_uninline("a---b", 5, out, sizeof out), WR_ERR_INVAL);
  CHECK_EQ(wr_gw_dns_inline("xn--bcher-kva.example", out, sizeof out), 24);
  CHECK_STREQ(out, "xn----bcher--kva-example");
  CHECK_EQ(wr_gw_dns_uninline(out, strlen(out), out, sizeof out), 21);
  CHECK_STREQ(out, "xn--bcher-kva.example");
  CHECK_EQ(wr_gw_dns_uninline("-ab", 3, out, sizeof out), WR_ERR_INVAL);
  CHECK_EQ(wr_gw_dns_uninline("ab-", 3, out, sizeof out), WR_ERR_INVAL);
  CHECK_EQ(wr_gw_dns_uninline("abc", 3, out, 3), WR_ERR_LIMIT);
  /* a label over 63 bytes cannot be */
  char longname[80];
  memset(longname, 'a', 64);
  longname[64] = '\0';
  CHECK_EQ(wr_gw_dns_inline(longname, out, sizeof out), WR_ERR_LIMIT);
  CHECK_EQ(wr_gw_dns_inline("a.b", out, 3), WR_ERR_LIMIT);
}

static void test_subdomain(void) {
  char name[WR_GW_NAME_TEXT_MAX];
  int inl;
  const char *why = NULL;
  CHECK_EQ(
      wr_gw_ipns_subdomain(B36 ".ipns.gw.test:8080", strlen(B36) + 17, "gw.test", name, &inl, &why),
      1);
  CHECK_STREQ(name, B36);
  CHECK_EQ(inl, 0);
  const char *h = "En-Wikipedia--on--ipfs-org.IPNS.gw.test";
  CHECK_EQ(wr_gw_ipns_subdomain(h, strlen(h), "gw.test", name, &inl, &why), 1);
  CHECK_STREQ(name, "en.wikipedia-on-ipfs.org");
  CHECK_EQ(inl, 1);
  h = "docs.example.org.ipns.gw.test";
  CHECK_EQ(wr_gw_ipns_subdomain(h, strlen(h), "gw.test", name, &inl, &why), 1);
  CHECK_STREQ(name, "docs.example.org");
  CHECK_EQ(wr_gw_ipns_subdomain("x.ipfs.gw.test", 14, "gw.test", name, &inl, &why), 0);
  CHECK_EQ(wr_gw_ipns_subdomain("gw.test", 7, "gw.test", name, &inl, &why), 0);
  CHECK_EQ(wr_gw_ipns_subdomain("x.ipns.other.test", 17, "gw.test", name, &inl, &why), 0);
  CHECK_EQ(wr_gw_ipns_subdomain(".ipns.gw.test", 13, "gw.test", name, &inl, &why), WR_ERR_INVAL);
  CHECK_STREQ(why, "the host names no IPNS name before .ipns.");
  h = "a---b.ipns.gw.test";
  CHECK_EQ(wr_gw_ipns_subdomain(h, strlen(h), "gw.test", name, &inl, &why), WR_ERR_INVAL);
  CHECK_STREQ(why, "the host's first label is neither an IPNS key nor an inlined DNS name");
}

static wr_gw_plan plan;

static void test_plan_path(void) {
  wr_gw_plan_in in = {.site = WR_GW_PLAN_SITE_PATH,
                      .site_host = "gw.test",
                      .host = "gw.test",
                      .path = "/ipns/" B58 "/root2/",
                      .target = "/ipns/" B58 "/root2/?a=b"};
  wr_gw_plan_name(&in, &plan);
  CHECK_EQ(plan.action, WR_GW_PLAN_REDIRECT);
  CHECK_EQ(plan.status, 302);
  CHECK_STREQ(plan.location, "/ipns/" B36 "/root2/?a=b");
  in.path = "/ipns/" B36 "/a b";
  in.target = "/ipns/" B36 "/a%20b";
  wr_gw_plan_name(&in, &plan);
  CHECK_EQ(plan.action, WR_GW_PLAN_RESOLVE);
  CHECK_STREQ(plan.resolve, "/ipns/" B36 "/a b");
  CHECK_STREQ(plan.xpath, "/ipns/" B36 "/a%20b");
  CHECK_STREQ(plan.key, B36);
  CHECK_EQ(plan.has_rest, 1);
  in.path = "/ipns/Example.org";
  in.target = "/ipns/Example.org";
  wr_gw_plan_name(&in, &plan);
  CHECK_EQ(plan.action, WR_GW_PLAN_RESOLVE);
  CHECK_STREQ(plan.resolve, "/ipns/example.org");
  CHECK_STREQ(plan.key, "");
  CHECK_EQ(plan.has_rest, 0);
  in.path = in.target = "/ipfs/bafy";
  wr_gw_plan_name(&in, &plan);
  CHECK_EQ(plan.action, WR_GW_PLAN_NONE);
  in.path = in.target = "/ipns/nodot";
  wr_gw_plan_name(&in, &plan);
  CHECK_EQ(plan.action, WR_GW_PLAN_ERROR);
  CHECK_EQ(plan.status, 400);
}

static void test_plan_subdomain(void) {
  wr_gw_plan_in in = {.site = WR_GW_PLAN_SITE_SUBDOMAIN,
                      .site_host = "sub.test",
                      .host = "sub.test:81",
                      .path = "/ipns/en.wikipedia-on-ipfs.org/wiki/",
                      .target = "/ipns/en.wikipedia-on-ipfs.org/wiki/?x",
                      .https = 1};
  wr_gw_plan_name(&in, &plan);
  CHECK_EQ(plan.action, WR_GW_PLAN_REDIRECT);
  CHECK_EQ(plan.status, 301);
  CHECK_STREQ(plan.location, "https://en-wikipedia--on--ipfs-org.ipns.sub.test:81/wiki/?x");
  in.path = in.target = "/ipns/" B58;
  in.https = 0;
  wr_gw_plan_name(&in, &plan);
  CHECK_STREQ(plan.location, "http://" B36 ".ipns.sub.test:81/");
  in.host = B36 ".ipns.sub.test";
  in.path = in.target = "/x.txt";
  wr_gw_plan_name(&in, &plan);
  CHECK_EQ(plan.action, WR_GW_PLAN_RESOLVE);
  CHECK_STREQ(plan.resolve, "/ipns/" B36 "/x.txt");
  CHECK_STREQ(plan.xpath, "/ipns/" B36 "/x.txt");
  in.host = "sub.test";
  in.path = in.target = "/ipfs/bafy";
  wr_gw_plan_name(&in, &plan);
  CHECK_EQ(plan.action, WR_GW_PLAN_NONE);
}

static void test_plan_sites(void) {
  wr_gw_plan_in in = {.site = WR_GW_PLAN_SITE_CONTENT,
                      .site_host = "www.test",
                      .site_root = "/ipns/" B36 "/site",
                      .host = "www.test",
                      .path = "/a.txt",
                      .target = "/a.txt?v=1"};
  wr_gw_plan_name(&in, &plan);
  CHECK_EQ(plan.action, WR_GW_PLAN_RESOLVE);
  CHECK_STREQ(plan.resolve, "/ipns/" B36 "/site/a.txt");
  CHECK_STREQ(plan.xpath, "/ipns/" B36 "/site/a.txt");
  in.site_root = "/ipfs/bafy";
  wr_gw_plan_name(&in, &plan);
  CHECK_EQ(plan.action, WR_GW_PLAN_NONE);
  in = (wr_gw_plan_in){.site = WR_GW_PLAN_SITE_DNSLINK,
                       .host = "Docs.Example.org.:8080",
                       .path = "/",
                       .target = "/"};
  wr_gw_plan_name(&in, &plan);
  CHECK_EQ(plan.action, WR_GW_PLAN_RESOLVE);
  CHECK_STREQ(plan.resolve, "/ipns/docs.example.org/");
  CHECK_STREQ(plan.xpath, "/ipns/docs.example.org/");
  in.host = "127.0.0.1";
  wr_gw_plan_name(&in, &plan);
  CHECK_EQ(plan.action, WR_GW_PLAN_RESOLVE); /* the resolver refuses an address (400) */
  in.host = "no_underscores.test";
  wr_gw_plan_name(&in, &plan);
  CHECK_EQ(plan.action, WR_GW_PLAN_ERROR);
  CHECK_EQ(plan.status, 400);
}

int main(void) {
  RUN(test_name_parse);
  RUN(test_inline);
  RUN(test_subdomain);
  RUN(test_plan_path);
  RUN(test_plan_subdomain);
  RUN(test_plan_sites);
  return test_done();
}
