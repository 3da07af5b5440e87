"""Where the PyTorch trainer computes a step's figures: in the loop (StepRecorder.after_update,
copying gradients and weights before the update, as watch() under torch.distributed does) or on
the figure thread while the next step runs (the trainer's way: pipelined, FigureThread), each
with and without activation statistics, against plain steps — all on one copy of the net,
interleaved in blocks whose order rotates each round, so a busy machine bends every mode alike.
A second plain mode shows the run's noise. Prints one JSON line per network:
{"network", "plainMs", "modes": {mode: ratio to plain}}.

    /usr/bin/python3 scripts/torch/bench_figures.py [small-cnn,lenet5] [--steps 300] [--block 10]

Run it at real-time priority (`chrt -f 50 …`, as root) to take other processes out of the
comparison: without it, on a shared 2-core machine, the ratios move by ±0.1 from run to run."""
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

MODES = ('plain', 'in the loop', 'figure thread', 'figure thread, no activations', 'plain again')


def measure(name, steps, block):
    torch.manual_seed(42)
    model = build(name)
    order, shapes, _ = execution_order(model.eval(), torch.zeros(2, 1, 28, 28))
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model_map = ModelMap(model, None, '', order, shapes)
    layers, taps = model_map.instrumented(), model_map.taps()
    recorders = {
        'in the loop': StepRecorder(layers, taps),
        'figure thread': StepRecorder(layers, taps, pipelined=True),
        'figure thread, no activations': StepRecorder(layers, taps, 10 ** 9, pipelined=True),
    }
    channel = MessageChannel(open(os.devnull, 'w'))  # the trainer's step messages, encoded and written to nowhere
    figures = FigureThread()
    batches = [(torch.rand(32, 1, 28, 28), torch.randint(0, 10, (32,))) for _ in range(4)]
    times = {mode: [] for mode in MODES}
    step = 0
    for round_ in range(steps // block + 1):
        for mode in MODES[round_ % len(MODES):] + MODES[:round_ % len(MODES)]:
            recorder = recorders.get(mode)
            threaded = mode.startswith('figure thread')
            if recorder is not None:
                recorder.attach()
            started = time.perf_counter()
            for index in range(block):
                x, labels = batches[step % len(batches)]
                if recorder is not None:
                    recorder.start_step(step)
                optimizer.zero_grad(set_to_none=True)
                output = model(x)
                loss = F.cross_entropy(output, labels)
                loss.backward()
                if threaded:
                    figures.wait()
                if recorder is not None:
                    recorder.before_update()
                optimizer.step()
                accuracy = lambda output=output, labels=labels: (output.argmax(dim=1) == labels).float().mean()  # noqa: E731
                if threaded:
                    figures.submit(SentStep(recorder.collect(step, loss, accuracy), channel))
                    if index == block - 1:
                        figures.wait()  # the block's last figures count in its time
                elif recorder is not None:
                    channel.send({'type': 'step', 'stats': recorder.after_update(step, loss, accuracy())})
                else:
                    loss.item()
                step += 1
            if round_ > 0:  # the first round warms up
                times[mode].append((time.perf_counter() - started) / block)
            if recorder is not None:
                recorder.detach()
    figures.close()
    plain = statistics.median(times['plain'])
    return {'network': name, 'plainMs': plain * 1000, 'modes': {mode: statistics.median(values) / plain for mode, values in times.items()}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('networks', nargs='?', default='small-cnn,lenet5')
    parser.add_argument('--steps', type=int, default=300)
    parser.add_argument('--block', type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.networks.split(','):
        print(json.dumps(measure(name, args.steps, args.block)))


if __name__ == '__main__':
    main()
