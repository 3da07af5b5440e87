"""Ten sigmoid convs in one nn.Sequential, no BatchNorm (mirrors sigmoid-10conv)."""
import torch.nn as nn

INPUT_SHAPE = (1, 16, 16)


class DeepSigmoid(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.Sigmoid(),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.Sigmoid(),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.Sigmoid(),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.Sigmoid(),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.Sigmoid(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.Sigmoid(),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.Sigmoid(),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.Sigmoid(),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.Sigmoid(),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.Sigmoid(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))
