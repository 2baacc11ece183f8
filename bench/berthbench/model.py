"""What a figure holds: samples per engine, their spread, ratios and targets."""

from dataclasses import dataclass, field


def percentile(xs, q):
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    s = sorted(xs)
    if not s:
        return None
    k = (len(s) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


@dataclass
class Stats:
    n: int
    p10: float
    p50: float
    p90: float
    mean: float

    @classmethod
    def of(cls, xs):
        if not xs:
            return None
        return cls(len(xs), percentile(xs, 10), percentile(xs, 50), percentile(xs, 90),
                   sum(xs) / len(xs))


@dataclass
class Measure:
    """One quantity measured on several engines. Samples are in `unit` already scaled.

    `higher_is_better` flips how a ratio reads (throughput); `status` holds a per-engine
    reason when an engine has no samples (not installed, not supported by this berth)."""

    title: str
    unit: str
    samples: dict = field(default_factory=dict)
    status: dict = field(default_factory=dict)
    reference: str = "docker"
    higher_is_better: bool = False
    note: str = ""

    def add(self, engine, value):
        self.samples.setdefault(engine, []).append(value)

    def stats(self, engine):
        return Stats.of(self.samples.get(engine, []))

    def ratio(self, engine, reference=None):
        a, b = self.stats(engine), self.stats(reference or self.reference)
        if not a or not b or b.p50 == 0:
            return None
        return a.p50 / b.p50


@dataclass
class Target:
    """A goal from issue 16, judged on the p50s of one run. `check(figure)` returns
    (met: bool | None, what was seen: str); None means it could not be judged."""

    text: str
    check: object


@dataclass
class Figure:
    number: int
    title: str
    measures: list = field(default_factory=list)
    targets: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    plots: list = field(default_factory=list)  # (file name, caption)
    error: str = ""
    extra: dict = field(default_factory=dict)  # raw series for plots
    elapsed: float = 0.0  # wall seconds the figure took, setup and cleanup included

    def measure(self, title, unit, **kw):
        m = Measure(title, unit, **kw)
        self.measures.append(m)
        return m

    def find(self, title):
        return next(m for m in self.measures if m.title == title)


def _why_missing(m, *engines):
    for e in engines:
        if m.stats(e) is None:
            why = m.status.get(e, "no samples")
            return f"{e}: " + (why.split(":")[0] if why.startswith("not supported") else why)
    return "no figure"


def ratio_target(fig, title, engine, reference, max_ratio, max_abs=None, unit="ms"):
    """Target: engine's p50 ≤ max_ratio × reference's p50 (and ≤ max_abs when given)."""
    text = f"{engine} ≤ {max_ratio}× {reference}"
    if max_abs is not None:
        text += f" and ≤ {max_abs} {unit}"
    text += f" ({title})"

    def check(f):
        m = f.find(title)
        r = m.ratio(engine, reference)
        s = m.stats(engine)
        if r is None or s is None:
            return None, _why_missing(m, engine, reference)
        met = r <= max_ratio and (max_abs is None or s.p50 <= max_abs)
        return met, f"{r:.3f}×, p50 {s.p50:.4g} {m.unit}"

    fig.targets.append(Target(text, check))


def bound_target(fig, title, engine, bound, unit, at_least=False):
    """Target: engine's p50 ≤ bound (or ≥ bound), in the measure's unit."""
    rel = "≥" if at_least else "≤"

    def check(f):
        m = f.find(title)
        s = m.stats(engine)
        if s is None:
            return None, _why_missing(m, engine)
        met = s.p50 >= bound if at_least else s.p50 <= bound
        return met, f"p50 {s.p50:.4g} {m.unit}"

    fig.targets.append(Target(f"{engine} {rel} {bound:g} {unit} ({title})", check))
