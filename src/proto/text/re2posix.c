/* re2posix.c: Go (RE2) expressions to POSIX ERE (see re2posix.h). */
#include "proto/text/re2posix.h"

#include <string.h>

typedef struct tr {
  const unsigned char *s;
  size_t n, i;
  wr_buf *out;
  char *err;
  size_t errlen;
} tr;

/* A bracket expression being rebuilt: POSIX wants ']' first, '-' last and
 * '^' anywhere but first, so those are held back and placed at the end. */
typedef struct bracket {
  size_t start; /* where its '[' is, for messages */
  int negated, rbracket, lbracket, caret, dash;
  char body[512];
  size_t len;
} bracket;

/* The characters POSIX ERE gives a meaning outside brackets. */
static const char SPECIAL[] = ".[()*+?{|^$\\";

/* Says what is wrong, as Go's regexp/syntax words it ("invalid escape
 * sequence: `\\q`"), quoting the bytes [from, t->i) of the expression. */
static int refuse(tr *t, size_t from, const char *what) {
  size_t to = t->i < t->n ? t->i : t->n;
  if (from > to)
    from = to;
  return wr_errf(t->err, t->errlen, WR_ERR_INVAL, "%s: `%.*s`", what, (int)(to - from),
                 (const char *)t->s + from);
}

static int emit(tr *t, const char *p, size_t n) { return wr_buf_append(t->out, p, n); }
static int emits(tr *t, const char *p) { return emit(t, p, strlen(p)); }

/* Emits code point cp as a literal: escaped when POSIX would read it as an
 * operator; a non-ASCII one as its UTF-8 bytes in a group, so that a
 * quantifier after it repeats the character, not its last byte. */
static int emit_literal(tr *t, unsigned cp) {
  char u[8];
  size_t n = 0;
  if (cp < 0x80) {
    if (cp && strchr(SPECIAL, (int)cp))
      u[n++] = '\\';
    u[n++] = (char)cp;
    return emit(t, u, n);
  }
  u[n++] = '(';
  if (cp < 0x800) {
    u[n++] = (char)(0xc0 | (cp >> 6));
  } else if (cp < 0x10000) {
    u[n++] = (char)(0xe0 | (cp >> 12));
    u[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
  } else {
    u[n++] = (char)(0xf0 | (cp >> 18));
    u[n++] = (char)(0x80 | ((cp >> 12) & 0x3f));
    u[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
  }
  u[n++] = (char)(0x80 | (cp & 0x3f));
  u[n++] = ')';
  return emit(t, u, n);
}

static int is_hex(unsigned c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static unsigned hexval(unsigned c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

/* \xhh or \x{h...} after the 'x' at t->i; sets *pcp. */
static int hex_escape(tr *t, size_t from, unsigned *pcp) {
  unsigned cp = 0;
  if (t->i < t->n && t->s[t->i] == '{') {
    size_t digits = 0;
    for (t->i++; t->i < t->n && is_hex(t->s[t->i]); t->i++, digits++) {
      cp = cp * 16 + hexval(t->s[t->i]);
      if (cp > 0x10ffff)
        return refuse(t, from, "invalid escape sequence");
    }
    if (!digits || t->i >= t->n || t->s[t->i] != '}')
      return refuse(t, from, "invalid escape sequence");
    t->i++;
  } else {
    if (t->n - t->i < 2 || !is_hex(t->s[t->i]) || !is_hex(t->s[t->i + 1])) {
      t->i = t->n - t->i < 2 ? t->n : t->i + 2;
      return refuse(t, from, "invalid escape sequence");
    }
    cp = hexval(t->s[t->i]) * 16 + hexval(t->s[t->i + 1]);
    t->i += 2;
  }
  if (cp >= 0xd800 && cp <= 0xdfff)
    return refuse(t, from, "invalid escape sequence");
  *pcp = cp;
  return 0;
}

enum { ESC_LITERAL, ESC_CLASS, ESC_ANCHOR };

/* One escape after the backslash at t->i - 1. Sets *pkind and either *pcp
 * (a literal) or *pclass (d w s, upper case when negated) or the anchor's
 * POSIX text in *pclass ('^' or '$'). */
static int escape(tr *t, int *pkind, unsigned *pcp, char *pclass) {
  size_t from = t->i - 1;
  if (t->i >= t->n)
    return refuse(t, from, "trailing backslash at end of expression");
  unsigned c = t->s[t->i++];
  switch (c) {
  case 'd':
  case 'D':
  case 'w':
  case 'W':
  case 's':
  case 'S':
    *pkind = ESC_CLASS;
    *pclass = (char)c;
    return 0;
  case 'A':
  case 'z':
    *pkind = ESC_ANCHOR;
    *pclass = c == 'A' ? '^' : '$';
    return 0;
  case 'b':
  case 'B':
    return refuse(t, from, "no POSIX equivalent for a word boundary");
  case 'p':
  case 'P':
    return refuse(t, from, "no POSIX equivalent for a Unicode class");
  case 'a':
    *pcp = 7;
    break;
  case 'f':
    *pcp = '\f';
    break;
  case 't':
    *pcp = '\t';
    break;
  case 'n':
    *pcp = '\n';
    break;
  case 'r':
    *pcp = '\r';
    break;
  case 'v':
    *pcp = '\v';
    break;
  case 'x':
    if (hex_escape(t, from, pcp))
      return WR_ERR_INVAL;
    break;
  default:
    if (c >= '0' && c <= '7') {
      /* Go reads \0, \0NN and \NNN as octal; a lone \1..\7 would be a
       * back-reference, which neither Go nor RE2 has. */
      unsigned v = c - '0', digits = 1;
      while (digits < 3 && t->i < t->n && t->s[t->i] >= '0' && t->s[t->i] <= '7') {
        v = v * 8 + (t->s[t->i++] - '0');
        digits++;
      }
      if (c != '0' && digits == 1)
        return refuse(t, from, "invalid escape sequence");
      *pcp = v;
      break;
    }
    if (c < 0x80 && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9')) {
      *pcp = c; /* \. \/ \- \\ ...: the character itself */
      break;
    }
    return refuse(t, from, "invalid escape sequence");
  }
  if (*pcp == 0)
    return refuse(t, from, "a NUL character cannot appear in a path");
  *pkind = ESC_LITERAL;
  return 0;
}

static int body_add(tr *t, bracket *b, const char *p, size_t n) {
  if (b->len + n >= sizeof b->body)
    return refuse(t, t->i, "a character class is too long");
  memcpy(b->body + b->len, p, n);
  b->len += n;
  return 0;
}

/* Adds the literal cp to the class being rebuilt. */
static int class_literal(tr *t, bracket *b, unsigned cp) {
  if (cp >= 0x80)
    return wr_errf(t->err, t->errlen, WR_ERR_INVAL,
                   "no POSIX equivalent in the C locale for non-ASCII in a class");
  char c = (char)cp;
  if (c == ']')
    b->rbracket = 1;
  else if (c == '[')
    b->lbracket = 1;
  else if (c == '^')
    b->caret = 1;
  else if (c == '-')
    b->dash = 1;
  else
    return body_add(t, b, &c, 1);
  return 0;
}

/* One member of a class at t->i: sets *pcp to a literal usable as a range
 * end, or ~0u when it added a class (\d, [:alpha:]) itself. */
static int class_atom(tr *t, bracket *b, unsigned *pcp) {
  size_t at = t->i;
  unsigned c = t->s[t->i];
  if (c == '[' && t->i + 1 < t->n && t->s[t->i + 1] == ':') {
    const unsigned char *end = memchr(t->s + t->i + 2, ']', t->n - t->i - 2);
    if (!end || end[-1] != ':') {
      t->i = t->n;
      return refuse(t, at, "invalid character class");
    }
    if (t->s[t->i + 2] == '^') {
      t->i = (size_t)(end - t->s) + 1;
      return refuse(t, at, "no POSIX equivalent for a negated class in a class");
    }
    size_t n = (size_t)(end - (t->s + t->i)) + 1;
    if (body_add(t, b, (const char *)t->s + t->i, n))
      return WR_ERR_INVAL;
    t->i += n;
    *pcp = ~0u;
    return 0;
  }
  t->i++;
  if (c == '\\') {
    int kind;
    char cls = 0;
    if (escape(t, &kind, pcp, &cls))
      return WR_ERR_INVAL;
    if (kind == ESC_ANCHOR)
      return refuse(t, at, "invalid escape sequence");
    if (kind == ESC_CLASS) {
      *pcp = ~0u;
      switch (cls) {
      case 'd':
        return body_add(t, b, "0-9", 3);
      case 'w':
        return body_add(t, b, "[:alnum:]_", 10);
      case 's':
        return body_add(t, b, " \t\n\f\r", 5);
      default:
        return refuse(t, at, "no POSIX equivalent for a negated class in a class");
      }
    }
    return 0;
  }
  if (c >= 0x80)
    return wr_errf(t->err, t->errlen, WR_ERR_INVAL,
                   "no POSIX equivalent in the C locale for non-ASCII in a class");
  *pcp = c;
  return 0;
}

static int emit_bracket(tr *t, const bracket *b) {
  if (!b->negated && !b->rbracket && !b->len && !b->lbracket && !b->dash)
    return b->caret ? emits(t, "\\^") : refuse(t, b->start, "missing closing ]");
  if (emits(t, b->negated ? "[^" : "["))
    return WR_ERR_NOMEM;
  /* With nothing else before it, '^' goes after '-' so it is not first. */
  int caret_last = !b->negated && !b->rbracket && !b->len && !b->lbracket;
  int rv = (b->rbracket ? emits(t, "]") : 0) || emit(t, b->body, b->len) ||
           (b->lbracket ? emits(t, "[") : 0) || (b->caret && !caret_last ? emits(t, "^") : 0) ||
           (b->dash ? emits(t, "-") : 0) || (b->caret && caret_last ? emits(t, "^") : 0) ||
           emits(t, "]");
  return rv ? WR_ERR_NOMEM : 0;
}

/* A [...] class starting at t->i (the '['). */
static int bracket_expr(tr *t) {
  bracket b;
  memset(&b, 0, sizeof b);
  b.start = t->i;
  t->i++;
  if (t->i < t->n && t->s[t->i] == '^') {
    b.negated = 1;
    t->i++;
  }
  if (t->i < t->n && t->s[t->i] == ']') { /* a ']' first is a literal, as in Go */
    b.rbracket = 1;
    t->i++;
  }
  for (;;) {
    if (t->i >= t->n)
      return refuse(t, b.start, "missing closing ]");
    if (t->s[t->i] == ']') {
      t->i++;
      return emit_bracket(t, &b);
    }
    unsigned lo, hi;
    size_t at = t->i;
    if (class_atom(t, &b, &lo))
      return WR_ERR_INVAL;
    if (lo == ~0u)
      continue;
    if (t->i + 1 < t->n && t->s[t->i] == '-' && t->s[t->i + 1] != ']') {
      t->i++;
      if (class_atom(t, &b, &hi))
        return WR_ERR_INVAL;
      if (hi == ~0u)
        return refuse(t, at, "invalid character class range");
      if (hi < lo)
        return refuse(t, at, "invalid character class range");
      if (strchr("]^-[\\", (int)lo) || strchr("]^-[\\", (int)hi))
        return refuse(t, at,
                      "no POSIX equivalent for a range that starts or ends "
                      "with ] ^ - [ or \\");
      char r[3] = {(char)lo, '-', (char)hi};
      if (body_add(t, &b, r, 3))
        return WR_ERR_INVAL;
      continue;
    }
    if (class_literal(t, &b, lo))
      return WR_ERR_INVAL;
  }
}

/* "(?" at t->i: a non-capturing or named group, or flags. */
static int group(tr *t, int *picase) {
  size_t start = t->i;
  t->i += 2;
  if (t->i >= t->n)
    return refuse(t, start, "missing closing )");
  unsigned c = t->s[t->i];
  if (c == ':') {
    t->i++;
    return emits(t, "(");
  }
  if (c == '=' || c == '!' ||
      (c == '<' && t->i + 1 < t->n && (t->s[t->i + 1] == '=' || t->s[t->i + 1] == '!'))) {
    t->i = t->i + 1 + (c == '<');
    return refuse(t, start, "invalid or unsupported Perl syntax");
  }
  if (c == '<' || (c == 'P' && t->i + 1 < t->n && t->s[t->i + 1] == '<')) {
    const unsigned char *gt = memchr(t->s + t->i, '>', t->n - t->i);
    if (!gt) {
      t->i = t->n;
      return refuse(t, start, "invalid named capture");
    }
    t->i = (size_t)(gt - t->s) + 1;
    return emits(t, "(");
  }
  int icase = 0;
  for (; t->i < t->n; t->i++) {
    c = t->s[t->i];
    if (c == ')' || c == ':')
      break;
    if (c == 'i') {
      icase = 1;
    } else if (c != 'm' && c != 's' && c != 'U') {
      t->i++;
      return refuse(t, start,
                    c == '-' ? "no POSIX equivalent for turning a flag off"
                             : "invalid or unsupported Perl syntax");
    }
  }
  if (t->i >= t->n)
    return refuse(t, start, "missing closing )");
  t->i++;
  if (c == ':') {
    if (icase)
      return refuse(t, start, "no POSIX equivalent for a case-insensitive group (put (?i) first)");
    return emits(t, "(");
  }
  if (icase && start != 0)
    return refuse(t, start, "no POSIX equivalent for (?i) after the start (put it first)");
  if (icase)
    *picase = 1;
  return 0; /* m, s, U: a path is one line, and greed does not change a yes/no
               match */
}

/* The length of a valid repetition "{m}", "{m,}" or "{m,n}" at t->i, else 0. */
static size_t repetition_len(const tr *t) {
  size_t j = t->i + 1, digits = 0;
  while (j < t->n && t->s[j] >= '0' && t->s[j] <= '9')
    j++, digits++;
  if (!digits || j >= t->n)
    return 0;
  if (t->s[j] == ',') {
    j++;
    while (j < t->n && t->s[j] >= '0' && t->s[j] <= '9')
      j++;
  }
  return j < t->n && t->s[j] == '}' ? j + 1 - t->i : 0;
}

/* A raw UTF-8 sequence starting at t->i, kept whole (in a group). */
static int utf8_literal(tr *t) {
  unsigned c = t->s[t->i];
  size_t need = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
  int ok = need && t->n - t->i - 1 >= need;
  for (size_t k = 1; ok && k <= need; k++)
    ok = (t->s[t->i + k] & 0xc0) == 0x80;
  if (!ok) /* quoting the bytes would put invalid UTF-8 in a log line */
    return wr_errf(t->err, t->errlen, WR_ERR_INVAL, "invalid UTF-8");
  int rv = emits(t, "(") || emit(t, (const char *)t->s + t->i, need + 1) || emits(t, ")");
  t->i += need + 1;
  return rv ? WR_ERR_NOMEM : 0;
}

static int step(tr *t, int *picase) {
  size_t from = t->i;
  unsigned c = t->s[t->i];
  switch (c) {
  case '\\': {
    int kind;
    unsigned cp = 0;
    char cls = 0;
    t->i++;
    if (t->i < t->n && t->s[t->i] == 'Q') { /* \Q...\E: everything literal */
      t->i++;
      for (; t->i < t->n; t->i++) {
        if (t->s[t->i] == '\\' && t->i + 1 < t->n && t->s[t->i + 1] == 'E') {
          t->i += 2;
          return 0;
        }
        if (emit_literal(t, t->s[t->i]))
          return WR_ERR_NOMEM;
      }
      return 0;
    }
    if (escape(t, &kind, &cp, &cls))
      return WR_ERR_INVAL;
    if (kind == ESC_ANCHOR)
      return emit(t, &cls, 1);
    if (kind == ESC_LITERAL)
      return emit_literal(t, cp);
    switch (cls) {
    case 'd':
      return emits(t, "[0-9]");
    case 'D':
      return emits(t, "[^0-9]");
    case 'w':
      return emits(t, "[[:alnum:]_]");
    case 'W':
      return emits(t, "[^[:alnum:]_]");
    case 's':
      return emits(t, "[ \t\n\f\r]");
    default:
      return emits(t, "[^ \t\n\f\r]");
    }
  }
  case '[':
    return bracket_expr(t);
  case '(':
    if (t->i + 1 < t->n && t->s[t->i + 1] == '?')
      return group(t, picase);
    t->i++;
    return emits(t, "(");
  case '*':
  case '+':
  case '?':
    t->i++;
    if (emit(t, (const char *)&t->s[t->i - 1], 1))
      return WR_ERR_NOMEM;
    break;
  case '{': {
    size_t n = repetition_len(t);
    if (!n) { /* Go reads a '{' that starts no repetition as itself */
      t->i++;
      return emits(t, "\\{");
    }
    if (emit(t, (const char *)t->s + t->i, n))
      return WR_ERR_NOMEM;
    t->i += n;
    break;
  }
  default:
    if (c >= 0x80)
      return utf8_literal(t);
    t->i++;
    return emit(t, (const char *)&t->s[t->i - 1], 1);
  }
  /* After a quantifier: a '?' makes it lazy, which changes what a match
   * covers but never whether there is one. */
  if (t->i < t->n && t->s[t->i] == '?')
    t->i++;
  /* Go refuses a quantifier on a quantifier; glibc would accept a+++ and
   * take memory exponential in the count. */
  if (t->i < t->n && (strchr("*+?", t->s[t->i]) || repetition_len(t))) {
    t->i += t->s[t->i] == '{' ? repetition_len(t) : 1;
    return refuse(t, from, "invalid nested repetition operator");
  }
  return 0;
}

int wr_re2_to_posix(const char *re2, size_t len, wr_buf *out, int *picase, char *err,
                    size_t errlen) {
  tr t = {(const unsigned char *)re2, len, 0, out, err, errlen};
  *picase = 0;
  if (memchr(re2, '\0', len))
    return wr_errf(err, errlen, WR_ERR_INVAL, "a NUL character cannot appear in a path");
  while (t.i < t.n) {
    int rv = step(&t, picase);
    if (rv)
      return rv;
  }
  return 0;
}
