"""PNG plots with matplotlib (Debian's python3-matplotlib), headless."""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

COLORS = {"berth": "#1f77b4", "docker→berth": "#17becf", "docker": "#d62728",
          "podman": "#9467bd"}


def distributions(out_dir, name, title, panels, unit):
    """One panel per measure: each engine's samples as a box with the points over it.
    Returns (file name, caption) for the page."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.8), squeeze=False)
    for ax, (label, samples) in zip(axes[0], panels):
        keys = [k for k in samples if samples[k]]
        data = [samples[k] for k in keys]
        if data:
            ax.boxplot(data, whis=(10, 90), showfliers=False)
            for i, (k, xs) in enumerate(zip(keys, data), start=1):
                ax.scatter([i] * len(xs), xs, s=8, alpha=0.5, color=COLORS.get(k, "gray"))
            ax.set_xticks(range(1, len(keys) + 1), keys, rotation=15)
        ax.set_yscale("log")
        ax.set_ylabel(unit + " (log scale)")
        ax.set_title(label)
        ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.suptitle(f"{title}: whiskers p10–p90, box p25–p75, line p50")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, name), dpi=90)
    plt.close(fig)
    return name, f"{title}: latency distributions"


def scale(out_dir, name, series):
    """Cost as the container count grows: ps -a latency, cumulative create time, engine PSS."""
    panels = (("ps", "ps -a [ms]"), ("create", "create, cumulative [s]"),
              ("pss", "engine PSS [MiB]"))
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    for ax, (key, ylabel) in zip(axes, panels):
        for engine, points in series[key].items():
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="o", label=engine, color=COLORS.get(engine, "gray"))
        ax.set_xscale("log")
        xs_all = sorted({x for pts in series[key].values() for x, _ in pts})
        ax.set_xticks(xs_all, [str(x) for x in xs_all])
        ax.minorticks_off()
        ax.set_xlabel("containers present")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("cost as the container count grows")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, name), dpi=90)
    plt.close(fig)
    return name, "cost as the container count grows (created, not running)"
