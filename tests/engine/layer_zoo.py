"""A TorchScript model holding one of every layer kind condense must tell
apart (LSTM, GRU, MultiheadAttention, Embedding, ConvTranspose2d, Conv3d, tied
weights, BatchNorm, LayerNorm, free parameters, buffers), and what condense
must do with each tensor: compress it (a layer's weight matrix) or keep it
raw (biases, norms, free parameters, buffers). Debian's torch; random
weights with a fixed seed."""
import torch
from torch import nn


class Zoo(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.lstm = nn.LSTM(16, 24, num_layers=2, batch_first=True)
        self.gru = nn.GRU(24, 16, batch_first=True, bidirectional=True)
        self.attn = nn.MultiheadAttention(32, 4, batch_first=True)
        self.norm = nn.LayerNorm(32)
        self.pos = nn.Parameter(torch.randn(1, 8, 32) * 0.02)
        self.deconv = nn.ConvTranspose2d(1, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.conv3 = nn.Conv3d(1, 2, 3, padding=1)
        self.head = nn.Linear(16, 50, bias=False)
        self.head.weight = self.embed.weight  # tied, as language models do
        self.register_buffer("scale", torch.tensor(0.5))

    def forward(self, tokens, image, volume):
        x = self.embed(tokens)
        x, _ = self.lstm(x)
        x, _ = self.gru(x)
        x = self.norm(x + self.pos[:, : x.shape[1]])
        x, _ = self.attn(x, x, x, need_weights=False)
        logits = self.head(x[..., :16])
        y = self.bn(self.deconv(image)).mean()
        z = self.conv3(volume).mean()
        return logits * self.scale + y + z


def make(seed=0):
    torch.manual_seed(seed)
    model = Zoo().eval()
    inputs = (torch.randint(0, 50, (2, 8)), torch.randn(2, 1, 6, 6),
              torch.randn(1, 1, 4, 4, 4))
    return torch.jit.script(model), inputs


# name -> compressed by default
EXPECTED = {
    "embed.weight": True,  # also head.weight, tied
    "lstm.weight_ih_l0": True, "lstm.weight_hh_l0": True,
    "lstm.weight_ih_l1": True, "lstm.weight_hh_l1": True,
    "lstm.bias_ih_l0": False, "lstm.bias_hh_l0": False,
    "lstm.bias_ih_l1": False, "lstm.bias_hh_l1": False,
    "gru.weight_ih_l0": True, "gru.weight_hh_l0": True,
    "gru.weight_ih_l0_reverse": True, "gru.weight_hh_l0_reverse": True,
    "gru.bias_ih_l0": False, "gru.bias_hh_l0": False,
    "gru.bias_ih_l0_reverse": False, "gru.bias_hh_l0_reverse": False,
    "attn.in_proj_weight": True, "attn.in_proj_bias": False,
    "attn.out_proj.weight": True, "attn.out_proj.bias": False,
    "norm.weight": False, "norm.bias": False,
    "pos": False,
    "deconv.weight": True, "deconv.bias": False,
    "bn.weight": False, "bn.bias": False,
    "bn.running_mean": False, "bn.running_var": False,
    "bn.num_batches_tracked": False,
    "conv3.weight": True, "conv3.bias": False,
    "scale": False,
}
