"""Running and timing commands, and reading what processes cost (/proc)."""

import os
import subprocess
import time


class CommandFailed(Exception):
    """A measured or set-up command exited non-zero: the suite is broken, not slow."""

    def __init__(self, argv, rc, stderr):
        self.argv = list(argv)
        self.rc = rc
        self.stderr = (stderr or b"").decode(errors="replace").strip()
        super().__init__(f"`{' '.join(self.argv)}` exited {rc}: {self.stderr[-800:]}")


class Unsupported(Exception):
    """The engine answered 404/501 for an operation the reference supports."""


def run(argv, env=None, stdin=None, check=True, timeout=900):
    """Runs argv to completion; returns stdout (bytes). Raises CommandFailed."""
    p = subprocess.run(
        argv,
        env=env,
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=timeout,
        check=False,
    )
    if check and p.returncode != 0:
        raise CommandFailed(argv, p.returncode, p.stderr)
    return p.stdout


def timed(argv, env=None, timeout=900):
    """Wall time (seconds) of argv, stdout discarded; the process spawn is included."""
    t0 = time.perf_counter()
    p = subprocess.run(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=timeout,
        check=False,
    )
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise CommandFailed(argv, p.returncode, p.stderr)
    return dt


def timed_many(argvs, env=None, timeout=900):
    """Starts every argv at once and waits for all: (wall seconds, [stdout])."""
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            a, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for a in argvs
    ]
    outs = [p.communicate(timeout=timeout) for p in procs]
    dt = time.perf_counter() - t0
    for a, p, (_, err) in zip(argvs, procs, outs):
        if p.returncode != 0:
            raise CommandFailed(a, p.returncode, err)
    return dt, [o for o, _ in outs]


def timed_to_file(argv, path, env=None, timeout=900):
    """Wall time of argv with its stdout going to a regular file (as `cmd > file`), then the
    file's newline count: (seconds, lines). The file is removed."""
    with open(path, "wb") as out:
        t0 = time.perf_counter()
        p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=out,
                           stderr=subprocess.PIPE, timeout=timeout, check=False)
        dt = time.perf_counter() - t0
    try:
        if p.returncode != 0:
            raise CommandFailed(argv, p.returncode, p.stderr)
        lines = 0
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                lines += chunk.count(b"\n")
        return dt, lines
    finally:
        os.unlink(path)


def timed_stream(argv, env=None, timeout=900):
    """Reads argv's stdout to EOF, counting newlines: (lines, bytes, t_first_byte, t_eof) with
    times relative to the spawn."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    lines = nbytes = 0
    first = None
    fd = p.stdout.fileno()
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        if first is None:
            first = time.perf_counter() - t0
        nbytes += len(chunk)
        lines += chunk.count(b"\n")
    end = time.perf_counter() - t0
    err = p.stderr.read()
    rc = p.wait(timeout=timeout)
    if rc != 0:
        raise CommandFailed(argv, rc, err)
    return lines, nbytes, first if first is not None else end, end


# --- what processes cost -----------------------------------------------------------------

def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def ppid(pid):
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    # comm may contain spaces and parentheses: fields start after the last ')'.
    return int(stat[stat.rindex(b")") + 2:].split()[1])


def cmdline(pid):
    return _read(f"/proc/{pid}/cmdline").replace(b"\0", b" ").decode(errors="replace")


def pid_ns(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def descendants(root):
    children = {}
    for p in pids():
        children.setdefault(ppid(p), []).append(p)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def engine_processes(daemon_pid, marker):
    """The engine's own processes (daemon, its helpers, per-container monitors or shims), not
    the containers' processes: the daemon's descendants plus anything whose command line names
    `marker` (the suite's private directory; shims are reparented away from the daemon), kept
    to the host's pid namespace."""
    host = pid_ns(os.getpid())
    found = set(descendants(daemon_pid)) if daemon_pid else set()
    found |= {p for p in pids() if marker in cmdline(p) and p != os.getpid()}
    return sorted(p for p in found if pid_ns(p) == host)


def smaps_kib(pid, key):
    """`Rss` or `Pss` from smaps_rollup, in KiB (0 when the process is gone)."""
    for line in _read(f"/proc/{pid}/smaps_rollup").splitlines():
        if line.startswith(key.encode() + b":"):
            return int(line.split()[1])
    return 0


def mem_available_kib():
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith(b"MemAvailable:"):
            return int(line.split()[1])
    return 0


def kill_pid(pid, sig):
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def wait_gone(pid, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}") or b") Z " in _read(f"/proc/{pid}/stat"):
            return True
        time.sleep(0.1)
    return False
