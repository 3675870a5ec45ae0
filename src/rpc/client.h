/* client.h: the CLI's side of kubo's RPC API — find a running daemon
 * through <repo>/api and make one blocking HTTP/1.1 request to it.
 *
 * Requests are POSTs; a body (multipart for add) is produced by the caller
 * through wr_rpc_conn_send and goes out chunked, while response bytes that
 * arrive meanwhile are read and handed on (the daemon answers `add` while
 * the upload is still running, so neither side's buffers may fill up and
 * deadlock). Response bodies are decoded (chunked or not) and handed to the
 * caller as they come. */
#ifndef WR_RPC_CLIENT_H
#define WR_RPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "io/addr.h"

/* Looks for a live daemon of repo: 1 with *pa its API address, 0 when none
 * (no api file, or nothing listens there any more: a daemon that was
 * killed), or an error with a sentence in err (an api file that holds no
 * address). */
WR_MUST_CHECK int wr_rpc_client_find(const char *repo, wr_addr *pa, char *err, size_t errlen);

typedef struct wr_rpc_conn wr_rpc_conn;

/* Produces the request body through wr_rpc_conn_send; returns 0 or an error
 * (the request is then abandoned). */
typedef int (*wr_rpc_produce_fn)(void *arg, wr_rpc_conn *conn);
/* Takes response body bytes (of a 200 answer); returns 0 or an error to
 * stop. */
typedef int (*wr_rpc_recv_fn)(void *arg, const uint8_t *p, size_t n);

/* POSTs target ("/api/v0/add?cid-version=1") to a. With produce, the body
 * has content_type and is produced by produce(parg, conn). A 200 answer's
 * body goes to recv. Returns 0 after a 200 answer read to its end; else an
 * error with one sentence in err: WR_ERR_REFUSED (no daemon answers),
 * WR_ERR_IO, WR_ERR_MALFORMED (not HTTP), WR_ERR_DENIED (the daemon answered
 * an error: err holds its Message, *pstatus its status), or produce's or
 * recv's error. */
WR_MUST_CHECK int wr_rpc_client_post(const wr_addr *a, const char *target, const char *content_type,
                                     wr_rpc_produce_fn produce, void *parg, wr_rpc_recv_fn recv,
                                     void *rarg, int *pstatus, char *err, size_t errlen);

/* Sends n body bytes (one chunk). 0, or WR_ERR_IO / the recv callback's
 * error (stop producing and return it). */
WR_MUST_CHECK int wr_rpc_conn_send(wr_rpc_conn *conn, const void *p, size_t n);

/* Percent-encodes s for a query value or a multipart file name (everything
 * but unreserved characters and, when keep_slash, '/'). 0, WR_ERR_LIMIT. */
WR_MUST_CHECK int wr_rpc_url_escape(const char *s, int keep_slash, char *out, size_t cap);

#endif
