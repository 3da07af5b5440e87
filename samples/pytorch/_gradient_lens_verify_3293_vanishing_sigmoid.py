"""The same block with nn.Sigmoid() and without BatchNorm, stacked 10 deep: the gradient reaching
the first conv is millions of times smaller than the last layer's, and the loss stays at ln 10.

Analyze Gradients: a vanishing-gradient finding on the first nn.Conv2d(...) line; the quick fix
"Use ReLU instead of sigmoid/tanh" edits the nn.Sigmoid() line below.
"""
import torch
import torch.nn as nn

INPUT_SHAPE = (1, 28, 28)
NUM_CLASSES = 10


class SigmoidBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv(x))


class VanishingCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.stem_act = nn.ReLU()
        self.blocks = nn.Sequential(*[SigmoidBlock(8, 8) for _ in range(9)])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, NUM_CLASSES)
        nn.init.kaiming_normal_(self.stem.weight, nonlinearity="relu")
        nn.init.zeros_(self.stem.bias)
        nn.init.kaiming_normal_(self.blocks[0].conv.weight, nonlinearity="relu")
        nn.init.zeros_(self.blocks[0].conv.bias)
        nn.init.kaiming_normal_(self.blocks[1].conv.weight, nonlinearity="relu")
        nn.init.zeros_(self.blocks[1].conv.bias)
        nn.init.kaiming_normal_(self.blocks[2].conv.weight, nonlinearity="relu")
        nn.init.zeros_(self.blocks[2].conv.bias)
        nn.init.kaiming_normal_(self.blocks[3].conv.weight, nonlinearity="relu")
        nn.init.zeros_(self.blocks[3].conv.bias)
        nn.init.kaiming_normal_(self.blocks[4].conv.weight, nonlinearity="relu")
        nn.init.zeros_(self.blocks[4].conv.bias)
        nn.init.kaiming_normal_(self.blocks[5].conv.weight, nonlinearity="relu")
        nn.init.zeros_(self.blocks[5].conv.bias)
        nn.init.kaiming_normal_(self.blocks[6].conv.weight, nonlinearity="relu")
        nn.init.zeros_(self.blocks[6].conv.bias)
        nn.init.kaiming_normal_(self.blocks[7].conv.weight, nonlinearity="relu")
        nn.init.zeros_(self.blocks[7].conv.bias)
        nn.init.kaiming_normal_(self.blocks[8].conv.weight, nonlinearity="relu")
        nn.init.zeros_(self.blocks[8].conv.bias)
        nn.init.xavier_normal_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x):
        x = self.blocks(self.stem_act(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))
