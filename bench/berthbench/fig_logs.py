"""Figure 5: `logs` of a container that wrote 100 MiB, and `logs -f` while it writes."""

from . import proc
from .model import Figure, bound_target

LINE = 100  # bytes per line, newline included


def _writer(size, delay=0):
    body = "x" * (LINE - 1)
    pre = f"sleep {delay}; " if delay else ""
    return ["busybox", "sh", "-c", f"{pre}yes {body} | head -c {size}"]


def logs(ctx):
    f = Figure(5, "`logs`: reading a 100 MiB log, and following one as it is written")
    keys = ctx.keys("berth", "docker", "podman")
    size = ctx.size(100 << 20, 1 << 20)
    lines = size // LINE
    mib = size / (1 << 20)
    done = {}
    for k in keys:
        e = ctx.engines[k]
        done[k] = e.run("run", "-d", *_writer(size)).decode().strip()
        e.run("wait", done[k], timeout=1800)
    read_s = f.measure(f"logs of {mib:g} MiB ({lines} lines)", "s")
    read_rate = f.measure("logs throughput", "M lines/s", higher_is_better=True)

    def read(e):
        end, got = proc.timed_to_file(e.cli("logs", done[e.key]), ctx.ws.path("logs.out"),
                                      env=e.env)
        _expect(e, got, lines, "logs")
        return end, got / end / 1e6

    try:
        ctx.sample([read_s, read_rate], keys, ctx.runs(3), read)
    finally:
        for k, cid in done.items():
            ctx.engines[k].run("rm", "-f", cid)
    follow = f.measure("logs -f throughput while it writes", "M lines/s", higher_is_better=True)
    ctx.sample(follow, keys, ctx.runs(3), lambda e: _follow(e, size, lines))
    bound_target(f, "logs throughput", "berth", 1.0, "M lines/s", at_least=True)
    f.notes.append(f"The container runs `yes <99 bytes> | head -c {size}` ({LINE}-byte lines). "
                   "`logs` is timed from the client's spawn to its exit, its output going to a "
                   "file (`logs id > file`), whose lines are then counted: every line must "
                   "arrive. `logs -f` is started before the writer begins (it sleeps 2 s), its "
                   "output read by the suite through a pipe, and timed from its first byte to "
                   "EOF, so its rate is bounded by how fast the engine takes in the log.")
    return f


def _follow(e, size, lines):
    cid = e.run("run", "-d", *_writer(size, delay=2)).decode().strip()
    try:
        got, _, first, end = proc.timed_stream(e.cli("logs", "-f", cid), env=e.env)
        _expect(e, got, lines, "logs -f")
        return got / max(end - first, 1e-6) / 1e6
    finally:
        e.run("rm", "-f", cid)


def _expect(e, got, lines, what):
    if got != lines:
        raise RuntimeError(f"{e.key}: {what} returned {got} lines, the container wrote {lines}")
