"""What `gradient_lens.watch()` adds to a training step: a plain loop against the same loop with
watch(every=10) and watch(every=1), interleaved in blocks so machine noise hits all alike.

    /usr/bin/python3 scripts/watch_overhead.py [--ranks 2] [--rounds 15] [--block 20] [--nets small-cnn,lenet5] [--json]

Per reference network (scripts/torch/networks.py) one table row per configuration (a second plain
copy shows the noise of the run): the median over blocks of the mean step time (so logged steps
count in their real share) and its ratio to the plain loop, in wall time and in the thread's CPU
time (which other processes on the machine disturb less; under DDP the wall time includes the
wait for the other rank). Each configuration trains its own copy of the net from the same initial
weights on the same batches; `--ranks 2` runs 2 DDP ranks (gloo, CPU, 127.0.0.1) and reports
rank 0. `--json` prints {"torch", "ranks", "rounds", "block", "networks": {name: {config: {"ms",
"ratio", "cpuMs", "cpuRatio"}}}} instead (`npm run bench` reads it: scripts/bench-pytorch.mjs).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import time
from typing import Any, Dict, List

import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
sys.path.insert(0, os.path.join(HERE, "torch"))
from gradient_lens import watch  # noqa: E402
from networks import build  # noqa: E402

# "plain again" is a second uninstrumented copy: its ratio is the noise floor of this run.
CONFIGS = (("plain", None), ("plain again", None), ("every=10", 10), ("every=1", 1))


def measure_net(name: str, world: int, args: argparse.Namespace, run_dir: str) -> Dict[str, Dict[str, float]]:
    configs: Dict[str, Dict[str, Any]] = {}
    for label, every in CONFIGS:
        torch.manual_seed(0)
        net = build(name)
        model = nn.parallel.DistributedDataParallel(net) if world > 1 else net
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        run = watch(model, optimizer, every=every, run_dir=run_dir) if every else None
        configs[label] = {"model": model, "optimizer": optimizer, "run": run, "every": every or 1, "times": [], "cpu": [],
                          "steps": 0, "logged": [], "unlogged": []}
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(args.batch, 1, 28, 28, generator=generator)
    y = torch.randint(0, 10, (args.batch,), generator=generator)
    order = list(configs)
    shuffle = random.Random(2)
    for round_index in range(args.rounds + 1):
        shuffle.shuffle(order)  # same order on every rank: the seed is shared
        for label in order:
            config = configs[label]
            model, optimizer, run = config["model"], config["optimizer"], config["run"]
            block_started, cpu_started = time.perf_counter(), time.thread_time()
            for _ in range(args.block):
                step_cpu = time.thread_time()
                optimizer.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
                if run is not None:
                    run.log(loss)
                if round_index > 0:  # a plain configuration counts every step as logged
                    logged = config["steps"] % config["every"] == 0
                    config["logged" if logged else "unlogged"].append(time.thread_time() - step_cpu)
                config["steps"] += 1
            # A block's mean step: logged and unlogged steps in their real proportion (every=10: 2 of 20).
            if round_index > 0:  # the first round warms up
                config["times"].append((time.perf_counter() - block_started) / args.block)
                config["cpu"].append((time.thread_time() - cpu_started) / args.block)
    for config in configs.values():
        if config["run"] is not None:
            config["run"].close()
    plain = statistics.median(configs["plain"]["times"])
    plain_cpu = statistics.median(configs["plain"]["cpu"])
    plain_step = statistics.median(configs["plain"]["logged"])
    result: Dict[str, Dict[str, float]] = {}
    for label, config in configs.items():
        wall, cpu = statistics.median(config["times"]), statistics.median(config["cpu"])
        result[label] = {"ms": wall * 1000, "ratio": wall / plain, "cpuMs": cpu * 1000, "cpuRatio": cpu / plain_cpu}
        # A block's mean holds one logged step in `every`, so at every=10 a 3 % bound is below the
        # blocks' noise. Per step instead: the median logged and unlogged step (CPU time), weighted
        # as watch() runs them, against the median plain step — what a logged step costs, and that
        # the others cost nothing, each taken over many steps.
        logged = statistics.median(config["logged"])
        unlogged = statistics.median(config["unlogged"]) if config["unlogged"] else logged
        every_n = config["every"]
        result[label].update({"stepRatio": (logged + (every_n - 1) * unlogged) / every_n / plain_step,
                              "loggedStepMs": logged * 1000, "unloggedStepMs": unlogged * 1000})
    return result


def measure(rank: int, world: int, port: int, args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    if world > 1:
        os.environ["MASTER_ADDR"] = "127.0.0.1"
        os.environ["MASTER_PORT"] = str(port)
        torch.distributed.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=300))
    run_dir = tempfile.mkdtemp(prefix="gl-overhead-")
    networks = {name: measure_net(name, world, args, run_dir) for name in args.nets.split(",")}
    if rank == 0:
        if args.json:
            print(json.dumps({"torch": torch.__version__, "ranks": world, "rounds": args.rounds, "block": args.block,
                              "batch": args.batch, "networks": networks}))
        else:
            print(f"batch {args.batch}, {world} rank(s), torch {torch.__version__}, "
                  f"{args.rounds} rounds × {args.block} steps per configuration, interleaved")
            print("| network | configuration | step (median of block means) | ratio to plain | CPU ms | CPU ratio | per-step estimate (CPU) | logged / unlogged step CPU ms |")
            print("|---|---|---|---|---|---|---|---|")
            for name, rows in networks.items():
                for label, row in rows.items():
                    print(f"| {name} | {label} | {row['ms']:.2f} ms | {row['ratio']:.3f} | {row['cpuMs']:.2f} | {row['cpuRatio']:.3f} "
                          f"| {row['stepRatio']:.3f} | {row['loggedStepMs']:.2f} / {row['unloggedStepMs']:.2f} |")
    if world > 1:
        torch.distributed.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ranks", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--block", type=int, default=20)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--nets", default="small-cnn,lenet5", help="reference networks of scripts/torch/networks.py, comma-separated")
    parser.add_argument("--json", action="store_true")
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
