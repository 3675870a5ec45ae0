/* loopcall: workers wait for the loop's answers, given at once or later from a
 * timer; close answers what never started. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/loopcall.h"
#include "test.h"

typedef struct later {
  uv_timer_t t;
  wr_loopcall_req *r;
} later;

static pthread_t loop_thread;

/* Answers at once with the argument plus one. */
static void add_one(wr_loopcall_req *r) {
  int *v = r->arg;
  CHECK(pthread_equal(pthread_self(), loop_thread));
  (*v)++;
  wr_loopcall_done(r, 0);
}

static void on_later(uv_timer_t *t) {
  later *l = t->data;
  wr_loopcall_done(l->r, 7);
  uv_close((uv_handle_t *)t, (uv_close_cb)free);
}

/* Answers from a timer 10 ms later, as an asynchronous operation would. */
static void answer_later(wr_loopcall_req *r) {
  later *l = malloc(sizeof *l);
  uv_timer_init(uv_default_loop(), &l->t);
  l->t.data = l;
  l->r = r;
  uv_timer_start(&l->t, on_later, 10, 0);
}

typedef struct worker {
  wr_loopcall *lc;
  int value, rc_now, rc_later;
} worker;

static void *work(void *arg) {
  worker *w = arg;
  for (int i = 0; i < 100; i++)
    w->rc_now |= wr_loopcall_run(w->lc, add_one, &w->value);
  w->rc_later = wr_loopcall_run(w->lc, answer_later, NULL);
  return NULL;
}

static int nworkers_done;
static void *work_and_count(void *arg) {
  work(arg);
  __atomic_add_fetch(&nworkers_done, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

static void on_idle_check(uv_timer_t *t) {
  wr_loopcall *lc = t->data;
  if (__atomic_load_n(&nworkers_done, __ATOMIC_SEQ_CST) == 4) {
    wr_loopcall_close(lc, NULL, NULL);
    uv_close((uv_handle_t *)t, NULL);
  }
}

static void test_workers_get_answers(void) {
  uv_loop_t *loop = uv_default_loop();
  loop_thread = pthread_self();
  wr_loopcall *lc;
  CHECK_EQ(wr_loopcall_new(loop, &lc), 0);
  worker w[4];
  pthread_t th[4];
  for (int i = 0; i < 4; i++) {
    w[i] = (worker){.lc = lc};
    pthread_create(&th[i], NULL, work_and_count, &w[i]);
  }
  uv_timer_t check;
  uv_timer_init(loop, &check);
  check.data = lc;
  uv_timer_start(&check, on_idle_check, 1, 1);
  uv_run(loop, UV_RUN_DEFAULT);
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    CHECK_EQ(w[i].value, 100);
    CHECK_EQ(w[i].rc_now, 0);
    CHECK_EQ(w[i].rc_later, 7);
  }
}

/* Never answers: the request stays queued until close answers it. */
static void *run_once(void *arg) {
  worker *w = arg;
  w->rc_now = wr_loopcall_run(w->lc, add_one, &w->value);
  return NULL;
}

static void test_close_answers_what_never_started(void) {
  uv_loop_t *loop = uv_default_loop();
  wr_loopcall *lc;
  CHECK_EQ(wr_loopcall_new(loop, &lc), 0);
  worker w = {.lc = lc};
  pthread_t th;
  pthread_create(&th, NULL, run_once, &w);
  /* The loop does not run, so the request waits in the queue (or, if the
   * worker is slow, meets a closed bridge): either way it is answered
   * WR_ERR_CLOSED and fn never runs. */
  struct timespec ts = {0, 20000000};
  nanosleep(&ts, NULL);
  wr_loopcall_close(lc, NULL, NULL);
  pthread_join(th, NULL);
  CHECK_EQ(w.rc_now, WR_ERR_CLOSED);
  CHECK_EQ(w.value, 0);
  uv_run(loop, UV_RUN_DEFAULT);
}

int main(void) {
  RUN(test_workers_get_answers);
  RUN(test_close_answers_what_never_started);
  return test_done();
}
