"""The Gradient Lens PyTorch trainer's own overhead: an instrumented step (python/gradient_lens's
StepRecorder: per-layer gradient, update and activation figures, one read-back) against the
plain step (forward, cross-entropy, backward, Adam step, loss read back), on the reference
networks, one thread (the trainer's default), plain and instrumented steps interleaved in
blocks so a busy machine bends both alike. Wall time per step is a block's mean (the trainer's
figures are computed on a second thread during the next step, so a step's own time would not
hold them: the block's last figures are waited for inside its time), the medians over the
blocks; beside it the loop thread's CPU time per step (which other processes on the machine
disturb far less) and the whole process's (the figure thread's work included). Prints JSON
{"torch", "networks": {name: {"plainMs", "instrumentedMs", "overhead", "plainCpuMs", "instrumentedCpuMs", "cpuOverhead",
"plainProcessCpuMs", "instrumentedProcessCpuMs", "processCpuOverhead"}}}."""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'python'))
from gradient_lens.layers import ModelMap, execution_order  # noqa: E402
from gradient_lens.protocol import MessageChannel  # noqa: E402
from gradient_lens.stats import FigureThread, StepRecorder  # noqa: E402
from gradient_lens.trainer import SentStep  # noqa: E402
from networks import build  # noqa: E402


def measure(name, steps, warmup, batch_size, block):
    torch.manual_seed(42)
    model = build(name)
    order, shapes, _ = execution_order(model.eval(), torch.zeros(2, 1, 28, 28))
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model_map = ModelMap(model, None, '', order, shapes)
    recorder = StepRecorder(model_map.instrumented(), model_map.taps(), pipelined=True)
    batches = [(torch.rand(batch_size, 1, 28, 28), torch.randint(0, 10, (batch_size,))) for _ in range(4)]
    blocks = {False: [], True: []}  # mean step ms of each block, its last figures included
    cpu = {False: [], True: []}  # the loop thread's CPU ms per step
    process_cpu = {False: [], True: []}  # the process's CPU ms per block step, the figure thread included
    figures = FigureThread()
    # The trainer sends each step as a JSON line to the engine: encoded and written here too, to nowhere.
    channel = MessageChannel(open(os.devnull, 'w'))
    step = 0
    for round_ in range((warmup + steps) // block + 1):
        for instrumented in (False, True):
            if instrumented:
                recorder.attach()
            block_start = time.perf_counter()
            process_start = time.process_time()
            for index in range(block):
                x, labels = batches[step % len(batches)]
                cpu_start = time.thread_time()
                if instrumented:
                    recorder.start_step(step)
                optimizer.zero_grad(set_to_none=True)
                output = model(x)
                loss = F.cross_entropy(output, labels)
                loss.backward()
                if instrumented:
                    # As trainer.train_steps: the previous step's figures, computed on the figure
                    # thread during this step's forward and backward, are taken before the update.
                    figures.wait()
                    recorder.before_update()
                optimizer.step()
                if instrumented:
                    figures.submit(SentStep(recorder.collect(step, loss, lambda output=output, labels=labels: (output.argmax(dim=1) == labels).float().mean()), channel))
                    if index == block - 1:
                        figures.wait()  # the block's last figures count in its time
                else:
                    loss.item()
                if round_ * block >= warmup:
                    cpu[instrumented].append((time.thread_time() - cpu_start) * 1000)
                step += 1
            if round_ * block >= warmup:
                blocks[instrumented].append((time.perf_counter() - block_start) * 1000 / block)
                process_cpu[instrumented].append((time.process_time() - process_start) * 1000 / block)
            if instrumented:
                recorder.detach()
    figures.close()
    plain, instrumented = statistics.median(blocks[False]), statistics.median(blocks[True])
    plain_cpu, instrumented_cpu = statistics.median(cpu[False]), statistics.median(cpu[True])
    plain_process, instrumented_process = statistics.median(process_cpu[False]), statistics.median(process_cpu[True])
    return {'plainMs': plain, 'instrumentedMs': instrumented, 'overhead': instrumented / plain, 'steps': len(cpu[True]),
            'plainCpuMs': plain_cpu, 'instrumentedCpuMs': instrumented_cpu, 'cpuOverhead': instrumented_cpu / plain_cpu,
            'plainProcessCpuMs': plain_process, 'instrumentedProcessCpuMs': instrumented_process,
            'processCpuOverhead': instrumented_process / plain_process}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('networks', nargs='+')
    parser.add_argument('--steps', type=int, default=40)
    parser.add_argument('--warmup', type=int, default=10)
    parser.add_argument('--batch-size', type=int, default=32)
    # The trainer waits for one step's figures once per run; a block waits once per block, so short blocks overstate it.
    parser.add_argument('--block', type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    result = {name: measure(name, args.steps, args.warmup, args.batch_size, args.block) for name in args.networks}
    print(json.dumps({'torch': torch.__version__, 'networks': result}))


if __name__ == '__main__':
    main()
