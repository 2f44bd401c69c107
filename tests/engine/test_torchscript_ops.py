"""The server's upload check of TorchScript (no LibTorch: it reads the
archive's code and compares the ops called with the list of the workers'
LibTorch) against real models: it must pass every model this LibTorch
saved, whatever its layers, and catch the op a newer PyTorch's model calls.
A false refusal would lock users out, so the corpus spans convolutional,
recurrent, attention and transformer models."""
import os
import subprocess
import sys

import pytest
import torch
import torchvision

sys.path.insert(0, os.path.dirname(__file__))
import layer_zoo  # noqa: E402

TOOL = os.environ.get("CONDENSE_TORCHSCRIPT_OPS", "")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


class Recurrent(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(50, 8)
        self.lstm = torch.nn.LSTM(8, 16, 2, batch_first=True,
                                  bidirectional=True)
        self.gru = torch.nn.GRU(32, 8)
        self.rnn = torch.nn.RNN(8, 8)

    def forward(self, x):
        y, _ = self.lstm(self.embed(x))
        y, _ = self.gru(y)
        y, _ = self.rnn(y)
        return y


def corpus():
    tv = torchvision.models
    yield "resnet18", tv.resnet18(weights=None)
    yield "mobilenet_v3_small", tv.mobilenet_v3_small(weights=None)
    yield "squeezenet", tv.squeezenet1_0(weights=None)
    yield "recurrent", Recurrent()
    yield "mha", torch.nn.MultiheadAttention(16, 4)
    yield "transformer", torch.nn.Transformer(16, 2, 1, 1, 32)
    yield "layer_zoo", layer_zoo.make()[0]


def run(*paths):
    if not TOOL:
        pytest.fail("CONDENSE_TORCHSCRIPT_OPS is not set: run this through "
                    "ctest")
    return subprocess.run([TOOL, *map(str, paths)], capture_output=True,
                          text=True)


def test_every_model_this_libtorch_saved_passes(tmp_path):
    torch.manual_seed(0)
    paths = []
    for name, model in corpus():
        if not isinstance(model, torch.jit.ScriptModule):
            model = torch.jit.script(model.eval())
        paths.append(tmp_path / f"{name}.pt")
        model.save(str(paths[-1]))
    result = run(*paths)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" 0 unknown to LibTorch") == len(paths)


def test_the_op_a_newer_pytorch_calls_is_caught():
    result = run(os.path.join(ROOT, "worker", "engine", "testdata",
                              "unknown_op.pt"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "aten::zelu (torch.zelu in archive/code/__torch__.py)" in \
        result.stdout


def test_a_torch_save_file_is_not_torchscript(tmp_path):
    torch.save({"w": torch.zeros(2)}, str(tmp_path / "state.pt"))
    result = run(tmp_path / "state.pt")
    assert result.returncode == 2
    assert "holds no TorchScript code" in result.stderr
