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
    _pending: List[torch.Tensor] = field(default_factory=list)  # this step's gradient and weight figures, 0-d tensors
    _before: List[torch.Tensor] = field(default_factory=list)
    _activations: Dict[str, "ActivationSample"] = field(default_factory=dict)
    _handles: List[torch.utils.hooks.RemovableHandle] = field(default_factory=list)
    _record_activations: bool = True
    _gradients: Optional[torch.Tensor] = None

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
                # Kept now, reduced in after_update with every other layer's: an inplace operation after
                # this module (ReLU(inplace=True), `x += residual`) would change `output` later.
                self._activations[tap.layer] = sample_activation(output.detach(), measured, tap.apply)

        return hook

    def before_update(self) -> None:
        """After backward, before the optimizer step: gradient figures and the weights as they were.

        A step's cost here is in the number of kernels and in the few that are not vectorised on CPU,
        not in the values (LeNet's whole gradient is 60k values). Measured on one CPU thread, 61k
        values: `isfinite` 330 µs, a comparison to a bool tensor 40–60 µs and its conversion to
        float as much, ord-1/∞/0 norms 90–250 µs; but `abs`, `sqrt`, `sign` 6–8 µs, and the 2-norms
        of every slice 20 µs in one `_foreach_norm` call. So every sum is a squared 2-norm of an
        elementwise pass, and only the maximum costs one call per layer; non-finite values need no
        pass of their own: a layer has one exactly where its Σ|g| is not finite, and only then are
        they counted (see `after_update`). Seven reductions per layer and `isfinite` made LeNet's
        step 1.29× the plain one.
        """
        if not self.layers:
            return
        with torch.no_grad():
            weights = [layer.weight.detach() for layer in self.layers]
            grads = [layer.weight.grad.detach() if layer.weight.grad is not None else torch.zeros_like(w) for layer, w in zip(self.layers, weights)]
            sizes = [w.numel() for w in weights]
            # A copy of the gradients as they were (an optimizer may change p.grad in place).
            g = torch.cat([grad.reshape(-1) for grad in grads]).float()
            magnitude = g.abs()
            # The concatenation is the copy of the weights as they were: no clone per layer.
            before = torch.cat([w.reshape(-1) for w in weights]).float()
            # Σ|g| = ‖√|g|‖² and the non-zero count = ‖sign|g|‖²: with ‖g‖ and ‖W‖, every 2-norm in one call.
            norms = slice_norms(torch.split(g, sizes) + torch.split(magnitude.sqrt(), sizes)
                                + torch.split(torch.sign(magnitude), sizes) + torch.split(before, sizes), 2)
            count = len(sizes)
            maxima = [part.max() if part.numel() else part.sum() for part in torch.split(magnitude, sizes)]
            self._pending = norms[:2 * count] + maxima + norms[2 * count:]
            self._before = [before]
            self._gradients = g

    def after_update(self, step: int, loss: torch.Tensor, accuracy: Optional[torch.Tensor] = None,
                     reduce: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> StepStats:
        """After the optimizer step: update ratios, then every figure of the step in one read-back
        (a second one only in a step whose gradients hold inf or NaN, to count them).

        `reduce` (watch() under torch.distributed) sums a 1-D float64 tensor over the ranks — one
        all-reduce, which every rank must call — and returns the sum. The figures then describe the
        whole world's step: the loss and accuracy are the ranks' mean, activation figures those of
        every rank's sample pooled, a channel is dead only where it is dead on every rank, and the
        gradient and weight figures (equal on every rank after DDP's all-reduce) stay as they are."""
        with torch.no_grad():
            loss = loss.detach().float().reshape(())
            figures_of_step: List[torch.Tensor] = [loss, accuracy.detach().float().reshape(()) if accuracy is not None else torch.zeros((), device=loss.device)]
            sizes = [layer.weight.numel() for layer in self.layers]
            norm_inputs: List[torch.Tensor] = []
            if self.layers:
                delta = torch.cat([layer.weight.detach().reshape(-1) for layer in self.layers]).float().sub_(self._before[0])
                figures_of_step += self._pending
                norm_inputs += torch.split(delta, sizes)
            activation_layers = [layer.name for layer in self.layers if layer.name in self._activations]
            samples = [self._activations[name] for name in activation_layers]
            sums, activation_norm_inputs = activation_terms(samples)
            norms = slice_norms(norm_inputs + activation_norm_inputs, 2) if norm_inputs or activation_norm_inputs else []
            figures_of_step += norms[:len(norm_inputs)] + sums + norms[len(norm_inputs):]
            layouts = [sample.layout() for sample in samples]
            if reduce is None:
                figures = torch.stack([figure.to(loss.device) for figure in figures_of_step]).tolist()  # the one host sync
            else:
                figures, layouts = self._reduced(figures_of_step, samples, 2 + 6 * len(sizes), reduce)
            counts = self._count_non_finite(figures, sizes)
        self._before = []
        self._pending = []
        self._gradients = None
        return decode_figures(step, figures, [layer.name for layer in self.layers], sizes, activation_layers,
                              layouts, accuracy is not None, counts)

    @staticmethod
    def _reduced(figures_of_step: List[torch.Tensor], samples: Sequence["ActivationSample"], per_layer_end: int,
                 reduce: Callable[[torch.Tensor], torch.Tensor]) -> Tuple[List[float], List[Tuple[Optional[str], int, int]]]:
        """The step's figures summed over the ranks by `reduce` and turned back into the layout
        `decode_figures` reads: norms are sent squared (sums add up; norms do not), every sample's
        value count goes with it (ranks may have unequal batches), and each ReLU channel's 0/1 dead
        flag, so that after the sum a channel counts as dead only when it is dead on every rank."""
        recorded = len(samples)
        activation_norms = figures_of_step[per_layer_end + recorded:]
        dead_flags = [(~(sample.channel_maxima > 0)).double() for sample in samples if sample.kind == "relu" and sample.channel_maxima is not None]
        device = figures_of_step[0].device
        local = torch.cat([
            torch.stack([figure.to(device=device, dtype=torch.float64) for figure in figures_of_step[:per_layer_end + recorded]]
                        + [torch.ones((), dtype=torch.float64, device=device)]),
            torch.stack([norm.to(device=device, dtype=torch.float64) for norm in activation_norms]).pow(2) if activation_norms else torch.zeros(0, dtype=torch.float64, device=device),
            torch.tensor([float(sample.values.numel()) for sample in samples], dtype=torch.float64, device=device),
            *[flags.to(device) for flags in dead_flags],
        ])
        summed = reduce(local).tolist()  # the one host sync
        world = summed[per_layer_end + recorded]
        figures = [value / world for value in summed[:per_layer_end]] + summed[per_layer_end:per_layer_end + recorded]
        position = per_layer_end + recorded + 1
        squares = summed[position:position + len(activation_norms)]
        position += len(activation_norms)
        values = summed[position:position + recorded]
        position += recorded
        # The norms' layout: every sample's ‖a‖, then the saturated/dead flag norms in sample order.
        figures += [math.sqrt(max(0.0, square)) for square in squares[:recorded]]
        extras = squares[recorded:]
        layouts: List[Tuple[Optional[str], int, int]] = []
        extra_index = 0
        for index, sample in enumerate(samples):
            kind, _, channels = sample.layout()
            layouts.append((kind, int(round(values[index])), channels))
            if kind == "relu" and sample.channel_maxima is not None:
                flags = summed[position:position + channels]
                position += channels
                dead = sum(1 for flag in flags if flag >= world - 0.5)
                extras[extra_index] = float(dead)
                extra_index += 1
            elif kind in SATURATION_BANDS:
                extra_index += 1
        figures += [math.sqrt(max(0.0, count)) for count in extras]
        return figures, layouts

    def _count_non_finite(self, figures: List[float], sizes: List[int]) -> Optional[List[Tuple[float, float]]]:
        """(non-finite, non-zero) counts per layer, read back only when some layer's Σ|g| is not finite
        (its sign-sum non-zero count is NaN then); None in every ordinary step."""
        count = len(sizes)
        if self._gradients is None or all(math.isfinite(value) for value in figures[2 + count:2 + 2 * count]):
            return None
        parts = torch.split(self._gradients, sizes)
        bad = [(~torch.isfinite(part)).sum() for part in parts]
        non_zero = [(part != 0).sum() for part in parts]
        values = torch.stack(bad + non_zero).tolist()
        return list(zip(values[:count], values[count:]))


def slice_norms(slices: Sequence[torch.Tensor], order: float) -> List[torch.Tensor]:
    """The vector norm of each slice, in one call where torch has `_foreach_norm` (1.13 and 2.x do)."""
    if hasattr(torch, "_foreach_norm"):
        return list(torch._foreach_norm(list(slices), order))
    return [torch.linalg.vector_norm(part, order) for part in slices]  # pragma: no cover


@dataclass
class ActivationSample:
    """What a forward hook keeps of one activation output until the step's read-back."""

    kind: Optional[str]  # what is measured: "relu", "sigmoid", "tanh", "softmax" or None
    values: torch.Tensor  # the first examples, activated, flattened
    channel_maxima: Optional[torch.Tensor] = None  # relu: each channel's maximum over the whole batch

    def layout(self) -> Tuple[Optional[str], int, int]:
        return self.kind, self.values.numel(), self.channel_maxima.numel() if self.channel_maxima is not None else 0


def sample_activation(output: torch.Tensor, measured: Optional[str], apply: Optional[ActivationFunction]) -> ActivationSample:
    sample = output[:ACTIVATION_SAMPLE_EXAMPLES]
    # A function makes a new tensor; the module's own output must be copied (see the hook).
    values = (apply(sample) if apply is not None else sample.clone()).reshape(-1)
    maxima = None
    if measured == "relu":
        # Channels are axis 1 in PyTorch (NCHW, or [N, features]); a channel is dead if never positive over
        # the batch. amax over every axis but the channels: no transposed copy. For the ReLU family an output
        # is positive exactly where its input is, so a functional activation needs no pass over the whole batch.
        maxima = output.amax(dim=[0] + list(range(2, output.dim()))) if output.dim() > 1 else output.amax().reshape(1)
    return ActivationSample(measured, values, maxima)


# A saturated value lies beyond these from the centre of the activation's range (sigmoid and softmax:
# below 0.01 or above 0.99; tanh: beyond ±0.99).
SATURATION_BANDS = {"sigmoid": (0.5, 0.49), "softmax": (0.5, 0.49), "tanh": (0.0, 0.99)}
# Clamping the distance beyond the band to [0, 2⁻¹⁰⁰] and scaling by 2¹⁰⁰ gives exactly 0 or 1 per value
# (float32's spacing near the band, ~6e-8, is far above 2⁻¹⁰⁰): a count by arithmetic, which is
# vectorised on CPU, where a comparison to a bool tensor and its sum cost 3–4× as much.
_TINY = 2.0 ** -100


def activation_terms(samples: Sequence[ActivationSample]) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
    """Every sample's Σa (0-d tensors), and what the 2-norms are taken of, in the caller's one norm
    call: every sample's values, then for saturating and ReLU kinds in sample order a 0/1 flag per
    value or channel (the squared norm is the saturated or dead count)."""
    if not samples:
        return [], []
    slices = [sample.values.float() for sample in samples]
    flags: List[Optional[torch.Tensor]] = [None] * len(samples)
    for kind, (centre, half) in SATURATION_BANDS.items():
        indices = [i for i, sample in enumerate(samples) if sample.kind == kind]
        if not indices:
            continue
        group = torch.cat([slices[i] for i in indices]) if len(indices) > 1 else slices[indices[0]]
        beyond = (group - centre).abs_().sub_(half).clamp_(0.0, _TINY).mul_(1.0 / _TINY)
        for i, part in zip(indices, torch.split(beyond, [slices[i].numel() for i in indices])):
            flags[i] = part
    relu = [i for i, sample in enumerate(samples) if sample.kind == "relu" and sample.channel_maxima is not None]
    if relu:
        maxima = [samples[i].channel_maxima for i in relu]
        # `maxima > 0` is False for NaN too: a NaN channel counts as dead, as on the TF.js side.
        dead = (~(torch.cat(maxima) > 0)).float()  # type: ignore[arg-type]
        for i, part in zip(relu, torch.split(dead, [m.numel() for m in maxima])):  # type: ignore[union-attr]
            flags[i] = part
    return [part.sum() for part in slices], slices + [flag for flag in flags if flag is not None]


def decode_figures(step: int, figures: List[float], layer_names: List[str], sizes: List[int], activation_layers: List[str],
                   activation_layouts: List[Tuple[Optional[str], int, int]], has_accuracy: bool,
                   non_finite_counts: Optional[List[Tuple[float, float]]] = None) -> StepStats:
    """Turns the one read-back list into StepStats: loss, accuracy, then per-layer rows of
    [‖g‖, ‖√|g|‖, max|g|, ‖sign|g|‖, ‖W‖] (each row one value per layer), ‖ΔW‖ per layer, then the
    recorded activations' Σa, their ‖a‖, and for saturating and ReLU kinds ‖flag‖ (its square is the
    saturated or dead count).
    `non_finite_counts` holds the (non-finite, non-zero) counts of a step whose gradients are not all finite."""
    loss, accuracy = figures[0], figures[1]
    count = len(layer_names)
    rows = [figures[2 + row * count:2 + (row + 1) * count] for row in range(6)] if count else [[] for _ in range(6)]
    per_layer: Dict[str, LayerStepStats] = {}
    for index, name in enumerate(layer_names):
        n = float(sizes[index])
        l2, root_l2, max_abs, sign_l2, weight_l2, update_l2 = (row[index] for row in rows)
        sum_abs = root_l2 * root_l2
        non_zeros = float(round(sign_l2 * sign_l2)) if math.isfinite(sign_l2) else sign_l2
        non_finite = 0.0
        if non_finite_counts is not None:
            non_finite, non_zeros = non_finite_counts[index]
        per_layer[name] = {
            "layer": name,
            "gradL2": l2,
            "gradRms": l2 / math.sqrt(n) if n > 0 else 0.0,
            "gradMeanAbs": sum_abs / n if n > 0 else 0.0,
            "gradMaxAbs": max_abs,
            "gradZeroFraction": (n - non_zeros) / n if n > 0 else 0.0,
            "gradNonFinite": non_finite,
            "weightL2": weight_l2,
            "updateRatio": update_l2 / weight_l2 if weight_l2 > 0 else 0.0,
        }
    position = 2 + 6 * count
    recorded = len(activation_layers)
    extra = position + 2 * recorded
    for index, (name, (kind, values, channels)) in enumerate(zip(activation_layers, activation_layouts)):
        total, norm = figures[position + index], figures[position + recorded + index]
        mean = total / values if values else float("nan")
        entry = per_layer[name]
        entry["activationMean"] = mean
        entry["activationStd"] = math.sqrt(max(0.0, norm * norm / values - mean * mean)) if values else float("nan")
        if kind == "relu":
            entry["deadFraction"] = round(figures[extra] ** 2) / channels if channels else float("nan")
            extra += 1
        elif kind in SATURATION_BANDS:
            flagged = figures[extra] ** 2
            entry["saturatedFraction"] = (round(flagged) if math.isfinite(flagged) else flagged) / values if values else float("nan")
            extra += 1
    stats: StepStats = {"step": step, "loss": loss, "layers": [per_layer[name] for name in layer_names]}
    if has_accuracy:
        stats["accuracy"] = accuracy
    return stats
