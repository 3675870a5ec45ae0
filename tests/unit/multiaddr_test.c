/* multiaddr_test.c: multiaddr text and binary round trips and errors. */
#include <sys/socket.h>

#include "proto/p2p/multiaddr.h"
#include "test.h"

static void roundtrip(const char *text, const char *hex) {
  wr_maddr a, b;
  const char *why = NULL;
  CHECK_EQ(wr_maddr_parse(text, strlen(text), &a, &why), 0);
  char hx[2 * WR_MA_MAX_BYTES + 1];
  wr_hex_encode(hx, a.bytes, a.len);
  if (hex)
    CHECK_STREQ(hx, hex);
  CHECK_EQ(wr_maddr_decode(a.bytes, a.len, &b, &why), 0);
  char out[WR_MA_MAX_STR];
  CHECK_EQ(wr_maddr_format(&b, out, sizeof out), (int)strlen(text));
  CHECK_STREQ(out, text);
}

static void test_roundtrips(void) {
  /* Binary forms as go-multiaddr's tests give them. */
  roundtrip("/ip4/127.0.0.1/tcp/4001", "047f000001060fa1");
  roundtrip("/ip4/1.2.3.4/udp/4001/quic-v1", "040102030491020fa1cd03");
  roundtrip("/ip6/::1/tcp/0", "29000000000000000000000000000000010600"
                              "00");
  roundtrip("/ip6/2001:db8::1/udp/443/quic-v1", NULL);
  roundtrip("/dns4/example.com/tcp/443", "360b6578616d706c652e636f6d0601bb");
  roundtrip("/dns/localhost/tcp/1", NULL);
  roundtrip("/dns6/h/tcp/65535", NULL);
  roundtrip("/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq",
            NULL);
  roundtrip("/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC", NULL);
}

static void bad(const char *text, int code, const char *reason) {
  wr_maddr a;
  const char *why = NULL;
  CHECK_EQ(wr_maddr_parse(text, strlen(text), &a, &why), code);
  if (reason)
    CHECK_STREQ(why, reason);
}

static void test_text_errors(void) {
  bad("", WR_ERR_MALFORMED, "multiaddr text does not start with '/'");
  bad("ip4/1.2.3.4", WR_ERR_MALFORMED, "multiaddr text does not start with '/'");
  bad("/", WR_ERR_MALFORMED, "multiaddr text ends with '/'");
  bad("/ip4/1.2.3.4/", WR_ERR_MALFORMED, "multiaddr text ends with '/'");
  bad("/ip4", WR_ERR_MALFORMED, "multiaddr protocol lacks its value");
  bad("/ip4/1.2.3", WR_ERR_MALFORMED, "multiaddr IP address does not parse");
  bad("/ip4/01.2.3.4", WR_ERR_MALFORMED, "multiaddr IP address does not parse");
  bad("/ip6/0::1", WR_ERR_MALFORMED, "multiaddr IP address is not in its canonical form");
  bad("/ip4/1.2.3.4/tcp/65536", WR_ERR_MALFORMED, NULL);
  bad("/ip4/1.2.3.4/tcp/080", WR_ERR_MALFORMED, NULL);
  bad("/ip4/1.2.3.4/tcp/-1", WR_ERR_MALFORMED, NULL);
  bad("/ip4/1.2.3.4/sctp/1", WR_ERR_MALFORMED, "multiaddr names a protocol warren does not know");
  bad("/p2p/notapeer", WR_ERR_MALFORMED, NULL);
  bad("/dns4//tcp/1", WR_ERR_MALFORMED, NULL);
}

static void test_binary_errors(void) {
  wr_maddr a;
  const char *why = NULL;
  uint8_t unknown[] = {0x84, 0x01, 0};
  CHECK_EQ(wr_maddr_decode(unknown, sizeof unknown, &a, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "multiaddr has a protocol code warren does not know");
  uint8_t shortip[] = {0x04, 127, 0, 0};
  CHECK_EQ(wr_maddr_decode(shortip, sizeof shortip, &a, &why), WR_ERR_TRUNCATED);
  uint8_t slash[] = {0x36, 3, 'a', '/', 'b'};
  CHECK_EQ(wr_maddr_decode(slash, sizeof slash, &a, &why), WR_ERR_MALFORMED);
  CHECK_EQ(wr_maddr_decode(slash, 0, &a, &why), WR_ERR_MALFORMED);
  uint8_t nonminimal[] = {0x84, 0x00, 1, 2, 3, 4};
  CHECK_EQ(wr_maddr_decode(nonminimal, sizeof nonminimal, &a, &why), WR_ERR_MALFORMED);
  uint8_t badp2p[] = {0xa5, 0x03, 3, 0x12, 1, 0};
  CHECK_EQ(wr_maddr_decode(badp2p, sizeof badp2p, &a, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "multiaddr /p2p value is not a peer ID");
}

static void test_ip_tcp(void) {
  wr_maddr a;
  uint8_t ip[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 2};
  CHECK_EQ(wr_maddr_from_ip_tcp(&a, AF_INET6, ip, 4001), 0);
  char out[WR_MA_MAX_STR];
  CHECK(wr_maddr_format(&a, out, sizeof out) > 0);
  CHECK_STREQ(out, "/ip4/127.0.0.2/tcp/4001");
  const char *t = "/ip6/::1/tcp/9/p2p/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";
  CHECK_EQ(wr_maddr_parse(t, strlen(t), &a, NULL), 0);
  int fam, has;
  uint16_t port;
  wr_peerid id;
  CHECK_EQ(wr_maddr_to_ip_tcp(&a, &fam, ip, &port, &id, &has), 0);
  CHECK_EQ(fam, AF_INET6);
  CHECK_EQ(port, 9);
  CHECK_EQ(has, 1);
  CHECK_EQ(ip[15], 1);
  const char *u = "/ip4/1.2.3.4/udp/1/quic-v1";
  CHECK_EQ(wr_maddr_parse(u, strlen(u), &a, NULL), 0);
  CHECK_EQ(wr_maddr_to_ip_tcp(&a, &fam, ip, &port, &id, &has), WR_ERR_UNSUPPORTED);
}

static void test_ip_quic(void) {
  wr_maddr ma;
  uint8_t ip4[4] = {127, 0, 0, 2};
  char t[WR_MA_MAX_STR];
  CHECK_EQ(wr_maddr_from_ip(&ma, AF_INET, ip4, 4001, 1), 0);
  CHECK(wr_maddr_format(&ma, t, sizeof t) > 0);
  CHECK_STREQ(t, "/ip4/127.0.0.2/udp/4001/quic-v1");
  int fam, quic, has;
  uint8_t ip[16];
  uint16_t port;
  wr_peerid pid;
  CHECK_EQ(wr_maddr_to_ip(&ma, &fam, ip, &port, &quic, &pid, &has), 0);
  CHECK_EQ(fam, AF_INET);
  CHECK_EQ(port, 4001);
  CHECK_EQ(quic, 1);
  CHECK_EQ(has, 0);
  CHECK_EQ(wr_maddr_to_ip_tcp(&ma, &fam, ip, &port, &pid, &has), WR_ERR_UNSUPPORTED);
  const char *s = "/ip6/::1/udp/5/quic-v1/p2p/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";
  CHECK_EQ(wr_maddr_parse(s, strlen(s), &ma, NULL), 0);
  CHECK_EQ(wr_maddr_to_ip(&ma, &fam, ip, &port, &quic, &pid, &has), 0);
  CHECK_EQ(fam, AF_INET6);
  CHECK_EQ(quic, 1);
  CHECK_EQ(has, 1);
  /* /udp without quic-v1 is no transport the host speaks. */
  s = "/ip4/1.2.3.4/udp/5";
  CHECK_EQ(wr_maddr_parse(s, strlen(s), &ma, NULL), 0);
  CHECK_EQ(wr_maddr_to_ip(&ma, &fam, ip, &port, &quic, &pid, &has), WR_ERR_UNSUPPORTED);
  s = "/ip4/1.2.3.4/tcp/5";
  CHECK_EQ(wr_maddr_parse(s, strlen(s), &ma, NULL), 0);
  CHECK_EQ(wr_maddr_to_ip(&ma, &fam, ip, &port, &quic, &pid, &has), 0);
  CHECK_EQ(quic, 0);
}

int main(void) {
  RUN(test_roundtrips);
  RUN(test_text_errors);
  RUN(test_binary_errors);
  RUN(test_ip_tcp);
  RUN(test_ip_quic);
  return test_done();
}
