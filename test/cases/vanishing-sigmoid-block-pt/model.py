"""A reusable conv block with torch.sigmoid and no BatchNorm, stacked ten deep via nn.Sequential(*[...])."""
import torch
import torch.nn as nn

INPUT_SHAPE = (1, 16, 16)


class SigmoidConvBlock(nn.Module):
    def __init__(self, in_channels, out_channels, pool=False):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()

    def forward(self, x):
        return self.pool(torch.sigmoid(self.conv(x)))


class BlockStack(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(*[SigmoidConvBlock(1 if i == 0 else 8, 8, pool=i in (4, 9)) for i in range(10)])
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.blocks(x), 1))
