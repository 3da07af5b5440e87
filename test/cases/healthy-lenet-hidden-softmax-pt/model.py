"""LeNet with a hidden dense layer and a final nn.Softmax (handled as logits; mirrors lenet-relu-hidden)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class SoftmaxLeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3)
        self.conv2 = nn.Conv2d(6, 12, 3)
        self.hidden = nn.Linear(12 * 5 * 5, 32)
        self.out = nn.Linear(32, 10)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.hidden(torch.flatten(x, 1)))
        return self.softmax(self.out(x))
