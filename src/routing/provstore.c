/* provstore.c: provider records in a chained hash table. */
#include "routing/provstore.h"

#include <string.h>

#include "base/mem.h"

/* A provider's addresses are the same for all the keys it provides, so
 * they are kept once per peer and a record is a peer index and an expiry:
 * ten thousand keys from one provider cost kilobytes, not megabytes. */
typedef struct peer {
  wr_peerid id;
  wr_maddr addrs[WR_PROV_MAX_ADDRS];
  size_t naddrs;
  uint32_t next; /* hash chain, UINT32_MAX at the end */
} peer;

typedef struct rec {
  uint32_t peer;
  uint64_t expires_ms;
} rec;

typedef struct entry {
  struct entry *next;
  uint8_t pos[WR_KAD_KEY_BYTES];
  uint8_t keylen;
  rec *recs; /* grown by doubling up to WR_PROV_MAX_PER_KEY */
  uint8_t nrecs, cap;
  uint8_t key[]; /* keylen bytes */
} entry;

#define PEER_SLOTS 4096
#define MAX_PEERS (1u << 20)

struct wr_provstore {
  entry **slots;
  size_t nslots, nkeys, max_keys;
  peer *peers;
  uint32_t npeers, cappeers;
  uint32_t peer_slot[PEER_SLOTS];
  wr_provstore_sink sink;
};

static uint32_t peer_hash(const wr_peerid *id) {
  uint32_t h = 2166136261u;
  for (uint32_t i = 0; i < id->mh.size; i++)
    h = (h ^ id->mh.digest[i]) * 16777619u;
  return h % PEER_SLOTS;
}

/* The peer's index (added, or its addresses refreshed when rec has any);
 * UINT32_MAX when the table is full or memory ran out. */
static uint32_t peer_index(wr_provstore *ps, const wr_prov_rec *r) {
  uint32_t h = peer_hash(&r->id);
  for (uint32_t i = ps->peer_slot[h]; i != UINT32_MAX; i = ps->peers[i].next)
    if (wr_peerid_equal(&ps->peers[i].id, &r->id)) {
      if (r->naddrs) {
        ps->peers[i].naddrs = r->naddrs;
        memcpy(ps->peers[i].addrs, r->addrs, r->naddrs * sizeof r->addrs[0]);
      }
      return i;
    }
  if (ps->npeers == MAX_PEERS)
    return UINT32_MAX;
  if (ps->npeers == ps->cappeers) {
    uint32_t cap = ps->cappeers ? ps->cappeers * 2 : 16;
    peer *p = wr_realloc(ps->peers, cap * sizeof *p);
    if (!p)
      return UINT32_MAX;
    ps->peers = p;
    ps->cappeers = cap;
  }
  peer *p = &ps->peers[ps->npeers];
  p->id = r->id;
  p->naddrs = r->naddrs < WR_PROV_MAX_ADDRS ? r->naddrs : WR_PROV_MAX_ADDRS;
  memcpy(p->addrs, r->addrs, p->naddrs * sizeof r->addrs[0]);
  p->next = ps->peer_slot[h];
  ps->peer_slot[h] = ps->npeers;
  return ps->npeers++;
}

static void rec_out(const wr_provstore *ps, const rec *r, wr_prov_rec *out) {
  const peer *p = &ps->peers[r->peer];
  out->id = p->id;
  out->naddrs = p->naddrs;
  memcpy(out->addrs, p->addrs, p->naddrs * sizeof p->addrs[0]);
  out->expires_ms = r->expires_ms;
}

int wr_provstore_new(wr_provstore **pps, size_t max_keys) {
  wr_provstore *ps = wr_calloc(1, sizeof *ps);
  if (!ps)
    return WR_ERR_NOMEM;
  ps->nslots = 1024;
  ps->max_keys = max_keys ? max_keys : 1000000;
  memset(ps->peer_slot, 0xff, sizeof ps->peer_slot);
  if (!(ps->slots = wr_calloc(ps->nslots, sizeof *ps->slots))) {
    wr_free(ps);
    return WR_ERR_NOMEM;
  }
  *pps = ps;
  return 0;
}

static void entry_free(entry *e) {
  wr_free(e->recs);
  wr_free(e);
}

void wr_provstore_del(wr_provstore *ps) {
  if (!ps)
    return;
  for (size_t i = 0; i < ps->nslots; i++)
    for (entry *e = ps->slots[i], *next; e; e = next) {
      next = e->next;
      entry_free(e);
    }
  wr_free(ps->slots);
  wr_free(ps->peers);
  wr_free(ps);
}

void wr_provstore_set_sink(wr_provstore *ps, const wr_provstore_sink *sink) {
  ps->sink = sink ? *sink : (wr_provstore_sink){0};
}

static size_t slot_of(const uint8_t pos[WR_KAD_KEY_BYTES], size_t nslots) {
  uint64_t h;
  memcpy(&h, pos, sizeof h);
  return (size_t)(h & (nslots - 1));
}

static void grow(wr_provstore *ps) {
  size_t n = ps->nslots * 2;
  entry **s = wr_calloc(n, sizeof *s);
  if (!s)
    return; /* a longer chain is slower, not wrong */
  for (size_t i = 0; i < ps->nslots; i++)
    for (entry *e = ps->slots[i], *next; e; e = next) {
      next = e->next;
      size_t j = slot_of(e->pos, n);
      e->next = s[j];
      s[j] = e;
    }
  wr_free(ps->slots);
  ps->slots = s;
  ps->nslots = n;
}

static entry *lookup(wr_provstore *ps, const uint8_t *key, size_t keylen,
                     uint8_t pos[WR_KAD_KEY_BYTES]) {
  wr_kad_key(key, keylen, pos);
  for (entry *e = ps->slots[slot_of(pos, ps->nslots)]; e; e = e->next)
    if (e->keylen == keylen && memcmp(e->key, key, keylen) == 0)
      return e;
  return NULL;
}

int wr_provstore_add(wr_provstore *ps, const uint8_t *key, size_t keylen,
                     const wr_prov_rec *rec_in) {
  if (keylen == 0 || keylen > WR_PROV_MAX_KEY)
    return WR_ERR_INVAL;
  uint32_t pi = peer_index(ps, rec_in);
  if (pi == UINT32_MAX)
    return WR_ERR_LIMIT;
  uint8_t pos[WR_KAD_KEY_BYTES];
  entry *e = lookup(ps, key, keylen, pos);
  if (!e) {
    if (ps->nkeys >= ps->max_keys)
      return WR_ERR_LIMIT;
    if (!(e = wr_calloc(1, sizeof *e + keylen)))
      return WR_ERR_NOMEM;
    memcpy(e->pos, pos, sizeof pos);
    memcpy(e->key, key, keylen);
    e->keylen = (uint8_t)keylen;
    size_t j = slot_of(pos, ps->nslots);
    e->next = ps->slots[j];
    ps->slots[j] = e;
    ps->nkeys++;
    if (ps->nkeys > ps->nslots)
      grow(ps);
  }
  /* The newest record sits at the end; a refresh moves the peer there. */
  for (size_t i = 0; i < e->nrecs; i++)
    if (e->recs[i].peer == pi) {
      memmove(&e->recs[i], &e->recs[i + 1], (e->nrecs - i - 1) * sizeof *e->recs);
      e->nrecs--;
      break;
    }
  if (e->nrecs == WR_PROV_MAX_PER_KEY) {
    memmove(&e->recs[0], &e->recs[1], (size_t)(e->nrecs - 1) * sizeof *e->recs);
    e->nrecs--;
  }
  if (e->nrecs == e->cap) {
    size_t cap = e->cap ? e->cap * 2u : 1u;
    rec *r = wr_realloc(e->recs, cap * sizeof *r);
    if (!r)
      return WR_ERR_NOMEM;
    e->recs = r;
    e->cap = (uint8_t)cap;
  }
  e->recs[e->nrecs++] = (rec){pi, rec_in->expires_ms};
  if (ps->sink.on_put)
    ps->sink.on_put(ps->sink.user, key, keylen, rec_in);
  return 0;
}

size_t wr_provstore_get(wr_provstore *ps, const uint8_t *key, size_t keylen, uint64_t now_ms,
                        wr_prov_rec *out, size_t n) {
  if (keylen == 0 || keylen > WR_PROV_MAX_KEY)
    return 0;
  uint8_t pos[WR_KAD_KEY_BYTES];
  entry *e = lookup(ps, key, keylen, pos);
  size_t got = 0;
  for (size_t i = e ? e->nrecs : 0; i > 0 && got < n; i--)
    if (e->recs[i - 1].expires_ms > now_ms)
      rec_out(ps, &e->recs[i - 1], &out[got++]);
  return got;
}

size_t wr_provstore_expire(wr_provstore *ps, uint64_t now_ms) {
  size_t gone = 0;
  for (size_t s = 0; s < ps->nslots; s++)
    for (entry **pe = &ps->slots[s]; *pe;) {
      entry *e = *pe;
      size_t w = 0;
      for (size_t i = 0; i < e->nrecs; i++)
        if (e->recs[i].expires_ms > now_ms)
          e->recs[w++] = e->recs[i];
      gone += e->nrecs - w;
      e->nrecs = (uint8_t)w;
      if (w == 0) {
        *pe = e->next;
        entry_free(e);
        ps->nkeys--;
      } else {
        pe = &e->next;
      }
    }
  return gone;
}

size_t wr_provstore_keys(const wr_provstore *ps) { return ps->nkeys; }
