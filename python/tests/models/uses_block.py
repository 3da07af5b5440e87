"""The block class lives in another file of the folder (styles.py); a factory builds a Sequential."""
import torch.nn as nn

from styles import CustomCNNLayer

INPUT_SHAPE = (1, 8, 8)


class ImportedBlockNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer1 = CustomCNNLayer(1, 4, 3, padding=1)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))

    def forward(self, x):
        return self.head(self.layer1(x))


def make_sequential():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(4 * 6 * 6, 10),
    )
