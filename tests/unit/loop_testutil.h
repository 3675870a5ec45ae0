/* loop_testutil.h: running a libuv loop in unit tests, bounded in time, and
 * the addresses those tests bind and dial. */
#ifndef WR_LOOP_TESTUTIL_H
#define WR_LOOP_TESTUTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

static inline void test_deadline_cb(uv_timer_t *t) { *(int *)t->data = 1; }

/* Runs loop until cond(arg) holds or ms pass (cond NULL: for ms). Returns
 * cond's last answer (0 without one). Its own timer is closed again. */
static inline int test_run_until(uv_loop_t *loop, int (*cond)(const void *arg), const void *arg,
                                 uint64_t ms) {
  int timed_out = 0;
  uv_timer_t t;
  uv_timer_init(loop, &t);
  t.data = &timed_out;
  uv_timer_start(&t, test_deadline_cb, ms, 0);
  while (!(cond && cond(arg)) && !timed_out)
    uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return cond ? cond(arg) : 0;
}

/* The same for conditions that take no argument (NULL: run for ms). */
typedef int (*test_cond_fn)(void);
static inline test_cond_fn *test_cond_slot(void) {
  static test_cond_fn fn;
  return &fn;
}
static inline int test_call_cond(const void *unused) {
  (void)unused;
  return (*test_cond_slot())();
}
static inline int test_run_until_fn(uv_loop_t *loop, test_cond_fn cond, uint64_t ms) {
  *test_cond_slot() = cond;
  return test_run_until(loop, cond ? test_call_cond : NULL, NULL, ms);
}

/* A condition for test_run_until: the int at flag is set. */
static inline int test_flag_set(const void *flag) { return *(const volatile int *)flag != 0; }

/* ip ("127.0.0.1", "::1") and port as a socket address. */
static inline struct sockaddr_storage test_addr(const char *ip, uint16_t port) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  if (strchr(ip, ':')) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &a->sin6_addr);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    inet_pton(AF_INET, ip, &a->sin_addr);
  }
  return ss;
}

#endif
