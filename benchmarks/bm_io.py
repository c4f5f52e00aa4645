"""IO throughput: a 1M-face OBJ and a 1M-face binary PLY, ours against trimesh (when importable).

Run: python benchmarks/bm_io.py [--faces 1000000] [--repeat 3]
Prints MB/s (file size / median load time) and the ratio of our time to trimesh's.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np
import torch
from _timing import median_time

from inverse3d.io.obj_io import load_obj, save_obj
from inverse3d.io.ply_io import load_ply, save_ply


def grid_mesh(n_faces: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A wavy grid with about `n_faces` triangles."""
    side = int(np.sqrt(n_faces / 2)) + 1
    y, x = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    z = np.sin(x * 0.1) * np.cos(y * 0.1)
    verts = np.stack([x, y, z], -1).reshape(-1, 3).astype(np.float32) / side
    i = (y[:-1, :-1] * side + x[:-1, :-1]).ravel()
    quads = np.stack([i, i + 1, i + side + 1, i + side], 1)
    faces = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    return torch.from_numpy(verts), torch.from_numpy(faces.astype(np.int64))


def report(label: str, path: str, ours: float, peer: float | None) -> None:
    mb = os.path.getsize(path) / 1e6
    line = f"{label:12s} {mb:8.1f} MB  ours {ours:7.3f} s ({mb / ours:7.1f} MB/s)"
    if peer is not None:
        line += f"  trimesh {peer:7.3f} s ({mb / peer:7.1f} MB/s)  ours/trimesh {ours / peer:5.2f}x"
    print(line, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--faces", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    try:
        import trimesh
    except ImportError:
        trimesh = None
    verts, faces = grid_mesh(args.faces)
    print(f"mesh: {len(verts)} verts, {len(faces)} faces")
    with tempfile.TemporaryDirectory() as d:
        obj = os.path.join(d, "m.obj")
        ply = os.path.join(d, "m.ply")
        save_obj(obj, verts, faces)
        save_ply(ply, verts, faces)
        for label, path, ours_fn in (
            ("obj", obj, lambda: load_obj(obj, load_textures=False)),
            ("ply-binary", ply, lambda: load_ply(ply)),
        ):
            ours = median_time(ours_fn, args.repeat, warmup=False)
            peer = None
            if trimesh is not None:
                peer = median_time(
                    lambda p=path: trimesh.load(p, process=False, maintain_order=True),
                    args.repeat,
                    warmup=False,
                )
            report(label, path, ours, peer)


if __name__ == "__main__":
    main()
