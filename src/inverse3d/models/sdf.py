"""Signed distance networks f(x) -> sdf on points of the unit cube, and their files.

Three kinds share one call, ``net(points: (..., 3) float) -> (..., 1) float``:

- "siren": `Siren` (sine activations, published initialisation);
- "deepsdf": `DeepSDF` without a latent code (ReLU MLP, skip connection, weight norm), or,
  with ``latent_dim > 0``, `CodedDeepSDF`: a DeepSDF decoder with one shape's latent code
  fixed (the per-shape network of a joint, auto-decoder fit);
- "hashgrid": `HashGridSdf` (multi-resolution hash encoding + a small ReLU MLP).

`build_sdf_model(kind, **options)` makes one; `save_sdf(net, path, kind, options)` writes the
state dict (``torch.save``) and a JSON sidecar ``<path>.json`` with the kind and the options,
and `load_sdf(path)` rebuilds the network from both (``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from inverse3d._validation import (
    check_choice,
    check_positive_float,
    check_positive_int,
    check_tensor,
)
from inverse3d.models.deepsdf import DeepSDF
from inverse3d.models.hash_grid import HashGridEncoding
from inverse3d.models.siren import Siren

__all__ = ["SDF_MODELS", "CodedDeepSDF", "HashGridSdf", "build_sdf_model", "load_sdf", "save_sdf"]

SDF_MODELS = ("siren", "deepsdf", "hashgrid")
FORMAT_VERSION = 1


class HashGridSdf(nn.Module):
    """SDF from a hash-grid encoding: ``f(x) = mlp([x, encoding(x)])``.

    Args:
        half_size: the encoded box is [-half_size, half_size]^3 (points outside are clamped).
        n_levels, n_features_per_level, log2_hashmap_size, base_resolution,
            finest_resolution: of the `HashGridEncoding`.
        hidden_dim: width of the MLP.
        n_hidden: number of hidden ReLU layers of the MLP.

    forward(points: (..., 3) float) -> (..., 1) float.
    """

    def __init__(
        self,
        half_size: float = 0.55,
        n_levels: int = 8,
        n_features_per_level: int = 2,
        log2_hashmap_size: int = 17,
        base_resolution: int = 8,
        finest_resolution: int = 256,
        hidden_dim: int = 64,
        n_hidden: int = 1,
    ) -> None:
        super().__init__()
        half_size = check_positive_float(half_size, "half_size")
        self.encoding = HashGridEncoding(
            n_levels=n_levels,
            n_features_per_level=n_features_per_level,
            log2_hashmap_size=log2_hashmap_size,
            base_resolution=base_resolution,
            finest_resolution=finest_resolution,
            bounds=half_size,
        )
        d = 3 + self.encoding.output_dim
        layers: list[nn.Module] = []
        for _ in range(int(n_hidden)):
            layers += [nn.Linear(d, hidden_dim), nn.ReLU()]
            d = hidden_dim
        layers.append(nn.Linear(d, 1))
        self.mlp = nn.Sequential(*layers)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        check_tensor(points, "points", ("...", 3), "float")
        return self.mlp(torch.cat((points, self.encoding(points)), dim=-1))


class CodedDeepSDF(nn.Module):
    """One shape of a jointly fitted collection: ``f(x) = decoder(code, x)``.

    Args:
        latent_dim: size D >= 1 of the code.
        **options: of the `DeepSDF` decoder (hidden_dim, n_layers, ...; not latent_dim).

    Attributes: decoder (`DeepSDF` with latent_dim D), code: (D,) float buffer (saved with the
    weights). forward(points: (..., 3) float) -> (..., 1) float.
    """

    def __init__(self, latent_dim: int, **options: Any) -> None:
        super().__init__()
        self.decoder = DeepSDF(latent_dim=check_positive_int(latent_dim, "latent_dim"), **options)
        self.register_buffer("code", torch.zeros(int(latent_dim)))

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return self.decoder(points, self.code)


def build_sdf_model(kind: str, **options: Any) -> nn.Module:
    """A fresh SDF network of the given kind ("siren", "deepsdf" or "hashgrid").

    options: keyword arguments of the kind's class (`Siren` without in/out sizes, `DeepSDF`,
    `HashGridSdf`); unknown keys raise TypeError. "deepsdf" with ``latent_dim > 0`` gives a
    `CodedDeepSDF` (code zero until set).
    """
    check_choice(kind, "kind", SDF_MODELS)
    if kind == "siren":
        opts = {"hidden_features": 128, "hidden_layers": 3, **options}
        return Siren(3, out_features=1, outermost_linear=True, **opts)
    if kind == "deepsdf":
        opts = {"hidden_dim": 256, "n_layers": 6, "tanh_output": False, **options}
        latent_dim = opts.pop("latent_dim", 0)
        if latent_dim:
            return CodedDeepSDF(latent_dim, **opts)
        return DeepSDF(latent_dim=0, **opts)
    return HashGridSdf(**options)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def save_sdf(
    net: nn.Module,
    path: str | os.PathLike,
    kind: str,
    options: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write ``net``'s state dict to ``path`` and ``{kind, options, extra}`` to ``path + '.json'``.

    options: the keyword arguments `build_sdf_model(kind, **options)` needs to rebuild the
    network (JSON-serialisable). extra: anything else to keep beside them (e.g. the mesh's
    normalisation ``{"centre": [...], "scale": s}``). Both files are written to temporary names
    first and renamed, so a failure leaves no half-written file. Returns both paths.
    """
    check_choice(kind, "kind", SDF_MODELS)
    path = Path(path)
    meta = {
        "format": "inverse3d-sdf",
        "version": FORMAT_VERSION,
        "kind": kind,
        "options": dict(options or {}),
        "extra": dict(extra or {}),
    }
    text = json.dumps(meta, indent=2, sort_keys=True)  # fails early on non-JSON values
    side = _sidecar(path)
    tmp_w, tmp_j = path.with_name(path.name + ".tmp"), side.with_name(side.name + ".tmp")
    try:
        torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, tmp_w)
        tmp_j.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp_w, path)
        os.replace(tmp_j, side)
    finally:
        for t in (tmp_w, tmp_j):
            if t.exists():
                t.unlink()
    return path, side


def load_sdf(path: str | os.PathLike, map_location: Any = "cpu") -> nn.Module:
    """Rebuild a network written by `save_sdf` (in eval mode); ``net.sdf_meta`` holds the JSON.

    Raises FileNotFoundError when the weights or the sidecar are missing and ValueError when
    the sidecar is not one of ours or the weights do not fit the network it describes.
    """
    path = Path(path)
    side = _sidecar(path)
    for p in (path, side):
        if not p.is_file():
            raise FileNotFoundError(
                f"{p}: no such file (load_sdf needs the weights and {side.name})"
            )
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{side}: not a JSON file ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != "inverse3d-sdf":
        raise ValueError(f"{side}: not an inverse3d SDF description (format field missing)")
    if meta.get("kind") not in SDF_MODELS:
        raise ValueError(f"{side}: kind must be one of {SDF_MODELS}; got {meta.get('kind')!r}")
    net = build_sdf_model(meta["kind"], **meta.get("options", {}))
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # a truncated or foreign file: struct.error, zip errors, ...
        first = (str(err).splitlines() or [type(err).__name__])[0]
        raise ValueError(f"{path}: not a weights file ({first})") from None
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"{path}: weights do not fit the {meta['kind']} network: {err}") from None
    net.sdf_meta = meta
    return net.eval()
