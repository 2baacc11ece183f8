"""bench/all: starts the engines, measures every figure of issue 16 alternating the engines run
by run, writes docs/benchmarks.md and its plots, and removes everything it started."""

import argparse
import os
import subprocess
import sys
import time
import traceback

from . import fig_containers, fig_images, fig_logs, fig_scale, fixtures, report
from .ctx import Ctx
from .engines import (BERTH_BRIDGE, DOCKER, DOCKER_BRIDGE, PODMAN_NETWORK, BerthDaemon,
                      Dockerd, Engine, Podman)
from .fig_scale import engine_kib
from .model import Figure
from .workspace import Interrupted, Workspace, install_signal_handlers, log

FIGURES = {
    1: fig_containers.run_rm,
    2: fig_containers.concurrent,
    3: fig_scale.scale,
    4: fig_scale.memory,
    5: fig_logs.logs,
    6: fig_containers.exec_latency,
    7: fig_images.images,
    8: fig_images.build,
}

# Commands berth's own client may lack (other branches add them): the docker CLI stands in.
MAYBE_MISSING = ("pull", "push", "build")


def parse(argv):
    p = argparse.ArgumentParser(prog="bench/all", description=__doc__)
    p.add_argument("--smoke", action="store_true",
                   help="one iteration of every figure at small sizes, busybox only (CI)")
    p.add_argument("--runs", type=float, default=1.0,
                   help="scale the number of runs per figure (default 1.0)")
    p.add_argument("--only", default="", help="comma-separated figure numbers, e.g. 1,6")
    p.add_argument("--out", help="page to write (default docs/benchmarks.md; smoke: "
                   "target/bench-smoke/benchmarks.md)")
    p.add_argument("--berth", help="berth binary (default: cargo build, release; smoke: debug)")
    p.add_argument("--keep", action="store_true", help="keep the private temp dir")
    return p.parse_args(argv)


def build_berth(args):
    if args.berth:
        return os.path.abspath(args.berth), "given"
    profile = "debug" if args.smoke else "release"
    cmd = ["cargo", "build", "-q", "--locked", "-p", "berth"] + ([] if args.smoke else ["--release"])
    log(f"building berth ({profile}): {' '.join(cmd)}")
    subprocess.run(cmd, cwd=fixtures.REPO, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(fixtures.REPO, "target"))
    return os.path.join(target, profile, "berth"), profile


def start_engines(ws, binary):
    berth = BerthDaemon(ws, binary)
    dockerd = Dockerd(ws)
    log(f"starting berth daemon (bridge {berth.bridge}) and dockerd (bridge {dockerd.bridge})")
    berth.start()
    dockerd.start()
    missing = [c for c in MAYBE_MISSING if not berth.has_cli_command(c)]
    engines = {
        "berth": Engine("berth", berth, [binary, "-H", f"unix://{berth.sock}"], missing),
        "docker→berth": Engine("docker→berth", berth),
        "docker": Engine("docker", dockerd),
    }
    podman = None
    if Podman.installed():
        podman = Podman(ws)
        try:
            podman.start()
            engines["podman"] = Engine("podman", podman)
        except Exception as e:  # podman is a guest here: report it, measure the rest
            log(f"podman is installed but could not be set up: {e}")
            podman.broken = str(e)[-300:]
    return engines, berth, dockerd, podman, missing


def import_busybox(ctx):
    for k, e in ctx.engines.items():
        if k == "docker→berth":
            continue
        e.run("import", "-c", 'CMD ["sh"]', ctx.busybox_tar, "busybox:latest")


def labels(berth, dockerd, podman, missing):
    via = f" (`{'`, `'.join(missing)}` through the docker CLI: berth's client has none)" \
        if missing else ""
    out = {"berth": f"berth's CLI → berth daemon{via}",
           "docker→berth": "docker CLI → berth daemon",
           "docker": f"docker CLI → {dockerd.version()} (its own containerd, runc)"}
    if podman and podman.broken:
        out["podman"] = f"{podman.version()} is installed but could not be set up: " \
            f"{podman.broken}"
    elif podman:
        out["podman"] = f"{podman.version()} --runtime runc, cgroupfs, its own storage"
    else:
        out["podman"] = "not installed on this machine: no podman rows"
    return out


def method(ctx, args):
    return [
        "Each engine is private to the run: berth's daemon and dockerd have their own socket, "
        "data root, exec root and bridge (dockerd with `--iptables=false`, so the host's "
        "firewall is not touched; no figure publishes ports); everything is removed at the "
        "end, also on Ctrl-C.",
        "The engines alternate run by run (run i starts with a different engine), so drift "
        "on a shared machine hits all alike; warm-up runs are not counted.",
        "Figures are wall times of whole client commands (spawn to exit) unless a table says "
        "otherwise; p10/p50/p90 by linear interpolation; the ratio is p50 over dockerd's p50.",
        "Targets are judged on the ratios of this one run: absolute times drift on this host.",
        "Smoke: one run of every figure at small sizes, no warm-up." if args.smoke
        else f"Runs scaled by {args.runs}." if args.runs != 1.0 else "Default run counts.",
    ]


def run_figures(ctx, wanted):
    figures = []
    for n in wanted:
        log(f"figure {n}")
        t0 = time.monotonic()
        try:
            fig = FIGURES[n](ctx)
        except (KeyboardInterrupt, Interrupted):
            raise
        except Exception as e:  # a broken command: record it, go on, fail at the end
            traceback.print_exc()
            fig = Figure(n, FIGURES[n].__name__.replace("_", " "), error=str(e)[-1500:])
        for e in ctx.engines.values():
            try:
                e.daemon.remove_all_containers()
            except Exception as err:
                log(f"{e.key}: removing containers after figure {n}: {err}")
        fig.elapsed = time.monotonic() - t0
        log(f"figure {n}: {fig.elapsed:.0f} s" + (" FAILED" if fig.error else ""))
        figures.append(fig)
    return figures


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    if os.geteuid() != 0:
        sys.exit("bench/all: run as root (daemons, bridges, mounts)")
    install_signal_handlers()
    started = time.monotonic()
    binary, profile = build_berth(args)
    wanted = sorted(int(x) for x in args.only.split(",") if x) if args.only else sorted(FIGURES)
    out = args.out or os.path.join(
        fixtures.REPO, "target/bench-smoke/benchmarks.md" if args.smoke else "docs/benchmarks.md")
    plot_dir = os.path.join(os.path.dirname(os.path.abspath(out)), "bench")
    os.makedirs(plot_dir, exist_ok=True)
    info = {"command": "sudo bench/all " + " ".join(sys.argv[1:] if argv is None else argv),
            "machine": report.machine()}
    links = (BERTH_BRIDGE, DOCKER_BRIDGE, PODMAN_NETWORK)
    for d in Workspace.sweep_stale(links):
        log(f"removed what a killed earlier run left: {d}")
    ws = Workspace(keep=args.keep)
    figures = []
    links = [ws.name(p) for p in links]
    try:
        engines, berth, dockerd, podman, missing = start_engines(ws, binary)
        ctx = Ctx(ws, engines, args.smoke, args.runs, plot_dir)
        ctx.busybox_tar = fixtures.busybox_tar(ws)
        import_busybox(ctx)
        for k in ("berth", "docker"):
            ctx.idle[k] = (engine_kib(engines[k], "Rss"), engine_kib(engines[k], "Pss"))
        if 7 in wanted:
            if args.smoke:
                ctx.image_tar, ctx.image_source = ctx.busybox_tar, "busybox (smoke)"
            else:
                ctx.image_tar, ctx.image_source = fixtures.debian_rootfs(ws)
            ctx.registry = fixtures.Registry(ws)
            ctx.registry.start()
        info["labels"] = labels(berth, dockerd, podman, missing)
        info["versions"] = report.versions(fixtures.REPO, berth.version(), profile,
                                           podman.version() if podman else None)
        info["versions"]["docker CLI"] = f"{DOCKER} {info['versions']['docker CLI']}"
        info["method"] = method(ctx, args)
        figures = run_figures(ctx, wanted)
    finally:
        log("cleaning up")
        ws.cleanup()
        leaks = ws.leftovers(links, nft_tables=links)
        for leak in leaks:
            log(f"left behind: {leak}")
    info["elapsed"] = time.monotonic() - started
    info["load_end"] = "%.2f %.2f %.2f" % os.getloadavg()
    report.render(out, figures, info, args.smoke)
    report.dump(os.path.join(plot_dir, "results.json"), figures, info)
    failed = [f.number for f in figures if f.error]
    log(f"wrote {out}" + (f"; FAILED figures: {failed}" if failed else "")
        + (f"; {len(leaks)} things left behind (above)" if leaks else ""))
    return 1 if failed or leaks else 0
