"""Helpers for the dataset tests: OpenCV look-at cameras and image writing, in plain numpy."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image


def _look_at_cv(centre: np.ndarray, up=(0.0, 1.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV world-to-camera R, t of a camera at `centre` looking at the origin (y down)."""
    z = -centre / np.linalg.norm(centre)
    x = np.cross(z, -np.asarray(up, dtype=np.float64))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    return R, -R @ centre


@pytest.fixture
def look_at_cv():
    return _look_at_cv


@pytest.fixture
def random_centres():
    def make(n: int, rng: np.random.Generator, dist=(2.5, 4.0)) -> np.ndarray:
        d = rng.normal(size=(n, 3))
        d[:, 1] = np.abs(d[:, 1]) * 0.5 + 0.1
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        return d * rng.uniform(*dist, size=(n, 1))

    return make


@pytest.fixture
def write_png():
    def write(path, arr: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(np.rint(arr * 255), 0, 255).astype(np.uint8)).save(path)

    return write
