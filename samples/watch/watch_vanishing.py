"""A real training script watched by Gradient Lens: the vanishing sigmoid CNN of
vanishing_sigmoid.py, trained with Adam on stand-in data, with `gradient_lens.watch()`.

Run it from the workspace folder (the run file goes to .gradient-lens/runs/ there):

    PYTHONPATH=<extension folder>/python python3 samples/watch/watch_vanishing.py

With "Gradient Lens: Watch Training Runs" on, the editor announces the run and follows it live;
the vanishing-gradient finding lands on `self.stem = nn.Conv2d(...)` in ../pytorch/vanishing_sigmoid.py,
the file that defines the model, not this script. (It sits outside samples/pytorch/, whose files
are model files to analyse and the fuzzer's corpus.)
`--steps` and `--pause` (seconds after each step) set how long it runs: the pause stands in for
the data loading and the bigger model of a real run, so there is time to watch it live.
"""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

from gradient_lens import watch

# The model lives in the PyTorch sample next door, as a project's model module would.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "pytorch"))
from vanishing_sigmoid import VanishingCNN  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--pause", type=float, default=0.05)
    parser.add_argument("--every", type=int, default=2)
    args = parser.parse_args()

    torch.manual_seed(0)
    model = VanishingCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images = torch.rand(32, 1, 28, 28)
    labels = torch.randint(0, 10, (32,))
    with watch(model, optimizer, every=args.every) as run:
        for step in range(args.steps):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
            run.log(loss)
            if step == 0:  # the run file exists from the first forward on
                print(f"gradient_lens: recording to {run.path}", flush=True)
            time.sleep(args.pause)
    print(f"trained {args.steps} steps, final loss {loss.item():.4f}", flush=True)
