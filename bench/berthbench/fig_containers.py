"""Figures 1, 2 and 6: starting containers one at a time and many at once, and exec."""

from . import plots, proc
from .model import Figure, ratio_target, bound_target


def run_rm(ctx):
    f = Figure(1, "`run --rm busybox true`")
    keys = ctx.keys("berth", "docker→berth", "docker", "podman")
    for net in ("bridge", "none"):
        m = f.measure(f"network {net}", "ms")
        args = ["run", "--rm", *(["--network", "none"] if net == "none" else []),
                "busybox", "true"]
        ctx.sample(m, keys, ctx.runs(30), lambda e, a=args: 1000 * e.timed(*a),
                   warmup=ctx.warmup(3))
    ratio_target(f, "network bridge", "berth", "docker", 0.05, 15)
    ratio_target(f, "network bridge", "docker→berth", "berth", 1.3)
    f.notes.append("Each sample is one client process from spawn to exit: the CLI's own start "
                   "(Go runtime, version negotiation) is part of what a user waits for. "
                   "`bridge` is each engine's default network.")
    if ctx.plot_dir:
        f.plots.append(plots.distributions(
            ctx.plot_dir, "run-latency.png", "run --rm busybox true",
            [(m.title, m.samples) for m in f.measures], "ms"))
    return f


def concurrent(ctx):
    f = Figure(2, "concurrent `run -d`, then `rm -f` of all")
    keys = ctx.keys("berth", "docker", "podman")
    sizes = ctx.size([50, 200], [3])
    for n in sizes:
        up = f.measure(f"{n} concurrent run -d", "s")
        rm = f.measure(f"rm -f of {n}", "s")

        def one(e, n=n):
            argv = e.cli("run", "-d", "busybox", "sleep", "600")
            dt, outs = proc.timed_many([argv] * n, env=e.env)
            ids = [o.decode().strip() for o in outs]
            running = e.run("ps", "-q").split()
            if len(running) != n:
                raise RuntimeError(f"{e.key}: {len(running)} running after {n} run -d")
            return dt, e.timed("rm", "-f", *ids)

        ctx.sample([up, rm], keys, ctx.runs(3), one)
    ratio_target(f, f"{sizes[0]} concurrent run -d", "berth", "docker", 0.05)
    f.notes.append("All clients are spawned at once and the figure is the time until the last "
                   "exits (the spawning itself is included); then one `rm -f` with every id.")
    return f


def exec_latency(ctx):
    f = Figure(6, "`exec` latency in a running container")
    keys = ctx.keys("berth", "docker→berth", "docker", "podman")
    ids = {k: ctx.engines[k].run("run", "-d", "busybox", "sleep", "3600").decode().strip()
           for k in keys}
    try:
        m = f.measure("exec true", "ms")
        ctx.sample(m, keys, ctx.runs(30), lambda e: 1000 * e.timed("exec", ids[e.key], "true"),
                   warmup=ctx.warmup(3))
    finally:
        for k, cid in ids.items():
            ctx.engines[k].run("rm", "-f", cid)
    bound_target(f, "exec true", "berth", 10, "ms")
    if ctx.plot_dir:
        f.plots.append(plots.distributions(ctx.plot_dir, "exec-latency.png",
                                           "exec <id> true", [(m.title, m.samples)], "ms"))
    return f
