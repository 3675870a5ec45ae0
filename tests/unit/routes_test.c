#include "tunnel/routes.h"
#include "base/mem.h"
#include "test.h"

#include <string.h>

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

/* A reloaded set: B stays (same object, its connection kept, a hostname
 * changed), A is retired (found no more, still valid), C is added; the
 * verdicts say which. */
static void test_sync_replaces_the_set(void) {
  wr_routes *r = two_tunnels();
  wr_route_tunnel *a = wr_routes_lookup_id(r, ID_A), *b = wr_routes_lookup_id(r, ID_B);
  int conn = 0;
  CHECK_EQ(wr_routes_register(a, &conn, 0), 0);
  CHECK_EQ(wr_routes_register(b, &conn, 1), 0);
  const char *bh[] = {"api.example.com", "*.eu.example.com", "b2.example.org"};
  const char *ch[] = {"app.example.com"}; /* A's name, now C's */
  wr_routes_spec v[] = {{.name = "b", .hosts = bh, .nhosts = 3},
                        {.name = "c", .hosts = ch, .nhosts = 1}};
  memcpy(v[0].id, ID_B, 16);
  memcpy(v[1].id, ID_C, 16);
  unsigned flags[2];
  CHECK_EQ(wr_routes_sync(r, v, 2, flags, NULL), 0);
  CHECK_EQ(flags[0], WR_ROUTES_HOSTS_CHANGED);
  CHECK_EQ(flags[1], WR_ROUTES_ADDED);
  CHECK(wr_routes_lookup_id(r, ID_A) == NULL);
  CHECK(a->retired && a->nconns == 1); /* still valid for its holders */
  CHECK(wr_routes_lookup_id(r, ID_B) == b && !b->retired && b->nconns == 1);
  wr_route_tunnel *c = wr_routes_lookup_id(r, ID_C);
  CHECK(c && c != a && c->nconns == 0);
  CHECK(wr_routes_lookup_host(r, "app.example.com", 15) == c);
  CHECK(wr_routes_lookup_host(r, "x.example.com", 13) == NULL); /* A's wildcard is gone */
  CHECK(wr_routes_lookup_host(r, "b2.example.org", 14) == b);
  CHECK(wr_routes_lookup_host(r, "x.eu.example.com", 16) == b);
  wr_route_tunnel *const *ret;
  CHECK_EQ(wr_routes_retired(r, &ret), 1);
  CHECK(ret[0] == a);
  wr_routes_unregister(a, &conn);
  /* The same set again: nothing changes; a rename is reported. */
  v[1].name = "c2";
  CHECK_EQ(wr_routes_sync(r, v, 2, flags, NULL), 0);
  CHECK_EQ(flags[0], 0);
  CHECK_EQ(flags[1], WR_ROUTES_RENAMED);
  CHECK_STREQ(c->name, "c2");
  wr_route_tunnel *const *all;
  CHECK_EQ(wr_routes_tunnels(r, &all), 2);
  /* Refused sets leave the table as it was. */
  const char *dup[] = {"b2.example.org"};
  wr_routes_spec bad[] = {v[0], {.name = "d", .hosts = dup, .nhosts = 1}};
  bad[1].id[0] = 9;
  const char *why = NULL;
  CHECK_EQ(wr_routes_sync(r, bad, 2, NULL, &why), WR_ERR_EXISTS);
  CHECK_STREQ(why, "b2.example.org");
  const char *inval[] = {"a*b.org"};
  bad[1].hosts = inval;
  CHECK_EQ(wr_routes_sync(r, bad, 2, NULL, &why), WR_ERR_INVAL);
  CHECK_STREQ(why, "a*b.org");
  wr_routes_spec twice[] = {v[0], v[0]};
  twice[1].hosts = NULL;
  twice[1].nhosts = 0;
  CHECK_EQ(wr_routes_sync(r, twice, 2, NULL, &why), WR_ERR_EXISTS);
  CHECK(wr_routes_lookup_host(r, "app.example.com", 15) == c);
  CHECK(wr_routes_lookup_id(r, bad[1].id) == NULL);
  /* Every allocation failing in turn: an error or success, never a
   * half-changed table. */
  const char *nh[] = {"new.example.net", "*.new.example.net"};
  wr_routes_spec next[] = {v[0], {.name = "n", .hosts = nh, .nhosts = 2}};
  next[1].id[0] = 7;
  for (long k = 0;; k++) {
    wr_mem_fail_after(k);
    int rc = wr_routes_sync(r, next, 2, NULL, NULL);
    wr_mem_fail_after(-1);
    if (rc == 0)
      break;
    CHECK_EQ(rc, WR_ERR_NOMEM);
    CHECK(wr_routes_lookup_host(r, "app.example.com", 15) == c);
    CHECK(wr_routes_lookup_host(r, "new.example.net", 15) == NULL);
  }
  CHECK(wr_routes_lookup_host(r, "x.new.example.net", 17) == wr_routes_lookup_id(r, next[1].id));
  CHECK(c->retired);
  wr_routes_del(r);
}

int main(void) {
  RUN(test_lookup_exact_wildcard_and_port);
  RUN(test_conflicts_refused_and_nothing_added);
  RUN(test_pick_fewest_inflight_round_robin_drain);
  RUN(test_unresponsive_is_the_last_resort);
  RUN(test_retry_prefers_another_connector);
  RUN(test_alloc_failure_leaves_table_unchanged);
  RUN(test_sync_replaces_the_set);
  return test_done();
}
