#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "base/mem.h"
#include "io/peer_count.h"
#include "test.h"

static struct sockaddr_storage v4(const char *ip, uint16_t port) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *in = (struct sockaddr_in *)&ss;
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  inet_pton(AF_INET, ip, &in->sin_addr);
  return ss;
}

static struct sockaddr_storage v6(const char *ip) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
  in6->sin6_family = AF_INET6;
  inet_pton(AF_INET6, ip, &in6->sin6_addr);
  return ss;
}

#define SA(x) ((const struct sockaddr *)&(x))

/* One address reaches its cap; another is not affected; giving a slot back
 * admits one more; ports do not matter. */
static void test_cap_per_address(void) {
  wr_peer_count pc;
  wr_peer_count_init(&pc);
  struct sockaddr_storage a = v4("127.0.0.1", 1000), b = v4("127.0.0.2", 1000);
  wr_peer_key ka[3], kb;
  for (int i = 0; i < 3; i++) {
    struct sockaddr_storage ai = v4("127.0.0.1", (uint16_t)(2000 + i));
    CHECK_EQ(wr_peer_count_add(&pc, SA(ai), 3, &ka[i]), 0);
    CHECK(ka[i].set);
  }
  wr_peer_key over;
  CHECK_EQ(wr_peer_count_add(&pc, SA(a), 3, &over), WR_ERR_LIMIT);
  CHECK(!over.set);
  CHECK_EQ(wr_peer_count_add(&pc, SA(b), 3, &kb), 0);
  CHECK_EQ(wr_peer_count_get(&pc, SA(a)), 3);
  CHECK_EQ(wr_peer_count_get(&pc, SA(b)), 1);
  wr_peer_count_remove(&pc, &ka[1]);
  CHECK(!ka[1].set);
  wr_peer_count_remove(&pc, &ka[1]); /* twice: harmless */
  CHECK_EQ(wr_peer_count_get(&pc, SA(a)), 2);
  CHECK_EQ(wr_peer_count_add(&pc, SA(a), 3, &ka[1]), 0);
  for (int i = 0; i < 3; i++)
    wr_peer_count_remove(&pc, &ka[i]);
  wr_peer_count_remove(&pc, &kb);
  CHECK_EQ(wr_peer_count_size(&pc), 0);
  CHECK_EQ(wr_peer_count_get(&pc, SA(a)), 0);
  wr_peer_count_free(&pc);
}

/* IPv4-mapped IPv6 counts as the IPv4 address; IPv6 counts per /64; Unix
 * sockets are not counted; max 0 means no cap. */
static void test_keys(void) {
  wr_peer_count pc;
  wr_peer_count_init(&pc);
  struct sockaddr_storage a = v4("192.0.2.7", 1), m = v6("::ffff:192.0.2.7");
  wr_peer_key k1, k2;
  CHECK_EQ(wr_peer_count_add(&pc, SA(a), 2, &k1), 0);
  CHECK_EQ(wr_peer_count_add(&pc, SA(m), 2, &k2), 0);
  CHECK_EQ(wr_peer_count_get(&pc, SA(a)), 2);
  struct sockaddr_storage x = v6("2001:db8:1:2::1"), y = v6("2001:db8:1:2:ffff::9"),
                          z = v6("2001:db8:1:3::1");
  wr_peer_key kx, ky, kz, kw;
  CHECK_EQ(wr_peer_count_add(&pc, SA(x), 1, &kx), 0);
  CHECK_EQ(wr_peer_count_add(&pc, SA(y), 1, &ky), WR_ERR_LIMIT); /* same /64 */
  CHECK_EQ(wr_peer_count_add(&pc, SA(z), 1, &kz), 0);
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  for (int i = 0; i < 5; i++) {
    CHECK_EQ(wr_peer_count_add(&pc, (const struct sockaddr *)&un, 1, &kw), 0);
    CHECK(!kw.set);
  }
  wr_peer_key many[100];
  for (int i = 0; i < 100; i++)
    CHECK_EQ(wr_peer_count_add(&pc, SA(z), 0, &many[i]), 0);
  CHECK_EQ(wr_peer_count_get(&pc, SA(z)), 101);
  for (int i = 0; i < 100; i++)
    wr_peer_count_remove(&pc, &many[i]);
  wr_peer_count_remove(&pc, &k1);
  wr_peer_count_remove(&pc, &k2);
  wr_peer_count_remove(&pc, &kx);
  wr_peer_count_remove(&pc, &kz);
  CHECK_EQ(wr_peer_count_size(&pc), 0);
  wr_peer_count_free(&pc);
}

/* Many addresses added and removed in a mixed order: the table grows, and
 * deletion's backward shift keeps every remaining count findable. */
static void test_many(void) {
  wr_peer_count pc;
  wr_peer_count_init(&pc);
  enum { N = 5000 };
  static wr_peer_key k[N];
  char ip[32];
  for (int i = 0; i < N; i++) {
    snprintf(ip, sizeof ip, "10.%d.%d.%d", i / 65536, (i / 256) % 256, i % 256);
    struct sockaddr_storage a = v4(ip, 1);
    CHECK_EQ(wr_peer_count_add(&pc, SA(a), 1, &k[i]), 0);
  }
  CHECK_EQ(wr_peer_count_size(&pc), N);
  for (int i = 0; i < N; i += 2)
    wr_peer_count_remove(&pc, &k[i]);
  int bad = 0;
  for (int i = 0; i < N; i++) {
    snprintf(ip, sizeof ip, "10.%d.%d.%d", i / 65536, (i / 256) % 256, i % 256);
    struct sockaddr_storage a = v4(ip, 1);
    bad += wr_peer_count_get(&pc, SA(a)) != (uint32_t)(i % 2);
  }
  CHECK_EQ(bad, 0);
  for (int i = 1; i < N; i += 2)
    wr_peer_count_remove(&pc, &k[i]);
  CHECK_EQ(wr_peer_count_size(&pc), 0);
  wr_peer_count_free(&pc);
}

static void test_alloc_failure(void) {
  wr_peer_count pc;
  wr_peer_count_init(&pc);
  struct sockaddr_storage a = v4("127.0.0.1", 1);
  wr_peer_key k;
  wr_mem_fail_after(0);
  CHECK_EQ(wr_peer_count_add(&pc, SA(a), 5, &k), WR_ERR_NOMEM);
  wr_mem_fail_after(-1);
  CHECK(!k.set);
  CHECK_EQ(wr_peer_count_add(&pc, SA(a), 5, &k), 0);
  wr_peer_count_remove(&pc, &k);
  wr_peer_count_free(&pc);
}

int main(void) {
  RUN(test_cap_per_address);
  RUN(test_keys);
  RUN(test_many);
  RUN(test_alloc_failure);
  return test_done();
}
