"""`inverse3d fit-mesh`: deform a sphere to a point cloud (book ch.3)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from inverse3d.cli._common import add_run_folder_flags, load_points_file, verb_run_folder
from inverse3d.cli._flags import add_dataclass_flags, config_from_flags
from inverse3d.methods.fit_points import FitPointsConfig

HELP = (
    "Deform a sphere to a point cloud (book ch.3); writes the mesh, a before/after figure, the "
    "loss plot and report.json, and prints the chamfer distance to the points. The points are a "
    "PLY point cloud's, or the vertices of an OBJ/OFF/PLY mesh."
)
EXAMPLES = ("inverse3d fit-mesh pedestrian.ply --steps 1000 --name pedestrian",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("points", help="PLY point cloud, or an OBJ/OFF/PLY mesh whose vertices are used")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_run_folder_flags(p, "fit-<file name>")
    add_dataclass_flags(p.add_argument_group("fitting settings"), FitPointsConfig)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from inverse3d.methods.fit_points import chamfer_to_points, fit_mesh_to_points
    from inverse3d.pipeline.outputs import save_mesh_files, versions, write_report_json
    from inverse3d.viz.plots import plot_loss, plot_mesh_and_points

    cfg = config_from_flags(args, FitPointsConfig)
    t0 = time.perf_counter()
    path = Path(args.points)
    pts = load_points_file(args.points)
    out = verb_run_folder(args, f"fit-{path.stem}")
    initial, fitted, history = fit_mesh_to_points(pts, cfg, progress=not args.quiet)
    save_mesh_files(out, fitted)
    if history:
        plot_loss(history, out / "loss.png")
    plot_mesh_and_points(pts, [(initial, "before"), (fitted, "after")], out / "before_after.png")
    ch0 = chamfer_to_points(initial, pts)
    ch = chamfer_to_points(fitted, pts)
    write_report_json(
        out,
        {
            "command": "fit-mesh",
            "points": str(path),
            "n_points": int(pts.shape[0]),
            "steps": cfg.steps,
            "metrics": {"chamfer_before": ch0, "chamfer": ch},
            "settings": dataclasses.asdict(cfg),
            "time_s": time.perf_counter() - t0,
            "versions": versions(),
        },
    )
    print(
        f"chamfer distance to the points: {ch:.6g} (sphere before fitting: {ch0:.6g}); "
        f"mesh in {out}/mesh.ply"
    )
    return 0
