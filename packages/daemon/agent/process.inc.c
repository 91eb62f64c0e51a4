/*
 * sbx-agent's processes (included by sbx-agent.c, one translation unit): starting them as the
 * asked user in the asked directory, feeding stdin without ever blocking the agent, copying the
 * output of stream and terminal processes, and recording exits (memory, then <id>.exit files).
 */

static void proc_free(struct proc *p) {
  if (p->out_fd >= 0) close(p->out_fd);
  if (p->err_fd >= 0) close(p->err_fd);
  if (p->stdin_fd >= 0) close(p->stdin_fd);
  free(p->pend);
  memset(p, 0, sizeof *p);
}

/* A free slot; when all are taken, the longest-ended process is forgotten (its .exit file stays). */
static struct proc *alloc_slot(void) {
  struct proc *oldest = NULL;
  for (int k = 0; k < MAX_PROCS; k++) {
    if (!procs[k].used) return &procs[k];
    if (procs[k].exit_sent && (!oldest || procs[k].seq < oldest->seq)) oldest = &procs[k];
  }
  if (oldest) proc_free(oldest);
  return oldest;
}

/* Runs argv[0] as execvpe would, but with the PATH of the process's own environment. */
static void exec_search(char **argv, char **envp) {
  if (strchr(argv[0], '/')) {
    execve(argv[0], argv, envp);
    return;
  }
  const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (char **e = envp; *e; e++)
    if (strncmp(*e, "PATH=", 5) == 0) path = *e + 5;
  int eacces = 0;
  char buf[4096];
  for (const char *s = path; argv[0][0];) {
    const char *colon = strchr(s, ':');
    int n = colon ? (int)(colon - s) : (int)strlen(s);
    if (snprintf(buf, sizeof buf, "%.*s/%s", n, n ? s : ".", argv[0]) < (int)sizeof buf) {
      execve(buf, argv, envp);
      if (errno == EACCES) eacces = 1;
    }
    if (!colon) break;
    s = colon + 1;
  }
  errno = eacces ? EACCES : ENOENT;
}

/* In the child: reports which step failed (1 cwd, 2 user, 3 exec) to the agent, then exits. */
static void child_fail(int ep, int stage, const char *what) {
  int msg[2] = {stage, errno};
  if (stage == 3 && msg[1] == ENOENT)
    dprintf(2, "sbx-agent: %s: command not found\n", what);
  else
    dprintf(2, "sbx-agent: %s: %s\n", what, strerror(msg[1]));
  (void)!write(ep, msg, sizeof msg);
  _exit(stage == 3 && msg[1] == ENOENT ? 127 : stage == 3 ? 126 : 127);
}

static int open_log(const char *id, const char *ext) {
  char path[512];
  log_path(path, sizeof path, id, ext);
  return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
}

static void start_proc(int i, uint32_t req, const char *id, uint32_t uid, uint32_t gid, const char *cwd, char **argv,
                       char **envp, int flags, uint16_t cols, uint16_t rows) {
  int out = -1, err = -1, master = -1, slave = -1, in[2] = {-1, -1}, po[2] = {-1, -1}, pe[2] = {-1, -1},
      ep[2] = {-1, -1}, ok = 1;
  if (flags & F_PTY) {
    struct winsize ws = {.ws_row = rows, .ws_col = cols};
    ok = openpty(&master, &slave, NULL, NULL, &ws) == 0;
    if (ok) fcntl(master, F_SETFD, FD_CLOEXEC), fcntl(slave, F_SETFD, FD_CLOEXEC);
  } else if (flags & F_STREAM)
    ok = pipe2(po, O_CLOEXEC) == 0 && pipe2(pe, O_CLOEXEC) == 0;
  else
    ok = (out = open_log(id, "out")) >= 0 && (err = open_log(id, "err")) >= 0;
  if (ok && (flags & F_STDIN) && !(flags & F_PTY)) ok = pipe2(in, O_CLOEXEC) == 0;
  if (ok) ok = pipe2(ep, O_CLOEXEC) == 0;
  struct proc *p = ok ? alloc_slot() : NULL;
  pid_t pid = p ? fork() : -1;
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    for (int s = 1; s < 32; s++) signal(s, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setsid();
    if (flags & F_PTY) {
      ioctl(slave, TIOCSCTTY, 0);
      dup2(slave, 0), dup2(slave, 1), dup2(slave, 2);
    } else {
      int null = in[0] >= 0 ? in[0] : open("/dev/null", O_RDONLY | O_CLOEXEC);
      dup2(null, 0);
      dup2(out >= 0 ? out : po[1], 1);
      dup2(err >= 0 ? err : pe[1], 2);
    }
    (void)!setgroups(0, NULL);
    if (setgid(gid) < 0 || setuid(uid) < 0) child_fail(ep[1], 2, "cannot switch to the user");
    if (chdir(cwd) < 0) child_fail(ep[1], 1, cwd);
    exec_search(argv, envp);
    child_fail(ep[1], 3, argv[0]);
  }
  int msg[2] = {0, 0};
  if (pid > 0) {
    close(ep[1]);
    ep[1] = -1;
    ssize_t n;
    while ((n = read(ep[0], msg, sizeof msg)) < 0 && errno == EINTR) {
    }
    if (n != sizeof msg) msg[0] = 0;
  }
  int save = errno;
  int child_side[] = {slave, in[0], po[1], pe[1], ep[0], ep[1], out, err};
  for (size_t k = 0; k < sizeof child_side / sizeof child_side[0]; k++)
    if (child_side[k] >= 0) close(child_side[k]);
  if (!ok || !p || pid < 0 || msg[0] == 1 || msg[0] == 2) {
    if (pid > 0) waitpid(pid, NULL, 0);
    int fds[] = {master, in[1], po[0], pe[0]};
    for (size_t k = 0; k < sizeof fds / sizeof fds[0]; k++)
      if (fds[k] >= 0) close(fds[k]);
    char path[512];
    log_path(path, sizeof path, id, "out"), unlink(path);
    log_path(path, sizeof path, id, "err"), unlink(path);
    if (!p) return reply_error(i, req, ERR_RESOURCE, "too many running processes");
    if (msg[0] == 1) return reply_error(i, req, ERR_CWD, "working directory %s: %s", cwd, strerror(msg[1]));
    if (msg[0] == 2) return reply_error(i, req, ERR_USER, "cannot run as %u:%u: %s", uid, gid, strerror(msg[1]));
    return reply_error(i, req, ERR_IO, "cannot start the process: %s", strerror(save));
  }
  memset(p, 0, sizeof *p);
  p->used = 1;
  snprintf(p->id, sizeof p->id, "%s", id);
  p->pid = pid;
  p->flags = flags;
  p->seq = ++seq_counter;
  p->out_fd = master >= 0 ? master : po[0];
  p->err_fd = pe[0];
  p->stdin_fd = master >= 0 ? fcntl(master, F_DUPFD_CLOEXEC, 3) : in[1];
  p->pend_conn = -1;
  p->owner = (flags & (F_STREAM | F_PTY)) ? i : -1;
  int nb[] = {p->out_fd, p->err_fd, p->stdin_fd};
  for (size_t k = 0; k < 3; k++)
    if (nb[k] >= 0) fcntl(nb[k], F_SETFL, fcntl(nb[k], F_GETFL) | O_NONBLOCK);
  struct buf b;
  b_start(&b, M_STARTED, req);
  b_u32(&b, (uint32_t)pid);
  b_send(&b, i);
}

static void handle_start(int i, uint32_t req, struct rd *r) {
  char id[ID_MAX + 1];
  char *cwd = NULL, **argv = NULL, **envp = NULL;
  r_id(r, id);
  uint32_t uid = r_u32(r), gid = r_u32(r);
  cwd = r_cstr(r);
  uint32_t argc = r_u32(r);
  if (!r->bad && (argc == 0 || argc > 65536)) r->bad = 1;
  if (!r->bad) argv = calloc(argc + 1, sizeof *argv);
  for (uint32_t k = 0; argv && k < argc && !r->bad; k++) argv[k] = r_cstr(r);
  uint32_t envc = r_u32(r);
  if (!r->bad && envc > 65536) r->bad = 1;
  if (!r->bad) envp = calloc(envc + 1, sizeof *envp);
  for (uint32_t k = 0; envp && k < envc && !r->bad; k++) envp[k] = r_cstr(r);
  uint8_t flags = r_u8(r);
  uint16_t cols = r_u16(r), rows = r_u16(r);
  if (r->bad || r->off != r->len || !argv || !envp || (flags & ~7) || !cwd || cwd[0] != '/')
    reply_error(i, req, ERR_BAD_REQUEST, "malformed START");
  else if (find_proc(id))
    reply_error(i, req, ERR_EXISTS, "process %s exists", id);
  else
    start_proc(i, req, id, uid, gid, cwd, argv, envp, flags, cols, rows);
  for (uint32_t k = 0; argv && k < argc; k++) free(argv[k]);
  for (uint32_t k = 0; envp && k < envc; k++) free(envp[k]);
  free(argv), free(envp), free(cwd);
}

static void pend_done(struct proc *p, int code, const char *msg) {
  if (p->pend_conn >= 0) {
    if (code) reply_error(p->pend_conn, p->pend_req, (uint32_t)code, "%s", msg);
    else reply_ok(p->pend_conn, p->pend_req);
  }
  free(p->pend);
  p->pend = NULL;
  p->pend_len = p->pend_off = 0;
  p->pend_conn = -1;
  if (p->close_after && p->stdin_fd >= 0) close(p->stdin_fd), p->stdin_fd = -1;
}

static void stdin_flush(struct proc *p) {
  while (p->pend && p->pend_off < p->pend_len) {
    ssize_t n = write(p->stdin_fd, p->pend + p->pend_off, p->pend_len - p->pend_off);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n < 0) return pend_done(p, ERR_NOT_RUNNING, "the process closed its stdin");
    p->pend_off += (size_t)n;
  }
  if (p->pend) pend_done(p, 0, NULL);
}

static void handle_stdin(int i, uint32_t req, const char *id, const uint8_t *data, uint32_t n) {
  struct proc *p = find_proc(id);
  if (!p) return reply_error(i, req, ERR_NOT_FOUND, "no process %s", id);
  if (p->exited) return reply_error(i, req, ERR_NOT_RUNNING, "process %s has ended", id);
  if (p->stdin_fd < 0 || p->close_after) return reply_error(i, req, ERR_NOT_RUNNING, "stdin of %s is closed", id);
  if (p->pend) return reply_error(i, req, ERR_BUSY, "a stdin write to %s is in progress", id);
  p->pend = malloc(n ? n : 1);
  if (!p->pend) return reply_error(i, req, ERR_RESOURCE, "out of memory");
  memcpy(p->pend, data, n);
  p->pend_len = n, p->pend_off = 0, p->pend_conn = i, p->pend_req = req;
  stdin_flush(p);
}

static void handle_eof(int i, uint32_t req, struct proc *p) {
  if (p->pend)
    p->close_after = 1;
  else if (p->stdin_fd >= 0 && !(p->flags & F_PTY))
    close(p->stdin_fd), p->stdin_fd = -1;
  reply_ok(i, req);
}

static void handle_status(int i, uint32_t req, const char *id, struct proc *p) {
  int exited = 0, code = 0;
  if (p)
    exited = p->exited && p->exit_sent, code = p->code;
  else {
    /* Forgotten (the table was full): its exit file says how it ended. */
    char path[512], text[16] = {0};
    log_path(path, sizeof path, id, "exit");
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return reply_error(i, req, ERR_NOT_FOUND, "no process %s", id);
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0) return reply_error(i, req, ERR_NOT_FOUND, "no process %s", id);
    exited = 1, code = atoi(text);
  }
  struct buf b;
  b_start(&b, M_STATUS, req);
  b_u8(&b, (uint8_t)exited);
  b_u32(&b, (uint32_t)code);
  b_send(&b, i);
}

/* The exit goes out once all its output has (stream and terminal processes), to every connection. */
static void maybe_send_exit(struct proc *p) {
  if (!p->exited || p->exit_sent || p->out_fd >= 0 || p->err_fd >= 0) return;
  p->exit_sent = 1;
  if (p->pend) pend_done(p, ERR_NOT_RUNNING, "the process has ended");
  if (p->stdin_fd >= 0) close(p->stdin_fd), p->stdin_fd = -1;
  for (int c = 0; c < MAX_CONNS; c++) {
    if (conns[c].fd < 0 || !conns[c].hello) continue;
    struct buf b;
    b_start(&b, M_EXIT, 0);
    b_str(&b, p->id, strlen(p->id));
    b_u32(&b, (uint32_t)p->code);
    b_send(&b, c);
  }
}

static void proc_output(struct proc *p, int which) {
  int *fd = which == 0 ? &p->out_fd : &p->err_fd;
  uint8_t data[CHUNK];
  ssize_t n = read(*fd, data, sizeof data);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    /* EOF, or EIO from a terminal whose last holder closed it. */
    close(*fd), *fd = -1;
    if (p->stdin_fd >= 0 && (p->flags & F_PTY) && p->exited) close(p->stdin_fd), p->stdin_fd = -1;
    return maybe_send_exit(p);
  }
  if (p->owner < 0) return;
  struct buf b;
  b_start(&b, M_OUTPUT, 0);
  b_grow(&b, 16 + strlen(p->id) + (size_t)n);
  b_str(&b, p->id, strlen(p->id));
  b_u8(&b, (uint8_t)(which + 1));
  b_str(&b, data, (size_t)n);
  b_send(&b, p->owner);
}

static void write_exit_file(struct proc *p) {
  char path[512], tmp[520], text[16];
  log_path(path, sizeof path, p->id, "exit");
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return;
  int n = snprintf(text, sizeof text, "%d\n", p->code);
  int ok = write(fd, text, (size_t)n) == n;
  close(fd);
  if (ok) rename(tmp, path);
}

static void reap(void) {
  int st;
  pid_t pid;
  while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
    for (int k = 0; k < MAX_PROCS; k++) {
      struct proc *p = &procs[k];
      if (!p->used || p->exited || p->pid != pid) continue;
      p->exited = 1;
      p->code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      /* Stream processes (build steps) are not kept: their reader is the connection that started them. */
      if (!(p->flags & F_STREAM) || (p->flags & F_PTY)) write_exit_file(p);
      maybe_send_exit(p);
      break;
    }
  }
}
