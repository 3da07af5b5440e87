"""`gradient_lens.watch(model, optimizer)`: the short run's statistics on the user's real training.

    run = watch(model, optimizer, every=10)
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()          # recorded here, from p.grad, on every 10th step
        optimizer.zero_grad()
        run.log(loss)             # optional; a tensor is read only on logged steps
    run.close()

Why it is built this way (FACTS.md, "Python on these machines"):
- Gradients are read from `p.grad` when `optimizer.step` runs (the bound method is wrapped: torch
  1.13 has no step hooks), so they are the ones the optimizer uses: after gradient accumulation,
  after DDP's all-reduce, unscaled under `GradScaler` (its `step` unscales before calling ours).
  Parameter hooks would see per-micro-batch, per-rank, scaled values.
- Activations come from forward hooks installed for logged steps only (the `StepRecorder` of the
  short run, unchanged): a step that is not logged runs no hook of ours but the model's one
  forward pre-hook that counts steps; full backward hooks break on Conv → BN → ReLU(inplace=True).
- One host sync per logged step (the recorder's read-back) and none on the other steps.
- Under torch.distributed every rank computes and takes part in one all-reduce of the step's
  figures on every logged step, at the same point of the step on every rank; rank 0 writes.
  A collective on one rank only hangs every rank (the `wandb.watch` hang).
"""
from __future__ import annotations

import atexit
import gc
import inspect
import math
import multiprocessing
import os
import sys
import time
import types
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .layers import ModelMap
from .protocol import PROTOCOL_VERSION
from .run_file import RUN_FILE_FORMAT, RUN_FILE_VERSION, RunFileWriter, run_directory
from .site_locator import CONTAINERS, container_root_site, locate_sites
from .source_map import is_user_file, iter_named, optimizer_site
from .stats import StepRecorder

__all__ = ["watch", "WatchedRun"]


def unwrap(model: nn.Module) -> nn.Module:
    """The user's module inside DistributedDataParallel / DataParallel, so names carry no `module.`."""
    inner = model
    while isinstance(inner, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        inner = inner.module
    return inner


def _distributed() -> Tuple[bool, int, int, Optional[str]]:
    """(initialised, rank, world size, backend) of the default process group."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return True, dist.get_rank(), dist.get_world_size(), str(dist.get_backend())
    return False, 0, 1, None


class WatchedRun:
    """One watched training run; `watch()` makes it. Call `log`, `close` on every rank."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, every: int = 10, scaler: Any = None,
                 run_dir: Optional[str] = None, name: Optional[str] = None) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"gradient_lens.watch: model must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"gradient_lens.watch: optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        if int(every) < 1:
            raise ValueError(f"gradient_lens.watch: every must be ≥ 1, got {every}")
        self.model = model
        self.inner = unwrap(model)
        self.optimizer = optimizer
        self.every = int(every)
        self.scaler = scaler
        self.distributed, self.rank, self.world_size, self.backend = _distributed()
        self._run_dir = run_dir
        self._name = name
        self.path: Optional[str] = None
        self.step = 0                 # index of the next optimizer step (skipped ones count: they were steps of the loop)
        self.logged_steps = 0
        self.skipped_steps = 0
        self._step_calls = 0
        self._recorder: Optional[StepRecorder] = None
        self._layer_names: List[str] = []
        self._writer: Optional[RunFileWriter] = None
        self._started = False         # start_step() called for self.step
        self._pending: Optional[int] = None   # a logged step updated, waiting for its loss
        self._losses: List[torch.Tensor] = []
        self._accuracies: List[torch.Tensor] = []
        self._probing = False
        self._closed = False
        self._failure: Optional[str] = None
        self._handles: List[Any] = []
        self._optimizer_had_own_step = "step" in optimizer.__dict__
        self._original_step = optimizer.step
        self._original_scaler_step: Optional[Callable[..., Any]] = None
        # A model that is itself an nn.Sequential has no class of the user's to read: the call in the
        # script that built it is found now, while the script's frame (calling watch) is on the stack.
        self._root_site = container_root_site(sys._getframe(1), [model, self.inner]) if isinstance(self.inner, CONTAINERS) else None
        self._install()

    # ──── installing and removing ────

    def _install(self) -> None:
        # Strong references: `watch(model, optimizer)` whose result is not kept must go on recording
        # (the wrapped step keeps the run alive as long as the optimizer lives).
        run = self
        original = self._original_step

        def step(_optimizer: torch.optim.Optimizer, *args: Any, **kwargs: Any) -> Any:
            return run._optimizer_step(original, *args, **kwargs)

        # A bound method, not a plain function: torch 2.x LR schedulers wrap `optimizer.step.__func__`.
        self.optimizer.step = types.MethodType(step, self.optimizer)  # type: ignore[method-assign]
        self._handles.append(self.inner.register_forward_pre_hook(lambda module, inputs: run._before_forward(inputs)))
        if self.scaler is not None and getattr(self.scaler, "step", None) is not None:
            self._original_scaler_step = self.scaler.step
            scaler_original = self.scaler.step

            def scaler_step(_scaler: Any, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
                return run._scaler_step(scaler_original, optimizer, *args, **kwargs)

            self.scaler.step = types.MethodType(scaler_step, self.scaler)
        atexit.register(self._at_exit)
        self._previous_excepthook = sys.excepthook
        sys.excepthook = self._excepthook

    def _uninstall(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        if self._recorder is not None:
            self._recorder.detach()
        if self._optimizer_had_own_step:
            self.optimizer.step = self._original_step  # type: ignore[method-assign]
        else:
            self.optimizer.__dict__.pop("step", None)
        if self._original_scaler_step is not None:
            self.scaler.__dict__.pop("step", None)
        atexit.unregister(self._at_exit)
        if sys.excepthook == self._excepthook:
            sys.excepthook = self._previous_excepthook

    # ──── the first forward: layers, taps, header ────

    def _set_up(self, inputs: Tuple[Any, ...]) -> None:
        """Runs once, before the first forward: one probing forward on two examples (eval mode, no
        grad, the user's module itself so DDP runs no collective) gives the execution order and
        output shapes the layer map needs; then the recorder is attached and rank 0 writes the header."""
        order, shapes, output = self._probe(inputs)
        model_map = ModelMap(self.inner, locate_sites(self.inner, self._root_site), self._model_file(), order, shapes)
        instrumented = model_map.instrumented()
        self._layer_names = [layer.name for layer in instrumented]
        self._recorder = StepRecorder(instrumented, model_map.taps(), self.every).attach()
        if self.distributed and self.world_size > 1:
            self._recorder.share_with_ranks(self.rank, self.world_size)
        if self.rank == 0:
            self._writer = RunFileWriter(run_directory(self._run_dir), self._name)
            self.path = self._writer.path
            self._writer.write(self._header(model_map, output))

    def _probe(self, inputs: Tuple[Any, ...]) -> Tuple[List[str], Dict[str, List[int]], Any]:
        order: List[str] = []
        shapes: Dict[str, List[int]] = {}
        handles = []
        for name, module in iter_named(self.inner):
            if next(module.children(), None) is not None:
                continue

            def hook(_m: nn.Module, _i: Any, out: Any, name: str = name) -> None:
                order.append(name)
                if isinstance(out, torch.Tensor) and name not in shapes:
                    shapes[name] = list(out.shape[1:])

            handles.append(module.register_forward_hook(hook))
        modes = [(module, module.training) for module in self.inner.modules()]
        sample = tuple(t[:2] if isinstance(t, torch.Tensor) and t.dim() > 0 else t for t in inputs)
        output: Any = None
        self._probing = True
        try:
            # eval(): BatchNorm's running statistics and dropout's randomness stay the user's.
            self.inner.eval()
            with torch.no_grad():
                output = self.inner(*sample)
        except Exception:
            # A forward that needs keyword arguments or more than two examples: declaration order stands in.
            order = [name for name, m in iter_named(self.inner) if next(m.children(), None) is None]
        finally:
            self._probing = False
            for module, training in modes:
                module.training = training
            for handle in handles:
                handle.remove()
        return order, shapes, output

    def _model_file(self) -> str:
        """The file defining the model's class; for a torch class (`nn.Sequential`), the file that built it, else the script."""
        try:
            found = inspect.getsourcefile(type(self.inner))
        except (TypeError, OSError):
            found = None
        if found is None or not is_user_file(found):
            found = self._root_site[0] if self._root_site else None
        return os.path.abspath(found or (sys.argv[0] if sys.argv and sys.argv[0] else os.getcwd()))

    def _header(self, model_map: ModelMap, output: Any) -> Dict[str, Any]:
        group = self.optimizer.param_groups[0] if self.optimizer.param_groups else {}
        header: Dict[str, Any] = {
            "type": "header", "format": RUN_FILE_FORMAT, "protocolVersion": RUN_FILE_VERSION,
            "statsProtocolVersion": PROTOCOL_VERSION, "framework": "pytorch",
            "torchVersion": torch.__version__, "pythonVersion": sys.version.split()[0],
            "script": os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else "", "cwd": os.getcwd(),
            "pid": os.getpid(), "startedAt": time.time(),
            "modelFile": model_map.model_file, "entry": type(self.inner).__name__,
            "optimizer": type(self.optimizer).__name__, "learningRate": float(group.get("lr", 0.0)),
            "momentum": float(group.get("momentum", 0.0) or 0.0) if "momentum" in group else None,
            "every": self.every,
            "distributed": self.distributed, "worldSize": self.world_size,
            # Ranks whose figures each record combines (all of the default group's).
            "rankCount": self.world_size, "backend": self.backend,
            "localWorldSize": int(os.environ.get("LOCAL_WORLD_SIZE", "1" if not self.distributed else str(self.world_size))),
            "device": str(next(self.inner.parameters()).device) if any(True for _ in self.inner.parameters()) else "cpu",
            "gradScaler": self.scaler is not None,
            "layers": model_map.describe(),
        }
        script = header["script"]
        site = optimizer_site(script) if script and os.path.isfile(script) else None
        # The learning-rate fixes edit the script's literal `torch.optim.X(..., lr=…)` when it is this optimizer's.
        if site is not None and site.get("className") == type(self.optimizer).__name__:
            header["optimizerSite"] = site
        if isinstance(output, torch.Tensor) and output.dim() == 2:
            header["numClasses"] = int(output.shape[1])
            header["outputShape"] = list(output.shape[1:])
        return header

    # ──── the loop's events ────

    def _before_forward(self, inputs: Tuple[Any, ...]) -> None:
        if self._probing or self._closed:
            return
        if self._recorder is None:
            self._set_up(inputs)
        if self._pending is not None:
            # The previous logged step got no loss before this forward: it is written without one.
            self._finish_step()
        if not self._started and self._recorder is not None:
            self._recorder.start_step(self.step)
            self._started = True

    def _optimizer_step(self, original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._closed or self._recorder is None:
            return original(*args, **kwargs)
        if self._pending is not None:
            self._finish_step()
        logged = self.step % self.every == 0
        if logged:
            self._recorder.before_update()
        result = original(*args, **kwargs)
        self._step_calls += 1
        if logged:
            self._pending = self.step
            if self._losses:
                self._finish_step()
        else:
            self._losses, self._accuracies = [], []
        self._advance()
        return result

    def _scaler_step(self, original: Callable[..., Any], optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        calls = self._step_calls
        result = original(optimizer, *args, **kwargs)
        if optimizer is self.optimizer and self._step_calls == calls and not self._closed:
            # GradScaler found inf/NaN in the unscaled gradients and skipped the update: counted, not recorded
            # (its gradients are the scaler's overflow, which it handles, not the model's).
            self.skipped_steps += 1
            self._losses, self._accuracies = [], []
            self._advance()
        return result

    def _advance(self) -> None:
        self.step += 1
        self._started = False

    def log(self, loss: Any, accuracy: Any = None) -> None:
        """The loss (and optionally accuracy) of the current step; a tensor is kept, not read,
        except on logged steps, where it joins that step's one read-back."""
        if self._closed:
            return
        if self._pending is not None:
            # After optimizer.step(): the loss of the step just recorded.
            self._losses.append(_as_tensor(loss))
            if accuracy is not None:
                self._accuracies.append(_as_tensor(accuracy))
            self._finish_step()
            return
        if self.step % self.every == 0:
            # Before optimizer.step() (micro-batches of an accumulated step each log one): kept for it.
            self._losses.append(_as_tensor(loss))
            if accuracy is not None:
                self._accuracies.append(_as_tensor(accuracy))

    def _finish_step(self) -> None:
        step, self._pending = self._pending, None
        if step is None or self._recorder is None:
            return
        logged_loss = bool(self._losses)
        device = self._figure_device()
        loss = _mean_of(self._losses, device) if self._losses else torch.full((), math.nan, device=device)
        accuracy = _mean_of(self._accuracies, device) if self._accuracies else None
        self._losses, self._accuracies = [], []
        stats = self._recorder.after_update(step, loss, accuracy, reduce=self._reduce if self.distributed and self.world_size > 1 else None)
        self.logged_steps += 1
        if self._writer is not None:
            if not logged_loss:
                # No run.log() this step: the reader must not take an unknown loss for a non-finite one.
                stats.pop("loss", None)
            group = self.optimizer.param_groups[0] if self.optimizer.param_groups else {}
            self._writer.write({"type": "step", "stats": stats, "skippedSteps": self.skipped_steps,
                                "learningRate": float(group.get("lr", 0.0)), "time": time.time()})

    def _figure_device(self) -> torch.device:
        for p in self.inner.parameters():
            return p.device
        return torch.device("cpu")

    def _reduce(self, figures: torch.Tensor) -> torch.Tensor:
        """The sum over the ranks of the recorder's step tensor (its layout and what the sum means
        are stats.StepRecorder's): the one collective of a logged step, taken on every rank. nccl
        reduces tensors on the GPU only, so a CPU tensor travels to the model's device and back."""
        tensor = figures.clone()
        if tensor.device.type == "cpu" and self.backend == "nccl":
            tensor = tensor.to(self._figure_device())
        torch.distributed.all_reduce(tensor)
        return tensor.to(figures.device)

    # ──── ending ────

    def close(self, status: str = "completed", error: Optional[str] = None) -> None:
        """Writes the close record (rank 0) and removes every hook; call it on every rank."""
        if self._closed:
            return
        try:
            # The last logged step's record, if it waits for a loss: written now, unless that needs a
            # collective while failing (another rank may be gone).
            if self._pending is not None and (status == "completed" or not (self.distributed and self.world_size > 1)):
                try:
                    self._finish_step()
                except Exception:
                    if status == "completed":
                        raise
        finally:
            self._closed = True
            self._uninstall()
            if self._writer is not None:
                record: Dict[str, Any] = {"type": "close", "status": status, "steps": self.step,
                                          "loggedSteps": self.logged_steps, "skippedSteps": self.skipped_steps, "time": time.time()}
                if error:
                    record["error"] = error
                self._writer.write(record)
                self._writer.close()
            # Nothing of the user's stays reachable from a closed run, and what it let go of goes now:
            # left to a later garbage collection (the logged losses carry the step's autograd graph
            # and through it DDP's reducer), the teardown ran at a random moment after the script's
            # destroy_process_group(), and about one 2-rank run in ten hung (train_ddp.py explode on
            # torch 1.13; 6 in 20 with the references dropped but no collection; 0 in 40 with this).
            self._recorder = None
            self.model = self.inner = self.optimizer = self.scaler = None  # type: ignore[assignment]
            self._original_step = self._original_scaler_step = None  # type: ignore[assignment]
            self._losses, self._accuracies = [], []
            gc.collect()

    def _excepthook(self, kind: type, value: BaseException, traceback: Any) -> None:
        self._failure = f"{kind.__name__}: {value}"
        self._previous_excepthook(kind, value, traceback)

    def _at_exit(self) -> None:
        """A script that ends without run.close(): the close record says how, where that is known.
        An uncaught exception reached the hook above first (status failed). A multiprocessing child
        (torch.multiprocessing.spawn) exits through here after its target failed too, and its
        failure never reaches the hook: it writes nothing, and the file says it ended abnormally."""
        if self._closed or multiprocessing.parent_process() is not None:
            return
        if self.distributed and self.world_size > 1:
            # No collective at exit: the other ranks may be gone. The last logged step, if its record waits, is lost.
            self._pending = None
        self.close("failed" if self._failure else "completed", self._failure)

    def __enter__(self) -> "WatchedRun":
        return self

    def __exit__(self, kind: Optional[type], value: Optional[BaseException], traceback: Any) -> None:
        if kind is None:
            self.close()
        else:
            self.close("failed", f"{kind.__name__}: {value}")


def _mean_of(values: List[torch.Tensor], device: torch.device) -> torch.Tensor:
    """The mean of a step's logged values (one per micro-batch), as a float 0-d tensor on `device`.
    The usual single value passes through untouched: each torch call after the step costs 4–15 µs
    (stats.StepRecorder.before_update), and the recorder reshapes and converts it anyway."""
    if len(values) == 1:
        value = values[0]
        return value if value.device == device else value.to(device)
    return torch.stack([v.to(device).float().reshape(()) for v in values]).mean()


def _as_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach()
    return torch.tensor(float(value))


def watch(model: nn.Module, optimizer: torch.optim.Optimizer, every: int = 10, scaler: Any = None,
          run_dir: Optional[str] = None, name: Optional[str] = None) -> WatchedRun:
    """Records per-layer gradient, update and activation statistics of a real training run every
    `every` optimizer steps into `.gradient-lens/runs/<time>-<script>.jsonl` (or $GRADIENT_LENS_RUN_DIR,
    or `run_dir`). Pass `scaler=` (a `GradScaler`) to count the steps it skips. Under
    torch.distributed call it on every rank; rank 0 writes."""
    return WatchedRun(model, optimizer, every, scaler, run_dir, name)
