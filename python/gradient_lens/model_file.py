"""The user's `.py` model file: imported, its model picked and described (DESIGN.md, "PyTorch
model files"). Every problem is a `ModelFileError` whose message names the file and the problem."""
from __future__ import annotations

import contextlib
import importlib.util
import inspect
import os
import signal
import sys
import traceback
import types
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import nn

# Importing the user's file under a time limit, and the errors about it, are framework-free: shared with the Keras exporter.
from .user_module import ModelFileError, _ImportTimeout, describe_exception, import_model_file, time_limit, user_frame_line  # noqa: F401


def required_parameters(callable_: Callable[..., Any]) -> List[str]:
    try:
        parameters = list(inspect.signature(callable_).parameters.values())
    except (TypeError, ValueError):
        return []
    return [p.name for p in parameters if p.default is inspect.Parameter.empty
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self"]


def all_parameters(callable_: Callable[..., Any]) -> List[str]:
    try:
        parameters = list(inspect.signature(callable_).parameters.values())
    except (TypeError, ValueError):
        return []
    return [p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}" for p in parameters if p.name != "self"]


def module_classes(module: types.ModuleType) -> List[type]:
    """The nn.Module subclasses the file itself defines, in source order."""
    classes = [value for value in vars(module).values()
               if inspect.isclass(value) and issubclass(value, nn.Module) and value.__module__ == module.__name__]
    return sorted(classes, key=lambda cls: inspect.getsourcelines(cls)[1] if _has_source(cls) else 0)


def _has_source(cls: type) -> bool:
    try:
        inspect.getsourcelines(cls)
        return True
    except (OSError, TypeError):
        return False


def pick_entry(module: types.ModuleType, path: str, entry: Optional[str]) -> Tuple[str, Callable[[], nn.Module]]:
    classes = module_classes(module)
    candidates = [{"name": cls.__name__, "parameters": all_parameters(cls.__init__)} for cls in classes]
    if entry:
        target = getattr(module, entry, None)
        if target is None:
            raise ModelFileError(f"{path}: no `{entry}` in the file (nn.Module classes: {', '.join(c['name'] for c in candidates) or 'none'})", candidates=candidates)
        if inspect.isclass(target) and issubclass(target, nn.Module):
            needs = required_parameters(target.__init__)
            if needs:
                raise ModelFileError(f"{path}: {entry} needs constructor arguments ({', '.join(needs)}); give defaults, or add a zero-argument function returning the model and pass it as --entry", candidates=candidates)
            return entry, target
        if callable(target):
            needs = required_parameters(target)
            if needs:
                raise ModelFileError(f"{path}: {entry}() needs arguments ({', '.join(needs)}); --entry takes a function without arguments", candidates=candidates)
            return entry, target
        raise ModelFileError(f"{path}: `{entry}` is neither an nn.Module subclass nor a function", candidates=candidates)
    if not classes:
        raise ModelFileError(f"{path}: defines no nn.Module subclass (a PyTorch model file defines `class Net(nn.Module)`)")
    ready = [cls for cls in classes if not required_parameters(cls.__init__)]
    if not ready:
        listed = "; ".join(f"{c['name']}({', '.join(c['parameters'])})" for c in candidates)
        raise ModelFileError(f"{path}: every nn.Module subclass needs constructor arguments: {listed}; pick one with --entry NAME (a class with defaults, or a function returning the model)", candidates=candidates)
    # Several: the last one that needs no arguments — usually the network that uses the blocks above it.
    chosen = ready[-1]
    return chosen.__name__, chosen


def construct(path: str, entry_name: str, factory: Callable[[], nn.Module], timeout_seconds: float = 0) -> nn.Module:
    """Builds the model under the same time limit as the import: a constructor that loops (a
    `range(2**40)` of blocks, found by the fuzzer) must end as an error, not hang the run."""
    try:
        with time_limit(timeout_seconds):
            model = factory()
    except _ImportTimeout:
        raise ModelFileError(f"{path}: building {entry_name}() did not finish within {timeout_seconds:g} s", code="import-timeout") from None
    except BaseException as error:  # noqa: B902
        line = user_frame_line(error, path)
        raise ModelFileError(f"{path}: building {entry_name}() raised {describe_exception(error)}" + (f" on line {line}" if line else ""),
                             detail=traceback.format_exc()) from None
    if not isinstance(model, nn.Module):
        raise ModelFileError(f"{path}: {entry_name}() returned {type(model).__name__}, not an nn.Module")
    if not any(p.requires_grad for p in model.parameters()):
        raise ModelFileError(f"{path}: {entry_name} has no trainable parameters")
    return model


def input_shape_of(module: types.ModuleType, model: nn.Module, path: str, requested: Optional[Sequence[int]]) -> List[int]:
    if requested:
        return [int(d) for d in requested]
    declared = getattr(module, "INPUT_SHAPE", None)
    if declared is not None:
        try:
            shape = [int(d) for d in declared]
        except (TypeError, ValueError):
            raise ModelFileError(f"{path}: INPUT_SHAPE must be a tuple of integers like (1, 28, 28), got {declared!r}") from None
        if not shape or any(d <= 0 for d in shape):
            raise ModelFileError(f"{path}: INPUT_SHAPE must hold positive sizes, got {declared!r}")
        return shape
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if first is not None:
        if first.in_channels == 1:
            return [1, 28, 28]
        if first.in_channels == 3:
            return [3, 32, 32]
        raise ModelFileError(f"{path}: the first Conv2d takes {first.in_channels} channels; say the input shape with --input-shape C,H,W or INPUT_SHAPE = (C, H, W) in the file")
    linear = next((m for m in model.modules() if isinstance(m, nn.Linear)), None)
    if linear is not None and first is None:
        return [linear.in_features]
    raise ModelFileError(f"{path}: cannot tell the input shape; give --input-shape C,H,W or INPUT_SHAPE = (C, H, W) in the file")


def num_classes_of(module: types.ModuleType, model: nn.Module, output_width: int) -> int:
    declared = getattr(module, "NUM_CLASSES", None)
    if isinstance(declared, int) and declared > 0:
        return declared
    return output_width
