"""Command-line flags made from config dataclasses (one `--x-y` per field `x_y`).

Types come from the field annotations (int, float, str, bool, X | None, tuple[X, ...]) and the
help text from the field's `setting(default, help)` metadata. Defaults are suppressed: a flag that
is not given is absent from the parsed namespace, so that the settings file, a saved run or the
dataclass default decides its value (`given_values`).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["add_dataclass_flags", "config_from_flags", "flag_name", "given_values"]


def flag_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def _base_type(tp: Any) -> Any:
    """X of `X | None`."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


class _NumberList(argparse.Action):
    """Numbers of a tuple setting as separate words or comma-separated, e.g. `--bbox -1 -1 -1 1 1
    1` or `--bbox=-1,-1,-1,1,1,1`; each word was already split by `_numbers`."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, [x for v in values for x in v])


def _numbers(item: type):
    def numbers(text: str) -> list:
        try:
            return [item(x) for x in text.split(",") if x.strip() != ""]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {item.__name__} numbers (comma or space separated); got {text!r}"
            ) from None

    return numbers


def _kwargs(tp: Any, f: dataclasses.Field, help_text: str, choices: bool) -> dict[str, Any]:
    tp = _base_type(tp)
    kw: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS}
    default = f.default if f.default is not dataclasses.MISSING else None
    shown = " ".join(map(str, default)) if isinstance(default, tuple) else default
    kw["help"] = f"{help_text} (default: {shown})" if help_text else f"(default: {shown})"
    if tp is bool:
        kw["action"] = argparse.BooleanOptionalAction
        return kw
    origin = typing.get_origin(tp)
    if origin in (tuple, list):
        item = (typing.get_args(tp) or (str,))[0]
        if item in (int, float):
            kw.update(nargs="*", type=_numbers(item), action=_NumberList, metavar="N")
        else:
            kw.update(nargs="*", type=str, metavar="N")
        return kw
    if tp in (int, float):
        kw.update(type=tp, metavar=tp.__name__.upper())
    else:
        kw.update(type=str, metavar="STR")
    allowed = f.metadata.get("choices")
    if allowed and choices:
        kw["choices"] = list(allowed)
        kw.pop("metavar", None)
    elif allowed:
        kw["help"] += f" [{' | '.join(map(str, allowed))}]"
    return kw


def add_dataclass_flags(
    group: Any,
    classes: Mapping[str, type] | type,
    skip: Iterable[str] = (),
) -> dict[str, set[str]]:
    """Add one flag per field of the dataclass(es) to `group` (a parser or argument group);
    return {field: owners}.

    classes: one dataclass, or {owner name: dataclass} (e.g. every method's config); a field that
    several share must have the same type in each, and its help names its owners when not all
    of them have it.
    """
    if isinstance(classes, type):
        classes = {"": classes}
    skip = set(skip)
    owners: dict[str, set[str]] = {}
    first: dict[str, tuple[Any, dataclasses.Field]] = {}
    for owner, cls in classes.items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name in skip:
                continue
            if f.name in first and first[f.name][0] != hints[f.name]:
                raise TypeError(
                    f"setting {f.name!r} has type {hints[f.name]} in {owner} but "
                    f"{first[f.name][0]} elsewhere: give it another name"
                )
            first.setdefault(f.name, (hints[f.name], f))
            owners.setdefault(f.name, set()).add(owner)
    for name, (tp, f) in first.items():
        help_text = f.metadata.get("help", "")
        if len(classes) > 1 and len(owners[name]) < len(classes):
            help_text = f"{help_text} [{', '.join(sorted(owners[name]))}]"
        # choices checked by argparse only when one class owns the flag (else by the config)
        group.add_argument(flag_name(name), **_kwargs(tp, f, help_text, len(owners[name]) == 1))
    return owners


def given_values(args: argparse.Namespace, names: Iterable[str]) -> dict[str, Any]:
    """{name: value} of the flags among `names` that were given on the command line."""
    return {n: getattr(args, n) for n in names if hasattr(args, n)}


def config_from_flags(args: argparse.Namespace, cls: type) -> Any:
    """An instance of the config dataclass `cls` from the flags given for its fields (the others
    at their defaults), checked by `pipeline.config.build_config` (errors name the flag)."""
    from inverse3d.pipeline.config import build_config

    flags = given_values(args, [f.name for f in dataclasses.fields(cls)])
    return build_config(cls, flags, {k: flag_name(k) for k in flags})
