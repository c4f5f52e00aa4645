"""The `inverse3d` command line (filled in by the main-job issue)."""

from __future__ import annotations

import argparse
import sys

from inverse3d import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inverse3d",
        description="3D deep learning and inverse rendering on PyTorch.",
        epilog="example:\n  inverse3d reconstruct            # reconstruct the built-in scene",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"inverse3d {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
