"""A helper file: no nn.Module here."""
import torch


def scale(x):
    return torch.relu(x) * 2
