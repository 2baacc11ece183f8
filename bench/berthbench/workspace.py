"""The suite's private directory and everything it starts, undone at the end: also on Ctrl-C,
SIGTERM and failure (cleanups run last-in first-out, then stray processes, mounts, the dir)."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from . import proc


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _is_bench(pid):
    return "bench/all" in proc.cmdline(pid) or "berthbench" in proc.cmdline(pid)


class Interrupted(BaseException):
    """SIGTERM/SIGHUP, turned into an exception so the cleanups run."""


def _raise_interrupted(signum, _frame):
    raise Interrupted(signal.Signals(signum).name)


def install_signal_handlers():
    # SIGINT too: a shell starts background jobs with it ignored, and Python keeps that.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _raise_interrupted)


PREFIX = "bb-"
OWNER = "owner"  # in the private dir: "<pid> <tag>" of the run that made it


def remove_network(name):
    """A link the suite made, berth's nft table of the same name, and the DOCKER-USER rules
    berth inserts for it: whichever exist."""
    subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)
    subprocess.run(["nft", "delete", "table", "ip", name], capture_output=True, check=False)
    for rule in (["-o", name, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED",
                  "-j", "ACCEPT"], ["-i", name, "-j", "ACCEPT"]):
        while subprocess.run(["iptables", "-w", "-D", "DOCKER-USER", *rule],
                             capture_output=True, check=False).returncode == 0:
            pass


class Workspace:
    def __init__(self, keep=False, path=None, tag=None):
        # Short: a monitor's socket path under the exec root is capped at 108 bytes.
        self.dir = path or tempfile.mkdtemp(prefix=PREFIX, dir="/tmp")
        self.keep = keep
        self._cleanups = []
        self.tag = tag or f"{os.getpid() % 100000}"
        if path is None:
            with open(os.path.join(self.dir, OWNER), "w", encoding="utf-8") as f:
                f.write(f"{os.getpid()} {self.tag}\n")

    @classmethod
    def sweep_stale(cls, link_prefixes):
        """Removes what earlier runs killed with SIGKILL (no cleanup could run) left: private
        dirs whose owner is gone, with their processes, mounts, links and nft tables. Only
        dirs with an owner file are touched, so nothing the suite did not make is."""
        swept = []
        for name in os.listdir("/tmp"):
            d = os.path.join("/tmp", name)
            try:
                with open(os.path.join(d, OWNER), encoding="utf-8") as f:
                    pid, tag = f.read().split()
            except (OSError, ValueError):
                continue
            if not name.startswith(PREFIX) or _is_bench(int(pid)):
                continue
            ws = cls(path=d, tag=tag)
            ws._kill_strays()
            for p in link_prefixes:
                remove_network(ws.name(p))
            if not ws._unmount_all():
                shutil.rmtree(d, ignore_errors=True)
            swept.append(d)
        return swept

    def name(self, prefix):
        """A host-wide name for something the suite creates (a bridge, an nft table)."""
        return f"{prefix}{self.tag}"

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def on_cleanup(self, label, fn):
        self._cleanups.append((label, fn))

    def cleanup(self):
        # A second Ctrl-C must not cut the cleanup short.
        old = {s: signal.signal(s, signal.SIG_IGN)
               for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            while self._cleanups:
                label, fn = self._cleanups.pop()
                try:
                    fn()
                except Exception as e:  # keep going: the rest must still be undone
                    log(f"cleanup of {label} failed: {e}")
            self._kill_strays()
            left = self._unmount_all()
            if left:
                log(f"mounts still present, keeping {self.dir}: {left}")
            elif self.keep:
                log(f"kept {self.dir}")
            else:
                shutil.rmtree(self.dir, ignore_errors=True)
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    def leftovers(self, links=(), nft_tables=()):
        """What the suite started and the cleanup did not remove (empty when it all went):
        network links, nft tables, DOCKER-USER rules naming the links, mounts, processes and
        the private dir. Checked after `cleanup()`, so a leak fails the run (and the CI
        smoke) rather than piling up on the host."""
        out = []
        for link in links:
            if subprocess.run(["ip", "link", "show", "dev", link], capture_output=True,
                              check=False).returncode == 0:
                out.append(f"link {link}")
        for table in nft_tables:
            if subprocess.run(["nft", "list", "table", "ip", table], capture_output=True,
                              check=False).returncode == 0:
                out.append(f"nft table ip {table}")
        rules = subprocess.run(["iptables", "-w", "-S", "DOCKER-USER"], capture_output=True,
                               text=True, check=False).stdout
        out += [f"iptables rule `{r}`" for r in rules.splitlines()
                if any(f" {link} " in f" {r} " or f" {link}+ " in f" {r} " for link in links)]
        out += [f"mount {m}" for m in self.mounts()]
        me = os.getpid()
        out += [f"process {p} ({proc.cmdline(p)[:80]})" for p in proc.pids()
                if p != me and self._is_ours(p)]
        if not self.keep and os.path.exists(self.dir):
            out.append(f"directory {self.dir}")
        return out

    def _kill_strays(self):
        """Processes the suite started that outlived their daemon (shims, monitors, containers
        whose root is under the private dir): SIGKILL by pid."""
        me = os.getpid()
        for _ in range(3):
            strays = [p for p in proc.pids() if p != me and self._is_ours(p)]
            if not strays:
                return
            for p in strays:
                proc.kill_pid(p, signal.SIGKILL)
            time.sleep(0.5)

    def _is_ours(self, pid):
        if self.dir in proc.cmdline(pid):
            return True
        for link in ("root", "cwd", "exe"):
            try:
                if os.readlink(f"/proc/{pid}/{link}").startswith(self.dir + "/"):
                    return True
            except OSError:
                pass
        return False

    def mounts(self):
        out = []
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            for line in f:
                mp = line.split()[4].encode().decode("unicode_escape")
                if mp == self.dir or mp.startswith(self.dir + "/"):
                    out.append(mp)
        return out

    def _unmount_all(self):
        for _ in range(5):
            mps = self.mounts()
            if not mps:
                return []
            for mp in sorted(set(mps), key=len, reverse=True):
                if subprocess.run(["umount", mp], capture_output=True, check=False).returncode:
                    subprocess.run(["umount", "-l", mp], capture_output=True, check=False)
        return self.mounts()
