"""Shared helpers of the Python suite: building a model file's modules with the source mapper,
slicing reported ranges out of the source text, and running the trainer as the engine does."""
from __future__ import annotations

import importlib.util
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(PYTHON_DIR)
MODELS = os.path.join(HERE, "models")
SAMPLES = os.path.join(REPO, "samples", "pytorch")
FASHION_MNIST = os.path.join(REPO, "data", "fashion-mnist")


def model_path(name: str) -> str:
    return os.path.join(MODELS, name)


_imported: Dict[str, Any] = {}


def import_file(path: str) -> Any:
    """Imports a model file once per test process (under a name of its own)."""
    if path not in _imported:
        name = "gl_test_" + os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        _imported[path] = module
    return _imported[path]


def build_mapped(path: str, class_name: str, input_shape: Optional[List[int]] = None, seed: int = 0):
    """(model, ModelMap, {name: TorchLayer dict}) as the trainer builds them."""
    from gradient_lens.layers import ModelMap, execution_order
    from gradient_lens.source_map import ConstructionRecorder

    module = import_file(path)
    shape = list(input_shape or getattr(module, "INPUT_SHAPE"))
    torch.manual_seed(seed)
    with ConstructionRecorder() as recorder:
        model = getattr(module, class_name)()
    model.eval()
    order, shapes, _ = execution_order(model, torch.zeros(2, *shape))
    model.train()
    model_map = ModelMap(model, recorder, path, order, shapes)
    return model, model_map, {layer["name"]: layer for layer in model_map.describe()}


def slice_range(path: str, range_: Dict[str, Any]) -> str:
    """The text a zero-based line / UTF-16 column range covers, as VS Code would cut it."""
    with open(path, encoding="utf-8", newline="") as handle:
        lines = re.split(r"\r\n|\r|\n", handle.read())  # VS Code's line breaks
    start, end = range_["start"], range_["end"]
    units = [line.encode("utf-16-le") for line in lines]
    if start["line"] == end["line"]:
        return units[start["line"]][2 * start["character"]:2 * end["character"]].decode("utf-16-le")
    parts = [units[start["line"]][2 * start["character"]:].decode("utf-16-le")]
    parts += [units[i].decode("utf-16-le") for i in range(start["line"] + 1, end["line"])]
    parts.append(units[end["line"]][:2 * end["character"]].decode("utf-16-le"))
    return "\n".join(parts)


# ──── strict JSON, as JavaScript's JSON.parse reads it ────

def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not JSON: JavaScript's JSON.parse rejects it")


def parse_js_json(line: str) -> Any:
    """JSON.parse semantics: NaN / Infinity tokens are errors; 1e999 is Infinity."""
    return json.loads(line, parse_constant=_reject_constant)


# ──── the trainer as a process ────

def start_request(model: str, **overrides: Any) -> Dict[str, Any]:
    request: Dict[str, Any] = {
        "type": "start", "protocolVersion": 1, "modelPath": model, "steps": 3, "batchSize": 8, "seed": 7,
        "data": "auto", "fashionMnistDir": FASHION_MNIST, "importTimeoutSeconds": 30,
    }
    request.update(overrides)
    return request


class TrainerRun:
    """`python -m gradient_lens.trainer` with a pipe on its fd 3, as src/engine starts it.

    fd 3 is set up by a `/bin/bash` that execs the interpreter (`3>&W`), so no `preexec_fn` runs
    in a process with reader threads. Each fd-3 line is parsed with JSON.parse semantics.
    `on_message(run, message)` is called from the reader thread as messages arrive."""

    def __init__(self, request: Dict[str, Any], python: str = sys.executable,
                 on_message: Optional[Callable[["TrainerRun", Dict[str, Any]], None]] = None) -> None:
        self.request = request
        self.on_message = on_message
        self.raw_lines: List[str] = []
        self.messages: List[Dict[str, Any]] = []
        self.parse_errors: List[str] = []
        self.arrived: "queue.Queue[Dict[str, Any]]" = queue.Queue()
        read, write = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = PYTHON_DIR
        env.pop("PYTHONSTARTUP", None)
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            ["/bin/bash", "-c", f'exec "$@" 3>&{write} {write}>&-', "bash", python, "-m", "gradient_lens.trainer"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(write,),
            cwd=PYTHON_DIR, env=env)
        os.close(write)
        self._fd3 = os.fdopen(read, "r", encoding="utf-8")
        self._out: List[bytes] = []
        self._err: List[bytes] = []
        self._threads = [threading.Thread(target=self._read_fd3, daemon=True),
                         threading.Thread(target=self._drain, args=(self.process.stdout, self._out), daemon=True),
                         threading.Thread(target=self._drain, args=(self.process.stderr, self._err), daemon=True)]
        for thread in self._threads:
            thread.start()
        self.send(request)

    def send(self, message: Dict[str, Any]) -> None:
        try:
            assert self.process.stdin is not None
            self.process.stdin.write((json.dumps(message) + "\n").encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def _read_fd3(self) -> None:
        for line in self._fd3:
            self.raw_lines.append(line)
            try:
                message = parse_js_json(line)
            except ValueError as error:
                self.parse_errors.append(f"{error}: {line[:200]}")
                continue
            self.messages.append(message)
            self.arrived.put(message)
            if self.on_message is not None:
                self.on_message(self, message)

    @staticmethod
    def _drain(stream: Any, into: List[bytes]) -> None:
        for chunk in iter(lambda: stream.read1(65536), b""):
            into.append(chunk)

    def finish(self, timeout: float = 120.0) -> "TrainerRun":
        try:
            self.returncode = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.returncode = self.process.wait()
            raise AssertionError(f"the trainer did not end within {timeout} s")
        finally:
            for thread in self._threads:
                thread.join(10)
            for stream in (self.process.stdin, self.process.stdout, self.process.stderr, self._fd3):
                try:
                    if stream is not None:
                        stream.close()
                except OSError:
                    pass
        self.seconds = time.monotonic() - self.started
        self.stdout = b"".join(self._out).decode("utf-8", "replace")
        self.stderr = b"".join(self._err).decode("utf-8", "replace")
        return self

    def of_type(self, kind: str) -> List[Dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]

    def describe(self) -> str:
        return (f"exit {getattr(self, 'returncode', None)}; messages {[m.get('type') for m in self.messages]}; "
                f"errors {[m.get('message') for m in self.of_type('error')]}; parse errors {self.parse_errors}; "
                f"stderr {getattr(self, 'stderr', '')[-1500:]}")


def run_all(requests: Dict[str, Dict[str, Any]], python: str = sys.executable, parallel: int = 4,
            on_message: Optional[Dict[str, Callable[[TrainerRun, Dict[str, Any]], None]]] = None,
            timeout: float = 120.0) -> Dict[str, TrainerRun]:
    """Runs several trainers, `parallel` at a time (each imports torch: 1–3 s of CPU)."""
    results: Dict[str, TrainerRun] = {}
    pending = list(requests.items())
    running: List[TrainerRun] = []
    names: Dict[int, str] = {}
    while pending or running:
        while pending and len(running) < parallel:
            name, request = pending.pop(0)
            run = TrainerRun(request, python, (on_message or {}).get(name))
            names[id(run)] = name
            running.append(run)
        done = [run for run in running if run.process.poll() is not None]
        if not done:
            time.sleep(0.02)
            if any(time.monotonic() - run.started > timeout for run in running):
                for run in running:
                    if run.process.poll() is None:
                        run.process.kill()
            continue
        for run in done:
            running.remove(run)
            run.finish(timeout)
            results[names[id(run)]] = run
    return results


def run_in_process(request: Dict[str, Any]):
    """`trainer.run` in this process, its messages encoded and read back as the engine reads fd 3:
    (exit code, messages). For cases that need no process of their own (each spawn imports torch)."""
    import io

    from gradient_lens import trainer
    from gradient_lens.protocol import MessageChannel

    stream = io.StringIO()
    code = trainer.run(request, MessageChannel(stream), trainer.Cancellation())
    return code, [parse_js_json(line) for line in stream.getvalue().splitlines()]


def gradient_ratios(messages: List[Dict[str, Any]]) -> List[float]:
    """Per step: the first weighted layer's gradient RMS over the last one's (BatchNorm left out)."""
    ready = next(m for m in messages if m["type"] == "ready")
    weighted = [layer["name"] for layer in ready["layers"] if layer["instrumented"] and not layer["className"].startswith("BatchNorm")]
    first, last = weighted[0], weighted[-1]
    ratios = []
    for message in messages:
        if message["type"] == "step":
            layers = {entry["layer"]: entry for entry in message["stats"]["layers"]}
            ratios.append(layers[first]["gradRms"] / layers[last]["gradRms"])
    return ratios
