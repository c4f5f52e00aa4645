"""Body model files: npz / pkl round trips, scipy sparse and chumpy pickles, refused globals."""

from __future__ import annotations

import io
import os
import pickle
import sys
import types

import numpy as np
import pytest

from inverse3d.io.body_model_io import load_body_model_file, save_body_model_file
from inverse3d.io.utils import ParseError
from inverse3d.models.synthetic_body import make_synthetic_body, write_synthetic_body


@pytest.fixture(scope="module")
def model():
    return make_synthetic_body()


class TestRoundTrip:
    @pytest.mark.parametrize("fmt", ["npz", "pkl"])
    def test_round_trip(self, tmp_path, model, fmt):
        path = tmp_path / f"body.{fmt}"
        write_synthetic_body(path)
        got = load_body_model_file(path)
        for k, v in model.items():
            np.testing.assert_array_equal(got[k], v)

    def test_file_object(self, model):
        buf = io.BytesIO()
        save_body_model_file(buf, model, fmt="pkl")
        buf.seek(0)
        np.testing.assert_array_equal(load_body_model_file(buf)["f"], model["f"])


class TestScipySparse:
    @pytest.mark.parametrize("kind", ["csc", "csr"])
    def test_sparse_regressor(self, tmp_path, model, kind):
        sp = pytest.importorskip("scipy.sparse")
        d = dict(model)
        reg = model["J_regressor"]
        d["J_regressor"] = sp.csc_matrix(reg) if kind == "csc" else sp.csr_matrix(reg)
        path = tmp_path / "sparse.pkl"
        path.write_bytes(pickle.dumps(d, protocol=2))
        got = load_body_model_file(path)
        np.testing.assert_array_equal(got["J_regressor"], reg)

    def test_inconsistent_sparse(self, tmp_path, model):
        sp = pytest.importorskip("scipy.sparse")
        d = dict(model)
        m = sp.csc_matrix(model["J_regressor"])
        m.indices = m.indices.copy()
        m.indices[0] = 10**7  # out of range row
        d["J_regressor"] = m
        path = tmp_path / "bad.pkl"
        path.write_bytes(pickle.dumps(d, protocol=2))
        with pytest.raises(ParseError, match="J_regressor.*inconsistent csc"):
            load_body_model_file(path)


class TestChumpy:
    @pytest.mark.parametrize("protocol", [1, 2])  # 1: copyreg._reconstructor, 2: NEWOBJ
    def test_chumpy_arrays_keep_their_data(self, tmp_path, model, monkeypatch, protocol):
        """A pickle of chumpy.ch.Ch objects (as SMPL's shapedirs) loads without chumpy."""
        mod = types.ModuleType("chumpy.ch")

        class Ch:
            def __init__(self, x):
                self.x = x
                self._dirty_vars = set()

        Ch.__module__ = "chumpy.ch"
        Ch.__qualname__ = "Ch"
        mod.Ch = Ch
        monkeypatch.setitem(sys.modules, "chumpy", types.ModuleType("chumpy"))
        monkeypatch.setitem(sys.modules, "chumpy.ch", mod)
        d = dict(model)
        d["shapedirs"] = Ch(model["shapedirs"])
        data = pickle.dumps(d, protocol=protocol)
        monkeypatch.delitem(sys.modules, "chumpy.ch")
        monkeypatch.delitem(sys.modules, "chumpy")
        path = tmp_path / "ch.pkl"
        path.write_bytes(data)
        got = load_body_model_file(path)
        np.testing.assert_array_equal(got["shapedirs"], model["shapedirs"])
        assert "chumpy" not in sys.modules


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class TestRefused:
    def test_code_execution_refused(self, tmp_path, model):
        marker = tmp_path / "pwned"
        d = dict(model)
        d["v_template"] = _Evil(marker)
        path = tmp_path / "evil.pkl"
        path.write_bytes(pickle.dumps(d, protocol=2))
        with pytest.raises(ParseError, match=r"evil\.pkl.*refused global (posix|nt)\.system"):
            load_body_model_file(path)
        assert not marker.exists()

    @pytest.mark.parametrize("protocol", [0, 2, 4])
    def test_builtins_eval_refused(self, tmp_path, protocol):
        class E:
            def __reduce__(self):
                return (eval, ("1 + 1",))

        path = tmp_path / "e.pkl"
        path.write_bytes(pickle.dumps({"x": E()}, protocol=protocol))
        with pytest.raises(ParseError, match=r"refused global (__builtin__|builtins)\.eval"):
            load_body_model_file(path)

    def test_object_array_refused(self, tmp_path, model):
        d = dict(model)
        d["v_template"] = np.array([None, 1], dtype=object)
        path = tmp_path / "obj.pkl"
        path.write_bytes(pickle.dumps(d, protocol=2))
        with pytest.raises(ParseError, match="obj.pkl"):
            load_body_model_file(path)

    def test_missing_key_and_bad_shape(self, tmp_path, model):
        d = {k: v for k, v in model.items() if k != "weights"}
        path = tmp_path / "m.npz"
        np.savez(path, **d)
        with pytest.raises(ParseError, match="m.npz: missing body model key.*weights"):
            load_body_model_file(path)
        d = dict(model)
        d["posedirs"] = d["posedirs"][:, :, :10]
        np.savez(path, **d)
        with pytest.raises(ParseError, match=r"posedirs must have shape \(V, 3, 207\)"):
            load_body_model_file(path)

    def test_truncated(self, tmp_path, model):
        buf = io.BytesIO()
        save_body_model_file(buf, model, fmt="pkl")
        path = tmp_path / "t.pkl"
        path.write_bytes(buf.getvalue()[:1000])
        with pytest.raises(ParseError, match="t.pkl"):
            load_body_model_file(path)
