"""Public names added for PyTorch3D compatibility in this release (docs/compat_names.md): each
must import from PyTorch3D's module path with `pytorch3d` replaced by `inverse3d`."""

from __future__ import annotations

import importlib

import pytest

NEW = {
    "common.compat": "meshgrid_ij prod",
    "renderer.fisheyecameras": "FishEyeCameras",
    "renderer": "FishEyeCameras",
    "ops": "add_points_features_to_volume_densities_features add_pointclouds_to_volumes",
    "ops.points_to_volumes": "add_points_features_to_volume_densities_features "
    "add_pointclouds_to_volumes",
}

CASES = [(mod, name) for mod, names in NEW.items() for name in names.split()]


@pytest.mark.parametrize(("module", "name"), CASES, ids=[f"{m}.{n}" for m, n in CASES])
def test_new_name(module, name):
    mod = importlib.import_module(f"inverse3d.{module}")
    assert hasattr(mod, name), f"inverse3d.{module} lacks {name}"
