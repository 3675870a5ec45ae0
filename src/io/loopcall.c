#include "io/loopcall.h"

#include "base/mem.h"

struct wr_loopcall {
  uv_async_t async;
  pthread_mutex_t lock;
  pthread_cond_t answered; /* broadcast: each waiter checks its own request */
  wr_loopcall_req *head, *tail;
  int closing;
  void (*closed_cb)(void *arg);
  void *closed_arg;
};

/* The worker's request carries its bridge, for done's lock. */
typedef struct posted {
  wr_loopcall_req r; /* first: fn gets &p->r */
  wr_loopcall *lc;
} posted;

static void on_async(uv_async_t *a) {
  wr_loopcall *lc = a->data;
  pthread_mutex_lock(&lc->lock);
  wr_loopcall_req *r = lc->head;
  lc->head = lc->tail = NULL;
  pthread_mutex_unlock(&lc->lock);
  while (r) {
    wr_loopcall_req *next = r->next; /* r may be gone once fn answers it */
    r->fn(r);
    r = next;
  }
}

int wr_loopcall_new(uv_loop_t *loop, wr_loopcall **plc) {
  wr_loopcall *lc = wr_calloc(1, sizeof *lc);
  if (!lc)
    return WR_ERR_NOMEM;
  pthread_mutex_init(&lc->lock, NULL);
  pthread_cond_init(&lc->answered, NULL);
  uv_async_init(loop, &lc->async, on_async);
  lc->async.data = lc;
  *plc = lc;
  return 0;
}

int wr_loopcall_run(wr_loopcall *lc, wr_loopcall_fn fn, void *arg) {
  posted p = {.r = {.fn = fn, .arg = arg}, .lc = lc};
  pthread_mutex_lock(&lc->lock);
  if (lc->closing) {
    pthread_mutex_unlock(&lc->lock);
    return WR_ERR_CLOSED;
  }
  if (lc->tail)
    lc->tail->next = &p.r;
  else
    lc->head = &p.r;
  lc->tail = &p.r;
  pthread_mutex_unlock(&lc->lock);
  uv_async_send(&lc->async);
  pthread_mutex_lock(&lc->lock);
  while (!p.r.done)
    pthread_cond_wait(&lc->answered, &lc->lock);
  pthread_mutex_unlock(&lc->lock);
  return p.r.rc;
}

void wr_loopcall_done(wr_loopcall_req *r, int rc) {
  wr_loopcall *lc = ((posted *)r)->lc;
  pthread_mutex_lock(&lc->lock);
  r->rc = rc;
  r->done = 1;
  pthread_cond_broadcast(&lc->answered);
  pthread_mutex_unlock(&lc->lock);
}

static void on_closed(uv_handle_t *h) {
  wr_loopcall *lc = h->data;
  if (lc->closed_cb)
    lc->closed_cb(lc->closed_arg);
  pthread_cond_destroy(&lc->answered);
  pthread_mutex_destroy(&lc->lock);
  wr_free(lc);
}

void wr_loopcall_close(wr_loopcall *lc, void (*cb)(void *arg), void *arg) {
  pthread_mutex_lock(&lc->lock);
  lc->closing = 1;
  wr_loopcall_req *r = lc->head;
  lc->head = lc->tail = NULL;
  pthread_mutex_unlock(&lc->lock);
  while (r) {
    wr_loopcall_req *next = r->next;
    wr_loopcall_done(r, WR_ERR_CLOSED);
    r = next;
  }
  lc->closed_cb = cb;
  lc->closed_arg = arg;
  uv_close((uv_handle_t *)&lc->async, on_closed);
}
