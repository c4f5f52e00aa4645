"""The `inverse3d` command line: one verb per workflow.

    inverse3d reconstruct [--data PATH] [--method M] [--out DIR] ...   posed images -> 3D model
    inverse3d make-scene OUT_DIR                                       write the built-in scene
    inverse3d evaluate PRED_MESH GT_MESH                               Chamfer-L1, F-score, ...
    inverse3d render MESH                                              images or a turntable
    inverse3d fit-mesh POINTS.ply                                      deform a sphere to points
    inverse3d pose MESH IMAGE                                          camera of one image

Bad input ends with exit code 2 and one line on stderr naming the file and the problem; `--debug`
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import json
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Any

from inverse3d import __version__
from inverse3d._cli_util import UsageError, load_mesh_file
from inverse3d.cli_book import _add_book_commands, cmd_fit_mesh, cmd_pose, cmd_render

__all__ = ["build_parser", "main"]

_RAW = argparse.RawDescriptionHelpFormatter


def field_docs(cls: type) -> dict[str, str]:
    """The one-line docstrings written under each field of a dataclass (empty if no source)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs = {}
    for node, nxt in zip(body, body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            docs[node.target.id] = nxt.value.value.strip()
    return docs


def _field_kind(f: dataclasses.Field) -> str:
    t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    t = t.replace(" ", "")
    if t.startswith("tuple") or t.startswith("list"):
        return "float_list" if "float" in t else "int_list"
    return t if t in ("int", "float", "bool", "str") else "str"


def _add_config_flags(parser: argparse.ArgumentParser, registry: dict) -> dict[str, set[str]]:
    """Add one --flag per config field of every method (defaults None = the method's default);
    return {field name: methods that have it}."""
    owners: dict[str, set[str]] = {}
    group = parser.add_argument_group("method settings (defaults depend on --method)")
    for name, (cls, _) in registry.items():
        docs = field_docs(cls)
        for f in dataclasses.fields(cls):
            if f.name in owners:
                owners[f.name].add(name)
                continue
            owners[f.name] = {name}
            flag = "--" + f.name.replace("_", "-")
            kind = _field_kind(f)
            help_text = docs.get(f.name, "")
            if kind == "bool":
                group.add_argument(
                    flag,
                    dest=f.name,
                    action=argparse.BooleanOptionalAction,
                    default=None,
                    help=help_text,
                )
            elif kind in ("int_list", "float_list"):
                group.add_argument(
                    flag,
                    dest=f.name,
                    nargs="*",
                    type=int if kind == "int_list" else float,
                    default=None,
                    metavar="N",
                    help=help_text,
                )
            else:
                typ = {"int": int, "float": float}.get(kind, str)
                group.add_argument(
                    flag,
                    dest=f.name,
                    type=typ,
                    default=None,
                    metavar=kind.upper(),
                    help=help_text,
                )
    for fname, methods in owners.items():
        if len(methods) < len(registry):
            action = next(a for a in group._group_actions if a.dest == fname)
            action.help = f"{action.help} [{', '.join(sorted(methods))}]"
    return owners


def build_parser() -> argparse.ArgumentParser:
    from inverse3d.methods import DEFAULT_METHOD, REGISTRY

    parser = argparse.ArgumentParser(
        prog="inverse3d",
        description="3D deep learning and inverse rendering on PyTorch.",
        epilog="example:\n  inverse3d reconstruct            # reconstruct the built-in scene",
        formatter_class=_RAW,
    )
    parser.add_argument("--version", action="version", version=f"inverse3d {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help_text: str, example: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            formatter_class=_RAW,
            epilog="example:\n  " + example,
        )
        p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
        return p

    p = add(
        "reconstruct",
        "Reconstruct a textured mesh from posed images (default: the built-in scene).",
        "inverse3d reconstruct --method mesh --out runs   # writes runs/mug-mesh/",
    )
    p.add_argument("--data", default=None, help="dataset folder or file (default: built-in scene)")
    p.add_argument(
        "--method", default=None, help=f"one of {', '.join(REGISTRY)} (default {DEFAULT_METHOD})"
    )
    p.add_argument("--out", default="runs", help="parent folder of the run folder (default runs)")
    p.add_argument("--name", default=None, help="run folder name (default <scene>-<method>)")
    p.add_argument("--config", default=None, help="YAML file of settings (as config.yaml)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if any)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    p.add_argument("--gt-mesh", default=None, help="ground-truth mesh for geometric metrics")
    p.add_argument(
        "--no-normalize",
        action="store_true",
        help="use the data's frame as is (default: find the object from the cameras and masks "
        "and map it into the unit cube, unless the data says it is there already)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(_owners=_add_config_flags(p, REGISTRY))

    p = add(
        "make-scene",
        "Write the built-in scene (images, masks, depths, cameras.json, mesh) to a folder.",
        "inverse3d make-scene data/mug && inverse3d reconstruct --data data/mug",
    )
    p.add_argument("out_dir")
    p.add_argument("--views", type=int, default=40, help="training views (default 40)")
    p.add_argument("--test-views", type=int, default=8, help="held-out views (default 8)")
    p.add_argument("--image-size", type=int, default=128, help="image side (default 128)")
    p.add_argument("--seed", type=int, default=0, help="palette seed (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing folder")

    p = add(
        "evaluate",
        "Compare a mesh with a ground-truth mesh: Chamfer-L1, accuracy, completeness, normal "
        "consistency, F-score (both scaled so the ground truth's bounding box has side 1).",
        "inverse3d evaluate runs/mug-mesh/mesh.ply data/mug/gt_mesh.obj",
    )
    p.add_argument("pred_mesh")
    p.add_argument("gt_mesh")
    p.add_argument("--samples", type=int, default=100_000, help="surface samples per mesh")
    p.add_argument("--tau", type=float, default=0.01, help="F-score threshold (default 0.01)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    _add_book_commands(add)
    return parser


# ----------------------------------------------------------------------------- reconstruct
def _load_data(args) -> Any:
    if args.data is None:
        from inverse3d.datasets.synthetic import make_synthetic_scene

        data = make_synthetic_scene(seed=args.seed)
    else:
        path = Path(args.data)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or directory (--data)")
        from inverse3d.datasets.loader import load_scene

        data = load_scene(path)
    if args.gt_mesh is not None:
        data.gt_mesh = load_mesh_file(args.gt_mesh)
    return data


def _method_config(args, registry) -> tuple[str, Any, dict[str, Any]]:
    from inverse3d.methods import DEFAULT_METHOD
    from inverse3d.methods.common import read_config_yaml

    file_cfg = read_config_yaml(args.config) if args.config else {}
    run_keys = {"method", "data", "device", "seed"}
    method = args.method or file_cfg.get("method") or DEFAULT_METHOD
    if method not in registry:
        raise UsageError(f"unknown method {method!r}; choose one of {', '.join(registry)}")
    cls, _ = registry[method]
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for k, v in file_cfg.items():
        if k in run_keys:
            continue
        if k not in names:
            raise UsageError(f"{args.config}: {k!r} is not a setting of method {method!r}")
        values[k] = v
    for k in args._owners:
        v = getattr(args, k)
        if v is None:
            continue
        if k not in names:
            raise UsageError(f"--{k.replace('_', '-')} is not a setting of method {method!r}")
        values[k] = v
    for f in dataclasses.fields(cls):
        if f.name in values and isinstance(values[f.name], list):
            values[f.name] = tuple(values[f.name])
    try:
        config = cls(**values)
    except TypeError as e:
        raise UsageError(f"bad settings for method {method!r}: {e}") from e
    return method, config, file_cfg


def cmd_reconstruct(args) -> int:
    import torch

    from inverse3d.engine import seed_everything
    from inverse3d.methods import REGISTRY

    method, config, file_cfg = _method_config(args, REGISTRY)
    if args.data is None and file_cfg.get("data") not in (None, "builtin"):
        args.data = file_cfg["data"]
    if args.seed is None:
        args.seed = int(file_cfg.get("seed", 0))
    device = args.device or file_cfg.get("device")
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = str(torch.device(device))
    except RuntimeError as e:
        raise UsageError(f"bad --device {device!r}: {e}") from e
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: CUDA is not available on this machine")
    seed_everything(args.seed)
    data = _load_data(args).to(device)
    if not args.no_normalize and not data.extra.get("unit_frame"):
        from inverse3d.datasets.normalize import normalize_scene

        try:
            data = normalize_scene(data)
        except ValueError as e:
            raise UsageError(f"{data.source}: {e}") from e
        n = data.extra["normalization"]
        print(
            "object frame: centre ({:.3g}, {:.3g}, {:.3g}), scale {:.3g} "
            "(mesh files are written in the data's frame)".format(*n["centre"], n["scale"])
        )
    name = args.name or f"{data.name}-{method}"
    out_dir = Path(args.out) / name
    if out_dir.exists() and any(out_dir.iterdir()) and not args.resume:
        if not args.overwrite:
            raise UsageError(
                f"{out_dir}: output folder exists; pass --overwrite to replace it "
                "or --resume to continue its run"
            )
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _, run = REGISTRY[method]
    print(
        f"inverse3d reconstruct: method {method}, data {data.source or data.name}, "
        f"{len(data.train_idx)} training / {len(data.test_idx)} held-out views, device {device}"
    )
    report = run(config, data, out_dir, resume=args.resume, progress=not args.quiet)
    _print_report(report, out_dir)
    return 0


def _print_report(report: dict[str, Any], out_dir: Path) -> None:
    print(f"done in {report['time_s']:.1f} s ({report['steps']} steps); outputs in {out_dir}/")
    for k, v in report["metrics"].items():
        print(f"  {k:20s} {'n/a' if v is None else f'{v:.4f}'}")


# ----------------------------------------------------------------------------- others
def cmd_make_scene(args) -> int:
    from inverse3d.datasets.folder import write_folder_scene
    from inverse3d.datasets.synthetic import make_synthetic_scene

    out = Path(args.out_dir)
    if out.exists() and any(out.iterdir()):
        if not args.overwrite:
            raise UsageError(f"{out}: folder exists and is not empty; pass --overwrite")
        shutil.rmtree(out)
    scene = make_synthetic_scene(
        n_views=args.views, n_test=args.test_views, image_size=args.image_size, seed=args.seed
    )
    write_folder_scene(scene, out)
    print(f"wrote the built-in scene ({len(scene)} views, {args.image_size}px) to {out}/")
    return 0


def cmd_evaluate(args) -> int:
    from inverse3d.eval.metrics import evaluate_meshes

    pred, gt = load_mesh_file(args.pred_mesh), load_mesh_file(args.gt_mesh)
    for m, p in ((pred, args.pred_mesh), (gt, args.gt_mesh)):
        if m.faces_packed().shape[0] == 0:
            raise ValueError(f"{p}: mesh has no faces")
    res = evaluate_meshes(pred, gt, n_samples=args.samples, tau=args.tau)
    res = {k: (float(v) if v is not None else None) for k, v in res.items()}
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        for k, v in res.items():
            print(f"{k:20s} {'n/a' if v is None else f'{v:.5f}'}")
    return 0


COMMANDS = {
    "reconstruct": cmd_reconstruct,
    "make-scene": cmd_make_scene,
    "evaluate": cmd_evaluate,
    "render": cmd_render,
    "fit-mesh": cmd_fit_mesh,
    "pose": cmd_pose,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from inverse3d.engine import NonFiniteLossError

    func = COMMANDS[args.command]
    try:
        return func(args)
    except NonFiniteLossError as e:
        if args.debug:
            raise
        print(f"inverse3d {args.command}: stopped: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"inverse3d {args.command}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, KeyError, IndexError, RuntimeError) as e:
        if args.debug:
            raise
        msg = " ".join(str(e).split()) or type(e).__name__
        if isinstance(e, FileNotFoundError) and e.filename and str(e.filename) not in msg:
            msg = f"{e.filename}: {msg}"
        print(f"inverse3d {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
