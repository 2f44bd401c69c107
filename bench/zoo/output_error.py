"""Relative output error of a compressed model.pt against the original on
the seeded input, and whether names and shapes match.
Usage: output_error.py ORIGINAL.pt INPUT COMPRESSED.pt"""
import sys

import torch

orig = torch.jit.load(sys.argv[1]).eval()
comp = torch.jit.load(sys.argv[3]).eval()
x = torch.load(sys.argv[2])
same = ({n: p.shape for n, p in orig.named_parameters()} ==
        {n: p.shape for n, p in comp.named_parameters()})
with torch.no_grad():
    a = orig(x)
    b = comp(x)
a = a if isinstance(a, torch.Tensor) else a[0]
b = b if isinstance(b, torch.Tensor) else b[0]
# torchvision zero-initializes some heads (ViT): an all-zero output has no
# relative error to speak of.
err = ("n/a" if a.norm().item() == 0 else
       f"{((a - b).norm() / a.norm()).item():.4f}")
print(f"{err} {'yes' if same else 'NO'}")
