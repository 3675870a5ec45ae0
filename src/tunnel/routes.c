#include "tunnel/routes.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

typedef struct host_entry {
  char *host; /* normalised; wildcards stored without the "*." */
  wr_route_tunnel *tunnel;
} host_entry;

struct wr_routes {
  wr_route_tunnel **tunnels;
  size_t ntunnels;
  wr_route_tunnel **retired; /* removed by a sync, freed with the table */
  size_t nretired;
  host_entry *exact, *wild; /* each sorted by host */
  size_t nexact, nwild;
};

wr_routes *wr_routes_new(void) { return wr_calloc(1, sizeof(wr_routes)); }

void wr_routes_del(wr_routes *r) {
  if (!r)
    return;
  for (size_t i = 0; i < r->nexact; i++)
    wr_free(r->exact[i].host);
  for (size_t i = 0; i < r->nwild; i++)
    wr_free(r->wild[i].host);
  for (size_t i = 0; i < r->ntunnels; i++) {
    wr_free(r->tunnels[i]->name);
    wr_free(r->tunnels[i]);
  }
  for (size_t i = 0; i < r->nretired; i++) {
    wr_free(r->retired[i]->name);
    wr_free(r->retired[i]);
  }
  wr_free(r->retired);
  wr_free(r->exact);
  wr_free(r->wild);
  wr_free(r->tunnels);
  wr_free(r);
}

int wr_routes_normalize_host(const char *host, size_t len, char *out) {
  if (len && host[0] == '[') { /* IP literal: keep up to the bracket */
    const char *end = memchr(host, ']', len);
    if (!end || (size_t)(end - host) + 1 > WR_ROUTES_HOST_MAX)
      return WR_ERR_INVAL;
    len = (size_t)(end - host) + 1;
    memcpy(out, host, len);
    out[len] = '\0';
    return 0;
  }
  const char *colon = memchr(host, ':', len);
  if (colon)
    len = (size_t)(colon - host);
  if (len && host[len - 1] == '.')
    len--;
  if (len == 0 || len > WR_ROUTES_HOST_MAX)
    return WR_ERR_INVAL;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)host[i];
    if (!isalnum(c) && c != '-' && c != '.' && c != '_' && c != '*')
      return WR_ERR_INVAL;
    out[i] = (char)tolower(c);
  }
  out[len] = '\0';
  return 0;
}

static int cmp_entry(const void *a, const void *b) {
  return strcmp(((const host_entry *)a)->host, ((const host_entry *)b)->host);
}

static host_entry *find_entry(host_entry *v, size_t n, const char *host) {
  host_entry key = {.host = (char *)host};
  return n ? bsearch(&key, v, n, sizeof *v, cmp_entry) : NULL;
}

wr_route_tunnel *wr_routes_lookup_id(const wr_routes *r, const uint8_t id[16]) {
  for (size_t i = 0; i < r->ntunnels; i++)
    if (memcmp(r->tunnels[i]->id, id, 16) == 0)
      return r->tunnels[i];
  return NULL;
}

int wr_routes_add_tunnel(wr_routes *r, const uint8_t id[16], const char *name,
                         const char *const *hosts, size_t nhosts, const char **pconflict) {
  if (wr_routes_lookup_id(r, id)) {
    if (pconflict)
      *pconflict = name;
    return WR_ERR_EXISTS;
  }
  /* Normalise and check every name before changing anything. */
  char(*norm)[WR_ROUTES_HOST_MAX + 1] = wr_malloc((nhosts ? nhosts : 1) * sizeof *norm);
  if (!norm)
    return WR_ERR_NOMEM;
  size_t nw = 0;
  int rv = 0;
  for (size_t i = 0; i < nhosts && !rv; i++) {
    if (wr_routes_normalize_host(hosts[i], strlen(hosts[i]), norm[i]) ||
        strchr(norm[i] + (strncmp(norm[i], "*.", 2) == 0 ? 2 : 0), '*')) {
      rv = WR_ERR_INVAL;
    } else {
      int wild = strncmp(norm[i], "*.", 2) == 0;
      const char *key = norm[i] + (wild ? 2 : 0);
      int dup = find_entry(wild ? r->wild : r->exact, wild ? r->nwild : r->nexact, key) != NULL;
      for (size_t j = 0; j < i && !dup; j++)
        dup = strcmp(norm[j], norm[i]) == 0;
      if (dup)
        rv = WR_ERR_EXISTS;
      nw += (size_t)wild;
    }
    if (rv && pconflict)
      *pconflict = hosts[i];
  }
  wr_route_tunnel *t = NULL;
  host_entry *exact = NULL, *wild = NULL;
  wr_route_tunnel **tunnels = NULL;
  if (rv)
    goto out;
  rv = WR_ERR_NOMEM;
  t = wr_calloc(1, sizeof *t);
  exact = wr_realloc(r->exact, (r->nexact + nhosts - nw + 1) * sizeof *exact);
  if (exact)
    r->exact = exact;
  wild = wr_realloc(r->wild, (r->nwild + nw + 1) * sizeof *wild);
  if (wild)
    r->wild = wild;
  tunnels = wr_realloc(r->tunnels, (r->ntunnels + 1) * sizeof *tunnels);
  if (tunnels)
    r->tunnels = tunnels;
  if (!t || !exact || !wild || !tunnels || !(t->name = wr_strdup(name)))
    goto out;
  size_t ne = r->nexact, nwi = r->nwild;
  for (size_t i = 0; i < nhosts; i++) {
    int is_wild = strncmp(norm[i], "*.", 2) == 0;
    char *h = wr_strdup(norm[i] + (is_wild ? 2 : 0));
    if (!h) { /* undo the entries added so far */
      for (size_t j = r->nexact; j < ne; j++)
        wr_free(r->exact[j].host);
      for (size_t j = r->nwild; j < nwi; j++)
        wr_free(r->wild[j].host);
      goto out;
    }
    host_entry e = {h, t};
    if (is_wild)
      r->wild[nwi++] = e;
    else
      r->exact[ne++] = e;
  }
  memcpy(t->id, id, 16);
  r->nexact = ne;
  r->nwild = nwi;
  qsort(r->exact, r->nexact, sizeof *r->exact, cmp_entry);
  qsort(r->wild, r->nwild, sizeof *r->wild, cmp_entry);
  r->tunnels[r->ntunnels++] = t;
  t = NULL;
  rv = 0;
out:
  if (t)
    wr_free(t->name);
  wr_free(t);
  wr_free(norm);
  return rv;
}

wr_route_tunnel *wr_routes_lookup_host(const wr_routes *r, const char *host, size_t len) {
  char h[WR_ROUTES_HOST_MAX + 1];
  if (wr_routes_normalize_host(host, len, h))
    return NULL;
  host_entry *e = find_entry(r->exact, r->nexact, h);
  if (e)
    return e->tunnel;
  /* Longest wildcard suffix first: try each parent domain in turn. */
  for (const char *dot = strchr(h, '.'); dot; dot = strchr(dot + 1, '.')) {
    e = find_entry(r->wild, r->nwild, dot + 1);
    if (e)
      return e->tunnel;
  }
  return NULL;
}

wr_route_conn *wr_routes_find(wr_route_tunnel *t, const void *conn) {
  for (size_t i = 0; i < t->nconns; i++)
    if (t->conns[i].conn == conn)
      return &t->conns[i];
  return NULL;
}

int wr_routes_register(wr_route_tunnel *t, void *conn, unsigned index) {
  if (wr_routes_find(t, conn))
    return WR_ERR_EXISTS;
  if (t->nconns == WR_ROUTES_MAX_CONNS)
    return WR_ERR_LIMIT;
  t->conns[t->nconns++] = (wr_route_conn){.conn = conn, .index = index};
  return 0;
}

void wr_routes_unregister(wr_route_tunnel *t, void *conn) {
  wr_route_conn *c = wr_routes_find(t, conn);
  if (!c)
    return;
  *c = t->conns[--t->nconns];
}

void wr_routes_drain(wr_route_tunnel *t, void *conn) {
  wr_route_conn *c = wr_routes_find(t, conn);
  if (c)
    c->draining = 1;
}

/* How much a connection is worth for a request: lower is better. */
static int rank(const wr_route_conn *c, uint64_t avoid_group) {
  return 2 * c->unresponsive + (avoid_group && c->group == avoid_group);
}

static wr_route_conn *pick(wr_route_tunnel *t, const void *avoid, int live_only,
                           uint64_t avoid_group, int other_group_only) {
  wr_route_conn *best = NULL;
  for (size_t k = 0; k < t->nconns; k++) {
    wr_route_conn *c = &t->conns[(t->rr + k) % t->nconns];
    if (c->draining || c->conn == avoid || (live_only && c->unresponsive) ||
        (other_group_only && avoid_group && c->group == avoid_group))
      continue;
    int rc = rank(c, avoid_group), rb = best ? rank(best, avoid_group) : 0;
    if (!best || rc < rb || (rc == rb && c->inflight < best->inflight))
      best = c;
  }
  if (t->nconns)
    t->rr = (t->rr + 1) % t->nconns;
  return best;
}

wr_route_conn *wr_routes_pick(wr_route_tunnel *t, const void *avoid) {
  return pick(t, avoid, 0, 0, 0);
}

wr_route_conn *wr_routes_pick_live(wr_route_tunnel *t, const void *avoid, uint64_t avoid_group,
                                   int other_group_only) {
  return pick(t, avoid, 1, avoid_group, other_group_only);
}

size_t wr_routes_ready(const wr_route_tunnel *t) {
  size_t n = 0;
  for (size_t i = 0; i < t->nconns; i++)
    n += !t->conns[i].draining;
  return n;
}

/* ---- replacing the whole set (a reloaded tunnels file) ------------------ */

size_t wr_routes_retired(const wr_routes *r, wr_route_tunnel *const **pv) {
  *pv = r->retired;
  return r->nretired;
}

size_t wr_routes_tunnels(const wr_routes *r, wr_route_tunnel *const **pv) {
  *pv = r->tunnels;
  return r->ntunnels;
}

/* Whether tunnel t has exactly the nv normalised names v (wildcards with
 * their "*.") in the current tables. */
static int same_hosts(const wr_routes *r, const wr_route_tunnel *t, const host_entry *v,
                      size_t nv) {
  size_t had = 0;
  for (size_t i = 0; i < r->nexact; i++)
    had += r->exact[i].tunnel == t;
  for (size_t i = 0; i < r->nwild; i++)
    had += r->wild[i].tunnel == t;
  if (had != nv)
    return 0;
  for (size_t i = 0; i < nv; i++) {
    int wild = v[i].host[0] == '*';
    const host_entry *e = find_entry(wild ? r->wild : r->exact, wild ? r->nwild : r->nexact,
                                     v[i].host + (wild ? 2 : 0));
    if (!e || e->tunnel != t)
      return 0;
  }
  return 1;
}

/* The hostname of v whose normalised form is norm (the first). */
static const char *given_name(const wr_routes_spec *v, size_t n, const char *norm) {
  char h[WR_ROUTES_HOST_MAX + 1];
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < v[i].nhosts; k++)
      if (wr_routes_normalize_host(v[i].hosts[k], strlen(v[i].hosts[k]), h) == 0 &&
          strcmp(h, norm) == 0)
        return v[i].hosts[k];
  return NULL;
}

int wr_routes_sync(wr_routes *r, const wr_routes_spec *v, size_t n, unsigned *flags,
                   const char **pconflict) {
  size_t nhosts = 0;
  for (size_t i = 0; i < n; i++)
    nhosts += v[i].nhosts;
  int rv = WR_ERR_NOMEM;
  /* Everything new is built aside; the table changes only at the end. */
  wr_route_tunnel **tunnels = wr_calloc(n ? n : 1, sizeof *tunnels);
  char **names = wr_calloc(n ? n : 1, sizeof *names);
  host_entry *all = wr_calloc(nhosts ? nhosts : 1, sizeof *all); /* "*.x" kept as given */
  host_entry *exact = wr_calloc(nhosts ? nhosts : 1, sizeof *exact);
  host_entry *wild = wr_calloc(nhosts ? nhosts : 1, sizeof *wild);
  wr_route_tunnel **retired =
      wr_realloc(r->retired, (r->nretired + r->ntunnels + 1) * sizeof *retired);
  if (retired)
    r->retired = retired;
  size_t nall = 0, ne = 0, nw = 0;
  if (!tunnels || !names || !all || !exact || !wild || !retired)
    goto out;
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < i; j++)
      if (memcmp(v[j].id, v[i].id, 16) == 0) {
        if (pconflict)
          *pconflict = v[i].name;
        rv = WR_ERR_EXISTS;
        goto out;
      }
    wr_route_tunnel *t = wr_routes_lookup_id(r, v[i].id);
    if (!t) {
      if (!(t = wr_calloc(1, sizeof *t)))
        goto out;
      memcpy(t->id, v[i].id, 16);
    }
    tunnels[i] = t;
    if (!(names[i] = wr_strdup(v[i].name)))
      goto out;
    for (size_t k = 0; k < v[i].nhosts; k++) {
      char norm[WR_ROUTES_HOST_MAX + 1];
      const char *h = v[i].hosts[k];
      if (wr_routes_normalize_host(h, strlen(h), norm) ||
          strchr(norm + (strncmp(norm, "*.", 2) == 0 ? 2 : 0), '*')) {
        if (pconflict)
          *pconflict = h;
        rv = WR_ERR_INVAL;
        goto out;
      }
      if (!(all[nall].host = wr_strdup(norm)))
        goto out;
      all[nall++].tunnel = t;
    }
  }
  /* Hostnames claimed twice: adjacent once sorted. */
  host_entry *sorted = wr_malloc((nall ? nall : 1) * sizeof *sorted);
  if (!sorted)
    goto out;
  memcpy(sorted, all, nall * sizeof *sorted);
  qsort(sorted, nall, sizeof *sorted, cmp_entry);
  for (size_t i = 1; i < nall; i++)
    if (strcmp(sorted[i - 1].host, sorted[i].host) == 0) {
      if (pconflict) /* the caller's spelling of it, which outlives this call */
        *pconflict = given_name(v, n, sorted[i].host);
      wr_free(sorted);
      rv = WR_ERR_EXISTS;
      goto out;
    }
  wr_free(sorted);
  /* The verdicts, against the current tables. */
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned f = 0;
    wr_route_tunnel *t = tunnels[i];
    if (!wr_routes_lookup_id(r, t->id))
      f |= WR_ROUTES_ADDED;
    else if (!same_hosts(r, t, all + at, v[i].nhosts))
      f |= WR_ROUTES_HOSTS_CHANGED;
    if (!(f & WR_ROUTES_ADDED) && strcmp(t->name, names[i]) != 0)
      f |= WR_ROUTES_RENAMED;
    if (flags)
      flags[i] = f;
    at += v[i].nhosts;
  }
  /* The new host tables (wildcards without their "*."). */
  for (size_t i = 0; i < nall; i++) {
    int w = strncmp(all[i].host, "*.", 2) == 0;
    if (w) {
      memmove(all[i].host, all[i].host + 2, strlen(all[i].host + 2) + 1);
      wild[nw++] = all[i];
    } else {
      exact[ne++] = all[i];
    }
  }
  nall = 0; /* owned by exact and wild now */
  qsort(exact, ne, sizeof *exact, cmp_entry);
  qsort(wild, nw, sizeof *wild, cmp_entry);
  /* Commit: retire what is gone, rename what stays, swap the tables. */
  for (size_t i = 0; i < r->ntunnels; i++) {
    wr_route_tunnel *t = r->tunnels[i];
    int kept = 0;
    for (size_t j = 0; j < n && !kept; j++)
      kept = tunnels[j] == t;
    if (!kept) {
      t->retired = 1;
      r->retired[r->nretired++] = t;
    }
  }
  for (size_t i = 0; i < n; i++) {
    wr_free(tunnels[i]->name);
    tunnels[i]->name = names[i];
    names[i] = NULL;
  }
  for (size_t i = 0; i < r->nexact; i++)
    wr_free(r->exact[i].host);
  for (size_t i = 0; i < r->nwild; i++)
    wr_free(r->wild[i].host);
  wr_free(r->exact);
  wr_free(r->wild);
  wr_free(r->tunnels);
  r->exact = exact;
  r->nexact = ne;
  r->wild = wild;
  r->nwild = nw;
  r->tunnels = tunnels;
  r->ntunnels = n;
  exact = wild = NULL;
  tunnels = NULL;
  rv = 0;
out:
  for (size_t i = 0; i < nall; i++)
    wr_free(all[i].host);
  if (tunnels) /* failed: free the tunnels made here, not the table's */
    for (size_t i = 0; i < n; i++)
      if (tunnels[i] && !wr_routes_lookup_id(r, tunnels[i]->id))
        wr_free(tunnels[i]);
  if (names)
    for (size_t i = 0; i < n; i++)
      wr_free(names[i]);
  wr_free(names);
  wr_free(tunnels);
  wr_free(all);
  wr_free(exact);
  wr_free(wild);
  return rv;
}
