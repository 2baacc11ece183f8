"""Unit tests of the driver's arithmetic and page (no root, no daemons):
`/usr/bin/python3 -m unittest discover -s bench -t bench`."""

import os
import shutil
import tempfile
import unittest

from .ctx import Ctx, rotate
from .model import Figure, Stats, bound_target, percentile, ratio_target
from .proc import Unsupported
from . import report
from .workspace import Workspace


class PercentileTest(unittest.TestCase):
    def test_interpolates_like_numpy(self):
        xs = [5, 1, 4, 2, 3]
        self.assertEqual(percentile(xs, 50), 3)
        self.assertAlmostEqual(percentile(xs, 10), 1.4)
        self.assertAlmostEqual(percentile(xs, 90), 4.6)
        self.assertEqual(percentile([7], 90), 7)
        self.assertIsNone(percentile([], 50))

    def test_stats(self):
        s = Stats.of([1, 2, 3, 4])
        self.assertEqual((s.n, s.p50, s.mean), (4, 2.5, 2.5))
        self.assertIsNone(Stats.of([]))


class AlternationTest(unittest.TestCase):
    def test_each_run_starts_with_another_engine(self):
        keys = ["a", "b", "c"]
        self.assertEqual([rotate(keys, i)[0] for i in range(4)], ["a", "b", "c", "a"])
        self.assertEqual(sorted(rotate(keys, 2)), keys)

    def test_sample_skips_warmup_and_drops_unsupported(self):
        calls = []

        class E:
            def __init__(self, key):
                self.key = key

        def fn(e):
            calls.append(e.key)
            if e.key == "berth":
                raise Unsupported("404")
            return len(calls)

        ctx = Ctx(ws=None, engines={"berth": E("berth"), "docker": E("docker")}, smoke=False)
        f = Figure(0, "t")
        m = f.measure("op", "s")
        ctx.sample(m, ["berth", "docker"], runs=2, fn=fn, warmup=1)
        self.assertEqual(calls.count("berth"), 1)       # dropped after its first answer
        self.assertEqual(len(m.samples["docker"]), 2)   # the warm-up is not counted
        self.assertIn("not supported by this berth", m.status["berth"])


class TargetTest(unittest.TestCase):
    def figure(self, berth, docker):
        f = Figure(1, "t")
        m = f.measure("run", "ms")
        for v in berth:
            m.add("berth", v)
        for v in docker:
            m.add("docker", v)
        return f

    def test_ratio_and_absolute_bound_both_count(self):
        f = self.figure([10, 12, 14], [300, 310, 320])
        ratio_target(f, "run", "berth", "docker", 0.05, 15)
        self.assertTrue(f.targets[0].check(f)[0])
        f = self.figure([20, 20, 20], [1000, 1000, 1000])  # 0.02× but over 15 ms
        ratio_target(f, "run", "berth", "docker", 0.05, 15)
        self.assertFalse(f.targets[0].check(f)[0])

    def test_throughput_bound_and_missing_engine(self):
        f = self.figure([0.5], [])
        bound_target(f, "run", "berth", 1.0, "M lines/s", at_least=True)
        ratio_target(f, "run", "berth", "docker", 0.8)
        self.assertFalse(f.targets[0].check(f)[0])
        self.assertEqual(f.targets[1].check(f), (None, "docker: no samples"))


class PageTest(unittest.TestCase):
    def test_page_has_tables_targets_and_reasons(self):
        f = self.make()
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "benchmarks.md")
            info = {"command": "sudo bench/all", "elapsed": 1.0, "machine": {"cpus": "2"},
                    "load_end": "0", "versions": {"berth": "x"}, "method": ["m"],
                    "labels": {"berth": "b"}}
            report.render(path, [f], info, smoke=False)
            with open(path, encoding="utf-8") as fh:
                page = fh.read()
        self.assertIn("| berth | 2 | ", page)
        self.assertIn("| berth ≤ 0.5× docker (pull) | 0.100×, p50 1 s | met |", page)
        self.assertIn("not supported by this berth: 501", page)
        self.assertIn("## 7. images", page)

    def test_unsupported_engine_is_named_in_the_target(self):
        f = self.make()
        ratio_target(f, "push", "berth", "docker", 0.5)
        self.assertEqual(f.targets[-1].check(f), (None, "berth: not supported by this berth"))

    @staticmethod
    def make():
        f = Figure(7, "images")
        pull = f.measure("pull", "s")
        for v in (1, 1):
            pull.add("berth", v)
        pull.add("docker", 10)
        push = f.measure("push", "s")
        push.add("docker", 3)
        push.status["berth"] = "not supported by this berth: 501"
        ratio_target(f, "pull", "berth", "docker", 0.5)
        return f


class LeftoversTest(unittest.TestCase):
    def test_what_the_cleanup_did_not_remove_is_named(self):
        ws = Workspace()
        try:
            held = open(ws.path("held"), "w", encoding="utf-8")
            held.close()
            self.assertEqual(ws.leftovers(["bbtest-none"]), [f"directory {ws.dir}"])
        finally:
            ws.cleanup()
        self.assertEqual(ws.leftovers(["bbtest-none"]), [])

    def test_sweep_removes_dirs_of_dead_runs_only(self):
        dead = tempfile.mkdtemp(prefix="bb-", dir="/tmp")
        foreign = tempfile.mkdtemp(prefix="bb-", dir="/tmp")
        try:
            with open(os.path.join(dead, "owner"), "w", encoding="utf-8") as f:
                f.write("4194305 t0\n")  # above the kernel's PID_MAX_LIMIT: no such process
            swept = Workspace.sweep_stale(["bbtest-none"])
            self.assertIn(dead, swept)
            self.assertFalse(os.path.exists(dead))
            self.assertNotIn(foreign, swept)
            self.assertTrue(os.path.isdir(foreign))
        finally:
            os.rmdir(foreign)

    def test_kept_dir_is_not_a_leak(self):
        ws = Workspace(keep=True)
        try:
            ws.cleanup()
            self.assertEqual(ws.leftovers(), [])
        finally:
            shutil.rmtree(ws.dir)


if __name__ == "__main__":
    unittest.main()
