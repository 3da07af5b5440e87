"""The He-init four-conv ReLU net, attribute style with inplace ReLU, Adam at lr 0.2 (mirrors lr-too-high-adam)."""
import torch
import torch.nn as nn

INPUT_SHAPE = (1, 16, 16)


class AdamTooHigh(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.act2 = nn.ReLU(inplace=True)
        self.pool1 = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(8, 8, 3, padding=1)
        self.act3 = nn.ReLU(inplace=True)
        self.conv4 = nn.Conv2d(8, 8, 3, padding=1)
        self.act4 = nn.ReLU(inplace=True)
        self.pool2 = nn.MaxPool2d(2)
        self.fc = nn.Linear(8 * 4 * 4, 10)
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)

    def forward(self, x):
        x = self.pool1(self.act2(self.conv2(self.act1(self.conv1(x)))))
        x = self.pool2(self.act4(self.conv4(self.act3(self.conv3(x)))))
        return self.fc(torch.flatten(x, 1))


if __name__ == "__main__":
    model = AdamTooHigh()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.2)
