/* tunnels_watch.c: reloading the tunnels file into a running edge
 * (edge/tunnels_watch.h). */
#include "edge/tunnels_watch.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "tunnel/tunnels_file.h"

struct wr_tunnels_watch {
  wr_edge *e;
  char *path, *dir;
  const char *base; /* the file's name inside dir (points into path) */
  uv_fs_event_t fsev;
  uv_timer_t settle;
  uv_signal_t hup;
  int handles; /* open libuv handles */
  int watching, closing;
  wr_metric *ok, *failed;
};

static void on_handle_closed(uv_handle_t *h) {
  wr_tunnels_watch *w = h->data;
  if (--w->handles > 0)
    return;
  wr_free(w->path);
  wr_free(w->dir);
  wr_free(w);
}

/* The edge's view of the file's tunnels (strings stay tf's). */
static wr_edge_tunnel *edge_view(const wr_tunnels_file *tf) {
  wr_edge_tunnel *v = wr_calloc(tf->n ? tf->n : 1, sizeof *v);
  for (size_t i = 0; v && i < tf->n; i++) {
    const wr_tunnel_entry *t = &tf->tunnels[i];
    memcpy(v[i].id, t->id, 16);
    v[i].name = t->name;
    v[i].secret = t->secret;
    v[i].secret_len = t->secret_len;
    v[i].hosts = (const char *const *)t->hostnames;
    v[i].nhosts = t->nhostnames;
  }
  return v;
}

int wr_tunnels_watch_reload(wr_tunnels_watch *w, const char *why) {
  char err[512];
  wr_tunnels_file tf;
  wr_tunnels_init(&tf);
  wr_edge_tunnel *v = NULL;
  wr_edge_tunnel_changes ch;
  int rc = wr_tunnels_load(w->path, &tf, err, sizeof err);
  if (rc == WR_ERR_NOTFOUND)
    snprintf(err, sizeof err, "%s does not exist", w->path);
  if (rc == 0 && !(v = edge_view(&tf))) {
    rc = WR_ERR_NOMEM;
    snprintf(err, sizeof err, "out of memory");
  }
  if (rc == 0) {
    char why2[400];
    rc = wr_edge_set_tunnels(w->e, v, tf.n, &ch, why2, sizeof why2);
    if (rc != 0)
      snprintf(err, sizeof err, "%s: %s", w->path, why2);
  }
  if (rc != 0) {
    WR_ERROR("Tunnels file not reloaded: keeping the tunnels served until now",
             "file=%s trigger=%s reason=\"%s\"", w->path, why, err);
    wr_metric_inc(w->failed);
  } else {
    WR_INFO("Reloaded tunnels",
            "file=%s trigger=%s tunnels=%zu added=%zu removed=%zu "
            "changed=%zu closedConnections=%zu",
            w->path, why, tf.n, ch.added, ch.removed, ch.changed, ch.closed);
    wr_metric_inc(w->ok);
  }
  wr_free(v);
  wr_tunnels_free(&tf);
  return rc;
}

static void on_settled(uv_timer_t *t) { (void)wr_tunnels_watch_reload(t->data, "file changed"); }

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status) {
  (void)events;
  wr_tunnels_watch *w = h->data;
  if (w->closing)
    return;
  if (status < 0) {
    WR_WARN("Watching the tunnels file failed: reload with SIGHUP", "folder=%s error=%s", w->dir,
            uv_strerror(status));
    return;
  }
  /* NULL: the kernel lost events (queue overflow); reload to be sure. */
  if (filename && strcmp(filename, w->base) != 0)
    return;
  uv_timer_start(&w->settle, on_settled, WR_TUNNELS_WATCH_SETTLE_MS, 0);
}

static void on_hup(uv_signal_t *s, int signum) {
  (void)signum;
  wr_tunnels_watch *w = s->data;
  uv_timer_stop(&w->settle);
  (void)wr_tunnels_watch_reload(w, "SIGHUP");
}

int wr_tunnels_watch_new(wr_tunnels_watch **pw, uv_loop_t *loop, wr_edge *e, const char *path) {
  *pw = NULL;
  wr_tunnels_watch *w = wr_calloc(1, sizeof *w);
  if (!w)
    return WR_ERR_NOMEM;
  w->e = e;
  w->path = wr_strdup(path);
  w->dir = wr_strdup(path);
  wr_metric_family *f =
      wr_metrics_family(wr_edge_metrics(e), WR_METRIC_COUNTER, "warren_edge_tunnel_reloads_total",
                        "Reloads of the tunnels file, by result.", "result");
  if (!w->path || !w->dir || !f || !(w->ok = wr_metric_child(f, "ok")) ||
      !(w->failed = wr_metric_child(f, "failed"))) {
    wr_free(w->path);
    wr_free(w->dir);
    wr_free(w);
    return WR_ERR_NOMEM;
  }
  char *slash = strrchr(w->dir, '/');
  if (!slash) {
    strcpy(w->dir, ".");
    w->base = w->path;
  } else {
    w->base = w->path + (slash - w->dir) + 1;
    if (slash == w->dir)
      slash[1] = '\0'; /* "/tunnels.yml": the root folder */
    else
      *slash = '\0';
  }
  uv_timer_init(loop, &w->settle);
  uv_signal_init(loop, &w->hup);
  uv_fs_event_init(loop, &w->fsev);
  w->settle.data = w->hup.data = w->fsev.data = w;
  w->handles = 3;
  uv_signal_start(&w->hup, on_hup, SIGHUP);
  *pw = w;
  int rc = uv_fs_event_start(&w->fsev, on_fs_event, w->dir, 0);
  if (rc < 0) {
    WR_WARN("Cannot watch the tunnels file's folder: reload with SIGHUP", "folder=%s error=%s",
            w->dir, uv_strerror(rc));
    return WR_ERR_IO;
  }
  w->watching = 1;
  WR_DEBUG("Watching the tunnels file", "file=%s", w->path);
  return 0;
}

void wr_tunnels_watch_close(wr_tunnels_watch *w) {
  if (!w || w->closing)
    return;
  w->closing = 1;
  uv_close((uv_handle_t *)&w->settle, on_handle_closed);
  uv_close((uv_handle_t *)&w->hup, on_handle_closed);
  uv_close((uv_handle_t *)&w->fsev, on_handle_closed);
}
