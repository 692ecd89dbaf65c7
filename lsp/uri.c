/* uri.c: file:// URIs. */
#include "uri.h"

#include <string.h>
#include <strings.h>

static int hex(char c) {
  if(c >= '0' && c <= '9') return c - '0';
  if(c >= 'a' && c <= 'f') return c - 'a' + 10;
  if(c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char *ch_uri_to_path(const char *uri) {
  if(!uri || strncasecmp(uri, "file://", 7) != 0) return NULL;
  const char *p = uri + 7;
  const char *path = strchr(p, '/');
  if(!path) return NULL;
  size_t host = (size_t)(path - p);
  if(host && !(host == 9 && strncasecmp(p, "localhost", 9) == 0)) return NULL;
  ch_buf out;
  ch_buf_init(&out, 1 << 16);
  for(const char *s = path; *s; s++) {
    if(*s == '?' || *s == '#') break; /* query and fragment are not path */
    char c = *s;
    if(c == '%') {
      int hi = hex(s[1]), lo = hi < 0 ? -1 : hex(s[2]);
      if(lo < 0) goto bad;
      c = (char)(hi * 16 + lo);
      if(c == 0) goto bad;
      s += 2;
    }
    if(ch_buf_append_char(&out, c)) goto bad;
  }
  return ch_buf_detach(&out, NULL);
bad:
  ch_buf_release(&out);
  return NULL;
}

char *ch_path_to_uri(const char *path) {
  static const char digits[] = "0123456789ABCDEF";
  ch_buf out;
  ch_buf_init(&out, SIZE_MAX / 2);
  ch_buf_append_str(&out, "file://");
  for(const unsigned char *s = (const unsigned char *)path; *s; s++) {
    unsigned char c = *s;
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || strchr("-._~/!$&'()*+,;=:@", c);
    if(plain) {
      ch_buf_append_char(&out, (char)c);
    } else {
      char esc[3] = {'%', digits[c >> 4], digits[c & 15]};
      ch_buf_append(&out, esc, 3);
    }
  }
  return ch_buf_detach(&out, NULL);
}
