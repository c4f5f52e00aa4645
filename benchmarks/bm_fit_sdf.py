"""fit-sdf on the book's meshes and the built-in scene's mesh: occupancy F1 and times per model.

    OMP_NUM_THREADS=2 PYTHONPATH=src python benchmarks/bm_fit_sdf.py [--models hashgrid,siren]
        [--data ../shared/data/book] [--steps N] [--resample]

One JSON line per (model, object): F1 near the surface and in the volume (docs/metrics.md), the
fit's wall and CPU time (sampling included), the sampling time and the load average of the
machine at the end; then the averages per model. The pedestrian point cloud must be refused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from inverse3d.common.errors import InputError
from inverse3d.datasets.synthetic import make_synthetic_scene
from inverse3d.engine import Loop
from inverse3d.eval.sdf_metrics import evaluate_sdf_occupancy
from inverse3d.methods.fit_sdf import FitSdfConfig, fit
from inverse3d.pipeline.fit_sdf import run_fit_sdf

BOOK = {
    "cow": "chap2/data/cow_mesh/cow.obj",
    "teapot": "chap4/data/teapot.obj",
    "sofa": "chap10/demo_results/0_mesh_sofa_0.887.obj",
    "dodecahedron": "chap2/data/dodecahedron.obj",
    "cube": "chap2/data/cube.obj",
}


def _load(data: Path, name: str):
    from inverse3d.io import IO

    if name == "scene":
        m = make_synthetic_scene().gt_mesh
    else:
        m = IO().load_mesh(data / BOOK[name], include_textures=False)
    return m.verts_packed().float(), m.faces_packed()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path(__file__).parents[2] / "shared/data/book")
    ap.add_argument("--models", default="hashgrid")
    ap.add_argument("--objects", default=",".join([*BOOK, "scene"]))
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--resample", action="store_true")
    args = ap.parse_args()
    ped = args.data / "chap3/pedestrian.ply"
    if ped.is_file():
        rep = run_fit_sdf([ped], Path("/tmp/bm_fit_sdf_ped"), FitSdfConfig(steps=1), progress=False)
        print(json.dumps({"pedestrian": rep["objects"][0].get("error")}), flush=True)
    for model in args.models.split(","):
        rows = []
        for name in args.objects.split(","):
            v, f = _load(args.data, name)
            kw = {"model": model, "resample": args.resample}
            if args.steps:
                kw["steps"] = args.steps
            t0, c0 = time.perf_counter(), time.process_time()
            r = fit(FitSdfConfig(**kw), (v, f), Loop(progress=False))
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            ev = evaluate_sdf_occupancy(r.net, v, f)
            row = {
                "model": model,
                "object": name,
                "f1_near": round(ev["f1_near"], 4),
                "f1_volume": round(ev["f1_volume"], 4),
                "fit_s": round(wall, 1),
                "fit_cpu_s": round(cpu, 1),
                "sample_s": round(r.sample_time_s, 1),
                "load": os.getloadavg()[0],
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
        avg = {k: round(sum(r[k] for r in rows) / len(rows), 4) for k in rows[0] if k[0] == "f"}
        print(json.dumps({"model": model, "average": avg}), flush=True)


if __name__ == "__main__":
    try:
        main()
    except InputError as err:
        sys.exit(f"error: {err}")
