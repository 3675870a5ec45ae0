/* names_test.c: the repo's IPNS records (content/names): publish takes the
 * sequence up only when the value changes; republish keeps value, sequence
 * and TTL with a later EOL (or the old one when that is later), refuses a
 * key that never published and a stored record that does not verify. */
#include "content/names.h"
#include "proto/multiformats/multibase.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

#define S 1000000000LL

static void decode(const wr_buf *b, wr_ipns_record *r) {
  CHECK_EQ(wr_ipns_record_decode(b->data, b->len, r, NULL), 0);
}

static void test_publish_republish(void) {
  char dir[] = "/tmp/names_testXXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  uint8_t seed[32];
  memset(seed, 0x11, sizeof seed);
  wr_p2p_privkey sk, other;
  wr_p2p_privkey_from_seed(&sk, seed);
  memset(seed, 0x22, sizeof seed);
  wr_p2p_privkey_from_seed(&other, seed);
  char err[512];
  wr_buf rec;
  wr_buf_init(&rec, WR_IPNS_MAX_RECORD);
  /* nothing published yet */
  CHECK_EQ(wr_names_republish(dir, &sk, 10 * S, 1000 * S, &rec, err, sizeof err), WR_ERR_NOTFOUND);
  uint64_t seq = 99;
  CHECK_EQ(wr_names_publish(dir, &sk, "/ipfs/bafkqaaa", 100 * S, 7 * S, 1000 * S, &seq, NULL, err,
                            sizeof err),
           0);
  CHECK_EQ(seq, 0);
  CHECK_EQ(wr_names_publish(dir, &sk, "/ipfs/bafkqaaa", 100 * S, 7 * S, 1001 * S, &seq, NULL, err,
                            sizeof err),
           0);
  CHECK_EQ(seq, 0); /* same value: same sequence */
  CHECK_EQ(wr_names_publish(dir, &sk, "/ipfs/bafkqabbb", 100 * S, 7 * S, 1002 * S, &seq, NULL, err,
                            sizeof err),
           0);
  CHECK_EQ(seq, 1);
  /* republished later: same value, sequence, TTL; EOL from now */
  wr_ipns_record r;
  CHECK_EQ(wr_names_republish(dir, &sk, 500 * S, 2000 * S, &rec, err, sizeof err), 0);
  decode(&rec, &r);
  CHECK(r.value_len == 15 && memcmp(r.value, "/ipfs/bafkqabbb", 15) == 0);
  CHECK_EQ(r.sequence, 1);
  CHECK_EQ(r.ttl_ns, 7 * S);
  CHECK_EQ(r.eol_ns, 2500 * S);
  /* an earlier EOL never replaces a later one */
  wr_buf_reset(&rec);
  CHECK_EQ(wr_names_republish(dir, &sk, 10 * S, 2001 * S, &rec, err, sizeof err), 0);
  decode(&rec, &r);
  CHECK_EQ(r.eol_ns, 2500 * S);
  CHECK_EQ(r.sequence, 1);
  /* what is stored is what came back */
  wr_p2p_pubkey pk;
  wr_peerid id;
  wr_p2p_privkey_public(&sk, &pk);
  wr_peerid_from_pubkey(&id, &pk);
  wr_buf st;
  wr_buf_init(&st, WR_IPNS_MAX_RECORD);
  CHECK_EQ(wr_names_load(dir, &id, &st, err, sizeof err), 0);
  CHECK(st.len == rec.len && memcmp(st.data, rec.data, st.len) == 0);
  /* a stored record signed by another key is refused */
  wr_buf forged;
  wr_buf_init(&forged, WR_IPNS_MAX_RECORD);
  wr_ipns_params pa = {(const uint8_t *)"/ipfs/bafkqaaa", 14, 5, 3000 * S, S, 0};
  CHECK_EQ(wr_ipns_record_create(&other, &pa, &forged), 0);
  char path[512], name[WR_PEERID_MAX_STR];
  CHECK(wr_peerid_format_cid(&id, WR_MB_BASE36, name, sizeof name) > 0);
  snprintf(path, sizeof path, "%s/ipns/%s", dir, name);
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  if (f) {
    CHECK_EQ(fwrite(forged.data, 1, forged.len, f), forged.len);
    fclose(f);
  }
  CHECK_EQ(wr_names_republish(dir, &sk, 10 * S, 2002 * S, NULL, err, sizeof err), WR_ERR_CORRUPT);
  CHECK(strstr(err, "is refused") != NULL);
  wr_buf_free(&rec);
  wr_buf_free(&st);
  wr_buf_free(&forged);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK_EQ(system(cmd), 0);
}

int main(void) {
  RUN(test_publish_republish);
  return test_done();
}
