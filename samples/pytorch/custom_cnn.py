"""A healthy CNN built from the canonical Conv2d → BatchNorm2d → ReLU(inplace=True) block.

Analyze Gradients on this file: no warnings or errors expected (1×28×28 input, so the run
trains on the shipped Fashion-MNIST subset).
"""
import torch
import torch.nn as nn

INPUT_SHAPE = (1, 28, 28)
NUM_CLASSES = 10


class CustomCNNLayer(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0):
        super(CustomCNNLayer, self).__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.conv(x)
        x = self.bn(x)
        x = self.relu(x)
        return x


class CustomCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer1 = CustomCNNLayer(1, 16, 3, padding=1)
        self.layer2 = CustomCNNLayer(16, 32, 3, stride=2, padding=1)
        self.layer3 = CustomCNNLayer(32, 32, 3, stride=2, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, NUM_CLASSES)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.pool(x), 1))
