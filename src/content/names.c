/* names.c: IPNS records kept in REPO/ipns, one file per name. */
#include "content/names.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "io/file.h"
#include "proto/multiformats/multibase.h"

static int record_path(const char *repo, const wr_peerid *name, int mkdirs, char *out, size_t cap,
                       char *err, size_t errlen) {
  char s[WR_PEERID_MAX_STR];
  if (wr_peerid_format_cid(name, WR_MB_BASE36, s, sizeof s) < 0 ||
      (size_t)snprintf(out, cap, "%s/%s/%s", repo, WR_NAMES_DIR, s) >= cap) {
    snprintf(err, errlen, "the repo path is too long");
    return WR_ERR_INVAL;
  }
  if (mkdirs) {
    char dir[WR_NAMES_PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/%s", repo, WR_NAMES_DIR);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
      snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
      return WR_ERR_IO;
    }
  }
  return 0;
}

/* sk's own name and its record file, once the lifetime is checked (a
 * record's validity must fit in its int64 nanoseconds). */
static int own_record_path(const char *repo, const wr_p2p_privkey *sk, int64_t lifetime_ns,
                           int64_t now_ns, int mkdirs, wr_peerid *pname, char *out, size_t cap,
                           char *err, size_t errlen) {
  if (lifetime_ns <= 0 || now_ns > INT64_MAX - lifetime_ns) {
    snprintf(err, errlen, "the lifetime must be positive and end before the year 2262");
    return WR_ERR_INVAL;
  }
  wr_p2p_pubkey pk;
  wr_p2p_privkey_public(sk, &pk);
  wr_peerid_from_pubkey(pname, &pk);
  return record_path(repo, pname, mkdirs, out, cap, err, errlen);
}

int wr_names_record_path(const char *repo, const wr_peerid *name, char *out, size_t cap) {
  char err[64];
  return record_path(repo, name, 0, out, cap, err, sizeof err);
}

int wr_names_load(const char *repo, const wr_peerid *name, wr_buf *rec, char *err, size_t errlen) {
  char path[WR_NAMES_PATH_MAX + 300];
  int rv = record_path(repo, name, 0, path, sizeof path, err, errlen);
  if (rv != 0)
    return rv;
  rv = wr_file_read_all(path, WR_IPNS_MAX_RECORD, rec, err, errlen);
  if (rv == WR_ERR_NOTFOUND) {
    char s[WR_PEERID_MAX_STR];
    if (wr_peerid_format_cid(name, WR_MB_BASE36, s, sizeof s) < 0)
      s[0] = '\0';
    snprintf(err, errlen, "no record for /ipns/%s here (publish one with `warren name publish`)",
             s);
  }
  return rv;
}

static int check_value(const char *v) {
  if (strncmp(v, "/ipfs/", 6) != 0 && strncmp(v, "/ipns/", 6) != 0)
    return WR_ERR_INVAL;
  return v[6] ? 0 : WR_ERR_INVAL;
}

int wr_names_publish(const char *repo, const wr_p2p_privkey *sk, const char *value,
                     int64_t lifetime_ns, uint64_t ttl_ns, int64_t now_ns, uint64_t *pseq,
                     wr_buf *rec, char *err, size_t errlen) {
  if (check_value(value) != 0) {
    snprintf(err, errlen, "\"%s\" is not an /ipfs/ or /ipns/ path", value);
    return WR_ERR_INVAL;
  }
  wr_peerid name;
  char path[WR_NAMES_PATH_MAX + 300];
  int rv = own_record_path(repo, sk, lifetime_ns, now_ns, 1, &name, path, sizeof path, err, errlen);
  if (rv != 0)
    return rv;
  int lock = wr_file_lock(path, err, errlen);
  if (lock < 0)
    return lock;
  wr_buf old, out;
  wr_buf_init(&old, WR_IPNS_MAX_RECORD);
  wr_buf_init(&out, WR_IPNS_MAX_RECORD);
  uint64_t seq = 0;
  char lerr[512];
  rv = wr_file_read_all(path, WR_IPNS_MAX_RECORD, &old, lerr, sizeof lerr);
  if (rv == 0) {
    wr_ipns_record r;
    const char *why = NULL;
    rv = wr_ipns_record_decode(old.data, old.len, &r, &why);
    if (rv != 0) {
      snprintf(err, errlen, "the stored record %s does not decode (%s): remove it to start over",
               path, why);
      rv = WR_ERR_CORRUPT;
      goto out;
    }
    size_t vl = strlen(value);
    seq = r.sequence;
    if (r.value_len != vl || memcmp(r.value, value, vl) != 0)
      seq++;
  } else if (rv != WR_ERR_NOTFOUND) {
    snprintf(err, errlen, "%s", lerr);
    goto out;
  }
  wr_ipns_params pa = {(const uint8_t *)value, strlen(value), seq, now_ns + lifetime_ns, ttl_ns, 0};
  rv = wr_ipns_record_create(sk, &pa, &out);
  if (rv != 0) {
    snprintf(err, errlen, "cannot make the record: %s",
             rv == WR_ERR_LIMIT ? "it would be larger than 10 KiB" : wr_strerror(rv));
    goto out;
  }
  rv = wr_file_write_atomic(path, out.data, out.len, 0644, WR_FILE_REPLACE, err, errlen);
  if (rv != 0)
    goto out;
  *pseq = seq;
  if (rec)
    rv = wr_buf_append(rec, out.data, out.len);
out:
  wr_file_unlock(lock);
  wr_buf_free(&old);
  wr_buf_free(&out);
  return rv;
}

int wr_names_republish(const char *repo, const wr_p2p_privkey *sk, int64_t lifetime_ns,
                       int64_t now_ns, wr_buf *rec, char *err, size_t errlen) {
  wr_peerid name;
  char path[WR_NAMES_PATH_MAX + 300];
  int rv = own_record_path(repo, sk, lifetime_ns, now_ns, 0, &name, path, sizeof path, err, errlen);
  if (rv != 0)
    return rv;
  struct stat st;
  if (stat(path, &st) != 0 && errno == ENOENT) {
    /* (before the lock, whose file would need REPO/ipns) */
    snprintf(err, errlen, "nothing was published with this key");
    return WR_ERR_NOTFOUND;
  }
  int lock = wr_file_lock(path, err, errlen);
  if (lock < 0)
    return lock;
  wr_buf old, out;
  wr_buf_init(&old, WR_IPNS_MAX_RECORD);
  wr_buf_init(&out, WR_IPNS_MAX_RECORD);
  rv = wr_file_read_all(path, WR_IPNS_MAX_RECORD, &old, err, errlen);
  wr_ipns_record r;
  const char *why = NULL;
  if (rv == WR_ERR_NOTFOUND)
    snprintf(err, errlen, "nothing was published with this key");
  if (rv != 0)
    goto out;
  /* Any record of our name verifies with our key; an expired one is
   * republished too (kubo does), the name's value is still ours to keep. */
  rv = wr_ipns_record_decode(old.data, old.len, &r, &why);
  if (rv == 0) {
    rv = wr_ipns_record_verify(&r, &name, INT64_MIN, &why);
    if (rv == WR_ERR_TIMEOUT)
      rv = 0;
  }
  if (rv != 0) {
    snprintf(err, errlen, "the stored record %s is refused (%s): publish again to replace it", path,
             why ? why : wr_strerror(rv));
    rv = WR_ERR_CORRUPT;
    goto out;
  }
  int64_t eol = now_ns + lifetime_ns;
  if (r.eol_ns > eol)
    eol = r.eol_ns;
  wr_ipns_params pa = {r.value, r.value_len, r.sequence, eol, r.ttl_ns, 0};
  rv = wr_ipns_record_create(sk, &pa, &out);
  if (rv != 0) {
    snprintf(err, errlen, "cannot make the record: %s", wr_strerror(rv));
    goto out;
  }
  rv = wr_file_write_atomic(path, out.data, out.len, 0644, WR_FILE_REPLACE, err, errlen);
  if (rv == 0 && rec)
    rv = wr_buf_append(rec, out.data, out.len);
out:
  wr_file_unlock(lock);
  wr_buf_free(&old);
  wr_buf_free(&out);
  return rv;
}

int wr_names_store(const char *repo, const wr_peerid *name, const uint8_t *p, size_t n,
                   int64_t now_ns, int *pkept, char *err, size_t errlen) {
  wr_ipns_record r, o;
  const char *why = NULL;
  *pkept = 0;
  int rv = wr_ipns_validate(p, n, name, now_ns, &r, &why);
  if (rv != 0) {
    snprintf(err, errlen, "the record is refused: %s", why);
    return rv;
  }
  char path[WR_NAMES_PATH_MAX + 300];
  if ((rv = record_path(repo, name, 1, path, sizeof path, err, errlen)) != 0)
    return rv;
  int lock = wr_file_lock(path, err, errlen);
  if (lock < 0)
    return lock;
  wr_buf old;
  wr_buf_init(&old, WR_IPNS_MAX_RECORD);
  char lerr[512];
  rv = wr_file_read_all(path, WR_IPNS_MAX_RECORD, &old, lerr, sizeof lerr);
  int better = 1;
  if (rv == 0 && wr_ipns_validate(old.data, old.len, name, now_ns, &o, NULL) == 0)
    better = wr_ipns_record_compare(&r, &o) > 0;
  rv = 0;
  if (better) {
    rv = wr_file_write_atomic(path, p, n, 0644, WR_FILE_REPLACE, err, errlen);
    *pkept = rv == 0;
  }
  wr_file_unlock(lock);
  wr_buf_free(&old);
  return rv;
}

int wr_names_resolve(const char *repo, const char *name, int64_t now_ns, int recursive, char *out,
                     size_t cap, uint64_t *pttl_ns, char *err, size_t errlen) {
  char cur[WR_NAMES_PATH_MAX], next[WR_NAMES_PATH_MAX];
  const char *s = name;
  if (strncmp(s, "/ipns/", 6) == 0)
    s += 6;
  if ((size_t)snprintf(cur, sizeof cur, "/ipns/%s", s) >= sizeof cur) {
    snprintf(err, errlen, "the name is too long");
    return WR_ERR_LIMIT;
  }
  uint64_t ttl = UINT64_MAX;
  wr_buf rec;
  wr_buf_init(&rec, WR_IPNS_MAX_RECORD);
  int rv = 0;
  for (int depth = 0;; depth++) {
    const char *key = cur + 6, *slash = strchr(key, '/');
    size_t klen = slash ? (size_t)(slash - key) : strlen(key);
    const char *rest = slash ? slash : "";
    wr_peerid id;
    const char *why = NULL;
    if (wr_ipns_name_parse(key, klen, &id, &why) != 0) {
      if (depth > 0 && memchr(key, '.', klen))
        break; /* a DNSLink domain: the caller's to resolve */
      snprintf(err, errlen, "\"%.*s\" is not an IPNS key name: %s", (int)klen, key, why);
      rv = WR_ERR_MALFORMED;
      goto out;
    }
    if (depth == WR_NAMES_MAX_DEPTH) {
      snprintf(err, errlen, "more than %d /ipns/ hops from %s", WR_NAMES_MAX_DEPTH, name);
      rv = WR_ERR_LIMIT;
      goto out;
    }
    wr_buf_reset(&rec);
    if ((rv = wr_names_load(repo, &id, &rec, err, errlen)) != 0)
      goto out;
    wr_ipns_record r;
    if ((rv = wr_ipns_validate(rec.data, rec.len, &id, now_ns, &r, &why)) != 0) {
      snprintf(err, errlen, "the record of /ipns/%.*s is refused: %s", (int)klen, key, why);
      goto out;
    }
    if (r.ttl_ns < ttl)
      ttl = r.ttl_ns;
    if ((size_t)snprintf(next, sizeof next, "%.*s%s", (int)r.value_len, (const char *)r.value,
                         rest) >= sizeof next ||
        memchr(r.value, '\0', r.value_len)) {
      snprintf(err, errlen, "the record of /ipns/%.*s holds a bad or too long value", (int)klen,
               key);
      rv = WR_ERR_MALFORMED;
      goto out;
    }
    memcpy(cur, next, sizeof cur);
    if (!recursive || strncmp(cur, "/ipns/", 6) != 0)
      break;
  }
  if ((size_t)snprintf(out, cap, "%s", cur) >= cap) {
    snprintf(err, errlen, "the resolved path is too long");
    rv = WR_ERR_LIMIT;
    goto out;
  }
  if (pttl_ns)
    *pttl_ns = ttl == UINT64_MAX ? 0 : ttl;
out:
  wr_buf_free(&rec);
  return rv;
}
