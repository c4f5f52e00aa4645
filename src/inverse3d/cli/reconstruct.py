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

HELP = "Reconstruct a textured mesh from posed images (default: the built-in scene)."
EXAMPLES = (
    "inverse3d reconstruct                                  # built-in scene, method mesh",
    "inverse3d reconstruct --method nerf --steps 3000 --data my_scene",
    "inverse3d reconstruct --config runs/mug-mesh/config.yaml --name again",
    "inverse3d reconstruct --resume --name mug-nerf         # continue a stopped run",
    "torchrun --nproc-per-node 4 -m inverse3d reconstruct --method nerf   # 4 data-parallel ranks",
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
    add_dataclass_flags(run, RunSettings)
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
