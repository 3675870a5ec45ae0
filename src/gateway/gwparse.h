/* gwparse.h: the gateway's request grammar, pure and allocation-free: the
 * content path in a request target (percent-decoded), the query parameters
 * of the path and trustless gateway specs (format, filename, download,
 * dag-scope, entity-bytes, car-version, car-order, car-dups), the response
 * format asked for in Accept, a single byte Range, If-None-Match, and
 * subdomain labels. Every function checks its whole input and says why it
 * refused it in one sentence (*pwhy, static). Fuzzed in
 * tests/fuzz/gwparse_fuzz.c. */
#ifndef WR_GATEWAY_GWPARSE_H
#define WR_GATEWAY_GWPARSE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Longest decoded content path and filename the gateway takes. */
#define WR_GW_PATH_MAX 4096
#define WR_GW_NAME_MAX 512

/* Response formats (?format= or Accept). */
typedef enum wr_gw_format {
  WR_GW_FMT_NONE = 0, /* nothing asked for: deserialized (UnixFS) */
  WR_GW_FMT_RAW,      /* application/vnd.ipld.raw */
  WR_GW_FMT_CAR,      /* application/vnd.ipld.car */
  WR_GW_FMT_TAR,      /* application/x-tar */
  WR_GW_FMT_DAG_JSON, /* application/vnd.ipld.dag-json */
  WR_GW_FMT_DAG_CBOR, /* application/vnd.ipld.dag-cbor */
  WR_GW_FMT_JSON,     /* application/json */
  WR_GW_FMT_CBOR,     /* application/cbor */
  WR_GW_FMT_IPNS,     /* application/vnd.ipfs.ipns-record */
} wr_gw_format;

/* The ?format= name of a format ("raw", "car", ...), "" for NONE. */
const char *wr_gw_format_name(wr_gw_format f);

typedef enum wr_gw_scope {
  WR_GW_SCOPE_ALL = 0, /* the default */
  WR_GW_SCOPE_ENTITY,
  WR_GW_SCOPE_BLOCK,
} wr_gw_scope;

/* What the query string and Accept ask for. Zero it, then fill it with
 * wr_gw_parse_accept (headers) and wr_gw_parse_query (the URL wins). */
typedef struct wr_gw_params {
  wr_gw_format format;
  int format_in_url; /* format came from ?format= */
  int accept_format; /* the format Accept named (for Content-Location), or NONE */
  wr_gw_scope scope;
  int has_bytes;                     /* entity-bytes given */
  int64_t bytes_from;                /* may be negative: from the end */
  int64_t bytes_to;                  /* inclusive; may be negative */
  int bytes_to_end;                  /* to was "*" */
  int car_version;                   /* 0 unset, else the version asked for */
  int car_dups;                      /* -1 unset, 0 "n", 1 "y" */
  int car_order_unk;                 /* order=unk asked for (answered with dfs anyway) */
  int car_bad_order;                 /* an order other than dfs or unk */
  int download;                      /* -1 unset, 0 false, 1 true */
  char filename[WR_GW_NAME_MAX + 1]; /* decoded; "" when not given */
} wr_gw_params;

/* Splits a request target (origin-form, "/a/b%20c?x=y") into its decoded
 * path (NUL-terminated in path, cap bytes) and the raw query (*pquery,
 * *pqlen point into t; empty without '?'). A fragment is refused. Returns
 * 0, WR_ERR_MALFORMED (not origin-form, a bad or NUL escape), WR_ERR_LIMIT
 * (the path does not fit). */
WR_MUST_CHECK int wr_gw_split_target(const char *t, size_t n, char *path, size_t cap,
                                     const char **pquery, size_t *pqlen, const char **pwhy);

/* Reads the query parameters the gateway knows into *p (others are
 * ignored). WR_ERR_INVAL with a sentence for a value it does not accept
 * (an unknown format, a bad dag-scope or entity-bytes, car-version other
 * than 1, car-dups not y/n, a filename too long or with a bad escape). */
WR_MUST_CHECK int wr_gw_parse_query(const char *q, size_t n, wr_gw_params *p, const char **pwhy);

/* Reads an Accept value: the first media range (by q-value, then order)
 * the gateway knows sets p->format and p->accept_format, and for a CAR its
 * version, order and dups parameters. Unknown types (text/html, star/star)
 * leave the format alone. 0 always (a client's odd Accept is not an error),
 * or WR_ERR_INVAL for a CAR version other than 1. */
WR_MUST_CHECK int wr_gw_parse_accept(const char *v, size_t n, wr_gw_params *p, const char **pwhy);

/* A Range header against a representation of size bytes. Returns 1 with
 * [*pfirst, *plast] (inclusive) for a satisfiable byte range (of several,
 * the first), 0 when the header is to be ignored (not bytes, malformed: the
 * full representation is sent), WR_ERR_LIMIT when the range is not
 * satisfiable (416). */
WR_MUST_CHECK int wr_gw_parse_range(const char *v, size_t n, uint64_t size, uint64_t *pfirst,
                                    uint64_t *plast);

/* entity-bytes of p against an entity of size bytes: 1 with [*pfirst,
 * *plast] inclusive, 0 when the range is empty or outside the entity (then
 * the answer is the root block only). */
int wr_gw_entity_range(const wr_gw_params *p, uint64_t size, uint64_t *pfirst, uint64_t *plast);

/* 1 when an If-None-Match value matches etag (a quoted strong or weak tag,
 * compared weakly as RFC 9110 13.1.2 says, or "*"), else 0. */
int wr_gw_etag_match(const char *v, size_t n, const char *etag);

/* Parses a request Host that sits under a subdomain gateway: "LABEL.ipfs.
 * GWHOST" (gwhost lowercase, no port; host may carry a port and any case).
 * Returns 1 with the label (lowercased, NUL-terminated, in label, 64 bytes)
 * when host is such a name, 0 when it is not under gwhost's .ipfs., or
 * WR_ERR_LIMIT when the label is longer than a DNS label (63). */
WR_MUST_CHECK int wr_gw_subdomain_label(const char *host, size_t n, const char *gwhost,
                                        char label[64]);

#endif
