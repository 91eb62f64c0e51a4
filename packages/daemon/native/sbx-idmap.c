// sbx-idmap: clones directories as idmapped, nosuid, nodev mounts (open_tree + mount_setattr +
// move_mount), so one copy of the shared layers on disk can serve sandboxes that each run in their
// own uid range. Node cannot make these syscalls; this helper is compiled by scripts/setup-host.sh.
//
//   sbx-idmap FROM TO COUNT (ro|rw) SRC DST [(ro|rw) SRC DST]...
//
// Ids FROM..FROM+COUNT-1 on disk appear as TO..TO+COUNT-1 through each DST (uids and gids alike).
// The mapping comes from a throwaway user namespace whose uid_map is "0 0 1" + "FROM TO COUNT".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MOUNT_ATTR_IDMAP
#define MOUNT_ATTR_IDMAP 0x00100000
#endif

#define HELPER_NAME "sbx-idmap"
#include "helper-common.h"

// A child that unshares a user namespace and waits; the parent writes its maps and keeps its ns fd.
static int make_userns(unsigned long from, unsigned long to, unsigned long count) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0) die("pipe", NULL);
  pid_t pid = fork();
  if (pid < 0) die("fork", NULL);
  if (pid == 0) {
    char c;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (unshare(CLONE_NEWUSER) < 0) _exit(1);
    close(pipefd[1]);
    // Block until the parent closes its end (after it has opened our namespace).
    (void)!read(pipefd[0], &c, 1);
    _exit(0);
  }
  close(pipefd[0]);
  char path[64], map[96];
  // Wait for the unshare: the child's user ns differs from ours once it is done.
  char self_ns[64] = "", child_ns[64] = "";
  snprintf(path, sizeof path, "/proc/%d/ns/user", pid);
  if (readlink("/proc/self/ns/user", self_ns, sizeof self_ns - 1) < 0) die("readlink", "/proc/self/ns/user");
  for (int i = 0; i < 10000; i++) {
    memset(child_ns, 0, sizeof child_ns);
    if (readlink(path, child_ns, sizeof child_ns - 1) < 0) die("readlink", path);
    if (strcmp(self_ns, child_ns) != 0) break;
    usleep(100);
  }
  if (strcmp(self_ns, child_ns) == 0) {
    errno = ETIMEDOUT;
    die("unshare", NULL);
  }
  // Root stays root: overlayfs creates its work dir with the mounter's (root's) ids, which must map.
  snprintf(map, sizeof map, "0 0 1\n%lu %lu %lu\n", from, to, count);
  snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
  write_file(path, map);
  snprintf(path, sizeof path, "/proc/%d/gid_map", pid);
  write_file(path, map);
  snprintf(path, sizeof path, "/proc/%d/ns/user", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("open", path);
  close(pipefd[1]);
  waitpid(pid, NULL, 0);
  return fd;
}

int main(int argc, char **argv) {
  if (argc < 7 || (argc - 4) % 3 != 0) {
    fprintf(stderr, "usage: sbx-idmap FROM TO COUNT (ro|rw) SRC DST [(ro|rw) SRC DST]...\n");
    return 2;
  }
  unsigned long from = parse_id(argv[1]), to = parse_id(argv[2]), count = parse_id(argv[3]);
  if (count == 0 || from == 0 || to == 0 || from + count - 1 > UINT32_MAX - 1 || to + count - 1 > UINT32_MAX - 1) {
    fprintf(stderr, "sbx-idmap: id range out of bounds\n");
    return 2;
  }
  int userns = make_userns(from, to, count);
  for (int i = 4; i < argc; i += 3) {
    const char *mode = argv[i], *src = argv[i + 1], *dst = argv[i + 2];
    if (strcmp(mode, "ro") != 0 && strcmp(mode, "rw") != 0) {
      fprintf(stderr, "sbx-idmap: mode must be ro or rw: %s\n", mode);
      return 2;
    }
    int tree = (int)syscall(SYS_open_tree, AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
    if (tree < 0) die("open_tree", src);
    struct mount_attr attr = {0};
    attr.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (mode[1] == 'o' ? MOUNT_ATTR_RDONLY : 0);
    attr.userns_fd = (uint64_t)userns;
    if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) die("mount_setattr", src);
    if (syscall(SYS_move_mount, tree, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) < 0) die("move_mount", dst);
    close(tree);
  }
  return 0;
}
