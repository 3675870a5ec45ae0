/* job.h: one RPC API request run on a thread of its own, bridged to the
 * HTTP handler seam on the loop.
 *
 * The store, the importer and the exporter are blocking code (LMDB reads
 * from the memory map, the importer's writer thread, the DAG walks), and an
 * `add` of a 100 MB file must not stall every other request on the loop. So
 * each request's command runs as a plain function on a thread, and reads the
 * request body and writes the response through two bounded buffers:
 *
 *   loop   on_body -> in (1 MiB) -> wr_rpc_job_read   worker
 *   loop   q->ops->body <- out (1 MiB) <- wr_rpc_job_write   worker
 *
 * A full `in` answers WR_ERR_AGAIN to the front (it stops reading the user's
 * socket) until the worker has taken bytes; a full `out` blocks the worker
 * until the loop has handed the bytes to the front, and the loop stops taking
 * more while the front's queue is full (on_writable). So a slow user slows
 * the command, and memory stays bounded both ways.
 *
 * Ownership: the job belongs to the loop side. It ends when the worker has
 * returned and the exchange is over (the response ended, or the user gone);
 * then on_done runs on the loop and the job is freed. If the user goes away
 * first, the worker's next read or write answers WR_ERR_CLOSED. */
#ifndef WR_RPC_JOB_H
#define WR_RPC_JOB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "base/err.h"
#include "http/handler.h"

typedef struct wr_rpc_job wr_rpc_job;

/* The command: runs on the job's thread. */
typedef void (*wr_rpc_job_fn)(wr_rpc_job *j, void *arg);
/* Told on the loop once the job is over (before it is freed). */
typedef void (*wr_rpc_job_done_fn)(void *owner, wr_rpc_job *j);

/* Starts fn(j, arg) on a new thread for the request q (sets q->sink). arg
 * belongs to the caller until on_done. Returns 0, WR_ERR_NOMEM, WR_ERR_IO
 * (no thread): nothing was started, and the caller answers q. */
WR_MUST_CHECK int wr_rpc_job_start(uv_loop_t *loop, wr_http_req *q, wr_rpc_job_fn fn, void *arg,
                                   wr_rpc_job_done_fn on_done, void *owner);

/* --- the worker's side (call from fn only) -------------------------------- */

/* Blocks until request body bytes arrive and copies up to n into buf.
 * Returns how many, 0 at the end of the body, WR_ERR_CLOSED when the user
 * went away. */
ssize_t wr_rpc_job_read(wr_rpc_job *j, uint8_t *buf, size_t n);

/* Sends the response head once: status and n fields (copied; at most 16).
 * The body follows with wr_rpc_job_write. Returns 0, WR_ERR_CLOSED,
 * WR_ERR_INVAL (a head was already sent), WR_ERR_LIMIT. */
WR_MUST_CHECK int wr_rpc_job_head(wr_rpc_job *j, int status, const wr_h1_header *hs, size_t n);

/* Queues response body bytes (copied), blocking while the outgoing buffer is
 * full. Returns 0 or WR_ERR_CLOSED (the user is gone: stop); the failure is
 * sticky, so a caller may ignore one and see the next. */
int wr_rpc_job_write(wr_rpc_job *j, const void *p, size_t n);

/* 1 once a head was sent. */
int wr_rpc_job_head_sent(wr_rpc_job *j);

/* Ends the response abruptly once what is queued is out (a failure after
 * the head: the user sees a cut-off body, as kubo's streams end with
 * X-Stream-Error). */
void wr_rpc_job_cut(wr_rpc_job *j);

#endif
