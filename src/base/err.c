#include "base/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

const char *wr_strerror(int err) {
  switch (err) {
  case WR_OK: return "success";
  case WR_ERR_NOMEM: return "out of memory";
  case WR_ERR_INVAL: return "invalid argument";
  case WR_ERR_MALFORMED: return "malformed input";
  case WR_ERR_TRUNCATED: return "truncated input";
  case WR_ERR_LIMIT: return "limit exceeded";
  case WR_ERR_AGAIN: return "try again";
  case WR_ERR_IO: return "I/O error";
  case WR_ERR_NOTFOUND: return "not found";
  case WR_ERR_UNSUPPORTED: return "unsupported";
  case WR_ERR_CORRUPT: return "data corrupted";
  case WR_ERR_EXISTS: return "already exists";
  case WR_ERR_CLOSED: return "closed";
  case WR_ERR_DENIED: return "permission denied";
  case WR_ERR_TIMEOUT: return "timed out";
  case WR_ERR_ADDRINUSE: return "address already in use";
  case WR_ERR_REFUSED: return "connection refused";
  default: return "unknown error";
  }
}

int wr_err_from_errno(int e) {
  switch (e) {
  case ENOMEM: case ENOBUFS: return WR_ERR_NOMEM;
  case EINVAL: return WR_ERR_INVAL;
  case EAGAIN: return WR_ERR_AGAIN;
  case ENOENT: return WR_ERR_NOTFOUND;
  case EEXIST: return WR_ERR_EXISTS;
  case EACCES: case EPERM: return WR_ERR_DENIED;
  case EOPNOTSUPP: case EAFNOSUPPORT: case EPROTONOSUPPORT: return WR_ERR_UNSUPPORTED;
  case ETIMEDOUT: return WR_ERR_TIMEOUT;
  case EADDRINUSE: return WR_ERR_ADDRINUSE;
  case ECONNREFUSED: return WR_ERR_REFUSED;
  case EPIPE: case ECONNRESET: return WR_ERR_CLOSED;
  default: return WR_ERR_IO;
  }
}

int wr_errf(char *err, size_t errlen, int code, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return code;
}
