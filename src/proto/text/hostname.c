#include "proto/text/hostname.h"

#include <string.h>

static int inval(const char **preason, const char *why) {
  if (preason)
    *preason = why;
  return WR_ERR_INVAL;
}

int wr_hostname_check(const char *s, size_t len, int allow_wildcard, char *out,
                      const char **preason) {
  size_t i = 0, o = 0, labels = 0;
  if (len == 0)
    return inval(preason, "it is empty");
  if (len > WR_HOSTNAME_MAX)
    return inval(preason, "it is longer than 253 characters");
  if (memchr(s, ':', len))
    return inval(preason, "a hostname cannot contain a port");
  if (len >= 2 && s[0] == '*' && s[1] == '.') {
    if (!allow_wildcard)
      return inval(preason, "a wildcard is not allowed here");
    out[o++] = '*';
    out[o++] = '.';
    i = 2;
  }
  if (memchr(s + i, '*', len - i))
    return inval(preason, "a wildcard may only be a leading \"*.\", as in \"*.example.com\"");
  while (i < len) {
    size_t start = i;
    while (i < len && s[i] != '.') {
      char c = s[i];
      if (c >= 'A' && c <= 'Z')
        c = (char)(c + 32);
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
        return inval(preason, "only letters, digits, '-' and '.' are allowed (write other names in punycode)");
      out[o++] = c;
      i++;
    }
    size_t n = i - start;
    if (n == 0)
      return inval(preason, "it has an empty label (two dots in a row, or a dot at an end)");
    if (n > 63)
      return inval(preason, "a label is longer than 63 characters");
    if (s[start] == '-' || s[i - 1] == '-')
      return inval(preason, "a label cannot start or end with '-'");
    labels++;
    if (i < len) {
      out[o++] = '.';
      i++;
      if (i == len)
        return inval(preason, "it has an empty label (two dots in a row, or a dot at an end)");
    }
  }
  if (labels < 2)
    return inval(preason, "it needs at least two labels, as in \"app.example.com\"");
  out[o] = '\0';
  return 0;
}
