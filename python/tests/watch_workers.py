"""Training loops the watch() tests run, in this process or as torch.distributed ranks (spawned
processes import them from here, so they live in a module, not in the test file)."""
from __future__ import annotations

import datetime
import os
import signal
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

STEPS = 8
HALF_BATCH = 6
SHAPE = (1, 10, 10)


class SmallCNN(nn.Module):
    """conv → relu → conv → relu → linear; no BatchNorm, no dropout: the gradient of the mean loss over
    two equal halves, averaged, is the full batch's, so DDP and one process must agree."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.act1 = nn.ReLU(inplace=True)
        self.block = nn.Sequential(nn.Conv2d(4, 6, 3), nn.Tanh())
        self.fc = nn.Linear(6 * 6 * 6, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.block(self.act1(self.conv1(x))).flatten(1))


def batches(steps: int = STEPS) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """The full batches of every step (2 × HALF_BATCH examples), the same in every process."""
    generator = torch.Generator().manual_seed(7)
    return [(torch.randn(2 * HALF_BATCH, *SHAPE, generator=generator), torch.randint(0, 10, (2 * HALF_BATCH,), generator=generator))
            for _ in range(steps)]


def fresh_model(seed: int = 0) -> SmallCNN:
    torch.manual_seed(seed)
    return SmallCNN()


def single_process(run_dir: str, every: int, lr: float = 0.05, steps: int = STEPS) -> str:
    """The reference: one process, the full batch each step."""
    from gradient_lens import watch

    torch.set_num_threads(1)
    model = fresh_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    run = watch(model, optimizer, every=every, run_dir=run_dir, name="single")
    for x, y in batches(steps):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        run.log(loss)
    run.close()
    assert run.path is not None
    return run.path


def ddp_rank(rank: int, world: int, port: int, run_dir: str, every: int, kill_rank_at: Optional[int] = None,
             lr: float = 0.05, steps: int = STEPS, accumulate: bool = False) -> None:
    """One DDP rank on its half of each full batch; rank `1` kills itself (SIGKILL) at step `kill_rank_at`.
    `accumulate`: the half in two micro-batches, the first under no_sync() (gradients stay local)."""
    from torch.nn.parallel import DistributedDataParallel

    from gradient_lens import watch

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=30))
    model = DistributedDataParallel(fresh_model())
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    # Every Python-side collective this rank takes, to check each rank takes one per logged step.
    collectives = []
    original_all_reduce = torch.distributed.all_reduce

    def counted_all_reduce(*args, **kwargs):
        collectives.append(1)
        return original_all_reduce(*args, **kwargs)

    torch.distributed.all_reduce = counted_all_reduce
    run = watch(model, optimizer, every=every, run_dir=run_dir, name="ddp")
    for step, (x, y) in enumerate(batches(steps)):
        if kill_rank_at is not None and step == kill_rank_at and rank == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        start = rank * HALF_BATCH
        optimizer.zero_grad()
        if accumulate:
            middle = start + HALF_BATCH // 2
            with model.no_sync():
                first = F.cross_entropy(model(x[start:middle]), y[start:middle]) / 2
                first.backward()
            second = F.cross_entropy(model(x[middle:start + HALF_BATCH]), y[middle:start + HALF_BATCH]) / 2
            second.backward()
            loss = first + second
        else:
            loss = F.cross_entropy(model(x[start:start + HALF_BATCH]), y[start:start + HALF_BATCH])
            loss.backward()
        optimizer.step()
        run.log(loss)
    run.close()
    torch.distributed.all_reduce = original_all_reduce
    with open(os.path.join(run_dir, f"collectives-{rank}.txt"), "w") as handle:
        handle.write(str(len(collectives)))
    torch.distributed.destroy_process_group()
