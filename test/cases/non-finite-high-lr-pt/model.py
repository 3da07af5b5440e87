"""He-init ReLU convs in an nn.ModuleList with F.relu, SGD at lr 1000: the loss goes NaN (non-finite-high-lr used lr 50, which PyTorch survives: see cases.json)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = (1, 16, 16)


class Diverges(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList()
        for i in range(4):
            conv = nn.Conv2d(1 if i == 0 else 8, 8, 3, padding=1)
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            self.convs.append(conv)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        for i, conv in enumerate(self.convs):
            x = F.relu(conv(x))
            if i % 2 == 1:
                x = F.max_pool2d(x, 2)
        return self.fc(x.flatten(1))


if __name__ == "__main__":
    model = Diverges()
    optimizer = torch.optim.SGD(model.parameters(), lr=1000)
