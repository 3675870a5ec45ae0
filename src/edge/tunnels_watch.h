/* tunnels_watch.h: live tunnel changes for `warren edge`.
 *
 * Reloads the edge's tunnels file when it changes (inotify, through libuv's
 * uv_fs_event) and on SIGHUP, and hands the new set to the running edge
 * (wr_edge_set_tunnels): a deleted tunnel's connections close at once and its
 * credentials are refused, a created one is accepted without a restart, a
 * changed secret refuses the old one.
 *
 * The folder is watched, not the file: `warren tunnel create` and editors
 * replace the file by an atomic rename, after which a watch on the old inode
 * would hear nothing more. Events for other names in the folder (the lock
 * file, temporary files) are ignored; the events of one change are gathered
 * for WR_TUNNELS_WATCH_SETTLE_MS before the file is read.
 *
 * Every reload is logged ("Reloaded tunnels" with what changed: added,
 * removed, changed, connections closed) and counted in
 * warren_edge_tunnel_reloads_total{result="ok"|"failed"}. A file that does
 * not load (YAML, a bad secret, a hostname claimed twice, a missing file)
 * changes nothing: the edge keeps its tunnels and the error line says why, as
 * "FILE:LINE:COL: sentence" where there is a place. */
#ifndef WR_EDGE_TUNNELS_WATCH_H
#define WR_EDGE_TUNNELS_WATCH_H

#include <uv.h>

#include "base/err.h"
#include "edge/edge.h"

#define WR_TUNNELS_WATCH_SETTLE_MS 100

typedef struct wr_tunnels_watch wr_tunnels_watch;

/* Watches path (copied) for e, which must outlive the watch, and takes
 * SIGHUP on loop. 0, WR_ERR_NOMEM, WR_ERR_IO (the folder cannot be watched:
 * logged; SIGHUP still works and *pw is set). */
WR_MUST_CHECK int wr_tunnels_watch_new(wr_tunnels_watch **pw, uv_loop_t *loop, wr_edge *e,
                                       const char *path);
/* Reloads now, as SIGHUP does. 0, or the error logged. */
int wr_tunnels_watch_reload(wr_tunnels_watch *w, const char *why);
/* Stops watching; the memory goes once libuv closed the handles. */
void wr_tunnels_watch_close(wr_tunnels_watch *w);

#endif
