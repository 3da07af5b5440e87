"""PyTorch's training-step time on the reference networks: the speed peer of `npm run bench`.

One step = forward, softmax cross-entropy on logits, backward, per-layer gradient norms read
back to the host (as the engine reads its statistics once per step), Adam step. Batch 32,
threads = the machine's cores. Prints JSON {network: {"medianMs", "minMs", "cpuMedianMs", "steps"}}
on stdout; cpuMedianMs is process CPU time (all threads), which other processes on a busy
machine bend far less than wall time.
"""
import argparse
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F

from networks import build


def step_times(name, steps, warmup, batch_size):
    torch.manual_seed(42)
    model = build(name)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = [(torch.rand(batch_size, 1, 28, 28), torch.randint(0, 10, (batch_size,))) for _ in range(4)]
    times = []
    cpu_times = []
    for i in range(warmup + steps):
        x, labels = batches[i % len(batches)]
        start = time.perf_counter()
        cpu_start = time.process_time()
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        torch.stack([p.grad.norm() for p in model.parameters()]).tolist()
        optimizer.step()
        if i >= warmup:
            times.append((time.perf_counter() - start) * 1000)
            cpu_times.append((time.process_time() - cpu_start) * 1000)
    return times, cpu_times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('networks', nargs='+')
    parser.add_argument('--steps', type=int, default=30)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--threads', type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = {}
    for name in args.networks:
        times, cpu_times = step_times(name, args.steps, args.warmup, args.batch_size)
        result[name] = {'medianMs': statistics.median(times), 'minMs': min(times), 'cpuMedianMs': statistics.median(cpu_times), 'steps': len(times)}
    print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'networks': result}))


if __name__ == '__main__':
    main()
