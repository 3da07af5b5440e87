"""Exploding gradients: ten ReLU convs whose weights come from N(0, 0.5²), no BatchNorm, plain SGD.

The PyTorch twin of samples/exploding-large-init: each 3×3 conv over 8 channels has fan-in 72,
so std 0.5 is about 3× He's sqrt(2/72) ≈ 0.17 and every layer multiplies the signal by ~3;
ten of them blow the logits and the gradients up by orders of magnitude at the first step.
Measured (scripts/torch/measure_cases.py --file, 60 steps, seed 1, batch 32, torch 1.13 and 2.13
alike): loss 2.9e3 at step 0, first-conv gradient RMS 252 at step 0 growing to 4e12, NaN from
step 3; the same net with He init (kaiming_normal_) or a BatchNorm2d after each conv trains.
Analyze Gradients on this file: exploding-gradient on the first nn.Conv2d(...) line (1×28×28
input, so the run trains on the shipped Fashion-MNIST subset; SGD at the literal lr below).
"""
import torch
import torch.nn as nn


class LargeInitCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 8, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 8, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 8, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 8, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 8, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 8, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 8, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 8, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 8, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(8 * 7 * 7, 10)
        for m in self.features:
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, mean=0.0, std=0.5)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def make_optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=0.01)
