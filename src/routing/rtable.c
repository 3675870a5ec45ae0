/* rtable.c: the Kademlia routing table. */
#include "routing/rtable.h"

#include <string.h>

#include "base/mem.h"

void wr_rt_peer_key(const wr_peerid *id, uint8_t out[WR_KAD_KEY_BYTES]) {
  uint8_t b[WR_MH_MAX_BYTES];
  int n = wr_peerid_to_bytes(id, b, sizeof b);
  wr_kad_key(b, n > 0 ? (size_t)n : 0, out);
}

void wr_rtable_init(wr_rtable *rt, const wr_peerid *self, size_t k) {
  memset(rt, 0, sizeof *rt);
  wr_rt_peer_key(self, rt->self);
  rt->k = k ? k : WR_RT_K;
}

void wr_rtable_free(wr_rtable *rt) {
  for (size_t i = 0; i < WR_RT_BUCKETS; i++)
    wr_free(rt->bucket[i]);
  memset(rt, 0, sizeof *rt);
}

static wr_rt_peer *find_in(wr_rtable *rt, const uint8_t key[WR_KAD_KEY_BYTES], size_t *pb,
                           size_t *pi) {
  unsigned b = wr_kad_common_prefix(rt->self, key);
  if (b >= WR_RT_BUCKETS)
    return NULL;
  *pb = b;
  for (size_t i = 0; i < rt->count[b]; i++)
    if (memcmp(rt->bucket[b][i].key, key, WR_KAD_KEY_BYTES) == 0) {
      *pi = i;
      return &rt->bucket[b][i];
    }
  *pi = rt->count[b];
  return NULL;
}

int wr_rtable_add(wr_rtable *rt, const wr_peerid *id, const wr_maddr *addrs, size_t naddrs,
                  uint64_t now_ms) {
  uint8_t key[WR_KAD_KEY_BYTES];
  wr_rt_peer_key(id, key);
  if (memcmp(key, rt->self, WR_KAD_KEY_BYTES) == 0)
    return WR_ERR_INVAL;
  size_t b = 0, i = 0;
  wr_rt_peer *p = find_in(rt, key, &b, &i);
  int added = 0;
  if (!p) {
    if (rt->count[b] == rt->k)
      return WR_ERR_LIMIT;
    if (!rt->bucket[b] && !(rt->bucket[b] = wr_calloc(rt->k, sizeof(wr_rt_peer))))
      return WR_ERR_NOMEM;
    p = &rt->bucket[b][rt->count[b]++];
    memset(p, 0, sizeof *p);
    p->id = *id;
    memcpy(p->key, key, sizeof key);
    rt->size++;
    added = 1;
  }
  if (naddrs) {
    p->naddrs = naddrs < WR_RT_MAX_ADDRS ? naddrs : WR_RT_MAX_ADDRS;
    memcpy(p->addrs, addrs, p->naddrs * sizeof *addrs);
  }
  p->seen_ms = now_ms;
  return added;
}

int wr_rtable_remove(wr_rtable *rt, const wr_peerid *id) {
  uint8_t key[WR_KAD_KEY_BYTES];
  wr_rt_peer_key(id, key);
  size_t b = 0, i = 0;
  if (!find_in(rt, key, &b, &i))
    return 0;
  memmove(&rt->bucket[b][i], &rt->bucket[b][i + 1], (rt->count[b] - i - 1) * sizeof(wr_rt_peer));
  rt->count[b]--;
  rt->size--;
  return 1;
}

wr_rt_peer *wr_rtable_find(wr_rtable *rt, const wr_peerid *id) {
  uint8_t key[WR_KAD_KEY_BYTES];
  wr_rt_peer_key(id, key);
  size_t b = 0, i = 0;
  return find_in(rt, key, &b, &i);
}

size_t wr_rtable_closest(wr_rtable *rt, const uint8_t target[WR_KAD_KEY_BYTES], wr_rt_peer **out,
                         size_t n) {
  size_t got = 0;
  for (size_t b = 0; b < WR_RT_BUCKETS; b++)
    for (size_t i = 0; i < rt->count[b]; i++) {
      wr_rt_peer *p = &rt->bucket[b][i];
      /* insertion into the sorted prefix out[0..got) */
      size_t j = got < n ? got : n;
      if (j == n && (n == 0 || wr_kad_closer(target, p->key, out[n - 1]->key) >= 0))
        continue;
      if (j == n)
        j--;
      while (j > 0 && wr_kad_closer(target, p->key, out[j - 1]->key) < 0) {
        out[j] = out[j - 1];
        j--;
      }
      out[j] = p;
      if (got < n)
        got++;
    }
  return got;
}
