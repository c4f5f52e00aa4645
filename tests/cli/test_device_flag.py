"""Every verb that computes takes --device the same way as reconstruct: default cuda when
available (cpu here), an unknown device or absent CUDA is exit 2 naming the flag."""

import pytest
import torch

from inverse3d.cli import build_parser, main
from inverse3d.cli._common import verb_device

VERBS = ["fit-body", "fit-sdf", "predict-mesh", "synthesize", "train-giraffe",
         "train-mesh-head", "train-synsin"]  # fmt: skip
POSITIONAL = {"fit-body": ["i.png", "k.json", "--model", "m.npz"], "fit-sdf": ["m.obj"],
              "predict-mesh": ["i.png", "--checkpoint", "c.pt"],
              "synthesize": ["i.png", "--checkpoint", "c.pt", "--angle", "10"]}  # fmt: skip


@pytest.mark.parametrize("verb", VERBS)
def test_default_is_cuda_when_available(verb):
    args = build_parser().parse_args([verb, *POSITIONAL.get(verb, [])])
    assert args.device is None
    assert verb_device(args) == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("verb", VERBS)
def test_bad_device_exits_2(verb, tmp_path, capsys):
    code = main([verb, *POSITIONAL.get(verb, []), "--out", str(tmp_path), "--device", "nope"])
    assert code == 2
    assert "--device 'nope'" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_exits_2(tmp_path, capsys):
    assert main(["train-mesh-head", "--out", str(tmp_path), "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err
