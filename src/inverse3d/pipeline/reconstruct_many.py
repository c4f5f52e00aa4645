"""Many scenes in one job: `inverse3d reconstruct --data scenes/*`.

`reconstruct_many(datas, flags_run, flags_method, out=..., name=...)` makes the job folder
``out/name`` and runs one ordinary `reconstruct` per scene inside it (``out/name/<scene>-<method>``,
every output of a single run). Under torchrun the scenes are shared round-robin by the ranks
(`distributed.shard`), each rank running its scenes on its own (no gradient exchange); the rows
are gathered and rank 0 writes ``out/name/results.csv`` and ``out/name/report.json``.

A scene that fails does not stop the others: bad input (a missing folder, a file that cannot be
read) gives status "failed", any other exception status "error" (with the rank, under
torchrun) and its traceback in ``out/name/errors/<n>.log``.
"""

from __future__ import annotations

import csv
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from inverse3d import distributed
from inverse3d.common.errors import InputError
from inverse3d.pipeline.outputs import json_safe, versions, write_report_json
from inverse3d.pipeline.reconstruct import RunContext, reconstruct, resolve_settings
from inverse3d.pipeline.run_folder import prepare_run_folder

__all__ = ["INPUT_ERRORS", "reconstruct_many"]

INPUT_ERRORS = (InputError, FileNotFoundError, IsADirectoryError, NotADirectoryError)
"""Exceptions that make a scene "failed" (bad input) rather than "error"."""


def _silent(*args: Any, **kwargs: Any) -> None:
    """The log of ranks other than 0."""


def reconstruct_many(
    datas: Sequence[str],
    flags_run: Mapping[str, Any],
    flags_method: Mapping[str, Any],
    *,
    out: str | Path = "runs",
    name: str | None = None,
    config_file: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    context: RunContext | None = None,
) -> dict[str, Any]:
    """Reconstruct every scene of `datas` (see the module docstring); return the job's report
    {"scenes": rows, "ok": count, ...} (every rank gets it; rank 0 writes it).

    flags_run / flags_method: as for `resolve_settings` (without "data"). Bad flags raise
    InputError before anything is written.
    """
    if isinstance(datas, str) or len(datas) < 1:
        raise TypeError(f"datas must be a sequence of paths; got {datas!r}")
    flags_run = {k: v for k, v in flags_run.items() if k != "data"}
    _, _, method = resolve_settings(
        {**flags_run, "data": datas[0]}, flags_method, config_file=config_file
    )
    name = name or f"scenes-{method.name}"
    job = Path(out) / name
    if distributed.is_main():
        job = prepare_run_folder(out, name, overwrite=overwrite, resume=False)
    distributed.barrier()
    if context is not None:
        context.folder = job
    log = print if distributed.is_main() else _silent
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = [{"data": str(d)} for d in datas]
    for i in distributed.shard(range(len(datas))):
        row = rows[i]
        if distributed.world_size() > 1:
            row["rank"] = distributed.rank()
        ctx = RunContext()
        try:
            run, config, method = resolve_settings(
                {**flags_run, "data": str(datas[i])}, flags_method, config_file=config_file
            )
            report = reconstruct(
                run,
                config,
                method,
                out=job,
                progress=progress,
                context=ctx,
                log=log,
                data_parallel=False,
            )
            row.update(status="ok", run=ctx.folder.name, steps=report["steps"])
            row.update(time_s=report["time_s"], **report["metrics"])
        except INPUT_ERRORS as err:
            row.update(status="failed", error=" ".join(str(err).split()))
        except Exception as err:  # noqa: BLE001 - one scene's crash must not stop the others
            where = f"rank {distributed.rank()}: " if distributed.world_size() > 1 else ""
            row.update(status="error", error=f"{where}{type(err).__name__}: {err}")
            path = job / "errors" / f"{i:03d}.log"
            path.parent.mkdir(parents=True, exist_ok=True)
            text = "".join(traceback.format_exception(type(err), err, err.__traceback__))
            path.write_text(f"{datas[i]} (rank {distributed.rank()})\n{text}", encoding="utf-8")
            row["log"] = str(path)
        if ctx.folder is not None and row.get("status") != "ok":
            row.setdefault("run", ctx.folder.name)
    if distributed.world_size() > 1:
        mine = distributed.shard(range(len(datas)))
        for part in distributed.all_gather_json([[i, json_safe(rows[i])] for i in mine]):
            for i, row in part:
                rows[i] = row
    report = {
        "method": method.name,
        "scenes": rows,
        "ok": sum(r.get("status") == "ok" for r in rows),
        "ranks": distributed.world_size(),
        "time_s": time.perf_counter() - t0,
        "versions": versions(),
    }
    if distributed.is_main():
        _write_table(job / "results.csv", rows)
        write_report_json(job, report)
    return report


def _write_table(path: Path, rows: list[dict[str, Any]]) -> None:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys and k not in ("error", "log")]
    keys.append("error")
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(keys)
        for r in rows:
            w.writerow(["" if r.get(k) is None else r.get(k) for k in keys])
