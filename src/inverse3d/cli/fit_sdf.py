"""`inverse3d fit-sdf`: a neural signed distance field per mesh, evaluated (issue 12)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from inverse3d.cli._common import add_device_flag, verb_device
from inverse3d.cli._flags import add_dataclass_flags, config_from_flags, flag_name, given_values
from inverse3d.methods.fit_sdf import FitSdfConfig

HELP = (
    "Fit a neural signed distance field (siren, deepsdf or hashgrid) to each mesh (OBJ/PLY/OFF "
    "file, or every mesh file of a folder) and evaluate it: occupancy F1 near the surface and in "
    "the volume, Chamfer-L1, F-score and normal consistency of the marching-cubes mesh. Writes "
    "a run folder with results.csv, report.json, report.html (SDF slices) and, per object, "
    "mesh.ply (in the mesh's own frame), the weights (sdf.pt + sdf.pt.json, read back by "
    "inverse3d.models.load_sdf) and metrics.json. A file that is not a usable mesh (a point "
    "cloud, no faces, NaN vertices, unreadable) is listed as failed and the others still run; "
    "the exit code is then 2 (1 when an object raised an error). --joint (deepsdf) fits one network "
    "and a latent code per shape. Under torchrun the objects are shared round-robin by the "
    "processes and rank 0 writes the merged table and report."
)
EXAMPLES = (
    "inverse3d fit-sdf cow.obj                              # hash grid, run folder runs/sdf-cow",
    "inverse3d fit-sdf meshes/ --model siren --name meshes-siren",
    "inverse3d fit-sdf meshes/ --model deepsdf --joint --steps 2000",
    "inverse3d fit-sdf meshes/ --resume --name sdf-meshes    # finish an interrupted folder",
    "torchrun --nproc-per-node 4 -m inverse3d fit-sdf meshes/  # objects shared by 4 processes",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="MESH_OR_DIR", help="mesh files or folders")
    p.add_argument("--out", default="runs", help="parent folder of the run folder (default runs)")
    p.add_argument("--name", default=None, help="run folder name (default sdf-<first input>)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    p.add_argument(
        "--resume",
        action="store_true",
        help="reuse the run folder: finished objects are kept, a partial one continues from "
        "its checkpoint (with the saved config.yaml; a contradicting flag is an error)",
    )
    add_device_flag(p)
    p.add_argument(
        "--eval-points",
        type=int,
        default=100_000,
        help="points per occupancy-F1 set and surface samples of the mesh metrics (default 100000)",
    )
    p.add_argument(
        "--mc-resolution",
        type=int,
        default=128,
        help="marching-cubes grid of mesh.ply (default 128)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_dataclass_flags(p.add_argument_group("fitting settings"), FitSdfConfig)


def _config(args: argparse.Namespace, folder: Path | None) -> FitSdfConfig:
    """The config from the flags, or with --resume the saved config.yaml (flags must agree)."""
    from inverse3d.common.errors import InputError
    from inverse3d.pipeline.config import build_config, read_yaml_file

    if folder is None:
        return config_from_flags(args, FitSdfConfig)
    saved_path = folder / "config.yaml"
    if not saved_path.is_file():
        raise InputError(f"{saved_path}: no saved config to resume from")
    saved = read_yaml_file(saved_path)
    names = [f.name for f in dataclasses.fields(FitSdfConfig)]
    for k, v in given_values(args, names).items():
        if k in saved and saved[k] != v:
            raise InputError(
                f"{flag_name(k)} {v} contradicts the run's config.yaml ({k}: {saved[k]}); "
                "drop the flag or start a new run"
            )
    values = {k: v for k, v in saved.items() if k in names}
    return build_config(FitSdfConfig, values, {k: str(saved_path) for k in values})


def run(args: argparse.Namespace) -> int:
    args.device = verb_device(args)
    from inverse3d import distributed
    from inverse3d.common.errors import InputError
    from inverse3d.pipeline.config import config_to_dict, write_yaml_file
    from inverse3d.pipeline.fit_sdf import collect_meshes, run_fit_sdf
    from inverse3d.pipeline.run_folder import prepare_run_folder

    if args.eval_points < 100:
        raise InputError(f"--eval-points must be >= 100; got {args.eval_points}")
    if not 8 <= args.mc_resolution <= 1024:
        raise InputError(f"--mc-resolution must be in [8, 1024]; got {args.mc_resolution}")
    if args.resume and args.overwrite:
        raise InputError("--resume and --overwrite cannot be used together")
    device = args.device
    files = collect_meshes([Path(p) for p in args.inputs])  # missing path / empty folder: exit 2
    default_name = "sdf-" + (Path(args.inputs[0]).resolve().name or "meshes")
    name = args.name or default_name
    main = distributed.is_main()
    if args.resume:
        folder = prepare_run_folder(args.out, name, overwrite=False, resume=True)
        args.context.folder = folder
        config = _config(args, folder)
        if config.joint and config.model != "deepsdf":
            raise InputError(f"{folder}/config.yaml: joint needs model deepsdf")
    else:
        config = _config(args, None)  # bad flag values fail before a folder is made
        if config.joint and config.model != "deepsdf":
            raise InputError(f"--joint needs --model deepsdf; got --model {config.model}")
        folder = Path(args.out) / name
        if main:  # rank 0 makes the folder; the other ranks wait for it
            folder = prepare_run_folder(args.out, name, overwrite=args.overwrite, resume=False)
            write_yaml_file(folder / "config.yaml", config_to_dict(config))
        distributed.barrier()
        args.context.folder = folder
    report = run_fit_sdf(
        files,
        folder,
        config,
        device=device,
        progress=not args.quiet,
        resume=args.resume,
        eval_points=args.eval_points,
        mc_resolution=args.mc_resolution,
    )
    failed = [r for r in report["objects"] if r["status"] != "ok"]
    if main:
        _print_table(report, folder)
        for r in failed:
            print(
                f"inverse3d fit-sdf: {r['status']}: {r['file']}: {r.get('error', '')}"
                + (f" (traceback in {r['log']})" if r.get("log") else ""),
                file=sys.stderr,
            )
    if any(r["status"] == "error" for r in failed):
        return 1
    return 2 if failed else 0


def _print_table(report: dict, folder: Path) -> None:
    cols = ("f1_near", "f1_volume", "chamfer_l1", "normal_consistency", "fit_s", "model_kb")
    print(f"{'object':16s} {'status':8s} " + " ".join(f"{c:>18s}" for c in cols))
    for r in [*report["objects"], report["average"]]:
        vals = " ".join(
            f"{r[c]:18.4f}" if isinstance(r.get(c), (int, float)) else f"{'':>18s}" for c in cols
        )
        print(f"{str(r['object'])[:16]:16s} {str(r['status'])[:8]:8s} {vals}")
    print(f"outputs in {folder}/ (results.csv, report.json, report.html)")
