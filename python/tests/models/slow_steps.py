"""Each step takes a while, so a cancel sent after the first step lands well before the last."""
import time

import torch
import torch.nn as nn

INPUT_SHAPE = (1, 8, 8)


class SlowNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 10)

    def forward(self, x):
        time.sleep(0.05)
        return self.fc(torch.relu(self.conv(x)).flatten(1))
