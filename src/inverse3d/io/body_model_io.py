"""Body model files (SMPL family): `.npz` and `.pkl`, read without running code from the file.

The official SMPL / SMPL+H / SMPL-X / MANO files (which users download themselves; their licence
forbids shipping them) are dicts with these keys, the layout this module reads and writes:

    v_template   (V, 3) float    rest-pose template vertices
    f            (F, 3) int      triangles
    weights      (V, J) float    linear-blend-skinning weights
    J_regressor  (J, V) float    joints as combinations of the shaped vertices (dense or sparse)
    kintree_table (2, J) int     row 0: parent of each joint (root: -1 or 4294967295), row 1: ids
    shapedirs    (V, 3, B) float shape blend shapes
    posedirs     (V, 3, P) float pose blend shapes, P = 9 (J - 1)
    joint_names  (J,) str        optional (our synthetic model writes it; SMPL does not)

`.npz` files are read with `numpy.load(allow_pickle=False)`. `.pkl` files (Python 2 pickles built
with chumpy and scipy) go through `RestrictedUnpickler`, which resolves only the globals needed to
rebuild numpy arrays, dtypes and scalars, scipy CSC/CSR sparse matrices (rebuilt here from their
data/indices/indptr arrays, without importing scipy) and chumpy arrays (their data kept, chumpy
not imported); any other global is refused with an error naming the file and the global, before
anything from it runs.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from typing import Any, BinaryIO

import numpy as np

from inverse3d.io.utils import ParseError, PathOrStr, file_name, read_bytes

__all__ = [
    "BODY_MODEL_KEYS",
    "RestrictedUnpickler",
    "SparseMatrixData",
    "load_body_model_file",
    "save_body_model_file",
]

BODY_MODEL_KEYS = (
    "v_template",
    "f",
    "weights",
    "J_regressor",
    "kintree_table",
    "shapedirs",
    "posedirs",
)


class SparseMatrixData:
    """What a pickled scipy CSC/CSR matrix holds: `format` ("csc" or "csr"), `shape`, `data`,
    `indices`, `indptr`; `toarray()` makes the dense (rows, cols) numpy array."""

    format = ""

    def __init__(self) -> None:
        self.shape: tuple[int, int] = (0, 0)
        self.data = np.zeros(0)
        self.indices = np.zeros(0, dtype=np.int64)
        self.indptr = np.zeros(1, dtype=np.int64)

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"{self.format} matrix state is not a dict")
        shape = state.get("_shape", state.get("shape"))
        if shape is None or len(shape) != 2:
            raise pickle.UnpicklingError(f"{self.format} matrix without a 2-D shape")
        self.shape = (int(shape[0]), int(shape[1]))
        for key in ("data", "indices", "indptr"):
            value = state.get(key)
            if not isinstance(value, np.ndarray) or value.ndim != 1:
                raise pickle.UnpicklingError(f"{self.format} matrix without a 1-D {key} array")
            setattr(self, key, value)

    def toarray(self) -> np.ndarray:
        """Dense array; ValueError when data/indices/indptr do not fit the shape."""
        rows, cols = self.shape
        major, minor = (cols, rows) if self.format == "csc" else (rows, cols)
        indptr = self.indptr.astype(np.int64)
        indices = self.indices.astype(np.int64)
        ok = (
            len(indptr) == major + 1
            and indptr[0] == 0
            and bool((np.diff(indptr) >= 0).all())
            and indptr[-1] == len(indices) == len(self.data)
            and (len(indices) == 0 or (indices.min() >= 0 and indices.max() < minor))
        )
        if not ok:
            raise ValueError(f"inconsistent {self.format} matrix of shape {self.shape}")
        if rows * cols > 64 * max(1, len(self.data)) + 10**8:
            raise ValueError(f"{self.format} matrix of shape {self.shape} is too large to densify")
        out = np.zeros((rows, cols), dtype=self.data.dtype)
        major_idx = np.repeat(np.arange(major), np.diff(indptr))
        if self.format == "csc":
            np.add.at(out, (indices, major_idx), self.data)
        else:
            np.add.at(out, (major_idx, indices), self.data)
        return out


class _CscData(SparseMatrixData):
    format = "csc"


class _CsrData(SparseMatrixData):
    format = "csr"


class _ChumpyData:
    """A chumpy array: keeps its `x` (the numpy data) and nothing else."""

    def __init__(self) -> None:
        self.x: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict) and isinstance(state.get("x"), np.ndarray):
            self.x = state["x"]


def _np_reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    # numpy's pickles call _reconstruct(ndarray, (0,), b'b') and then fill the array with BUILD
    # (ndarray.__setstate__); the shape given here is ignored so a file cannot make us allocate.
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError("numpy array reconstruction of a non-ndarray type")
    return np.ndarray((0,), dtype=np.uint8)


def _np_scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError("numpy scalar of a non-numeric dtype")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise pickle.UnpicklingError("numpy scalar with a wrong number of bytes")
    return np.frombuffer(data, dtype=dtype)[0]


def _np_dtype(obj: Any, align: Any = False, copy: Any = False) -> np.dtype:
    if not isinstance(obj, (str, bytes)):
        raise pickle.UnpicklingError("numpy dtype from something else than a type string")
    dt = np.dtype(obj.decode("latin1") if isinstance(obj, bytes) else obj)
    if dt.hasobject:
        raise pickle.UnpicklingError("numpy object dtype")
    return dt


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    # copyreg._reconstructor as Python 2 pickles of new-style objects use it; only our stubs.
    if cls not in (_CscData, _CsrData, _ChumpyData) or base is not object:
        raise pickle.UnpicklingError("object reconstruction of a refused type")
    return cls()


def _codecs_encode(text: Any, encoding: str = "utf-8") -> bytes:
    # protocol-2 pickles written by Python 3 spell bytes as _codecs.encode(str, 'latin1')
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode with unexpected arguments")
    return text.encode("latin1")


_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")
_ALLOWED: dict[tuple[str, str], Any] = {
    **{(m, "_reconstruct"): _np_reconstruct for m in _NUMPY_MODULES},
    **{(m, "scalar"): _np_scalar for m in _NUMPY_MODULES},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _np_dtype,
    ("copy_reg", "_reconstructor"): _reconstructor,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("_codecs", "encode"): _codecs_encode,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
    ("__builtin__", "set"): set,
    ("builtins", "set"): set,
    ("__builtin__", "frozenset"): frozenset,
    ("builtins", "frozenset"): frozenset,
}
_SPARSE = {"csc_matrix": _CscData, "csr_matrix": _CsrData}
_SPARSE_MODULES = ("scipy.sparse", "scipy.sparse.csc", "scipy.sparse.csr")
_SPARSE_MODULES += ("scipy.sparse._csc", "scipy.sparse._csr")


class RestrictedUnpickler(pickle.Unpickler):
    """A pickle.Unpickler that resolves only the globals of numpy arrays, scipy CSC/CSR matrices
    and chumpy arrays (see the module docstring); anything else raises pickle.UnpicklingError
    naming the refused global, before it could be called."""

    def __init__(self, file: BinaryIO, name: str = "<stream>") -> None:
        super().__init__(file, encoding="latin1")
        self.name = name

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module in _SPARSE_MODULES and name in _SPARSE:
            return _SPARSE[name]
        if (module == "chumpy" or module.startswith("chumpy.")) and name == "Ch":
            return _ChumpyData
        raise pickle.UnpicklingError(
            f"refused global {module}.{name} (only numpy arrays, scipy CSC/CSR matrices and "
            "chumpy arrays are rebuilt from body model pickles)"
        )


def _plain(value: Any, key: str, name: str) -> Any:
    """numpy array of a loaded value (chumpy data, sparse matrix densified)."""
    if isinstance(value, _ChumpyData):
        if value.x is None:
            raise ParseError(name, f"{key}: a chumpy expression without array data")
        return value.x
    if isinstance(value, SparseMatrixData):
        try:
            return value.toarray()
        except ValueError as e:
            raise ParseError(name, f"{key}: {e}") from None
    return value


def _load_pickle(data: bytes, name: str) -> dict[str, Any]:
    try:
        obj = RestrictedUnpickler(io.BytesIO(data), name).load()
    except pickle.UnpicklingError as e:
        raise ParseError(name, f"not a body model pickle: {e}") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        raise ParseError(name, f"malformed pickle ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise ParseError(name, f"a body model pickle holds a dict; got {type(obj).__name__}")
    return obj


def _load_npz(data: bytes, name: str) -> dict[str, Any]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise ParseError(name, f"not a readable .npz body model ({e})") from None


def load_body_model_file(f: PathOrStr | BinaryIO, path_manager: Any = None) -> dict[str, Any]:
    """Read a body model file (`.npz`, or `.pkl` through `RestrictedUnpickler`).

    Args:
        f: path or binary file object; the format is told by the content (zip = npz), not the
            name.

    Returns:
        {key: numpy array} with at least BODY_MODEL_KEYS (sparse J_regressor made dense,
        chumpy arrays made numpy), plus the file's other array-valued keys.

    Raises:
        ParseError (a ValueError) naming the file and the reason: a refused pickle global, a
        missing key, a key of the wrong shape.
    """
    data, name = read_bytes(f, path_manager)
    raw = _load_npz(data, name) if data[:4] == b"PK\x03\x04" else _load_pickle(data, name)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            continue
        value = _plain(value, key, name)
        if isinstance(value, np.ndarray):
            out[key] = value
    missing = [k for k in BODY_MODEL_KEYS if k not in out]
    if missing:
        raise ParseError(name, f"missing body model key(s) {', '.join(missing)}")
    _check_layout(out, name)
    return out


def _check_layout(d: dict[str, Any], name: str) -> None:
    def bad(key: str, want: str) -> ParseError:
        return ParseError(name, f"{key} must have shape {want}; got {tuple(d[key].shape)}")

    vt = d["v_template"]
    if vt.ndim != 2 or vt.shape[1] != 3 or vt.shape[0] == 0:
        raise bad("v_template", "(V, 3)")
    V = vt.shape[0]
    w = d["weights"]
    if w.ndim != 2 or w.shape[0] != V or w.shape[1] == 0:
        raise bad("weights", f"(V, J) with V={V}")
    J = w.shape[1]
    checks = {
        "f": (2, lambda s: s[1] == 3, "(F, 3)"),
        "J_regressor": (2, lambda s: s == (J, V), f"(J, V) with J={J}, V={V}"),
        "kintree_table": (2, lambda s: s == (2, J), f"(2, J) with J={J}"),
        "shapedirs": (3, lambda s: s[:2] == (V, 3), f"(V, 3, B) with V={V}"),
        "posedirs": (3, lambda s: s == (V, 3, 9 * (J - 1)), f"(V, 3, {9 * (J - 1)})"),
    }
    for key, (ndim, ok, want) in checks.items():
        if d[key].ndim != ndim or not ok(d[key].shape):
            raise bad(key, want)
    for key in ("v_template", "weights", "J_regressor", "shapedirs", "posedirs"):
        if d[key].dtype.kind not in "fiu" or not np.isfinite(d[key]).all():
            raise ParseError(name, f"{key} must hold finite numbers")
    f = d["f"]
    if f.dtype.kind not in "iu" or (f.size and (f.min() < 0 or f.max() >= V)):
        raise ParseError(name, f"f must hold vertex indices in [0, {V})")


def save_body_model_file(f: PathOrStr | BinaryIO, model: dict[str, Any], fmt: str = "") -> None:
    """Write a body model dict (BODY_MODEL_KEYS, numpy arrays) as `.npz` or `.pkl`.

    fmt: "npz" or "pkl"; empty: from the file name's suffix. The pickle holds plain numpy arrays
    (protocol 2, readable by load_body_model_file and by the usual SMPL loaders).
    """
    if not fmt:
        if not isinstance(f, (str, os.PathLike)):
            raise ValueError("fmt must be given ('npz' or 'pkl') when f is a file object")
        fmt = os.fspath(f).rsplit(".", 1)[-1].lower()
    if fmt not in ("npz", "pkl"):
        raise ValueError(f"fmt must be 'npz' or 'pkl'; got {fmt!r} ({file_name(f)})")
    missing = [k for k in BODY_MODEL_KEYS if k not in model]
    if missing:
        raise ValueError(f"model is missing key(s) {', '.join(missing)}")
    arrays = {k: np.asarray(v) for k, v in model.items()}
    buf = io.BytesIO()
    if fmt == "npz":
        np.savez(buf, **arrays)
    else:
        pickle.dump(arrays, buf, protocol=2)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:
            fh.write(buf.getvalue())
    else:
        f.write(buf.getvalue())
