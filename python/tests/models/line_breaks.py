"""Line breaks that str.splitlines() honours and Python source does not: a form feed
line (PEP 8 page break) and U+2028 in a comment."""
import torch
import torch.nn as nn

INPUT_SHAPE = (1, 8, 8)

# a comment with a line separator   inside


class PagedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.label = "µ😀"; self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 10)

    def forward(self, x):
        return self.fc(torch.sigmoid(self.conv(x)).flatten(1))
