"""Six ReLU convs, attribute style, weights from N(0, 0.5) and no BatchNorm, SGD 0.01 (mirrors relu-large-init-6conv)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = (1, 16, 16)


class LargeInit(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv3 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv4 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv5 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv6 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 4 * 4, 10)
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4, self.conv5, self.conv6):
            nn.init.normal_(conv.weight, std=0.5)
            nn.init.zeros_(conv.bias)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)
        x = F.relu(self.conv4(x))
        x = F.relu(self.conv5(x))
        x = F.max_pool2d(F.relu(self.conv6(x)), 2)
        return self.fc(torch.flatten(x, 1))


optimizer_factory = lambda model: torch.optim.SGD(model.parameters(), lr=0.01)
