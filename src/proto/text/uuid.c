#include "proto/text/uuid.h"

#include "base/buf.h"

int wr_uuid_parse(const char *s, size_t len, uint8_t out[16]) {
  if (len != WR_UUID_STR_LEN)
    return WR_ERR_MALFORMED;
  char hex[32];
  size_t h = 0;
  for (size_t i = 0; i < len; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-')
        return WR_ERR_MALFORMED;
      continue;
    }
    hex[h++] = s[i];
  }
  return wr_hex_decode(out, 16, hex, 32) == 0 ? 0 : WR_ERR_MALFORMED;
}

void wr_uuid_format(const uint8_t id[16], char out[WR_UUID_STR_LEN + 1]) {
  char hex[33];
  wr_hex_encode(hex, id, 16);
  size_t o = 0;
  for (size_t i = 0; i < 32; i++) {
    if (i == 8 || i == 12 || i == 16 || i == 20)
      out[o++] = '-';
    out[o++] = hex[i];
  }
  out[o] = '\0';
}

void wr_uuid_make_v4(uint8_t id[16]) {
  id[6] = (uint8_t)((id[6] & 0x0F) | 0x40);
  id[8] = (uint8_t)((id[8] & 0x3F) | 0x80);
}
