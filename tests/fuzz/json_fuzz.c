/* Fuzzes the JSON reader: it never crashes or reads past the end; an error
 * names an offset inside the text; a parsed string re-written by
 * wr_json_put_string parses back to the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "proto/text/json.h"

static void check_strings(const wr_json *v) {
  for (; v; v = v->next) {
    if (v->type == WR_JSON_STRING) {
      wr_buf b;
      wr_buf_init(&b, 1 << 20);
      if (wr_json_put_string(&b, v->str, v->len) != 0)
        abort(); /* the reader only returns valid UTF-8 */
      wr_json *back = NULL;
      if (wr_json_parse((const char *)b.data, b.len, NULL, &back, NULL) != 0 ||
          back->type != WR_JSON_STRING || back->len != v->len ||
          memcmp(back->str, v->str, v->len) != 0)
        abort();
      wr_json_del(back);
      wr_buf_free(&b);
    }
    check_strings(v->child);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  wr_json *root = NULL;
  wr_json_error e;
  wr_json_limits lim = {16, 1 << 16, 4096};
  int rv = wr_json_parse((const char *)data, size, &lim, &root, &e);
  if (rv) {
    if (root || !e.msg || e.offset > size)
      abort();
    return 0;
  }
  check_strings(root);
  wr_json_del(root);
  return 0;
}
