/* fields.h: what HTTP semantics (RFC 9110) says about methods and fields,
 * shared by the fronts and the handlers. */
#ifndef WR_HTTP_FIELDS_H
#define WR_HTTP_FIELDS_H

#include "proto/http/http1.h"

/* 1 when a response field must not be passed on to the user (hop-by-hop:
 * Connection, Keep-Alive, Transfer-Encoding, TE, Trailer, Proxy-Connection,
 * Upgrade). */
int wr_http_response_hop_by_hop(wr_h1_slice name);

/* 1 for the methods RFC 9110 (9.2.2) calls idempotent: a request with one may
 * go again on another connection when the first one died under it. */
int wr_http_method_idempotent(wr_h1_slice method);

#endif
