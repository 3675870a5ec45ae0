/* idna_test.c: Punycode against RFC 3492's samples, and host names as
 * cloudflared's ingress tests write them. */
#include "proto/text/idna.h"

#include "test.h"

static const char *puny(const unsigned *cp, size_t n) {
  static char out[256];
  size_t len = 0;
  if (wr_punycode_encode(cp, n, out, sizeof out - 1, &len) != 0)
    return "(error)";
  out[len] = '\0';
  return out;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_rfc3492_samples(void) {
  static const unsigned arabic[] = {0x644, 0x64a, 0x647, 0x645, 0x627, 0x628, 0x62a, 0x643, 0x644,
                                    0x645, 0x648, 0x634, 0x639, 0x631, 0x628, 0x64a, 0x61f};
  static const unsigned chinese[] = {0x4ed6, 0x4eec, 0x4e3a, 0x4ec0, 0x4e48,
                                     0x4e0d, 0x8bf4, 0x4e2d, 0x6587};
  static const unsigned kinpachi[] = {0x33, 0x5e74, 0x42, 0x7d44, 0x91d1, 0x516b, 0x5148, 0x751f};
  static const unsigned ascii[] = {'-', '>', ' ', '$', '1', '.', '0', '0', ' ', '<', '-'};
  static const unsigned amuro[] = {0x5b89, 0x5ba4, 0x5948, 0x7f8e, 0x6075, '-', 'w', 'i',
                                   't',    'h',    '-',    'S',    'U',    'P', 'E', 'R',
                                   '-',    'M',    'O',    'N',    'K',    'E', 'Y', 'S'};
  CHECK_STREQ(puny(arabic, N(arabic)), "egbpdaj6bu4bxfgehfvwxn");
  CHECK_STREQ(puny(chinese, N(chinese)), "ihqwcrb4cv8a8dqg056pqjye");
  CHECK_STREQ(puny(kinpachi, N(kinpachi)), "3B-ww4c5e180e575a65lsy2b");
  CHECK_STREQ(puny(ascii, N(ascii)), "-> $1.00 <--");
  CHECK_STREQ(puny(amuro, N(amuro)), "-with-SUPER-MONKEYS-pc58ag80a8qai00g7n9n");
}

static const char *ascii_of(const char *host, const char **why) {
  static char out[WR_IDNA_MAX + 1];
  *why = NULL;
  if (wr_idna_to_ascii(host, strlen(host), out, why) != 0)
    return "(error)";
  return out;
}

static void test_host_names(void) {
  const char *why;
  CHECK_STREQ(ascii_of("môô.cloudflare.com", &why), "xn--m-xgaa.cloudflare.com");
  CHECK_STREQ(ascii_of("Bücher.Example", &why), "xn--bcher-kva.example");
  CHECK_STREQ(ascii_of("*.münchen.de", &why), "*.xn--mnchen-3ya.de");
  CHECK_STREQ(ascii_of("App.Example.COM", &why), "app.example.com");
  CHECK_STREQ(ascii_of("xn--mnchen-3ya.de", &why), "xn--mnchen-3ya.de");
}

static void test_refusals(void) {
  const char *why;
  /* A lone surrogate (U+D8F3 as UTF-8), as cloudflared's "Invalid unicode
   * domain" case; an overlong '/'; a truncated sequence. */
  CHECK_STREQ(ascii_of("\xed\xa3\xb3.cloudflare.com", &why), "(error)");
  CHECK_STREQ(why, "the host name is not valid UTF-8");
  CHECK_STREQ(ascii_of("a\xc0\xaf.com", &why), "(error)");
  CHECK_STREQ(ascii_of("caf\xc3", &why), "(error)");
  CHECK_STREQ(ascii_of("a b.com", &why), "(error)");
  CHECK_STREQ(why, "the host name has a space or a control character");
  CHECK_STREQ(ascii_of("a..com", &why), "(error)");
  CHECK_STREQ(why, "the host name has an empty label");
  char longlabel[80];
  memset(longlabel, 'a', 64);
  strcpy(longlabel + 64, ".com");
  CHECK_STREQ(ascii_of(longlabel, &why), "(error)");
  CHECK_STREQ(why, "a label of the host name is longer than 63 characters");
  /* 30 scattered CJK characters: 90 bytes of UTF-8, 30 code points, and far
   * over 63 bytes once encoded. */
  char cjk[128] = "";
  size_t o = 0;
  for (unsigned i = 0; i < 30; i++) {
    unsigned c = 0x4e00 + i * 677;
    cjk[o++] = (char)(0xe0 | (c >> 12));
    cjk[o++] = (char)(0x80 | ((c >> 6) & 0x3f));
    cjk[o++] = (char)(0x80 | (c & 0x3f));
  }
  cjk[o] = '\0';
  CHECK_STREQ(ascii_of(cjk, &why), "(error)");
  CHECK_STREQ(why, "a label of the host name is longer than 63 characters once encoded");
  char name[400] = "";
  for (int i = 0; i < 64; i++)
    strcat(name, "abcde.");
  strcat(name, "com");
  CHECK_STREQ(ascii_of(name, &why), "(error)");
  CHECK_STREQ(why, "the host name is longer than 253 characters once encoded");
}

int main(void) {
  RUN(test_rfc3492_samples);
  RUN(test_host_names);
  RUN(test_refusals);
  return test_done();
}
