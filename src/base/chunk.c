#include "base/chunk.h"

#include "base/mem.h"

wr_chunk *wr_chunk_get(wr_chunk_pool *p) {
  wr_chunk *k = p->free;
  if (k) {
    p->free = k->next;
    p->nfree--;
  } else if (!(k = wr_malloc(sizeof *k))) {
    return NULL;
  }
  k->next = NULL;
  k->len = 0;
  return k;
}

void wr_chunk_put(wr_chunk_pool *p, wr_chunk *k) {
  if (p->nfree < p->max_free) {
    k->next = p->free;
    p->free = k;
    p->nfree++;
  } else {
    wr_free(k);
  }
}

void wr_chunk_put_list(wr_chunk_pool *p, wr_chunk *list) {
  while (list) {
    wr_chunk *k = list;
    list = k->next;
    wr_chunk_put(p, k);
  }
}

void wr_chunk_pool_free(wr_chunk_pool *p) {
  while (p->free) {
    wr_chunk *k = p->free;
    p->free = k->next;
    wr_free(k);
  }
  p->nfree = 0;
}
