// Kernel budgets per uid (F3 of the second security round), run inside a sandbox:
//   budget hog     inotify instances and POSIX mqueues until the kernel refuses, prints the counts,
//                  then holds them until killed
//   budget one     one inotify instance, one mqueue, one pty and one file; prints "inotify OK|<errno>",
//                  "mqueue ...", "pty ..." and "file ..."
//   budget pty     ptys (/dev/ptmx) until the kernel refuses, prints "pty <count> <errno>", holds them
//   budget fds     forks until the pids limit refuses, each child opens files until refused; prints
//                  "fds <children> <total> <largest per child> <child errno> <fork errno>", then ends two
//                  children (so that the sandbox has pids to read the report with) and holds the rest
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *err_name(int e) {
  return e == EMFILE ? "EMFILE" : e == ENFILE ? "ENFILE" : e == ENOSPC ? "ENOSPC" : e == ENOMEM ? "ENOMEM" : strerror(e);
}

_Noreturn static void pty_hog(void) {
  int n = 0, last = 0;
  for (; n < 100000; n++)
    if (open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC) < 0) {
      last = errno;
      break;
    }
  printf("pty %d %s\n", n, last ? err_name(last) : "-");
  fflush(stdout);
  for (;;) pause();
}

// Each child reports "<count> <errno>" as one 16-byte record on a pipe (atomic below PIPE_BUF).
static int fd_hog(void) {
  static pid_t pids[100000];
  int p[2], kids = 0, fork_err = 0;
  if (pipe(p) < 0) return 1;
  for (; kids < 100000; kids++) {
    pid_t pid = pids[kids] = fork();
    if (pid < 0) {
      fork_err = errno;
      break;
    }
    if (pid == 0) {
      int n = 0, e = 0;
      for (; n < 10000000; n++)
        if (open("/dev/null", O_RDONLY) < 0) {
          e = errno;
          break;
        }
      char rec[16];
      snprintf(rec, sizeof rec, "%9d %4d", n, e);
      if (write(p[1], rec, 16) != 16) _exit(1);
      for (;;) pause();
    }
  }
  close(p[1]);
  long total = 0;
  int largest = 0, child_err = 0;
  char rec[17] = {0};
  for (int i = 0; i < kids && read(p[0], rec, 16) == 16; i++) {
    int n = atoi(rec), e = atoi(rec + 10);
    total += n;
    if (n > largest) largest = n;
    if (e) child_err = e;
  }
  for (int i = 0; i < 2 && i < kids; i++) {
    kill(pids[i], SIGKILL);
    waitpid(pids[i], NULL, 0);
  }
  printf("fds %d %ld %d %s %s\n", kids, total, largest, child_err ? err_name(child_err) : "-",
         fork_err ? (fork_err == EAGAIN ? "EAGAIN" : strerror(fork_err)) : "-");
  fflush(stdout);
  for (;;) pause();
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "pty") == 0) pty_hog();
  if (argc > 1 && strcmp(argv[1], "fds") == 0) return fd_hog();
  int hog = argc > 1 && strcmp(argv[1], "hog") == 0;
  int limit = hog ? 100000 : 1;
  int n = 0, m = 0, last_i = 0, last_m = 0;
  for (; n < limit; n++)
    if (inotify_init1(IN_CLOEXEC) < 0) {
      last_i = errno;
      break;
    }
  struct mq_attr attr = {.mq_maxmsg = 10, .mq_msgsize = 8192};
  for (; m < limit; m++) {
    char name[64];
    snprintf(name, sizeof name, "/sbx-budget-%d-%d", getpid(), m);
    if (mq_open(name, O_CREAT | O_RDWR, 0600, &attr) == (mqd_t)-1) {
      last_m = errno;
      break;
    }
    mq_unlink(name);
  }
  if (hog) {
    printf("inotify %d %s\nmqueue %d %s\n", n, last_i ? err_name(last_i) : "-", m, last_m ? err_name(last_m) : "-");
    fflush(stdout);
    for (;;) pause();
  }
  printf("inotify %s\nmqueue %s\n", n == 1 ? "OK" : err_name(last_i), m == 1 ? "OK" : err_name(last_m));
  int pty = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC), pty_err = errno;
  printf("pty %s\n", pty >= 0 ? "OK" : err_name(pty_err));
  int file = open("/dev/null", O_RDONLY | O_CLOEXEC), file_err = errno;
  printf("file %s\n", file >= 0 ? "OK" : err_name(file_err));
  return 0;
}
