"""`python -m gradient_lens.trainer`: the short instrumented run of a PyTorch model file.

Started by the Gradient Lens engine (src/engine/pytorch/trainerProcess.ts): one start request on
stdin, JSON-line messages on fd 3 (see protocol.py), the user's own prints on stdout/stderr.
Exit code 0 after `done`, 2 after an `error` about the user's file, 3 after any other error.
"""
from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import traceback
from typing import Any, Dict, List, Optional

from .protocol import PROTOCOL_VERSION, MessageChannel

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
DEFAULT_IMPORT_TIMEOUT = 30.0
OPTIMIZERS = {"sgd": "SGD", "momentum": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop",
              "adagrad": "Adagrad", "adadelta": "Adadelta", "adamax": "Adamax"}


class Cancellation:
    """Set by a `cancel` line on stdin, by SIGTERM, or when stdin closes (the engine is gone)."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def listen(self) -> None:
        def read() -> None:
            for line in sys.stdin:
                try:
                    if json.loads(line).get("type") == "cancel":
                        self.event.set()
                except (ValueError, AttributeError):
                    continue
            self.event.set()

        threading.Thread(target=read, name="gradient-lens-cancel", daemon=True).start()
        signal.signal(signal.SIGTERM, lambda *_: self.event.set())
        # Ctrl+C in a terminal reaches the whole process group: the CLI decides (it sends cancel).
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    @property
    def requested(self) -> bool:
        return self.event.is_set()


def build_optimizer(torch: Any, parameters: Any, name: str, learning_rate: float) -> Any:
    key = name.lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name}")
    cls = getattr(torch.optim, OPTIMIZERS[key])
    if key == "momentum":
        return cls(parameters, lr=learning_rate, momentum=0.9)
    return cls(parameters, lr=learning_rate)


def run(request: Dict[str, Any], channel: MessageChannel, cancellation: Cancellation) -> int:
    try:
        import torch
    except ImportError as error:
        channel.send({"type": "error", "code": "no-torch",
                      "message": f"{sys.executable} cannot import torch ({error}); install PyTorch there (on Debian: apt-get install python3-torch, for /usr/bin/python3) or choose another interpreter"})
        return EXIT_BAD_INPUT
    import torch.nn.functional as F

    from . import data as datasets
    from .layers import ModelMap, execution_order, output_kind
    from .model_file import (ModelFileError, construct, describe_exception, import_model_file, input_shape_of,
                             num_classes_of, pick_entry, user_frame_line)
    from .source_map import ConstructionRecorder, optimizer_site
    from .stats import StepRecorder

    path = os.path.abspath(request["modelPath"])
    try:
        if not os.path.isfile(path):
            raise ModelFileError(f"{path}: no such file")
        seed = int(request.get("seed", 42))
        # Bound before the user's file runs: a file may rebind torch functions (the fuzzer tried `torch.manual_seed = None`).
        manual_seed = torch.manual_seed
        manual_seed(seed)
        # One thread unless told otherwise: the run shares the machine with the editor, and on a busy
        # 2-core machine two OpenMP threads made the 10-conv sample's step 4.7× slower (455 ms against 97 ms, README)
        # while each waited for the other; small CNNs gain little from a second thread anyway.
        torch.set_num_threads(max(1, int(os.environ.get("GRADIENT_LENS_TORCH_THREADS", "1"))))
        time_limit_seconds = float(request.get("importTimeoutSeconds", DEFAULT_IMPORT_TIMEOUT))
        module = import_model_file(path, time_limit_seconds)
        entry_name, factory = pick_entry(module, path, request.get("entry"))
        manual_seed(seed)
        with ConstructionRecorder() as recorder:
            model = construct(path, entry_name, factory, time_limit_seconds)
        shape = input_shape_of(module, model, path, request.get("inputShape"))
        model.eval()
        try:
            order, shapes, probe = execution_order(model, torch.zeros(2, *shape))
        except (Exception, SystemExit) as error:  # the user's forward may call sys.exit() too
            line = user_frame_line(error, path)
            reason = describe_exception(error)
            # The shape hint only where the error is about shapes: a NameError in forward is just that.
            hint = "; set the shape with --input-shape C,H,W or INPUT_SHAPE" if re.search(r"shape|size|dimension|mat1|channels|Expected", reason) else ""
            raise ModelFileError(f"{path}: {entry_name}.forward fails on input of shape {[2] + shape} (batch, {', '.join(map(str, shape))}): {reason}"
                                 + (f" on line {line}" if line else "") + hint, detail=traceback.format_exc()) from None
        model.train()
        if not isinstance(probe, torch.Tensor) or probe.dim() != 2:
            got = list(probe.shape) if isinstance(probe, torch.Tensor) else type(probe).__name__
            raise ModelFileError(f"{path}: {entry_name} returns {got} for a batch of 2; a classifier returns [batch, classes]")
        classes = num_classes_of(module, model, int(probe.shape[1]))
        if probe.shape[1] != classes:
            raise ModelFileError(f"{path}: {entry_name} returns {int(probe.shape[1])} scores per example but NUM_CLASSES is {classes}")
        warnings: List[str] = []
        kind = output_kind(probe)
        if kind != "logits":
            warnings.append(f"{entry_name} ends in a {'Softmax' if kind == 'probabilities' else 'LogSoftmax'}: its output is read as {kind} and the loss is the negative log-likelihood")

        try:
            x, y, data_name = datasets.load(str(request.get("data", "auto")), shape, classes, seed,
                                            str(request.get("fashionMnistDir", "")), os.path.dirname(path))
        except datasets.DataError as error:
            raise ModelFileError(str(error)) from None

        site = optimizer_site(path)
        optimizer_name = request.get("optimizer") or (site["className"] if site else "Adam")
        learning_rate = request.get("learningRate") or (site.get("learningRate") if site else None) or (
            0.01 if str(optimizer_name).lower() in ("sgd", "momentum") else 1e-3)
        try:
            optimizer = build_optimizer(torch, model.parameters(), str(optimizer_name), float(learning_rate))
        except ValueError:
            optimizer_name, learning_rate = "Adam", 1e-3
            warnings.append(f"the file's optimizer {site['className'] if site else ''} is not one the analysis runs; using Adam 1e-3")
            optimizer = build_optimizer(torch, model.parameters(), "adam", 1e-3)

        model_map = ModelMap(model, recorder, path, order, shapes)
        stats = StepRecorder(model_map.instrumented(), model_map.taps(), int(request.get("activationEvery", 1))).attach()
        ready: Dict[str, Any] = {
            "type": "ready", "protocolVersion": PROTOCOL_VERSION, "torchVersion": torch.__version__,
            "pythonVersion": sys.version.split()[0], "entry": entry_name, "inputShape": shape, "numClasses": classes,
            "optimizer": str(optimizer_name), "learningRate": float(learning_rate),
            "loss": "cross_entropy" if kind == "logits" else "nll", "data": data_name,
            "layers": model_map.describe(), "warnings": warnings,
        }
        if site:
            ready["optimizerSite"] = site
        channel.send(ready)

        def loss_of(output: Any, target: Any) -> Any:
            if kind == "logits":
                return F.cross_entropy(output, target)
            if kind == "probabilities":
                return F.nll_loss(torch.log(output.clamp_min(1e-12)), target)
            return F.nll_loss(output, target)

        sampler = datasets.BatchSampler(x, y, int(request.get("batchSize", 32)), seed)
        steps = int(request.get("steps", 100))
        if request.get("lrRangeTest"):
            # The range test instead of the instrumented run (lr_range.py): same model, seed and batches.
            from .lr_range import run_range_test
            stats.detach()
            points = run_range_test(torch, model, optimizer, sampler.next, loss_of, request["lrRangeTest"], lambda: cancellation.requested)
            channel.send({"type": "lrRange", "points": points})
            channel.send({"type": "done", "cancelled": cancellation.requested, "stepsCompleted": 0})
            return 0
        completed = 0
        for step in range(steps):
            if cancellation.requested:
                break
            inputs, targets = sampler.next()
            stats.start_step(step)
            optimizer.zero_grad(set_to_none=True)
            try:
                output = model(inputs)
                loss = loss_of(output, targets)
                loss.backward()
            except (Exception, SystemExit) as error:
                line = user_frame_line(error, path)
                raise ModelFileError(f"{path}: training step {step} failed: {describe_exception(error)}" + (f" on line {line}" if line else ""),
                                     detail=traceback.format_exc()) from None
            stats.before_update()
            optimizer.step()
            with torch.no_grad():
                # mean(dtype=) over the comparison: one torch call fewer than .float().mean(), each 4–15 µs here (stats.py).
                accuracy = torch.mean(output.argmax(dim=1) == targets, dtype=torch.float32)
            channel.send({"type": "step", "stats": stats.after_update(step, loss, accuracy)})
            completed = step + 1
        stats.detach()
        channel.send({"type": "done", "cancelled": completed < steps, "stepsCompleted": completed})
        return 0
    except ModelFileError as error:
        message: Dict[str, Any] = {"type": "error", "code": error.code, "message": error.message}
        if error.detail:
            message["detail"] = error.detail
        if error.candidates:
            message["candidates"] = error.candidates
        if error.layer:
            message["layer"] = error.layer
        channel.send(message)
        return EXIT_BAD_INPUT
    except Exception as error:  # a bug of ours: one line for the user, the traceback for the log
        channel.send({"type": "error", "code": "internal", "message": f"{path}: the PyTorch trainer failed: {describe_exception(error)}",
                      "detail": traceback.format_exc()})
        return EXIT_INTERNAL


def main() -> int:
    from .allocator import keep_freed_memory

    keep_freed_memory()
    channel = MessageChannel()
    line = sys.stdin.readline()
    try:
        request = json.loads(line)
    except ValueError:
        channel.send({"type": "error", "code": "internal", "message": "the trainer got no start request on stdin"})
        return EXIT_INTERNAL
    if request.get("protocolVersion") != PROTOCOL_VERSION:
        channel.send({"type": "error", "code": "internal",
                      "message": f"the engine speaks PyTorch protocol {request.get('protocolVersion')}, this trainer {PROTOCOL_VERSION}: reinstall the extension"})
        return EXIT_INTERNAL
    cancellation = Cancellation()
    cancellation.listen()
    return run(request, channel, cancellation)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Daemon threads (the stdin reader) must not keep the process, nor user threads left running.
    os._exit(code)
