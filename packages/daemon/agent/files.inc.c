/*
 * sbx-agent's file operations (protocol version 2; included by sbx-agent.c). They run as
 * `/.sbx/agent file <op> <path> [arg]`, a child the daemon starts through START like any stream
 * process, so a slow or huge file never stalls PID 1's event loop, and they run in the sandbox's
 * own mount namespace and root: a symlink or `..` can only ever reach the sandbox's own files.
 * Data goes over stdin/stdout; failures exit with a code the daemon maps to an error
 * (FX_* below, mirrored in packages/daemon/src/runtime/agent/agent-files.ts) and a message on stderr.
 *   stream <path> <max>        u64 size (big-endian; all ones: not known), then the file's bytes (a
 *                              regular file): exactly size bytes when known (growth while read is
 *                              cut off there; a file that shrank fails), else up to max bytes
 *   read <path> <max>          the file's bytes, at most max (protocol version 2's read; kept for
 *                              the daemon that started a sandbox before an upgrade)
 *   write <path>               stdin into the file, creating its missing parents
 *   list <path>                per entry: "<mode hex> <size> <mtime> <name>\0" (lstat, like ls -l)
 *   delete <path> <0|1>        unlink, or remove a tree when 1 (never following links)
 */
#include <dirent.h>
#include <ftw.h>
#include <libgen.h>
#include <sys/vfs.h>

enum { FX_NOT_DIR = 20, FX_NOT_FOUND = 21, FX_IS_DIR = 22, FX_TOO_LARGE = 23, FX_NOT_REGULAR = 24, FX_LOOP = 25,
       FX_NO_SPACE = 26, FX_FAILED = 27, FX_UNREADABLE = 28,
       FX_SHRANK = 29 };

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

/* Whether st_size is the file's length. A pseudo file system's is not: /proc says 0 (and
 * /proc/self/pagemap gives 256 GiB), sysfs says 4096 for a few bytes. Those are read to their end,
 * up to the caller's max, with their size unknown. */
static int fx_sized(int fd, const struct stat *st) {
  struct statfs fs;
  if (st->st_size <= 0 || fstatfs(fd, &fs) < 0) return 0;
  switch ((unsigned long)fs.f_type) {
    case 0x9fa0:     /* proc */
    case 0x62656572: /* sysfs */
    case 0x64626720: /* debugfs */
    case 0x74726163: /* tracefs */
    case 0x73636673: /* securityfs */
    case 0x27e0eb:   /* cgroup */
    case 0x63677270: /* cgroup2 */
    case 0x62656570: /* configfs */
    case 0x6165676c: /* pstore */
    case 0xde5e81e4: /* efivarfs */
    case 0xcafe4a11: /* bpf */
      return 0;
  }
  return 1;
}

/* `stream`: the size first, then the bytes. The header goes out after the first read has worked,
 * so a file the kernel refuses to read (/proc/self/mem: EIO) is still an exit code the daemon
 * answers as an error, not a stream that breaks after it began. */
static int fx_stream(int fd, const struct stat *st, const char *path, unsigned long long max, char *buf, size_t cap) {
  const unsigned long long unknown = ~0ULL;
  unsigned long long size = fx_sized(fd, st) ? (unsigned long long)st->st_size : unknown, total = 0;
  int sent = 0;
  for (;;) {
    size_t want = cap;
    if (size != unknown && size - total < want) want = (size_t)(size - total);
    ssize_t n = want ? read(fd, buf, want) : 0;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fx_unreadable("read", path);
    if (!sent) {
      unsigned char head[8];
      for (int i = 0; i < 8; i++) head[i] = (unsigned char)(size >> (56 - 8 * i));
      if (fx_write_all(1, (const char *)head, sizeof head) < 0) return FX_FAILED;
      sent = 1;
    }
    if (n == 0) break;
    total += (unsigned long long)n;
    if (size == unknown && total > max) return FX_TOO_LARGE;
    if (fx_write_all(1, buf, (size_t)n) < 0) return FX_FAILED;
  }
  if (size != unknown && total < size) {
    dprintf(2, "read %s: the file shrank while it was read (%llu of %llu bytes)\n", path, total, size);
    return FX_SHRANK;
  }
  return 0;
}

static int file_main(int argc, char **argv) {
  if (argc < 4) return FX_FAILED;
  const char *op = argv[2];
  char *path = argv[3];
  static char buf[CHUNK];
  struct stat st;
  if ((strcmp(op, "read") == 0 || strcmp(op, "stream") == 0) && argc == 5) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 && (errno == EACCES || errno == EPERM)) return fx_unreadable("open", path);
    if (fd < 0) return fx_errno("open", path);
    if (fstat(fd, &st) < 0) return fx_errno("stat", path);
    if (S_ISDIR(st.st_mode)) return FX_IS_DIR;
    if (!S_ISREG(st.st_mode)) return FX_NOT_REGULAR;
    unsigned long long max = strtoull(argv[4], NULL, 10), total = 0;
    if (op[0] == 's') return fx_stream(fd, &st, path, max, buf, sizeof buf);
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
