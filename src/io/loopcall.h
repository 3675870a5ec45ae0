/* loopcall.h: a worker thread asks the loop thread to do something and waits
 * for the answer.
 *
 * The daemon's RPC commands and the content code run on worker threads
 * (blocking LMDB reads, DAG walks), while the libp2p host, its connections
 * and its protocols live on the libuv loop and are single-threaded. A
 * command that must dial a peer, list connections or fetch a block posts a
 * request here: fn runs on the loop thread, starts whatever asynchronous
 * work it needs and, then or later (from that work's callback), calls
 * wr_loopcall_done, which wakes the worker. The worker never touches loop
 * objects itself.
 *
 * The loop side must always answer: every fn ends in wr_loopcall_done,
 * possibly after its own timeout. A request posted while the loopcall is
 * closing (or after) is answered WR_ERR_CLOSED without running fn. */
#ifndef WR_IO_LOOPCALL_H
#define WR_IO_LOOPCALL_H

#include <pthread.h>
#include <uv.h>

#include "base/err.h"

typedef struct wr_loopcall wr_loopcall;
typedef struct wr_loopcall_req wr_loopcall_req;

/* Runs on the loop thread; must lead to wr_loopcall_done(r, rc) once. */
typedef void (*wr_loopcall_fn)(wr_loopcall_req *r);

struct wr_loopcall_req {
  wr_loopcall_fn fn;
  void *arg; /* the caller's; fn reads and fills it */
  /* private */
  wr_loopcall_req *next;
  int rc, done;
};

/* Makes the bridge on loop (an async handle). 0 or WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_loopcall_new(uv_loop_t *loop, wr_loopcall **plc);
/* From a worker thread: posts r (which lives on the caller's stack until
 * this returns) and blocks until the loop side answered. Returns the rc given
 * to wr_loopcall_done, or WR_ERR_CLOSED. Never call from the loop thread. */
int wr_loopcall_run(wr_loopcall *lc, wr_loopcall_fn fn, void *arg);
/* On the loop thread: answers r and wakes its worker. r must not be used
 * after this. */
void wr_loopcall_done(wr_loopcall_req *r, int rc);
/* On the loop thread: answers the requests not yet started with
 * WR_ERR_CLOSED, refuses new ones, and frees the bridge from the loop (cb,
 * may be NULL, runs then). Requests already handed to their fn are theirs
 * to answer: close them before, or let them finish. The owner stops its
 * workers first: none may call wr_loopcall_run once the bridge is freed. */
void wr_loopcall_close(wr_loopcall *lc, void (*cb)(void *arg), void *arg);

#endif
