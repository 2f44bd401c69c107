"""TorchScript models for the retraining memory benchmark, random weights
(seed 0): LeNet-5 (Caffe form) and a ResNet-18 shaped for 28x28 grey
images (3x3 stem, stride 1, no max-pool, 10 classes).
Usage: make_retrain_models.py OUTDIR"""
import os
import sys

import torch
from torch import nn
import torchvision.models as tvm

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "examples"))
from train_lenet import LeNet5  # noqa: E402  (the examples' Caffe form)


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
