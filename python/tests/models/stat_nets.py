"""Small nets whose statistics the tests compute by hand (tests/test_stats.py)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class DeadReluNet(nn.Module):
    """1×6×6 → conv → ReLU → linear; the test sets the conv bias to ±10."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(4 * 4 * 4, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.relu(self.conv(x)), 1))


class SigmoidMlp(nn.Module):
    """16 features → linear → sigmoid → linear."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(16, 32)
        self.out = nn.Linear(32, 10)

    def forward(self, x):
        return self.out(torch.sigmoid(self.hidden(x)))


class HalfZeroInputNet(nn.Module):
    """6 features → linear; the test feeds zeros in the first three features."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 10)

    def forward(self, x):
        return self.fc(x)


class SharedReluNet(nn.Module):
    """One inplace ReLU module run after both BatchNorms: its hook alone cannot tell the layers apart."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class ReluThenBatchNormNet(nn.Module):
    """Conv → ReLU → BatchNorm: the activation reads the conv's output, not the BatchNorm's."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = self.bn1(x)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class ContainerThenReluNet(nn.Module):
    """A functional ReLU on a Sequential's output (conv, BatchNorm inside)."""

    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4))
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        x = F.relu(self.block(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))
