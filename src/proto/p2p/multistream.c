/* multistream.c: multistream-select 1.0 messages and negotiation. */
#include "proto/p2p/multistream.h"

#include <string.h>

#include "proto/multiformats/varint.h"

#define FAIL(code, why)                                                                            \
  do {                                                                                             \
    if (preason)                                                                                   \
      *preason = (why);                                                                            \
    return (code);                                                                                 \
  } while (0)

int wr_ms_put(wr_buf *out, const char *line) {
  size_t n = strlen(line);
  if (n + 1 > WR_MS_MAX_MSG || memchr(line, '\n', n))
    return WR_ERR_INVAL;
  int rv = wr_varint_put(out, n + 1);
  if (rv == 0)
    rv = wr_buf_append(out, line, n);
  if (rv == 0)
    rv = wr_buf_append(out, "\n", 1);
  return rv;
}

int wr_ms_decode(const uint8_t *p, size_t n, const char **pline, size_t *plen, size_t *pconsumed,
                 const char **preason) {
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  uint64_t len;
  int rv = wr_varint_decode(&c, &len, preason);
  if (rv == WR_ERR_TRUNCATED)
    return rv;
  if (rv != 0)
    return WR_ERR_MALFORMED;
  if (len > WR_MS_MAX_MSG)
    FAIL(WR_ERR_LIMIT, "multistream message longer than 1024 bytes");
  if (len == 0)
    FAIL(WR_ERR_MALFORMED, "empty multistream message");
  if (wr_cursor_left(&c) < len)
    return WR_ERR_TRUNCATED;
  if (c.pos[len - 1] != '\n')
    FAIL(WR_ERR_MALFORMED, "multistream message does not end with a newline");
  if (memchr(c.pos, '\n', len - 1))
    FAIL(WR_ERR_MALFORMED, "multistream message holds a newline before its end");
  *pline = (const char *)c.pos;
  *plen = (size_t)len - 1;
  *pconsumed = (size_t)(c.pos - p) + (size_t)len;
  return 0;
}

enum { ST_HEADER, ST_PROPOSE, ST_DONE };

static int line_is(const char *line, size_t n, const char *want) {
  return strlen(want) == n && memcmp(line, want, n) == 0;
}

int wr_ms_dialer_init(wr_ms *ms, const char *const *offers, size_t n, wr_buf *out) {
  memset(ms, 0, sizeof *ms);
  if (n == 0)
    return WR_ERR_INVAL;
  ms->offers = offers;
  ms->noffers = n;
  int rv = wr_ms_put(out, WR_MS_PROTOCOL);
  if (rv == 0)
    rv = wr_ms_put(out, offers[0]);
  return rv;
}

int wr_ms_listener_init(wr_ms *ms, wr_ms_supports_fn supports, void *ctx, wr_buf *out) {
  memset(ms, 0, sizeof *ms);
  ms->listener = 1;
  ms->supports = supports;
  ms->ctx = ctx;
  return wr_ms_put(out, WR_MS_PROTOCOL);
}

int wr_ms_input(wr_ms *ms, const uint8_t *p, size_t n, size_t *pconsumed, wr_buf *out,
                const char **preason) {
  *pconsumed = 0;
  while (ms->state != ST_DONE) {
    const char *line;
    size_t len, used;
    int rv = wr_ms_decode(p + *pconsumed, n - *pconsumed, &line, &len, &used, preason);
    if (rv == WR_ERR_TRUNCATED)
      return WR_MS_MORE;
    if (rv != 0)
      return rv;
    *pconsumed += used;
    if (ms->state == ST_HEADER) {
      if (!line_is(line, len, WR_MS_PROTOCOL))
        FAIL(WR_ERR_MALFORMED, "peer does not speak multistream-select 1.0");
      ms->state = ST_PROPOSE;
      continue;
    }
    if (ms->listener) {
      if (++ms->proposals > WR_MS_MAX_PROPOSALS)
        FAIL(WR_ERR_LIMIT, "peer proposed more than 16 protocols");
      if (len >= WR_MS_MAX_PROTO || len == 0) {
        rv = wr_ms_put(out, "na");
        if (rv != 0)
          return rv;
        continue;
      }
      memcpy(ms->selected, line, len);
      ms->selected[len] = '\0';
      if (strlen(ms->selected) == len && ms->supports(ms->ctx, ms->selected)) {
        rv = wr_ms_put(out, ms->selected);
        if (rv != 0)
          return rv;
        ms->state = ST_DONE;
        return WR_MS_DONE;
      }
      ms->selected[0] = '\0';
      rv = wr_ms_put(out, "na");
      if (rv != 0)
        return rv;
      continue;
    }
    /* Dialer: an echo accepts our proposal, "na" refuses it. */
    const char *offer = ms->offers[ms->next_offer];
    if (line_is(line, len, offer)) {
      size_t on = strlen(offer);
      if (on >= sizeof ms->selected)
        return WR_ERR_LIMIT;
      memcpy(ms->selected, offer, on + 1);
      ms->state = ST_DONE;
      return WR_MS_DONE;
    }
    if (!line_is(line, len, "na"))
      FAIL(WR_ERR_MALFORMED, "peer answered a proposal with neither its echo nor \"na\"");
    if (++ms->next_offer == ms->noffers)
      FAIL(WR_ERR_NOTFOUND, "peer supports none of the protocols offered");
    rv = wr_ms_put(out, ms->offers[ms->next_offer]);
    if (rv != 0)
      return rv;
  }
  return WR_MS_DONE;
}
