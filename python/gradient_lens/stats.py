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
    # Every `activation_every` steps the forward hooks record; on other steps no hook is installed.
    activation_every: int = 1
    _before: List[torch.Tensor] = field(default_factory=list)  # the owned layers' weights as they were before this step's update
    _buffers: List[torch.Tensor] = field(default_factory=list)  # kept from step to step: where the weights are copied (see before_update)
    _pending: List[List[torch.Tensor]] = field(default_factory=list)  # this step's gradient and weight rows, 0-d tensors (before_update)
    _owned: Optional[List[int]] = None  # the layers whose gradient and weight figures this rank computes (None: all)
    _activations: Dict[str, "ActivationFigures"] = field(default_factory=dict)
    _handles: List[torch.utils.hooks.RemovableHandle] = field(default_factory=list)
    _attached: bool = False
    _record_activations: bool = True

    def __post_init__(self) -> None:
        self._weights = [layer.weight for layer in self.layers]
        self._sizes = [weight.numel() for weight in self._weights]

    def share_with_ranks(self, rank: int, world: int) -> None:
        """Under torch.distributed the gradients and weights are the same on every rank after DDP's
        all-reduce, so each rank computes the figures of its share of the layers only, and the
        step's one all-reduce (which sums) fills in the rest: adding the other ranks' zeros is
        exact. Shares are balanced by size, largest layer first, the same on every rank."""
        loads = [0] * world
        shares: List[List[int]] = [[] for _ in range(world)]
        for index in sorted(range(len(self._sizes)), key=lambda i: (-self._sizes[i], i)):
            least = min(range(world), key=lambda r: (loads[r], r))
            shares[least].append(index)
            loads[least] += self._sizes[index]
        self._owned = sorted(shares[rank])

    def _owned_indices(self) -> List[int]:
        return self._owned if self._owned is not None else list(range(len(self._weights)))

    def _by_layer(self, values: List[torch.Tensor], zero: Optional[torch.Tensor]) -> List[torch.Tensor]:
        """One value per layer from this rank's values (its share's, in order): 0 for another rank's
        layers, so that every rank's vector has one length (a rank may own none)."""
        if self._owned is None or zero is None:
            return values
        spread = [zero] * len(self._sizes)
        for index, value in zip(self._owned, values):
            spread[index] = value
        return spread

    def attach(self) -> "StepRecorder":
        self._attached = True
        if self._record_activations:
            self._install_hooks()
        return self

    def detach(self) -> None:
        self._attached = False
        self._remove_hooks()

    def _install_hooks(self) -> None:
        if not self._handles:
            self._handles = [tap.source.register_forward_hook(self._hook_for(tap)) for tap in self.taps]

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def start_step(self, step: int) -> None:
        """Before the forward pass: whether this step's activations are recorded. The hooks are
        installed for recorded steps only: a module with a forward hook takes torch's slower call
        path, and a hook that returns at once still costs a Python call per layer per step."""
        self._record_activations = step % max(1, self.activation_every) == 0
        self._activations = {}
        if self._attached:
            if self._record_activations:
                self._install_hooks()
            elif self._handles:
                self._remove_hooks()

    def _hook_for(self, tap: ActivationTap) -> Callable[..., None]:
        measured = stats_kind(tap.kind)
        apply = tap.apply
        layer = tap.layer
        recorder = self

        def hook(_module: nn.Module, _inputs: Tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            if not recorder._record_activations or not isinstance(output, torch.Tensor) or output.dim() == 0:
                return
            # Measured now, while the module's output is still in cache: after the backward pass it
            # is not (on LeNet-5 the same figures took 3× as long read back then), and an inplace
            # operation after this module (ReLU(inplace=True), `x += residual`) would change it.
            with torch.no_grad():
                recorder._activations[layer] = measure_activation(output, measured, apply)

        return hook

    def before_update(self) -> None:
        """After backward, before the optimizer step: gradient figures and the weights as they were.

        On the small nets a short run trains, what this costs is torch calls, not arithmetic: after
        the backward pass each call finds torch's code and data out of cache and takes 4–15 µs
        (argmax of 32×10 scores: 17 µs), against 1–3 µs in a loop of the same call — and LeNet-5's
        whole gradient is 60k values. So the figures come from a fixed number of calls whatever the
        layer count: ‖g‖ and ‖W‖ in one `_foreach_norm`, Σ|g| (ord 1) and the non-zero count (ord 0)
        in one each (not vectorised: 0.6–1 ns a value, which only matters far beyond these nets),
        max|g| by `largest_magnitudes`. The gradients are only read, where they are; the weights as
        they were (ΔW needs them) are copied into buffers kept from step to step (a fresh copy each
        step took twice as long). Non-finite values need no pass of their own: a layer has one exactly
        where its Σ|g| is not finite, and only then are they counted (see `after_update`). Under
        torch.distributed only this rank's share of the layers (share_with_ranks).

        Tried and not kept (scripts/torch/bench_trainer.py, 2026-12-04): these figures computed on a
        second thread during the next step. The loop's thread then did nothing extra, yet its
        backward ran 2 ms slower on the 10-conv sigmoid net beside the figure thread's passes over
        memory (1.20–1.24× a plain step instead of 1.05–1.11×), for 20–40 % more CPU in all.
        """
        if not self.layers:
            return
        weights = [self._weights[i] for i in self._owned_indices()]
        with torch.no_grad():
            grads = self._owned_gradients()
            before = self._copy_weights(weights)
            mine = len(weights)
            norms = list(torch._foreach_norm(grads + before, 2))
            sums = list(torch._foreach_norm(grads, 1))
            non_zero = list(torch._foreach_norm(grads, 0))
            lows, highs = largest_magnitudes(grads)
            # decode_figures' rows but the last: ‖g‖, Σ|g|, min g, max g, non-zero count, ‖W‖ (‖ΔW‖ follows in after_update).
            self._pending = [norms[:mine], sums, lows, highs, non_zero, norms[mine:]]
            self._before = before

    def _owned_gradients(self) -> List[torch.Tensor]:
        """This rank's layers' `p.grad` (zeros for a layer that got none)."""
        weights = [self._weights[i] for i in self._owned_indices()]
        return [w.grad if w.grad is not None else torch.zeros_like(w) for w in weights]

    def _copy_weights(self, weights: List[torch.nn.Parameter]) -> List[torch.Tensor]:
        """The weights' values now, in float32 buffers that the next step reuses."""
        buffers = self._buffers
        if len(buffers) != len(weights) or any(b.shape != w.shape or b.device != w.device for b, w in zip(buffers, weights)):
            buffers = self._buffers = [torch.empty(w.shape, dtype=torch.float32, device=w.device) for w in weights]
        copy_into(buffers, [w.detach() for w in weights])
        return buffers

    def after_update(self, step: int, loss: torch.Tensor, accuracy: Optional[torch.Tensor] = None,
                     reduce: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> StepStats:
        """After the optimizer step: every figure of the step, then one read-back (a second one only
        in a step whose gradients hold inf or NaN, to count them).

        `reduce` (watch() under torch.distributed) sums a 1-D float64 tensor over the ranks — one
        all-reduce, which every rank must call — and returns the sum. The figures then describe the
        whole world's step: the loss and accuracy are the ranks' mean, activation figures those of
        every rank's sample pooled, a channel is dead only where it is dead on every rank, and the
        gradient and weight figures (equal on every rank after DDP's all-reduce) each come from the
        rank that computed them."""
        with torch.no_grad():
            # Inside no_grad nothing needs a detach; every call skipped here is 4–15 µs (before_update).
            loss = loss.reshape(()) if loss.dim() else loss
            if loss.dtype not in (torch.float32, torch.float64):
                loss = loss.float()
            device = loss.device
            if accuracy is None:
                accuracy_value = torch.zeros((), device=device)
            else:
                accuracy_value = accuracy.reshape(()) if accuracy.dim() else accuracy
                accuracy_value = accuracy_value if accuracy_value.device == device else accuracy_value.to(device)
            head = [loss, accuracy_value]
            sizes = self._sizes
            count = len(sizes)
            owned = self._owned_indices()
            before, self._before = self._before, []
            pending, self._pending = self._pending, []
            deltas: List[torch.Tensor] = []
            if owned and before:
                # In place, into the buffers: W before − W after, whose norm is ‖ΔW‖.
                deltas = subtract_in_place(before, [self._weights[i].detach() for i in owned])
            norms = list(torch._foreach_norm(deltas, 2)) if deltas else []
            rows: List[torch.Tensor] = []
            if pending or self._owned is not None:
                zero = torch.zeros((), device=device) if self._owned is not None else None
                for row in (pending or [[] for _ in range(PER_LAYER_ROWS - 1)]) + [norms]:
                    rows += self._by_layer(row, zero)
            activation_layers = [layer.name for layer in self.layers if layer.name in self._activations]
            measured = [self._activations[name] for name in activation_layers]
            beyond = [m.saturated for m in measured if m.saturated is not None]
            # Their non-zero values are the saturated ones: one count for every layer.
            saturated_counts = list(torch._foreach_norm(beyond, 0)) if beyond else []
            floats = head + rows + [m.total for m in measured] + [m.norm for m in measured] + saturated_counts
            maxima = [m.channel_maxima for m in measured if m.channel_maxima is not None]
            vector = torch.cat([torch.stack(floats)] + maxima) if maxima else torch.stack(floats)
            if reduce is None:
                figures = vector.tolist()  # the one host sync
                layouts = [m.layout() for m in measured]
            else:
                figures, pooled = self._reduced(vector, measured, count, reduce, self._owned is not None)
                layouts = [(kind, values, channels) for (kind, _, channels), values in zip((m.layout() for m in measured), pooled)]
            counts = self._count_non_finite(figures, reduce if self._owned is not None else None)
        self._activations = {}
        return decode_figures(step, figures, [layer.name for layer in self.layers], sizes, activation_layers,
                              layouts, accuracy is not None, counts)

    @staticmethod
    def _reduced(vector: torch.Tensor, measured: Sequence["ActivationFigures"], count: int,
                 reduce: Callable[[torch.Tensor], torch.Tensor], shared_layers: bool = False) -> Tuple[List[float], List[int]]:
        """The step's figures (laid out as `decode_figures` reads them) summed over the ranks by
        `reduce`: Σa and the saturated counts add up as they are, ‖a‖ is sent squared, each ReLU
        channel's maximum as a 0/1 dead flag (after the sum a channel is dead only where it is dead
        on every rank), and every sample's value count goes with them (ranks may have unequal batches):
        the pooled counts are returned with the figures."""
        recorded = len(measured)
        norms_at = 2 + PER_LAYER_ROWS * count + recorded
        maxima_at = vector.numel() - sum(m.channel_maxima.numel() for m in measured if m.channel_maxima is not None)
        figures64 = vector.to(torch.float64)
        device = vector.device
        local = torch.cat([
            figures64[:norms_at],
            figures64[norms_at:norms_at + recorded].pow(2),
            figures64[norms_at + recorded:maxima_at],
            torch.ones(1, dtype=torch.float64, device=device),
            torch.tensor([float(m.count) for m in measured], dtype=torch.float64, device=device),
            (~(figures64[maxima_at:] > 0)).double(),
        ])
        summed = reduce(local).tolist()  # the one host sync
        world = summed[maxima_at]
        values = summed[maxima_at + 1:maxima_at + 1 + recorded]
        dead_flags = summed[maxima_at + 1 + recorded:]
        rows_end = 2 + PER_LAYER_ROWS * count
        # Loss and accuracy are the ranks' mean; each layer's figures came from one rank (shared_layers) or, equal, from all.
        per_rank = (lambda part: part) if shared_layers else (lambda part: [value / world for value in part])
        figures = ([value / world for value in summed[:2]] + per_rank(summed[2:rows_end]) + summed[rows_end:norms_at]
                   + [math.sqrt(max(0.0, square)) for square in summed[norms_at:norms_at + recorded]]
                   + summed[norms_at + recorded:maxima_at]
                   # Back to the maxima's meaning for decode_figures: positive where the channel lives on some rank.
                   + [0.0 if flag >= world - 0.5 else 1.0 for flag in dead_flags])
        return figures, [int(round(value)) for value in values]

    def _count_non_finite(self, figures: List[float],
                          reduce: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> Optional[List[Tuple[float, float]]]:
        """(non-finite, non-zero) counts per layer, read back only when some layer's Σ|g| is not finite
        (its sign-sum non-zero count is NaN then); None in every ordinary step. The gradients (this
        rank's layers') are read after the optimizer step: torch's optimizers leave `p.grad` as it
        was (weight decay and `maximize` work on copies). With `reduce` (layers shared between ranks) the
        other ranks' counts are summed in — every rank takes this branch, the figures being the same
        on all after the step's sum."""
        count = len(self._sizes)
        if count == 0 or all(math.isfinite(value) for value in figures[2 + count:2 + 2 * count]):
            return None
        gradients = self._owned_gradients()
        if not gradients and reduce is None:
            return None
        # A rank that owns no layer counts zeros on the CPU: watch()'s reduce moves them to the model's device.
        zero = torch.zeros((), device=gradients[0].device if gradients else torch.device("cpu"))
        bad = self._by_layer([(~torch.isfinite(part)).sum().float() for part in gradients], zero)
        non_zero = self._by_layer([(part != 0).sum().float() for part in gradients], zero)
        vector = torch.stack(bad + non_zero).double()
        values = (reduce(vector) if reduce is not None else vector).tolist()
        return list(zip(values[:count], values[count:]))


# Up to this many values a layer's max|g| comes from one `_foreach_norm(ord=∞)` for all such layers
# (2.8 ns a value, not vectorised), above it from its own `aminmax` (0.2 ns a value, one call each).
_MAX_NORM_UP_TO = 2048


def largest_magnitudes(grads: List[torch.Tensor]) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
    """Per gradient the two figures decode_figures takes max(−low, high) of: min and max from
    `aminmax` for a large one; for the small ones, in one call, max|g| as both (max(−m, m) = m for
    m ≥ 0, and NaN stays NaN)."""
    lows: List[torch.Tensor] = list(grads)
    highs: List[torch.Tensor] = list(grads)
    small = [i for i, part in enumerate(grads) if 0 < part.numel() <= _MAX_NORM_UP_TO]
    if small:
        for i, value in zip(small, torch._foreach_norm([grads[i] for i in small], float("inf"))):
            lows[i] = highs[i] = value
    for i, part in enumerate(grads):
        if part.numel() == 0:
            lows[i] = highs[i] = part.sum()
        elif part.numel() > _MAX_NORM_UP_TO:
            lows[i], highs[i] = torch.aminmax(part)
    return lows, highs


def copy_into(buffers: List[torch.Tensor], tensors: List[torch.Tensor]) -> None:
    """Copies each tensor into its buffer (float32, exact from float32 and narrower types), in as
    few calls as the torch version allows."""
    if all(t.dtype == torch.float32 for t in tensors):
        foreach_copy = getattr(torch, "_foreach_copy_", None)  # torch ≥ 2.1
        if foreach_copy is not None:
            foreach_copy(buffers, tensors)
            return
        if len(tensors) > 2:
            torch._foreach_zero_(buffers)
            torch._foreach_add_(buffers, tensors)
            return
    for buffer, tensor in zip(buffers, tensors):
        buffer.copy_(tensor)


def subtract_in_place(buffers: List[torch.Tensor], tensors: List[torch.Tensor]) -> List[torch.Tensor]:
    """buffers −= tensors, in one call where every tensor is float32; returns the buffers."""
    if all(t.dtype == torch.float32 for t in tensors):
        torch._foreach_sub_(buffers, tensors)
    else:
        for buffer, tensor in zip(buffers, tensors):
            buffer.sub_(tensor.float())
    return buffers


def channel_maxima(output: torch.Tensor) -> torch.Tensor:
    """Each channel's maximum over the whole batch (channels are axis 1 in PyTorch: NCHW, or [N,
    features]); a channel is dead if never positive. For the ReLU family an output is positive exactly where its input is, so a
    functional activation needs no pass over the whole batch."""
    if output.dtype not in (torch.float32, torch.float64):
        output = output.float()
    if output.dim() > 2:
        # Over the batch first, then within each channel: torch's one amax over axes 0, 2, 3 took 5× as long on [32, 16, 11, 11].
        return output.amax(dim=0).amax(dim=list(range(1, output.dim() - 1)))
    return output.amax(dim=0) if output.dim() == 2 else output.amax().reshape(1)


@dataclass
class ActivationFigures:
    """One layer's activation figures of a step, as 0-d tensors read back with the step's others."""

    kind: Optional[str]  # what is measured: "relu", "sigmoid", "tanh", "softmax" or None
    count: int  # values in the sample (the first examples of the batch, activated)
    total: torch.Tensor  # Σa
    norm: torch.Tensor  # ‖a‖ (torch.dot for Σa² takes 3× as long with Debian's BLAS)
    # Saturating kinds: the sample shifted by the band's centre with every value inside the band set to 0 (F.hardshrink).
    saturated: Optional[torch.Tensor] = None
    # relu: each channel's maximum over the whole batch, read back as it is (decode_figures counts the dead channels).
    channel_maxima: Optional[torch.Tensor] = None

    def layout(self) -> Tuple[Optional[str], int, int]:
        return self.kind, self.count, self.channel_maxima.numel() if self.channel_maxima is not None else 0


def _tanh(values: torch.Tensor) -> torch.Tensor:
    # tanh x = 2σ(2x) − 1: on one CPU thread torch's tanh takes 1.4× (1.13) to 2× (2.13) as long as
    # this on a layer's sample; the figures agree to float32 rounding.
    return torch.sigmoid(values * 2.0).mul_(2.0).sub_(1.0)


# A saturated value lies beyond these from the centre of the activation's range (sigmoid and softmax:
# below 0.01 or above 0.99; tanh: beyond ±0.99).
SATURATION_BANDS = {"sigmoid": (0.5, 0.49), "softmax": (0.5, 0.49), "tanh": (0.0, 0.99)}
# A sample's saturated values are the non-zero ones of `hardshrink(a − centre, half)`: one call in the
# forward hook, and every layer's counted by one `_foreach_norm(ord=0)` after the step. A NaN stays
# NaN there and counts as saturated (the layer's mean and spread are NaN then too).
# Above this many values torch.tanh takes longer than 2σ(2x) − 1's four calls (below it, the calls).
_TANH_BY_SIGMOID_ABOVE = 8192


def measure_activation(output: torch.Tensor, measured: Optional[str], apply: Optional[ActivationFunction]) -> ActivationFigures:
    """A layer's activation figures from its tap's output: over the first examples, activated by
    `apply` where the activation is a function in `forward`; the dead channels over the whole batch."""
    values = output[:ACTIVATION_SAMPLE_EXAMPLES]
    if apply is torch.tanh and values.numel() > _TANH_BY_SIGMOID_ABOVE:
        values = _tanh(values)
    elif apply is not None:
        values = apply(values)
    if values.dtype != torch.float32:
        values = values.float()
    # Every figure reads the sample as it is shaped: a reshape would be one more call.
    figures = ActivationFigures(measured, values.numel(), values.sum(), torch.linalg.vector_norm(values))
    if measured == "relu":
        figures.channel_maxima = channel_maxima(output)
    elif measured in SATURATION_BANDS:
        centre, half = SATURATION_BANDS[measured]
        figures.saturated = nn.functional.hardshrink(values if centre == 0 else values - centre, half)
    return figures


# Figures per layer in the read-back: ‖g‖, Σ|g|, min g, max g, non-zero count, ‖W‖, ‖ΔW‖.
PER_LAYER_ROWS = 7


def decode_figures(step: int, figures: List[float], layer_names: List[str], sizes: List[int], activation_layers: List[str],
                   activation_layouts: List[Tuple[Optional[str], int, int]], has_accuracy: bool,
                   non_finite_counts: Optional[List[Tuple[float, float]]] = None) -> StepStats:
    """Turns the one read-back list into StepStats. Its layout: loss, accuracy; per-layer rows of
    [‖g‖, Σ|g|, min g, max g, non-zero count, ‖W‖, ‖ΔW‖] (each row one value per layer; min and max
    may both be max|g|, see largest_magnitudes); the recorded activations' Σa, then their ‖a‖, then
    for each saturating kind its saturated values' count; and each ReLU kind's channel maxima (a channel is dead where its maximum is not positive: NaN too, as on the TF.js side).
    `non_finite_counts` holds the (non-finite, non-zero) counts of a step whose gradients are not all finite."""
    loss, accuracy = figures[0], figures[1]
    count = len(layer_names)
    recorded = len(activation_layers)
    rows = [figures[2 + row * count:2 + (row + 1) * count] for row in range(PER_LAYER_ROWS)]
    position = 2 + PER_LAYER_ROWS * count
    totals, norms = figures[position:position + recorded], figures[position + recorded:position + 2 * recorded]
    position += 2 * recorded
    saturated_count = sum(1 for kind, _, _ in activation_layouts if kind in SATURATION_BANDS)
    saturated = iter(figures[position:position + saturated_count])
    position += saturated_count
    per_layer: Dict[str, LayerStepStats] = {}
    for index, name in enumerate(layer_names):
        n = float(sizes[index])
        l2, sum_abs, min_value, max_value, non_zeros, weight_l2, update_l2 = (row[index] for row in rows)
        # Python's max() would drop a NaN: the largest magnitude is NaN where either end is.
        max_abs = math.nan if math.isnan(min_value) or math.isnan(max_value) else max(-min_value, max_value)
        non_zeros = float(round(non_zeros)) if math.isfinite(non_zeros) else non_zeros
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
    for index, (name, (kind, values, channels)) in enumerate(zip(activation_layers, activation_layouts)):
        total, norm = totals[index], norms[index]
        mean = total / values if values else float("nan")
        entry = per_layer[name]
        entry["activationMean"] = mean
        entry["activationStd"] = math.sqrt(max(0.0, norm * norm / values - mean * mean)) if values else float("nan")
        if kind == "relu":
            maxima = figures[position:position + channels]
            position += channels
            entry["deadFraction"] = sum(1 for value in maxima if not value > 0) / channels if channels else float("nan")
        elif kind in SATURATION_BANDS:
            flagged = next(saturated)
            entry["saturatedFraction"] = (round(flagged) if math.isfinite(flagged) else flagged) / values if values else float("nan")
    stats: StepStats = {"step": step, "loss": loss, "layers": [per_layer[name] for name in layer_names]}
    if has_accuracy:
        stats["accuracy"] = accuracy
    return stats
