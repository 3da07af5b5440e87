"""Where each module of an already-built model was constructed, read from the source with `ast`.

The short run records construction sites while it builds the model (`ConstructionRecorder`);
`watch()` meets a model the user's script built long before, so it finds the same calls
statically: a module reached as `parent.attr` was built by `self.attr = <call>` in the parent
class's methods (any file of the user's project: the class's own source file), and the items of a
`nn.Sequential(...)` / `nn.ModuleList([...])` are its arguments. The result has the recorder's
shape (`sites[id(module)]`: own call first, then the blocks it was built inside), so `ModelMap`
describes the layers exactly as for the short run.
"""
from __future__ import annotations

import ast
import inspect
import types
from typing import Dict, List, Optional, Tuple

from torch import nn

from .source_map import ConstructionRecorder, SourceFile, Span, callee_name, is_user_file, node_span

CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def locate_sites(model: nn.Module, root_site: Optional[Tuple[str, Span]] = None) -> ConstructionRecorder:
    """A recorder whose `sites` hold, per module, the call that built it and the blocks around it.
    `root_site`: the call that built the model itself, when it is a container (`nn.Sequential(...)`
    in the script), so its items are found among its arguments."""
    recorder = ConstructionRecorder()
    modules: Dict[str, nn.Module] = dict(model.named_modules())
    own: Dict[int, Tuple[str, Span]] = {}
    if root_site is not None and isinstance(model, CONTAINERS):
        own[id(model)] = root_site
    # named_modules() is pre-order: a container's own site is known before its items'.
    for name, module in modules.items():
        if not name:
            continue
        parent_name, _, attr = name.rpartition(".")
        parent = modules.get(parent_name)
        if parent is None:
            continue
        site: Optional[Tuple[str, Span]] = None
        if isinstance(parent, CONTAINERS):
            container_site = own.get(id(parent))
            if container_site is not None:
                site = _item_site(container_site, attr) or container_site
        else:
            site = _attribute_site(type(parent), attr)
        if site is not None:
            own[id(module)] = site
    for name, module in modules.items():
        if not name or id(module) not in own:
            continue
        chain = [own[id(module)]]
        parts = name.split(".")
        # The blocks (user classes) it was built inside, nearest first; containers add no frame of their own.
        for cut in range(len(parts) - 1, 0, -1):
            ancestor = modules[".".join(parts[:cut])]
            if not isinstance(ancestor, CONTAINERS) and id(ancestor) in own:
                chain.append(own[id(ancestor)])
        recorder.sites[id(module)] = chain
        recorder._keep.append(module)
    return recorder


def _item_site(container_site: Tuple[str, Span], key: str) -> Optional[Tuple[str, Span]]:
    """The argument of `nn.Sequential(a, b)` / the item of `nn.ModuleList([a, b])` at position `key`."""
    filename, span = container_site
    call = SourceFile.of(filename).calls.get(span)
    if call is None or not key.isdigit() or callee_name(call) not in ("Sequential", "ModuleList"):
        return None
    items: List[ast.expr] = list(call.args)
    if len(items) == 1 and isinstance(items[0], (ast.List, ast.Tuple)):
        items = list(items[0].elts)
    # `nn.Sequential(*layers)` or a comprehension: positions are not the source's; the container's call stands in.
    if any(isinstance(item, ast.Starred) for item in items):
        return None
    index = int(key)
    if index >= len(items) or not isinstance(items[index], ast.Call):
        return None
    item_span = node_span(items[index])
    return (filename, item_span) if item_span is not None else None


def _attribute_site(cls: type, attr: str) -> Optional[Tuple[str, Span]]:
    """`self.<attr> = <call>` (or `self.add_module("<attr>", <call>)`) in the methods of `cls` and its bases."""
    for klass in cls.__mro__:
        if klass in (nn.Module, object) or not isinstance(klass, type):
            continue
        try:
            filename = inspect.getsourcefile(klass)
        except (TypeError, OSError):
            continue
        if filename is None or not is_user_file(filename):
            continue
        source = SourceFile.of(filename)
        node = _class_node(source, klass)
        if node is None:
            continue
        functions = [f for f in ast.walk(node) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))]
        # __init__ first: that is where modules are built; helpers (`_make_layer`) after.
        functions.sort(key=lambda f: f.name != "__init__")
        for function in functions:
            found = _assignment_in(function, attr)
            if found is not None:
                span = node_span(found)
                if span is not None:
                    return (source.path, span)
    return None


def _class_node(source: SourceFile, klass: type) -> Optional[ast.ClassDef]:
    if source.tree is None:
        return None
    candidates = [n for n in ast.walk(source.tree) if isinstance(n, ast.ClassDef) and n.name == klass.__name__]
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    # Several classes of that name in one file: the one whose __init__ starts where the class's does.
    init = klass.__dict__.get("__init__")
    line = getattr(getattr(init, "__code__", None), "co_firstlineno", None)
    for candidate in candidates:
        end = getattr(candidate, "end_lineno", candidate.lineno)
        if line is not None and candidate.lineno <= line <= end:
            return candidate
    return candidates[-1]


def _assignment_in(function: ast.AST, attr: str) -> Optional[ast.Call]:
    """The call assigned to `self.<attr>`, following one local name (`conv = nn.Conv2d(...); self.conv = conv`)."""
    local_calls: Dict[str, ast.Call] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    local_calls[target.id] = node.value
    for node in ast.walk(function):
        value: Optional[ast.expr] = None
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(_is_self_attribute(t, attr) for t in targets):
                value = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("add_module", "register_module") \
                and len(node.args) == 2 and isinstance(node.args[0], ast.Constant) and node.args[0].value == attr:
            value = node.args[1]
        if isinstance(value, ast.Call):
            return value
        if isinstance(value, ast.Name) and value.id in local_calls:
            return local_calls[value.id]
    return None


def _is_self_attribute(node: ast.AST, attr: str) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == attr and isinstance(node.value, ast.Name) and node.value.id == "self"


def container_root_site(frame: Optional[types.FrameType], objects: List[object]) -> Optional[Tuple[str, Span]]:
    """Where the script built a model that is itself a container: the nearest user frame above
    `frame` (the script calling watch()) holds the model in a local (`model = nn.Sequential(...)`,
    or `net = nn.Sequential(...); model = DDP(net)`); its last such assignment up to the running
    line gives the call."""
    while frame is not None and not is_user_file(frame.f_code.co_filename):
        frame = frame.f_back
    if frame is None:
        return None
    names = {name for name, value in frame.f_locals.items() if any(value is target for target in objects)}
    if not names:
        return None
    source = SourceFile.of(frame.f_code.co_filename)
    if source.tree is None:
        return None
    best: Optional[ast.Call] = None
    for node in ast.walk(source.tree):
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and callee_name(node.value) in ("Sequential", "ModuleList")):
            continue
        if not any(isinstance(target, ast.Name) and target.id in names for target in node.targets):
            continue
        # Within the running function, before the running line (module-level code starts at line 1).
        if frame.f_code.co_firstlineno <= node.lineno <= frame.f_lineno and (best is None or node.lineno > best.lineno):
            best = node.value
    span = node_span(best) if best is not None else None
    return (source.path, span) if span is not None else None
