"""fit-sdf acceptance table: the book's meshes + the built-in scene's mesh, per model.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bm_fit_sdf.py \\
        [--models hashgrid,siren,deepsdf] [--data ../shared/data/book] [--device cpu|cuda] \\
        [--out /tmp/bm_fit_sdf] [--steps N] [--resample]

Runs `pipeline.fit_sdf.run_fit_sdf` (the job `inverse3d fit-sdf` runs) once per model on the
five book meshes and the built-in scene's mesh (written to an OBJ first), with the default
settings, and prints per model a Markdown table: occupancy F1 near the surface and in the
volume (100k fresh points each, docs/metrics.md), Chamfer-L1 and normal consistency of the
marching-cubes mesh, the fit's wall and CPU time per object (sampling and labelling included,
evaluation excluded), the model file size, and the average row; then the load average before
and after. The pedestrian point cloud must be refused (its error is printed).
Run folders are kept under --out/<model>/.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from inverse3d.common.errors import InputError
from inverse3d.datasets.synthetic import make_synthetic_scene
from inverse3d.io import IO
from inverse3d.methods.fit_sdf import FitSdfConfig
from inverse3d.pipeline.fit_sdf import run_fit_sdf

BOOK = {
    "cow": "chap2/data/cow_mesh/cow.obj",
    "teapot": "chap4/data/teapot.obj",
    "sofa": "chap10/demo_results/0_mesh_sofa_0.887.obj",
    "dodecahedron": "chap2/data/dodecahedron.obj",
    "cube": "chap2/data/cube.obj",
}
COLS = ("f1_near", "f1_volume", "chamfer_l1", "normal_consistency", "fit_s", "cpu_s", "model_kb")


def _inputs(data: Path, work: Path, objects: list[str]) -> list[Path]:
    work.mkdir(parents=True, exist_ok=True)
    files = []
    for name in objects:
        dst = work / f"{name}.obj"
        if name == "scene":
            m = make_synthetic_scene().gt_mesh
            IO().save_mesh(m.detach().cpu(), dst)
        else:
            shutil.copy(data / BOOK[name], dst)  # OBJ without its .mtl: geometry only
        files.append(dst)
    return files


def _cell(v) -> str:
    if not isinstance(v, (int, float)):
        return "-"
    return f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    here = Path(__file__).resolve()
    data = [here.parents[i] / "shared/data/book" for i in (2, 3)]  # checkout or worktree
    ap.add_argument("--data", type=Path, default=next((d for d in data if d.is_dir()), data[0]))
    ap.add_argument("--models", default="hashgrid,siren,deepsdf")
    ap.add_argument("--objects", default=",".join([*BOOK, "scene"]))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=Path("/tmp/bm_fit_sdf"))
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--resample", action="store_true")
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    ped = args.data / "chap3/pedestrian.ply"
    if ped.is_file():
        rep = run_fit_sdf([ped], args.out / "pedestrian", FitSdfConfig(steps=1), progress=False)
        print(f"pedestrian.ply: {rep['objects'][0]['status']}: {rep['objects'][0].get('error')}")
    files = _inputs(args.data, args.out / "inputs", args.objects.split(","))
    for model in args.models.split(","):
        kw: dict = {"model": model, "resample": args.resample}
        if args.steps:
            kw["steps"] = args.steps
        out = args.out / model
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        rep = run_fit_sdf(files, out, FitSdfConfig(**kw), device=args.device, progress=False)
        print(f"\n### {model} ({time.perf_counter() - t0:.0f} s in all, load {os.getloadavg()})")
        print("| object | " + " | ".join(COLS) + " |")
        print("|---" * (len(COLS) + 1) + "|")
        for r in [*rep["objects"], rep["average"]]:
            print(f"| {r['object']} | " + " | ".join(_cell(r.get(c)) for c in COLS) + " |")
        sys.stdout.flush()
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    try:
        main()
    except InputError as err:
        sys.exit(f"error: {err}")
