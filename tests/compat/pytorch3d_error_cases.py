"""Inputs for which PyTorch3D 0.7.9 raises a documented error, with the exception type and the
key phrase of its message (read from PyTorch3D's source: the file is named in each comment).

`cases(lib)` builds the calls for either package (`lib` = the imported root package,
inverse3d or pytorch3d: both have the same module paths), so the same table checks inverse3d
(tests/compat/test_semantics_compat.py) and was checked against PyTorch3D itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType, SimpleNamespace

import torch


def _api(lib: ModuleType) -> SimpleNamespace:
    name = lib.__name__
    structures = importlib.import_module(name + ".structures")
    loss = importlib.import_module(name + ".loss")
    ops = importlib.import_module(name + ".ops")
    renderer = importlib.import_module(name + ".renderer")
    return SimpleNamespace(
        Meshes=structures.Meshes,
        Pointclouds=structures.Pointclouds,
        join_meshes_as_batch=structures.join_meshes_as_batch,
        join_pointclouds_as_batch=structures.join_pointclouds_as_batch,
        list_to_padded=structures.list_to_padded,
        padded_to_list=structures.padded_to_list,
        chamfer_distance=loss.chamfer_distance,
        point_mesh_face_distance=loss.point_mesh_face_distance,
        point_mesh_edge_distance=loss.point_mesh_edge_distance,
        knn_points=ops.knn_points,
        knn_gather=ops.knn_gather,
        sample_points_from_meshes=ops.sample_points_from_meshes,
        FoVPerspectiveCameras=renderer.FoVPerspectiveCameras,
        get_world_to_view_transform=renderer.cameras.get_world_to_view_transform,
        TexturesVertex=renderer.TexturesVertex,
        TexturesUV=renderer.TexturesUV,
    )


def _tet(m: SimpleNamespace, **kwargs) -> object:
    verts = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    faces = torch.tensor([[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]])
    return m.Meshes(verts=[verts], faces=[faces], **kwargs)


def _tex_vertex(m: SimpleNamespace, V: int = 4) -> object:
    return m.TexturesVertex(verts_features=[torch.ones(V, 3)])


def _tex_uv(m: SimpleNamespace) -> object:
    return m.TexturesUV(
        maps=torch.ones(1, 4, 4, 3),
        faces_uvs=[torch.zeros(4, 3, dtype=torch.int64)],
        verts_uvs=[torch.zeros(1, 2)],
    )


def _cloud(m: SimpleNamespace, **kwargs) -> object:
    return m.Pointclouds(points=[torch.rand(5, 3)], **kwargs)


Case = tuple[str, type[Exception], str, Callable[[SimpleNamespace], object]]

_R2 = torch.eye(3)[None].expand(2, 3, 3)
_X = torch.rand(2, 5, 3)
_I64 = torch.int64

CASES: list[Case] = [
    # structures/meshes.py: Meshes.__init__, submeshes, join_meshes_as_batch, ...
    (
        "meshes_tensor_dims",
        ValueError,
        "Verts or Faces tensors have incorrect dimensions",
        lambda m: m.Meshes(verts=torch.rand(1, 4, 2), faces=torch.zeros(1, 2, 3, dtype=_I64)),
    ),
    (
        "meshes_wrong_types",
        ValueError,
        "Verts and Faces must be either a list or a tensor",
        lambda m: m.Meshes(verts="verts", faces="faces"),
    ),
    (
        "meshes_face_padding",
        ValueError,
        "Padding of faces must be at the end",
        lambda m: m.Meshes(
            verts=torch.rand(1, 4, 3), faces=torch.tensor([[[-1, -1, -1], [0, 1, 2]]])
        ),
    ),
    (
        "meshes_textures_shape",
        ValueError,
        "Textures do not match the dimensions of Meshes",
        lambda m: _tet(m, textures=_tex_vertex(m, V=7)),
    ),
    (
        "submeshes_count",
        ValueError,
        "You must specify exactly one set of submeshes",
        lambda m: _tet(m).submeshes([[torch.tensor([0])], [torch.tensor([1])]]),
    ),
    (
        "join_meshes_not_list",
        ValueError,
        "Wrong first argument to join_meshes_as_batch",
        lambda m: m.join_meshes_as_batch(_tet(m)),
    ),
    (
        "join_meshes_some_textures",
        ValueError,
        "Inconsistent textures in join_meshes_as_batch",
        lambda m: m.join_meshes_as_batch([_tet(m, textures=_tex_vertex(m)), _tet(m)]),
    ),
    (
        "join_meshes_texture_types",
        ValueError,
        "All meshes in the batch must have the same type of texture",
        lambda m: m.join_meshes_as_batch(
            [_tet(m, textures=_tex_vertex(m)), _tet(m, textures=_tex_uv(m))]
        ),
    ),
    (
        "mesh_index_range",
        ValueError,
        "Mesh index must be in the range [0, N)",
        lambda m: _tet(m).get_mesh_verts_faces(5),
    ),
    (
        "mesh_index_type",
        ValueError,
        "Mesh index must be an integer",
        lambda m: _tet(m).get_mesh_verts_faces(0.5),
    ),
    (
        "split_sizes",
        ValueError,
        "Value of split_sizes must be a list of integers",
        lambda m: _tet(m).split([0.5]),
    ),
    (
        "offset_verts_shape",
        ValueError,
        "Verts offsets must have dimension (all_v, 3)",
        lambda m: _tet(m).offset_verts(torch.rand(2, 3)),
    ),
    ("extend_type", ValueError, "N must be an integer", lambda m: _tet(m).extend(1.5)),
    ("extend_positive", ValueError, "N must be > 0", lambda m: _tet(m).extend(0)),
    (
        "update_padded_batch",
        ValueError,
        "new values must have the same batch dimension",
        lambda m: _tet(m).update_padded(torch.rand(2, 4, 3)),
    ),
    (
        "sample_textures_none",
        ValueError,
        "Meshes does not have textures",
        lambda m: _tet(m).sample_textures(None),
    ),
    # structures/pointclouds.py: Pointclouds.__init__, join_pointclouds_as_batch, get_cloud
    (
        "cloud_list_shape",
        ValueError,
        "Clouds in list must be of shape Px3 or empty",
        lambda m: m.Pointclouds(points=[torch.rand(5, 2)]),
    ),
    (
        "cloud_tensor_shape",
        ValueError,
        "Points tensor has incorrect dimensions",
        lambda m: m.Pointclouds(points=torch.rand(1, 5, 2)),
    ),
    (
        "cloud_wrong_type",
        ValueError,
        "Points must be either a list or a tensor",
        lambda m: m.Pointclouds(points="points"),
    ),
    (
        "cloud_normals_dims",
        ValueError,
        "Normals are expected to be 3-dimensional",
        lambda m: _cloud(m, normals=[torch.rand(5, 2)]),
    ),
    (
        "cloud_features_points",
        ValueError,
        "A cloud has mismatched numbers of points and inputs",
        lambda m: _cloud(m, features=[torch.rand(4, 2)]),
    ),
    (
        "cloud_features_channels",
        ValueError,
        "The clouds must have the same number of channels",
        lambda m: m.Pointclouds(
            points=[torch.rand(5, 3), torch.rand(5, 3)],
            features=[torch.rand(5, 2), torch.rand(5, 3)],
        ),
    ),
    (
        "cloud_features_list_length",
        ValueError,
        "Points and auxiliary input must be the same length",
        lambda m: _cloud(m, features=[torch.rand(5, 2), torch.rand(5, 2)]),
    ),
    (
        "cloud_features_tensor_batch",
        ValueError,
        "Points and inputs must be the same length",
        lambda m: m.Pointclouds(points=torch.rand(1, 5, 3), features=torch.rand(2, 5, 2)),
    ),
    (
        "cloud_features_tensor_points",
        ValueError,
        "Inputs tensor must have the right maximum",
        lambda m: m.Pointclouds(points=torch.rand(1, 5, 3), features=torch.rand(1, 4, 2)),
    ),
    (
        "join_clouds_features",
        ValueError,
        "Pointclouds must have the same number of features",
        lambda m: m.join_pointclouds_as_batch(
            [_cloud(m, features=[torch.rand(5, 2)]), _cloud(m, features=[torch.rand(5, 3)])]
        ),
    ),
    (
        "join_clouds_not_list",
        ValueError,
        "Wrong first argument to join_points_as_batch",
        lambda m: m.join_pointclouds_as_batch(_cloud(m)),
    ),
    (
        "join_clouds_some_normals",
        ValueError,
        "defined and some set to None",
        lambda m: m.join_pointclouds_as_batch([_cloud(m, normals=[torch.rand(5, 3)]), _cloud(m)]),
    ),
    (
        "cloud_index_range",
        ValueError,
        "Cloud index must be in the range [0, N)",
        lambda m: _cloud(m).get_cloud(5),
    ),
    # structures/utils.py
    (
        "list_to_padded_types",
        ValueError,
        "All items have to be instances of a torch.Tensor",
        lambda m: m.list_to_padded([1, 2]),
    ),
    (
        "list_to_padded_dims",
        ValueError,
        "All items have to have the same number of dimensions",
        lambda m: m.list_to_padded([torch.rand(2, 3), torch.rand(2)]),
    ),
    (
        "padded_to_list_split",
        ValueError,
        "Split size must be of same length as inputs first dimension",
        lambda m: m.padded_to_list(torch.rand(2, 4, 3), split_size=[1, 2, 3]),
    ),
    # renderer/cameras.py
    (
        "w2v_batch",
        ValueError,
        "Expected R, T to have the same batch dimension",
        lambda m: m.get_world_to_view_transform(_R2, torch.zeros(3, 3)),
    ),
    (
        "w2v_T_shape",
        ValueError,
        "Expected T to have shape (N, 3)",
        lambda m: m.get_world_to_view_transform(_R2, torch.zeros(2, 4)),
    ),
    (
        "w2v_R_shape",
        ValueError,
        "Expected R to have shape (N, 3, 3)",
        lambda m: m.get_world_to_view_transform(torch.zeros(2, 3, 4), torch.zeros(2, 3)),
    ),
    (
        "camera_K_shape",
        ValueError,
        "Expected K to have shape of (1, 4, 4)",
        lambda m: m.FoVPerspectiveCameras().get_projection_transform(K=torch.rand(3, 4, 4)),
    ),
    (
        "camera_index_type",
        ValueError,
        "Invalid index type, expected int, List[int] or Bool/LongTensor",
        lambda m: m.FoVPerspectiveCameras()[0.5],
    ),
    # loss/chamfer.py
    (
        "chamfer_batch_reduction",
        ValueError,
        'batch_reduction must be one of ["mean", "sum"] or None',
        lambda m: m.chamfer_distance(_X, _X, batch_reduction="max"),
    ),
    (
        "chamfer_point_reduction",
        ValueError,
        'point_reduction must be one of ["mean", "sum", "max"] or None',
        lambda m: m.chamfer_distance(_X, _X, point_reduction="median"),
    ),
    (
        "chamfer_reductions_none",
        ValueError,
        "Batch reduction must be None if point_reduction is None",
        lambda m: m.chamfer_distance(_X, _X, point_reduction=None),
    ),
    (
        "chamfer_norm",
        ValueError,
        "Support for 1 or 2 norm",
        lambda m: m.chamfer_distance(_X, _X, norm=3),
    ),
    (
        "chamfer_y_batch",
        ValueError,
        "y does not have the correct shape",
        lambda m: m.chamfer_distance(_X, torch.rand(3, 5, 3)),
    ),
    (
        "chamfer_points_dims",
        ValueError,
        "Expected points to be of shape (N, P, D)",
        lambda m: m.chamfer_distance(torch.rand(5, 3), _X),
    ),
    (
        "chamfer_lengths_shape",
        ValueError,
        "Expected lengths to be of shape (N,)",
        lambda m: m.chamfer_distance(_X, _X, x_lengths=torch.tensor([5, 5, 5])),
    ),
    (
        "chamfer_wrong_type",
        ValueError,
        "The input pointclouds should be either Pointclouds objects or torch.Tensor",
        lambda m: m.chamfer_distance("x", _X),
    ),
    (
        "chamfer_weights_shape",
        ValueError,
        "weights must be of shape (N,)",
        lambda m: m.chamfer_distance(_X, _X, weights=torch.ones(3)),
    ),
    (
        "chamfer_weights_negative",
        ValueError,
        "weights cannot be negative",
        lambda m: m.chamfer_distance(_X, _X, weights=torch.tensor([1.0, -1.0])),
    ),
    (
        "chamfer_max_normals",
        ValueError,
        'Normals must be None if point_reduction is "max"',
        lambda m: m.chamfer_distance(_X, _X, x_normals=_X, point_reduction="max"),
    ),
    # ops/knn.py
    (
        "knn_batch",
        ValueError,
        "pts1 and pts2 must have the same batch dimension",
        lambda m: m.knn_points(_X, torch.rand(3, 5, 3)),
    ),
    (
        "knn_dim",
        ValueError,
        "pts1 and pts2 must have the same point dimension",
        lambda m: m.knn_points(_X, torch.rand(2, 5, 2)),
    ),
    ("knn_norm", ValueError, "Support for 1 or 2 norm", lambda m: m.knn_points(_X, _X, norm=3)),
    (
        "knn_gather_batch",
        ValueError,
        "x and idx must have same batch dimension",
        lambda m: m.knn_gather(_X, torch.zeros(3, 5, 1, dtype=_I64)),
    ),
    # loss/point_mesh_distance.py
    (
        "point_mesh_face_batch",
        ValueError,
        "meshes and pointclouds must be equal sized batches",
        lambda m: m.point_mesh_face_distance(
            _tet(m), m.Pointclouds(points=[torch.rand(5, 3), torch.rand(5, 3)])
        ),
    ),
    (
        "point_mesh_edge_batch",
        ValueError,
        "meshes and pointclouds must be equal sized batches",
        lambda m: m.point_mesh_edge_distance(
            _tet(m), m.Pointclouds(points=[torch.rand(5, 3), torch.rand(5, 3)])
        ),
    ),
    # ops/sample_points_from_meshes.py
    (
        "sample_empty",
        ValueError,
        "Meshes are empty",
        lambda m: m.sample_points_from_meshes(m.Meshes(verts=[], faces=[])),
    ),
    (
        "sample_nan",
        ValueError,
        "Meshes contain nan or inf",
        lambda m: m.sample_points_from_meshes(
            m.Meshes(
                verts=[torch.tensor([[float("nan"), 0, 0], [1, 0, 0], [0, 1, 0]])],
                faces=[torch.tensor([[0, 1, 2]])],
            )
        ),
    ),
    (
        "sample_no_textures",
        ValueError,
        "Meshes do not contain textures",
        lambda m: m.sample_points_from_meshes(_tet(m), return_textures=True),
    ),
]


def cases(lib: ModuleType) -> list[tuple[str, type[Exception], str, Callable[[], object]]]:
    """(id, exception type, PyTorch3D's phrase, call) for each case, bound to `lib`'s API."""
    api = _api(lib)
    return [(cid, exc, phrase, (lambda fn=fn: fn(api))) for cid, exc, phrase, fn in CASES]


def run(lib: ModuleType) -> list[tuple[str, str, str]]:
    """Run every case: (id, 'ok' | 'MISSING' | 'NO ERROR' | 'WRONG TYPE', message)."""
    out = []
    for cid, exc, phrase, call in cases(lib):
        try:
            call()
        except Exception as err:  # noqa: BLE001 - every outcome is reported
            status = "ok" if phrase in str(err) else "MISSING"
            if not isinstance(err, exc):
                status = "WRONG TYPE"
            out.append((cid, status, f"{type(err).__name__}: {err}"))
        else:
            out.append((cid, "NO ERROR", ""))
    return out


if __name__ == "__main__":
    import sys

    lib = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else "pytorch3d")
    for cid, status, msg in run(lib):
        print(f"{status:10s} {cid:32s} {msg[:160]!r}")
