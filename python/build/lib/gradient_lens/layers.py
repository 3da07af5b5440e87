"""The model's modules as the engine sees them (`TorchLayer`s), and where their activations are.

Shared by the short run and `watch()`: both need the layers located in the user's source and
the activation taps that feed the statistics.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .source_map import (PASS_THROUGH, ConstructionRecorder, SourceFile, Span, access_path, callee_name, forward_facts, iter_named)
from .stats import ActivationTap, InstrumentedLayer, activation_kind_of, weight_of

FUNCTIONS: Dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "leaky_relu": F.leaky_relu, "elu": F.elu,
    "gelu": F.gelu, "selu": F.selu, "softmax": lambda t: torch.softmax(t, dim=1),
}
CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
ARG_NAMES = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "in_features", "out_features", "num_features")


def is_weighted(module: nn.Module) -> bool:
    """A layer whose own weight gets statistics and whose output an activation follows (not BatchNorm & co)."""
    return weight_of(module) is not None and not isinstance(module, PASS_THROUGH)


def execution_order(model: nn.Module, example: torch.Tensor) -> Tuple[List[str], Dict[str, List[int]], torch.Tensor]:
    """Leaf modules in the order one forward pass runs them, their output shapes, and the output."""
    order: List[str] = []
    shapes: Dict[str, List[int]] = {}
    handles = []
    for name, module in iter_named(model):
        if next(module.children(), None) is not None:
            continue

        def hook(_m: nn.Module, _i: Any, output: Any, name: str = name) -> None:
            order.append(name)
            if isinstance(output, torch.Tensor) and name not in shapes:
                shapes[name] = list(output.shape[1:])

        handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            output = model(example)
    finally:
        for handle in handles:
            handle.remove()
    return order, shapes, output


class ModelMap:
    """Everything the engine is told about the modules, and the recorder's layers and taps."""

    def __init__(self, model: nn.Module, recorder: Optional[ConstructionRecorder], model_file: str,
                 order: List[str], shapes: Dict[str, List[int]]) -> None:
        self.model = model
        self.model_file = model_file
        self.modules: Dict[str, nn.Module] = dict(iter_named(model))
        self.recorder = recorder
        self.order = order
        self.shapes = shapes
        # weighted layer → (kind, file, span, source module of the tap, function to apply or None)
        self.activations: Dict[str, Tuple[str, Optional[str], Optional[Span], nn.Module, Optional[Callable[[torch.Tensor], torch.Tensor]]]] = {}
        self.calls: Dict[str, Tuple[str, List[Span]]] = {}
        self._functional_activations()
        self._module_activations()

    # ──── activations ────

    def _functional_activations(self) -> None:
        owners: List[Tuple[str, nn.Module]] = [("", self.model)] + [(n, m) for n, m in self.modules.items() if next(m.children(), None) is not None]
        for prefix, owner in owners:
            if isinstance(owner, CONTAINERS):
                continue
            weighted = {name for name, child in owner.named_modules() if name and not isinstance(child, PASS_THROUGH)
                        and any(p.requires_grad for p in child.parameters())}
            filename, facts = forward_facts(type(owner), weighted)
            if filename is None:
                continue
            for relative, spans in facts.calls.items():
                for qualified in self._resolve(prefix, relative, last_weighted=False):
                    self.calls.setdefault(qualified, (filename, []))[1].extend(spans)
            join = (lambda rest, prefix=prefix: f"{prefix}.{rest}" if prefix else rest)
            for relative, (kind, span) in facts.activations.items():
                through = facts.through.get(relative)
                through_module = self.modules.get(join(through)) if through and not through.endswith(".*") else None
                for called in self._resolve(prefix, relative, last_weighted=False):
                    found = self._resolve(called, "", last_weighted=True) if called in self.modules else []
                    for qualified in found:
                        if qualified in self.activations:
                            continue
                        # The activation reads the output of the module it was applied to: the BatchNorm (or
                        # pooling, dropout) the layer's output went through, the block or container called,
                        # else the layer. Never a BatchNorm that runs after the activation (conv → relu → bn).
                        if through_module is not None:
                            source = through_module
                        elif through is not None:
                            source = self._tap_source(qualified)
                        else:
                            source = self.modules[called]
                        self.activations[qualified] = (kind, filename, span, source, FUNCTIONS.get(kind))

    def _resolve(self, prefix: str, relative: str, last_weighted: bool) -> List[str]:
        """Qualified names for a path of forward's (`conv1`, `convs.*`); a container resolves to its last weighted leaf."""
        join = (lambda rest: (f"{prefix}.{rest}" if rest else prefix) if prefix else rest)
        if relative.endswith(".*"):
            container = self.modules.get(join(relative[:-2]))
            if container is None:
                return []
            names = [join(f"{relative[:-2]}.{child}") for child, _ in container.named_children()]
        else:
            names = [join(relative)]
        resolved: List[str] = []
        for name in names:
            module = self.modules.get(name)
            if module is None:
                continue
            if last_weighted and next(module.children(), None) is not None:
                leaves = [f"{name}.{n}" for n, m in module.named_modules() if n and next(m.children(), None) is None and is_weighted(m)]
                if leaves:
                    resolved.append(leaves[-1])
            else:
                resolved.append(name)
        return resolved

    def _tap_source(self, weighted: str) -> nn.Module:
        """The module whose output a functional activation reads: a BatchNorm run right after the layer, else the layer."""
        try:
            index = self.order.index(weighted)
        except ValueError:
            return self.modules[weighted]
        if index + 1 < len(self.order):
            following = self.modules[self.order[index + 1]]
            if isinstance(following, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
                return following
        return self.modules[weighted]

    def _module_activations(self) -> None:
        """The first activation module run after each weighted layer (looking through BatchNorm, pooling, dropout)."""
        uses: Dict[str, int] = {}
        for name in self.order:
            uses[name] = uses.get(name, 0) + 1
        open_layer: Optional[str] = None
        for name in self.order:
            module = self.modules[name]
            if is_weighted(module):
                open_layer = name
                continue
            kind = activation_kind_of(module)
            if kind is not None and open_layer is not None:
                if open_layer not in self.activations:
                    site = self._site(name)
                    # A module run more than once (one self.relu after every conv) would hand its hook's
                    # last call to every layer: recompute its function on the layer's output instead.
                    source, apply = (module, None) if uses[name] == 1 else (self._tap_source(open_layer), FUNCTIONS.get(kind))
                    self.activations[open_layer] = (kind, site[0] if site else None, site[1] if site else None, source, apply)
                open_layer = None
            elif not isinstance(module, PASS_THROUGH):
                open_layer = None

    def _site(self, name: str) -> Optional[Tuple[str, Span]]:
        if self.recorder is None:
            return None
        found = self.recorder.sites.get(id(self.modules[name]))
        return found[0] if found else None

    # ──── what the engine is told ────

    def instrumented(self) -> List[InstrumentedLayer]:
        layers = []
        for name, module in self.modules.items():
            weight = weight_of(module)
            if weight is not None and next(module.children(), None) is None:
                kind = self.activations.get(name, (None,))[0]
                layers.append(InstrumentedLayer(name=name, module=module, weight=weight, activation=kind))
        return layers

    def taps(self) -> List[ActivationTap]:
        taps = []
        for layer in self.instrumented():
            found = self.activations.get(layer.name)
            if found is not None:
                kind, _file, _span, source, apply = found
                taps.append(ActivationTap(layer=layer.name, kind=kind, source=source, apply=apply))
            else:
                taps.append(ActivationTap(layer=layer.name, kind="linear", source=layer.module))
        return taps

    def describe(self) -> List[Dict[str, Any]]:
        described: List[Dict[str, Any]] = []
        for name, module in self.modules.items():
            if next(module.children(), None) is not None:
                continue
            entry: Dict[str, Any] = {
                "name": name,
                "className": type(module).__name__,
                "instrumented": weight_of(module) is not None,
                "paramCount": sum(p.numel() for p in module.parameters(recurse=False)),
                "accessPath": access_path(name),
            }
            if name in self.shapes:
                entry["outputShape"] = self.shapes[name]
            sites = self.recorder.sites.get(id(module), []) if self.recorder else []
            if sites:
                filename, span = sites[0]
                source = SourceFile.of(filename)
                site = source.site(span)
                if site is not None:
                    entry["site"] = site
                outer = []
                # Frames that built the model itself (a factory function, a training script's
                # `model = Net()`) are outside the model: no layer was instantiated there.
                root_sites = set(self.recorder.sites.get(id(self.model), [])) if self.recorder else set()
                for outer_file, outer_span in sites[1:]:
                    if (outer_file, outer_span) in root_sites:
                        break
                    outer_source = SourceFile.of(outer_file)
                    outer_site = outer_source.site(outer_span)
                    call = outer_source.calls.get(outer_span)
                    if outer_site is None or call is None:
                        continue
                    outer_site_full: Dict[str, Any] = dict(outer_site)
                    outer_site_full["className"] = callee_name(call)
                    outer_site_full["qualifiedName"] = self._module_built_at(outer_file, outer_span, name)
                    outer.append(outer_site_full)
                if outer:
                    entry["instantiatedAt"] = outer
            found = self.activations.get(name)
            if found is not None:
                kind, filename, span, _source, _apply = found
                entry["activation"] = kind
                if filename is not None and span is not None:
                    entry["activationRange"] = SourceFile.of(filename).range_of(span)
                    entry["activationFile"] = SourceFile.of(filename).path
            args = {key: _plain(getattr(module, key)) for key in ARG_NAMES if hasattr(module, key)}
            if hasattr(module, "bias"):
                args["bias"] = getattr(module, "bias") is not None
            if args:
                entry["args"] = args
            if name in self.calls:
                filename, spans = self.calls[name]
                entry["callRanges"] = [SourceFile.of(filename).range_of(span) for span in spans]
            described.append(entry)
        return described

    def _module_built_at(self, filename: str, span: Span, inner: str) -> str:
        """The ancestor of `inner` that this outer call built (the block, or the container a helper
        function returned), else the layer itself: the outermost ancestor built during that call."""
        parts = inner.split(".")
        for cut in range(1, len(parts)):
            ancestor = ".".join(parts[:cut])
            sites = self.recorder.sites.get(id(self.modules[ancestor]), []) if self.recorder else []
            if (filename, span) in sites:
                return ancestor
        return inner


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)


def output_kind(output: torch.Tensor) -> str:
    """'logits', 'probabilities' (a final softmax) or 'log-probabilities' (a final log-softmax)."""
    if output.dim() != 2 or output.shape[1] < 2:
        return "logits"
    finite = torch.isfinite(output).all()
    if not finite:
        return "logits"
    sums = output.sum(dim=1)
    if (output >= 0).all() and torch.allclose(sums, torch.ones_like(sums), atol=1e-4):
        return "probabilities"
    if (output <= 0).all() and torch.allclose(output.exp().sum(dim=1), torch.ones_like(sums), atol=1e-4):
        return "log-probabilities"
    return "logits"

