"""The `fit-sdf` job: a neural SDF per mesh, evaluated, with its files and a report.

`run_fit_sdf(inputs, out_dir, config, device)` fits every mesh (OBJ/PLY/OFF files, or every
such file of a folder) and writes::

    out_dir/<object>/mesh.ply          marching cubes of the SDF at 0, in the mesh's own frame
    out_dir/<object>/sdf.pt(.json)     weights + what `inverse3d.models.load_sdf` needs
    out_dir/<object>/slice.png         SDF on the plane z = 0 (unit cube) beside the ground truth
    out_dir/<object>/metrics.json
    out_dir/results.csv                one row per object (failed ones with their error) + average
    out_dir/report.json  out_dir/report.html (slices embedded as data URIs)

An object is built in ``out_dir/.<object>.partial`` and renamed when complete, so a failed
object leaves nothing behind but its row in the table. With ``resume=True`` a finished object
is read back instead of refitted and a partial one continues from its checkpoint.

A failed object does not stop the others: bad input (InputError / ValueError) gives status
"failed", any other exception (a bug, out of memory, a non-finite loss) status "error" with the
rank and the exception in the row, its traceback in ``out_dir/errors/<object>.log``.

Under torchrun (``distributed.world_size() > 1``) the objects are sharded round-robin over the
ranks (``distributed.shard``), each rank fits its own with its own loop (no gradient exchange),
the rows are gathered (as JSON) and rank 0 writes results.csv / report.json / report.html.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import html
import json
import platform
import shutil
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from inverse3d import distributed
from inverse3d.common.errors import InputError
from inverse3d.engine import Loop, peak_memory_mb
from inverse3d.eval.metrics import evaluate_meshes
from inverse3d.eval.sdf_metrics import evaluate_sdf_occupancy
from inverse3d.io import IO
from inverse3d.methods.fit_sdf import FitSdfConfig, SdfFit, chunked, fit, fit_joint, sdf_to_mesh
from inverse3d.models.sdf import save_sdf
from inverse3d.ops.sdf_sampling import outward_faces, sdf_samples
from inverse3d.pipeline.outputs import json_safe, write_report_json
from inverse3d.pipeline.run_folder import write_json
from inverse3d.structures.meshes import Meshes
from inverse3d.viz.sdf_slice import plot_sdf_slice

__all__ = ["MESH_SUFFIXES", "collect_meshes", "run_fit_sdf"]

MESH_SUFFIXES = (".obj", ".ply", ".off")
COLUMNS = (
    "object",
    "status",
    "f1_near",
    "f1_volume",
    "chamfer_l1",
    "f_score",
    "normal_consistency",
    "fit_s",
    "cpu_s",
    "time_per_step_ms",
    "peak_memory_mb",
    "model_kb",
    "faces",
    "error",
)
SLICE_RES = 128


def collect_meshes(inputs: list[Path]) -> list[Path]:
    """The mesh files named by `inputs` (files, or folders: their OBJ/PLY/OFF files, sorted).

    Raises InputError for a missing path or a folder without mesh files.
    """
    if not inputs:
        raise InputError("fit-sdf needs at least one mesh file or folder")
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in MESH_SUFFIXES)
            if not found:
                raise InputError(f"{item}: folder has no mesh file ({', '.join(MESH_SUFFIXES)})")
            files += found
        elif item.is_file():
            files.append(item)
        else:
            raise InputError(f"{item}: no such file or folder")
    return files


def _names(files: list[Path]) -> list[str]:
    names, seen = [], {}
    for f in files:
        base = f.stem
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}_{seen[base]}")
    return names


def _load(path: Path, device) -> Meshes:
    try:
        mesh = IO().load_mesh(path, include_textures=False, device=device)
    except InputError:
        raise
    except (ValueError, OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read a mesh ({err})") from None
    verts, faces = mesh.verts_packed(), mesh.faces_packed()
    if faces.shape[0] == 0:
        kind = "a point cloud" if verts.shape[0] else "empty"
        raise InputError(f"{path}: no faces ({verts.shape[0]} vertices): {kind}, not a mesh")
    if not bool(torch.isfinite(verts).all()):
        raise InputError(f"{path}: {int((~torch.isfinite(verts)).any(-1).sum())} NaN/inf vertices")
    return Meshes([verts], [outward_faces(verts.float(), faces)])


def _slices(result, verts: torch.Tensor, faces: torch.Tensor, extent: float):
    """Fitted and ground-truth SDF on z = 0 of the unit cube: two (R, R) grids."""
    lin = torch.linspace(-extent, extent, SLICE_RES)
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")
    pts = torch.stack((xx, yy, torch.zeros_like(xx)), -1).reshape(-1, 3)
    dev = next(result.net.parameters()).device
    pred = chunked(result.net, pts.to(dev))[:, 0].cpu().reshape(SLICE_RES, SLICE_RES)
    v = ((verts - result.centre.to(verts)) / result.scale).float().cpu()
    gt = sdf_samples(v, faces.cpu(), pts).reshape(SLICE_RES, SLICE_RES)
    return pred, gt


def _fit_one(
    path: Path, work: Path, config: FitSdfConfig, device, progress, resume, n_eval, mc_res
) -> dict:
    mesh = _load(path, device)
    verts, faces = mesh.verts_packed().float(), mesh.faces_packed()
    loop = Loop(out_dir=work, resume=resume, progress=progress, data_parallel=False)
    c0 = time.process_time()
    result = fit(config, (verts, faces), loop)
    cpu_s = time.process_time() - c0
    return _write_object(result, path, verts, faces, work, config, device, n_eval, mc_res, cpu_s)


def _write_object(
    result: SdfFit, path: Path, verts, faces, work: Path, config, device, n_eval, mc_res, cpu_s
) -> dict:
    """Evaluate one fitted object and write its files into `work`; its row of the table."""
    row: dict[str, Any] = {"faces": int(faces.shape[0]), "fit_s": result.time_s, "cpu_s": cpu_s}
    row["time_per_step_ms"] = 1000 * (result.time_s - result.sample_time_s) / max(1, result.steps)
    row.update(
        evaluate_sdf_occupancy(lambda x: result.net(x.to(device)), verts, faces, n_points=n_eval)
    )
    mv, mf = sdf_to_mesh(result, resolution=mc_res, half_size=config.half_size)
    pred_mesh = Meshes([mv.float()], [mf])
    if mf.shape[0] > 0:
        ref = Meshes([verts.cpu()], [faces.cpu()])
        m = evaluate_meshes(pred_mesh, ref, n_samples=n_eval)
        row.update({k: m[k] for k in ("chamfer_l1", "f_score", "normal_consistency")})
    IO().save_mesh(pred_mesh, work / "mesh.ply")
    save_sdf(
        result.net,
        work / "sdf.pt",
        result.model,
        result.options,
        extra={
            "centre": result.centre.tolist(),
            "scale": result.scale,
            "frame": "network input = (x - centre) / scale; sdf in the mesh frame = output * scale",
        },
    )
    row["model_kb"] = (work / "sdf.pt").stat().st_size / 1024
    pred, gt = _slices(result, verts, faces, config.half_size)
    plot_sdf_slice(pred, gt, config.half_size, work / "slice.png", title=path.name)
    row["peak_memory_mb"] = peak_memory_mb(device)
    row["steps"] = result.steps
    row["final_loss"] = result.history[-1]["loss"] if result.history else None
    write_json(work / "metrics.json", json_safe(row))
    return row


def _run_joint(jobs, out_dir: Path, config, device, progress, resume, n_eval, mc_res) -> None:
    """--joint: load every object, fit them together, then evaluate and write each one."""
    loaded = []
    for job in jobs:
        if job["row"].get("status"):
            continue
        try:
            mesh = _load(job["path"], device)
            loaded.append((job, mesh.verts_packed().float(), mesh.faces_packed()))
        except (InputError, ValueError) as err:
            job["row"].update(status="failed", error=str(err))
    if not loaded:
        return
    joint_dir = out_dir / ".joint.partial"
    joint_dir.mkdir(exist_ok=True)
    c0 = time.process_time()
    res = fit_joint(
        config,
        [(v, f) for _, v, f in loaded],
        Loop(out_dir=joint_dir, resume=resume, progress=progress),
    )
    cpu_s = (time.process_time() - c0) / len(loaded)
    for (job, verts, faces), result in zip(loaded, res.shapes):
        work = job["work"]
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        job["row"].update(
            _write_object(
                result, job["path"], verts, faces, work, config, device, n_eval, mc_res, cpu_s
            )
        )
        job["row"]["joint_objects"] = len(loaded)
        work.rename(job["final"])
        job["row"]["status"] = "ok"
    shutil.rmtree(joint_dir, ignore_errors=True)


def _average(rows: list[dict]) -> dict:
    ok = [r for r in rows if r["status"] == "ok"]
    avg: dict[str, Any] = {"object": "average", "status": f"{len(ok)}/{len(rows)} ok"}
    for key in COLUMNS[2:-1]:
        vals = [r[key] for r in ok if isinstance(r.get(key), (int, float))]
        avg[key] = sum(vals) / len(vals) if vals else None
    return avg


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 100 else f"{v:.1f}"
    return "" if v is None else str(v)


def _write_reports(out_dir: Path, rows: list[dict], avg: dict, report: dict) -> None:
    with open(out_dir / "results.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for r in [*rows, avg]:
            w.writerow([_fmt(r.get(c)) for c in COLUMNS])
    write_report_json(out_dir, report)
    head = "".join(f"<th>{c}</th>" for c in COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in COLUMNS) + "</tr>"
        for r in [*rows, avg]
    )
    figs = []
    for r in rows:
        png = out_dir / r["object"] / "slice.png"
        if r["status"] == "ok" and png.is_file():
            data = base64.b64encode(png.read_bytes()).decode("ascii")
            figs.append(
                f"<h3>{html.escape(r['object'])}</h3><img src='data:image/png;base64,{data}'>"
            )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>fit-sdf report</title>"
        "<style>td,th{padding:2px 8px;border:1px solid #ccc}table{border-collapse:collapse}"
        "</style></head><body><h1>fit-sdf</h1>"
        f"<p>model {html.escape(str(report['config']['model']))}, "
        f"{report['config']['steps']} steps. Occupancy F1: inside = negative SDF, 100k fresh "
        "points uniform in the unit cube (volume) and 100k surface samples + N(0, 0.01^2) "
        "(near); see docs/metrics.md.</p>"
        f"<table><tr>{head}</tr>{body}</table>{''.join(figs)}</body></html>"
    )
    (out_dir / "report.html").write_text(page, encoding="utf-8")


def run_fit_sdf(
    inputs: list[Path],
    out_dir: Path,
    config: FitSdfConfig,
    device: Any = "cpu",
    progress: bool = True,
    resume: bool = False,
    *,
    eval_points: int = 100_000,
    mc_resolution: int = 128,
) -> dict:
    """Fit, evaluate and write every mesh of `inputs` (see the module docstring).

    eval_points: points per occupancy-F1 set and surface samples of the mesh metrics.
    mc_resolution: marching-cubes grid size of mesh.ply.

    Returns the report dict (also written to report.json): {"objects": rows, "average": ...,
    "config": ..., "time_s": ..., "versions": ...}. A mesh that cannot be used (no faces, NaN
    vertices, a point cloud, an unreadable file) gets status "failed" and its error; the others
    still run. Raises InputError when `inputs` name nothing usable at all (missing path, empty
    folder).
    """
    if not isinstance(config, FitSdfConfig):
        raise TypeError(f"config must be a FitSdfConfig; got {type(config).__name__}")
    if config.joint and config.model != "deepsdf":
        raise InputError(f"joint fitting needs model deepsdf; got {config.model!r}")
    t0 = time.perf_counter()
    files = collect_meshes(list(inputs))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(device)
    if config.joint and distributed.world_size() > 1:
        raise InputError("joint fitting (one network for all shapes) runs on one process only")
    jobs = []
    for path, name in zip(files, _names(files)):
        final, work = out_dir / name, out_dir / f".{name}.partial"
        row: dict[str, Any] = {"object": name, "file": str(path)}
        jobs.append({"path": path, "final": final, "work": work, "row": row})
    for job in distributed.shard(jobs):
        path, final, work, row = job["path"], job["final"], job["work"], job["row"]
        if distributed.world_size() > 1:
            row["rank"] = distributed.rank()
        try:
            if final.is_dir() and resume and (final / "metrics.json").is_file():
                row.update(json.loads((final / "metrics.json").read_text(encoding="utf-8")))
                row["status"] = "ok"
            elif final.exists():
                raise InputError(f"{final} exists (pass resume to keep it, or remove it)")
            elif config.joint:
                continue  # fitted below, together
            else:
                if work.exists() and not resume:
                    shutil.rmtree(work)
                work.mkdir(parents=True, exist_ok=True)
                row.update(
                    _fit_one(
                        path, work, config, device, progress, resume, eval_points, mc_resolution
                    )
                )
                shutil.rmtree(work / "checkpoints", ignore_errors=True)
                work.rename(final)
                row["status"] = "ok"
        except (InputError, ValueError) as err:
            if work.exists():
                shutil.rmtree(work)
            row.update(status="failed", error=str(err))
        except Exception as err:  # noqa: BLE001 - one object's crash must not stop the others
            row.update(status="error", error=_error_line(err))
            row["log"] = str(_write_traceback(out_dir, row["object"], err))
    if config.joint:
        _run_joint(jobs, out_dir, config, device, progress, resume, eval_points, mc_resolution)
    _merge_rows(jobs)
    rows = [job["row"] for job in jobs]
    avg = _average(rows)
    report = {
        "objects": rows,
        "average": avg,
        "config": dataclasses.asdict(config),
        "metric_definitions": "docs/metrics.md#neural-sdf-occupancy-f1",
        "device": str(device),
        "time_s": time.perf_counter() - t0,
        "ranks": distributed.world_size(),
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
    }
    if distributed.is_main():
        _write_reports(out_dir, rows, avg, report)
    return report


def _error_line(err: BaseException) -> str:
    where = f"rank {distributed.rank()}: " if distributed.world_size() > 1 else ""
    return f"{where}{type(err).__name__}: {' '.join(str(err).split())[:500]}"


def _write_traceback(out_dir: Path, name: str, err: BaseException) -> Path:
    log = out_dir / "errors" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    log.write_text(f"rank {distributed.rank()} of {distributed.world_size()}\n{text}", "utf-8")
    return log


def _merge_rows(jobs: list[dict]) -> None:
    """Give every rank every object's row: each rank filled those of its shard."""
    if distributed.world_size() == 1:
        return
    mine = distributed.shard(range(len(jobs)))
    gathered = distributed.all_gather_json([[i, jobs[i]["row"]] for i in mine])
    for part in gathered:
        for i, row in part:
            jobs[i]["row"] = row
