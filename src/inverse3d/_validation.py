"""Input checks shared by every public function.

Each check raises a `TypeError` (wrong kind of object) or `ValueError` (wrong shape, dtype, range)
whose message names the argument, what was expected and what was given, e.g.
``verts must have shape (N, V, 3); got (2, 5, 4)``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch

__all__ = [
    "check_tensor",
    "check_shape",
    "check_same_device",
    "check_positive_int",
    "check_nonneg_int",
    "check_positive_float",
    "check_finite",
    "check_choice",
    "format_shape",
    "with_phrase",
]

_DTYPE_KINDS = {
    "float": (torch.float16, torch.bfloat16, torch.float32, torch.float64),
    "int": (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8),
    "bool": (torch.bool,),
}

ShapeSpec = Sequence[int | str | None]


def format_shape(shape: Iterable[Any]) -> str:
    """``(2, 5, 4)`` for a shape or spec; names and None (any size) are printed as given."""
    items = ["*" if s is None else str(s) for s in shape]
    if len(items) == 1:
        return f"({items[0]},)"
    return "(" + ", ".join(items) + ")"


def check_shape(
    tensor: torch.Tensor,
    name: str,
    shape: ShapeSpec,
    dims: dict[str, int] | None = None,
) -> None:
    """Check `tensor.shape` against `shape`.

    `shape` items: an int (that exact size), None (any size), a str naming a dimension ("N", "V")
    that must agree with earlier uses of the same name in `dims` (filled in as it goes), or
    "..." as the first item for any number of leading dimensions.
    """
    spec = list(shape)
    leading = bool(spec) and spec[0] == "..."
    if leading:
        spec = spec[1:]
    actual = tuple(tensor.shape)
    ok = len(actual) >= len(spec) if leading else len(actual) == len(spec)
    if ok:
        tail = actual[len(actual) - len(spec) :] if spec else ()
        for want, got in zip(spec, tail):
            if want is None:
                continue
            if isinstance(want, int):
                if want != got:
                    ok = False
                    break
            elif dims is not None:
                if want in dims and dims[want] != got:
                    ok = False
                    break
                dims.setdefault(want, got)
    if not ok:
        want_s = format_shape((["..."] if leading else []) + spec)
        extra = ""
        if dims:
            bound = {k: v for k, v in dims.items() if k in spec}
            if bound:
                extra = " with " + ", ".join(f"{k}={v}" for k, v in bound.items())
        raise ValueError(f"{name} must have shape {want_s}{extra}; got {format_shape(actual)}")


def check_tensor(
    value: Any,
    name: str,
    shape: ShapeSpec | None = None,
    dtype: str | torch.dtype | tuple | None = None,
    dims: dict[str, int] | None = None,
    finite: bool = False,
) -> torch.Tensor:
    """Check that `value` is a tensor of the given shape spec and dtype kind; return it.

    dtype: "float", "int", "bool", a torch.dtype or a tuple of those.
    finite: also reject NaN/inf values (floating tensors only).
    """
    if not torch.is_tensor(value):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(value).__name__}")
    if dtype is not None:
        kinds = dtype if isinstance(dtype, tuple) else (dtype,)
        allowed: list[torch.dtype] = []
        for k in kinds:
            allowed.extend(_DTYPE_KINDS[k] if isinstance(k, str) else (k,))
        if value.dtype not in allowed:
            want = " or ".join(str(k) for k in kinds)
            raise TypeError(f"{name} must have dtype {want}; got {value.dtype}")
    if shape is not None:
        check_shape(value, name, shape, dims)
    if finite:
        check_finite(value, name)
    return value


def check_finite(value: torch.Tensor, name: str) -> None:
    """Raise ValueError if a floating tensor holds NaN or inf."""
    if value.is_floating_point() and value.numel() and not bool(torch.isfinite(value).all()):
        n_bad = int((~torch.isfinite(value)).sum())
        raise ValueError(f"{name} must be finite; got {n_bad} NaN/inf value(s)")


def check_same_device(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    if a.device != b.device:
        raise ValueError(
            f"{name_a} and {name_b} must be on the same device; got {a.device} and {b.device}"
        )


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return torch.is_tensor(value) and value.numel() == 1 and not value.is_floating_point()


def check_positive_int(value: Any, name: str) -> int:
    if not _is_int(value):
        raise TypeError(f"{name} must be an int; got {type(value).__name__}")
    if int(value) < 1:
        raise ValueError(f"{name} must be >= 1; got {int(value)}")
    return int(value)


def check_nonneg_int(value: Any, name: str) -> int:
    if not _is_int(value):
        raise TypeError(f"{name} must be an int; got {type(value).__name__}")
    if int(value) < 0:
        raise ValueError(f"{name} must be >= 0; got {int(value)}")
    return int(value)


def check_positive_float(value: Any, name: str, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if not (torch.is_tensor(value) and value.numel() == 1):
            raise TypeError(f"{name} must be a number; got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}; got {v}")
    return v


def check_choice(value: Any, name: str, choices: Iterable[Any]) -> Any:
    options = list(choices)
    if value not in options:
        raise ValueError(f"{name} must be one of {options!r}; got {value!r}")
    return value


@contextlib.contextmanager
def with_phrase(phrase: str) -> Iterator[None]:
    """Prefix the message of a ValueError raised inside the block with `phrase` (PyTorch3D's
    wording for that error, so that code matching PyTorch3D's messages keeps working); the
    exception's type and traceback are kept."""
    try:
        yield
    except ValueError as err:
        if err.args and isinstance(err.args[0], str) and phrase not in err.args[0]:
            err.args = (f"{phrase}: {err.args[0]}", *err.args[1:])
        raise
