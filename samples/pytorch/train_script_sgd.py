"""A training script as people write them: the model, a data loader, and a loop with plain SGD.

Importing this file does not train (the loop sits under `if __name__ == "__main__":`); Analyze
Gradients picks `SmallCNN` (the only nn.Module), infers 1×28×28 Fashion-MNIST input from the
first Conv2d's in_channels, and takes the optimizer and learning rate from the literal
`torch.optim.SGD(model.parameters(), lr=0.05)` below. Healthy: no warning or error expected.
Quick fixes that change the learning rate or the optimizer edit that line.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.fc1 = nn.Linear(32 * 7 * 7, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def train_one_epoch(model, loader, optimizer, device="cpu"):
    model.train()
    total = 0.0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        total += loss.item() * images.size(0)
    return total / len(loader.dataset)


if __name__ == "__main__":
    torch.manual_seed(0)
    # Stand-in data so the script runs anywhere; swap in torchvision.datasets.FashionMNIST.
    images = torch.rand(512, 1, 28, 28)
    labels = torch.randint(0, 10, (512,))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels), batch_size=32, shuffle=True)

    model = SmallCNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for epoch in range(3):
        print(f"epoch {epoch}: loss {train_one_epoch(model, loader, optimizer):.3f}")
