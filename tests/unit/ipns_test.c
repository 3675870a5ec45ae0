/* ipns_test.c: IPNS records: round trip, each refusal with its code, time
 * text, selection, names and routing keys. */
#include "proto/ipns/ipns.h"
#include "proto/multiformats/multibase.h"

#include <stdlib.h>

#include "base/mem.h"

#include "test.h"

#define S(x) ((int64_t)(x)*1000000000)
static const int64_t NOW = S(1700000000); /* 2023-11-14T22:13:20Z */

static void key(wr_p2p_privkey *sk, wr_peerid *id, uint8_t fill) {
  uint8_t seed[32];
  memset(seed, fill, sizeof seed);
  wr_p2p_privkey_from_seed(sk, seed);
  wr_p2p_pubkey pk;
  wr_p2p_privkey_public(sk, &pk);
  wr_peerid_from_pubkey(id, &pk);
}

static void make(wr_buf *b, const wr_p2p_privkey *sk, const char *value, uint64_t seq, int64_t eol,
                 int embed) {
  wr_ipns_params pa = {(const uint8_t *)value, strlen(value), seq, eol, S(3600), embed};
  wr_buf_init(b, 1 << 20);
  CHECK_EQ(wr_ipns_record_create(sk, &pa, b), 0);
}

static void test_round_trip(void) {
  wr_p2p_privkey sk;
  wr_peerid id;
  key(&sk, &id, 7);
  for (int embed = 0; embed < 2; embed++) {
    wr_buf b;
    make(&b, &sk, "/ipfs/bafkqaaa", 42, NOW + S(86400) + 123, embed);
    wr_ipns_record r;
    const char *why = NULL;
    CHECK_EQ(wr_ipns_validate(b.data, b.len, &id, NOW, &r, &why), 0);
    CHECK_EQ(r.value_len, 14);
    CHECK_MEMEQ(r.value, "/ipfs/bafkqaaa", 14);
    CHECK_EQ(r.sequence, 42);
    CHECK_EQ(r.ttl_ns, S(3600));
    CHECK_EQ(r.eol_ns, NOW + S(86400) + 123);
    CHECK_EQ(r.validity_len, 30);
    CHECK_MEMEQ(r.validity, "2023-11-15T22:13:20.000000123Z", 30);
    CHECK_EQ(r.sig_v1_len, 64);
    CHECK_EQ(r.sig_v2_len, 64);
    CHECK_EQ(r.has_v1_fields, 1);
    CHECK_EQ(r.pubkey != NULL, embed);
    /* The V1 signature is the spec's: value || validity || "EOL". */
    uint8_t m[128];
    memcpy(m, "/ipfs/bafkqaaa", 14);
    memcpy(m + 14, r.validity, 30);
    memcpy(m + 44, "EOL", 3);
    wr_p2p_pubkey pk;
    wr_p2p_privkey_public(&sk, &pk);
    CHECK_EQ(wr_p2p_verify(&pk, m, 47, r.sig_v1, r.sig_v1_len), 0);
    /* data is dag-cbor with keys in canonical order */
    CHECK(r.data[0] == 0xa5 && r.data[1] == 0x63 && memcmp(r.data + 2, "TTL", 3) == 0);
    wr_buf_free(&b);
  }
}

static void test_refusals(void) {
  wr_p2p_privkey sk, other;
  wr_peerid id, oid;
  key(&sk, &id, 1);
  key(&other, &oid, 2);
  wr_buf b;
  wr_ipns_record r;
  const char *why = NULL;
  make(&b, &sk, "/ipfs/bafkqaaa", 1, NOW + S(10), 0);
  /* Another name's record. */
  CHECK_EQ(wr_ipns_validate(b.data, b.len, &oid, NOW, &r, &why), WR_ERR_DENIED);
  /* Expired: at and after the EOL. */
  CHECK_EQ(wr_ipns_validate(b.data, b.len, &id, NOW + S(10), &r, &why), WR_ERR_TIMEOUT);
  CHECK_STREQ(why, "the record has expired (its validity time has passed)");
  /* A flipped byte inside data's Value: the V1 copy disagrees first. */
  uint8_t *p = (uint8_t *)b.data;
  size_t n = b.len;
  uint8_t *hit = NULL;
  for (size_t i = n - 1; i > 0; i--)
    if (memcmp(p + i - 1, "ipfs", 4) == 0) {
      hit = p + i + 8;
      break;
    }
  CHECK(hit != NULL);
  *hit ^= 1;
  CHECK_EQ(wr_ipns_validate(p, n, &id, NOW, &r, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "the record's value differs from its signed data");
  *hit ^= 1;
  /* A flipped byte in the V2 signature. */
  CHECK_EQ(wr_ipns_record_decode(p, n, &r, &why), 0);
  ((uint8_t *)r.sig_v2)[5] ^= 0x10;
  CHECK_EQ(wr_ipns_validate(p, n, &id, NOW, &r, &why), WR_ERR_DENIED);
  CHECK_STREQ(why, "the record's signatureV2 does not verify with the name's key");
  wr_buf_free(&b);
  /* Without the V2 fields. */
  make(&b, &sk, "/ipfs/bafkqaaa", 1, NOW + S(10), 0);
  CHECK_EQ(wr_ipns_record_decode(b.data, b.len, &r, &why), 0);
  size_t v1_end = (size_t)(r.sig_v2 - (const uint8_t *)b.data) - 2;
  CHECK_EQ(wr_ipns_record_decode(b.data, v1_end, &r, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "the record has no signatureV2 (V1-only records are not accepted)");
  /* Truncated anywhere. */
  for (size_t k = 0; k < b.len; k++)
    CHECK(wr_ipns_record_decode(b.data, k, &r, NULL) != 0);
  /* Trailing garbage is an unknown or broken field. */
  uint8_t big[WR_IPNS_MAX_RECORD + 1];
  memcpy(big, b.data, b.len);
  big[b.len] = 0x58; /* field 11, varint */
  big[b.len + 1] = 0;
  CHECK_EQ(wr_ipns_record_decode(big, b.len + 2, &r, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "the record has an unknown protobuf field");
  /* Duplicate field. */
  memcpy(big + b.len, b.data, 2 + ((uint8_t *)b.data)[1]);
  CHECK_EQ(wr_ipns_record_decode(big, b.len + 2 + ((uint8_t *)b.data)[1], &r, &why),
           WR_ERR_MALFORMED);
  CHECK_STREQ(why, "the record has a protobuf field twice");
  CHECK_EQ(wr_ipns_record_decode(big, sizeof big, &r, &why), WR_ERR_LIMIT);
  wr_buf_free(&b);
  /* A value too big for 10 KiB cannot be signed. */
  char *v = malloc(WR_IPNS_MAX_RECORD);
  memset(v, 'a', WR_IPNS_MAX_RECORD - 1);
  v[WR_IPNS_MAX_RECORD - 1] = 0;
  wr_ipns_params pa = {(const uint8_t *)v, strlen(v), 1, NOW, 0, 0};
  wr_buf_init(&b, 1 << 20);
  CHECK_EQ(wr_ipns_record_create(&sk, &pa, &b), WR_ERR_LIMIT);
  CHECK_EQ(b.len, 0);
  wr_buf_free(&b);
  free(v);
}

static void test_select(void) {
  wr_p2p_privkey sk;
  wr_peerid id;
  key(&sk, &id, 3);
  wr_buf a, b, c;
  make(&a, &sk, "/ipfs/a", 5, NOW + S(100), 0);
  make(&b, &sk, "/ipfs/b", 6, NOW + S(50), 0);
  make(&c, &sk, "/ipfs/c", 6, NOW + S(60), 0);
  const uint8_t *v[4] = {(const uint8_t *)"junk", a.data, c.data, b.data};
  size_t l[4] = {4, a.len, c.len, b.len}, best = 99;
  CHECK_EQ(wr_ipns_dht_select(v, l, 4, &best), 0);
  CHECK_EQ(best, 2); /* sequence 6, later EOL */
  CHECK_EQ(wr_ipns_dht_select(v, l, 2, &best), 0);
  CHECK_EQ(best, 1);
  CHECK_EQ(wr_ipns_dht_select(v, l, 1, &best), WR_ERR_NOTFOUND);
  uint8_t k[WR_IPNS_MAX_KEY];
  int kn = wr_ipns_routing_key(&id, k, sizeof k);
  CHECK_EQ(kn, 6 + 38);
  CHECK_EQ(wr_ipns_dht_validate(k, (size_t)kn, a.data, a.len, NOW, NULL), 0);
  CHECK_EQ(wr_ipns_dht_validate(k, (size_t)kn, a.data, a.len, NOW + S(100), NULL), WR_ERR_TIMEOUT);
  k[0] = 'x';
  CHECK_EQ(wr_ipns_dht_validate(k, (size_t)kn, a.data, a.len, NOW, NULL), WR_ERR_MALFORMED);
  wr_buf_free(&a);
  wr_buf_free(&b);
  wr_buf_free(&c);
}

static void test_names(void) {
  wr_p2p_privkey sk;
  wr_peerid id, again;
  key(&sk, &id, 4);
  char s[WR_PEERID_MAX_STR], t[WR_PEERID_MAX_STR + 8];
  const char *why = NULL;
  CHECK(wr_peerid_format_cid(&id, WR_MB_BASE36, s, sizeof s) > 0);
  CHECK(strncmp(s, "k51", 3) == 0);
  CHECK_EQ(wr_ipns_name_parse(s, strlen(s), &again, &why), 0);
  CHECK(wr_peerid_equal(&id, &again));
  snprintf(t, sizeof t, "/ipns/%s", s);
  CHECK_EQ(wr_ipns_name_parse(t, strlen(t), &again, &why), 0);
  CHECK(wr_peerid_equal(&id, &again));
  CHECK(wr_peerid_format(&id, s, sizeof s) > 0);
  CHECK(strncmp(s, "12D3KooW", 8) == 0);
  CHECK_EQ(wr_ipns_name_parse(s, strlen(s), &again, &why), 0);
  CHECK(wr_peerid_format_cid(&id, WR_MB_BASE32, s, sizeof s) > 0);
  CHECK_EQ(wr_ipns_name_parse(s, strlen(s), &again, &why), 0);
  CHECK(wr_peerid_equal(&id, &again));
  /* A dag-pb CID is not a name. */
  const char *cid = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi";
  CHECK_EQ(wr_ipns_name_parse(cid, strlen(cid), &again, &why), WR_ERR_MALFORMED);
}

static void test_time(void) {
  int64_t ns;
  const char *why = NULL;
  char s[WR_IPNS_TIME_STR];
  CHECK_EQ(wr_ipns_time_parse("2000-01-01T00:00:00Z", 20, &ns, &why), 0);
  CHECK_EQ(ns, S(946684800));
  CHECK_EQ(wr_ipns_time_parse("2000-01-01T01:00:00.5+01:00", 27, &ns, &why), 0);
  CHECK_EQ(ns, S(946684800) + 500000000);
  CHECK_EQ(wr_ipns_time_parse("2024-02-29T12:00:00.123456789Z", 30, &ns, &why), 0);
  CHECK_EQ(ns, S(1709208000) + 123456789);
  CHECK_EQ(wr_ipns_time_format(ns, s, sizeof s), 30);
  CHECK_STREQ(s, "2024-02-29T12:00:00.123456789Z");
  CHECK_EQ(wr_ipns_time_parse("2023-02-29T12:00:00Z", 20, &ns, &why), WR_ERR_MALFORMED);
  CHECK_EQ(wr_ipns_time_parse("2023-01-01T12:00:00", 19, &ns, &why), WR_ERR_MALFORMED);
  CHECK_EQ(wr_ipns_time_parse("2023-01-01T12:00:00.1234567890Z", 31, &ns, &why), WR_ERR_MALFORMED);
  CHECK_EQ(wr_ipns_time_parse("2023-01-01T12:00:00.Z", 21, &ns, &why), WR_ERR_MALFORMED);
  CHECK_EQ(wr_ipns_time_parse("9999-12-31T23:59:59Z", 20, &ns, &why), 0);
  CHECK_EQ(ns, INT64_MAX);
  for (int64_t t = 0; t < S(4000000000); t += S(86399) + 987654321) {
    CHECK_EQ(wr_ipns_time_format(t, s, sizeof s), 30);
    CHECK_EQ(wr_ipns_time_parse(s, 30, &ns, &why), 0);
    if (ns != t) {
      CHECK_EQ(ns, t);
      break;
    }
  }
}

/* Every allocation that fails unwinds: WR_ERR_NOMEM and nothing written. */
static void test_alloc_failures(void) {
  wr_p2p_privkey sk;
  wr_peerid id;
  key(&sk, &id, 9);
  wr_ipns_params pa = {(const uint8_t *)"/ipfs/bafkqaaa", 14, 1, NOW + S(60), 0, 1};
  int ok = 0;
  for (long n = 0; n < 64 && !ok; n++) {
    wr_buf b;
    wr_buf_init(&b, 1 << 20);
    wr_mem_fail_after(n);
    int rv = wr_ipns_record_create(&sk, &pa, &b);
    wr_mem_fail_after(-1);
    if (rv == 0) {
      wr_ipns_record r;
      CHECK_EQ(wr_ipns_validate(b.data, b.len, &id, NOW, &r, NULL), 0);
      ok = 1;
    } else {
      CHECK_EQ(rv, WR_ERR_NOMEM);
      CHECK_EQ(b.len, 0);
    }
    wr_buf_free(&b);
  }
  CHECK(ok);
}

int main(void) {
  RUN(test_round_trip);
  RUN(test_refusals);
  RUN(test_select);
  RUN(test_names);
  RUN(test_time);
  RUN(test_alloc_failures);
  return test_done();
}
