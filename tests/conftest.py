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
# Small copies of some of those files, shipped with the tests (tests/data/README.md).
VENDORED_DATA_DIR = Path(__file__).resolve().parent / "data"

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


def find_data_file(rel: str | os.PathLike) -> Path:
    """`rel` (a path under the data folder, e.g. "book/chap3/pedestrian.ply") in ../shared/data
    (or $INVERSE3D_TEST_DATA) if it is there, else in tests/data; the calling test is skipped
    when neither has it."""
    for root in (DATA_DIR, VENDORED_DATA_DIR):
        path = root / rel
        if path.exists():
            return path
    pytest.skip(f"test data {rel} is absent from {DATA_DIR} and {VENDORED_DATA_DIR}")


class DataFolder:
    """A data folder found by `find_data_file`: ``folder / "a/b.obj"`` is the file's Path."""

    def __init__(self, rel: str) -> None:
        self.rel = rel

    def __truediv__(self, name: str | os.PathLike) -> Path:
        return find_data_file(Path(self.rel) / name)

    def __repr__(self) -> str:
        return f"DataFolder({self.rel!r})"


@pytest.fixture
def book_dir() -> DataFolder:
    """The book's files: ``book_dir / "chap3/pedestrian.ply"`` is found in ../shared/data/book
    or else tests/data/book; a test asking for a file in neither is skipped."""
    return DataFolder("book")


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def device(request) -> torch.device:
    return torch.device(request.param)
