/* job.c: a request's command on a thread, bridged to the loop (job.h). */
#include "rpc/job.h"

#include <pthread.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"

#define IN_CAP (1024u * 1024u)
#define OUT_CAP (1024u * 1024u)
#define MAX_FIELDS 16u
#define FIELD_BYTES 4096u

struct wr_rpc_job {
  wr_http_sink sink; /* first: the front calls it */
  wr_http_req *q;    /* NULL once the exchange is over for us */
  uv_loop_t *loop;
  uv_async_t wake;
  pthread_t thread;
  wr_rpc_job_fn fn;
  void *arg;
  wr_rpc_job_done_fn on_done;
  void *owner;

  pthread_mutex_t mu;
  pthread_cond_t cv;
  /* request body: in[in_start, in_end) */
  uint8_t *in;
  size_t in_start, in_end;
  int in_eof;
  int in_blocked; /* the front was told AGAIN: resume_body once there is room */
  /* response */
  int head_state; /* 0 none, 1 queued by the worker, 2 sent by the loop */
  int status;
  size_t nfields;
  wr_h1_header fields[MAX_FIELDS];
  char field_bytes[FIELD_BYTES];
  wr_buf out, spare; /* worker appends to out; the loop swaps it with spare */
  int cut;           /* the worker wants the response ended abruptly */
  int gone;          /* the user went away (on_abort) or the response failed */
  int worker_done;
  int front_full; /* the front answered AGAIN: wait for on_writable */
  int finished;   /* end/abort called, or on_abort heard */
  int closing;
};

static void job_free(uv_handle_t *h) {
  wr_rpc_job *j = h->data;
  pthread_cond_destroy(&j->cv);
  pthread_mutex_destroy(&j->mu);
  wr_buf_free(&j->out);
  wr_buf_free(&j->spare);
  wr_free(j->in);
  wr_free(j);
}

/* On the loop: the worker has returned and the exchange is over. */
static void maybe_close(wr_rpc_job *j) {
  pthread_mutex_lock(&j->mu);
  int ready = j->worker_done && j->finished;
  pthread_mutex_unlock(&j->mu);
  if (j->closing || !ready)
    return;
  j->closing = 1;
  pthread_join(j->thread, NULL);
  if (j->on_done)
    j->on_done(j->owner, j);
  uv_close((uv_handle_t *)&j->wake, job_free);
}

/* On the loop: passes what the worker queued on to the front. */
static void pump(wr_rpc_job *j) {
  for (;;) {
    pthread_mutex_lock(&j->mu);
    if (j->finished) {
      pthread_mutex_unlock(&j->mu);
      break;
    }
    int send_head = j->head_state == 1;
    if (send_head)
      j->head_state = 2;
    int resume = 0;
    if (j->in_blocked && j->in_end - j->in_start < IN_CAP / 2) {
      j->in_blocked = 0;
      resume = 1;
    }
    int take = !j->front_full && j->out.len > 0 && j->head_state == 2;
    if (take) {
      wr_buf t = j->out;
      j->out = j->spare;
      j->spare = t;
      pthread_cond_broadcast(&j->cv); /* room for the worker */
    }
    int done = j->worker_done && j->out.len == 0 && !take;
    int cut = j->cut;
    pthread_mutex_unlock(&j->mu);

    wr_http_req *q = j->q;
    if (!q)
      break;
    if (send_head) {
      int rv = q->ops->head(q, j->status, j->fields, j->nfields, WR_HTTP_RESP_BODY);
      if (rv) {
        wr_log(WR_LOG_WARN, "RPC response head refused", "status=%d error=%s", j->status,
               wr_strerror(rv));
        cut = 1;
        done = 1;
      }
    }
    if (take && !done) {
      int rv = q->ops->body(q, j->spare.data, j->spare.len);
      j->spare.len = 0;
      if (rv == WR_ERR_AGAIN) {
        pthread_mutex_lock(&j->mu);
        j->front_full = 1;
        pthread_mutex_unlock(&j->mu);
      } else if (rv) {
        cut = 1;
        done = 1;
      }
    }
    if (!j->q) /* the user went away inside a call (on_abort): q is gone */
      break;
    if (resume)
      q->ops->resume_body(q);
    if (!j->q)
      break;
    if (done) {
      pthread_mutex_lock(&j->mu);
      int headless = j->head_state == 0;
      j->finished = 1;
      if (cut)
        j->gone = 1;
      pthread_cond_broadcast(&j->cv);
      pthread_mutex_unlock(&j->mu);
      if (headless) {
        /* The command returned without answering: a bug, not the user's. */
        static const char msg[] = "{\"Message\":\"the command gave no answer\",\"Code\":0,"
                                  "\"Type\":\"error\"}\n";
        wr_h1_header h = {{"Content-Type", 12}, {"application/json", 16}};
        if (q->ops->head(q, 500, &h, 1, WR_HTTP_RESP_BODY) == 0)
          (void)q->ops->body(q, (const uint8_t *)msg, sizeof msg - 1);
      }
      j->q = NULL;
      if (cut && !headless)
        q->ops->abort(q);
      else
        q->ops->end(q);
      break;
    }
    if (!take)
      break;
  }
  maybe_close(j);
}

static void on_wake(uv_async_t *a) { pump(a->data); }

static void wake(wr_rpc_job *j) { uv_async_send(&j->wake); }

static ssize_t s_on_body(wr_http_sink *s, const uint8_t *data, size_t len) {
  wr_rpc_job *j = (wr_rpc_job *)s;
  pthread_mutex_lock(&j->mu);
  if (j->in_start > 0 && j->in_end + len > IN_CAP) {
    memmove(j->in, j->in + j->in_start, j->in_end - j->in_start);
    j->in_end -= j->in_start;
    j->in_start = 0;
  }
  size_t room = IN_CAP - j->in_end;
  size_t n = len < room ? len : room;
  if (n) {
    memcpy(j->in + j->in_end, data, n);
    j->in_end += n;
    pthread_cond_broadcast(&j->cv);
  }
  if (n < len)
    j->in_blocked = 1;
  pthread_mutex_unlock(&j->mu);
  return n ? (ssize_t)n : WR_ERR_AGAIN;
}

static void s_on_body_end(wr_http_sink *s) {
  wr_rpc_job *j = (wr_rpc_job *)s;
  pthread_mutex_lock(&j->mu);
  j->in_eof = 1;
  pthread_cond_broadcast(&j->cv);
  pthread_mutex_unlock(&j->mu);
}

static void s_on_writable(wr_http_sink *s) {
  wr_rpc_job *j = (wr_rpc_job *)s;
  pthread_mutex_lock(&j->mu);
  j->front_full = 0;
  pthread_mutex_unlock(&j->mu);
  pump(j);
}

static void s_on_abort(wr_http_sink *s, int why, uint64_t code) {
  (void)why;
  (void)code;
  wr_rpc_job *j = (wr_rpc_job *)s;
  pthread_mutex_lock(&j->mu);
  j->gone = 1;
  j->finished = 1;
  pthread_cond_broadcast(&j->cv);
  pthread_mutex_unlock(&j->mu);
  j->q = NULL;
  maybe_close(j);
}

static const wr_http_sink_ops sink_ops = {
    .on_body = s_on_body,
    .on_body_end = s_on_body_end,
    .on_writable = s_on_writable,
    .on_abort = s_on_abort,
};

static void *worker_main(void *arg) {
  wr_rpc_job *j = arg;
  j->fn(j, j->arg);
  pthread_mutex_lock(&j->mu);
  j->worker_done = 1;
  pthread_mutex_unlock(&j->mu);
  wake(j);
  return NULL;
}

int wr_rpc_job_start(uv_loop_t *loop, wr_http_req *q, wr_rpc_job_fn fn, void *arg,
                     wr_rpc_job_done_fn on_done, void *owner) {
  wr_rpc_job *j = wr_calloc(1, sizeof *j);
  if (!j)
    return WR_ERR_NOMEM;
  j->in = wr_malloc(IN_CAP);
  if (!j->in) {
    wr_free(j);
    return WR_ERR_NOMEM;
  }
  j->sink.ops = &sink_ops;
  j->q = q;
  j->loop = loop;
  j->fn = fn;
  j->arg = arg;
  j->on_done = on_done;
  j->owner = owner;
  wr_buf_init(&j->out, OUT_CAP + 64 * 1024);
  wr_buf_init(&j->spare, OUT_CAP + 64 * 1024);
  pthread_mutex_init(&j->mu, NULL);
  pthread_cond_init(&j->cv, NULL);
  if (uv_async_init(loop, &j->wake, on_wake) != 0) {
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    wr_free(j->in);
    wr_free(j);
    return WR_ERR_IO;
  }
  j->wake.data = j;
  q->sink = &j->sink;
  if (pthread_create(&j->thread, NULL, worker_main, j) != 0) {
    q->sink = NULL;
    j->closing = 1;
    j->on_done = NULL;
    uv_close((uv_handle_t *)&j->wake, job_free);
    return WR_ERR_IO;
  }
  return 0;
}

ssize_t wr_rpc_job_read(wr_rpc_job *j, uint8_t *buf, size_t n) {
  pthread_mutex_lock(&j->mu);
  while (j->in_start == j->in_end && !j->in_eof && !j->gone)
    pthread_cond_wait(&j->cv, &j->mu);
  ssize_t rv;
  if (j->gone) {
    rv = WR_ERR_CLOSED;
  } else {
    size_t have = j->in_end - j->in_start;
    size_t k = n < have ? n : have;
    memcpy(buf, j->in + j->in_start, k);
    j->in_start += k;
    if (j->in_start == j->in_end)
      j->in_start = j->in_end = 0;
    rv = (ssize_t)k;
  }
  int kick = j->in_blocked;
  pthread_mutex_unlock(&j->mu);
  if (kick)
    wake(j);
  return rv;
}

int wr_rpc_job_head(wr_rpc_job *j, int status, const wr_h1_header *hs, size_t n) {
  if (n > MAX_FIELDS)
    return WR_ERR_LIMIT;
  pthread_mutex_lock(&j->mu);
  int rv = 0;
  if (j->gone)
    rv = WR_ERR_CLOSED;
  else if (j->head_state)
    rv = WR_ERR_INVAL;
  size_t used = 0;
  for (size_t i = 0; i < n && !rv; i++) {
    size_t need = hs[i].name.len + hs[i].value.len;
    if (used + need > FIELD_BYTES) {
      rv = WR_ERR_LIMIT;
      break;
    }
    char *p = j->field_bytes + used;
    memcpy(p, hs[i].name.p, hs[i].name.len);
    memcpy(p + hs[i].name.len, hs[i].value.p, hs[i].value.len);
    j->fields[i].name = (wr_h1_slice){p, hs[i].name.len};
    j->fields[i].value = (wr_h1_slice){p + hs[i].name.len, hs[i].value.len};
    used += need;
  }
  if (!rv) {
    j->nfields = n;
    j->status = status;
    j->head_state = 1;
  }
  pthread_mutex_unlock(&j->mu);
  if (!rv)
    wake(j);
  return rv;
}

int wr_rpc_job_head_sent(wr_rpc_job *j) {
  pthread_mutex_lock(&j->mu); /* the loop moves it from 1 to 2 */
  int sent = j->head_state != 0;
  pthread_mutex_unlock(&j->mu);
  return sent;
}

int wr_rpc_job_write(wr_rpc_job *j, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n) {
    pthread_mutex_lock(&j->mu);
    while (j->out.len >= OUT_CAP && !j->gone)
      pthread_cond_wait(&j->cv, &j->mu);
    if (j->gone) {
      pthread_mutex_unlock(&j->mu);
      return WR_ERR_CLOSED;
    }
    size_t room = OUT_CAP - j->out.len;
    size_t k = n < room ? n : room;
    int was_empty = j->out.len == 0;
    int rv = wr_buf_append(&j->out, b, k);
    pthread_mutex_unlock(&j->mu);
    if (rv)
      return rv;
    if (was_empty)
      wake(j);
    b += k;
    n -= k;
  }
  return 0;
}

void wr_rpc_job_cut(wr_rpc_job *j) {
  pthread_mutex_lock(&j->mu);
  j->cut = 1;
  pthread_mutex_unlock(&j->mu);
}
