// What the native helpers (sbx-idmap, sbx-userns) share: dying with a message, strict id parsing and
// whole writes to /proc files. Each defines HELPER_NAME before including this, for its messages.
#ifndef SBX_HELPER_COMMON_H
#define SBX_HELPER_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void die(const char *what, const char *arg) {
  fprintf(stderr, HELPER_NAME ": %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "", strerror(errno));
  exit(1);
}

// A decimal id of at most 32 bits, nothing else (exit 2 otherwise: the caller's mistake).
static unsigned long parse_id(const char *s) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || *end || end == s || v > UINT32_MAX) {
    fprintf(stderr, HELPER_NAME ": not an id: %s\n", s);
    exit(2);
  }
  return v;
}

static void write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) die("open", path);
  if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) die("write", path);
  close(fd);
}

#endif
