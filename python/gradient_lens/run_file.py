"""Run files: what `watch()` records of a real training run, as append-only JSON lines.

Kept in step with src/engine/watch/runFile.ts (the reader) and DESIGN.md ("Watching real
training"). One JSON object per line, each flushed as written, so a reader following the file
sees every record as soon as it exists and a process killed mid-write loses at most its last,
truncated line (readers skip it):

    {"type": "header", "format": "gradient-lens-run", "protocolVersion": 1, ...}
    {"type": "step", "stats": StepStats, "skippedSteps": n, "learningRate": x, "time": t}
    ...
    {"type": "close", "status": "completed" | "failed", "steps": n, "loggedSteps": m, ...}

A file without a close record ended abnormally: the process was killed or crashed, or a rank
started by torch.multiprocessing failed or ended without `run.close()`. A script that ends
without calling it gets a close record at interpreter exit ("failed" after an uncaught
exception), written without any collective.
"""
from __future__ import annotations

import os
import re
import sys
import time
from typing import Any, Dict, Optional, TextIO

from .protocol import encode_message

RUN_FILE_FORMAT = "gradient-lens-run"
RUN_FILE_VERSION = 1
RUN_DIR_ENV = "GRADIENT_LENS_RUN_DIR"


def run_directory(explicit: Optional[str] = None) -> str:
    """`explicit`, else $GRADIENT_LENS_RUN_DIR, else .gradient-lens/runs under the working directory."""
    chosen = explicit or os.environ.get(RUN_DIR_ENV) or os.path.join(os.getcwd(), ".gradient-lens", "runs")
    return os.path.abspath(chosen)


def script_name() -> str:
    """The training script's name without `.py`, safe as part of a file name."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else "python"
    base = os.path.splitext(os.path.basename(argv0))[0] or "python"
    if base in ("-c", "-m", ""):
        base = "python"
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", base)[:60]


class RunFileWriter:
    """Creates `<time>-<script>.jsonl` (never overwriting) and appends one flushed line per record."""

    def __init__(self, directory: str, name: Optional[str] = None) -> None:
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as error:
            raise RuntimeError(f"gradient_lens.watch: cannot create the run folder {directory}: {error.strerror or error}") from None
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        base = f"{stamp}-{name or script_name()}"
        self.path = ""
        self._stream: Optional[TextIO] = None
        for attempt in range(1000):
            candidate = os.path.join(directory, f"{base}{'' if attempt == 0 else f'-{attempt}'}.jsonl")
            try:
                # 'x': two runs started in the same second never share a file.
                self._stream = open(candidate, "x", encoding="utf-8")
                self.path = candidate
                break
            except FileExistsError:
                continue
            except OSError as error:
                raise RuntimeError(f"gradient_lens.watch: cannot create the run file {candidate}: {error.strerror or error}") from None
        if self._stream is None:
            raise RuntimeError(f"gradient_lens.watch: no free run file name for {base} in {directory}")

    def write(self, record: Dict[str, Any]) -> None:
        if self._stream is None:
            return
        self._stream.write(encode_message(record) + "\n")
        self._stream.flush()

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    @property
    def closed(self) -> bool:
        return self._stream is None
