/* gwbody.c: the gateway's response bodies. A producer (a file range, a
 * folder listing, a CAR walk) runs in bursts until the front's queue is
 * full (body() answers WR_ERR_AGAIN) and again at on_writable; each burst
 * opens its own read transaction and ends it before returning, so no LMDB
 * snapshot outlives it. Also the exchange's sink (the user's side) and its
 * end (finish, free), so this file needs nothing from gateway.c. */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "content/exporter.h"
#include "gateway/dirlist.h"
#include "gateway/gw_internal.h"
#include "proto/ipld/car.h"

/* ---- the exchange's life ---- */

void wr_gw_req_free(wr_gateway_req *r) {
  if (!r)
    return;
  wr_free(r->target);
  wr_free(r->host);
  wr_free(r->accept);
  wr_free(r->range);
  wr_free(r->inm);
  wr_free(r->xfproto);
  wr_free(r->sw);
  wr_free(r->cache_control);
  wr_free(r->list_title);
  wr_free(r->pathblk);
  wr_free(r->fetch_rs);
  wr_carwalk_del(r->walk);
  wr_dirwalk_del(r->dir);
  if (r->nreq)
    wr_gw_nameres_cancel(r->nreq);
  wr_free(r->named);
  if (r->g)
    r->g->live--;
  wr_free(r);
}

void wr_gateway_req_del(wr_gateway_req *r) { wr_gw_req_free(r); }

void wr_gw_finish(wr_gateway_req *r, int ok) {
  if (r->finished)
    return;
  r->finished = 1;
  WR_DEBUG("Gateway response done", "target=%s bytes=%llu bursts=%u ok=%d", r->target,
           (unsigned long long)r->bytes, r->pumps, ok);
  if (!r->gone) {
    r->q->sink = NULL;
    if (ok)
      r->q->ops->end(r->q);
    else
      r->q->ops->abort(r->q);
  }
  if (!r->in_pump)
    wr_gw_req_free(r);
}

const char *wr_gw_cidstr(const wr_cid *c, char *buf, size_t n) {
  if (wr_cid_format(c, 0, buf, n) < 0)
    snprintf(buf, n, "-");
  return buf;
}

/* ---- bodies ---- */

/* Writes body bytes; 0 to go on, WR_ERR_AGAIN to stop for now, or an
 * error (the exchange is then to be aborted). */
static int out(wr_gateway_req *r, const void *p, size_t n) {
  if (r->gone)
    return WR_ERR_CLOSED;
  if (!n)
    return 0;
  int rc = r->q->ops->body(r->q, p, n);
  if (rc == 0 || rc == WR_ERR_AGAIN) {
    r->bytes += n;
    wr_metric_add(r->g->m_bytes, (double)n);
  }
  if (r->gone)
    return WR_ERR_CLOSED;
  return rc;
}

static int file_write(void *arg, const uint8_t *p, size_t n) {
  wr_gateway_req *r = arg;
  int rc = out(r, p, n);
  if (rc == 0 || rc == WR_ERR_AGAIN)
    r->off += n;
  return rc;
}

static int pump_file(wr_gateway_req *r, wr_export *ex) {
  if (r->off >= r->end)
    return 0;
  int rc = wr_export_cat(ex, &r->cid, r->off, r->end - r->off, file_write, r);
  if (rc == WR_ERR_AGAIN)
    return r->off >= r->end ? 0 : WR_ERR_AGAIN;
  return rc;
}

/* Rows are sent in batches of about this many bytes. */
#define LIST_BATCH (16 * 1024)

static int pump_list(wr_gateway_req *r, wr_export *ex) {
  int rc = 0;
  wr_buf b;
  wr_buf_init(&b, 4 * LIST_BATCH);
  if (r->list_phase == 0) {
    r->list_phase = 1;
    char cs[WR_CID_MAX_STR];
    if (wr_dirlist_head(&b, r->list_title, wr_gw_cidstr(&r->cid, cs, sizeof cs), r->list_parent) !=
        0)
      rc = WR_ERR_NOMEM;
    else
      rc = out(r, b.data, b.len);
    if (rc)
      goto done;
  }
  if (r->list_phase == 1) {
    wr_dirwalk_new_session(r->dir); /* a fresh transaction: earlier bytes are gone */
    for (;;) {
      wr_buf_reset(&b);
      uint64_t rows = 0;
      wr_dirwalk_entry e;
      int k = 0;
      while (b.len < LIST_BATCH && (k = wr_dirwalk_next(r->dir, ex->blocks, &e)) == 1) {
        if (wr_dirlist_row(&b, e.name, e.name_len, &e.cid, e.tsize) != 0) {
          k = WR_ERR_NOMEM;
          break;
        }
        rows++;
      }
      if (k < 0) {
        rc = k;
        goto done;
      }
      if (k == 0 && wr_dirlist_foot(&b, r->listed + rows) != 0) {
        rc = WR_ERR_NOMEM;
        goto done;
      }
      rc = out(r, b.data, b.len);
      if (rc == 0 || rc == WR_ERR_AGAIN)
        r->listed += rows;
      if (k == 0) {
        r->list_phase = 2;
        if (rc == WR_ERR_AGAIN)
          rc = 0; /* the foot is the last piece: it was taken */
        break;
      }
      if (rc)
        break;
    }
  }
done:
  wr_buf_free(&b);
  return rc;
}

static int pump_car(wr_gateway_req *r, wr_export *ex) {
  int rc;
  uint8_t head[64];
  if (!r->car_header_sent) {
    wr_buf b;
    wr_buf_init(&b, 4096);
    rc = wr_car_write_header(&b, &r->cid, 1);
    if (rc == 0)
      rc = out(r, b.data, b.len);
    wr_buf_free(&b);
    r->car_header_sent = 1;
    if (rc)
      return rc;
  }
  for (;;) {
    wr_cid cid;
    const uint8_t *data;
    size_t len;
    wr_cid bad;
    if (r->path_sent < r->npath) {
      cid = r->pathblk[r->path_sent];
      rc = wr_blocks_get(ex->blocks, &cid, &data, &len);
      if (rc)
        return rc;
      r->path_sent++;
    } else {
      rc = wr_carwalk_next(r->walk, ex->blocks, &cid, &data, &len, &bad);
      if (rc == 0)
        return 0;
      if (rc < 0) {
        char cs[WR_CID_MAX_STR];
        WR_WARN("Gateway CAR stream cut", "host=%s target=%s block=%s reason=\"%s\"", r->host,
                r->target, wr_gw_cidstr(&bad, cs, sizeof cs), wr_strerror(rc));
        return rc;
      }
    }
    /* Identity blocks are virtual (their bytes are in the CID): never sent. */
    if (cid.mh.code == WR_MH_IDENTITY)
      continue;
    int hl = wr_car_section_head(head, sizeof head, &cid, len);
    if (hl < 0)
      return hl;
    rc = out(r, head, (size_t)hl);
    if (rc == 0 || rc == WR_ERR_AGAIN)
      rc = out(r, data, len) == 0 && rc == 0 ? 0 : WR_ERR_AGAIN;
    if (rc)
      return rc;
  }
}

/* Produces body bytes until the front is full or the response is done. */
void wr_gw_pump(wr_gateway_req *r) {
  if (r->finished || r->gone || r->in_pump || r->nreq || r->fetch_state == FETCH_RUNNING)
    return;
  r->in_pump = 1;
  r->pumps++;
  wr_export ex;
  int rc = wr_export_begin(&ex, r->g->bs);
  if (rc == 0) {
    switch (r->producer) {
    case P_FILE:
      rc = pump_file(r, &ex);
      break;
    case P_LIST:
      rc = pump_list(r, &ex);
      break;
    case P_CAR:
      wr_carwalk_new_session(r->walk); /* a fresh transaction: earlier bytes are gone */
      rc = pump_car(r, &ex);
      break;
    default:
      rc = 0;
    }
  }
  wr_export_end(&ex);
  r->in_pump = 0;
  if (r->gone && !r->finished) {
    r->finished = 1;
  }
  if (r->finished) {
    wr_gw_req_free(r);
    return;
  }
  if (rc == WR_ERR_AGAIN)
    return; /* on_writable calls again */
  if (rc == WR_ERR_NOTFOUND && r->producer == P_FILE && wr_gw_park_file(r))
    return; /* pump runs again once the rest of the file is here */
  if (rc != 0 && rc != WR_ERR_CLOSED)
    WR_WARN("Gateway response cut", "host=%s target=%s reason=\"%s\"", r->host, r->target,
            ex.err[0] ? ex.err : wr_strerror(rc));
  wr_gw_finish(r, rc == 0);
}

static ssize_t s_on_body(wr_http_sink *s, const uint8_t *d, size_t n) {
  (void)s;
  (void)d;
  return (ssize_t)n; /* GET/HEAD bodies are dropped */
}
static void s_on_body_end(wr_http_sink *s) { (void)s; }
static void s_on_writable(wr_http_sink *s) { wr_gw_pump((wr_gateway_req *)s); }
static void s_on_abort(wr_http_sink *s, int why, uint64_t code) {
  (void)why;
  (void)code;
  wr_gateway_req *r = (wr_gateway_req *)s;
  r->gone = 1;
  /* A parked request is freed when its fetch ends (the worker uses it). */
  if (!r->in_pump && r->fetch_state != FETCH_RUNNING) {
    r->finished = 1;
    wr_gw_req_free(r);
  }
}
const wr_http_sink_ops wr_gw_sink_ops = {.on_body = s_on_body,
                                         .on_body_end = s_on_body_end,
                                         .on_writable = s_on_writable,
                                         .on_abort = s_on_abort};
