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
    _copies: List[torch.Tensor] = field(default_factory=list)  # this step's gradients, then the weights as they were
    _pending: List[List[torch.Tensor]] = field(default_factory=list)  # this step's gradient and weight rows, 0-d tensors (before_update)
    _owned: Optional[List[int]] = None  # the layers whose gradient and weight figures this rank computes (None: all)
    _activations: Dict[str, "ActivationSample"] = field(default_factory=dict)
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

    def _by_layer(self, values: List[torch.Tensor], zero: torch.Tensor) -> List[torch.Tensor]:
        """One value per layer from this rank's values (its share's, in order): 0 for another rank's
        layers, so that every rank's vector has one length (a rank may own none)."""
        if self._owned is None:
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
        relu = measured == "relu"
        apply = tap.apply
        layer = tap.layer
        recorder = self

        def hook(_module: nn.Module, _inputs: Tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            if not recorder._record_activations or not isinstance(output, torch.Tensor) or output.dim() == 0:
                return
            output = output.detach()
            # Kept now, reduced in after_update with every other layer's: an inplace operation after
            # this module (ReLU(inplace=True), `x += residual`) would change `output` later. What is
            # kept is the first examples as the module returned them: `apply` runs in after_update,
            # once for every layer that applies the same function.
            maxima = channel_maxima(output) if relu else None
            recorder._activations[layer] = ActivationSample(measured, output[:ACTIVATION_SAMPLE_EXAMPLES].clone(), maxima, apply)

        return hook

    def before_update(self) -> None:
        """After backward, before the optimizer step: gradient figures and the weights as they were.

        A step's cost is in the number of torch calls and in the passes over memory, not in the
        arithmetic (LeNet's whole gradient is 60k values): after backward the values are out of
        cache, and on a busy machine every call, a view included, costs 5–10 µs more than warm. So
        the gradients and weights are copied in one `_foreach_mul(…, 1)` (exact; an optimizer may
        change p.grad in place, and ΔW needs the weights as they were) into tensors shaped like the
        parameters, which no view, split or concatenation ever touches, and every figure is a
        reduction that only reads, in a fixed number of calls: ‖g‖ and ‖W‖ in one `_foreach_norm`,
        Σ|g| (ord 1) and the non-zero count (ord 0) in one each; max|g| = max(−min g, max g) from
        each layer's `aminmax`, the one call per layer (`_foreach_norm(ord=∞)` is not vectorised:
        3 ns a value). Non-finite values need no pass of their own: a layer has one exactly where
        its Σ|g| is not finite, and only then are they counted (see `after_update`). Under
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
            copies = exact_copies([w.grad if w.grad is not None else torch.zeros_like(w) for w in weights] + weights)
            mine = len(weights)
            grads = copies[:mine]
            norms = list(torch._foreach_norm(copies, 2))
            sums = list(torch._foreach_norm(grads, 1))
            non_zero = list(torch._foreach_norm(grads, 0))
            extremes = [torch.aminmax(part) if part.numel() else (part.sum(), part.sum()) for part in grads]
            # decode_figures' rows but the last: ‖g‖, Σ|g|, min g, max g, non-zero count, ‖W‖ (‖ΔW‖ follows in after_update).
            self._pending = [norms[:mine], sums, [low for low, _ in extremes], [high for _, high in extremes], non_zero, norms[mine:]]
            self._copies = copies

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
            loss = loss.detach().reshape(())
            device = loss.device
            head = [loss, accuracy.detach().reshape(()).to(device) if accuracy is not None else torch.zeros((), device=device)]
            sizes = self._sizes
            count = len(sizes)
            owned = self._owned_indices()
            mine = len(owned)
            copies, self._copies = self._copies, []
            pending, self._pending = self._pending, []
            gradients: List[torch.Tensor] = []
            deltas: List[torch.Tensor] = []
            if mine and copies:
                gradients, before = copies[:mine], copies[mine:]
                weights = [self._weights[i] for i in owned]
                if all(w.dtype == torch.float32 for w in weights):
                    deltas = list(torch._foreach_sub(weights, before))
                else:
                    deltas = [w.float() - was for w, was in zip(weights, before)]
            activation_layers = [layer.name for layer in self.layers if layer.name in self._activations]
            samples, groups = resolve_samples([self._activations[name] for name in activation_layers])
            activation_sums, activation_norm_inputs = activation_terms(samples, groups)
            inputs = deltas + activation_norm_inputs
            norms = list(torch._foreach_norm(inputs, 2)) if inputs else []
            rows: List[torch.Tensor] = []
            if pending or self._owned is not None:
                zero = torch.zeros((), device=device)
                for row in (pending or [[] for _ in range(PER_LAYER_ROWS - 1)]) + [norms[:len(deltas)]]:
                    rows += self._by_layer(row, zero)
            ordered = head + rows + activation_sums + norms[len(deltas):]
            vector = torch.stack([value if value.dtype == torch.float32 else value.float() for value in ordered])
            layouts = [sample.layout() for sample in samples]
            if reduce is None:
                figures = vector.tolist()  # the one host sync
            else:
                figures, layouts = self._reduced(vector, samples, 2 + PER_LAYER_ROWS * count, reduce, self._owned is not None)
            counts = self._count_non_finite(figures, gradients, reduce if self._owned is not None else None)
        self._activations = {}
        return decode_figures(step, figures, [layer.name for layer in self.layers], sizes, activation_layers,
                              layouts, accuracy is not None, counts)

    @staticmethod
    def _reduced(vector: torch.Tensor, samples: Sequence["ActivationSample"], per_layer_end: int,
                 reduce: Callable[[torch.Tensor], torch.Tensor], shared_layers: bool = False) -> Tuple[List[float], List[Tuple[Optional[str], int, int]]]:
        """The step's figures summed over the ranks by `reduce` and turned back into the layout
        `decode_figures` reads: norms are sent squared (sums add up; norms do not), every sample's
        value count goes with it (ranks may have unequal batches), and each ReLU channel's 0/1 dead
        flag, so that after the sum a channel counts as dead only when it is dead on every rank."""
        recorded = len(samples)
        dead_flags = [(~(sample.channel_maxima > 0)).double() for sample in samples if sample.kind == "relu" and sample.channel_maxima is not None]
        device = vector.device
        figures64 = vector.to(torch.float64)
        local = torch.cat([
            figures64[:per_layer_end + recorded],
            torch.ones(1, dtype=torch.float64, device=device),
            figures64[per_layer_end + recorded:].pow(2),
            torch.tensor([float(sample.values.numel()) for sample in samples], dtype=torch.float64, device=device),
            *[flags.to(device) for flags in dead_flags],
        ])
        activation_norm_count = vector.numel() - per_layer_end - recorded
        summed = reduce(local).tolist()  # the one host sync
        world = summed[per_layer_end + recorded]
        # Loss and accuracy are the ranks' mean; each layer's figures came from one rank (shared_layers) or, equal, from all.
        figures = ([value / world for value in summed[:2]]
                   + (summed[2:per_layer_end] if shared_layers else [value / world for value in summed[2:per_layer_end]])
                   + summed[per_layer_end:per_layer_end + recorded])
        position = per_layer_end + recorded + 1
        squares = summed[position:position + activation_norm_count]
        position += activation_norm_count
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

    def _count_non_finite(self, figures: List[float], gradients: List[torch.Tensor],
                          reduce: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> Optional[List[Tuple[float, float]]]:
        """(non-finite, non-zero) counts per layer, read back only when some layer's Σ|g| is not finite
        (its sign-sum non-zero count is NaN then); None in every ordinary step. `gradients` are this
        rank's layers'; with `reduce` (layers shared between ranks) the other ranks' counts are
        summed in — every rank takes this branch, the figures being the same on all after the step's sum."""
        count = len(self._sizes)
        if count == 0 or all(math.isfinite(value) for value in figures[2 + count:2 + 2 * count]):
            return None
        if not gradients and reduce is None:
            return None
        # A rank that owns no layer counts zeros on the CPU: watch()'s reduce moves them to the model's device.
        zero = torch.zeros((), device=gradients[0].device if gradients else torch.device("cpu"))
        bad = self._by_layer([(~torch.isfinite(part)).sum().float() for part in gradients], zero)
        non_zero = self._by_layer([(part != 0).sum().float() for part in gradients], zero)
        vector = torch.stack(bad + non_zero).double()
        values = (reduce(vector) if reduce is not None else vector).tolist()
        return list(zip(values[:count], values[count:]))


def exact_copies(tensors: List[torch.Tensor]) -> List[torch.Tensor]:
    """float32 copies of the tensors, in one call where they all are float32 already (×1 is exact,
    inf and NaN included)."""
    if all(t.dtype == torch.float32 for t in tensors):
        return list(torch._foreach_mul(tensors, 1.0))
    return [t.detach().to(torch.float32, copy=True) for t in tensors]


def flatten(tensors: List[torch.Tensor]) -> torch.Tensor:
    """The tensors' values one after the other as one float32 tensor, in one call where the dtypes agree."""
    if all(t.dtype == tensors[0].dtype for t in tensors):
        return torch._C._nn.flatten_dense_tensors(tensors).float()
    return torch.cat([t.reshape(-1).float() for t in tensors])


def channel_maxima(output: torch.Tensor) -> torch.Tensor:
    """Each channel's maximum over the whole batch (channels are axis 1 in PyTorch: NCHW, or [N,
    features]); a channel is dead if never positive. amax over every axis but the channels: no
    transposed copy. For the ReLU family an output is positive exactly where its input is, so a
    functional activation needs no pass over the whole batch."""
    if output.dim() > 2:
        return output.amax(dim=[0] + list(range(2, output.dim())))
    return output.amax(dim=0) if output.dim() == 2 else output.amax().reshape(1)


@dataclass
class ActivationSample:
    """What a forward hook keeps of one activation output until the step's read-back."""

    kind: Optional[str]  # what is measured: "relu", "sigmoid", "tanh", "softmax" or None
    values: torch.Tensor  # the first examples, activated and flattened (before `resolve_samples`: as the module returned them, with `apply` to run)
    channel_maxima: Optional[torch.Tensor] = None  # relu: each channel's maximum over the whole batch
    apply: Optional[ActivationFunction] = None

    def layout(self) -> Tuple[Optional[str], int, int]:
        return self.kind, self.values.numel(), self.channel_maxima.numel() if self.channel_maxima is not None else 0


def sample_activation(output: torch.Tensor, measured: Optional[str], apply: Optional[ActivationFunction]) -> ActivationSample:
    """One layer's sample as the recorder reads it, at once (the recorder's hook defers `apply`)."""
    sample = output[:ACTIVATION_SAMPLE_EXAMPLES]
    # A function makes a new tensor; the module's own output must be copied (see the hook).
    values = (apply(sample) if apply is not None else sample.clone()).reshape(-1)
    return ActivationSample(measured, values, channel_maxima(output) if measured == "relu" else None)


def _tanh(values: torch.Tensor) -> torch.Tensor:
    # tanh x = 2σ(2x) − 1: on one CPU thread torch's tanh takes 1.4× (1.13) to 2× (2.13) as long as
    # this on a layer's sample; the figures agree to float32 rounding.
    return torch.sigmoid(values * 2.0).mul_(2.0).sub_(1.0)


# Functions of one value: every layer's sample that one of these activates goes through it in one call.
ELEMENTWISE: Dict[Callable[..., torch.Tensor], Callable[[torch.Tensor], torch.Tensor]] = {
    torch.sigmoid: torch.sigmoid, torch.tanh: _tanh, torch.relu: torch.relu, nn.functional.leaky_relu: nn.functional.leaky_relu,
    nn.functional.elu: nn.functional.elu, nn.functional.gelu: nn.functional.gelu, nn.functional.selu: nn.functional.selu,
}


def resolve_samples(samples: List[ActivationSample]) -> Tuple[List[ActivationSample], Dict[Tuple[int, ...], torch.Tensor]]:
    """The samples with their `apply` run and their values flat: one call per elementwise function
    over every sample it activates, the others one by one; and those calls' flat results, by the
    sample indices they hold (activation_terms reuses one that holds exactly a kind's samples)."""
    resolved: List[ActivationSample] = list(samples)
    groups: Dict[Callable[..., torch.Tensor], List[int]] = {}
    for index, sample in enumerate(samples):
        if sample.apply is None:
            resolved[index] = ActivationSample(sample.kind, sample.values.reshape(-1), sample.channel_maxima)
        elif sample.apply in ELEMENTWISE:
            groups.setdefault(sample.apply, []).append(index)
        else:
            resolved[index] = ActivationSample(sample.kind, sample.apply(sample.values).reshape(-1), sample.channel_maxima)
    flats: Dict[Tuple[int, ...], torch.Tensor] = {}
    for function, indices in groups.items():
        inputs = [samples[i].values for i in indices]
        activated = ELEMENTWISE[function](flatten(inputs) if len(inputs) > 1 else inputs[0].reshape(-1).float())
        flats[tuple(indices)] = activated
        for i, part in zip(indices, activated.split([t.numel() for t in inputs])):
            resolved[i] = ActivationSample(samples[i].kind, part, samples[i].channel_maxima)
    return resolved, flats


# A saturated value lies beyond these from the centre of the activation's range (sigmoid and softmax:
# below 0.01 or above 0.99; tanh: beyond ±0.99).
SATURATION_BANDS = {"sigmoid": (0.5, 0.49), "softmax": (0.5, 0.49), "tanh": (0.0, 0.99)}
# Clamping the distance beyond the band to [0, 2⁻¹⁰⁰] and scaling by 2¹⁰⁰ gives exactly 0 or 1 per value
# (float32's spacing near the band, ~6e-8, is far above 2⁻¹⁰⁰): a count by arithmetic, which is
# vectorised on CPU, where a comparison to a bool tensor and its sum cost 3–4× as much.
_TINY = 2.0 ** -100


def activation_terms(samples: Sequence[ActivationSample], flats: Optional[Dict[Tuple[int, ...], torch.Tensor]] = None) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
    """Every sample's Σa (0-d tensors), and what the 2-norms are taken of, in the caller's one norm
    call: every sample's values, then for saturating and ReLU kinds in sample order a 0/1 flag per
    value or channel (the squared norm is the saturated or dead count). `flats` holds flat tensors
    that are exactly some samples' values one after the other (resolve_samples'), by their indices."""
    if not samples:
        return [], []
    flats = flats or {}
    slices = [sample.values if sample.values.dtype == torch.float32 else sample.values.float() for sample in samples]
    flags: List[Optional[torch.Tensor]] = [None] * len(samples)
    for kind, (centre, half) in SATURATION_BANDS.items():
        indices = [i for i, sample in enumerate(samples) if sample.kind == kind]
        if not indices:
            continue
        group = flats.get(tuple(indices))
        if group is None:
            group = torch.cat([slices[i] for i in indices]) if len(indices) > 1 else slices[indices[0]]
        beyond = (group.abs() if centre == 0 else (group - centre).abs_()).sub_(half).clamp_(0.0, _TINY).mul_(1.0 / _TINY)
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


# Figures per layer in the read-back: ‖g‖, Σ|g|, min g, max g, non-zero count, ‖W‖, ‖ΔW‖.
PER_LAYER_ROWS = 7


def decode_figures(step: int, figures: List[float], layer_names: List[str], sizes: List[int], activation_layers: List[str],
                   activation_layouts: List[Tuple[Optional[str], int, int]], has_accuracy: bool,
                   non_finite_counts: Optional[List[Tuple[float, float]]] = None) -> StepStats:
    """Turns the one read-back list into StepStats: loss, accuracy, then per-layer rows of
    [‖g‖, Σ|g|, min g, max g, non-zero count, ‖W‖, ‖ΔW‖] (each row one value per layer), then the
    recorded activations' Σa, their ‖a‖, and for saturating and ReLU kinds ‖flag‖ (its square is the
    saturated or dead count).
    `non_finite_counts` holds the (non-finite, non-zero) counts of a step whose gradients are not all finite."""
    loss, accuracy = figures[0], figures[1]
    count = len(layer_names)
    rows = [figures[2 + row * count:2 + (row + 1) * count] for row in range(PER_LAYER_ROWS)] if count else [[] for _ in range(PER_LAYER_ROWS)]
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
    position = 2 + PER_LAYER_ROWS * count
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
