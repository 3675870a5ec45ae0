/* chunk.h: fixed-size byte chunks for send queues, recycled through a pool.
 *
 * A stream's queued bytes live in a list of chunks: writes fill the tail,
 * acknowledgements free from the head, so no byte moves once written. The
 * pool keeps up to max_free spent chunks for the next writes, so a busy
 * transport allocates nothing in steady state. */
#ifndef WR_BASE_CHUNK_H
#define WR_BASE_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#define WR_CHUNK_SIZE (16 * 1024)

typedef struct wr_chunk {
  struct wr_chunk *next;
  size_t len; /* bytes used in data */
  uint8_t data[WR_CHUNK_SIZE];
} wr_chunk;

typedef struct wr_chunk_pool {
  wr_chunk *free;
  size_t nfree, max_free;
} wr_chunk_pool;

static inline void wr_chunk_pool_init(wr_chunk_pool *p, size_t max_free) {
  p->free = NULL;
  p->nfree = 0;
  p->max_free = max_free;
}
/* An empty chunk (next NULL, len 0), or NULL when out of memory. */
wr_chunk *wr_chunk_get(wr_chunk_pool *p);
/* Gives back one chunk (its next is ignored): kept or freed. */
void wr_chunk_put(wr_chunk_pool *p, wr_chunk *k);
/* Gives back a next-linked list of chunks (NULL is fine). */
void wr_chunk_put_list(wr_chunk_pool *p, wr_chunk *list);
/* Frees the pool's spare chunks. */
void wr_chunk_pool_free(wr_chunk_pool *p);

#endif
