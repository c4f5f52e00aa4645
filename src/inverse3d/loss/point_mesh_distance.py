"""Distances between point clouds and meshes (PyTorch3D `loss.point_mesh_*` semantics).

Exact point-to-triangle / point-to-segment squared distances. Each nearest-primitive search is a
chunked brute force (see ops.triangle_distance.CHUNK_PAIRS, memory O(CHUNK_PAIRS)) without autograd; the
distance of the selected pair is then recomputed with autograd, so gradients reach both the
points and the vertices. On CUDA with Triton (`INVERSE3D_KERNELS`) the point <-> triangle
searches of `point_mesh_face_distance` run as kernels (`ops.triangle_distance.closest_triangle_pairs`).
"""

from __future__ import annotations

import torch

from inverse3d.ops.triangle_distance import (
    blockwise_min,
    closest_triangle_pairs,
    point_segment_block_fn,
    point_segment_distance,
    point_triangle_distance,
)

__all__ = ["point_mesh_edge_distance", "point_mesh_face_distance"]


def _check_batch(meshes, pcls) -> int:
    """Batch size N of meshes and pcls: equal sizes, neither batch empty."""
    if len(meshes) != len(pcls):
        raise ValueError(
            "meshes and pointclouds must be equal sized batches: got "
            f"{len(meshes)} meshes and {len(pcls)} point clouds"
        )
    if meshes.isempty() or pcls.isempty():
        raise ValueError("meshes and pcls must not be empty")
    return len(meshes)


def _mean_over_pairs(meshes, pcls, prims, first_idx, counts, terms) -> torch.Tensor:
    """Sum over the (mesh, cloud) pairs of terms(points (P, 3), corners) / N.

    prims: (E, k) packed vertex indices of the mesh primitives (edges or faces), first_idx and
    counts: per-mesh first index into them and their number; corners: k (E_n, 3) tensors, the
    primitives' vertex positions. Pairs where either side is empty contribute 0.
    """
    N = len(meshes)
    pts_list = pcls.points_list()
    verts = meshes.verts_packed()
    first, num = first_idx.tolist(), counts.tolist()
    total = verts.new_zeros(())
    for n in range(N):
        p = pts_list[n]
        e = prims[first[n] : first[n] + num[n]]
        if p.shape[0] and e.shape[0]:
            total = total + sum(terms(p, *(verts[e[:, k]] for k in range(e.shape[1]))))
    return total / N


def _tri_terms(p, a, b, c, area):
    """Mean point->triangle and mean triangle->point squared distances (one pass over pairs)."""
    tris = torch.stack([a, b, c], 1)
    pi, ti = closest_triangle_pairs(p, tris, area)
    d_p = point_triangle_distance(p, a[pi], b[pi], c[pi], area)
    d_t = point_triangle_distance(p[ti], a, b, c, area)
    return d_p.mean(), d_t.mean()


def _seg_terms(p, a, b):
    _, pi, _, si = blockwise_min(
        point_segment_block_fn(p, a, b), p.shape[0], a.shape[0], p, cols=True
    )
    return point_segment_distance(p, a[pi], b[pi]).mean(), point_segment_distance(
        p[si], a, b
    ).mean()


def point_mesh_edge_distance(meshes, pcls) -> torch.Tensor:
    """Symmetric point-to-edge distance between a batch of meshes and of point clouds.

    point -> edge: squared distance of each point to the nearest edge (segment) of its mesh,
    averaged over the cloud's points; edge -> point: squared distance of each edge to the
    nearest point of its cloud, averaged over the mesh's edges. Each term is summed over the
    batch and divided by N.

    Args:
        meshes: Meshes with N meshes.
        pcls: Pointclouds with N clouds.

    Returns:
        Scalar loss, differentiable in the points and the vertex positions. A (mesh, cloud)
        pair where either side is empty contributes 0.
    """
    _check_batch(meshes, pcls)
    return _mean_over_pairs(
        meshes,
        pcls,
        meshes.edges_packed(),
        meshes.mesh_to_edges_packed_first_idx(),
        meshes.num_edges_per_mesh(),
        _seg_terms,
    )


def point_mesh_face_distance(meshes, pcls, min_triangle_area: float = 5e-3) -> torch.Tensor:
    """Symmetric point-to-face distance between a batch of meshes and of point clouds.

    point -> face: exact squared distance of each point to the nearest triangle of its mesh,
    averaged over the cloud's points; face -> point: squared distance of each triangle to the
    nearest point of its cloud, averaged over the mesh's faces. Each term is summed over the
    batch and divided by N. Triangles with area < min_triangle_area count as their 3 edges.

    Args:
        meshes: Meshes with N meshes.
        pcls: Pointclouds with N clouds.
        min_triangle_area: area below which a triangle is treated as degenerate.

    Returns:
        Scalar loss, differentiable in the points and the vertex positions. A (mesh, cloud)
        pair where either side is empty contributes 0.
    """
    _check_batch(meshes, pcls)
    return _mean_over_pairs(
        meshes,
        pcls,
        meshes.faces_packed(),
        meshes.mesh_to_faces_packed_first_idx(),
        meshes.num_faces_per_mesh(),
        lambda p, a, b, c: _tri_terms(p, a, b, c, min_triangle_area),
    )
