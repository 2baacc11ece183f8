//! berth's statement of Docker's default seccomp policy: default errno EPERM; a broad
//! allow-list; a few calls allowed only with certain arguments (no new namespaces through
//! clone, no AF_VSOCK sockets, a fixed set of personalities); and calls that need a
//! capability the default set lacks allowed only when the container has it.

use super::profile::{ArchMap, Arg, DockerProfile, Filter, Rule};

/// Allowed for every container (names unknown to the running libseccomp are skipped).
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "getxattrat",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "listxattrat",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "mseal",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "removexattrat",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "setxattrat",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "uretprobe",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

/// Calls allowed only with a capability (Docker's "includes caps").
const BY_CAPABILITY: &[(&str, &[&str])] = &[
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &["delete_module", "init_module", "finit_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    (
        "CAP_SYS_TIME",
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// clone(2) flags that create namespaces; without CAP_SYS_ADMIN they must all be clear.
const CLONE_NS_FLAGS: u64 = 0x7E02_0000;
const AF_VSOCK: u64 = 40;
const ENOSYS: u32 = 38;

fn rule(names: &[&str], action: &str) -> Rule {
    Rule {
        names: names.iter().map(|s| (*s).to_owned()).collect(),
        name: None,
        action: action.to_owned(),
        errno_ret: None,
        args: Vec::new(),
        includes: Filter::default(),
        excludes: Filter::default(),
    }
}

fn arg(index: u32, value: u64, value_two: u64, op: &str) -> Arg {
    Arg {
        index,
        value,
        value_two,
        op: op.to_owned(),
    }
}

fn caps(c: &[&str]) -> Vec<String> {
    c.iter().map(|s| (*s).to_owned()).collect()
}

/// Docker's default profile, as berth states it.
pub fn docker_default() -> DockerProfile {
    let mut syscalls = vec![rule(ALLOWED, "SCMP_ACT_ALLOW")];
    // personality: Linux, Linux32, UNAME26 and their mix, and the query value.
    for persona in [0x0, 0x0008, 0x20000, 0x20008, 0xffff_ffff] {
        let mut r = rule(&["personality"], "SCMP_ACT_ALLOW");
        r.args = vec![arg(0, persona, 0, "SCMP_CMP_EQ")];
        syscalls.push(r);
    }
    let mut socket = rule(&["socket"], "SCMP_ACT_ALLOW");
    socket.args = vec![arg(0, AF_VSOCK, 0, "SCMP_CMP_NE")];
    syscalls.push(socket);
    let mut x86 = rule(&["arch_prctl", "modify_ldt"], "SCMP_ACT_ALLOW");
    x86.includes.arches = caps(&["amd64", "x32", "386"]);
    syscalls.push(x86);
    let mut ptrace = rule(&["ptrace"], "SCMP_ACT_ALLOW");
    ptrace.includes.min_kernel = Some("4.8".into());
    syscalls.push(ptrace);
    let mut clone = rule(&["clone"], "SCMP_ACT_ALLOW");
    clone.args = vec![arg(0, CLONE_NS_FLAGS, 0, "SCMP_CMP_MASKED_EQ")];
    clone.excludes.caps = caps(&["CAP_SYS_ADMIN"]);
    clone.excludes.arches = caps(&["s390", "s390x"]);
    syscalls.push(clone);
    // clone3 cannot be filtered by flags (they are behind a pointer): ENOSYS makes libc fall
    // back to clone, which is filtered.
    let mut clone3 = rule(&["clone3"], "SCMP_ACT_ERRNO");
    clone3.errno_ret = Some(ENOSYS);
    clone3.excludes.caps = caps(&["CAP_SYS_ADMIN"]);
    syscalls.push(clone3);
    for (cap, names) in BY_CAPABILITY {
        let mut r = rule(names, "SCMP_ACT_ALLOW");
        r.includes.caps = caps(&[cap]);
        syscalls.push(r);
    }
    DockerProfile {
        default_action: "SCMP_ACT_ERRNO".into(),
        default_errno_ret: Some(1),
        arch_map: vec![
            ArchMap {
                architecture: "SCMP_ARCH_X86_64".into(),
                sub_architectures: caps(&["SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
            },
            ArchMap {
                architecture: "SCMP_ARCH_AARCH64".into(),
                sub_architectures: caps(&["SCMP_ARCH_ARM"]),
            },
        ],
        architectures: Vec::new(),
        syscalls,
    }
}

#[cfg(test)]
mod tests {
    use super::super::profile::resolve;
    use super::*;

    fn allowed(caps: &[&str]) -> Vec<String> {
        let caps: Vec<String> = caps.iter().map(|s| (*s).to_owned()).collect();
        let s = resolve(
            &docker_default(),
            &caps,
            "amd64",
            "SCMP_ARCH_X86_64",
            (6, 1),
        )
        .unwrap();
        s.syscalls()
            .iter()
            .flatten()
            .filter(|r| r.action() == oci_spec::runtime::LinuxSeccompAction::ScmpActAllow)
            .flat_map(|r| r.names().clone())
            .collect()
    }

    #[test]
    fn default_caps_get_the_common_calls_and_not_the_dangerous_ones() {
        let a = allowed(crate::spec::DOCKER_DEFAULT_CAPS);
        for ok in [
            "read",
            "write",
            "clone",
            "execve",
            "socket",
            "ptrace",
            "chroot",
            "arch_prctl",
        ] {
            assert!(a.contains(&ok.to_owned()), "{ok} should be allowed");
        }
        for denied in [
            "mount",
            "unshare",
            "keyctl",
            "add_key",
            "reboot",
            "setns",
            "bpf",
            "kexec_load",
            "open_by_handle_at",
        ] {
            assert!(!a.contains(&denied.to_owned()), "{denied} should be denied");
        }
    }

    #[test]
    fn capabilities_widen_the_list() {
        let a = allowed(&["CAP_SYS_ADMIN"]);
        assert!(a.contains(&"mount".to_owned()) && a.contains(&"clone3".to_owned()));
        let caps = vec!["CAP_CHOWN".to_owned()];
        let s = resolve(
            &docker_default(),
            &caps,
            "amd64",
            "SCMP_ARCH_X86_64",
            (6, 1),
        )
        .unwrap();
        let clone3 = s
            .syscalls()
            .iter()
            .flatten()
            .find(|r| r.names().contains(&"clone3".to_owned()))
            .unwrap();
        assert_eq!(
            clone3.errno_ret(),
            Some(38),
            "clone3 is ENOSYS without CAP_SYS_ADMIN"
        );
        let clone = s
            .syscalls()
            .iter()
            .flatten()
            .find(|r| r.names() == &vec!["clone".to_owned()])
            .unwrap();
        assert!(
            clone.args().is_some(),
            "clone is filtered by flags without CAP_SYS_ADMIN"
        );
    }
}
