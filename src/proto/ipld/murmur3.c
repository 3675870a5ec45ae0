/* murmur3.c: MurmurHash3 x64 128. Blocks of 16 bytes are read little-endian
 * regardless of the host, so the hash is the same everywhere. */
#include "proto/ipld/murmur3.h"

#include <string.h>

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t fmix64(uint64_t k) {
  k ^= k >> 33;
  k *= UINT64_C(0xff51afd7ed558ccd);
  k ^= k >> 33;
  k *= UINT64_C(0xc4ceb9fe1a85ec53);
  k ^= k >> 33;
  return k;
}

static inline uint64_t load_le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

#define C1 UINT64_C(0x87c37b91114253d5)
#define C2 UINT64_C(0x4cf5ad432745937f)

void wr_murmur3_x64_128(const void *data, size_t n, uint32_t seed, uint64_t out[2]) {
  const uint8_t *p = (const uint8_t *)data;
  uint64_t h1 = seed, h2 = seed;
  size_t nblocks = n / 16;
  for (size_t i = 0; i < nblocks; i++) {
    uint64_t k1 = load_le64(p + i * 16), k2 = load_le64(p + i * 16 + 8);
    k1 *= C1;
    k1 = rotl64(k1, 31);
    k1 *= C2;
    h1 ^= k1;
    h1 = rotl64(h1, 27);
    h1 += h2;
    h1 = h1 * 5 + 0x52dce729;
    k2 *= C2;
    k2 = rotl64(k2, 33);
    k2 *= C1;
    h2 ^= k2;
    h2 = rotl64(h2, 31);
    h2 += h1;
    h2 = h2 * 5 + 0x38495ab5;
  }
  const uint8_t *tail = p + nblocks * 16;
  size_t rest = n & 15;
  uint64_t k1 = 0, k2 = 0;
  /* Bytes 8..14 of the tail feed k2, bytes 0..7 feed k1. */
  for (size_t i = rest; i > 8; i--)
    k2 ^= (uint64_t)tail[i - 1] << (8 * (i - 9));
  if (rest > 8) {
    k2 *= C2;
    k2 = rotl64(k2, 33);
    k2 *= C1;
    h2 ^= k2;
  }
  for (size_t i = rest < 8 ? rest : 8; i > 0; i--)
    k1 ^= (uint64_t)tail[i - 1] << (8 * (i - 1));
  if (rest > 0) {
    k1 *= C1;
    k1 = rotl64(k1, 31);
    k1 *= C2;
    h1 ^= k1;
  }
  h1 ^= (uint64_t)n;
  h2 ^= (uint64_t)n;
  h1 += h2;
  h2 += h1;
  h1 = fmix64(h1);
  h2 = fmix64(h2);
  h1 += h2;
  h2 += h1;
  out[0] = h1;
  out[1] = h2;
}

uint64_t wr_murmur3_hamt64(const void *p, size_t n) {
  uint64_t h[2];
  wr_murmur3_x64_128(p, n, 0, h);
  return h[0];
}
