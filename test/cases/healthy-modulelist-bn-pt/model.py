"""Convs and BatchNorms in nn.ModuleList built in loops, F.relu in a forward loop; in_channels 3 -> 3x32x32 synthetic."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class LoopCNN(nn.Module):
    def __init__(self, widths=(16, 16, 16, 16)):
        super().__init__()
        self.convs = nn.ModuleList()
        self.bns = nn.ModuleList()
        channels = 3
        for width in widths:
            self.convs.append(nn.Conv2d(channels, width, 3, padding=1))
            self.bns.append(nn.BatchNorm2d(width))
            channels = width
        self.head = nn.Linear(channels * 8 * 8, 10)

    def forward(self, x):
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            x = F.relu(bn(conv(x)))
            if i % 2 == 1:
                x = F.max_pool2d(x, 2)
        return self.head(torch.flatten(x, 1))
