/*
 * sbx-agent's file operations (protocol version 2; included by sbx-agent.c). They run as
 * `/.sbx/agent file <op> <path> [arg]`, a child the daemon starts through START like any stream
 * process, so a slow or huge file never stalls PID 1's event loop, and they run in the sandbox's
 * own mount namespace and root: a symlink or `..` can only ever reach the sandbox's own files.
 * Data goes over stdin/stdout; failures exit with a code the daemon maps to an error
 * (FX_* below, mirrored in packages/daemon/src/runtime/agent/agent-files.ts) and a message on stderr.
 *   read <path> <max>          the file's bytes (a regular file of at most max bytes)
 *   write <path>               stdin into the file, creating its missing parents
 *   list <path>                per entry: "<mode hex> <size> <mtime> <name>\0" (lstat, like ls -l)
 *   delete <path> <0|1>        unlink, or remove a tree when 1 (never following links)
 */
#include <dirent.h>
#include <ftw.h>
#include <libgen.h>

enum { FX_NOT_DIR = 20, FX_NOT_FOUND = 21, FX_IS_DIR = 22, FX_TOO_LARGE = 23, FX_NOT_REGULAR = 24, FX_LOOP = 25,
       FX_NO_SPACE = 26, FX_FAILED = 27, FX_UNREADABLE = 28 };

static int fx_errno(const char *what, const char *path) {
  int e = errno;
  dprintf(2, "%s %s: %s\n", what, path, strerror(e));
  switch (e) {
    case ENOENT: return FX_NOT_FOUND;
    case ENOTDIR: return FX_NOT_DIR;
    case EISDIR: return FX_IS_DIR;
    case ELOOP: return FX_LOOP;
    case ENOSPC: case EDQUOT: case EFBIG: return FX_NO_SPACE;
    default: return FX_FAILED;
  }
}

/* A file the caller named that the kernel will not let be read (/proc/self/mem: EIO; /proc/kmsg:
 * EPERM): the caller's path, not a failure of the agent. */
static int fx_unreadable(const char *what, const char *path) {
  dprintf(2, "%s %s: %s\n", what, path, strerror(errno));
  return FX_UNREADABLE;
}

static int fx_write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w, n -= (size_t)w;
  }
  return 0;
}

static int fx_record(const char *path, const char *name, int dirfd) {
  struct stat st;
  if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0) return fx_errno("stat", path);
  char head[96];
  int n = snprintf(head, sizeof head, "%x %lld %lld ", (unsigned)st.st_mode, (long long)st.st_size,
                   (long long)st.st_mtime);
  if (fx_write_all(1, head, (size_t)n) < 0 || fx_write_all(1, name, strlen(name) + 1) < 0) return FX_FAILED;
  return 0;
}

/* mkdir -p of path's parent directories. */
static int fx_parents(char *path) {
  for (char *s = path + 1; (s = strchr(s, '/')); s++) {
    *s = 0;
    int r = mkdir(path, 0755);
    int e = errno;
    *s = '/';
    if (r < 0 && e != EEXIST) return errno = e, -1;
  }
  return 0;
}

static int fx_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)ftw;
  return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

static int file_main(int argc, char **argv) {
  if (argc < 4) return FX_FAILED;
  const char *op = argv[2];
  char *path = argv[3];
  static char buf[CHUNK];
  struct stat st;
  if (strcmp(op, "read") == 0 && argc == 5) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 && (errno == EACCES || errno == EPERM)) return fx_unreadable("open", path);
    if (fd < 0) return fx_errno("open", path);
    if (fstat(fd, &st) < 0) return fx_errno("stat", path);
    if (S_ISDIR(st.st_mode)) return FX_IS_DIR;
    if (!S_ISREG(st.st_mode)) return FX_NOT_REGULAR;
    unsigned long long max = strtoull(argv[4], NULL, 10), total = 0;
    if ((unsigned long long)st.st_size > max) return FX_TOO_LARGE;
    for (;;) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fx_unreadable("read", path);
      if (n == 0) return 0;
      /* The size is checked as read too: a /proc or /sys file says 0 and may give far more
       * (/proc/self/pagemap: 256 GiB), which the daemon would take in for hours. */
      if ((total += (unsigned long long)n) > max) return FX_TOO_LARGE;
      if (fx_write_all(1, buf, (size_t)n) < 0) return FX_FAILED;
    }
  }
  if (strcmp(op, "write") == 0 && argc == 4) {
    /* A stdin pipe that holds a whole stdin frame (1 MiB): with the default 64 KiB, the agent and
     * this process took turns 16 times per frame. Best effort (a sandbox past its user's pipe
     * quota keeps 64 KiB), and only for this short-lived pipe: every pipe the sandbox's root
     * holds counts against that quota. */
    (void)fcntl(0, F_SETPIPE_SZ, 1 << 20);
    if (fx_parents(path) < 0) return fx_errno("mkdir", path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return fx_errno("open", path);
    for (;;) {
      ssize_t n = read(0, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fx_errno("read stdin for", path);
      if (n == 0) break;
      if (fx_write_all(fd, buf, (size_t)n) < 0) {
        int code = fx_errno("write", path);
        /* A full disk: what was written goes again, so the sandbox keeps its space. */
        if (code == FX_NO_SPACE) unlink(path);
        return code;
      }
    }
    if (close(fd) < 0) {
      int code = fx_errno("close", path);
      if (code == FX_NO_SPACE) unlink(path);
      return code;
    }
    return 0;
  }
  if (strcmp(op, "list") == 0 && argc == 4) {
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return fx_errno("open", path);
    DIR *d = fdopendir(dfd);
    if (!d) return fx_errno("list", path);
    struct dirent *e;
    while ((e = readdir(d))) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      int r = fx_record(e->d_name, e->d_name, dfd);
      if (r == FX_FAILED) return r; /* an entry gone meanwhile is skipped */
    }
    return 0;
  }
  if (strcmp(op, "delete") == 0 && argc == 5) {
    if (lstat(path, &st) < 0) return fx_errno("stat", path);
    if (S_ISDIR(st.st_mode)) {
      if (strcmp(argv[4], "1") != 0) return FX_IS_DIR;
      if (nftw(path, fx_rm, 16, FTW_DEPTH | FTW_PHYS) < 0) return fx_errno("delete", path);
      return 0;
    }
    if (unlink(path) < 0) return fx_errno("delete", path);
    return 0;
  }
  dprintf(2, "sbx-agent: unknown file operation %s\n", op);
  return FX_FAILED;
}
