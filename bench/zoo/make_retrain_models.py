"""TorchScript models for the retraining memory benchmark, random weights
(seed 0): LeNet-5 (Caffe form) and a ResNet-18 shaped for 28x28 grey
images (3x3 stem, stride 1, no max-pool, 10 classes).
Usage: make_retrain_models.py OUTDIR"""
import os
import sys

import torch
from torch import nn
import torchvision.models as tvm


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(800, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def resnet18_28():
    m = tvm.resnet18(num_classes=10)
    m.conv1 = nn.Conv2d(1, 64, 3, 1, 1, bias=False)
    m.maxpool = nn.Identity()
    return m


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, make in (("lenet5", LeNet5), ("resnet18_28", resnet18_28)):
        torch.manual_seed(0)
        model = make().eval()
        torch.jit.script(model).save(os.path.join(out, name + ".pt"))
        print(name, sum(p.numel() for p in model.parameters()))


if __name__ == "__main__":
    main()
