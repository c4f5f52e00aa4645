"""Train and evaluate a Mesh R-CNN mesh head (models.mesh_rcnn) on procedural shapes.

Not a scene method (it learns from many images, not one scene), so it is not registered for
`reconstruct`; `inverse3d train-mesh-head` trains it and `inverse3d predict-mesh` uses it.

Losses (Mesh R-CNN): voxel BCE on the frustum grid, plus for every refinement stage chamfer
(squared L2, points sampled on the predicted mesh vs. on the ground truth), normal (1 - |cos|
of nearest-neighbour normals) and edge length (mesh_edge_loss). Metrics: eval.mesh_rcnn_metrics
(GT rescaled to longest side 10; chamfer, normal consistency, F1 at 0.1 / 0.3 / 0.5), computed
by eval.mesh_rcnn_metrics.evaluate_mesh_head. The training data is built by the caller
(datasets.procedural_shapes.make_shape_samples): methods do not import datasets or eval.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import torch

from inverse3d.engine import Loop
from inverse3d.loss.chamfer import chamfer_distance
from inverse3d.loss.mesh_edge_loss import mesh_edge_loss
from inverse3d.methods.base import setting
from inverse3d.models.mesh_rcnn import MeshRCNNHead, MeshRCNNOutput
from inverse3d.ops.sample_points_from_meshes import sample_points_from_meshes

__all__ = ["MeshHeadConfig", "build_model", "mesh_head_losses", "train_mesh_head"]


@dataclass
class MeshHeadConfig:
    """Settings of `inverse3d train-mesh-head` (model, data, optimisation, losses)."""

    grid: int = setting(16, "voxels per side of the frustum grid (G)", low=4, high=64)
    n_stages: int = setting(2, "mesh refinement stages", low=1, high=5)
    hidden: int = setting(64, "channels of the voxel head and refinement stages", low=8, high=512)
    width: int = setting(32, "channels of the small backbone's first scale", low=8, high=256)
    cubify_thresh: float = setting(0.5, "voxel probability kept by cubify", low=0.01, high=0.99)
    image_size: int = setting(64, "training image size (a multiple of 8)", low=16, high=512)
    kinds: str = setting("box,cylinder,torus,mug", "comma-separated shape kinds")
    n_train: int = setting(96, "training samples", low=1, high=1_000_000)
    n_test: int = setting(24, "held-out samples (another seed)", low=1, high=100_000)
    data_seed: int = setting(0, "dataset seed (held-out uses data_seed + 1)", low=0)
    steps: int = setting(300, "optimisation steps", low=1, high=10_000_000)
    batch_size: int = setting(8, "samples per step", low=1, high=1024)
    lr: float = setting(1e-3, "Adam learning rate", low=1e-7, high=1.0)
    n_points: int = setting(1000, "points sampled per mesh for the losses", low=10, high=100_000)
    voxel_weight: float = setting(1.0, "weight of the voxel BCE loss", low=0.0)
    chamfer_weight: float = setting(1.0, "weight of the chamfer loss (per stage)", low=0.0)
    normal_weight: float = setting(0.1, "weight of the normal loss (per stage)", low=0.0)
    edge_weight: float = setting(0.2, "weight of the edge-length loss (per stage)", low=0.0)
    eval_samples: int = setting(5000, "points per surface for the metrics", low=100)

    def kind_tuple(self) -> tuple[str, ...]:
        """The shape kinds as a tuple (their names are checked by the data generator)."""
        kinds = tuple(k.strip() for k in self.kinds.split(",") if k.strip())
        if not kinds:
            raise ValueError(f"kinds must name at least one shape kind; got {self.kinds!r}")
        return kinds


def build_model(config: MeshHeadConfig) -> MeshRCNNHead:
    """The untrained model of a config."""
    return MeshRCNNHead(
        grid=config.grid,
        n_stages=config.n_stages,
        hidden=config.hidden,
        width=config.width,
        cubify_thresh=config.cubify_thresh,
    )


def mesh_head_losses(
    out: MeshRCNNOutput, batch: Any, config: MeshHeadConfig
) -> dict[str, torch.Tensor]:
    """Loss terms of one forward pass on `batch` (module docstring); "loss" is their weighted
    sum. out.voxel_logits (N, G, G, G) must match batch.voxels."""
    if out.voxel_logits.shape != batch.voxels.shape:
        raise ValueError(
            f"voxel grid mismatch: model gives {tuple(out.voxel_logits.shape)}, data has "
            f"{tuple(batch.voxels.shape)} (use the same grid size)"
        )
    terms = {
        "voxel": torch.nn.functional.binary_cross_entropy_with_logits(
            out.voxel_logits, batch.voxels
        )
    }
    ch = nl = ed = out.voxel_logits.new_zeros(())
    for mesh in out.meshes[1:]:  # the cubified mesh has no gradient
        pts, nrm = sample_points_from_meshes(mesh, config.n_points, return_normals=True)
        c, n = chamfer_distance(pts, batch.points, x_normals=nrm, y_normals=batch.normals)
        ch, nl, ed = ch + c, nl + n, ed + mesh_edge_loss(mesh)
    terms.update(chamfer=ch, normal=nl, edge=ed)
    terms["loss"] = (
        config.voxel_weight * terms["voxel"]
        + config.chamfer_weight * ch
        + config.normal_weight * nl
        + config.edge_weight * ed
    )
    return terms


def train_mesh_head(
    config: MeshHeadConfig,
    loop: Loop | None = None,
    train_data: Any = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> tuple[MeshRCNNHead, list[dict[str, float]]]:
    """Train a model of `config` on `train_data` with Adam for config.steps steps through `loop`.

    train_data: a batch of samples such as `datasets.procedural_shapes.make_shape_samples` makes
    (`len()`, `subset(idx)`, and fields images (N, 3, S, S), masks, meshes, voxels (N, G, G, G),
    points, normals (N, P, 3)); the caller builds it (methods do not read datasets).

    Batches are drawn with a generator seeded by `seed`. Returns (model in eval mode, history).
    """
    loop = loop or Loop(progress=False)
    if train_data is None or not hasattr(train_data, "subset"):
        raise TypeError(
            "train_data must be a batch of samples with subset() (e.g. make_shape_samples(...)); "
            f"got {type(train_data).__name__}"
        )
    torch.manual_seed(int(seed))
    model = build_model(config).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    gen = torch.Generator().manual_seed(int(seed))
    n = len(train_data)
    bs = min(config.batch_size, n)

    def step(i: int) -> dict[str, Any]:
        idx = torch.randperm(n, generator=gen)[:bs].tolist()
        part = train_data.subset(idx)
        out = model(part.images.to(device))
        terms = mesh_head_losses(out, _to(part, device), config)
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
        return {k: float(v.detach()) for k, v in terms.items()}

    t0 = time.perf_counter()
    res = loop.run(step, config.steps, state={"model": model, "optimizer": opt}, desc="mesh head")
    model.eval()
    history = list(res.history)
    if history:
        history[-1] = {**history[-1], "train_time_s": time.perf_counter() - t0}
    return model, history


def _to(batch: Any, device: str | torch.device) -> Any:
    names = ("images", "masks", "meshes", "voxels", "points", "normals")
    return replace(batch, **{k: getattr(batch, k).to(device) for k in names})
