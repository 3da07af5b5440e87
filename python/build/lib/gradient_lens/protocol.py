"""The engine ↔ trainer protocol of src/shared/pytorchProtocol.ts, as TypedDicts.

Requests arrive on stdin, one JSON object per line; messages leave on file descriptor 3, one
JSON object per line, so nothing the user's code prints can corrupt them. Keep in step with
the TypeScript file; bump PROTOCOL_VERSION with it.
"""
from __future__ import annotations

import json
import os
import threading
from typing import Any, Dict, List, Optional, TextIO

try:  # Python 3.8+: typing.TypedDict; total=False keeps optional keys optional.
    from typing import TypedDict
except ImportError:  # pragma: no cover
    TypedDict = dict  # type: ignore

PROTOCOL_VERSION = 1


class Position(TypedDict):
    line: int
    character: int


class Range(TypedDict):
    start: Position
    end: Position


class SourceSite(TypedDict, total=False):
    file: str
    range: Range
    statementRange: Range
    indent: str
    container: str  # 'attribute' | 'sequential' | 'other'


class LayerStepStats(TypedDict, total=False):
    layer: str
    gradL2: float
    gradRms: float
    gradMeanAbs: float
    gradMaxAbs: float
    gradZeroFraction: float
    gradNonFinite: float
    weightL2: float
    updateRatio: float
    activationMean: float
    activationStd: float
    deadFraction: float
    saturatedFraction: float


class StepStats(TypedDict, total=False):
    step: int
    loss: float
    accuracy: float
    layers: List[LayerStepStats]


class MessageChannel:
    """Writes one JSON object per line to fd 3 (or a given stream), flushed per message."""

    def __init__(self, stream: Optional[TextIO] = None) -> None:
        if stream is None:
            try:
                stream = os.fdopen(3, "w", buffering=1, encoding="utf-8")
            except OSError as error:
                raise RuntimeError(
                    "gradient_lens.trainer writes its messages to file descriptor 3, which is not open: "
                    "it is started by the Gradient Lens engine, not by hand"
                ) from error
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, message: Dict[str, Any]) -> None:
        # NaN is not JSON; the TypeScript reader maps the token back (see encode_message).
        line = encode_message(message)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()


def encode_message(message: Dict[str, Any]) -> str:
    """JSON with NaN and ±Infinity as null / ±1e999 so JavaScript's JSON.parse reads every line
    (1e999 parses to Infinity there; NaN has no JSON spelling, and a null figure is read as NaN)."""
    text = json.dumps(message, allow_nan=True, separators=(",", ":"))
    if "NaN" in text or "Infinity" in text:
        text = _replace_non_finite(text)
    return text


def _replace_non_finite(text: str) -> str:
    # Only bare tokens outside strings: walk the text once, tracking string state.
    out: List[str] = []
    i, n, in_string = 0, len(text), False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\":
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_string = False
            i += 1
            continue
        if c == '"':
            in_string = True
            out.append(c)
            i += 1
        elif text.startswith("NaN", i):
            out.append("null")
            i += 3
        elif text.startswith("-Infinity", i):
            out.append("-1e999")
            i += 9
        elif text.startswith("Infinity", i):
            out.append("1e999")
            i += 8
        else:
            out.append(c)
            i += 1
    return "".join(out)
