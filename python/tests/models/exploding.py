"""Plain SGD at a learning rate no net survives: the figures turn inf / NaN within a few steps."""
import torch
import torch.nn as nn

INPUT_SHAPE = (1, 8, 8)


class ExplodingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3)
        self.fc1 = nn.Linear(8 * 6 * 6, 32)
        self.fc2 = nn.Linear(32, 10)
        with torch.no_grad():
            for module in (self.conv, self.fc1, self.fc2):
                module.weight.mul_(5.0)

    def forward(self, x):
        x = torch.relu(self.conv(x)).flatten(1)
        return self.fc2(torch.relu(self.fc1(x)))


if __name__ == "__main__":
    optimizer = torch.optim.SGD(ExplodingNet().parameters(), lr=1e6)
