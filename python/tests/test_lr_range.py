"""The PyTorch range test's measurement (gradient_lens.lr_range): the sweep's rates, its stop at a
non-finite loss, and the model and optimizer put back as they were."""
from __future__ import annotations

import math
import unittest

import torch
import torch.nn.functional as F

from gradient_lens.lr_range import run_range_test, sweep_rate


class RangeTest(unittest.TestCase):
    def setUp(self) -> None:
        torch.manual_seed(0)
        self.model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        generator = torch.Generator().manual_seed(1)
        self.x = torch.randn(64, 1, 4, 4, generator=generator)
        self.y = (self.x.flatten(1)[:, :3].argmax(dim=1))

    def batches(self):
        state = {"i": 0}

        def next_batch():
            i = state["i"] % 4
            state["i"] += 1
            return self.x[i * 16:(i + 1) * 16], self.y[i * 16:(i + 1) * 16]
        return next_batch

    def test_sweep_rates_match_the_typescript_formula(self) -> None:
        sweep = {"startLr": 1e-7, "endLr": 10, "steps": 100}
        self.assertAlmostEqual(sweep_rate(sweep, 0), 1e-7)
        self.assertAlmostEqual(sweep_rate(sweep, 99), 10.0)
        self.assertAlmostEqual(sweep_rate(sweep, 51) / sweep_rate(sweep, 50), 1e8 ** (1 / 99))

    def test_sweep_restores_the_model_and_the_optimizer(self) -> None:
        before = {k: v.clone() for k, v in self.model.state_dict().items()}
        points = run_range_test(torch, self.model, self.optimizer, self.batches(), F.cross_entropy,
                                {"startLr": 1e-4, "endLr": 1.0, "steps": 30}, lambda: False)
        self.assertEqual(len(points), 30)
        self.assertTrue(all(b[0] > a[0] for a, b in zip(points, points[1:])))
        self.assertLess(min(p[1] for p in points[10:]), points[0][1], "the loss falls at some rate")
        for key, value in self.model.state_dict().items():
            self.assertTrue(torch.equal(value, before[key]), key)
        self.assertEqual(self.optimizer.param_groups[0]["lr"], 1e-3)
        self.assertEqual(len(self.optimizer.state), 0, "no Adam moments left behind")

    def test_sweep_stops_at_a_non_finite_loss_and_on_cancel(self) -> None:
        calls = {"n": 0}

        def diverging(output, target):
            # Finite for 12 steps, then NaN, as a diverged sweep reads.
            calls["n"] += 1
            return F.cross_entropy(output, target) * (float("nan") if calls["n"] > 12 else 1.0)

        points = run_range_test(torch, self.model, self.optimizer, self.batches(), diverging,
                                {"startLr": 1e-4, "endLr": 1.0, "steps": 60}, lambda: False)
        self.assertEqual(len(points), 13)
        self.assertFalse(math.isfinite(points[-1][1]))
        self.assertTrue(all(math.isfinite(p[1]) for p in points[:-1]))
        self.assertEqual(run_range_test(torch, self.model, self.optimizer, self.batches(), F.cross_entropy,
                                        {"startLr": 1e-4, "endLr": 1.0, "steps": 30}, lambda: True), [])


if __name__ == "__main__":
    unittest.main()
