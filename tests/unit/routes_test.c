#include "tunnel/routes.h"
#include "base/mem.h"
#include "test.h"

static const uint8_t ID_A[16] = {1}, ID_B[16] = {2}, ID_C[16] = {3};

static wr_routes *two_tunnels(void) {
  wr_routes *r = wr_routes_new();
  const char *a[] = {"app.example.com", "*.example.com"};
  const char *b[] = {"API.Example.COM", "*.eu.example.com"};
  CHECK_EQ(wr_routes_add_tunnel(r, ID_A, "a", a, 2, NULL), 0);
  CHECK_EQ(wr_routes_add_tunnel(r, ID_B, "b", b, 2, NULL), 0);
  return r;
}

static void test_lookup_exact_wildcard_and_port(void) {
  wr_routes *r = two_tunnels();
  wr_route_tunnel *a = wr_routes_lookup_id(r, ID_A), *b = wr_routes_lookup_id(r, ID_B);
  CHECK(a && b && a != b);
  CHECK(wr_routes_lookup_host(r, "app.example.com", 15) == a);
  CHECK(wr_routes_lookup_host(r, "App.Example.Com:8080", 20) == a);
  CHECK(wr_routes_lookup_host(r, "api.example.com.", 16) == b);
  CHECK(wr_routes_lookup_host(r, "x.y.example.com", 15) == a);  /* several labels */
  CHECK(wr_routes_lookup_host(r, "x.eu.example.com", 16) == b); /* longer suffix wins */
  CHECK(wr_routes_lookup_host(r, "example.com", 11) == NULL);   /* wildcard needs a label */
  CHECK(wr_routes_lookup_host(r, "other.org", 9) == NULL);
  CHECK(wr_routes_lookup_host(r, "", 0) == NULL);
  CHECK(wr_routes_lookup_host(r, "bad host", 8) == NULL);
  wr_routes_del(r);
}

static void test_conflicts_refused_and_nothing_added(void) {
  wr_routes *r = two_tunnels();
  const char *dup[] = {"new.org", "APP.example.com"};
  const char *conflict = NULL;
  CHECK_EQ(wr_routes_add_tunnel(r, ID_C, "c", dup, 2, &conflict), WR_ERR_EXISTS);
  CHECK_STREQ(conflict, "APP.example.com");
  CHECK(wr_routes_lookup_host(r, "new.org", 7) == NULL);
  CHECK(wr_routes_lookup_id(r, ID_C) == NULL);
  const char *bad[] = {"a*b.org"};
  CHECK_EQ(wr_routes_add_tunnel(r, ID_C, "c", bad, 1, NULL), WR_ERR_INVAL);
  CHECK_EQ(wr_routes_add_tunnel(r, ID_A, "again", NULL, 0, NULL), WR_ERR_EXISTS);
  wr_routes_del(r);
}

static void test_pick_fewest_inflight_round_robin_drain(void) {
  wr_routes *r = two_tunnels();
  wr_route_tunnel *t = wr_routes_lookup_id(r, ID_A);
  int c0, c1, c2;
  CHECK(wr_routes_pick(t, NULL) == NULL); /* offline */
  CHECK_EQ(wr_routes_register(t, &c0, 0), 0);
  CHECK_EQ(wr_routes_register(t, &c1, 1), 0);
  CHECK_EQ(wr_routes_register(t, &c2, 2), 0);
  CHECK_EQ(wr_routes_register(t, &c2, 2), WR_ERR_EXISTS);
  /* Equal load: consecutive picks rotate over all three. */
  void *seen[3];
  for (int i = 0; i < 3; i++)
    seen[i] = wr_routes_pick(t, NULL)->conn;
  CHECK(seen[0] != seen[1] && seen[1] != seen[2] && seen[0] != seen[2]);
  wr_routes_find(t, &c0)->inflight = 5;
  wr_routes_find(t, &c1)->inflight = 1;
  wr_routes_find(t, &c2)->inflight = 3;
  CHECK(wr_routes_pick(t, NULL)->conn == &c1);
  CHECK(wr_routes_pick(t, &c1)->conn == &c2); /* retry avoids the failed one */
  wr_routes_drain(t, &c1);
  CHECK_EQ(wr_routes_ready(t), 2);
  CHECK(wr_routes_pick(t, NULL)->conn == &c2);
  wr_routes_unregister(t, &c2);
  wr_routes_unregister(t, &c2);
  CHECK(wr_routes_pick(t, NULL)->conn == &c0);
  wr_routes_unregister(t, &c0);
  CHECK(wr_routes_pick(t, NULL) == NULL); /* only a draining one left */
  wr_routes_del(r);
}

static void test_unresponsive_is_the_last_resort(void) {
  wr_routes *r = two_tunnels();
  wr_route_tunnel *t = wr_routes_lookup_id(r, ID_A);
  int c0, c1;
  CHECK_EQ(wr_routes_register(t, &c0, 0), 0);
  CHECK_EQ(wr_routes_register(t, &c1, 1), 0);
  wr_routes_find(t, &c0)->unresponsive = 1;
  wr_routes_find(t, &c1)->inflight = 50; /* busier, but answering */
  for (int i = 0; i < 4; i++)
    CHECK(wr_routes_pick(t, NULL)->conn == &c1);
  CHECK(wr_routes_pick(t, &c1)->conn == &c0); /* still better than nothing */
  /* ... but never for a retry of a request whose connection went silent. */
  CHECK(wr_routes_pick_live(t, NULL, 0, 0)->conn == &c1);
  CHECK(wr_routes_pick_live(t, &c1, 0, 0) == NULL);
  wr_routes_find(t, &c1)->unresponsive = 1;
  CHECK(wr_routes_pick_live(t, NULL, 0, 0) == NULL);
  CHECK(wr_routes_pick(t, NULL)->conn == &c0); /* both silent: fewest in flight */
  wr_routes_del(r);
}

/* A retry goes to another connector process when there is one, busier or
 * not; to a sibling only when nothing else is left. */
static void test_retry_prefers_another_connector(void) {
  wr_routes *r = two_tunnels();
  wr_route_tunnel *t = wr_routes_lookup_id(r, ID_A);
  int a0, a1, b0;
  CHECK_EQ(wr_routes_register(t, &a0, 0), 0);
  CHECK_EQ(wr_routes_register(t, &a1, 1), 0);
  CHECK_EQ(wr_routes_register(t, &b0, 0), 0);
  wr_routes_find(t, &a0)->group = wr_routes_find(t, &a1)->group = 7;
  wr_routes_find(t, &b0)->group = 9;
  wr_routes_find(t, &b0)->inflight = 40;
  for (int i = 0; i < 4; i++)
    CHECK(wr_routes_pick_live(t, &a0, 7, 0)->conn == &b0);
  CHECK(wr_routes_pick(t, &a0)->conn == &a1); /* a first try: fewest in flight */
  wr_routes_drain(t, &b0);
  CHECK(wr_routes_pick_live(t, &a0, 7, 0)->conn == &a1);
  CHECK(wr_routes_pick_live(t, &a0, 7, 1) == NULL); /* only another group would do */
  wr_routes_del(r);
}

static void test_alloc_failure_leaves_table_unchanged(void) {
  for (long n = 0; n < 10; n++) {
    wr_routes *r = wr_routes_new();
    const char *h[] = {"a.org", "*.b.org"};
    wr_mem_fail_after(n);
    int rv = wr_routes_add_tunnel(r, ID_A, "a", h, 2, NULL);
    wr_mem_fail_after(-1);
    if (rv == 0)
      CHECK(wr_routes_lookup_host(r, "x.b.org", 7) != NULL);
    else
      CHECK(rv == WR_ERR_NOMEM && wr_routes_lookup_host(r, "a.org", 5) == NULL &&
            wr_routes_lookup_id(r, ID_A) == NULL);
    wr_routes_del(r);
  }
}

int main(void) {
  RUN(test_lookup_exact_wildcard_and_port);
  RUN(test_conflicts_refused_and_nothing_added);
  RUN(test_pick_fewest_inflight_round_robin_drain);
  RUN(test_unresponsive_is_the_last_resort);
  RUN(test_retry_prefers_another_connector);
  RUN(test_alloc_failure_leaves_table_unchanged);
  return test_done();
}
