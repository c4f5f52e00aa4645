"""`inverse3d evaluate`: compare a mesh with a ground-truth mesh."""

from __future__ import annotations

import argparse
import json
import time

from inverse3d.cli._common import add_run_folder_flags, load_mesh_file, verb_run_folder
from inverse3d.common.errors import InputError

HELP = (
    "Compare a mesh with a ground-truth mesh: Chamfer-L1, accuracy, completeness, normal "
    "consistency, F-score (both scaled so that the ground truth's bounding box has side 1). "
    "Prints the metrics; with --name also writes a run folder with report.json."
)
EXAMPLES = (
    "inverse3d evaluate runs/mug-mesh/mesh.ply data/mug/gt_mesh.obj",
    "inverse3d evaluate pred.obj gt.obj --json --name eval-pred",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pred_mesh")
    p.add_argument("gt_mesh")
    p.add_argument("--samples", type=int, default=100_000, help="surface samples per mesh")
    p.add_argument("--tau", type=float, default=0.01, help="F-score threshold (default 0.01)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_run_folder_flags(p, "none: no folder unless --name is given")


def run(args: argparse.Namespace) -> int:
    from inverse3d.eval.metrics import evaluate_meshes
    from inverse3d.pipeline.outputs import versions, write_report_json

    if args.samples < 100:
        raise InputError(f"--samples must be >= 100; got {args.samples}")
    if not 0 < args.tau < 1:
        raise InputError(f"--tau must be in (0, 1); got {args.tau}")
    t0 = time.perf_counter()
    pred, gt = load_mesh_file(args.pred_mesh), load_mesh_file(args.gt_mesh)
    res = evaluate_meshes(pred, gt, n_samples=args.samples, tau=args.tau)
    res = {k: (float(v) if v is not None else None) for k, v in res.items()}
    if args.name is not None:
        folder = verb_run_folder(args, args.name)
        write_report_json(
            folder,
            {
                "command": "evaluate",
                "pred_mesh": args.pred_mesh,
                "gt_mesh": args.gt_mesh,
                "metrics": res,
                "samples": args.samples,
                "time_s": time.perf_counter() - t0,
                "versions": versions(),
            },
        )
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        for k, v in res.items():
            print(f"{k:20s} {'n/a' if v is None else f'{v:.5f}'}")
    return 0
