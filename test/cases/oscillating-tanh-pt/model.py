"""Tanh LeNet with torch.tanh in forward, SGD at lr 2 on Fashion-MNIST (mirrors oscillating-tanh)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class TanhLeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3)
        self.conv2 = nn.Conv2d(6, 12, 3)
        self.fc = nn.Linear(12 * 5 * 5, 10)

    def forward(self, x):
        x = F.max_pool2d(torch.tanh(self.conv1(x)), 2)
        x = F.max_pool2d(torch.tanh(self.conv2(x)), 2)
        return self.fc(torch.flatten(x, 1))


if __name__ == "__main__":
    model = TanhLeNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=2.0)
