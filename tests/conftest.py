"""Shared fixtures: seeding, the shared test data folder, CUDA skipping in one place."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

DATA_DIR = Path(
    os.environ.get(
        "INVERSE3D_TEST_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
)

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield


@pytest.fixture
def data_dir() -> Path:
    """../shared/data (or $INVERSE3D_TEST_DATA); the test is skipped when it is absent."""
    if not DATA_DIR.is_dir():
        pytest.skip(f"test data folder {DATA_DIR} is absent")
    return DATA_DIR


@pytest.fixture
def book_dir(data_dir: Path) -> Path:
    d = data_dir / "book"
    if not d.is_dir():
        pytest.skip(f"{d} is absent")
    return d


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def device(request) -> torch.device:
    return torch.device(request.param)
