"""What the figures run on: the busybox image, a ~200 MB Debian rootfs (debootstrap, cached),
and a local Debian `docker-registry` on 127.0.0.1 with its own config and storage."""

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

from . import proc
from .workspace import log

CACHE = "/var/cache/berth-bench"
ROOTFS = os.path.join(CACHE, "debian-rootfs.tar")
ROOTFS_SOURCE = os.path.join(CACHE, "debian-rootfs.source")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def busybox_tar(ws):
    out = ws.path("busybox.tar")
    proc.run([os.path.join(REPO, "scripts", "busybox-rootfs.sh"), out])
    return out


def debian_rootfs(ws):
    """(tar path, how it was made). debootstrap --variant=minbase once, cached; where no
    mirror answers, a rootfs made from the host's /usr (and said so on the page)."""
    if os.path.exists(ROOTFS) and os.path.exists(ROOTFS_SOURCE):
        return ROOTFS, open(ROOTFS_SOURCE, encoding="utf-8").read().strip()
    os.makedirs(CACHE, exist_ok=True)
    tmp = ws.path("rootfs")
    how = "debootstrap --variant=minbase bookworm"
    ok = False
    if shutil.which("debootstrap"):
        log("debootstrap of a Debian minbase rootfs (once; cached in /var/cache/berth-bench)")
        r = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", tmp],
                           capture_output=True, check=False, timeout=1800)
        ok = r.returncode == 0
        if not ok:
            log(f"debootstrap failed ({r.stderr.decode(errors='replace')[-300:]}); "
                "falling back to the host's /usr")
    if not ok:
        shutil.rmtree(tmp, ignore_errors=True)
        how = "host /usr (debootstrap could not reach a mirror)"
        _rootfs_from_host_usr(tmp)
    part = ROOTFS + ".part"
    proc.run(["tar", "--numeric-owner", "-C", tmp, "-cf", part, "."], timeout=1800)
    os.replace(part, ROOTFS)
    with open(ROOTFS_SOURCE, "w", encoding="utf-8") as f:
        f.write(how + "\n")
    shutil.rmtree(tmp, ignore_errors=True)
    return ROOTFS, how


def _rootfs_from_host_usr(tmp):
    os.makedirs(tmp)
    proc.run(["cp", "-a", "/usr", os.path.join(tmp, "usr")], timeout=1800)
    for d in ("etc", "tmp", "proc", "sys", "dev", "root", "var/tmp"):
        os.makedirs(os.path.join(tmp, d), exist_ok=True)
    for link, target in (("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"),
                         ("lib64", "usr/lib64")):
        os.symlink(target, os.path.join(tmp, link))
    with open(os.path.join(tmp, "etc", "passwd"), "w", encoding="utf-8") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """Debian's docker-registry, plain HTTP on 127.0.0.1 (dockerd trusts 127.0.0.0/8 without
    TLS). `reset()` restarts it on empty storage, so every push uploads every layer."""

    def __init__(self, ws):
        self.ws = ws
        self.root = ws.path("registry")
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.child = None
        os.makedirs(self.root, exist_ok=True)
        self.cfg = os.path.join(self.root, "config.yml")
        with open(self.cfg, "w", encoding="utf-8") as f:
            f.write(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                    f"    rootdirectory: {os.path.join(self.root, 'data')}\n"
                    f"  delete:\n    enabled: true\nhttp:\n  addr: {self.addr}\n")

    def start(self):
        if self.child is None:
            self.ws.on_cleanup("registry", self.stop)
        with open(os.path.join(self.root, "registry.log"), "ab") as logf:
            self.child = subprocess.Popen(["docker-registry", "serve", self.cfg],
                                          stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                          start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://{self.addr}/v2/", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"docker-registry on {self.addr} did not come up")

    def stop(self):
        if self.child is not None and self.child.poll() is None:
            proc.kill_pid(self.child.pid, signal.SIGTERM)
            try:
                self.child.wait(10)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait()

    def reset(self):
        self.stop()
        shutil.rmtree(os.path.join(self.root, "data"), ignore_errors=True)
        self.start()
