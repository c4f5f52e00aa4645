"""The `inverse3d` command line: one module per verb.

    inverse3d reconstruct [--data PATH] [--method M] ...   posed images -> textured mesh + report
    inverse3d make-scene OUT_DIR                          write the built-in scene
    inverse3d evaluate PRED_MESH GT_MESH                  Chamfer-L1, F-score, ...
    inverse3d render MESH                                 images or a turntable of a mesh
    inverse3d fit-mesh POINTS.ply                         deform a sphere to a point cloud
    inverse3d pose MESH IMAGE                             camera of one image of a known mesh
    inverse3d fit-sdf MESH_OR_DIR                         neural SDF per mesh, occupancy F1
    inverse3d fit-body IMAGE KEYPOINTS.json --model M     body pose and shape from 2D keypoints
    inverse3d train-mesh-head                             Mesh R-CNN mesh head on procedural shapes
    inverse3d predict-mesh IMAGE --checkpoint C           a mesh from one image (Mesh R-CNN)
    inverse3d train-giraffe                               GIRAFFE generator on procedural images
    inverse3d train-synsin                                train SynSin on procedural rooms
    inverse3d synthesize IMAGE --angle A --checkpoint C   a novel view of one image (SynSin)

Exit codes: 0 success; 2 bad input (one line on stderr naming the file or flag and the problem);
1 a run that stopped (non-finite or diverged loss) or an internal error (one line, and the
traceback written to the run folder's error.log or a temporary file); 130 interrupted.
`--debug` lets errors propagate with their traceback.

Under torchrun (`torchrun --nproc-per-node N -m inverse3d ...`) `main` joins the process group
described by the environment (`distributed.init_from_env`; nothing happens in a plain run), and
an error message of a job with several processes names the rank that raised it.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from inverse3d import __version__

__all__ = ["VERBS", "build_parser", "main"]

# One module per verb: (command name, module under inverse3d.cli).
VERBS = (
    ("reconstruct", "reconstruct"),
    ("make-scene", "make_scene"),
    ("evaluate", "evaluate"),
    ("render", "render"),
    ("fit-mesh", "fit_mesh"),
    ("pose", "pose"),
    ("fit-sdf", "fit_sdf"),
    ("fit-body", "fit_body"),
    ("train-mesh-head", "train_mesh_head"),
    ("predict-mesh", "predict_mesh"),
    ("train-giraffe", "train_giraffe"),
    ("train-synsin", "train_synsin"),
    ("synthesize", "synthesize"),
)

_RAW = argparse.RawDescriptionHelpFormatter


class _TopFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse measures the verb names 2 columns less indented than it prints them, so the
    longest names had their line pushed below them; count the real indent."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        for sub in getattr(action, "_choices_actions", ()):
            width = len(sub.metavar or sub.dest) + self._current_indent + 4
            self._action_max_length = max(self._action_max_length, width)


def _summary(mod) -> str:
    """The verb's line in `inverse3d --help`: its SUMMARY, else the first sentence of HELP."""
    summary = getattr(mod, "SUMMARY", None)
    if summary:
        return summary
    first = mod.HELP.split(". ")[0].rstrip(".")
    return first + "."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inverse3d",
        description="3D deep learning and inverse rendering on PyTorch.",
        epilog="example:\n  inverse3d reconstruct            # reconstruct the built-in scene",
        formatter_class=_TopFormatter,
    )
    parser.add_argument("--version", action="version", version=f"inverse3d {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in VERBS:
        mod = importlib.import_module(f"{__name__}.{module}")
        p = sub.add_parser(
            name,
            help=_summary(mod),
            description=mod.HELP,
            formatter_class=_RAW,
            epilog="examples:\n" + "\n".join(f"  {e}" for e in mod.EXAMPLES),
        )
        p.add_argument("--debug", action="store_true", help="let errors show their traceback")
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def _input_error_types() -> tuple[type, ...]:
    from inverse3d.common.errors import InputError

    return (InputError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def _one_line(e: BaseException) -> str:
    msg = " ".join(str(e).split()) or type(e).__name__
    filename = getattr(e, "filename", None)
    if filename and str(filename) not in msg:
        msg = f"{filename}: {msg}"
    return msg


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    from inverse3d import distributed
    from inverse3d.engine import DivergedError, NonFiniteLossError
    from inverse3d.pipeline.reconstruct import RunContext

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    args.context = RunContext()
    stopped = (NonFiniteLossError, DivergedError)
    prog = f"inverse3d {args.command}"
    try:
        joined = distributed.init_from_env()
    except ValueError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    if joined:
        prog += f" (rank {distributed.rank()} of {distributed.world_size()})"
    try:
        return _run(args, prog, stopped)
    finally:
        if joined:
            import torch.distributed as dist

            dist.destroy_process_group()


def _run(args: argparse.Namespace, prog: str, stopped: tuple[type, ...]) -> int:
    from inverse3d.pipeline.run_folder import write_error_log

    try:
        return int(args._run(args))
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except stopped as e:
        if args.debug:
            raise
        print(f"{prog}: stopped: {_one_line(e)}", file=sys.stderr)
        return 1
    except _input_error_types() as e:
        if args.debug:
            raise
        print(f"{prog}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except Exception as e:
        if args.debug:
            raise
        log = write_error_log(args.context.folder, e)
        print(
            f"{prog}: internal error: {type(e).__name__}: {_one_line(e)} "
            f"(traceback in {log}; please report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
