"""LeNet in nn.Sequential with ReLU(inplace) and plain SGD at lr 0.001 (mirrors slow-sgd)."""
import torch
import torch.nn as nn


class SlowLeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(6, 12, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )
        self.fc = nn.Linear(12 * 5 * 5, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))


if __name__ == "__main__":
    model = SlowLeNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.001)
