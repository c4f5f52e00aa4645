"""pipeline.model_files: save/load round trip and refusals naming the file."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from inverse3d.common.errors import InputError
from inverse3d.methods.base import setting
from inverse3d.pipeline.model_files import load_model_file, save_model_file


@dataclass
class _Cfg:
    width: int = setting(4, "hidden width", low=1, high=64)


def _build(cfg: _Cfg) -> torch.nn.Module:
    return torch.nn.Linear(3, cfg.width)


def test_round_trip(tmp_path):
    torch.manual_seed(0)
    cfg = _Cfg(width=5)
    model = _build(cfg)
    save_model_file(tmp_path / "m.pt", "test-1", cfg, {"state_dict": model})
    back, cfg2 = load_model_file(tmp_path / "m.pt", "test-1", _Cfg, _build)
    assert cfg2 == cfg and not back.training
    for a, b in zip(model.state_dict().values(), back.state_dict().values()):
        assert torch.equal(a, b)


def test_refusals(tmp_path):
    cfg = _Cfg()
    save_model_file(tmp_path / "m.pt", "test-1", cfg, {"state_dict": _build(cfg)})
    with pytest.raises(InputError, match="m.pt: not a other-1 model file"):
        load_model_file(tmp_path / "m.pt", "other-1", _Cfg, _build)
    with pytest.raises(InputError, match="weights do not fit"):
        load_model_file(tmp_path / "m.pt", "test-1", _Cfg, lambda c: torch.nn.Linear(2, 2))
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(InputError, match="junk.pt: not a model file"):
        load_model_file(tmp_path / "junk.pt", "test-1", _Cfg, _build)
    with pytest.raises(FileNotFoundError):
        load_model_file(tmp_path / "none.pt", "test-1", _Cfg, _build)
    with pytest.raises(TypeError, match="config"):
        save_model_file(tmp_path / "x.pt", "test-1", {"width": 3}, {})
