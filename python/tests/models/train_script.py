"""A training-script-style file: the optimizer literal sits under `if __name__ == "__main__":`."""
import torch
import torch.nn as nn

INPUT_SHAPE = (1, 8, 8)


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


if __name__ == "__main__":
    model = TinyNet()
    optimizer = torch.optim.SGD(model.parameters(), momentum=0.9, lr=0.1)
    raise SystemExit("the analysis must not run this block")
