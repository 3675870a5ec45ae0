/* tunnels_file.h: the edge's list of tunnels (TUNNELS.yml).
 *
 *   # warren tunnels file: it holds tunnel secrets, keep it mode 0600.
 *   tunnels:
 *     - id: 6ff42ae2-765d-4adf-8112-31c55c1551ef
 *       name: web
 *       secret: 3q2+7w...base64 of 32 bytes...=
 *       hostnames:
 *         - app.example.com
 *         - "*.dev.example.com"
 *
 * The edge needs each tunnel's secret itself (not a hash) because it checks
 * an HMAC keyed with it; so the file is as sensitive as the credentials
 * files and is always written 0600. `warren tunnel create` appends to it
 * (the file is rewritten atomically, under a lock file), an operator may
 * edit it by hand.
 *
 * Loading refuses, with "FILE:LINE:COL: sentence": unknown keys, a missing
 * id/name/secret, a bad UUID, base64 or hostname, a tunnel without
 * hostnames, and duplicates: two tunnels with one id or one name, or one
 * hostname claimed twice (by two tunnels, or twice by one). Hostnames are
 * compared lowercased; "*.example.com" and "a.example.com" are different
 * claims (the edge prefers the exact one). */
#ifndef WR_TUNNEL_TUNNELS_FILE_H
#define WR_TUNNEL_TUNNELS_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "tunnel/credentials.h"
#include "base/buf.h"
#include "base/err.h"

#define WR_TUNNELS_MAX 4096        /* tunnels in one file */
#define WR_TUNNEL_HOSTS_MAX 1024   /* hostnames of one tunnel */

typedef struct wr_tunnel_entry {
  uint8_t id[16];
  char *name;
  uint8_t secret[WR_TUNNEL_SECRET_MAX];
  size_t secret_len;
  char **hostnames; /* lowercased; "*.x.y" for a wildcard */
  size_t nhostnames;
  unsigned long line; /* where it starts in the file, 0 when added in memory */
} wr_tunnel_entry;

typedef struct wr_tunnels_file {
  wr_tunnel_entry *tunnels;
  size_t n, cap;
} wr_tunnels_file;

void wr_tunnels_init(wr_tunnels_file *tf);
/* Frees every entry (secrets are wiped) and leaves tf empty. */
void wr_tunnels_free(wr_tunnels_file *tf);

/* Parses a tunnels file from memory into tf (which must be empty). file names
 * the text in messages. An empty text is an empty list. WR_ERR_MALFORMED
 * (YAML syntax), WR_ERR_INVAL (content), WR_ERR_LIMIT, WR_ERR_NOMEM; err holds
 * the sentence. On error tf is left empty. */
WR_MUST_CHECK int wr_tunnels_parse(const char *text, size_t len, const char *file,
                                   wr_tunnels_file *tf, char *err, size_t errlen);

/* Reads and parses path. WR_ERR_NOTFOUND when it does not exist (tf empty). */
WR_MUST_CHECK int wr_tunnels_load(const char *path, wr_tunnels_file *tf, char *err,
                                  size_t errlen);

/* Appends the YAML text of tf to b. Parsing it gives tf back. */
WR_MUST_CHECK int wr_tunnels_encode(const wr_tunnels_file *tf, wr_buf *b);

/* Writes tf to path atomically with mode 0600. */
WR_MUST_CHECK int wr_tunnels_save(const char *path, const wr_tunnels_file *tf, char *err,
                                  size_t errlen);

/* The tunnels file to use when --tunnels is not given: the first of
 * HOME/.warren/tunnels.yml and /etc/warren/tunnels.yml (where the edge's
 * systemd unit reads it) that exists, else HOME/.warren/tunnels.yml for a
 * new one. Writes it into out (cap bytes). 0, or WR_ERR_LIMIT when it does
 * not fit, WR_ERR_NOTFOUND when neither exists and there is no HOME. */
WR_MUST_CHECK int wr_tunnels_default_path(const char *home, char *out, size_t cap);

/* Adds a tunnel (everything is copied; hostnames are checked and
 * lowercased). WR_ERR_INVAL for a bad name, secret or hostname, WR_ERR_EXISTS
 * when the id or name is taken or a hostname is already claimed; err holds
 * one sentence such as: hostname "app.example.com" already belongs to tunnel
 * "web". Nothing is added on error. */
WR_MUST_CHECK int wr_tunnels_add(wr_tunnels_file *tf, const uint8_t id[16], const char *name,
                                 const uint8_t *secret, size_t secret_len,
                                 const char *const *hostnames, size_t nhostnames, char *err,
                                 size_t errlen);

/* Removes the tunnel named name. WR_ERR_NOTFOUND when there is none. */
WR_MUST_CHECK int wr_tunnels_remove(wr_tunnels_file *tf, const char *name);

/* Lookups; NULL when absent. find_host compares an exact claim (lowercase). */
const wr_tunnel_entry *wr_tunnels_find_name(const wr_tunnels_file *tf, const char *name);
const wr_tunnel_entry *wr_tunnels_find_id(const wr_tunnels_file *tf, const uint8_t id[16]);
const wr_tunnel_entry *wr_tunnels_find_host(const wr_tunnels_file *tf, const char *host);

#endif
