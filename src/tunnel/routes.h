/* routes.h: the edge's routing table.
 *
 * Maps a request's Host to the tunnel that owns it, and a tunnel to the
 * connector connections registered for it. wr_routes_pick spreads requests
 * over those connections: the one with the fewest streams in flight wins,
 * ties go round-robin, and a connection that is draining (its connector
 * unregistered for a graceful shutdown) gets no new requests.
 *
 * Connections are opaque pointers owned by the transport; the table only
 * counts streams on them. Hostnames are exact ("app.example.com") or a leading
 * wildcard ("*.example.com" matches one or more labels before example.com, but
 * not example.com itself); an exact name wins over a wildcard, the longest
 * wildcard suffix over a shorter one. */
#ifndef WR_TUNNEL_ROUTES_H
#define WR_TUNNEL_ROUTES_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define WR_ROUTES_MAX_CONNS 64 /* connections one tunnel may register */
#define WR_ROUTES_HOST_MAX 253

typedef struct wr_routes wr_routes;

typedef struct wr_route_conn {
  void *conn;        /* the transport connection */
  unsigned index;    /* the connector's connIndex */
  uint32_t inflight; /* streams open on it for requests */
  int draining;      /* 1 after Unregister: no new requests */
  int unresponsive;  /* 1 while the peer answers nothing: new requests go elsewhere */
  uint64_t group;    /* the connector process it belongs to (0: unknown) */
} wr_route_conn;

typedef struct wr_route_tunnel {
  uint8_t id[16];
  char *name;
  wr_route_conn conns[WR_ROUTES_MAX_CONNS];
  size_t nconns;
  size_t rr;   /* where the next tie-break starts */
  int retired; /* removed by wr_routes_sync: found no more, kept for its holders */
  /* When a connection last left the table or stopped answering (the
   * registry's clock, ns; 0: never): requests wait briefly for a new one
   * after that (tunnel/edge_proxy.c). */
  uint64_t lost_at_ns;
} wr_route_tunnel;

wr_routes *wr_routes_new(void);
void wr_routes_del(wr_routes *r);

/* Adds a tunnel with its hostnames (copied). WR_ERR_EXISTS when the id or a
 * hostname is already taken (*pconflict, if not NULL, names what), WR_ERR_INVAL
 * for an invalid hostname, WR_ERR_NOMEM. On error nothing is added. */
WR_MUST_CHECK int wr_routes_add_tunnel(wr_routes *r, const uint8_t id[16], const char *name,
                                       const char *const *hosts, size_t nhosts,
                                       const char **pconflict);

/* One tunnel of the set wr_routes_sync installs. */
typedef struct wr_routes_spec {
  uint8_t id[16];
  const char *name;
  const char *const *hosts;
  size_t nhosts;
} wr_routes_spec;

/* wr_routes_sync's verdict per tunnel of the new set. */
#define WR_ROUTES_ADDED 0x1u         /* a tunnel the table did not have */
#define WR_ROUTES_HOSTS_CHANGED 0x2u /* its hostnames differ from before */
#define WR_ROUTES_RENAMED 0x4u

/* Makes the table serve exactly the tunnels of v (a reloaded tunnels file),
 * all or nothing. A tunnel whose id is in v keeps its object, and so its
 * connections, with v's name and hostnames; a tunnel whose id is not is
 * retired: no lookup finds it any more and its flag `retired` is set, but the
 * object stays valid until wr_routes_del, since connections and requests in
 * flight hold it (wr_routes_retired lists them). New ids are added. flags
 * (n entries, may be NULL) receives WR_ROUTES_* per entry of v. Returns 0,
 * WR_ERR_EXISTS (an id or a hostname twice in v; *pconflict, if not NULL,
 * names it), WR_ERR_INVAL (a hostname that is not one: *pconflict),
 * WR_ERR_NOMEM; on error the table is as before. */
WR_MUST_CHECK int wr_routes_sync(wr_routes *r, const wr_routes_spec *v, size_t n,
                                 unsigned *flags, const char **pconflict);

/* The tunnels retired so far, oldest first (*pv points into the table). */
size_t wr_routes_retired(const wr_routes *r, wr_route_tunnel *const **pv);
/* The tunnels served now (*pv points into the table, valid until the next
 * change). */
size_t wr_routes_tunnels(const wr_routes *r, wr_route_tunnel *const **pv);

/* Normalises a Host header value into out (WR_ROUTES_HOST_MAX + 1 bytes):
 * lowercase, port and one trailing dot removed. WR_ERR_INVAL when it is not a
 * host name (empty, too long, an IP literal in brackets is kept as is). */
WR_MUST_CHECK int wr_routes_normalize_host(const char *host, size_t len, char *out);

/* The tunnel owning a Host header value, or NULL (the edge answers 404). */
wr_route_tunnel *wr_routes_lookup_host(const wr_routes *r, const char *host, size_t len);
/* The tunnel with this id, or NULL. */
wr_route_tunnel *wr_routes_lookup_id(const wr_routes *r, const uint8_t id[16]);

/* Registers a connection for a tunnel. WR_ERR_LIMIT past WR_ROUTES_MAX_CONNS,
 * WR_ERR_EXISTS if conn is already registered. */
WR_MUST_CHECK int wr_routes_register(wr_route_tunnel *t, void *conn, unsigned index);
/* Removes conn from its tunnel (no-op when absent). */
void wr_routes_unregister(wr_route_tunnel *t, void *conn);
/* Marks conn as draining: it finishes what it has, gets nothing new. */
void wr_routes_drain(wr_route_tunnel *t, void *conn);

/* The connection for the next request: fewest in flight, not draining, not
 * `avoid` (the one that just failed, when retrying), and responsive when any
 * other is (an unresponsive one is only the last resort). NULL when none is
 * left (the edge answers 502, tunnel offline). */
wr_route_conn *wr_routes_pick(wr_route_tunnel *t, const void *avoid);
/* As wr_routes_pick, but never an unresponsive connection, and one of
 * another group than avoid_group (when not 0): only such a one when
 * other_group_only, else such a one whenever there is one. For a request
 * retried because its connection died or stopped answering, where a second
 * silent one would only repeat the wait, and a sibling of the same
 * connector process is likely dying too (a killed connector's connections
 * close one by one). */
wr_route_conn *wr_routes_pick_live(wr_route_tunnel *t, const void *avoid, uint64_t avoid_group,
                                   int other_group_only);
/* The entry for conn, or NULL. */
wr_route_conn *wr_routes_find(wr_route_tunnel *t, const void *conn);
/* Number of connections that can take requests. */
size_t wr_routes_ready(const wr_route_tunnel *t);

#endif
