#!/usr/bin/python3
"""Writes tiny_script.pt: a small TorchScript model saved by torch.jit.save
(Debian's torch 1.13; its code entries are deflated), for the tests of
codec/torchscript_archive.h. Usage: make_tiny_script.py OUT.pt"""
import sys

import torch


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        # The device check gives the code an ops.prim call.
        if x.device.type == "meta":
            raise RuntimeError("no meta tensors")
        return torch.relu(self.fc(x)).flatten(1)


def main():
    torch.manual_seed(0)
    torch.jit.save(torch.jit.script(Tiny()), sys.argv[1])


if __name__ == "__main__":
    main()
