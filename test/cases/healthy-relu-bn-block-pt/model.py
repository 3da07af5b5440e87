"""The issue's CustomCNNLayer block (Conv2d -> BatchNorm2d -> ReLU(inplace)) stacked six deep (mirrors relu-bn-6conv)."""
import torch
import torch.nn as nn

INPUT_SHAPE = (1, 16, 16)


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


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer1 = CustomCNNLayer(1, 8, 3, padding=1)
        self.layer2 = CustomCNNLayer(8, 8, 3, padding=1)
        self.layer3 = CustomCNNLayer(8, 8, 3, padding=1)
        self.pool1 = nn.MaxPool2d(2)
        self.layer4 = CustomCNNLayer(8, 8, 3, padding=1)
        self.layer5 = CustomCNNLayer(8, 8, 3, padding=1)
        self.layer6 = CustomCNNLayer(8, 8, 3, padding=1)
        self.pool2 = nn.MaxPool2d(2)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = self.pool1(self.layer3(self.layer2(self.layer1(x))))
        x = self.pool2(self.layer6(self.layer5(self.layer4(x))))
        return self.fc(torch.flatten(x, 1))
