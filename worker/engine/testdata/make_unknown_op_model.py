#!/usr/bin/env python3
"""Writes unknown_op.pt: a TorchScript model (Debian's torch 1.13) whose
saved code calls aten::zelu, an op no LibTorch has, the way a model saved by
PyTorch 2.x calls aten::scaled_dot_product_attention, which 1.13 lacks. The
op's name has the length of the one it replaces (relu), so the archive's
debug spans stay valid. Usage: make_unknown_op_model.py OUT.pt"""
import io
import sys
import zipfile

import torch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        return torch.relu(self.fc(x))


def main():
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(Net()), buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_STORED) as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith(".py"):
                data = data.replace(b"torch.relu(", b"torch.zelu(")
            out.writestr(info, data)


if __name__ == "__main__":
    main()
