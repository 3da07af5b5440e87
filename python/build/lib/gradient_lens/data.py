"""Training data for the short run, as the TF.js engine makes it (src/engine/data/): the shipped
Fashion-MNIST subset for 1×28×28 inputs with 10 classes, a learnable synthetic set for every
other shape, or the user's IDX files / `.npy` pair. NCHW, float32, pixels scaled to [0, 1]."""
from __future__ import annotations

import gzip
import math
import os
import struct
from typing import Callable, List, Sequence, Tuple

import torch

FASHION_IMAGES = "train-images-idx3-ubyte.gz"
FASHION_LABELS = "train-labels-idx1-ubyte.gz"
# The TF.js side caps every data set at 16 Mi numbers (src/engine/data/dataset.ts).
MAX_DATASET_ELEMENTS = 16 * 1024 * 1024
MAX_SYNTHETIC_EXAMPLES = 1024


class DataError(ValueError):
    """A data file or setting that cannot be used; the message names it."""


def mulberry32(seed: int) -> Callable[[], float]:
    """src/engine/train/random.ts's generator, so batch order follows the same seed the same way."""
    state = [seed & 0xFFFFFFFF]

    def imul(a: int, b: int) -> int:
        return (a * b) & 0xFFFFFFFF

    def next_value() -> float:
        state[0] = (state[0] + 0x6D2B79F5) & 0xFFFFFFFF
        t = state[0]
        t = imul(t ^ (t >> 15), t | 1)
        t ^= (t + imul(t ^ (t >> 7), t | 61)) & 0xFFFFFFFF
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296

    return next_value


def fits_fashion_mnist(shape: Sequence[int], classes: int) -> bool:
    return classes == 10 and tuple(shape) in ((1, 28, 28), (28, 28), (784,))


def read_idx(path: str) -> torch.Tensor:
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:  # type: ignore[operator]
            data = handle.read()
    except OSError as error:
        raise DataError(f"{path}: cannot be read ({error})") from error
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(f"{path}: not an IDX file of unsigned bytes")
    dims = data[3]
    header = 4 + 4 * dims
    shape = struct.unpack(">" + "I" * dims, data[4:header])
    count = math.prod(shape)
    if len(data) - header < count:
        raise DataError(f"{path}: holds {len(data) - header} bytes of data, its header says {count}")
    return torch.frombuffer(bytearray(data[header:header + count]), dtype=torch.uint8).reshape(*shape)


def fashion_mnist(folder: str, shape: Sequence[int]) -> Tuple[torch.Tensor, torch.Tensor]:
    x = read_idx(os.path.join(folder, FASHION_IMAGES)).float().div_(255)
    y = read_idx(os.path.join(folder, FASHION_LABELS)).long()
    return x.reshape(x.shape[0], *shape), y


def synthetic(shape: Sequence[int], classes: int, seed: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Class prototypes of a few low-frequency waves over every axis plus a class offset; an
    example is its prototype at a random amplitude plus noise (src/engine/data/synthetic.ts's recipe)."""
    generator = torch.Generator().manual_seed(seed)
    size = math.prod(shape)
    grids = torch.meshgrid(*[torch.arange(d, dtype=torch.float64) for d in shape], indexing="ij") if len(shape) > 1 \
        else (torch.arange(shape[0], dtype=torch.float64),)
    prototypes: List[torch.Tensor] = []
    for _ in range(classes):
        pattern = torch.zeros(tuple(shape), dtype=torch.float64)
        for _wave in range(4):
            cycles = 2 * (2 * torch.rand(len(shape), generator=generator, dtype=torch.float64) - 1)
            phase = 2 * math.pi * torch.rand((), generator=generator, dtype=torch.float64)
            weight = torch.randn((), generator=generator, dtype=torch.float64)
            angle = phase + sum(2 * math.pi * cycles[axis] * grids[axis] / shape[axis] for axis in range(len(shape)))
            pattern += weight * torch.sin(angle)
        flat = pattern.flatten()
        std = float(flat.std(unbiased=False)) or 1.0
        flat = (flat - flat.mean()) / std + 0.3 * torch.randn((), generator=generator, dtype=torch.float64)
        prototypes.append(flat)
    n = max(classes * 8, min(MAX_SYNTHETIC_EXAMPLES, MAX_DATASET_ELEMENTS // max(1, size)))
    labels = torch.arange(n) % classes
    amplitude = 1 + 0.3 * (2 * torch.rand(n, 1, generator=generator, dtype=torch.float64) - 1)
    x = amplitude * torch.stack(prototypes)[labels] + 0.8 * torch.randn(n, size, generator=generator, dtype=torch.float64)
    return x.float().reshape(n, *shape), labels


def npy(path: str) -> torch.Tensor:
    """A `.npy` file (little-endian float32/float64/uint8/int32/int64, C order) without numpy."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise DataError(f"{path}: cannot be read ({error})") from error
    if not data.startswith(b"\x93NUMPY"):
        raise DataError(f"{path}: not a .npy file")
    major = data[6]
    header_len = struct.unpack("<H" if major == 1 else "<I", data[8:10] if major == 1 else data[8:12])[0]
    start = (10 if major == 1 else 12) + header_len
    header = data[start - header_len:start].decode("latin1")
    import ast
    try:
        meta = ast.literal_eval(header)
    except (ValueError, SyntaxError) as error:
        raise DataError(f"{path}: unreadable .npy header") from error
    if meta.get("fortran_order"):
        raise DataError(f"{path}: Fortran-ordered arrays are not read; save with C order")
    dtypes = {"<f4": torch.float32, "<f8": torch.float64, "|u1": torch.uint8, "<i4": torch.int32, "<i8": torch.int64}
    dtype = dtypes.get(meta.get("descr"))
    if dtype is None:
        raise DataError(f"{path}: dtype {meta.get('descr')} is not read (float32/64, uint8, int32/64)")
    shape = tuple(meta.get("shape", ()))
    count = math.prod(shape)
    item = torch.empty((), dtype=dtype).element_size()
    if len(data) - start < count * item:
        raise DataError(f"{path}: truncated: {len(data) - start} bytes for {count} values")
    return torch.frombuffer(bytearray(data[start:start + count * item]), dtype=dtype).reshape(shape)


def user_data(spec: str, shape: Sequence[int], classes: int, base: str) -> Tuple[torch.Tensor, torch.Tensor, str]:
    path = spec if os.path.isabs(spec) else os.path.join(base, spec)
    if path.endswith(".npy") or os.path.exists(path + "-x.npy") or os.path.exists(os.path.join(path, "x.npy")):
        x_path, y_path = _npy_pair(path)
        x, y = npy(x_path), npy(y_path).long()
    elif os.path.isdir(path):
        raise DataError(f"{path}: image folders are read for Keras/TF.js models only; for PyTorch use IDX files or a .npy pair")
    else:
        images = path if os.path.exists(path) else f"{path}-images-idx3-ubyte.gz"
        labels = images.replace("images-idx3", "labels-idx1")
        x, y = read_idx(images), read_idx(labels).long()
    if x.dtype == torch.uint8:
        x = x.float().div_(255)
    x = x.float()
    if x.shape[0] != y.shape[0]:
        raise DataError(f"{path}: {x.shape[0]} examples but {y.shape[0]} labels")
    if math.prod(x.shape[1:]) != math.prod(shape):
        raise DataError(f"{path}: examples of shape {list(x.shape[1:])} do not fit the model's input {list(shape)}")
    if int(y.max()) >= classes or int(y.min()) < 0:
        raise DataError(f"{path}: labels run from {int(y.min())} to {int(y.max())}; the model has {classes} classes")
    return x.reshape(x.shape[0], *shape), y, path


def _npy_pair(path: str) -> Tuple[str, str]:
    for x_path, y_path in ((path, path.replace("-x.npy", "-y.npy").replace("x.npy", "y.npy")),
                           (path + "-x.npy", path + "-y.npy"), (os.path.join(path, "x.npy"), os.path.join(path, "y.npy"))):
        if os.path.exists(x_path) and os.path.exists(y_path) and x_path != y_path:
            return x_path, y_path
    raise DataError(f"{path}: no .npy pair (x and y) found")


def load(spec: str, shape: Sequence[int], classes: int, seed: int, fashion_dir: str, base: str) -> Tuple[torch.Tensor, torch.Tensor, str]:
    if spec == "fashion-mnist" or (spec == "auto" and fits_fashion_mnist(shape, classes)):
        if not fits_fashion_mnist(shape, classes):
            raise DataError(f"fashion-mnist: the subset is 1×28×28 with 10 classes; the model takes {list(shape)} with {classes}")
        x, y = fashion_mnist(fashion_dir, shape)
        return x, y, "fashion-mnist"
    if spec in ("auto", "synthetic"):
        x, y = synthetic(shape, classes, seed)
        return x, y, "synthetic"
    return user_data(spec, shape, classes, base)


class BatchSampler:
    """src/engine/train/batches.ts: batches in a seeded shuffled order, reshuffled each epoch."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int) -> None:
        self.x, self.y = x, y
        self.batch_size = min(batch_size, len(y))
        self.random = mulberry32(seed)
        self.order = list(range(len(y)))
        self.position = len(y)

    def next(self) -> Tuple[torch.Tensor, torch.Tensor]:
        rows: List[int] = []
        for _ in range(self.batch_size):
            if self.position >= len(self.order):
                for i in range(len(self.order) - 1, 0, -1):
                    j = int(self.random() * (i + 1))
                    self.order[i], self.order[j] = self.order[j], self.order[i]
                self.position = 0
            rows.append(self.order[self.position])
            self.position += 1
        index = torch.tensor(rows)
        return self.x[index], self.y[index]

