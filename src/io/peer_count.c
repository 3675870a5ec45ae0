/* peer_count.c: connections per client address (io/peer_count.h). */
#include "io/peer_count.h"

#include <netinet/in.h>
#include <string.h>

#include <sodium.h>

#include "base/mem.h"
#include "io/random.h"

void wr_peer_count_init(wr_peer_count *pc) {
  memset(pc, 0, sizeof *pc);
  if (wr_random_bytes(pc->hkey, sizeof pc->hkey) != 0)
    memset(pc->hkey, 0x5a, sizeof pc->hkey); /* still counts; only collisions are guessable */
}

void wr_peer_count_free(wr_peer_count *pc) {
  wr_free(pc->slots);
  pc->slots = NULL;
  pc->cap = pc->used = 0;
}

int wr_peer_count_key(const struct sockaddr *sa, wr_peer_key *pkey) {
  memset(pkey, 0, sizeof *pkey);
  if (sa && sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    pkey->a[10] = pkey->a[11] = 0xff;
    memcpy(pkey->a + 12, &in->sin_addr, 4);
  } else if (sa && sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    memcpy(pkey->a, &in6->sin6_addr, 16);
    if (!IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
      memset(pkey->a + 8, 0, 8); /* per /64 */
  } else {
    return WR_ERR_UNSUPPORTED;
  }
  pkey->set = 1;
  return 0;
}

static size_t home(const wr_peer_count *pc, const uint8_t a[16]) {
  uint8_t h[crypto_shorthash_BYTES];
  crypto_shorthash(h, a, 16, pc->hkey);
  uint64_t v;
  memcpy(&v, h, sizeof v);
  return (size_t)v & (pc->cap - 1);
}

/* The slot holding a, or the empty slot where it would go. */
static wr_peer_slot *find(const wr_peer_count *pc, const uint8_t a[16]) {
  size_t i = home(pc, a);
  for (;;) {
    wr_peer_slot *s = &pc->slots[i];
    if (!s->n || memcmp(s->a, a, 16) == 0)
      return s;
    i = (i + 1) & (pc->cap - 1);
  }
}

/* Keeps the table at most half full. */
static int grow(wr_peer_count *pc) {
  if (pc->cap && (pc->used + 1) * 2 <= pc->cap)
    return 0;
  size_t cap = pc->cap ? pc->cap * 2 : 64;
  wr_peer_slot *old = pc->slots;
  size_t oldcap = pc->cap;
  wr_peer_slot *n = wr_calloc(cap, sizeof *n);
  if (!n)
    return WR_ERR_NOMEM;
  pc->slots = n;
  pc->cap = cap;
  for (size_t i = 0; i < oldcap; i++)
    if (old[i].n)
      *find(pc, old[i].a) = old[i];
  wr_free(old);
  return 0;
}

int wr_peer_count_add(wr_peer_count *pc, const struct sockaddr *sa, uint32_t max,
                      wr_peer_key *pkey) {
  if (wr_peer_count_key(sa, pkey) != 0)
    return 0; /* not counted */
  wr_peer_slot *s = pc->cap ? find(pc, pkey->a) : NULL;
  if (s && s->n) {
    if (max && s->n >= max) {
      pkey->set = 0;
      return WR_ERR_LIMIT;
    }
    s->n++;
    return 0;
  }
  if (grow(pc) != 0) {
    pkey->set = 0;
    return WR_ERR_NOMEM;
  }
  s = find(pc, pkey->a);
  memcpy(s->a, pkey->a, 16);
  s->n = 1;
  pc->used++;
  return 0;
}

/* Removes the slot at i, shifting back the run after it (no tombstones). */
static void delete_at(wr_peer_count *pc, size_t i) {
  size_t mask = pc->cap - 1, j = i;
  pc->slots[i].n = 0;
  for (;;) {
    j = (j + 1) & mask;
    if (!pc->slots[j].n)
      break;
    size_t k = home(pc, pc->slots[j].a);
    /* Move j into the hole at i unless its home lies cyclically in (i, j]. */
    if ((i < j) ? (k <= i || k > j) : (k <= i && k > j)) {
      pc->slots[i] = pc->slots[j];
      pc->slots[j].n = 0;
      i = j;
    }
  }
  pc->used--;
}

void wr_peer_count_remove(wr_peer_count *pc, wr_peer_key *pkey) {
  if (!pkey->set || !pc->cap)
    return;
  pkey->set = 0;
  wr_peer_slot *s = find(pc, pkey->a);
  if (!s->n)
    return;
  if (--s->n == 0)
    delete_at(pc, (size_t)(s - pc->slots));
}

uint32_t wr_peer_count_get(const wr_peer_count *pc, const struct sockaddr *sa) {
  wr_peer_key k;
  if (wr_peer_count_key(sa, &k) != 0 || !pc->cap)
    return 0;
  return find(pc, k.a)->n;
}
