/* Fuzzes the names in gateway requests (gateway/gwname.h): the input is
 * split at its first NUL into a host and a path. Every refusal says why;
 * inlining round-trips; a plan is one of its four actions, with a status
 * for the two that answer at once and NUL-terminated texts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gwname.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 2048)
    return 0;
  char buf[2050];
  memcpy(buf, data, size);
  buf[size] = '\0';
  char *host = buf, *path = memchr(buf, 0, size) ? buf + strlen(buf) + 1 : buf + size;
  if (path > buf + size)
    path = buf + size;
  size_t hn = strlen(host);

  char canon[WR_GW_NAME_TEXT_MAX];
  int c;
  const char *why = NULL;
  int k = wr_gw_name_parse(host, hn, canon, &c, &why);
  if (k < 0 && !why)
    abort();
  if (k > 0 && strlen(canon) >= WR_GW_NAME_TEXT_MAX)
    abort();
  if (k == WR_GW_NAME_DOMAIN) {
    char in[80], back[WR_GW_NAME_TEXT_MAX];
    int l = wr_gw_dns_inline(canon, in, sizeof in);
    if (l >= 0) {
      if (l > 63 || strlen(in) != (size_t)l)
        abort();
      int b = wr_gw_dns_uninline(in, (size_t)l, back, sizeof back);
      if (b < 0 || strcmp(back, canon) != 0)
        abort();
    }
  }
  char name[WR_GW_NAME_TEXT_MAX];
  int inl;
  why = NULL;
  k = wr_gw_ipns_subdomain(host, hn, "gw.test", name, &inl, &why);
  if (k < 0 && !why)
    abort();
  if (k == 1 && strlen(name) >= WR_GW_NAME_TEXT_MAX)
    abort();

  static wr_gw_plan plan;
  for (int site = WR_GW_PLAN_SITE_PATH; site <= WR_GW_PLAN_SITE_DNSLINK; site++) {
    wr_gw_plan_in pin = {.site = (wr_gw_plan_site)site,
                         .site_host = "gw.test",
                         .site_root = site == WR_GW_PLAN_SITE_CONTENT ? "/ipns/example.test" : NULL,
                         .host = host,
                         .path = *path == '/' ? path : "/",
                         .target = *path == '/' ? path : "/",
                         .https = (int)(size & 1)};
    wr_gw_plan_name(&pin, &plan);
    switch (plan.action) {
    case WR_GW_PLAN_NONE:
      break;
    case WR_GW_PLAN_RESOLVE:
      if (strncmp(plan.resolve, "/ipns/", 6) != 0)
        abort();
      break;
    case WR_GW_PLAN_REDIRECT:
      if (plan.status != 301 && plan.status != 302)
        abort();
      break;
    case WR_GW_PLAN_ERROR:
      if (!plan.why || plan.status < 400)
        abort();
      break;
    default:
      abort();
    }
    if (strlen(plan.location) >= sizeof plan.location || strlen(plan.xpath) >= sizeof plan.xpath)
      abort();
  }
  return 0;
}
