"""The Keras exporter: runs the user's `.py` that builds a Keras model in the user's own Keras and
hands the engine the model's config, its weights and where each layer was constructed
(DESIGN.md, "Keras model source .py"). The engine then trains the model with TF.js, as it does a
`.keras` file.

`python -m gradient_lens.keras_export`: one JSON request on stdin
`{path, entry?, seed?, importTimeoutSeconds?}`; one JSON result on fd 3 —
`{type: "exported", config, weights, sites, entry, kerasVersion, backend}` or
`{type: "error", code, message, detail?}`. The user's prints stay on stdout / stderr.

While the file runs, `keras.layers.Layer.__init__` is wrapped: for each layer built, the user
frames above the constructor give its call site (Python 3.11 frames know the exact columns of
the running call), so a layer built in a loop, a helper function or a functional
`x = layers.Conv2D(...)(x)` chain lands on its own `layers.Conv2D(...)` call.

No torch import here (a Keras user's interpreter need not have it); KERAS_BACKEND=numpy is
enough to build the model and read its weights.
"""
from __future__ import annotations

import base64
import json
import os
import sys
import sysconfig
import traceback
import types
from typing import Any, Dict, List, Optional, Tuple

from .source_text import SourceFile, Span, call_span
from .user_module import ModelFileError, _ImportTimeout, describe_exception, import_model_file, time_limit, user_frame_line

DEFAULT_IMPORT_TIMEOUT = 60.0


def _excluded_roots(keras_module: types.ModuleType) -> List[str]:
    roots = [os.path.dirname(keras_module.__file__ or ""), os.path.dirname(os.path.abspath(__file__))]
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.append(path)
    return [os.path.realpath(root) + os.sep for root in roots if root]


class LayerSites:
    """Wraps `keras.layers.Layer.__init__` while the user's file runs; `sites[id(layer)]` lists the
    calls in the user's files above each layer's construction, innermost first."""

    def __init__(self, keras_module: types.ModuleType) -> None:
        self.layer_class = keras_module.layers.Layer
        self.roots = _excluded_roots(keras_module)
        self.sites: Dict[int, List[Tuple[str, Span]]] = {}
        self._keep: List[Any] = []
        self._original: Any = None

    def is_user_file(self, filename: str) -> bool:
        if not filename or filename.startswith("<"):
            return False
        real = os.path.realpath(filename)
        return not any(real.startswith(root) for root in self.roots)

    def __enter__(self) -> "LayerSites":
        original = self.layer_class.__init__
        self._original = original
        recorder = self

        def init(layer: Any, *args: Any, **kwargs: Any) -> None:
            original(layer, *args, **kwargs)
            if id(layer) in recorder.sites:
                return  # a subclass's __init__ chain calls this more than once: the outermost call is the site
            try:
                recorder._record(layer, sys._getframe(1))
            except Exception:  # a source we cannot read must never stop the user's model from building
                pass

        self.layer_class.__init__ = init
        return self

    def __exit__(self, *exc: object) -> None:
        self.layer_class.__init__ = self._original

    def _record(self, layer: Any, frame: Optional[types.FrameType]) -> None:
        found: List[Tuple[str, Span]] = []
        while frame is not None:
            filename = frame.f_code.co_filename
            if self.is_user_file(filename) and frame.f_locals.get("self") is not layer:
                span = call_span(frame)
                if span is not None:
                    found.append((filename, span))
            frame = frame.f_back
        self.sites[id(layer)] = found
        self._keep.append(layer)


def pick_model(keras_module: types.ModuleType, module: types.ModuleType, path: str, entry: Optional[str], timeout: float) -> Tuple[str, Any]:
    """`--entry NAME` (a module-level model, or a zero-argument function returning one), else the
    only / last module-level keras.Model."""
    model_class = keras_module.Model
    if entry:
        if not hasattr(module, entry):
            raise ModelFileError(f"{path}: has no {entry!r} (--entry); module-level models: {', '.join(_model_names(module, model_class)) or 'none'}")
        value = getattr(module, entry)
        if callable(value) and not isinstance(value, model_class) and not isinstance(value, type):
            try:
                with time_limit(timeout):
                    value = value()
            except _ImportTimeout:
                raise ModelFileError(f"{path}: {entry}() did not finish within {timeout:g} s", code="import-timeout") from None
            except BaseException as error:  # noqa: B902 — the user's code may raise anything
                line = user_frame_line(error, path)
                where = f" on line {line}" if line else ""
                raise ModelFileError(f"{path}: {entry}() raised {describe_exception(error)}{where}", detail=traceback.format_exc()) from None
        if isinstance(value, type) and issubclass(value, model_class):
            raise subclassed_error(path, value.__name__)
        if not isinstance(value, model_class):
            raise ModelFileError(f"{path}: {entry} is a {type(value).__name__}, not a keras.Model (or a zero-argument function returning one)")
        return entry, value
    names = _model_names(module, model_class)
    if not names:
        subclasses = [name for name, value in vars(module).items() if isinstance(value, type) and issubclass(value, model_class)
                      and value.__module__ == module.__name__]
        if subclasses:
            raise subclassed_error(path, subclasses[-1])
        raise ModelFileError(f"{path}: builds no Keras model at module level: assign one (model = keras.Sequential([...]) or keras.Model(inputs, outputs)), "
                             "or name a zero-argument function returning one with --entry")
    return names[-1], getattr(module, names[-1])


def _model_names(module: types.ModuleType, model_class: type) -> List[str]:
    seen = set()
    names = []
    for name, value in vars(module).items():
        if isinstance(value, model_class) and id(value) not in seen and not name.startswith("_"):
            seen.add(id(value))
            names.append(name)
    return names


def subclassed_error(path: str, class_name: str) -> ModelFileError:
    return ModelFileError(
        f"{path}: {class_name} is a subclassed keras.Model (its layers are wired in call()), which has no config Keras can write out; "
        "build the same layers with keras.Sequential([...]) or the functional API (keras.Model(inputs, outputs)), and Gradient Lens can train it",
        code="bad-input")


def check_serialisable(keras_module: types.ModuleType, model: Any, path: str, name: str) -> None:
    if type(model).__name__ not in ("Sequential", "Functional") and not isinstance(model, keras_module.Sequential):
        raise subclassed_error(path, type(model).__name__)


def layer_weights(model: Any, prefix: str = "") -> Dict[str, List[Dict[str, Any]]]:
    """Layer path (`conv2d`, `block/conv2d_3`) → its weights in Keras order, float32 little-endian base64."""
    import numpy as np

    out: Dict[str, List[Dict[str, Any]]] = {}
    for layer in model.layers:
        if hasattr(layer, "layers") and type(layer).__name__ in ("Sequential", "Functional"):
            out.update(layer_weights(layer, f"{prefix}{layer.name}/"))
            continue
        weights = []
        for variable in layer.weights:
            value = np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable, dtype="<f4")
            weights.append({"name": getattr(variable, "name", "").split("/")[-1], "shape": list(value.shape),
                            "data": base64.b64encode(value.tobytes()).decode("ascii")})
        if weights:
            out[f"{prefix}{layer.name}"] = weights
    return out


def layer_sites(recorder: LayerSites, model: Any, prefix: str = "") -> Dict[str, Dict[str, Any]]:
    """Layer name → where it was built: the innermost call in the user's files, and the outer ones."""
    out: Dict[str, Dict[str, Any]] = {}
    for layer in model.layers:
        found = recorder.sites.get(id(layer), [])
        if found:
            filename, span = found[0]
            site = dict(SourceFile.of(filename).site(span) or {})
            site["calls"] = [SourceFile.of(f).range_of(s) for f, s in found[1:]]
            site["callFiles"] = [f for f, _ in found[1:]]
            out[f"{prefix}{layer.name}"] = site
        if hasattr(layer, "layers") and type(layer).__name__ in ("Sequential", "Functional"):
            out.update(layer_sites(recorder, layer, f"{prefix}{layer.name}/"))
    # A Sequential built with keras.Input(...) keeps its InputLayer out of `layers`.
    input_layer = getattr(model, "_input_layer", None) or (getattr(model, "_layers", [None])[0] if type(model).__name__ == "Sequential" else None)
    if input_layer is not None and id(input_layer) in recorder.sites and recorder.sites[id(input_layer)]:
        filename, span = recorder.sites[id(input_layer)][0]
        out.setdefault(f"{prefix}{input_layer.name}", dict(SourceFile.of(filename).site(span) or {}))
    return out


def export(request: Dict[str, Any]) -> Dict[str, Any]:
    path = os.path.abspath(str(request["path"]))
    timeout = float(request.get("importTimeoutSeconds", DEFAULT_IMPORT_TIMEOUT))
    try:
        import keras
    except Exception as error:  # noqa: BLE001 — any failure to import is "Keras not importable here"
        return {"type": "error", "code": "no-keras", "message": f"{sys.executable} cannot import keras ({describe_exception(error)})"}
    seed = request.get("seed")
    if isinstance(seed, int):
        keras.utils.set_random_seed(seed)  # the same seed and file give the same initial weights
    try:
        with LayerSites(keras) as recorder:
            module = import_model_file(path, timeout)
            entry, model = pick_model(keras, module, path, request.get("entry"), timeout)
        check_serialisable(keras, model, path, entry)
        config = json.loads(model.to_json())
        try:
            compile_config = model.get_compile_config()
        except Exception:  # noqa: BLE001 — an uncompiled model has none
            compile_config = None
        if compile_config:
            config["compile_config"] = compile_config
        return {"type": "exported", "entry": entry, "config": config, "weights": layer_weights(model), "sites": layer_sites(recorder, model),
                "kerasVersion": keras.__version__, "backend": keras.backend.backend()}
    except ModelFileError as error:
        result = {"type": "error", "code": error.code, "message": error.message}
        if error.detail:
            result["detail"] = error.detail
        return result


def main() -> None:
    request = json.loads(sys.stdin.readline() or "{}")
    try:
        result = export(request)
    except BaseException as error:  # noqa: B902 — report, never a bare traceback the engine cannot read
        result = {"type": "error", "code": "internal", "message": f"the Keras exporter failed: {describe_exception(error)}", "detail": traceback.format_exc()}
    with os.fdopen(3, "w", encoding="utf-8") as out:
        out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
