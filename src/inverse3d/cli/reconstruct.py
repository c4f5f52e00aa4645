"""`inverse3d reconstruct`: posed images -> textured mesh, renders, metrics and a report."""

from __future__ import annotations

import argparse

from inverse3d.cli._flags import add_dataclass_flags, given_values
from inverse3d.methods import REGISTRY
from inverse3d.pipeline.reconstruct import (
    RUN_KEYS,
    RunSettings,
    reconstruct,
    resolve_settings,
    resume_folder,
)

HELP = (
    "Reconstruct a textured mesh from posed images (default: the built-in scene). With several "
    "--data values (--data scenes/*) each scene is its own run, inside the job folder --name "
    "(default scenes-<method>) with results.csv and report.json; under torchrun the scenes are "
    "shared by the processes."
)
EXAMPLES = (
    "inverse3d reconstruct                                  # built-in scene, method mesh",
    "inverse3d reconstruct --method nerf --steps 3000 --data my_scene",
    "inverse3d reconstruct --config runs/mug-mesh/config.yaml --name again",
    "inverse3d reconstruct --resume --name mug-nerf         # continue a stopped run",
    "torchrun --nproc-per-node 4 -m inverse3d reconstruct --method nerf   # 4 data-parallel ranks",
    "torchrun --nproc-per-node 4 -m inverse3d reconstruct --method sdf --data scenes/*  # 4 at once",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs", help="parent folder of the run folder (default runs)")
    p.add_argument("--name", default=None, help="run folder name (default <scene>-<method>)")
    p.add_argument("--config", default=None, help="YAML settings file (as a run's config.yaml)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in the folder from its checkpoint, with its saved config.yaml",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    run = p.add_argument_group("run settings")
    run.add_argument(
        "--data",
        nargs="+",
        default=argparse.SUPPRESS,
        metavar="PATH",
        help="scene folder or camera file: our folder format, transforms*.json, COLMAP, "
        "cameras.npz (default: the built-in scene); several: one run per scene",
    )
    add_dataclass_flags(run, RunSettings, skip=("data",))
    methods = p.add_argument_group(
        "method settings (defaults depend on --method: " + ", ".join(sorted(REGISTRY)) + ")"
    )
    p.set_defaults(
        _method_fields=add_dataclass_flags(
            methods, {n: m.config_cls for n, m in REGISTRY.items()}, skip=RUN_KEYS
        )
    )


def run(args: argparse.Namespace) -> int:
    flags_run = given_values(args, RUN_KEYS)
    flags_method = given_values(args, args._method_fields)
    if "data" in flags_run:
        if len(flags_run["data"]) > 1:
            return _run_many(args, flags_run, flags_method)
        flags_run["data"] = flags_run["data"][0]
    folder = None
    if args.resume:
        if args.config is not None:
            from inverse3d.common.errors import InputError

            raise InputError(
                "--config cannot be used with --resume (the run's config.yaml is used)"
            )
        folder = resume_folder(args.out, args.name, flags_run.get("data"), flags_run.get("method"))
    run_settings, config, method = resolve_settings(
        flags_run, flags_method, config_file=args.config, resume_folder=folder
    )
    report = reconstruct(
        run_settings,
        config,
        method,
        out=args.out,
        name=args.name if folder is None else folder.name,
        resume=args.resume,
        overwrite=args.overwrite,
        progress=not args.quiet,
        context=args.context,
    )
    from inverse3d import distributed

    if not distributed.is_main():  # rank 0 reports
        return 0
    out_dir = args.context.folder
    print(f"done in {report['time_s']:.1f} s ({report['steps']} steps); outputs in {out_dir}/")
    for k, v in report["metrics"].items():
        print(f"  {k:20s} {'n/a' if v is None else f'{v:.4f}'}")
    return 0


def _run_many(args: argparse.Namespace, flags_run: dict, flags_method: dict) -> int:
    """Several --data: one run per scene in the job folder; exit 1 if a scene raised an error,
    2 if one had bad input, else 0."""
    import sys

    from inverse3d import distributed
    from inverse3d.common.errors import InputError
    from inverse3d.pipeline.reconstruct_many import reconstruct_many

    if args.resume:
        raise InputError("--resume continues one run: give one --data (and its --name)")
    report = reconstruct_many(
        flags_run["data"],
        flags_run,
        flags_method,
        out=args.out,
        name=args.name,
        config_file=args.config,
        overwrite=args.overwrite,
        progress=not args.quiet,
        context=args.context,
    )
    rows = report["scenes"]
    if distributed.is_main():
        print(f"{report['ok']}/{len(rows)} scenes done; outputs in {args.context.folder}/")
        for r in rows:
            psnr = r.get("psnr")
            what = f"psnr {psnr:.2f}" if isinstance(psnr, float) else r.get("error", "")
            print(f"  {r['status']:7s} {r['data']}  {what}")
            if r["status"] != "ok":
                print(
                    f"inverse3d reconstruct: {r['status']}: {r['data']}: {r['error']}",
                    file=sys.stderr,
                )
    if any(r["status"] == "error" for r in rows):
        return 1
    return 2 if any(r["status"] != "ok" for r in rows) else 0
