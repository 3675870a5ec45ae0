/* rbuf.h: read buffers lent while bytes arrive.
 *
 * A connection needs a 64 KiB buffer only while a read is in progress or
 * while received bytes wait to be parsed; an idle one (a keep-alive user, a
 * slow client that sent half a request line) should hold none. These
 * buffers are lent per thread: wr_rbuf_get takes a spare (or allocates), and
 * wr_rbuf_put gives it back, keeping at most WR_RBUF_SPARES for the next
 * reader and freeing the rest. So 10,000 idle connections cost no read
 * buffers, and a busy loop allocates none per read.
 *
 * Single-threaded per pool: each thread has its own spares. */
#ifndef WR_BASE_RBUF_H
#define WR_BASE_RBUF_H

#include <stddef.h>
#include <stdint.h>

#define WR_RBUF_SIZE (64u * 1024u)
#define WR_RBUF_SPARES 8

/* A buffer of WR_RBUF_SIZE bytes (contents undefined), or NULL when out of
 * memory. Give it back with wr_rbuf_put. */
uint8_t *wr_rbuf_get(void);
/* Gives a buffer from wr_rbuf_get back (NULL is ignored). */
void wr_rbuf_put(uint8_t *b);
/* Frees this thread's spares (tests that count memory; exit paths). */
void wr_rbuf_trim(void);
/* Buffers lent out and not given back yet, on this thread. */
size_t wr_rbuf_lent(void);

#endif
