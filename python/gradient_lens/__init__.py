"""Gradient Lens for PyTorch: the short instrumented run the editor and the CLI start
(`python -m gradient_lens.trainer`), the per-layer statistics it streams (`stats`), where each
module was built in the user's source (`source_map`), and `watch()` for real training runs
(`watcher`, writing run files: `run_file`)."""
from typing import Any

__version__ = "0.1.0"


def watch(model: Any, optimizer: Any, every: int = 10, scaler: Any = None, run_dir: Any = None, name: Any = None) -> Any:
    """`gradient_lens.watcher.watch`: imported on first use, so `python -m gradient_lens.trainer` can
    still report a missing torch as one clear message instead of failing at package import."""
    from .watcher import watch as _watch

    return _watch(model, optimizer, every=every, scaler=scaler, run_dir=run_dir, name=name)
