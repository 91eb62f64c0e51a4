// sbx-userns: makes a sandbox's user namespace owned by the sandbox's own base uid, for crun to join.
// The kernel charges inotify instances/watches, POSIX mqueue bytes and other per-user budgets at
// every user-namespace level up to the initial one, and one level above a sandbox the charge goes
// to the uid that *owns* its namespace. When crun (root) creates the namespace, every sandbox and
// host root share root's budget; owned by the sandbox's base uid, each sandbox has its own.
//
//   sbx-userns BASE COUNT [net]
//
// Forks a child that drops to uid/gid BASE (no supplementary groups) and unshares a user
// namespace; this process (root) writes the child's maps "0 BASE COUNT" (uids and gids), prints
// the child's pid and a newline, and waits for EOF on stdin, then kills the child. The caller
// (the daemon) points crun at /proc/<pid>/ns/user meanwhile; once crun has created the sandbox,
// its processes keep the namespace alive and the caller closes stdin.
//
// With "net", the child unshares a network namespace too, owned by the new user namespace (as if
// crun had made it inside the sandbox's): the daemon wires the sandbox's veth into
// /proc/<pid>/ns/net while the sandbox's filesystem is still being mounted, and crun joins it. If
// the sandbox is never created, the namespace (and the veth in it) dies with the holder.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define HELPER_NAME "sbx-userns"
#include "helper-common.h"

int main(int argc, char **argv) {
  int net = argc == 4 && strcmp(argv[3], "net") == 0;
  if (argc != 3 && !net) {
    fprintf(stderr, "usage: sbx-userns BASE COUNT [net]\n");
    return 2;
  }
  unsigned long base = parse_id(argv[1]), count = parse_id(argv[2]);
  // Never root's namespace (base 0) and never past the last valid id.
  if (base == 0 || count == 0 || base + count - 1 > UINT32_MAX - 1) {
    fprintf(stderr, "sbx-userns: id range out of bounds\n");
    return 2;
  }
  int ready[2], go[2];
  if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0) die("pipe", NULL);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) die("fork", NULL);
  if (pid == 0) {
    char c = 0;
    close(ready[0]);
    close(go[1]);
    // The namespace's owner is the euid that unshares it: drop every host privilege first.
    if (setgroups(0, NULL) < 0 || setresgid(base, base, base) < 0 || setresuid(base, base, base) < 0) _exit(1);
    // Set after the uid change (which clears it): never outlive the root side.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    // Not ptraceable or /proc-readable by the base uid: sandbox code runs as that uid.
    prctl(PR_SET_DUMPABLE, 0);
    if (getppid() != parent) _exit(1);
    // Both at once: the kernel makes the user namespace first, and it owns the network namespace.
    if (unshare(CLONE_NEWUSER | (net ? CLONE_NEWNET : 0)) < 0) _exit(1);
    if (write(ready[1], &c, 1) != 1) _exit(1);
    // Held until the root side goes away (EOF) or kills us.
    (void)!read(go[0], &c, 1);
    _exit(0);
  }
  close(ready[1]);
  close(go[0]);
  char c;
  if (read(ready[0], &c, 1) != 1) {
    errno = ECHILD;
    die("unshare", NULL);
  }
  char path[64], map[96];
  snprintf(map, sizeof map, "0 %lu %lu\n", base, count);
  snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
  write_file(path, map);
  snprintf(path, sizeof path, "/proc/%d/gid_map", pid);
  write_file(path, map);
  printf("%d\n", pid);
  fflush(stdout);
  // Wait for the caller to be done (EOF or error on stdin), then end the holder.
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return 0;
}
