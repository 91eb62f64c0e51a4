/*
 * sbx-agent: PID 1 of every sbx sandbox. It reaps orphans, forwards termination signals to the
 * processes it started, and serves the daemon over a unix socket in a directory the daemon
 * bind-mounts into the sandbox: it starts processes (argv, env, cwd, uid:gid, stdin pipe, pty),
 * writes their output to files in the sandbox's log tmpfs (so a restarted daemon finds it), keeps
 * their exit codes (in memory and as <id>.exit files), and delivers signals, stdin and pty sizes.
 * It owns the processes: a daemon restart loses nothing, the new daemon just connects again.
 *
 * Usage: sbx-agent <socket dir> <log dir>     (listens on <socket dir>/agent.sock)
 *
 * Protocol (version 1; full description in docs/agent-protocol.md). Integers are big-endian.
 *   frame = u32 len | u8 type | u32 req | body        len = 5 + body length, at most MAX_FRAME
 *   str   = u32 n | n bytes                           bytes = the same, binary
 * Requests carry a request id the reply repeats; events (agent to daemon, unasked) carry req 0.
 *   0x01 HELLO    u32 min, u32 max                     -> 0x81 HELLO u32 version, str agent
 *   0x02 START    str id, u32 uid, u32 gid, str cwd, u32 argc, str*, u32 envc, str*,
 *                 u8 flags (1 stdin, 2 pty, 4 stream), u16 cols, u16 rows
 *                                                       -> 0x82 STARTED u32 pid
 *   0x03 STDIN    str id, bytes data                   -> 0x80 OK (once written to the pipe)
 *   0x04 EOF      str id                               -> OK (stdin closed once drained)
 *   0x05 SIGNAL   str id, u32 signo                    -> OK
 *   0x06 STATUS   str id                               -> 0x86 STATUS u8 exited, u32 code
 *   0x07 RESIZE   str id, u16 cols, u16 rows           -> OK
 *   0x08 ATTACH   str id                               -> OK; its OUTPUT events come to this connection
 *   any failure                                        -> 0xFF ERROR u32 code, str message
 *   event 0xC1 EXIT   str id, u32 code (128+n for a death by signal n), to every connection
 *   event 0xC2 OUTPUT str id, u8 stream (1 stdout, 2 stderr), bytes data  (stream and pty processes)
 * Version 3 adds no frames either: `file stream`, a file's size then its bytes (files.inc.c).
 * Version 2 adds no frames: it says the binary also serves file operations as
 * `/.sbx/agent file <op> ...` children (files.inc.c), started with START like any stream process,
 * and that a terminal outlives the connection that holds it (ATTACH takes it over).
 * Version: HELLO must come first; the agent answers the highest version in [min, max] it speaks,
 * or ERROR E_VERSION. A daemon that meets an older agent (a sandbox started before an upgrade)
 * speaks that agent's version.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define PROTO_MIN 1
#ifndef PROTO_MAX /* -DPROTO_MAX=1 builds an agent as old as version 1 (tests of the fallback) */
#define PROTO_MAX 3
#endif
#define AGENT_VERSION "sbx-agent 3.0"
#define MAX_FRAME (1u << 20)
#define MAX_CONNS 16
#define MAX_PROCS 1024
#define MAX_OUTBUF (8u << 20)
#define CHUNK 65536
#define ID_MAX 64

enum { T_HELLO = 1, T_START, T_STDIN, T_EOF, T_SIGNAL, T_STATUS, T_RESIZE, T_ATTACH };
enum { M_OK = 0x80, M_HELLO = 0x81, M_STARTED = 0x82, M_STATUS = 0x86, M_ERROR = 0xFF, M_EXIT = 0xC1, M_OUTPUT = 0xC2 };
enum { F_STDIN = 1, F_PTY = 2, F_STREAM = 4 };
enum {
  ERR_BAD_REQUEST = 1,
  ERR_NOT_FOUND,
  ERR_NOT_RUNNING,
  ERR_EXISTS,
  ERR_CWD,
  ERR_USER,
  ERR_EXEC,
  ERR_BUSY,
  ERR_RESOURCE,
  ERR_VERSION,
  ERR_IO
};

struct conn {
  int fd;
  int hello;
  uint8_t *in;
  size_t in_len, in_cap;
  uint8_t *out;
  size_t out_len, out_cap;
};

struct proc {
  int used;
  char id[ID_MAX + 1];
  pid_t pid;
  int exited, code, flags;
  unsigned long seq;
  int out_fd, err_fd; /* read ends (stream) or pty master (out_fd), -1 when none/closed */
  int stdin_fd;       /* write end of the stdin pipe or the pty master (dup), -1 when closed */
  uint8_t *pend;      /* stdin bytes not yet written */
  size_t pend_len, pend_off;
  int pend_conn;
  uint32_t pend_req;
  int close_after;
  int owner; /* connection index that gets OUTPUT events, -1 none */
  int exit_sent;
};

static struct conn conns[MAX_CONNS];
static struct proc procs[MAX_PROCS];
static unsigned long seq_counter;
static const char *log_dir;
static int listen_fd = -1, sig_fd = -1;

/* ---- output buffers ---- */

static void conn_close(int i) {
  if (conns[i].fd < 0) return;
  close(conns[i].fd);
  free(conns[i].in);
  free(conns[i].out);
  memset(&conns[i], 0, sizeof conns[i]);
  conns[i].fd = -1;
  for (int p = 0; p < MAX_PROCS; p++) {
    /* A terminal outlives its holder (version 2): it waits, its output held in the pty, until a
     * daemon ATTACHes again (a restart) or kills it (a clean stop). */
    if (procs[p].used && procs[p].owner == i) procs[p].owner = -1;
    if (procs[p].used && procs[p].pend && procs[p].pend_conn == i) procs[p].pend_conn = -1;
  }
}

static int out_reserve(struct conn *c, size_t n) {
  if (c->out_len + n > MAX_OUTBUF) return -1;
  if (c->out_len + n > c->out_cap) {
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < c->out_len + n) cap *= 2;
    uint8_t *p = realloc(c->out, cap);
    if (!p) return -1;
    c->out = p;
    c->out_cap = cap;
  }
  return 0;
}

/* A frame under construction in a small builder, then appended to a connection. */
struct buf {
  uint8_t *p;
  size_t len, cap;
  int fail;
};

/* Room for n more bytes (a frame whose size is known up front is allocated once, not doubled into). */
static void b_grow(struct buf *b, size_t n) {
  if (b->fail || b->len + n <= b->cap) return;
  size_t cap = b->cap ? b->cap * 2 : 256;
  if (cap < b->len + n) cap = b->len + n;
  uint8_t *p = realloc(b->p, cap);
  if (!p) {
    b->fail = 1;
    return;
  }
  b->p = p;
  b->cap = cap;
}

static void b_put(struct buf *b, const void *d, size_t n) {
  b_grow(b, n);
  if (b->fail) return;
  memcpy(b->p + b->len, d, n);
  b->len += n;
}
static void b_u8(struct buf *b, uint8_t v) { b_put(b, &v, 1); }
static void b_u32(struct buf *b, uint32_t v) {
  uint8_t x[4] = {v >> 24, v >> 16, v >> 8, v};
  b_put(b, x, 4);
}
static void b_str(struct buf *b, const void *s, size_t n) {
  b_u32(b, (uint32_t)n);
  b_put(b, s, n);
}
static void b_start(struct buf *b, uint8_t type, uint32_t req) {
  memset(b, 0, sizeof *b);
  b_u32(b, 0);
  b_u8(b, type);
  b_u32(b, req);
}

/* Queues the frame on connection i; a connection that does not read its replies is dropped. */
static void b_send(struct buf *b, int i) {
  if (!b->fail && i >= 0 && conns[i].fd >= 0) {
    uint32_t n = (uint32_t)(b->len - 4);
    b->p[0] = n >> 24, b->p[1] = n >> 16, b->p[2] = n >> 8, b->p[3] = n;
    if (out_reserve(&conns[i], b->len) < 0)
      conn_close(i);
    else {
      memcpy(conns[i].out + conns[i].out_len, b->p, b->len);
      conns[i].out_len += b->len;
    }
  }
  free(b->p);
}

static void reply_error(int i, uint32_t req, uint32_t code, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  struct buf b;
  b_start(&b, M_ERROR, req);
  b_u32(&b, code);
  b_str(&b, msg, strlen(msg));
  b_send(&b, i);
}

static void reply_ok(int i, uint32_t req) {
  struct buf b;
  b_start(&b, M_OK, req);
  b_send(&b, i);
}

/* ---- request decoding: every read is bounded by the frame ---- */

struct rd {
  const uint8_t *p;
  size_t len, off;
  int bad;
};

static uint32_t r_u32(struct rd *r) {
  if (r->bad || r->len - r->off < 4) return r->bad = 1, 0;
  const uint8_t *p = r->p + r->off;
  r->off += 4;
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint16_t r_u16(struct rd *r) {
  if (r->bad || r->len - r->off < 2) return r->bad = 1, 0;
  const uint8_t *p = r->p + r->off;
  r->off += 2;
  return (uint16_t)(p[0] << 8 | p[1]);
}
static uint8_t r_u8(struct rd *r) {
  if (r->bad || r->len - r->off < 1) return r->bad = 1, 0;
  return r->p[r->off++];
}
/* A byte string; `cstr` also requires no NUL inside and returns a fresh NUL-terminated copy. */
static const uint8_t *r_bytes(struct rd *r, uint32_t *n) {
  *n = r_u32(r);
  if (r->bad || r->len - r->off < *n) return r->bad = 1, NULL;
  const uint8_t *p = r->p + r->off;
  r->off += *n;
  return p;
}
static char *r_cstr(struct rd *r) {
  uint32_t n;
  const uint8_t *p = r_bytes(r, &n);
  if (!p || memchr(p, 0, n)) return r->bad = 1, NULL;
  char *s = malloc(n + 1);
  if (!s) return r->bad = 1, NULL;
  memcpy(s, p, n);
  s[n] = 0;
  return s;
}
/* Process ids become file names: [A-Za-z0-9_-]{1,64} only. */
static int r_id(struct rd *r, char out[ID_MAX + 1]) {
  uint32_t n;
  const uint8_t *p = r_bytes(r, &n);
  if (!p || n == 0 || n > ID_MAX) return r->bad = 1, -1;
  for (uint32_t k = 0; k < n; k++) {
    uint8_t ch = p[k];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
      return r->bad = 1, -1;
  }
  memcpy(out, p, n);
  out[n] = 0;
  return 0;
}

static struct proc *find_proc(const char *id) {
  for (int p = 0; p < MAX_PROCS; p++)
    if (procs[p].used && strcmp(procs[p].id, id) == 0) return &procs[p];
  return NULL;
}

static void log_path(char *out, size_t n, const char *id, const char *ext) { snprintf(out, n, "%s/%s.%s", log_dir, id, ext); }

/* Processes: start, stdin, output, exits (one translation unit, split for reading). */
#include "process.inc.c"
/* File operations (version 2): a mode of this same binary, run as a child. */
#include "files.inc.c"

/* ---- the request dispatcher ---- */

static void handle_frame(int i, const uint8_t *frame, size_t len) {
  struct rd r = {frame, len, 0, 0};
  uint8_t type = r_u8(&r);
  uint32_t req = r_u32(&r);
  if (!conns[i].hello && type != T_HELLO) return reply_error(i, req, ERR_VERSION, "HELLO must come first");
  char id[ID_MAX + 1];
  switch (type) {
    case T_HELLO: {
      uint32_t lo = r_u32(&r), hi = r_u32(&r);
      if (r.bad || r.off != r.len) return reply_error(i, req, ERR_BAD_REQUEST, "malformed HELLO");
      if (hi < PROTO_MIN || lo > PROTO_MAX)
        return reply_error(i, req, ERR_VERSION, "agent speaks versions %d..%d", PROTO_MIN, PROTO_MAX);
      conns[i].hello = 1;
      struct buf b;
      b_start(&b, M_HELLO, req);
      b_u32(&b, hi < PROTO_MAX ? hi : PROTO_MAX);
      b_str(&b, AGENT_VERSION, strlen(AGENT_VERSION));
      return b_send(&b, i);
    }
    case T_START:
      return handle_start(i, req, &r);
    case T_STDIN: {
      uint32_t n;
      r_id(&r, id);
      const uint8_t *data = r_bytes(&r, &n);
      if (r.bad || r.off != r.len) return reply_error(i, req, ERR_BAD_REQUEST, "malformed STDIN");
      return handle_stdin(i, req, id, data, n);
    }
    case T_EOF:
    case T_SIGNAL:
    case T_STATUS:
    case T_RESIZE:
    case T_ATTACH: {
      r_id(&r, id);
      uint32_t signo = type == T_SIGNAL ? r_u32(&r) : 0;
      uint16_t cols = type == T_RESIZE ? r_u16(&r) : 0, rows = type == T_RESIZE ? r_u16(&r) : 0;
      if (r.bad || r.off != r.len) return reply_error(i, req, ERR_BAD_REQUEST, "malformed request %d", type);
      struct proc *p = find_proc(id);
      if (type == T_STATUS) return handle_status(i, req, id, p);
      if (!p) return reply_error(i, req, ERR_NOT_FOUND, "no process %s", id);
      if (type == T_EOF) return handle_eof(i, req, p);
      if (type == T_ATTACH) {
        p->owner = i;
        return reply_ok(i, req);
      }
      if (p->exited) return reply_error(i, req, ERR_NOT_RUNNING, "process %s has ended", id);
      if (type == T_SIGNAL) {
        if (signo < 1 || signo > 64) return reply_error(i, req, ERR_BAD_REQUEST, "bad signal %u", signo);
        if (kill(p->pid, (int)signo) < 0) return reply_error(i, req, ERR_NOT_RUNNING, "kill: %s", strerror(errno));
        return reply_ok(i, req);
      }
      if (!(p->flags & F_PTY)) return reply_error(i, req, ERR_BAD_REQUEST, "process %s has no terminal", id);
      struct winsize ws = {.ws_row = rows, .ws_col = cols};
      if (ioctl(p->out_fd, TIOCSWINSZ, &ws) < 0) return reply_error(i, req, ERR_IO, "resize: %s", strerror(errno));
      return reply_ok(i, req);
    }
    default:
      return reply_error(i, req, ERR_BAD_REQUEST, "unknown request type %d", type);
  }
}

/* Reads what the connection sent and handles every complete frame; bad framing drops it. */
static void conn_read(int i) {
  struct conn *c = &conns[i];
  /* Reads go straight into the buffer, sized for the rest of the frame being read: a 1 MiB stdin
   * frame comes in a few reads, each appended once, not copied again with every 64 KiB that follows. */
  size_t want = CHUNK;
  if (c->in_len >= 4) {
    uint32_t len = (uint32_t)c->in[0] << 24 | (uint32_t)c->in[1] << 16 | (uint32_t)c->in[2] << 8 | c->in[3];
    if (len <= MAX_FRAME && 4 + (size_t)len > c->in_len + want) want = 4 + (size_t)len - c->in_len;
  }
  if (c->in_cap - c->in_len < want) {
    uint8_t *in = realloc(c->in, c->in_len + want);
    if (!in) return conn_close(i);
    c->in = in;
    c->in_cap = c->in_len + want;
  }
  ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return conn_close(i);
  if (n < 0) return;
  c->in_len += (size_t)n;
  size_t off = 0;
  while (c->in_len - off >= 4) {
    const uint8_t *p = c->in + off;
    uint32_t len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    if (len < 5 || len > MAX_FRAME) return conn_close(i);
    if (c->in_len - off - 4 < len) break;
    handle_frame(i, p + 4, len);
    if (c->fd < 0) return; /* closed while handling */
    off += 4 + len;
  }
  memmove(c->in, c->in + off, c->in_len - off);
  c->in_len -= off;
}

static void conn_write(int i) {
  struct conn *c = &conns[i];
  ssize_t n = write(c->fd, c->out, c->out_len);
  if (n < 0 && errno != EAGAIN && errno != EINTR) return conn_close(i);
  if (n <= 0) return;
  memmove(c->out, c->out + n, c->out_len - (size_t)n);
  c->out_len -= (size_t)n;
}

static void on_accept(void) {
  int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return;
  for (int i = 0; i < MAX_CONNS; i++)
    if (conns[i].fd < 0) {
      conns[i].fd = fd;
      return;
    }
  close(fd); /* full: the daemon keeps one or two */
}

static void on_signal(void) {
  struct signalfd_siginfo si;
  while (read(sig_fd, &si, sizeof si) == sizeof si) {
    if (si.ssi_signo == SIGCHLD) continue;
    /* Termination requests to PID 1 are passed on to every process the agent started. */
    for (int p = 0; p < MAX_PROCS; p++)
      if (procs[p].used && !procs[p].exited) kill(procs[p].pid, (int)si.ssi_signo);
  }
  reap();
}

static void noop(int sig) { (void)sig; }

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "file") == 0) return file_main(argc, argv);
  if (argc != 3) {
    fprintf(stderr, "usage: sbx-agent <socket dir> <log dir>\n");
    return 2;
  }
  log_dir = argv[2];
  for (int i = 0; i < MAX_CONNS; i++) conns[i].fd = -1;
  /* PID 1 gets only signals it handles: a no-op handler, then blocked and read from a signalfd. */
  int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
  sigset_t set;
  sigemptyset(&set);
  for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++) {
    struct sigaction sa = {.sa_handler = noop};
    sigaction(sigs[k], &sa, NULL);
    sigaddset(&set, sigs[k]);
  }
  signal(SIGPIPE, SIG_IGN);
  sigprocmask(SIG_BLOCK, &set, NULL);
  sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  /* Not dumpable: the sandbox's root (no CAP_SYS_PTRACE) can neither trace the agent (a stray
   * PTRACE_ATTACH would leave PID 1 stopped) nor take its socket with pidfd_getfd. Programs it
   * starts are dumpable again after their execve. */
  prctl(PR_SET_DUMPABLE, 0);

  /* Bound and listening under a temporary name, then renamed: the daemon, which waits for the
   * name to appear, never finds a socket that refuses connections. */
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  char final[sizeof addr.sun_path - 4];
  if ((size_t)snprintf(final, sizeof final, "%s/agent.sock", argv[1]) >= sizeof final) {
    fprintf(stderr, "sbx-agent: socket path too long\n");
    return 2;
  }
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s.tmp", final);
  unlink(addr.sun_path);
  listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listen_fd, 16) < 0 ||
      chmod(addr.sun_path, 0600) < 0 || rename(addr.sun_path, final) < 0) {
    fprintf(stderr, "sbx-agent: cannot listen on %s: %s\n", final, strerror(errno));
    /* Still PID 1: keep reaping, so the sandbox runs (its daemon reports the agent unreachable). */
  }

  struct pollfd pfd[2 + MAX_CONNS + 3 * MAX_PROCS];
  int who[2 + MAX_CONNS + 3 * MAX_PROCS];
  for (;;) {
    int n = 0;
    pfd[n] = (struct pollfd){.fd = sig_fd, .events = POLLIN}, who[n++] = -1;
    pfd[n] = (struct pollfd){.fd = listen_fd, .events = POLLIN}, who[n++] = -2;
    for (int i = 0; i < MAX_CONNS; i++)
      if (conns[i].fd >= 0)
        pfd[n] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN | (conns[i].out_len ? POLLOUT : 0)},
        who[n++] = i;
    for (int p = 0; p < MAX_PROCS; p++) {
      struct proc *pr = &procs[p];
      if (!pr->used) continue;
      /* Output waits while its reader is behind (backpressure instead of unbounded buffers). */
      int slow = pr->owner >= 0 && conns[pr->owner].out_len > (1u << 20);
      /* A running terminal nobody holds is not read: its program blocks once the pty is full. */
      int parked = (pr->flags & F_PTY) && pr->owner < 0 && !pr->exited;
      if (pr->out_fd >= 0 && !slow && !parked) pfd[n] = (struct pollfd){.fd = pr->out_fd, .events = POLLIN}, who[n++] = 1000 + p * 3;
      if (pr->err_fd >= 0 && !slow) pfd[n] = (struct pollfd){.fd = pr->err_fd, .events = POLLIN}, who[n++] = 1001 + p * 3;
      if (pr->pend && pr->stdin_fd >= 0)
        pfd[n] = (struct pollfd){.fd = pr->stdin_fd, .events = POLLOUT}, who[n++] = 1002 + p * 3;
    }
    if (poll(pfd, (nfds_t)n, -1) < 0) continue;
    for (int k = 0; k < n; k++) {
      if (!pfd[k].revents) continue;
      int w = who[k];
      if (w == -1)
        on_signal();
      else if (w == -2)
        on_accept();
      else if (w < 1000) {
        if (conns[w].fd != pfd[k].fd) continue;
        if (pfd[k].revents & POLLOUT) conn_write(w);
        if (conns[w].fd >= 0 && (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))) conn_read(w);
      } else {
        struct proc *pr = &procs[(w - 1000) / 3];
        int which = (w - 1000) % 3;
        if (which == 2)
          stdin_flush(pr);
        else
          proc_output(pr, which);
      }
    }
    reap();
  }
}
