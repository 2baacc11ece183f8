"""Figures 3 and 4: cost as the container count grows (create, ps -a, inspect, rm; the engine's
memory) and memory of running containers."""

import time

from . import plots, proc
from .ctx import rotate
from .model import Figure, bound_target

MIB = 1024.0


def engine_kib(e, key):
    """Sum of `Rss` or `Pss` over the engine's own processes (not the containers')."""
    d = e.daemon
    marker = d.root + "/"
    return sum(proc.smaps_kib(p, key) for p in proc.engine_processes(d.pid, marker))


def scale(ctx):
    f = Figure(3, "create N, `ps -a` with N present, `inspect` of one, remove N")
    keys = ctx.keys("berth", "docker", "podman")
    checkpoints = ctx.size([1, 10, 50, 100, 200, 500], [1, 3])
    total = checkpoints[-1]
    create = f.measure("create (each, 1 → %d)" % total, "ms")
    ids = {k: [] for k in keys}
    series = {"ps": {k: [] for k in keys}, "pss": {k: [] for k in keys},
              "create": {k: [] for k in keys}}
    created = 0
    for point in checkpoints:
        while created < point:
            for k in rotate(keys, created):
                e = ctx.engines[k]
                t0 = time.perf_counter()
                ids[k].append(e.run("create", "busybox", "true").decode().strip())
                create.add(k, 1000 * (time.perf_counter() - t0))
            created += 1
        m = f.measure(f"ps -a with {point}", "ms")
        ctx.sample(m, keys, ctx.runs(5), lambda e, n=point: _ps_a(e, n))
        for k in keys:
            series["ps"][k].append((point, m.stats(k).p50))
            series["pss"][k].append((point, engine_kib(ctx.engines[k], "Pss") / MIB))
            series["create"][k].append((point, sum(create.samples[k]) / 1000))
    insp = f.measure(f"inspect of one, {total} present", "ms")
    ctx.sample(insp, keys, ctx.runs(10),
               lambda e: 1000 * e.timed("inspect", ids[e.key][len(ids[e.key]) // 2]))
    rm = f.measure(f"rm of {total} (one command)", "s")
    for k in keys:
        rm.add(k, ctx.engines[k].timed("rm", *ids[k]))
    bound_target(f, f"ps -a with {total}", "berth", 20, "ms")
    f.extra["series"] = series
    f.notes.append("Containers are created (not started) alternately on each engine. The "
                   "engine's PSS is the sum over its own processes (berth: daemon + zygote; "
                   "dockerd: dockerd + containerd), read at each step.")
    if ctx.plot_dir:
        f.plots.append(plots.scale(ctx.plot_dir, "scale.png", series))
    return f


def _ps_a(e, n):
    t0 = time.perf_counter()
    out = e.run("ps", "-a")
    dt = time.perf_counter() - t0
    rows = len(out.splitlines()) - 1
    if rows != n:
        raise RuntimeError(f"{e.key}: ps -a listed {rows} containers, {n} exist")
    return 1000 * dt


def memory(ctx):
    f = Figure(4, "memory: idle daemon, per running container, MemAvailable")
    keys = ctx.keys("berth", "docker", "podman")
    n = ctx.size(30, 3)
    rss = f.measure("idle daemon RSS (after start)", "MiB")
    pss = f.measure("idle daemon PSS (after start)", "MiB")
    for k in keys:
        if k in ctx.idle:
            rss.add(k, ctx.idle[k][0] / MIB)
            pss.add(k, ctx.idle[k][1] / MIB)
        else:
            rss.status[k] = pss.status[k] = "no daemon"
    per = f.measure(f"engine PSS per running container ({n} idle)", "MiB")
    avail = f.measure(f"MemAvailable drop per container ({n} idle)", "MiB")
    ctx.sample([per, avail], keys, ctx.runs(1), lambda e: _per_container(e, n))
    bound_target(f, per.title, "berth", 0.5, "MiB")
    f.notes.append("Per container: the growth of the engine's own PSS (monitors or shims plus "
                   "the daemon's growth) divided by the count, after the containers "
                   "(`sleep 3600`, default network) have settled for 2 s. MemAvailable counts "
                   "everything (page cache, kernel objects) and drifts with other load on the "
                   "host.")
    return f


def _per_container(e, n):
    e.daemon.remove_all_containers()
    time.sleep(1)
    pss0, avail0 = engine_kib(e, "Pss"), proc.mem_available_kib()
    ids = [e.run("run", "-d", "busybox", "sleep", "3600").decode().strip() for _ in range(n)]
    time.sleep(2)
    pss1, avail1 = engine_kib(e, "Pss"), proc.mem_available_kib()
    e.run("rm", "-f", *ids)
    return (pss1 - pss0) / n / MIB, (avail0 - avail1) / n / MIB
