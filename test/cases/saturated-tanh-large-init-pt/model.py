"""Six nn.Tanh convs with weights from N(0, 2), SGD 0.01 (mirrors tanh-large-init-6conv)."""
import torch
import torch.nn as nn

INPUT_SHAPE = (1, 16, 16)


class SaturatedTanh(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.Tanh(),
            nn.Conv2d(8, 8, 3, padding=1), nn.Tanh(),
            nn.Conv2d(8, 8, 3, padding=1), nn.Tanh(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 8, 3, padding=1), nn.Tanh(),
            nn.Conv2d(8, 8, 3, padding=1), nn.Tanh(),
            nn.Conv2d(8, 8, 3, padding=1), nn.Tanh(),
            nn.MaxPool2d(2),
        )
        self.fc = nn.Linear(8 * 4 * 4, 10)
        for m in self.features:
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=2.0)

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))


if __name__ == "__main__":
    net = SaturatedTanh()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
