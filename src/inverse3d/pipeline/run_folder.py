"""Run folders: where a run writes, and the rules that keep other files safe.

A run folder is `<out>/<name>/`. `name` is one path component (no separators, not "." or "..");
the folder is marked as ours by a `.inverse3d-run` file written when it is created. An existing
folder is never replaced unless `overwrite` is given, and even then only when it is recognisably a
run folder (the marker, or a `config.yaml` of an older run) inside `<out>`: `--overwrite` cannot
delete anything else.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import traceback
from pathlib import Path

from inverse3d.common.errors import InputError

__all__ = [
    "MARKER",
    "is_run_folder",
    "prepare_run_folder",
    "validate_run_name",
    "write_error_log",
    "write_json",
]

MARKER = ".inverse3d-run"


def validate_run_name(name: str, flag: str = "--name") -> str:
    """`name` if it is a single, ordinary path component; InputError naming `flag` otherwise."""
    if not isinstance(name, str) or not name:
        raise InputError(f"{flag} must be a non-empty folder name; got {name!r}")
    bad = [c for c in ("/", "\\", "\0") if c in name]
    if os.sep in name or (os.altsep and os.altsep in name) or bad:
        raise InputError(f"{flag} must be a single folder name without separators; got {name!r}")
    if set(name) == {"."}:
        raise InputError(f"{flag} must not be made of dots only; got {name!r}")
    if name != name.strip():
        raise InputError(f"{flag} must not start or end with spaces; got {name!r}")
    return name


def is_run_folder(path: Path) -> bool:
    """True when `path` is a folder that a run of ours made (marker or an older run's config)."""
    return path.is_dir() and ((path / MARKER).is_file() or (path / "config.yaml").is_file())


def prepare_run_folder(out: str | os.PathLike, name: str, *, overwrite: bool, resume: bool) -> Path:
    """Create (or reuse, with `resume`) the run folder `out/name` and return it.

    - new or empty folder: created and marked;
    - existing run folder: `resume` reuses it; `overwrite` deletes and recreates it;
      neither is an InputError naming both flags;
    - existing folder that is not a run folder, or that resolves outside `out` (a symlink): an
      InputError; nothing is deleted.
    """
    validate_run_name(name)
    parent = Path(out)
    if parent.exists() and not parent.is_dir():
        raise InputError(f"{parent}: --out must be a folder; it is a file")
    folder = parent / name
    if folder.is_symlink():
        raise InputError(f"{folder}: the run folder is a symbolic link; refusing to use it")
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        if not is_run_folder(folder):
            raise InputError(
                f"{folder}: exists and is not an inverse3d run folder; choose another --name "
                "or --out (it is never deleted, even with --overwrite)"
            )
        if resume:
            return folder
        if not overwrite:
            raise InputError(
                f"{folder}: run folder exists; pass --overwrite to replace it or --resume to "
                "continue its run"
            )
        if folder.resolve().parent != parent.resolve():
            raise InputError(f"{folder}: resolves outside {parent}; refusing to delete it")
        shutil.rmtree(folder)
    elif resume:
        raise InputError(f"{folder}: no run to resume (the folder does not exist or is empty)")
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / MARKER, {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    return folder


def write_json(path: Path, value) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_error_log(folder: Path | None, exc: BaseException) -> Path:
    """Write the traceback of `exc` to `folder/error.log` (or a temporary file); return its path."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if folder is not None and folder.is_dir():
        path = folder / "error.log"
    else:
        import tempfile

        fd, name = tempfile.mkstemp(prefix="inverse3d-error-", suffix=".log")
        os.close(fd)
        path = Path(name)
    path.write_text(text, encoding="utf-8")
    return path
