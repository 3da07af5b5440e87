import torch.nn as nn

INPUT_SHAPE = (1, 8, 8)


class SoftmaxNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10), nn.Softmax(dim=1))

    def forward(self, x):
        return self.net(x)
