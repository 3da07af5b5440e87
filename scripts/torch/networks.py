"""The reference networks of src/engine/reference/networks.ts, in PyTorch.

Same names, same layers, same layer names as the TF.js builders, so weights and gradients match
by name ("conv1/kernel" <-> module "conv1", parameter "weight"). Inputs are NCHW here; the
flatten before the last Dense layer goes through NHWC so its feature order equals TF.js's and
the Dense kernel needs only a transpose (tf_layout.py).
"""
import math

import torch
from torch import nn
import torch.nn.functional as F


class TfConv2d(nn.Conv2d):
    """Conv2d with TF's padding rules: 'same' pads the odd extra row/column bottom/right."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding='valid', bias=True):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, bias=bias)
        self.tf_padding = padding

    def forward(self, x):
        if self.tf_padding == 'same':
            x = F.pad(x, same_padding(x.shape[3], self.kernel_size[1], self.stride[1])
                      + same_padding(x.shape[2], self.kernel_size[0], self.stride[0]))
        return super().forward(x)


def same_padding(size, kernel, stride):
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return (total // 2, total - total // 2)


class TfBatchNorm2d(nn.BatchNorm2d):
    """Keras defaults: epsilon 1e-3, moving average keeps 0.99 of the old value."""

    def __init__(self, channels):
        super().__init__(channels, eps=1e-3, momentum=0.01)


def flatten_nhwc(x):
    return x.permute(0, 2, 3, 1).flatten(1)


class ReferenceNet(nn.Module):
    """Applies ReLU by layer name, so the gradient reference can impose the engine's ReLU masks.

    Where a ReLU input lies within rounding of 0, two float32 engines may take opposite sides
    of the kink and pass or stop a full-size gradient there; with `relu_masks` (TF layer name ->
    NCHW 0/1 tensor) set, the reference takes the engine's side and compares the backward pass.
    """

    relu_masks = None

    def relu(self, name, x):
        if self.relu_masks is not None and name in self.relu_masks:
            return x * self.relu_masks[name]
        return F.relu(x)


class SmallCnn(ReferenceNet):
    def __init__(self):
        super().__init__()
        self.conv1 = TfConv2d(1, 8, 3)
        self.conv2 = TfConv2d(8, 16, 3)
        self.logits = nn.Linear(5 * 5 * 16, 10)

    def forward(self, x):
        x = F.max_pool2d(self.relu('conv1', self.conv1(x)), 2, 2)
        x = F.max_pool2d(self.relu('conv2', self.conv2(x)), 2, 2)
        return self.logits(flatten_nhwc(x))


class Sigmoid10Conv(ReferenceNet):
    def __init__(self):
        super().__init__()
        for i in range(1, 11):
            setattr(self, f'conv{i}', TfConv2d(1 if i == 1 else 8, 8, 3, padding='same'))
        self.logits = nn.Linear(28 * 28 * 8, 10)

    def forward(self, x):
        for i in range(1, 11):
            x = torch.sigmoid(getattr(self, f'conv{i}')(x))
        return self.logits(flatten_nhwc(x))


class ReluBn10Conv(ReferenceNet):
    def __init__(self):
        super().__init__()
        for i in range(1, 11):
            setattr(self, f'conv{i}', TfConv2d(1 if i == 1 else 8, 8, 3, padding='same', bias=False))
            setattr(self, f'bn{i}', TfBatchNorm2d(8))
        self.logits = nn.Linear(28 * 28 * 8, 10)

    def forward(self, x):
        for i in range(1, 11):
            x = self.relu(f'relu{i}', getattr(self, f'bn{i}')(getattr(self, f'conv{i}')(x)))
        return self.logits(flatten_nhwc(x))


class LeNet5(ReferenceNet):
    def __init__(self):
        super().__init__()
        self.conv1 = TfConv2d(1, 6, 5, padding='same')
        self.conv2 = TfConv2d(6, 16, 5)
        self.fc1 = nn.Linear(5 * 5 * 16, 120)
        self.fc2 = nn.Linear(120, 84)
        self.logits = nn.Linear(84, 10)

    def forward(self, x):
        x = F.avg_pool2d(torch.tanh(self.conv1(x)), 2, 2)
        x = F.avg_pool2d(torch.tanh(self.conv2(x)), 2, 2)
        x = torch.tanh(self.fc1(flatten_nhwc(x)))
        x = torch.tanh(self.fc2(x))
        return self.logits(x)


class StridedCnn(ReferenceNet):
    def __init__(self):
        super().__init__()
        self.conv1 = TfConv2d(1, 8, 5, stride=2)
        self.conv2 = TfConv2d(8, 16, 3, stride=2)
        self.logits = nn.Linear(5 * 5 * 16, 10)

    def forward(self, x):
        x = self.relu('conv1', self.conv1(x))
        x = self.relu('conv2', self.conv2(x))
        return self.logits(flatten_nhwc(x))


class SamePaddedCnn(ReferenceNet):
    def __init__(self):
        super().__init__()
        self.conv1 = TfConv2d(1, 8, 3, padding='same')
        self.conv2 = TfConv2d(8, 16, 3, stride=2, padding='same')
        self.conv3 = TfConv2d(16, 16, 4, padding='same')
        self.logits = nn.Linear(7 * 7 * 16, 10)

    def forward(self, x):
        x = self.relu('conv1', self.conv1(x))
        x = self.relu('conv2', self.conv2(x))
        x = F.max_pool2d(self.relu('conv3', self.conv3(x)), 2, 2)
        return self.logits(flatten_nhwc(x))


NETWORKS = {
    'small-cnn': SmallCnn,
    'sigmoid-10conv': Sigmoid10Conv,
    'relu-bn-10conv': ReluBn10Conv,
    'lenet5': LeNet5,
    'strided-cnn': StridedCnn,
    'same-padded-cnn': SamePaddedCnn,
}


def build(name):
    if name not in NETWORKS:
        raise SystemExit(f"unknown reference network '{name}' (known: {', '.join(NETWORKS)})")
    return NETWORKS[name]()
