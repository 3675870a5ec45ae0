/* peerbudget.c: per-peer buffer accounting for the DHT server
 * (routing/peerbudget.h). */
#include "routing/peerbudget.h"

#include <string.h>

#include "base/mem.h"

void wr_peerbudget_init(wr_peerbudget *b, size_t limit, size_t total_limit) {
  memset(b, 0, sizeof *b);
  b->limit = limit;
  b->total_limit = total_limit;
}

void wr_peerbudget_free(wr_peerbudget *b) {
  wr_peerbudget_entry *e = b->peers;
  while (e) {
    wr_peerbudget_entry *next = e->next;
    wr_free(e);
    e = next;
  }
  b->peers = NULL;
  b->npeers = 0;
}

static wr_peerbudget_entry *find(const wr_peerbudget *b, const wr_peerid *id) {
  for (wr_peerbudget_entry *e = b->peers; e; e = e->next)
    if (wr_peerid_equal(&e->id, id))
      return e;
  return NULL;
}

wr_peerbudget_entry *wr_peerbudget_join(wr_peerbudget *b, const wr_peerid *id) {
  wr_peerbudget_entry *e = find(b, id);
  if (!e) {
    e = wr_calloc(1, sizeof *e);
    if (!e)
      return NULL;
    e->id = *id;
    e->next = b->peers;
    if (b->peers)
      b->peers->prev = e;
    b->peers = e;
    b->npeers++;
  }
  e->streams++;
  return e;
}

void wr_peerbudget_leave(wr_peerbudget *b, wr_peerbudget_entry *e, size_t *pheld) {
  e->bytes -= *pheld;
  b->total -= *pheld;
  *pheld = 0;
  if (--e->streams)
    return;
  if (e->prev)
    e->prev->next = e->next;
  else
    b->peers = e->next;
  if (e->next)
    e->next->prev = e->prev;
  b->npeers--;
  wr_free(e);
}

/* 1 when others + want exceeds limit (without overflowing). */
static int over(size_t others, size_t want, size_t limit) {
  return want > limit || others > limit - want;
}

int wr_peerbudget_resize(wr_peerbudget *b, wr_peerbudget_entry *e, size_t *pheld, size_t want) {
  size_t others = e->bytes - *pheld;
  if (want > *pheld) {
    const char *why = over(others, want, b->limit) ? "peer_buffer_limit"
                      : b->total_limit && over(b->total - *pheld, want, b->total_limit)
                          ? "node_buffer_limit"
                          : NULL;
    if (why) {
      b->refused++;
      b->refused_why = why;
      return WR_ERR_LIMIT;
    }
  }
  b->total = b->total - *pheld + want;
  e->bytes = others + want;
  *pheld = want;
  return 0;
}

size_t wr_peerbudget_used(const wr_peerbudget *b, const wr_peerid *id) {
  const wr_peerbudget_entry *e = find(b, id);
  return e ? e->bytes : 0;
}
