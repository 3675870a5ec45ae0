/* provstore.c: provider records in a chained hash table. */
#include "routing/provstore.h"

#include <string.h>

#include "base/mem.h"

typedef struct entry {
  struct entry *next;
  uint8_t pos[WR_KAD_KEY_BYTES];
  uint8_t key[WR_PROV_MAX_KEY];
  size_t keylen;
  wr_prov_rec *recs; /* grown by doubling up to WR_PROV_MAX_PER_KEY */
  size_t nrecs, cap;
} entry;

struct wr_provstore {
  entry **slots;
  size_t nslots, nkeys, max_keys;
  wr_provstore_sink sink;
};

int wr_provstore_new(wr_provstore **pps, size_t max_keys) {
  wr_provstore *ps = wr_calloc(1, sizeof *ps);
  if (!ps)
    return WR_ERR_NOMEM;
  ps->nslots = 1024;
  ps->max_keys = max_keys ? max_keys : 1000000;
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

int wr_provstore_add(wr_provstore *ps, const uint8_t *key, size_t keylen, const wr_prov_rec *rec) {
  if (keylen == 0 || keylen > WR_PROV_MAX_KEY)
    return WR_ERR_INVAL;
  uint8_t pos[WR_KAD_KEY_BYTES];
  entry *e = lookup(ps, key, keylen, pos);
  if (!e) {
    if (ps->nkeys >= ps->max_keys)
      return WR_ERR_LIMIT;
    if (!(e = wr_calloc(1, sizeof *e)))
      return WR_ERR_NOMEM;
    memcpy(e->pos, pos, sizeof pos);
    memcpy(e->key, key, keylen);
    e->keylen = keylen;
    size_t j = slot_of(pos, ps->nslots);
    e->next = ps->slots[j];
    ps->slots[j] = e;
    ps->nkeys++;
    if (ps->nkeys > ps->nslots)
      grow(ps);
  }
  /* The newest record sits at the end; a refresh moves the peer there. */
  for (size_t i = 0; i < e->nrecs; i++)
    if (wr_peerid_equal(&e->recs[i].id, &rec->id)) {
      memmove(&e->recs[i], &e->recs[i + 1], (e->nrecs - i - 1) * sizeof *e->recs);
      e->nrecs--;
      break;
    }
  if (e->nrecs == WR_PROV_MAX_PER_KEY) {
    memmove(&e->recs[0], &e->recs[1], (e->nrecs - 1) * sizeof *e->recs);
    e->nrecs--;
  }
  if (e->nrecs == e->cap) {
    size_t cap = e->cap ? e->cap * 2 : 2;
    wr_prov_rec *r = wr_realloc(e->recs, cap * sizeof *r);
    if (!r)
      return WR_ERR_NOMEM;
    e->recs = r;
    e->cap = cap;
  }
  e->recs[e->nrecs++] = *rec;
  if (ps->sink.on_put)
    ps->sink.on_put(ps->sink.user, key, keylen, rec);
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
      out[got++] = e->recs[i - 1];
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
      e->nrecs = w;
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
