"""What a reconstruction method is.

A method is one module under `methods/`: a config dataclass whose fields are declared with
`setting(default, help, ...)`, and a function

    fit(config, scene, loop) -> Reconstruction

registered in one line at the bottom of the module::

    register("volume", VolumeConfig, fit, "voxel grid fitted by volume rendering")

`scene` is a `SceneData` (structures.scene) already on the run's device and in the working frame
(the unit cube); `loop` is an `engine.Loop` that runs the optimisation steps (progress bar,
checkpoints, resume, non-finite stop). A method imports only the layers below it (structures,
transforms, renderer, ops, loss, models, engine): the pipeline loads the data, evaluates, plots
and writes every file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = [
    "BackgroundSettings",
    "Method",
    "PoseRefinementSettings",
    "REGISTRY",
    "Reconstruction",
    "get_method",
    "register",
    "setting",
]


def setting(
    default: Any,
    help: str,
    *,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[Any, ...] | None = None,
) -> Any:
    """A config field with its one-line help and the range of sensible values.

    low / high: inclusive bounds checked by `check_config` (a value outside is certainly wrong,
    e.g. a negative weight or a learning rate above 1); for tuple fields they bound every item.
    choices: the allowed values of a string field.
    """
    meta = {"help": help, "low": low, "high": high, "choices": choices}
    if isinstance(default, (list, dict, set)):
        raise TypeError("setting defaults must be immutable (use a tuple)")
    return field(default=default, metadata=meta)


@dataclass
class Reconstruction:
    """What a method returns.

    mesh: Meshes (batch of 1) in the scene's working frame, with TexturesVertex colours when the
        method has them; None when the method makes no surface.
    render: render(cameras) -> (N, H, W, 4) float RGBA of those cameras at the scene's image size,
        RGB composited on the scene's background, alpha last; None when the method cannot render.
    history: the loss history (one dict of scalars per step, with a "loss" key).
    steps: optimisation steps taken (including those before a resume).
    artifacts: anything else worth keeping, e.g. {"field": state_dict} (written by the pipeline)
        or extra scalars for the report under "metrics". A method with per-image appearance
        latents adds "fit_appearance": fit_appearance(cameras, images, keep, distortion=None,
        steps=100) -> (N, A) latents for render(cameras, distortion=, appearance=); the pipeline
        then reports NeRF-W's held-out protocol (psnr_appearance_fit / psnr_appearance_mean).
    """

    mesh: Any
    render: Callable[[Any], torch.Tensor] | None
    history: list[dict[str, float]] = field(default_factory=list)
    steps: int = 0
    artifacts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Method:
    """A registered method: its name, config class, fit function and one-line summary."""

    name: str
    config_cls: type
    fit: Callable[..., Reconstruction]
    summary: str = ""


REGISTRY: dict[str, Method] = {}


def register(name: str, config_cls: type, fit: Callable[..., Reconstruction], summary: str = ""):
    """Make `fit` available as `inverse3d reconstruct --method name`."""
    if not dataclasses.is_dataclass(config_cls):
        raise TypeError(f"config_cls of method {name!r} must be a dataclass; got {config_cls!r}")
    if name in REGISTRY and REGISTRY[name].fit is not fit:
        raise ValueError(f"method {name!r} is registered twice")
    REGISTRY[name] = Method(name, config_cls, fit, summary)
    return REGISTRY[name]


def get_method(name: str) -> Method:
    """The registered method called `name`; ValueError naming the known ones."""
    if name not in REGISTRY:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def field_help(config_cls: type) -> Mapping[str, str]:
    """{field name: help text} of a config dataclass."""
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(config_cls)}


@dataclass
class BackgroundSettings:
    """Settings of the background model (`models.BackgroundModel`) shared by the methods that
    composite one behind the object's cube (volume, sdf, dvr): each method's config inherits
    them and declares its own `background_model` choice (its default rule differs)."""

    environment_size: int = setting(
        16, "background model: texels from pole to pole (twice as many around)", low=1
    )
    background_layers: int = setting(8, "outer background: grid layers of inverse distance", low=1)
    background_samples: int = setting(16, "outer background: samples per ray", low=1)
    lr_background: float = setting(
        0.05, "Adam learning rate of the background model", low=0.0, high=1.0
    )


@dataclass
class PoseRefinementSettings:
    """Settings of the per-camera pose refinement (`renderer.CameraRefinement`) shared by the
    ray methods that offer `--refine-poses` (nerf, volume)."""

    refine_poses: bool = setting(
        False,
        "learn an SE(3) correction of each training camera's pose (the first view fixes the frame)",
    )
    lr_poses: float = setting(1e-3, "Adam learning rate of the pose corrections", low=0.0, high=1.0)
    pose_warmup: int = setting(
        100, "steps of linear warm-up of the pose corrections' learning rate", low=0
    )
    pose_translation_scale: float = setting(
        1.0,
        "learning rate of the pose translations relative to lr_poses (below 1 the fit prefers "
        "turning a camera to shifting it, which look alike on a small distant object)",
        low=0.0,
    )
