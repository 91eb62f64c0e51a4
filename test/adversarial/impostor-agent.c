/*
 * An impostor of sbx-agent, run as root inside a sandbox by test/adversarial/agent.e2e.test.ts:
 * takes over the agent's socket name (/.sbx/run/agent.sock), daemonizes and answers every
 * connection the way a hostile agent could. Modes:
 *   garbage  answers the daemon's HELLO with HTTP text;
 *   huge     answers HELLO properly, then announces a 4 GiB frame and streams zeros into it;
 *   lies     answers HELLO properly, then answers every request with a request id never asked.
 */
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void put32(uint8_t *p, uint32_t v) { p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v; }

static void hello(int c, const uint8_t *req) {
  uint8_t f[9 + 8 + 4] = {0};
  put32(f, 5 + 8 + 4);
  f[4] = 0x81;
  memcpy(f + 5, req, 4);
  put32(f + 9, 1);
  put32(f + 13, 4);
  memcpy(f + 17, "fake", 4);
  (void)!write(c, f, sizeof f);
}

static void serve(int c, const char *mode) {
  uint8_t in[4096];
  if (read(c, in, sizeof in) < 9) return;
  if (!strcmp(mode, "garbage")) {
    const char *t = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    (void)!write(c, t, strlen(t));
    return;
  }
  hello(c, in + 5);
  if (!strcmp(mode, "huge")) {
    uint8_t head[4] = {0xff, 0xff, 0xff, 0xff}, zeros[65536] = {0};
    (void)!write(c, head, 4);
    while (write(c, zeros, sizeof zeros) > 0) {
    }
    return;
  }
  for (;;) { /* lies */
    if (read(c, in, sizeof in) < 9) return;
    uint8_t f[9];
    put32(f, 5);
    f[4] = 0x80;
    put32(f + 5, 0x7ffffff0);
    (void)!write(c, f, sizeof f);
  }
}

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  strcpy(a.sun_path, "/.sbx/run/agent.sock");
  unlink(a.sun_path);
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 8) < 0) return 1;
  if (fork() > 0) return 0;
  setsid();
  close(0), close(1), close(2);
  signal(SIGPIPE, SIG_IGN);
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    if (fork() == 0) {
      serve(c, argv[1]);
      _exit(0);
    }
    close(c);
  }
}
