"""The engines under test, each private to the suite: a berth daemon and Debian's dockerd on
their own sockets, data roots, exec roots and bridges; Podman (runc) on its own storage where
it is installed. An `Engine` is a way to reach one: a command line and its environment."""

import http.client
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import time

from . import proc
from .workspace import log, remove_network

# Prefixes of the host-wide names the engines get (bridges, berth's nft table, podman's network).
BERTH_BRIDGE, DOCKER_BRIDGE, PODMAN_NETWORK = "bb", "db", "pb"

DOCKER = shutil.which("docker", path="/usr/local/bin") or shutil.which("docker") or "docker"


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, sock_path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.sock_path = sock_path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.sock_path)


def api(sock_path, method, path, body=None, headers=None, timeout=60):
    """One Engine API request: (status, body bytes)."""
    c = _UnixHTTP(sock_path, timeout)
    try:
        try:
            c.request(method, path, body=body, headers=headers or {})
        except (BrokenPipeError, ConnectionResetError):
            # A server that rejects the request without reading the body (a 404 from a
            # fallback route) may close before the body is sent; its answer is still there.
            pass
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def api_message(body):
    try:
        return json.loads(body).get("message", "")
    except (ValueError, AttributeError):
        return body.decode(errors="replace")[:300]


def _wait_ping(sock_path, child, log_path, seconds=90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if child.poll() is not None:
            break
        try:
            if api(sock_path, "GET", "/_ping", timeout=5)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    tail = open(log_path, encoding="utf-8", errors="replace").read()[-2000:]
    raise RuntimeError(f"daemon on {sock_path} did not come up:\n{tail}")


def _spawn(argv, log_path):
    with open(log_path, "wb") as logf:
        # Own session: a Ctrl-C in the terminal reaches the driver only, which then stops
        # the daemons in order (containers first).
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                start_new_session=True)


def free_subnet():
    """A /24 in 10.0.0.0/8 that no route on this host overlaps."""
    out = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True,
                         text=True, check=False).stdout
    used = []
    for line in out.splitlines():
        tok = line.split()[0] if line.split() else ""
        if tok in ("local", "broadcast", "unreachable", "blackhole", "prohibit"):
            tok = line.split()[1]
        try:
            used.append(ipaddress.ip_network(tok, strict=False))
        except ValueError:
            pass
    seed = os.getpid()
    for i in range(4096):
        n = (seed + i * 7) % 4096
        net = ipaddress.ip_network(f"10.{200 + n // 256 % 50}.{n % 256}.0/24")
        if not any(net.overlaps(u) for u in used):
            return net
    raise RuntimeError("no free 10.x.y.0/24 for the reference bridge")


class Daemon:
    """A private engine daemon: stops containers first, then the daemon, then its network."""

    name = ""

    def __init__(self, ws, bridge):
        self.ws = ws
        self.bridge = bridge
        self.root = ws.path(self.name)
        os.makedirs(self.root, exist_ok=True)
        self.sock = os.path.join(self.root, "api.sock")
        self.log = os.path.join(self.root, "daemon.log")
        self.pidfile = os.path.join(self.root, "daemon.pid")
        self.child = None
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{self.sock}",
                        DOCKER_CONFIG=ws.path("docker-cli-config"),
                        DOCKER_BUILDKIT="0")  # the legacy builder: dockerd 20.10 has no buildx
        self.env.pop("DOCKER_CONTEXT", None)

    @property
    def pid(self):
        try:
            return int(open(self.pidfile, encoding="utf-8").read().strip())
        except (OSError, ValueError):
            return self.child.pid if self.child else None

    def docker(self, *args):
        return [DOCKER, *args]

    def remove_all_containers(self):
        ids = proc.run(self.docker("ps", "-aq"), env=self.env, timeout=120).split()
        if ids:
            proc.run(self.docker("rm", "-f", *[i.decode() for i in ids]), env=self.env,
                     timeout=600)

    def stop(self):
        if self.child is None:
            return
        try:
            self.remove_all_containers()
        except Exception as e:
            log(f"{self.name}: removing containers at the end: {e}")
        pid = self.pid
        for p in {pid, self.child.pid} - {None}:
            proc.kill_pid(p, signal.SIGTERM)
        if not proc.wait_gone(self.child.pid, 30):
            proc.kill_pid(self.child.pid, signal.SIGKILL)
        self.child.wait()
        self.child = None


class BerthDaemon(Daemon):
    name = "berth"

    def __init__(self, ws, binary):
        super().__init__(ws, ws.name(BERTH_BRIDGE))
        self.binary = binary

    def start(self):
        argv = [self.binary, "daemon", "-H", f"unix://{self.sock}",
                "--data-root", os.path.join(self.root, "data"),
                "--exec-root", os.path.join(self.root, "exec"),
                "--pidfile", self.pidfile, "--bridge", self.bridge]
        self.ws.on_cleanup("berth network", self._remove_network)
        self.ws.on_cleanup("berth daemon", self.stop)
        self.child = _spawn(argv, self.log)
        _wait_ping(self.sock, self.child, self.log)

    def _remove_network(self):
        # berth leaves its bridge and nft table for the next start; the suite's are its own.
        remove_network(self.bridge)

    def version(self):
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True,
                             check=False).stdout.strip()
        return out or "unknown"

    def has_cli_command(self, cmd):
        return subprocess.run([self.binary, cmd, "--help"], capture_output=True,
                              check=False).returncode == 0


class Dockerd(Daemon):
    """Debian's dockerd as the reference, on a bridge the suite makes (dockerd's `--bridge`
    wants an existing one) and with iptables off so the host's firewall stays as it was."""

    name = "docker"

    def __init__(self, ws):
        super().__init__(ws, ws.name(DOCKER_BRIDGE))

    def start(self):
        net = free_subnet()
        gw = next(net.hosts())
        self.ws.on_cleanup("reference bridge", lambda: subprocess.run(
            ["ip", "link", "del", self.bridge], capture_output=True, check=False))
        for cmd in (["ip", "link", "add", self.bridge, "type", "bridge"],
                    ["ip", "addr", "add", f"{gw}/{net.prefixlen}", "dev", self.bridge],
                    ["ip", "link", "set", self.bridge, "up"]):
            proc.run(cmd)
        cfg = os.path.join(self.root, "daemon.json")
        with open(cfg, "w", encoding="utf-8") as f:
            f.write("{}\n")  # not the host's /etc/docker/daemon.json
        argv = ["dockerd", "--config-file", cfg, "-H", f"unix://{self.sock}",
                "--data-root", os.path.join(self.root, "data"),
                "--exec-root", os.path.join(self.root, "exec"),
                "--pidfile", self.pidfile, "--bridge", self.bridge,
                "--iptables=false", "--ip-masq=false"]
        self.ws.on_cleanup("dockerd", self.stop)
        self.child = _spawn(argv, self.log)
        _wait_ping(self.sock, self.child, self.log)

    @staticmethod
    def version():
        return subprocess.run(["dockerd", "--version"], capture_output=True, text=True,
                              check=False).stdout.strip()


class Podman:
    """Podman with runc, daemonless, on storage of its own; its bridge rows use a network the
    suite creates (and removes) rather than the host's default `podman` network."""

    name = "podman"

    def __init__(self, ws):
        self.ws = ws
        self.root = ws.path("podman")
        self.network = ws.name(PODMAN_NETWORK)
        self.env = dict(os.environ)
        self.sock = None
        self.pid = None
        self.broken = None  # why it could not be set up, when it could not

    @staticmethod
    def installed():
        return shutil.which("podman") is not None and shutil.which("runc") is not None

    def base(self):
        return ["podman", "--root", os.path.join(self.root, "root"),
                "--runroot", os.path.join(self.root, "run"),
                "--tmpdir", os.path.join(self.root, "tmp"),
                "--network-config-dir", os.path.join(self.root, "net"),
                "--runtime", "runc", "--cgroup-manager", "cgroupfs",
                "--events-backend", "file"]

    def start(self):
        self.ws.on_cleanup("podman", self.stop)
        proc.run([*self.base(), "network", "create", "--interface-name", self.network,
                  "--subnet", str(free_subnet()), self.network])

    def remove_all_containers(self):
        proc.run([*self.base(), "rm", "-fa"], timeout=600)

    def stop(self):
        for cmd in (["rm", "-fa"], ["network", "rm", "-f", self.network]):
            subprocess.run([*self.base(), *cmd], capture_output=True, check=False, timeout=600)

    @staticmethod
    def version():
        return subprocess.run(["podman", "--version"], capture_output=True, text=True,
                              check=False).stdout.strip()


class Engine:
    """One way to drive one daemon: `key` names it in tables ("berth", "docker→berth",
    "docker", "podman"); `cli(*args)` is the argv for a Docker-syntax command."""

    def __init__(self, key, daemon, own_cli=None, missing=()):
        self.key = key
        self.daemon = daemon
        self.env = daemon.env
        self.own_cli = own_cli          # argv prefix of the engine's own client, if any
        self.missing = set(missing)     # commands its own client lacks: the docker CLI instead

    def uses_docker_cli(self, cmd):
        return self.own_cli is None or cmd in self.missing

    def cli(self, *args):
        if self.key == "podman":
            args = self._podman_args(args)
            return [*self.daemon.base(), *args]
        if self.uses_docker_cli(args[0]):
            return [DOCKER, *args]
        return [*self.own_cli, *args]

    def _podman_args(self, args):
        # The bridge is the suite's network, not the host's default one.
        if args and args[0] in ("run", "create") and "--network" not in args:
            return (args[0], "--network", self.daemon.network, *args[1:])
        if args and args[0] in ("push", "pull"):
            # The local registry is plain HTTP; dockerd trusts 127.0.0.0/8 by default, podman
            # has to be told.
            return (args[0], "--tls-verify=false", *args[1:])
        return args

    def run(self, *args, timeout=900):
        return proc.run(self.cli(*args), env=self.env, timeout=timeout)

    def timed(self, *args, timeout=900):
        return proc.timed(self.cli(*args), env=self.env, timeout=timeout)

    @property
    def sock(self):
        return self.daemon.sock

    def __repr__(self):
        return self.key
