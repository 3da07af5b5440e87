"""Gradient Lens for PyTorch: the short instrumented run the editor and the CLI start
(`python -m gradient_lens.trainer`), the per-layer statistics it streams (`stats`), and where
each module was built in the user's source (`source_map`)."""

__version__ = "0.1.0"
