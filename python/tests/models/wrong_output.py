import torch.nn as nn

INPUT_SHAPE = (1, 8, 8)


class MapNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 10, 3)

    def forward(self, x):
        return self.conv(x)
