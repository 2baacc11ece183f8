"""The state figures share (engines, sizes, fixtures) and the alternating sampler."""

from dataclasses import dataclass, field

from .proc import Unsupported


def rotate(keys, i):
    """Run i starts with a different engine, so drift on a shared machine hits all alike."""
    if not keys:
        return []
    i %= len(keys)
    return keys[i:] + keys[:i]


@dataclass
class Ctx:
    ws: object
    engines: dict            # key → Engine
    smoke: bool
    runs_scale: float = 1.0
    plot_dir: str = ""
    registry: object = None
    busybox_tar: str = ""
    image_tar: str = ""      # the ~200 MB Debian rootfs (busybox in the smoke)
    image_source: str = ""
    idle: dict = field(default_factory=dict)   # key → (rss KiB, pss KiB) right after start
    notes: list = field(default_factory=list)

    def keys(self, *wanted):
        return [k for k in wanted if k in self.engines]

    def runs(self, full):
        return 1 if self.smoke else max(1, round(full * self.runs_scale))

    def warmup(self, full):
        return 0 if self.smoke else full

    def size(self, full, smoke):
        return smoke if self.smoke else full

    def sample(self, measures, keys, runs, fn, warmup=0):
        """Calls fn(engine) runs (+ warmup) times per engine, alternating the order run by run;
        fn returns one value per measure. An engine that raises Unsupported is dropped from
        the remaining runs and its rows say why."""
        if not isinstance(measures, (list, tuple)):
            measures = [measures]
        live = list(keys)
        for i in range(warmup + runs):
            for k in rotate(live, i):
                try:
                    values = fn(self.engines[k])
                except Unsupported as u:
                    for m in measures:
                        m.status[k] = f"not supported by this berth: {u}"
                    live.remove(k)
                    continue
                if i < warmup:
                    continue
                if not isinstance(values, (list, tuple)):
                    values = [values]
                for m, v in zip(measures, values):
                    m.add(k, v)
