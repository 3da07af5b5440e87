"""What `gradient_lens.watch()` adds to a training step: a plain loop against the same loop with
watch(every=10) and watch(every=1), interleaved in blocks so machine noise hits all alike.

    /usr/bin/python3 scripts/watch_overhead.py [--ranks 2] [--rounds 15] [--block 20] [--net small|lenet10]

Prints one table row per configuration (a second plain copy shows the noise of the run): the median over blocks of the mean step time (so
logged steps count in their real share) and its ratio to the plain loop.
Each configuration trains its own copy of the net from the same initial weights on the same
batches; `--ranks 2` runs 2 DDP ranks (gloo, CPU, 127.0.0.1) and reports rank 0.
"""
from __future__ import annotations

import argparse
import datetime
import os
import random
import socket
import statistics
import sys
import tempfile
import time
from typing import Dict, List

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from gradient_lens import watch  # noqa: E402


def small_cnn() -> nn.Module:
    # FACTS.md's reference: conv8-pool-conv16-pool-dense10 on 1×28×28.
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 7 * 7, 10))


def ten_conv() -> nn.Module:
    layers: List[nn.Module] = []
    channels = 1
    for _ in range(10):
        layers += [nn.Conv2d(channels, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True)]
        channels = 16
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))


NETS = {"small": small_cnn, "lenet10": ten_conv}


def measure(rank: int, world: int, port: int, args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    if world > 1:
        os.environ["MASTER_ADDR"] = "127.0.0.1"
        os.environ["MASTER_PORT"] = str(port)
        torch.distributed.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=120))
    run_dir = tempfile.mkdtemp(prefix="gl-overhead-")
    configs: Dict[str, Dict[str, object]] = {}
    # "plain again" is a second uninstrumented copy: its ratio is the noise floor of this run.
    for name, every in (("plain", None), ("plain again", None), ("watch every=10", 10), ("watch every=1", 1)):
        torch.manual_seed(0)
        net = NETS[args.net]()
        model = nn.parallel.DistributedDataParallel(net) if world > 1 else net
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        run = watch(model, optimizer, every=every, run_dir=run_dir) if every else None
        configs[name] = {"model": model, "optimizer": optimizer, "run": run, "times": []}
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(args.batch, 1, 28, 28, generator=generator)
    y = torch.randint(0, 10, (args.batch,), generator=generator)
    order = list(configs)
    shuffle = random.Random(2)
    for round_index in range(args.rounds + 1):
        shuffle.shuffle(order)  # same order on every rank: the seed is shared
        for name in order:
            config = configs[name]
            model, optimizer, run = config["model"], config["optimizer"], config["run"]
            block_started = time.perf_counter()
            for _ in range(args.block):
                optimizer.zero_grad()  # type: ignore[attr-defined]
                loss = F.cross_entropy(model(x), y)  # type: ignore[operator]
                loss.backward()
                optimizer.step()  # type: ignore[attr-defined]
                if run is not None:
                    run.log(loss)  # type: ignore[attr-defined]
            # A block's mean step: logged and unlogged steps in their real proportion (every=10: 2 of 20).
            if round_index > 0:  # the first round warms up
                config["times"].append((time.perf_counter() - block_started) / args.block)  # type: ignore[attr-defined]
    for config in configs.values():
        if config["run"] is not None:
            config["run"].close()  # type: ignore[attr-defined]
    if rank == 0:
        plain = statistics.median(configs["plain"]["times"])  # type: ignore[arg-type]
        print(f"net {args.net}, batch {args.batch}, {world} rank(s), torch {torch.__version__}, "
              f"{args.rounds} rounds × {args.block} steps per configuration, interleaved")
        print("| configuration | step (median of block means) | ratio to plain |")
        print("|---|---|---|")
        for name, config in configs.items():
            median = statistics.median(config["times"])  # type: ignore[arg-type]
            print(f"| {name} | {median * 1000:.2f} ms | {median / plain:.3f} |")
    if world > 1:
        torch.distributed.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ranks", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--block", type=int, default=20)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--net", choices=sorted(NETS), default="small")
    args = parser.parse_args()
    if args.ranks > 1:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        torch.multiprocessing.spawn(measure, args=(args.ranks, port, args), nprocs=args.ranks, join=True)
    else:
        measure(0, 1, 0, args)


if __name__ == "__main__":
    main()
