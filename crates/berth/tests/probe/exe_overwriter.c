/* A hostile container process (CVE-2019-5736): it watches for every new process in its pid
 * namespace, takes an O_PATH fd to each one's /proc/<pid>/exe, and keeps trying to re-open
 * that fd for writing — while the process runs (ETXTBSY) and after it has exited, which is how
 * the original exploit overwrote the host's runc. It never writes a byte: a successful open
 * is the finding, so a failing test leaves the host binary as it was.
 *
 * Output, one line per finding, on stdout:
 *   seen <pid> <exe>        an exe fd was taken (the positive control: execs are observed)
 *   own <pid> <exe>         opened for writing, and it is a file of this container's rootfs
 *   escape <pid> <exe>      opened for writing, and it is not: the host binary is exposed
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PID 4194304
#define MAX_HELD 256
static unsigned char seen[MAX_PID / 8 + 1];

static int was_seen(int pid) { return seen[pid / 8] & (1 << (pid % 8)); }
static void mark(int pid) { seen[pid / 8] |= (unsigned char)(1 << (pid % 8)); }

struct held {
  int fd, pid;
  char exe[256];
};
static struct held held[MAX_HELD];
static int n_held;

/* The files of this container's own rootfs an exec may legitimately run. */
static struct stat own[2];

static int is_own(const struct stat *st) {
  for (int i = 0; i < 2; i++)
    if (st->st_dev == own[i].st_dev && st->st_ino == own[i].st_ino) return 1;
  return 0;
}

/* Takes an O_PATH fd to the process's exe. Returns 0 to try again at the next scan: a
 * process still in the engine's (non-dumpable) code refuses with EACCES until it execs. */
static int take(int pid) {
  if (n_held == MAX_HELD) return 1;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/exe", pid);
  int fd = open(path, O_PATH | O_CLOEXEC);
  if (fd < 0) return errno != EACCES;
  struct held *h = &held[n_held++];
  h->fd = fd;
  h->pid = pid;
  ssize_t n = readlink(path, h->exe, sizeof h->exe - 1);
  if (n < 0) snprintf(h->exe, sizeof h->exe, "?errno%d", errno);
  else h->exe[n] = 0;
  printf("seen %d %s\n", pid, h->exe);
  fflush(stdout);
  return 1;
}

/* Tries each held fd for writing; drops it once it opened or its process is gone and the
 * open still fails (nothing will change after that). */
static void try_writes(void) {
  static int own_done;
  for (int i = 0; i < n_held;) {
    struct held *h = &held[i];
    struct stat target;
    /* The control needs one own file opened; more would make the test's next busybox exec
     * fail with ETXTBSY while the write fd is open. */
    if (own_done && fstat(h->fd, &target) == 0 && is_own(&target)) {
      close(h->fd);
      held[i] = held[--n_held];
      continue;
    }
    int alive = kill(h->pid, 0) == 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", h->fd);
    int w = open(path, O_WRONLY | O_CLOEXEC);
    if (w >= 0) {
      struct stat st;
      fstat(w, &st);
      if (is_own(&st)) own_done = 1;
      printf("%s %d %s\n", is_own(&st) ? "own" : "escape", h->pid, h->exe);
      fflush(stdout);
      close(w);
    } else if (alive && errno == ETXTBSY) {
      i++;
      continue;
    }
    close(h->fd);
    held[i] = held[--n_held];
  }
}

int main(void) {
  signal(SIGCHLD, SIG_IGN);
  if (stat("/bin/busybox", &own[0]) != 0 || stat("/proc/self/exe", &own[1]) != 0) return 2;
  mark(getpid());
  for (;;) {
    if (access("/tmp/stop", F_OK) == 0) break;
    DIR *d = opendir("/proc");
    if (!d) return 2;
    struct dirent *e;
    while ((e = readdir(d))) {
      int pid = atoi(e->d_name);
      if (pid <= 0 || pid >= MAX_PID || was_seen(pid)) continue;
      if (take(pid)) mark(pid);
    }
    closedir(d);
    try_writes();
  }
  /* Processes still held get a last try. */
  try_writes();
  printf("done\n");
  fflush(stdout);
  return 0;
}
