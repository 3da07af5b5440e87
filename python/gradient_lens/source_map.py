"""Where each module of a model was built, and what the source says about its activation.

Construction sites are recorded while the model is built: `nn.Module.__init__` is wrapped for
the duration, and for each new module the first frame of the user's own code above the
constructor gives the call (Python 3.11+ frames know the exact columns of the running call
through `co_positions`; older Pythons give the line, and `ast` finds the call on it). So modules
built in `nn.Sequential(...)`, in loops, in helper functions and in reusable block classes all
land on the call that built them, and the outer frames (the helper's or the block's own call)
become `instantiatedAt`.

Functional activations (`torch.sigmoid(x)`, `F.relu(self.conv1(x))`, `x.tanh()`) are found in
each class's `forward` with `ast`, by following which module's output each variable holds.

Positions are zero-based lines and UTF-16 columns, as VS Code counts.
"""
from __future__ import annotations

import ast
import inspect
import os
import re
import sys
import sysconfig
import types
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import torch
from torch import nn

from .protocol import Range, SourceSite
# Positions, the ast and the running call of a frame are framework-free: shared with the Keras exporter.
from .source_text import SourceFile, Span, call_span, callee_name, node_span  # noqa: F401

FUNCTIONAL_ACTIVATIONS = {
    "sigmoid": "sigmoid", "tanh": "tanh", "relu": "relu", "relu_": "relu", "leaky_relu": "leaky_relu",
    "leaky_relu_": "leaky_relu", "elu": "elu", "gelu": "gelu", "selu": "selu", "silu": "relu", "relu6": "relu",
    "softmax": "softmax", "hardtanh": "tanh", "hardsigmoid": "sigmoid",
}
# Modules an activation looks through to the weighted layer before them.
PASS_THROUGH = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.Dropout, nn.Dropout2d, nn.Identity,
                nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.LayerNorm, nn.GroupNorm)
# Methods / functions that keep a tensor's origin (`x.view(...)`, `torch.flatten(x, 1)`, `F.max_pool2d(x, 2)`).
SHAPE_OPS = {"view", "reshape", "flatten", "max_pool2d", "avg_pool2d", "max_pool1d", "avg_pool1d", "dropout",
             "dropout2d", "squeeze", "unsqueeze", "contiguous", "adaptive_avg_pool2d", "batch_norm", "permute"}


def _excluded_roots() -> List[str]:
    roots = [os.path.dirname(torch.__file__), os.path.dirname(os.path.abspath(__file__))]
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(key):
            roots.append(paths[key])
    return [os.path.realpath(root) + os.sep for root in roots]


_EXCLUDED = _excluded_roots()


def is_user_file(filename: str) -> bool:
    if not filename or filename.startswith("<"):
        return False
    real = os.path.realpath(filename)
    return not any(real.startswith(root) for root in _EXCLUDED)


# ──── construction sites, recorded while the model is built ────

@dataclass
class ConstructionRecorder:
    """Wraps `nn.Module.__init__` while the model is built; `sites[id(module)]` then lists the user
    frames' calls above each module's construction, innermost first."""

    sites: Dict[int, List[Tuple[str, Span]]] = field(default_factory=dict)
    _keep: List[nn.Module] = field(default_factory=list)
    _original: Any = None

    def __enter__(self) -> "ConstructionRecorder":
        original = nn.Module.__init__
        self._original = original
        recorder = self

        def init(module: nn.Module, *args: Any, **kwargs: Any) -> None:
            original(module, *args, **kwargs)
            try:
                recorder._record(module, sys._getframe(1))
            except Exception:  # a source we cannot read must never stop the user's model from building
                pass

        nn.Module.__init__ = init  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        nn.Module.__init__ = self._original  # type: ignore[method-assign]

    def _record(self, module: nn.Module, frame: Optional[types.FrameType]) -> None:
        found: List[Tuple[str, Span]] = []
        while frame is not None:
            filename = frame.f_code.co_filename
            # The module's own __init__ chain (a user subclass calling super().__init__()) is not its call site.
            if is_user_file(filename) and frame.f_locals.get("self") is not module:
                span = call_span(frame)
                if span is not None:
                    found.append((filename, span))
            frame = frame.f_back
        self.sites[id(module)] = found
        self._keep.append(module)  # ids stay unique while the recorder lives


# ──── functional activations and calls in forward ────

@dataclass
class ForwardFacts:
    """What one class's forward says, in names relative to an instance of the class."""

    # attribute path ("conv1", "convs.*") → (activation kind, span) of the functional activation applied to its output
    activations: Dict[str, Tuple[str, Span]] = field(default_factory=dict)
    # attribute path → spans of `self.<path>(...)` calls
    calls: Dict[str, List[Span]] = field(default_factory=dict)
    # attribute path → the non-weighted module (`bn1`) whose output the activation reads, when the
    # layer's output went through one (`torch.tanh(self.bn1(self.conv1(x)))`) before the activation
    through: Dict[str, str] = field(default_factory=dict)


def forward_facts(cls: type, weighted: Set[str]) -> Tuple[Optional[str], ForwardFacts]:
    """Reads `cls.forward` from its source; `weighted` holds the attribute names of weighted children."""
    facts = ForwardFacts()
    forward = cls.__dict__.get("forward")
    if forward is None or not hasattr(forward, "__code__"):
        return None, facts
    filename = forward.__code__.co_filename
    if not is_user_file(filename):
        return None, facts
    source = SourceFile.of(filename)
    if source.tree is None:
        return filename, facts
    function = next((node for node in ast.walk(source.tree)
                     if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "forward"
                     and node.lineno == forward.__code__.co_firstlineno), None)
    if function is None:
        # Decorated functions start a line or more later than their `def`.
        function = next((node for node in ast.walk(source.tree) if isinstance(node, ast.FunctionDef) and node.name == "forward"
                         and node.lineno <= forward.__code__.co_firstlineno + 5 and node.lineno >= forward.__code__.co_firstlineno - 5), None)
    if function is None:
        return filename, facts
    _ForwardWalker(facts, weighted).walk(function.body, {})
    return filename, facts


# The weighted module whose output a value holds ("conv1"), and after "@" the last non-weighted
# module it went through since ("conv1@bn1"), so the activation's statistics read what it reads.
Origin = Optional[str]


def _through(origin: Origin, module: str) -> Origin:
    return f"{origin.split('@', 1)[0]}@{module}" if origin is not None else None


class _ForwardWalker:
    """Follows which module's output each variable holds, through shape ops and BatchNorm."""

    def __init__(self, facts: ForwardFacts, weighted: Set[str]) -> None:
        self.facts = facts
        self.weighted = weighted

    def walk(self, body: List[ast.stmt], names: Dict[str, Origin], loop_aliases: Optional[Dict[str, str]] = None) -> None:
        aliases = dict(loop_aliases or {})
        for statement in body:
            if isinstance(statement, ast.Assign):
                origin = self.origin(statement.value, names, aliases)
                for target in statement.targets:
                    if isinstance(target, ast.Name):
                        names[target.id] = origin
            elif isinstance(statement, (ast.AugAssign, ast.AnnAssign)) and statement.value is not None:
                origin = self.origin(statement.value, names, aliases)
                if isinstance(statement.target, ast.Name):
                    names[statement.target.id] = None if isinstance(statement, ast.AugAssign) else origin
            elif isinstance(statement, (ast.Return, ast.Expr)) and statement.value is not None:
                self.origin(statement.value, names, aliases)
            elif isinstance(statement, ast.For):
                inner = dict(aliases)
                inner.update(_loop_aliases(statement.iter, statement.target))
                # Twice: a variable assigned at the loop's end feeds the next iteration's start.
                self.walk(statement.body, names, inner)
                self.walk(statement.body, names, inner)
            elif isinstance(statement, (ast.If, ast.With, ast.While, ast.Try)):
                for block in ("body", "orelse", "finalbody"):
                    self.walk(getattr(statement, block, []) or [], names, aliases)

    def origin(self, node: ast.AST, names: Dict[str, Origin], aliases: Dict[str, str]) -> Origin:
        if isinstance(node, ast.Name):
            return names.get(node.id)
        if not isinstance(node, ast.Call):
            for child in ast.iter_child_nodes(node):
                self.origin(child, names, aliases)
            return None
        func = node.func
        argument_origin = self.origin(node.args[0], names, aliases) if node.args else None
        for extra in node.args[1:]:
            self.origin(extra, names, aliases)
        called = self_attribute(func) or self_subscript(func)
        if called is None and isinstance(func, ast.Name) and func.id in aliases:
            called = aliases[func.id]
        if called is not None:
            span = node_span(node)
            known = self.facts.calls.setdefault(called, [])
            # Loop bodies are walked twice (see walk): one range per call in the source.
            if span is not None and span not in known:
                known.append(span)
            if self._weighted(called):
                return called
            return _through(argument_origin, called)  # BatchNorm, pooling, dropout, an activation module: the origin stays
        name = callee_name(node)
        if isinstance(func, ast.Attribute) and not _is_module_path(func.value):
            # A tensor method: x.relu(), x.view(...)
            receiver = self.origin(func.value, names, aliases)
            if name in FUNCTIONAL_ACTIVATIONS and receiver is not None:
                self._activation(receiver, FUNCTIONAL_ACTIVATIONS[name], node)
                return None
            return receiver if name in SHAPE_OPS else None
        if name in FUNCTIONAL_ACTIVATIONS and _is_activation_namespace(func):
            if argument_origin is not None:
                self._activation(argument_origin, FUNCTIONAL_ACTIVATIONS[name], node)
            return None
        return argument_origin if name in SHAPE_OPS else None

    def _weighted(self, called: str) -> bool:
        """`conv1`, or `convs.*` (an item of a container of weighted layers; not `bns.*`, BatchNorms)."""
        if not called.endswith(".*"):
            return called in self.weighted
        prefix = called[:-1]
        return any(name.startswith(prefix) and "." not in name[len(prefix):] for name in self.weighted)

    def _activation(self, origin: str, kind: str, call: ast.Call) -> None:
        span = node_span(call)
        layer, _, through = origin.partition("@")
        if span is not None and layer not in self.facts.activations:
            self.facts.activations[layer] = (kind, span)
            if through:
                self.facts.through[layer] = through


def _loop_aliases(iterable: ast.AST, target: ast.AST) -> Dict[str, str]:
    """Loop variables bound to a container's items: `for conv in self.convs`, `for i, conv in
    enumerate(self.convs)`, `for conv, bn in zip(self.convs, self.bns)` (and enumerate(zip(...)))."""
    container = self_attribute(iterable)
    if container is not None:
        return {target.id: f"{container}.*"} if isinstance(target, ast.Name) else {}
    if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) and isinstance(target, (ast.Tuple, ast.List)):
        if iterable.func.id == "enumerate" and iterable.args and len(target.elts) == 2:
            return _loop_aliases(iterable.args[0], target.elts[1])
        if iterable.func.id == "zip" and len(iterable.args) == len(target.elts):
            found: Dict[str, str] = {}
            for argument, element in zip(iterable.args, target.elts):
                found.update(_loop_aliases(argument, element))
            return found
    return {}


def _is_module_path(node: ast.AST) -> bool:
    """`torch`, `F`, `nn.functional`, `torch.nn.functional`: namespaces, not tensors."""
    if isinstance(node, ast.Name):
        return node.id in ("torch", "F", "nn", "functional")
    if isinstance(node, ast.Attribute):
        return _is_module_path(node.value) and node.attr in ("nn", "functional")
    return False


def _is_activation_namespace(func: ast.AST) -> bool:
    if isinstance(func, ast.Attribute):
        return _is_module_path(func.value)
    return isinstance(func, ast.Name)  # `from torch import sigmoid` / `from torch.nn.functional import relu`


def self_attribute(node: Optional[ast.AST]) -> Optional[str]:
    """`self.a.b` → "a.b"."""
    parts: List[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id == "self" and parts:
        return ".".join(reversed(parts))
    return None


def self_subscript(node: ast.AST) -> Optional[str]:
    """`self.convs[i]` → "convs.*", `self.features[0]` → "features.0"."""
    if isinstance(node, ast.Subscript):
        container = self_attribute(node.value)
        if container is None:
            return None
        index = node.slice
        if isinstance(index, ast.Constant) and isinstance(index.value, (int, str)):
            return f"{container}.{index.value}"
        return f"{container}.*"
    return None


# ──── optimizer literal ────

def optimizer_site(path: str) -> Optional[Dict[str, Any]]:
    """The first `torch.optim.<Name>(..., lr=<literal>)` (or `optim.<Name>`, or an imported name) in the file."""
    source = SourceFile.of(path)
    if source.tree is None:
        return None
    imported: Set[str] = set()
    for node in ast.walk(source.tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("torch.optim",):
            imported.update(alias.asname or alias.name for alias in node.names)
    for span, call in sorted(source.calls.items()):
        func = call.func
        name = None
        if isinstance(func, ast.Attribute) and ((isinstance(func.value, ast.Name) and func.value.id == "optim")
                                                 or (isinstance(func.value, ast.Attribute) and func.value.attr == "optim")):
            name = func.attr
        elif isinstance(func, ast.Name) and func.id in imported:
            name = func.id
        if name is None or not name[:1].isupper():
            continue
        site: Dict[str, Any] = {"className": name, "file": source.path, "range": source.range_of(span)}
        value: Optional[ast.AST] = next((k.value for k in call.keywords if k.arg == "lr"), None)
        if value is None and len(call.args) >= 2:
            value = call.args[1]
        literal = _number(value)
        if literal is not None and value is not None:
            site["learningRate"] = literal
            value_span = node_span(value)
            if value_span is not None:
                site["learningRateRange"] = source.range_of(value_span)
        return site
    return None


def _number(node: Optional[ast.AST]) -> Optional[float]:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    return None


def access_path(qualified_name: str) -> str:
    """`features.0` → `self.features[0]`, `layer1.conv` → `self.layer1.conv`."""
    path = "self"
    for part in qualified_name.split("."):
        path += f"[{part}]" if part.isdigit() else (f".{part}" if part.isidentifier() else f"[{part!r}]")
    return path


def iter_named(model: nn.Module) -> Iterator[Tuple[str, nn.Module]]:
    for name, module in model.named_modules():
        if name:
            yield name, module
