/* murmur3.h: MurmurHash3, x64 128-bit variant (Austin Appleby's public
 * algorithm), as UnixFS HAMT directories use it to place names.
 *
 * kubo and the JS importer keep only the first 64-bit half (h1) and read its
 * bits from the most significant end; wr_murmur3_hamt64 returns exactly that
 * value. */
#ifndef WR_PROTO_IPLD_MURMUR3_H
#define WR_PROTO_IPLD_MURMUR3_H

#include <stddef.h>
#include <stdint.h>

/* Hashes n bytes at p with seed; out[0] is h1, out[1] is h2. */
void wr_murmur3_x64_128(const void *p, size_t n, uint32_t seed, uint64_t out[2]);

/* h1 of the seed-0 hash: the 64 bits a HAMT level index is cut from, most
 * significant bits first. */
uint64_t wr_murmur3_hamt64(const void *p, size_t n);

#endif
