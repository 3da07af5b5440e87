"""Every construction style the source mapper must locate (tests/test_source_map.py).
Inputs are 1×8×8; each network ends in 10 logits. Do not reformat: the tests compare sliced
ranges to the exact call text."""
import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = (1, 8, 8)


class AttributeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3)
        self.conv2 = nn.Conv2d(
            8,
            4,
            kernel_size=3,
        )
        self.fc = nn.Linear(4 * 4 * 4, 10)

    def forward(self, x):
        x = torch.sigmoid(self.conv1(x))
        x = self.conv2(x)
        x = F.relu(x)
        return self.fc(x.flatten(1))


class SequentialNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
            nn.Conv2d(8, 8, 3),
            nn.Tanh(),
        )
        self.head = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


class Block(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(x).relu()


class StarredNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.blocks = nn.Sequential(*[Block(4) for _ in range(3)])
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(x.mean(dim=(2, 3)))


class ModuleListNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList()
        channels = 1
        for width in (4, 8):
            self.convs.append(nn.Conv2d(channels, width, 3, padding=1))
            channels = width
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        for conv in self.convs:
            x = torch.sigmoid(conv(x))
        return self.fc(x.mean(dim=(2, 3)))


def conv_block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU())


class HelperNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = conv_block(1, 4)
        self.block2 = conv_block(4, 8)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.block2(self.block1(x))
        return self.fc(x.mean(dim=(2, 3)))


class CustomCNNLayer(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0):
        super(CustomCNNLayer, self).__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.conv(x)
        x = self.bn(x)
        x = self.relu(x)
        return x


class BlockNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer1 = CustomCNNLayer(1, 4, 3, padding=1)
        self.layer2 = CustomCNNLayer(4, 8, 3, stride=2, padding=1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class BatchNormTanhNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        x = self.bn1(self.conv1(x))
        x = torch.tanh(x)
        return self.fc(x.view(x.size(0), -1))


class MethodReluNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = x.relu()
        return self.fc(torch.flatten(x, 1))


class UnicodeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.tag = "µ😀é"; self.conv = nn.Conv2d(1, 4, 3)  # µ 😀
        self.fc = nn.Linear(4 * 6 * 6, 10)

    def forward(self, x):
        y = "😀"; x = torch.sigmoid(self.conv(x))
        return self.fc(torch.flatten(x, 1))


def make_block_net():
    return BlockNet()


class ZipLoopNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList()
        self.bns = nn.ModuleList()
        channels = 1
        for width in (4, 8):
            self.convs.append(nn.Conv2d(channels, width, 3, padding=1))
            self.bns.append(nn.BatchNorm2d(width))
            channels = width
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            x = F.relu(bn(conv(x)))
        for index, conv in enumerate(self.convs):
            pass
        return self.fc(x.mean(dim=(2, 3)))
