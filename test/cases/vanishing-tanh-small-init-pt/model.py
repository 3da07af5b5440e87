"""Eight tanh convs made by a helper with a small normal init (std 0.02), SGD 0.01 (mirrors tanh-small-init-8conv)."""
import torch
import torch.nn as nn

INPUT_SHAPE = (1, 16, 16)


def small_conv(in_channels, out_channels):
    conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
    nn.init.normal_(conv.weight, mean=0.0, std=0.02)
    nn.init.zeros_(conv.bias)
    return conv


class SmallInitTanh(nn.Module):
    def __init__(self):
        super().__init__()
        layers = []
        for i in range(8):
            layers += [small_conv(1 if i == 0 else 8, 8), nn.Tanh()]
            if i % 4 == 3:
                layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        return self.head(torch.flatten(self.body(x), 1))


def make_optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=0.01)
