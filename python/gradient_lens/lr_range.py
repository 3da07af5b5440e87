"""The learning-rate range test on the PyTorch trainer (Smith 2017; fastai `lr_find`, Lightning `Tuner.lr_find`).

Only the measurement lives here: from the model's initial weights, one batch per step at an
exponentially growing rate, the loss of each step. The smoothing, the stop at 4x the minimum and
the suggestion are decided once, in TypeScript (src/shared/lrRange.ts), from the raw points this
returns; here the sweep only stops at a non-finite loss, after which every later step is noise.
The model and the optimizer are put back as they were, so a caller may train after it.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Dict, List


def sweep_rate(sweep: Dict[str, Any], i: int) -> float:
    """start * (end/start)^(i/(steps-1)), as `sweepRate` in src/shared/lrRange.ts."""
    steps = int(sweep["steps"])
    fraction = i / (steps - 1) if steps > 1 else 0.0
    start, end = float(sweep["startLr"]), float(sweep["endLr"])
    return start * (end / start) ** fraction


def run_range_test(torch: Any, model: Any, optimizer: Any, next_batch: Callable[[], Any], loss_of: Callable[[Any, Any], Any],
                   sweep: Dict[str, Any], cancelled: Callable[[], bool]) -> List[List[float]]:
    """[[rate, loss], ...] for the sweep's steps (fewer once the loss is non-finite or on cancel)."""
    model_state = copy.deepcopy(model.state_dict())
    optimizer_state = copy.deepcopy(optimizer.state_dict())
    points: List[List[float]] = []
    try:
        model.train()
        for i in range(int(sweep["steps"])):
            if cancelled():
                break
            rate = sweep_rate(sweep, i)
            for group in optimizer.param_groups:
                group["lr"] = rate
            inputs, targets = next_batch()
            optimizer.zero_grad(set_to_none=True)
            loss = loss_of(model(inputs), targets)
            loss.backward()
            optimizer.step()
            value = float(loss.detach())
            points.append([rate, value])
            if value != value or value in (float("inf"), float("-inf")):
                break
    finally:
        model.load_state_dict(model_state)
        optimizer.load_state_dict(optimizer_state)
    return points
