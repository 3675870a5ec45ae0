/* ipns.c: IPNS records: create, strict decode, verify, select. */
#include "proto/ipns/ipns.h"

#include <string.h>

#include "proto/ipld/pb.h"

#define FAIL(code, why)                                                                            \
  do {                                                                                             \
    if (preason)                                                                                   \
      *preason = (why);                                                                            \
    return (code);                                                                                 \
  } while (0)

static const char SIG_V2_PREFIX[] = "ipns-signature:";
#define SIG_V2_PREFIX_LEN (sizeof SIG_V2_PREFIX - 1)

enum { F_VALUE = 1, F_SIGV1, F_VTYPE, F_VALIDITY, F_SEQ, F_TTL, F_PUBKEY, F_SIGV2, F_DATA };

/* ---- time ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *py, unsigned *pm, unsigned *pd) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = (int64_t)yoe + era * 400;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *pd = doy - (153 * mp + 2) / 5 + 1;
  *pm = mp < 10 ? mp + 3 : mp - 9;
  *py = y + (*pm <= 2);
}

static int digits(const char *s, size_t n, unsigned *pv) {
  unsigned v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  *pv = v;
  return 0;
}

int wr_ipns_time_parse(const char *s, size_t n, int64_t *pns, const char **preason) {
  static const char bad[] = "validity is not an RFC 3339 time (YYYY-MM-DDTHH:MM:SS[.frac]Z)";
  unsigned y, mo, d, h, mi, sec;
  if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
      s[16] != ':' || digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
      digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &sec))
    FAIL(WR_ERR_MALFORMED, bad);
  static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 || mi > 59 ||
      sec > 59)
    FAIL(WR_ERR_MALFORMED, "validity names a date or time that does not exist");
  size_t i = 19;
  int64_t frac = 0;
  if (s[i] == '.') {
    size_t k = 0;
    for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, k++) {
      if (k == 9)
        FAIL(WR_ERR_MALFORMED, "validity has more than 9 fraction digits");
      frac = frac * 10 + (s[i] - '0');
    }
    if (k == 0)
      FAIL(WR_ERR_MALFORMED, bad);
    for (; k < 9; k++)
      frac *= 10;
  }
  int64_t off = 0;
  if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) {
    off = 0;
  } else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
    unsigned oh, om;
    if (digits(s + i + 1, 2, &oh) || digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
      FAIL(WR_ERR_MALFORMED, bad);
    off = ((int64_t)oh * 60 + om) * 60;
    if (s[i] == '-')
      off = -off;
  } else {
    FAIL(WR_ERR_MALFORMED, bad);
  }
  int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
  /* int64 nanoseconds end in 2262: later EOLs mean "for ever" here. */
  if (secs >= INT64_MAX / 1000000000 - 1)
    *pns = INT64_MAX;
  else if (secs <= INT64_MIN / 1000000000 + 1)
    *pns = INT64_MIN;
  else
    *pns = secs * 1000000000 + frac;
  return 0;
}

int wr_ipns_time_format(int64_t ns, char *out, size_t cap) {
  if (ns < 0)
    return WR_ERR_INVAL;
  int64_t secs = ns / 1000000000, frac = ns % 1000000000;
  int64_t days = secs / 86400, rem = secs % 86400, y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  if (cap < 31)
    return WR_ERR_LIMIT;
  /* ns < 2^63 keeps y at most 2262: four digits. */
  int k = 0;
  unsigned parts[] = {(unsigned)y,         m, d, (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60),
                      (unsigned)(rem % 60)};
  static const char sep[] = "--T::.";
  for (int p = 0; p < 6; p++) {
    int w = p == 0 ? 4 : 2;
    for (int j = w - 1; j >= 0; j--) {
      out[k + j] = (char)('0' + parts[p] % 10);
      parts[p] /= 10;
    }
    k += w;
    out[k++] = sep[p];
  }
  for (int j = 8; j >= 0; j--) {
    out[k + j] = (char)('0' + frac % 10);
    frac /= 10;
  }
  k += 9;
  out[k++] = 'Z';
  out[k] = '\0';
  return k;
}

/* ---- dag-cbor, the few shapes data holds ---- */

/* Reads one head; minimal encodings only (dag-cbor), no indefinite lengths. */
static int cbor_head(wr_cursor *c, int *pmajor, uint64_t *parg, const char **preason) {
  if (c->pos >= c->end)
    FAIL(WR_ERR_TRUNCATED, "data ends inside a CBOR item");
  uint8_t ib = *c->pos++;
  int ai = ib & 31;
  *pmajor = ib >> 5;
  if (ai < 24) {
    *parg = (uint64_t)ai;
    return 0;
  }
  if (ai > 27)
    FAIL(WR_ERR_MALFORMED, "data has an indefinite-length or reserved CBOR item");
  size_t len = (size_t)1 << (ai - 24);
  if (wr_cursor_left(c) < len)
    FAIL(WR_ERR_TRUNCATED, "data ends inside a CBOR item");
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++)
    v = (v << 8) | *c->pos++;
  *parg = v;
  if (*pmajor == 7)
    return 0; /* floats keep their width */
  if ((ai == 24 && v < 24) || (ai == 25 && v <= 0xff) || (ai == 26 && v <= 0xffff) ||
      (ai == 27 && v <= 0xffffffffu))
    FAIL(WR_ERR_MALFORMED, "data has a CBOR integer or length that is not minimally encoded");
  return 0;
}

static int cbor_skip(wr_cursor *c, int depth, const char **preason) {
  int major, rv;
  uint64_t arg;
  if (depth > 16)
    FAIL(WR_ERR_LIMIT, "data nests CBOR too deeply");
  if ((rv = cbor_head(c, &major, &arg, preason)) != 0)
    return rv;
  switch (major) {
  case 0:
  case 1:
    return 0;
  case 2:
  case 3:
    if (arg > wr_cursor_left(c))
      FAIL(WR_ERR_TRUNCATED, "a CBOR string in data runs past its end");
    c->pos += arg;
    return 0;
  case 4:
  case 5:
    if (arg > wr_cursor_left(c))
      FAIL(WR_ERR_TRUNCATED, "a CBOR list or map in data runs past its end");
    for (uint64_t i = 0; i < (major == 5 ? 2 * arg : arg); i++)
      if ((rv = cbor_skip(c, depth + 1, preason)) != 0)
        return rv;
    return 0;
  case 6:
    return cbor_skip(c, depth + 1, preason);
  default:
    if (arg == 20 || arg == 21 || arg == 22 || arg > 0xff)
      return 0; /* false, true, null, or a float */
    FAIL(WR_ERR_MALFORMED, "data has a CBOR simple value dag-cbor does not allow");
  }
}

static int cbor_bytes(wr_cursor *c, const uint8_t **pp, size_t *pn, const char *what,
                      const char **preason) {
  int major, rv;
  uint64_t arg;
  if ((rv = cbor_head(c, &major, &arg, preason)) != 0)
    return rv;
  if (major != 2)
    FAIL(WR_ERR_MALFORMED, what);
  if (arg > wr_cursor_left(c))
    FAIL(WR_ERR_TRUNCATED, "a CBOR byte string in data runs past its end");
  *pp = c->pos;
  *pn = (size_t)arg;
  c->pos += arg;
  return 0;
}

static int cbor_uint(wr_cursor *c, uint64_t *pv, const char *what, const char **preason) {
  int major, rv;
  if ((rv = cbor_head(c, &major, pv, preason)) != 0)
    return rv;
  if (major != 0)
    FAIL(WR_ERR_MALFORMED, what);
  return 0;
}

enum { K_VALUE = 1, K_VALIDITY = 2, K_VTYPE = 4, K_SEQ = 8, K_TTL = 16, K_ALL = 31 };

static int data_decode(const uint8_t *p, size_t n, wr_ipns_record *r, const char **preason) {
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  int major, rv, seen = 0;
  uint64_t count;
  if ((rv = cbor_head(&c, &major, &count, preason)) != 0)
    return rv;
  if (major != 5)
    FAIL(WR_ERR_MALFORMED, "data is not a dag-cbor map");
  if (count > n)
    FAIL(WR_ERR_TRUNCATED, "data's map runs past its end");
  for (uint64_t i = 0; i < count; i++) {
    uint64_t klen;
    if ((rv = cbor_head(&c, &major, &klen, preason)) != 0)
      return rv;
    if (major != 3)
      FAIL(WR_ERR_MALFORMED, "data has a map key that is not a string");
    if (klen > wr_cursor_left(&c))
      FAIL(WR_ERR_TRUNCATED, "a map key in data runs past its end");
    const char *k = (const char *)c.pos;
    c.pos += klen;
    int bit = 0;
#define KEY(s) (klen == sizeof(s) - 1 && memcmp(k, s, klen) == 0)
    if (KEY("Value")) {
      bit = K_VALUE;
      if (!(seen & bit))
        rv = cbor_bytes(&c, &r->value, &r->value_len, "data's Value is not a byte string", preason);
    } else if (KEY("Validity")) {
      bit = K_VALIDITY;
      if (!(seen & bit))
        rv = cbor_bytes(&c, &r->validity, &r->validity_len, "data's Validity is not a byte string",
                        preason);
    } else if (KEY("ValidityType")) {
      bit = K_VTYPE;
      if (!(seen & bit))
        rv = cbor_uint(&c, &r->validity_type, "data's ValidityType is not an unsigned integer",
                       preason);
    } else if (KEY("Sequence")) {
      bit = K_SEQ;
      if (!(seen & bit))
        rv = cbor_uint(&c, &r->sequence, "data's Sequence is not an unsigned integer", preason);
    } else if (KEY("TTL")) {
      bit = K_TTL;
      if (!(seen & bit))
        rv = cbor_uint(&c, &r->ttl_ns, "data's TTL is not an unsigned integer", preason);
    } else {
      rv = cbor_skip(&c, 1, preason); /* an extension field */
    }
#undef KEY
    if (bit && (seen & bit))
      FAIL(WR_ERR_MALFORMED, "data has a map key twice");
    if (rv != 0)
      return rv;
    seen |= bit;
  }
  if (c.pos != c.end)
    FAIL(WR_ERR_MALFORMED, "data has bytes after its map");
  if (!(seen & K_VALUE))
    FAIL(WR_ERR_MALFORMED, "data has no Value");
  if (!(seen & K_VALIDITY))
    FAIL(WR_ERR_MALFORMED, "data has no Validity");
  if (!(seen & K_VTYPE))
    FAIL(WR_ERR_MALFORMED, "data has no ValidityType");
  if (!(seen & K_SEQ))
    FAIL(WR_ERR_MALFORMED, "data has no Sequence");
  if (!(seen & K_TTL))
    FAIL(WR_ERR_MALFORMED, "data has no TTL");
  return 0;
}

static int cbor_put_head(wr_buf *b, int major, uint64_t v) {
  uint8_t h[9];
  size_t n;
  if (v < 24) {
    h[0] = (uint8_t)(major << 5 | (int)v);
    n = 1;
  } else {
    int ai = v <= 0xff ? 24 : v <= 0xffff ? 25 : v <= 0xffffffffu ? 26 : 27;
    size_t len = (size_t)1 << (ai - 24);
    h[0] = (uint8_t)(major << 5 | ai);
    for (size_t i = 0; i < len; i++)
      h[1 + i] = (uint8_t)(v >> (8 * (len - 1 - i)));
    n = 1 + len;
  }
  return wr_buf_append(b, h, n);
}

static int cbor_put_key(wr_buf *b, const char *k) {
  int rv = cbor_put_head(b, 3, strlen(k));
  return rv ? rv : wr_buf_puts(b, k);
}

/* dag-cbor orders map keys by length, then bytes: TTL, Value, Sequence,
 * Validity, ValidityType. */
static int data_encode(wr_buf *b, const wr_ipns_params *pa, const char *validity, size_t vlen) {
  int rv;
  if ((rv = cbor_put_head(b, 5, 5)) || (rv = cbor_put_key(b, "TTL")) ||
      (rv = cbor_put_head(b, 0, pa->ttl_ns)) || (rv = cbor_put_key(b, "Value")) ||
      (rv = cbor_put_head(b, 2, pa->value_len)) ||
      (rv = wr_buf_append(b, pa->value, pa->value_len)) || (rv = cbor_put_key(b, "Sequence")) ||
      (rv = cbor_put_head(b, 0, pa->sequence)) || (rv = cbor_put_key(b, "Validity")) ||
      (rv = cbor_put_head(b, 2, vlen)) || (rv = wr_buf_append(b, validity, vlen)) ||
      (rv = cbor_put_key(b, "ValidityType")) || (rv = cbor_put_head(b, 0, WR_IPNS_EOL)))
    return rv;
  return 0;
}

/* ---- the record ---- */

int wr_ipns_record_create(const wr_p2p_privkey *sk, const wr_ipns_params *pa, wr_buf *out) {
  char validity[WR_IPNS_TIME_STR];
  int vlen = wr_ipns_time_format(pa->eol_ns, validity, sizeof validity);
  if (vlen < 0)
    return vlen;
  if (pa->value_len > WR_IPNS_MAX_RECORD)
    return WR_ERR_LIMIT;
  wr_buf msg;
  wr_buf_init(&msg, 2 * WR_IPNS_MAX_RECORD);
  size_t start = out->len;
  uint8_t sig1[WR_P2P_ED25519_SIG], sig2[WR_P2P_ED25519_SIG];
  int rv;
  /* V1: value || validity || "EOL" */
  if ((rv = wr_buf_append(&msg, pa->value, pa->value_len)) ||
      (rv = wr_buf_append(&msg, validity, (size_t)vlen)) || (rv = wr_buf_puts(&msg, "EOL")))
    goto out;
  wr_p2p_sign(sk, msg.data, msg.len, sig1);
  wr_buf_reset(&msg);
  if ((rv = wr_buf_puts(&msg, SIG_V2_PREFIX)) ||
      (rv = data_encode(&msg, pa, validity, (size_t)vlen)))
    goto out;
  wr_p2p_sign(sk, msg.data, msg.len, sig2);
  const uint8_t *data = (const uint8_t *)msg.data + SIG_V2_PREFIX_LEN;
  size_t dlen = msg.len - SIG_V2_PREFIX_LEN;
  if ((rv = wr_pb_put_bytes(out, F_VALUE, pa->value, pa->value_len)) ||
      (rv = wr_pb_put_bytes(out, F_SIGV1, sig1, sizeof sig1)) ||
      (rv = wr_pb_put_uint(out, F_VTYPE, WR_IPNS_EOL)) ||
      (rv = wr_pb_put_bytes(out, F_VALIDITY, validity, (size_t)vlen)) ||
      (rv = wr_pb_put_uint(out, F_SEQ, pa->sequence)) ||
      (rv = wr_pb_put_uint(out, F_TTL, pa->ttl_ns)))
    goto out;
  if (pa->embed_pubkey) {
    wr_p2p_pubkey pk;
    uint8_t pkpb[WR_P2P_PUBKEY_ED25519_PB];
    wr_p2p_privkey_public(sk, &pk);
    wr_p2p_pubkey_encode(&pk, pkpb);
    if ((rv = wr_pb_put_bytes(out, F_PUBKEY, pkpb, sizeof pkpb)))
      goto out;
  }
  if ((rv = wr_pb_put_bytes(out, F_SIGV2, sig2, sizeof sig2)) ||
      (rv = wr_pb_put_bytes(out, F_DATA, data, dlen)))
    goto out;
  if (out->len - start > WR_IPNS_MAX_RECORD)
    rv = WR_ERR_LIMIT;
out:
  if (rv != 0)
    out->len = start;
  wr_buf_free(&msg);
  return rv;
}

int wr_ipns_record_decode(const uint8_t *p, size_t n, wr_ipns_record *rec, const char **preason) {
  memset(rec, 0, sizeof *rec);
  if (n > WR_IPNS_MAX_RECORD)
    FAIL(WR_ERR_LIMIT, "the record is larger than 10 KiB");
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  const uint8_t *v1_value = NULL, *v1_validity = NULL;
  size_t v1_value_len = 0, v1_validity_len = 0;
  uint64_t v1_vtype = 0, v1_seq = 0, v1_ttl = 0;
  unsigned seen = 0;
  int rv;
  while (c.pos < c.end) {
    uint32_t field;
    int wt;
    if ((rv = wr_pb_get_key(&c, &field, &wt, preason)) != 0)
      return rv;
    if (field < F_VALUE || field > F_DATA)
      FAIL(WR_ERR_MALFORMED, "the record has an unknown protobuf field");
    if (seen & (1u << field))
      FAIL(WR_ERR_MALFORMED, "the record has a protobuf field twice");
    seen |= 1u << field;
    int is_int = field == F_VTYPE || field == F_SEQ || field == F_TTL;
    if (wt != (is_int ? 0 : 2))
      FAIL(WR_ERR_MALFORMED, "a record field has the wrong protobuf wire type");
    if (is_int) {
      uint64_t v;
      if ((rv = wr_pb_get_varint(&c, &v, preason)) != 0)
        return rv;
      if (field == F_VTYPE)
        v1_vtype = v;
      else if (field == F_SEQ)
        v1_seq = v;
      else
        v1_ttl = v;
      continue;
    }
    const uint8_t *b;
    size_t bl;
    if ((rv = wr_pb_get_bytes(&c, &b, &bl, preason)) != 0)
      return rv;
    switch (field) {
    case F_VALUE:
      v1_value = b, v1_value_len = bl;
      break;
    case F_SIGV1:
      rec->sig_v1 = b, rec->sig_v1_len = bl;
      break;
    case F_VALIDITY:
      v1_validity = b, v1_validity_len = bl;
      break;
    case F_PUBKEY:
      rec->pubkey = b, rec->pubkey_len = bl;
      break;
    case F_SIGV2:
      rec->sig_v2 = b, rec->sig_v2_len = bl;
      break;
    default:
      rec->data = b, rec->data_len = bl;
      break;
    }
  }
  if (!(seen & (1u << F_SIGV2)))
    FAIL(WR_ERR_MALFORMED, "the record has no signatureV2 (V1-only records are not accepted)");
  if (!(seen & (1u << F_DATA)))
    FAIL(WR_ERR_MALFORMED, "the record has no data field");
  if ((rv = data_decode(rec->data, rec->data_len, rec, preason)) != 0)
    return rv;
  if (rec->validity_type != WR_IPNS_EOL)
    FAIL(WR_ERR_UNSUPPORTED, "the record's ValidityType is not EOL (0), the only one defined");
  if ((rv = wr_ipns_time_parse((const char *)rec->validity, rec->validity_len, &rec->eol_ns,
                               preason)) != 0)
    return rv;
  /* The unsigned V1 copies must say what the signed data says. */
  if ((seen & (1u << F_VALUE)) &&
      (v1_value_len != rec->value_len || memcmp(v1_value, rec->value, v1_value_len) != 0))
    FAIL(WR_ERR_MALFORMED, "the record's value differs from its signed data");
  if ((seen & (1u << F_VALIDITY)) && (v1_validity_len != rec->validity_len ||
                                      memcmp(v1_validity, rec->validity, v1_validity_len) != 0))
    FAIL(WR_ERR_MALFORMED, "the record's validity differs from its signed data");
  if ((seen & (1u << F_VTYPE)) && v1_vtype != rec->validity_type)
    FAIL(WR_ERR_MALFORMED, "the record's validityType differs from its signed data");
  if ((seen & (1u << F_SEQ)) && v1_seq != rec->sequence)
    FAIL(WR_ERR_MALFORMED, "the record's sequence differs from its signed data");
  if ((seen & (1u << F_TTL)) && v1_ttl != rec->ttl_ns)
    FAIL(WR_ERR_MALFORMED, "the record's ttl differs from its signed data");
  rec->has_v1_fields = (seen & ((1u << F_VALUE) | (1u << F_VALIDITY))) != 0;
  return 0;
}

int wr_ipns_record_verify(const wr_ipns_record *rec, const wr_peerid *name, int64_t now_ns,
                          const char **preason) {
  wr_p2p_pubkey pk;
  int rv;
  if (rec->pubkey) {
    if ((rv = wr_p2p_pubkey_decode(rec->pubkey, rec->pubkey_len, &pk, preason)) != 0)
      return rv;
    wr_peerid id;
    wr_peerid_from_pubkey(&id, &pk);
    if (!wr_peerid_equal(&id, name))
      FAIL(WR_ERR_DENIED, "the record's public key is not the key of the name");
  } else {
    rv = wr_peerid_pubkey(name, &pk);
    if (rv == WR_ERR_NOTFOUND)
      FAIL(rv, "the name does not inline its key and the record carries no pubKey");
    if (rv != 0)
      FAIL(rv, "the name's key is not Ed25519");
  }
  uint8_t msg[SIG_V2_PREFIX_LEN + WR_IPNS_MAX_RECORD];
  if (rec->data_len > WR_IPNS_MAX_RECORD)
    FAIL(WR_ERR_LIMIT, "the record's data is larger than 10 KiB");
  memcpy(msg, SIG_V2_PREFIX, SIG_V2_PREFIX_LEN);
  memcpy(msg + SIG_V2_PREFIX_LEN, rec->data, rec->data_len);
  rv = wr_p2p_verify(&pk, msg, SIG_V2_PREFIX_LEN + rec->data_len, rec->sig_v2, rec->sig_v2_len);
  if (rv == WR_ERR_UNSUPPORTED)
    FAIL(rv, "the record's key is not Ed25519");
  if (rv != 0)
    FAIL(WR_ERR_DENIED, "the record's signatureV2 does not verify with the name's key");
  if (now_ns >= rec->eol_ns)
    FAIL(WR_ERR_TIMEOUT, "the record has expired (its validity time has passed)");
  return 0;
}

int wr_ipns_validate(const uint8_t *p, size_t n, const wr_peerid *name, int64_t now_ns,
                     wr_ipns_record *rec, const char **preason) {
  int rv = wr_ipns_record_decode(p, n, rec, preason);
  return rv ? rv : wr_ipns_record_verify(rec, name, now_ns, preason);
}

int wr_ipns_record_compare(const wr_ipns_record *a, const wr_ipns_record *b) {
  if (a->sequence != b->sequence)
    return a->sequence > b->sequence ? 1 : -1;
  if (a->eol_ns != b->eol_ns)
    return a->eol_ns > b->eol_ns ? 1 : -1;
  return 0;
}

/* ---- names and the DHT ---- */

int wr_ipns_routing_key(const wr_peerid *name, uint8_t *out, size_t cap) {
  if (cap < 6)
    return WR_ERR_LIMIT;
  memcpy(out, "/ipns/", 6);
  int n = wr_peerid_to_bytes(name, out + 6, cap - 6);
  return n < 0 ? n : n + 6;
}

int wr_ipns_routing_key_parse(const uint8_t *key, size_t n, wr_peerid *name, const char **preason) {
  if (n < 6 || memcmp(key, "/ipns/", 6) != 0)
    FAIL(WR_ERR_MALFORMED, "the key is not in the /ipns/ namespace");
  return wr_peerid_decode(key + 6, n - 6, name, preason);
}

int wr_ipns_name_parse(const char *s, size_t n, wr_peerid *name, const char **preason) {
  if (n >= 6 && memcmp(s, "/ipns/", 6) == 0)
    s += 6, n -= 6;
  return wr_peerid_parse(s, n, name, preason);
}

int wr_ipns_dht_validate(const uint8_t *key, size_t keylen, const uint8_t *value, size_t valuelen,
                         int64_t now_ns, const char **preason) {
  wr_peerid name;
  wr_ipns_record rec;
  int rv = wr_ipns_routing_key_parse(key, keylen, &name, preason);
  return rv ? rv : wr_ipns_validate(value, valuelen, &name, now_ns, &rec, preason);
}

int wr_ipns_dht_select(const uint8_t *const *values, const size_t *lens, size_t n, size_t *pbest) {
  wr_ipns_record best, r;
  int have = 0;
  for (size_t i = 0; i < n; i++) {
    if (wr_ipns_record_decode(values[i], lens[i], &r, NULL) != 0)
      continue;
    if (!have || wr_ipns_record_compare(&r, &best) > 0) {
      best = r;
      *pbest = i;
      have = 1;
    }
  }
  return have ? 0 : WR_ERR_NOTFOUND;
}
