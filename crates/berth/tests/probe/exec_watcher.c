/* A hostile container's PID 1 (CVE-2016-9962 class): it watches for every new process in its
 * pid namespace and, for each, tries what an attacker would — PTRACE_SEIZE, and opening the
 * process's fds through /proc. A process that still runs the engine's code (anything but the
 * busybox program the exec asked for) must be neither traceable nor hold an fd beyond stdio.
 *
 * Output, one line per finding, on stdout:
 *   seen <pid> <exe>          a new process (the positive control: execs are observed)
 *   fds <pid> <exe> <n> <t>   n fds >= 3 of the process could be opened (t: the first)
 *   seized <pid> <exe>        PTRACE_SEIZE succeeded
 * It runs until /tmp/stop exists, then prints "done".
 * Built static by the test with the host's cc, so it needs nothing from the image. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PID 4194304
static unsigned char seen[MAX_PID / 8 + 1];

static int was_seen(int pid) { return seen[pid / 8] & (1 << (pid % 8)); }
static void mark(int pid) { seen[pid / 8] |= (unsigned char)(1 << (pid % 8)); }

static void exe_of(int pid, char *buf, size_t len) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/exe", pid);
  ssize_t n = readlink(path, buf, len - 1);
  if (n < 0) snprintf(buf, len, "?errno%d", errno);
  else buf[n] = 0;
}

/* Counts the fds >= 3 whose magic links resolve for us: what an attacker could open. (Root
 * may list a non-dumpable process's fd directory; following an entry needs ptrace access.) */
static int reachable_fds(int pid, char *first, size_t len) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd", pid);
  DIR *d = opendir(path);
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' || atoi(e->d_name) < 3) continue;
    char link[96], target[256];
    snprintf(link, sizeof link, "/proc/%d/fd/%s", pid, e->d_name);
    ssize_t t = readlink(link, target, sizeof target - 1);
    if (t < 0) continue;
    target[t] = 0;
    if (n++ == 0) snprintf(first, len, "%s", target);
  }
  closedir(d);
  return n;
}

static void probe(int pid) {
  char exe[512];
  exe_of(pid, exe, sizeof exe);
  printf("seen %d %s\n", pid, exe);
  char first[256] = "";
  int n = reachable_fds(pid, first, sizeof first);
  if (n > 0) printf("fds %d %s %d %s\n", pid, exe, n, first);
  if (ptrace(PTRACE_SEIZE, pid, 0, 0) == 0) {
    exe_of(pid, exe, sizeof exe);
    printf("seized %d %s\n", pid, exe);
    /* Let it go at once: stop it, wait for the stop, detach. */
    ptrace(PTRACE_INTERRUPT, pid, 0, 0);
    int st;
    if (waitpid(pid, &st, __WALL) == pid && WIFSTOPPED(st)) ptrace(PTRACE_DETACH, pid, 0, 0);
  }
  fflush(stdout);
}

int main(void) {
  signal(SIGCHLD, SIG_IGN);
  mark(getpid());
  for (;;) {
    if (access("/tmp/stop", F_OK) == 0) break;
    DIR *d = opendir("/proc");
    if (!d) return 2;
    struct dirent *e;
    while ((e = readdir(d))) {
      int pid = atoi(e->d_name);
      if (pid <= 0 || pid >= MAX_PID || was_seen(pid)) continue;
      mark(pid);
      probe(pid);
    }
    closedir(d);
    /* Reap what tracing left to us, so the engine sees its processes exit. */
    while (waitpid(-1, NULL, WNOHANG | __WALL) > 0) {
    }
  }
  printf("done\n");
  fflush(stdout);
  return 0;
}
