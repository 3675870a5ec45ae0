/* peerbudget_test.c: the DHT server's per-peer buffer accounting. */
#include "routing/peerbudget.h"

#include "base/mem.h"
#include "test.h"

static wr_peerid peer(uint8_t seed_byte) {
  uint8_t seed[32];
  memset(seed, seed_byte, sizeof seed);
  wr_p2p_privkey sk;
  wr_p2p_pubkey pk;
  wr_p2p_privkey_from_seed(&sk, seed);
  wr_p2p_privkey_public(&sk, &pk);
  wr_peerid id;
  wr_peerid_from_pubkey(&id, &pk);
  return id;
}

/* Two streams of one peer share its limit; another peer has its own. */
static void test_shared_limit(void) {
  wr_peerbudget b;
  wr_peerbudget_init(&b, 1000, 0);
  wr_peerid a = peer(1), c = peer(2);
  wr_peerbudget_entry *e1 = wr_peerbudget_join(&b, &a);
  wr_peerbudget_entry *e2 = wr_peerbudget_join(&b, &a);
  wr_peerbudget_entry *f = wr_peerbudget_join(&b, &c);
  CHECK(e1 && e1 == e2 && f && f != e1);
  CHECK_EQ(b.npeers, 2);
  CHECK_EQ(e1->streams, 2);
  size_t h1 = 0, h2 = 0, hf = 0;
  CHECK_EQ(wr_peerbudget_resize(&b, e1, &h1, 600), 0);
  CHECK_EQ(wr_peerbudget_resize(&b, e2, &h2, 400), 0);
  CHECK_EQ(wr_peerbudget_used(&b, &a), 1000);
  /* One byte more on either stream is refused, and changes nothing. */
  CHECK_EQ(wr_peerbudget_resize(&b, e2, &h2, 401), WR_ERR_LIMIT);
  CHECK_STREQ(b.refused_why, "peer_buffer_limit");
  CHECK_EQ(h2, 400);
  CHECK_EQ(wr_peerbudget_resize(&b, e1, &h1, 601), WR_ERR_LIMIT);
  CHECK_EQ(b.refused, 2);
  CHECK_EQ(wr_peerbudget_used(&b, &a), 1000);
  /* The other peer is not affected. */
  CHECK_EQ(wr_peerbudget_resize(&b, f, &hf, 1000), 0);
  CHECK_EQ(wr_peerbudget_resize(&b, f, &hf, 1001), WR_ERR_LIMIT);
  /* Lowering always works; the room freed goes to the sibling stream. */
  CHECK_EQ(wr_peerbudget_resize(&b, e1, &h1, 100), 0);
  CHECK_EQ(wr_peerbudget_resize(&b, e2, &h2, 900), 0);
  CHECK_EQ(wr_peerbudget_used(&b, &a), 1000);
  /* A stream that leaves gives its bytes back; the last one frees the entry. */
  wr_peerbudget_leave(&b, e1, &h1);
  CHECK_EQ(h1, 0);
  CHECK_EQ(wr_peerbudget_used(&b, &a), 900);
  CHECK_EQ(b.npeers, 2);
  wr_peerbudget_leave(&b, e2, &h2);
  CHECK_EQ(wr_peerbudget_used(&b, &a), 0);
  CHECK_EQ(b.npeers, 1);
  wr_peerbudget_leave(&b, f, &hf);
  CHECK_EQ(b.npeers, 0);
  CHECK(b.peers == NULL);
  wr_peerbudget_free(&b);
}

/* A single charge larger than the whole limit, and sizes near SIZE_MAX, are
 * refused without wrapping. */
static void test_no_overflow(void) {
  wr_peerbudget b;
  wr_peerbudget_init(&b, 4096, 0);
  wr_peerid a = peer(3);
  wr_peerbudget_entry *e = wr_peerbudget_join(&b, &a);
  CHECK(e != NULL);
  size_t h = 0, h2 = 0;
  CHECK_EQ(wr_peerbudget_resize(&b, e, &h, 4097), WR_ERR_LIMIT);
  CHECK_EQ(wr_peerbudget_resize(&b, e, &h, SIZE_MAX), WR_ERR_LIMIT);
  CHECK_EQ(wr_peerbudget_resize(&b, e, &h, 4000), 0);
  wr_peerbudget_entry *e2 = wr_peerbudget_join(&b, &a);
  CHECK_EQ(wr_peerbudget_resize(&b, e2, &h2, SIZE_MAX - 10), WR_ERR_LIMIT);
  CHECK_EQ(wr_peerbudget_resize(&b, e2, &h2, 96), 0);
  CHECK_EQ(wr_peerbudget_used(&b, &a), 4096);
  wr_peerbudget_leave(&b, e, &h);
  wr_peerbudget_leave(&b, e2, &h2);
  wr_peerbudget_free(&b);
}

/* All peers together are held to the node's limit; each peer still to its
 * own. */
static void test_node_limit(void) {
  wr_peerbudget b;
  wr_peerbudget_init(&b, 600, 1000);
  wr_peerid a = peer(5), c = peer(6), d = peer(7);
  wr_peerbudget_entry *ea = wr_peerbudget_join(&b, &a), *ec = wr_peerbudget_join(&b, &c),
                      *ed = wr_peerbudget_join(&b, &d);
  size_t ha = 0, hc = 0, hd = 0;
  CHECK_EQ(wr_peerbudget_resize(&b, ea, &ha, 600), 0);
  CHECK_EQ(wr_peerbudget_resize(&b, ea, &ha, 601), WR_ERR_LIMIT);
  CHECK_STREQ(b.refused_why, "peer_buffer_limit");
  CHECK_EQ(wr_peerbudget_resize(&b, ec, &hc, 400), 0);
  CHECK_EQ(b.total, 1000);
  /* c is under its own limit, but the node is full. */
  CHECK_EQ(wr_peerbudget_resize(&b, ec, &hc, 401), WR_ERR_LIMIT);
  CHECK_STREQ(b.refused_why, "node_buffer_limit");
  CHECK_EQ(wr_peerbudget_resize(&b, ed, &hd, 1), WR_ERR_LIMIT);
  CHECK_EQ(b.total, 1000);
  /* a stream that leaves makes room for the others */
  wr_peerbudget_leave(&b, ea, &ha);
  CHECK_EQ(b.total, 400);
  CHECK_EQ(wr_peerbudget_resize(&b, ed, &hd, 600), 0);
  CHECK_EQ(wr_peerbudget_resize(&b, ec, &hc, 401), WR_ERR_LIMIT);
  CHECK_EQ(wr_peerbudget_resize(&b, ec, &hc, 0), 0);
  CHECK_EQ(b.total, 600);
  wr_peerbudget_leave(&b, ec, &hc);
  wr_peerbudget_leave(&b, ed, &hd);
  CHECK_EQ(b.total, 0);
  CHECK_EQ(b.npeers, 0);
  wr_peerbudget_free(&b);
}

static void test_alloc_failure(void) {
  wr_peerbudget b;
  wr_peerbudget_init(&b, 10, 0);
  wr_peerid a = peer(4);
  wr_mem_fail_after(0);
  CHECK(wr_peerbudget_join(&b, &a) == NULL);
  wr_mem_fail_after(-1);
  CHECK_EQ(b.npeers, 0);
  /* free() with streams still joined releases the entries too */
  CHECK(wr_peerbudget_join(&b, &a) != NULL);
  wr_peerbudget_free(&b);
  CHECK_EQ(b.npeers, 0);
}

int main(void) {
  RUN(test_shared_limit);
  RUN(test_no_overflow);
  RUN(test_node_limit);
  RUN(test_alloc_failure);
  return test_done();
}
