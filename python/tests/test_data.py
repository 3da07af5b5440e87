"""Training data: the synthetic set, the shipped Fashion-MNIST subset, user .npy pairs and IDX
files (written here byte by byte, no numpy), and the seeded batch order."""
from __future__ import annotations

import os
import struct
import tempfile
import unittest

import torch

from gradient_lens import data

from .support import FASHION_MNIST


def write_npy(path: str, descr: str, shape: tuple, payload: bytes) -> None:
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1")
    padding = 64 - (10 + len(header) + 1) % 64
    header += b" " * padding + b"\n"
    with open(path, "wb") as handle:
        handle.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload)


class Data(unittest.TestCase):
    def test_synthetic(self):
        x, y, name = data.load("auto", [3, 8, 8], 4, seed=5, fashion_dir="", base="")
        self.assertEqual(name, "synthetic")
        self.assertEqual((x.dtype, list(x.shape[1:])), (torch.float32, [3, 8, 8]))
        self.assertEqual(sorted(set(y.tolist())), [0, 1, 2, 3])
        again, _, _ = data.load("synthetic", [3, 8, 8], 4, seed=5, fashion_dir="", base="")
        self.assertTrue(torch.equal(x, again))
        other, _, _ = data.load("synthetic", [3, 8, 8], 4, seed=6, fashion_dir="", base="")
        self.assertFalse(torch.equal(x, other))
        # Learnable: class means differ far more than the noise in them.
        means = torch.stack([x[y == c].mean(dim=0).flatten() for c in range(4)])
        self.assertGreater(float((means[0] - means[1]).norm()), 1.0)

    def test_fashion_mnist(self):
        x, y, name = data.load("auto", [1, 28, 28], 10, seed=1, fashion_dir=FASHION_MNIST, base="")
        self.assertEqual(name, "fashion-mnist")
        self.assertEqual(list(x.shape[1:]), [1, 28, 28])
        self.assertEqual(x.shape[0], y.shape[0])
        self.assertGreaterEqual(float(x.min()), 0.0)
        self.assertLessEqual(float(x.max()), 1.0)
        self.assertEqual(sorted(set(y.tolist())), list(range(10)))
        with self.assertRaises(data.DataError):
            data.load("fashion-mnist", [3, 32, 32], 10, seed=1, fashion_dir=FASHION_MNIST, base="")

    def test_npy_pair_and_idx(self):
        with tempfile.TemporaryDirectory() as folder:
            values = [i / 100 for i in range(6 * 4)]
            write_npy(os.path.join(folder, "train-x.npy"), "<f4", (6, 4), struct.pack("<24f", *values))
            write_npy(os.path.join(folder, "train-y.npy"), "<i8", (6,), struct.pack("<6q", 0, 1, 2, 0, 1, 2))
            x, y, _ = data.load("train", [4], 3, seed=0, fashion_dir="", base=folder)
            self.assertEqual(x.shape, (6, 4))
            self.assertAlmostEqual(float(x[5, 3]), 0.23, places=6)
            self.assertEqual(y.tolist(), [0, 1, 2, 0, 1, 2])
            with self.assertRaises(data.DataError):
                data.load("train", [5], 3, seed=0, fashion_dir="", base=folder)  # 4 values per example
            with self.assertRaises(data.DataError):
                data.load("train", [4], 2, seed=0, fashion_dir="", base=folder)  # label 2 with 2 classes

            images = struct.pack(">BBBBIII", 0, 0, 8, 3, 2, 2, 2) + bytes([0, 255, 51, 102, 1, 2, 3, 4])
            labels = struct.pack(">BBBBI", 0, 0, 8, 1, 2) + bytes([1, 0])
            with open(os.path.join(folder, "digits-images-idx3-ubyte"), "wb") as handle:
                handle.write(images)
            with open(os.path.join(folder, "digits-labels-idx1-ubyte"), "wb") as handle:
                handle.write(labels)
            x, y, _ = data.load("digits-images-idx3-ubyte", [1, 2, 2], 2, seed=0, fashion_dir="", base=folder)
            self.assertEqual(list(x.shape), [2, 1, 2, 2])
            self.assertEqual(float(x[0, 0, 0, 1]), 1.0)
            self.assertAlmostEqual(float(x[0, 0, 1, 0]), 0.2, places=6)
            self.assertEqual(y.tolist(), [1, 0])
            with open(os.path.join(folder, "bad-images-idx3-ubyte"), "wb") as handle:
                handle.write(b"not an idx file")
            with self.assertRaises(data.DataError):
                data.read_idx(os.path.join(folder, "bad-images-idx3-ubyte"))

    def test_generator_matches_the_typescript_one(self):
        # src/engine/train/random.ts seededRandom(42)'s first values, computed with node.
        generator = data.mulberry32(42)
        self.assertEqual([generator() for _ in range(4)],
                         [0.6011037519201636, 0.44829055899754167, 0.8524657934904099, 0.6697340414393693])

    def test_batch_order(self):
        x = torch.arange(10).float().reshape(10, 1)
        y = torch.arange(10)
        sampler = data.BatchSampler(x, y, 5, seed=3)
        first = sampler.next()[1].tolist() + sampler.next()[1].tolist()
        self.assertEqual(sorted(first), list(range(10)))  # one epoch: every example once
        self.assertNotEqual(first, list(range(10)))  # shuffled
        again = data.BatchSampler(x, y, 5, seed=3)
        self.assertEqual(again.next()[1].tolist() + again.next()[1].tolist(), first)
        self.assertEqual(len(data.BatchSampler(x, y, 64, seed=3).next()[1]), 10)  # capped at the data size


if __name__ == "__main__":
    unittest.main()
