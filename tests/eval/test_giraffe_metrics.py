"""eval.giraffe_metrics.controllability on the untrained generator (the brief's thresholds)."""

import pytest
import torch

from inverse3d.eval.giraffe_metrics import controllability
from inverse3d.models.giraffe import GiraffeGenerator


def test_untrained_generator_is_controllable():
    torch.manual_seed(0)
    m = controllability(GiraffeGenerator(hidden=32, n_samples=16), n=20, seed=0)
    assert m["translation_corr_x"] >= 0.9 and m["translation_corr_y"] >= 0.9, m
    assert m["appearance_iou"] >= 0.9 and m["mean_opacity"] > 0.01, m


def test_validation():
    with pytest.raises(TypeError, match="gen"):
        controllability(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="n must be >= 3"):
        controllability(GiraffeGenerator(hidden=8), n=2)
