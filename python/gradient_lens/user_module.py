"""Running the user's `.py` file as a module, under a time limit, with errors that name the file:
shared by the PyTorch trainer (model_file) and the Keras exporter (keras_export). No framework
import here."""
from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import sys
import traceback
import types
from typing import Any, Dict, Iterator, List, Optional


class ModelFileError(Exception):
    """A problem with the user's file: `message` is one line naming the file."""

    def __init__(self, message: str, detail: Optional[str] = None, candidates: Optional[List[Dict[str, Any]]] = None,
                 code: str = "bad-input", layer: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.candidates = candidates
        self.code = code
        self.layer = layer


class _ImportTimeout(BaseException):
    """BaseException: the user's code must not swallow it with `except Exception`."""


def user_frame_line(error: BaseException, path: str) -> Optional[int]:
    """The last line of the user's file in the traceback (1-based), where the error happened."""
    real = os.path.realpath(path)
    line = None
    for frame in traceback.extract_tb(error.__traceback__):
        if os.path.realpath(frame.filename) == real:
            line = frame.lineno
    return line


def describe_exception(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip().splitlines()
    return text[0] if text else type(error).__name__


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raises _ImportTimeout in the main thread after `seconds` (SIGALRM; no limit where there is none)."""
    if not hasattr(signal, "SIGALRM") or seconds <= 0:
        yield
        return

    def on_alarm(_signum: int, _frame: Any) -> None:
        raise _ImportTimeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def import_model_file(path: str, timeout_seconds: float) -> types.ModuleType:
    """Runs the user's file as a module named for it (not `__main__`, so a training script's
    `if __name__ == "__main__":` block stays quiet), with its folder first on sys.path."""
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = os.path.splitext(os.path.basename(path))[0].replace("-", "_").replace(".", "_") or "model"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModelFileError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module

    try:
        with time_limit(timeout_seconds):
            spec.loader.exec_module(module)
    except _ImportTimeout:
        raise ModelFileError(f"{path}: importing the file did not finish within {timeout_seconds:g} s (move long work under `if __name__ == \"__main__\":`)",
                             code="import-timeout") from None
    except SyntaxError as error:
        raise ModelFileError(f"{path}: syntax error on line {error.lineno}: {error.msg}", detail=traceback.format_exc()) from None
    except BaseException as error:  # noqa: B902 — the user's code may raise anything, SystemExit included
        line = user_frame_line(error, path)
        where = f" on line {line}" if line else ""
        raise ModelFileError(f"{path}: importing the file raised {describe_exception(error)}{where}", detail=traceback.format_exc()) from None
    return module
