"""Per-layer statistics of one optimizer step, as the engine's `StepStats` (src/shared/stats.ts).

One module for the short run (trainer.py) and for real training (`watch()`): `StepRecorder`
knows nothing of the loop around it. The loop calls, per step:

    recorder.before_update()   # after backward, before optimizer.step(): gradients and weights
    optimizer.step()
    stats = recorder.after_update(step, loss, accuracy)   # one host sync for everything

Figures mean what the TF.js trainer's mean (src/engine/train/gradientStats.ts and
activationStats.ts): gradients of the layer's weight (kernel, or BatchNorm's gamma), never the
bias; RMS = L2/√n; update ratio = ‖ΔW‖/‖W‖ of this step's update; activation figures over the
first four examples of the batch, dead units = channels never positive over the whole batch.

Gradients are read from `p.grad` at optimizer-step time, never from parameter hooks: those fire
before accumulation, before DDP's all-reduce and on AMP-scaled values (FACTS.md). Activations
come from forward hooks only: a full backward hook breaks on Conv → BN → ReLU(inplace=True).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .protocol import LayerStepStats, StepStats

# The TF.js side samples the first examples of a batch: enough for mean/spread, cheap.
ACTIVATION_SAMPLE_EXAMPLES = 4

ActivationFunction = Callable[[torch.Tensor], torch.Tensor]

# Activation kinds as the rules know them (src/engine/train/forwardPlan.ts's ActivationKind).
RELU_FAMILY = {"relu", "leaky_relu", "elu", "gelu", "selu", "relu6", "silu", "prelu"}
SATURATING = {"sigmoid", "tanh", "softmax"}

_ACTIVATION_FIGURES = 3  # mean, std, dead or saturated fraction


@dataclass
class InstrumentedLayer:
    """A module whose weight gets gradient statistics, and the activation applied to its output."""

    name: str
    module: nn.Module
    weight: torch.nn.Parameter
    activation: Optional[str] = None


@dataclass
class ActivationTap:
    """Where a layer's activation output is seen: a module's forward output, or (for a functional
    activation in `forward`, `torch.sigmoid(self.conv1(x))`) the output of `source` passed
    through `apply`, which recomputes the same function on the sampled examples only."""

    layer: str
    kind: str
    source: nn.Module
    apply: Optional[ActivationFunction] = None


def activation_kind_of(module: nn.Module) -> Optional[str]:
    """The activation kind of an activation module, None for every other module."""
    kinds = {
        nn.ReLU: "relu", nn.ReLU6: "relu", nn.LeakyReLU: "leaky_relu", nn.ELU: "elu", nn.GELU: "gelu",
        nn.SELU: "selu", nn.PReLU: "leaky_relu", nn.SiLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh",
        nn.Softmax: "softmax", nn.Hardtanh: "tanh", nn.Hardsigmoid: "sigmoid",
    }
    for cls, kind in kinds.items():
        if type(module) is cls:
            return kind
    return None


def stats_kind(kind: Optional[str]) -> Optional[str]:
    """What the statistics measure for an activation kind: dead units, saturated tails, or neither."""
    if kind in RELU_FAMILY:
        return "relu"
    if kind in SATURATING:
        return kind
    return None


def weight_of(module: nn.Module) -> Optional[torch.nn.Parameter]:
    """The module's own kernel (or BatchNorm's gamma): the parameter the gradient figures describe."""
    weight = module._parameters.get("weight") if hasattr(module, "_parameters") else None
    if isinstance(weight, torch.nn.Parameter) and weight.requires_grad:
        return weight
    return None


@dataclass
class StepRecorder:
    """Collects one step's per-layer figures as tensors and reads them back with one sync."""

    layers: Sequence[InstrumentedLayer]
    taps: Sequence[ActivationTap] = ()
    # Every `activation_every` steps the forward hooks record; on other steps they return at once.
    activation_every: int = 1
    _pending: List[torch.Tensor] = field(default_factory=list)
    _before: List[torch.Tensor] = field(default_factory=list)
    _activations: Dict[str, List[torch.Tensor]] = field(default_factory=dict)
    _handles: List[torch.utils.hooks.RemovableHandle] = field(default_factory=list)
    _record_activations: bool = True

    def attach(self) -> "StepRecorder":
        for tap in self.taps:
            self._handles.append(tap.source.register_forward_hook(self._hook_for(tap)))
        return self

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def start_step(self, step: int) -> None:
        """Before the forward pass: whether this step's activations are recorded."""
        self._record_activations = step % max(1, self.activation_every) == 0
        self._activations = {}

    def _hook_for(self, tap: ActivationTap) -> Callable[..., None]:
        measured = stats_kind(tap.kind)

        def hook(_module: nn.Module, _inputs: Tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            if not self._record_activations or not isinstance(output, torch.Tensor) or output.dim() == 0:
                return
            with torch.no_grad():
                # Read now: an inplace activation after this module would change `output` later.
                self._activations[tap.layer] = activation_figures(output.detach(), measured, tap.apply)

        return hook

    def before_update(self) -> None:
        """After backward, before the optimizer step: gradient figures and the weights as they were.

        Every layer's figures come from one concatenation, a few elementwise passes over it and
        one reduction per layer on contiguous slices (`torch.split` views). Per-layer reductions
        straight on each gradient cost seven small kernels a layer; segment reductions by index
        (index_add / scatter_reduce) took 0.2 ms each on 60k values on one CPU thread, ten times
        a sum over the slices, and made LeNet's instrumented step 1.35× the plain one.
        """
        if not self.layers:
            return
        with torch.no_grad():
            weights = [layer.weight.detach() for layer in self.layers]
            grads = [layer.weight.grad.detach() if layer.weight.grad is not None else torch.zeros_like(w) for layer, w in zip(self.layers, weights)]
            g = torch.cat([grad.reshape(-1) for grad in grads]).float()
            sizes = [w.numel() for w in weights]
            magnitude = g.abs()
            self._pending = [torch.stack([
                _slice_sums(g * g, sizes),
                _slice_sums(magnitude, sizes),
                torch.stack([part.max() if part.numel() else torch.zeros((), device=g.device) for part in torch.split(magnitude, sizes)]),
                _slice_sums(g == 0, sizes),
                _slice_sums(~torch.isfinite(g), sizes),
            ]).reshape(-1)]
            # The concatenation is the copy of the weights as they were: no clone per layer.
            self._before = [torch.cat([w.reshape(-1) for w in weights]).float()]

    def after_update(self, step: int, loss: torch.Tensor, accuracy: Optional[torch.Tensor] = None,
                     reduce: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> StepStats:
        """After the optimizer step: update ratios, then every figure of the step in one read-back.

        `reduce` (watch() under torch.distributed) combines the concatenated float64 figures across
        ranks (one all-reduce) before that read-back; it must return a tensor of the same layout."""
        with torch.no_grad():
            parts: List[torch.Tensor] = [loss.detach().reshape(1).float(), (accuracy if accuracy is not None else torch.zeros(())).detach().reshape(1).float()]
            if self.layers:
                before = self._before[0]
                after = torch.cat([layer.weight.detach().reshape(-1) for layer in self.layers]).float()
                sizes = [layer.weight.numel() for layer in self.layers]
                delta = after - before
                parts.append(self._pending[0].to(before.device))
                parts.append(torch.stack([_slice_sums(before * before, sizes), _slice_sums(delta * delta, sizes)]).reshape(-1))
            activation_layers = [layer.name for layer in self.layers if layer.name in self._activations]
            for name in activation_layers:
                parts.append(self._activations[name])
            device = parts[0].device
            combined = torch.cat([p.to(device=device, dtype=torch.float64) for p in parts])
            if reduce is not None:
                combined = reduce(combined)
            figures = combined.tolist()  # the one host sync
        self._before = []
        self._pending = []
        return decode_figures(step, figures, [layer.name for layer in self.layers],
                              [layer.weight.numel() for layer in self.layers], activation_layers,
                              {tap.layer: stats_kind(tap.kind) for tap in self.taps}, accuracy is not None)


def _slice_sums(values: torch.Tensor, sizes: List[int]) -> torch.Tensor:
    """Each layer's sum over its slice of the concatenated values (float32)."""
    return torch.stack([part.sum().float() for part in torch.split(values, sizes)])


def activation_figures(output: torch.Tensor, measured: Optional[str], apply: Optional[ActivationFunction]) -> torch.Tensor:
    """[mean, std, dead or saturated fraction (NaN when neither)] of one activation output."""
    sample = output[:ACTIVATION_SAMPLE_EXAMPLES] if output.dim() > 0 else output
    whole = output
    if apply is not None:
        sample = apply(sample)
        whole = apply(output) if measured == "relu" else sample
    sample = sample.float()
    mean = sample.mean()
    std = (sample.pow(2).mean() - mean * mean).clamp_min(0).sqrt()
    if measured == "relu":
        # Channels are axis 1 in PyTorch (NCHW, or [N, features]); a channel is dead if never positive over the batch.
        # amax over every axis but the channels: no transposed copy of the activation.
        maxima = whole.amax(dim=[0] + list(range(2, whole.dim()))) if whole.dim() > 1 else whole.amax().reshape(1)
        # `maxima > 0` is False for NaN too: a NaN channel counts as dead, as on the TF.js side.
        fraction = (~(maxima > 0)).float().mean()
    elif measured in ("sigmoid", "softmax"):
        fraction = ((sample > 0.99) | (sample < 0.01)).float().mean()
    elif measured == "tanh":
        fraction = ((sample > 0.99) | (sample < -0.99)).float().mean()
    else:
        fraction = torch.tensor(float("nan"), device=sample.device)
    return torch.stack([mean, std, fraction.to(mean.device)]).double()


def decode_figures(step: int, figures: List[float], layer_names: List[str], sizes: List[int], activation_layers: List[str],
                   measured: Dict[str, Optional[str]], has_accuracy: bool) -> StepStats:
    """Turns the one read-back list into StepStats: loss, accuracy, then per-layer rows of
    [Σg², Σ|g|, max|g|, zeros, non-finite, ‖W‖², ‖ΔW‖²] (each row one value per layer), then
    [mean, std, fraction] per recorded activation."""
    loss, accuracy = figures[0], figures[1]
    count = len(layer_names)
    rows = [figures[2 + row * count:2 + (row + 1) * count] for row in range(7)] if count else [[] for _ in range(7)]
    per_layer: Dict[str, LayerStepStats] = {}
    for index, name in enumerate(layer_names):
        n = float(sizes[index])
        squares, sum_abs, max_abs, zeros, non_finite, weight_squares, update_squares = (row[index] for row in rows)
        l2 = math.sqrt(squares) if squares >= 0 else float("nan")
        weight_l2 = math.sqrt(weight_squares) if weight_squares >= 0 else float("nan")
        per_layer[name] = {
            "layer": name,
            "gradL2": l2,
            "gradRms": l2 / math.sqrt(n) if n > 0 else 0.0,
            "gradMeanAbs": sum_abs / n if n > 0 else 0.0,
            "gradMaxAbs": max_abs,
            "gradZeroFraction": zeros / n if n > 0 else 0.0,
            "gradNonFinite": non_finite,
            "weightL2": weight_l2,
            "updateRatio": math.sqrt(update_squares) / weight_l2 if weight_l2 > 0 else 0.0,
        }
    position = 2 + 7 * count
    for name in activation_layers:
        mean, std, fraction = figures[position:position + _ACTIVATION_FIGURES]
        position += _ACTIVATION_FIGURES
        entry = per_layer[name]
        entry["activationMean"] = mean
        entry["activationStd"] = std
        kind = measured.get(name)
        if kind == "relu":
            entry["deadFraction"] = fraction
        elif kind in ("sigmoid", "tanh", "softmax"):
            entry["saturatedFraction"] = fraction
    stats: StepStats = {"step": step, "loss": loss, "layers": [per_layer[name] for name in layer_names]}
    if has_accuracy:
        stats["accuracy"] = accuracy
    return stats
