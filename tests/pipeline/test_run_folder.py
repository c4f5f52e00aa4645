"""Run folders: names are single components, nothing but our own run folders is ever deleted."""

from __future__ import annotations

import os

import pytest

from inverse3d.common.errors import InputError
from inverse3d.pipeline.run_folder import (
    MARKER,
    is_run_folder,
    prepare_run_folder,
    validate_run_name,
    write_error_log,
)


class TestNames:
    @pytest.mark.parametrize("name", ["mug-mesh", "run 1", "a.b", "é"])
    def test_good(self, name):
        assert validate_run_name(name) == name

    @pytest.mark.parametrize("name", ["", ".", "..", "...", "a/b", "../x", "a\\b", "x\0", " x"])
    def test_bad(self, name):
        with pytest.raises(InputError, match="--name"):
            validate_run_name(name)


class TestPrepare:
    def test_new_folder_is_marked(self, tmp_path):
        f = prepare_run_folder(tmp_path, "r", overwrite=False, resume=False)
        assert f == tmp_path / "r" and (f / MARKER).is_file() and is_run_folder(f)

    def test_existing_run_needs_a_flag(self, tmp_path):
        f = prepare_run_folder(tmp_path, "r", overwrite=False, resume=False)
        (f / "x.txt").write_text("1")
        with pytest.raises(InputError, match="--overwrite"):
            prepare_run_folder(tmp_path, "r", overwrite=False, resume=False)
        assert prepare_run_folder(tmp_path, "r", overwrite=False, resume=True) == f
        assert (f / "x.txt").is_file()
        prepare_run_folder(tmp_path, "r", overwrite=True, resume=False)
        assert not (f / "x.txt").exists() and (f / MARKER).is_file()

    def test_foreign_folder_is_never_deleted(self, tmp_path):
        f = tmp_path / "mine"
        f.mkdir()
        (f / "data.txt").write_text("precious")
        for kw in (dict(overwrite=True, resume=False), dict(overwrite=False, resume=True)):
            with pytest.raises(InputError, match="not an inverse3d run folder"):
                prepare_run_folder(tmp_path, "mine", **kw)
        assert (f / "data.txt").read_text() == "precious"

    def test_symlinked_run_folder_is_refused(self, tmp_path):
        target = tmp_path / "elsewhere"
        prepare_run_folder(tmp_path, "elsewhere", overwrite=False, resume=False)
        (target / "keep.txt").write_text("k")
        out = tmp_path / "runs"
        out.mkdir()
        os.symlink(target, out / "link")
        with pytest.raises(InputError, match="symbolic link"):
            prepare_run_folder(out, "link", overwrite=True, resume=False)
        assert (target / "keep.txt").is_file()

    def test_resume_of_nothing(self, tmp_path):
        with pytest.raises(InputError, match="no run to resume"):
            prepare_run_folder(tmp_path, "none", overwrite=False, resume=True)

    def test_out_is_a_file(self, tmp_path):
        (tmp_path / "f").write_text("")
        with pytest.raises(InputError, match="--out must be a folder"):
            prepare_run_folder(tmp_path / "f", "r", overwrite=False, resume=False)


def test_error_log(tmp_path):
    try:
        raise RuntimeError("boom")
    except RuntimeError as e:
        p = write_error_log(tmp_path, e)
    assert p == tmp_path / "error.log" and "RuntimeError: boom" in p.read_text()
    try:
        raise KeyError("k")
    except KeyError as e:
        p = write_error_log(None, e)
    assert p.is_file() and "KeyError" in p.read_text()
    p.unlink()
