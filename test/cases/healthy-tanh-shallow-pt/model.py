"""Two tanh convs, each pooled, with torch.tanh called in forward (mirrors tanh-2conv)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = (1, 16, 16)


class ShallowTanh(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = F.max_pool2d(torch.tanh(self.conv1(x)), 2)
        x = F.max_pool2d(torch.tanh(self.conv2(x)), 2)
        return self.fc(x.flatten(1))
