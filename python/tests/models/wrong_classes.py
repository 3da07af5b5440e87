import torch.nn as nn

INPUT_SHAPE = (4,)
NUM_CLASSES = 3


class FiveWayNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 5)

    def forward(self, x):
        return self.fc(x)
