import sys

import torch.nn as nn

INPUT_SHAPE = (4,)


class QuittingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        if self.training:  # the shape probe runs in eval mode: this fails at the first training step
            sys.exit("forward gave up")
        return self.fc(x)
