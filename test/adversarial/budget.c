// Kernel budgets per uid (F3 of the second security round), run inside a sandbox:
//   budget hog     inotify instances and POSIX mqueues until the kernel refuses, prints the counts,
//                  then holds them until killed
//   budget one     one inotify instance and one mqueue; prints "inotify OK|<errno>" and "mqueue ..."
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

static const char *err_name(int e) {
  return e == EMFILE ? "EMFILE" : e == ENFILE ? "ENFILE" : e == ENOSPC ? "ENOSPC" : e == ENOMEM ? "ENOMEM" : strerror(e);
}

int main(int argc, char **argv) {
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
  return 0;
}
