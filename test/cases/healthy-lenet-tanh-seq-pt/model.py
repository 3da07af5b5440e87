"""LeNet with nn.Tanh modules, features and classifier as nn.Sequential (mirrors lenet-tanh)."""
import torch.nn as nn


class TanhLeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 3),
            nn.Tanh(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 12, 3),
            nn.Tanh(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(12 * 5 * 5, 10))

    def forward(self, x):
        return self.classifier(self.features(x))
