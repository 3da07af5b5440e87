"""The Gradient Lens PyTorch trainer's own overhead: an instrumented step (python/gradient_lens's
StepRecorder: per-layer gradient, update and activation figures, one read-back) against the
plain step (forward, cross-entropy, backward, Adam step, loss read back), on the reference
networks, one thread (the trainer's default), plain and instrumented steps interleaved in
blocks so a busy machine bends both alike; wall time and the thread's CPU time (which other
processes on the machine disturb far less), and the minor page faults a step. The C allocator is
set up as the trainer sets it (gradient_lens.allocator: freed memory kept) unless
`--default-allocator`. Prints JSON {"torch", "allocator", "networks": {name: {"plainMs",
"instrumentedMs", "overhead", "plainCpuMs", "instrumentedCpuMs", "cpuOverhead", "plainFaults",
"instrumentedFaults"}}}."""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'python'))
from gradient_lens.allocator import keep_freed_memory  # noqa: E402
from gradient_lens.layers import ModelMap, execution_order  # noqa: E402
from gradient_lens.stats import StepRecorder  # noqa: E402
from networks import build  # noqa: E402


def measure(name, steps, warmup, batch_size, block=5):
    torch.manual_seed(42)
    model = build(name)
    order, shapes, _ = execution_order(model.eval(), torch.zeros(2, 1, 28, 28))
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model_map = ModelMap(model, None, '', order, shapes)
    recorder = StepRecorder(model_map.instrumented(), model_map.taps())
    batches = [(torch.rand(batch_size, 1, 28, 28), torch.randint(0, 10, (batch_size,))) for _ in range(4)]
    times = {False: [], True: []}
    cpu = {False: [], True: []}
    faults = {False: 0, True: 0}
    step = 0
    for round_ in range((warmup + steps) // block + 1):
        for instrumented in (False, True):
            if instrumented:
                recorder.attach()
            faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            for _ in range(block):
                x, labels = batches[step % len(batches)]
                start = time.perf_counter()
                cpu_start = time.thread_time()
                if instrumented:
                    recorder.start_step(step)
                optimizer.zero_grad(set_to_none=True)
                output = model(x)
                loss = F.cross_entropy(output, labels)
                loss.backward()
                if instrumented:
                    recorder.before_update()
                optimizer.step()
                if instrumented:
                    recorder.after_update(step, loss, torch.mean(output.argmax(dim=1) == labels, dtype=torch.float32))
                else:
                    loss.item()
                if round_ * block >= warmup:
                    times[instrumented].append((time.perf_counter() - start) * 1000)
                    cpu[instrumented].append((time.thread_time() - cpu_start) * 1000)
                step += 1
            if round_ * block >= warmup:
                faults[instrumented] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before
            if instrumented:
                recorder.detach()
    plain, instrumented = statistics.median(times[False]), statistics.median(times[True])
    plain_cpu, instrumented_cpu = statistics.median(cpu[False]), statistics.median(cpu[True])
    return {'plainMs': plain, 'instrumentedMs': instrumented, 'overhead': instrumented / plain, 'steps': len(times[True]),
            'plainCpuMs': plain_cpu, 'instrumentedCpuMs': instrumented_cpu, 'cpuOverhead': instrumented_cpu / plain_cpu,
            'plainFaults': faults[False] / max(1, len(times[False])), 'instrumentedFaults': faults[True] / max(1, len(times[True]))}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('networks', nargs='+')
    parser.add_argument('--steps', type=int, default=40)
    parser.add_argument('--warmup', type=int, default=10)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--default-allocator', action='store_true', help="glibc's defaults, not the trainer's (freed memory kept)")
    args = parser.parse_args()
    allocator = 'default' if args.default_allocator else ('kept' if keep_freed_memory() else 'default (not glibc)')
    torch.set_num_threads(1)
    result = {name: measure(name, args.steps, args.warmup, args.batch_size) for name in args.networks}
    print(json.dumps({'torch': torch.__version__, 'allocator': allocator, 'networks': result}))


if __name__ == '__main__':
    main()
