"""TexturesVertex / TexturesAtlas / TexturesUV: batch views, joins, sampling conventions, grads."""

import math
from collections import namedtuple

import pytest
import torch

from inverse3d.renderer.mesh.textures import (
    Textures,
    TexturesAtlas,
    TexturesBase,
    TexturesUV,
    TexturesVertex,
)

Fragments = namedtuple("Fragments", ["pix_to_face", "zbuf", "bary_coords", "dists"])


def _frags(p2f, bary):
    return Fragments(p2f, torch.zeros(p2f.shape), bary, torch.zeros(p2f.shape))


def _random_frags(N, F_per_image, H=3, W=4, K=2, offsets=None, dtype=torch.float32):
    """pix_to_face picks faces of image n only (packed ids), ~25% empty."""
    offsets = offsets or [0] * N
    p2f = torch.stack([torch.randint(0, F_per_image[n], (H, W, K)) + offsets[n] for n in range(N)])
    p2f[torch.rand(p2f.shape) < 0.25] = -1
    bary = torch.rand(N, H, W, K, 3, dtype=dtype) + 0.05
    return _frags(p2f, bary / bary.sum(-1, keepdim=True))


def _quad_bary(u, v):
    """Faces / barycentrics of points (u, v) on the unit quad faces [[0,1,2],[0,2,3]] whose
    vertices are (0,0),(1,0),(1,1),(0,1) in both xy and uv."""
    in_a = u >= v
    face = torch.where(in_a, 0, 1)
    bary_a = torch.stack((1 - u, u - v, v), -1)
    bary_b = torch.stack((1 - v, u, v - u), -1)
    return face, torch.where(in_a[..., None], bary_a, bary_b)


QUAD_UVS = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
QUAD_FACES = torch.tensor([[0, 1, 2], [0, 2, 3]])


def _quad_tex(maps, **kw):
    dtype = maps.dtype
    return TexturesUV(maps, QUAD_FACES[None], QUAD_UVS[None].to(dtype), **kw)


def _sample_uv_points(tex, u, v):
    """Sample a quad TexturesUV (N=1) at uv points (P,) -> (P, C)."""
    face, bary = _quad_bary(u, v)
    P = u.shape[0]
    frags = _frags(face.reshape(1, 1, P, 1), bary.reshape(1, 1, P, 1, 3))
    return tex.sample_textures(frags)[0, 0, :, 0]


def _hetero_uv(C=3, shared=False):
    maps = [torch.rand(4, 5, C), torch.rand(6, 3, C), torch.rand(2, 2, C)]
    if shared:
        maps[2] = maps[0]
    nv, nf = [4, 6, 3], [3, 5, 2]
    verts = [torch.rand(n, 2) * 0.9 + 0.05 for n in nv]
    faces = [torch.randint(0, v, (f, 3)) for v, f in zip(nv, nf)]
    return maps, faces, verts


def _assert_uv_equal(a, b):
    assert a._N == b._N
    for x, y in zip(a.maps_list(), b.maps_list()):
        torch.testing.assert_close(x, y)
    for x, y in zip(a.faces_uvs_list(), b.faces_uvs_list()):
        torch.testing.assert_close(x, y)
    for x, y in zip(a.verts_uvs_list(), b.verts_uvs_list()):
        torch.testing.assert_close(x, y)
    torch.testing.assert_close(a.maps_padded(), b.maps_padded())
    frags = _random_frags(a._N, a._num_faces_per_mesh, offsets=_offsets(a._num_faces_per_mesh))
    torch.testing.assert_close(a.sample_textures(frags), b.sample_textures(frags))


def _offsets(counts):
    return [sum(counts[:i]) for i in range(len(counts))]


# --------------------------------------------------------------------------------- vertex
class TestTexturesVertex:
    def _feats(self):
        return [torch.rand(3, 4), torch.rand(5, 4), torch.rand(2, 4)]

    def test_smoke(self):
        tex = TexturesVertex(self._feats())
        assert isinstance(tex, TexturesBase) and tex._N == 3 and not tex.isempty()

    def test_shapes(self):
        tex = TexturesVertex(self._feats())
        assert tex.verts_features_padded().shape == (3, 5, 4)
        assert tex.verts_features_packed().shape == (10, 4)

    def test_list_padded_packed_agree(self):
        feats = self._feats()
        tex = TexturesVertex(feats)
        padded = tex.verts_features_padded()
        for i, f in enumerate(feats):
            torch.testing.assert_close(padded[i, : len(f)], f)
            assert (padded[i, len(f) :] == 0).all()
        torch.testing.assert_close(tex.verts_features_packed(), torch.cat(feats))
        # built from padded: the list follows the sizes Meshes sets
        tex2 = TexturesVertex(padded)
        tex2._num_verts_per_mesh = [3, 5, 2]
        for a, b in zip(tex2.verts_features_list(), feats):
            torch.testing.assert_close(a, b)
        torch.testing.assert_close(tex2.verts_features_packed(), torch.cat(feats))

    def test_matches_reference(self):
        feats = self._feats()
        tex = TexturesVertex(feats)
        faces = [torch.randint(0, len(f), (4, 3)) for f in feats]
        faces_packed = torch.cat([f + o for f, o in zip(faces, _offsets([3, 5, 2]))])
        frags = _random_frags(3, [4, 4, 4], offsets=[0, 4, 8])
        out = tex.sample_textures(frags, faces_packed=faces_packed)
        packed = torch.cat(feats)
        p2f, bary = frags.pix_to_face, frags.bary_coords
        ref = torch.zeros(out.shape)
        for idx in torch.nonzero(p2f >= 0).tolist():
            f = faces_packed[p2f[tuple(idx)]]
            b = bary[tuple(idx)]
            ref[tuple(idx)] = b[0] * packed[f[0]] + b[1] * packed[f[1]] + b[2] * packed[f[2]]
        torch.testing.assert_close(out, ref)
        torch.testing.assert_close(
            tex.faces_verts_textures_packed(faces_packed), packed[faces_packed]
        )

    def test_batch_ops_equal_pieces(self):
        feats = self._feats()
        tex = TexturesVertex(feats)
        other = TexturesVertex([torch.rand(4, 4)])
        cases = [
            (tex.join_batch([other]), feats + other.verts_features_list()),
            (tex.join_scene(), [torch.cat(feats)]),
            (tex.extend(2), [feats[0], feats[0], feats[1], feats[1], feats[2], feats[2]]),
            (tex[1], [feats[1]]),
            (tex[[2, 0]], [feats[2], feats[0]]),
            (tex[torch.tensor([True, False, True])], [feats[0], feats[2]]),
            (tex[1:], feats[1:]),
            (tex.clone(), feats),
            (tex.detach(), feats),
            (
                tex.submeshes(
                    [[torch.tensor([0, 2])], [], [torch.tensor([1]), torch.tensor([0])]], None
                ),
                [feats[0][[0, 2]], feats[2][[1]], feats[2][[0]]],
            ),
        ]
        for got, pieces in cases:
            ref = TexturesVertex(pieces)
            assert got._N == ref._N
            torch.testing.assert_close(got.verts_features_padded(), ref.verts_features_padded())
            for a, b in zip(got.verts_features_list(), pieces):
                torch.testing.assert_close(a, b)
        assert tex[[]]._N == 0 and tex[[]].isempty()

    def test_clone_detach_to(self):
        f = torch.rand(2, 3, 3, requires_grad=True)
        tex = TexturesVertex(f)
        c = tex.clone()
        assert c.verts_features_padded().data_ptr() != f.data_ptr()
        assert c.verts_features_padded().requires_grad
        assert not tex.detach().verts_features_padded().requires_grad
        moved = tex.to("cpu")
        assert moved is tex and tex.device == torch.device("cpu")

    def test_check_shapes(self):
        tex = TexturesVertex(self._feats())
        assert tex.check_shapes(3, 5, 99) and not tex.check_shapes(3, 6, 99)

    def test_gradcheck(self):
        feats = torch.rand(1, 4, 2, dtype=torch.float64, requires_grad=True)
        faces = torch.tensor([[0, 1, 2], [1, 2, 3]])
        frags = _random_frags(1, [2], H=2, W=2, K=1, dtype=torch.float64)
        bary = frags.bary_coords.clone().requires_grad_(True)

        def fn(f, b):
            fr = _frags(frags.pix_to_face, b)
            return TexturesVertex(f).sample_textures(fr, faces_packed=faces)

        assert torch.autograd.gradcheck(fn, (feats, bary))

    def test_exceptions(self):
        with pytest.raises(ValueError, match="verts_features"):
            TexturesVertex(torch.rand(3, 4))
        with pytest.raises(ValueError, match=r"verts_features\[1\]"):
            TexturesVertex([torch.rand(3, 4), torch.rand(3, 2)])
        with pytest.raises(TypeError, match="verts_features"):
            TexturesVertex("red")
        with pytest.raises(TypeError, match="verts_features"):
            TexturesVertex(torch.ones(1, 3, 3, dtype=torch.int64))
        tex = TexturesVertex(self._feats())
        frags = _random_frags(3, [1, 1, 1])
        with pytest.raises(ValueError, match="faces_packed"):
            tex.sample_textures(frags)
        with pytest.raises(ValueError, match="faces_packed"):
            tex.sample_textures(frags, faces_packed=torch.tensor([[0, 1, 10]]))
        with pytest.raises(ValueError, match="N"):
            tex.extend(0)
        with pytest.raises(TypeError, match="N"):
            tex.extend(1.5)
        with pytest.raises(ValueError, match="TexturesVertex"):
            tex.join_batch([TexturesAtlas(torch.rand(1, 2, 2, 2, 3))])
        with pytest.raises(IndexError):
            tex[5]
        with pytest.raises(TypeError, match="fragments"):
            tex.sample_textures(object(), faces_packed=torch.tensor([[0, 1, 2]]))


# --------------------------------------------------------------------------------- atlas
def _atlas_loop(atlas_packed, p2f, bary):
    R = atlas_packed.shape[1]
    out = torch.zeros(*p2f.shape, atlas_packed.shape[-1])
    for idx in torch.nonzero(p2f >= 0).tolist():
        f = int(p2f[tuple(idx)])
        b0, b1 = (float(x) for x in bary[tuple(idx)][:2])
        col, row = min(math.floor(b0 * R), R - 1), min(math.floor(b1 * R), R - 1)
        if (b0 + b1) * R - row - col > 1:  # upper triangle of the cell: mirrored cell
            col, row = R - 1 - col, R - 1 - row
        out[tuple(idx)] = atlas_packed[f, row, col]
    return out


class TestTexturesAtlas:
    def _atlas(self):
        return [torch.rand(2, 3, 3, 4), torch.rand(4, 3, 3, 4), torch.rand(1, 3, 3, 4)]

    def test_smoke(self):
        assert TexturesAtlas(self._atlas())._N == 3

    def test_shapes(self):
        tex = TexturesAtlas(self._atlas())
        assert tex.atlas_padded().shape == (3, 4, 3, 3, 4)
        assert tex.atlas_packed().shape == (7, 3, 3, 4)
        assert tex.faces_verts_textures_packed().shape == (7, 3, 4)

    def test_list_padded_packed_agree(self):
        atlas = self._atlas()
        tex = TexturesAtlas(atlas)
        tex2 = TexturesAtlas(tex.atlas_padded())
        tex2._num_faces_per_mesh = [2, 4, 1]
        for a, b in zip(tex2.atlas_list(), atlas):
            torch.testing.assert_close(a, b)
        torch.testing.assert_close(tex.atlas_packed(), torch.cat(atlas))
        torch.testing.assert_close(tex2.atlas_packed(), torch.cat(atlas))

    def test_matches_reference(self):
        atlas = self._atlas()
        tex = TexturesAtlas(atlas)
        frags = _random_frags(3, [2, 4, 1], H=4, W=5, K=2, offsets=[0, 2, 6])
        out = tex.sample_textures(frags)
        torch.testing.assert_close(
            out, _atlas_loop(torch.cat(atlas), frags.pix_to_face, frags.bary_coords)
        )
        # the texels sampled at the three vertices are faces_verts_textures_packed
        F = 7
        p2f = torch.arange(F).repeat_interleave(3).reshape(1, 1, 3 * F, 1)
        bary = torch.eye(3).repeat(F, 1).reshape(1, 1, 3 * F, 1, 3)
        at_verts = TexturesAtlas([torch.cat(atlas)]).sample_textures(_frags(p2f, bary))
        torch.testing.assert_close(at_verts.reshape(F, 3, 4), tex.faces_verts_textures_packed())

    def test_gradient_flows_to_atlas(self):
        atlas = torch.rand(1, 2, 2, 2, 3, requires_grad=True)
        frags = _random_frags(1, [2])
        TexturesAtlas(atlas).sample_textures(frags).sum().backward()
        assert atlas.grad.abs().sum() > 0

    def test_batch_ops_equal_pieces(self):
        atlas = self._atlas()
        tex = TexturesAtlas(atlas)
        other = TexturesAtlas([torch.rand(3, 3, 3, 4)])
        cases = [
            (tex.join_batch([other]), atlas + other.atlas_list()),
            (tex.join_scene(), [torch.cat(atlas)]),
            (tex.extend(2), [atlas[0], atlas[0], atlas[1], atlas[1], atlas[2], atlas[2]]),
            (tex[2], [atlas[2]]),
            (tex[[1, 0]], [atlas[1], atlas[0]]),
            (tex.clone(), atlas),
            (
                tex.submeshes(None, [[torch.tensor([1])], [torch.tensor([0, 3])], []]),
                [atlas[0][[1]], atlas[1][[0, 3]]],
            ),
        ]
        for got, pieces in cases:
            ref = TexturesAtlas(pieces)
            torch.testing.assert_close(got.atlas_padded(), ref.atlas_padded())
            torch.testing.assert_close(got.atlas_packed(), ref.atlas_packed())

    def test_exceptions(self):
        with pytest.raises(ValueError, match=r"atlas\[1\]"):
            TexturesAtlas([torch.rand(2, 3, 3, 4), torch.rand(2, 2, 2, 4)])
        with pytest.raises(ValueError, match="atlas"):
            TexturesAtlas([torch.rand(2, 3, 4, 4)])
        with pytest.raises(ValueError, match="atlas"):
            TexturesAtlas(torch.rand(2, 3, 3, 4))
        with pytest.raises(ValueError, match="TexturesAtlas"):
            TexturesAtlas(self._atlas()).join_batch([TexturesVertex([torch.rand(2, 3)])])


# --------------------------------------------------------------------------------- UV
class TestTexturesUV:
    def test_smoke(self):
        tex = TexturesUV(*_hetero_uv())
        assert tex._N == 3 and not tex.is_multi_map()

    def test_shapes(self):
        tex = TexturesUV(*_hetero_uv())
        assert tex.maps_padded().shape == (3, 6, 5, 3)
        assert tex.faces_uvs_padded().shape == (3, 5, 3)
        assert tex.verts_uvs_padded().shape == (3, 6, 2)
        frags = _random_frags(3, [3, 5, 2], H=2, W=3, K=4, offsets=[0, 3, 8])
        assert tex.sample_textures(frags).shape == (3, 2, 3, 4, 3)
        assert tex.faces_verts_textures_packed().shape == (10, 3, 3)

    def test_list_padded_agree(self):
        maps, faces, verts = _hetero_uv()
        maps = [torch.rand(4, 5, 3) for _ in range(3)]
        tex = TexturesUV(maps, faces, verts)
        padded = TexturesUV(tex.maps_padded(), tex.faces_uvs_padded(), tex.verts_uvs_padded())
        padded._num_faces_per_mesh = [3, 5, 2]
        for a, b in zip(padded.faces_uvs_list(), faces):
            torch.testing.assert_close(a, b)
        torch.testing.assert_close(padded.faces_verts_uvs_packed(), tex.faces_verts_uvs_packed())
        torch.testing.assert_close(
            padded.faces_verts_textures_packed(), tex.faces_verts_textures_packed()
        )
        frags = _random_frags(3, [3, 5, 2], offsets=[0, 3, 8])
        torch.testing.assert_close(padded.sample_textures(frags), tex.sample_textures(frags))

    @pytest.mark.parametrize("align_corners", [True, False])
    def test_quad_reproduces_image_psnr(self, align_corners):
        H, W = 12, 17
        image = torch.rand(1, H, W, 3)
        tex = _quad_tex(image, align_corners=align_corners)
        i, j = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
        if align_corners:  # texel centres at uv = (j / (W - 1), 1 - i / (H - 1))
            u, v = j / (W - 1), 1 - i / (H - 1)
        else:
            u, v = (j + 0.5) / W, 1 - (i + 0.5) / H
        face, bary = _quad_bary(u.float(), v.float())
        out = tex.sample_textures(_frags(face[None, ..., None], bary[None, :, :, None]))
        mse = ((out[0, :, :, 0] - image[0]) ** 2).mean()
        psnr = 10 * torch.log10(1.0 / mse)
        assert psnr > 40, float(psnr)

    def test_nearest_vs_bilinear(self):
        H, W = 5, 6
        image = torch.rand(1, H, W, 2, dtype=torch.float64)
        u = torch.rand(40, dtype=torch.float64) * 0.7 + 0.15
        v = torch.rand(40, dtype=torch.float64) * 0.7 + 0.15
        x, y = u * W - 0.5, (1 - v) * H - 0.5  # align_corners=False texel coordinates
        x0, y0 = x.floor().long(), y.floor().long()
        wx, wy = (x - x0)[:, None], (y - y0)[:, None]
        im = image[0]
        bil = (
            im[y0, x0] * (1 - wx) * (1 - wy)
            + im[y0, x0 + 1] * wx * (1 - wy)
            + im[y0 + 1, x0] * (1 - wx) * wy
            + im[y0 + 1, x0 + 1] * wx * wy
        )
        near = im[y.round().long(), x.round().long()]
        got_bil = _sample_uv_points(_quad_tex(image, align_corners=False), u, v)
        got_near = _sample_uv_points(
            _quad_tex(image, align_corners=False, sampling_mode="nearest"), u, v
        )
        torch.testing.assert_close(got_bil, bil)
        torch.testing.assert_close(got_near, near)
        assert not torch.allclose(got_bil, got_near)

    def test_convention_align_corners_hand_computed(self):
        image = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=torch.float64)[
            None, ..., None
        ]
        u, v = torch.tensor([0.25], dtype=torch.float64), torch.tensor([0.75], dtype=torch.float64)
        # True: x = 0.25 * 2 = 0.5, y = 0.25 * 1: rows 1.5 and 4.5 -> 1.5 * 0.75 + 4.5 * 0.25
        got = _sample_uv_points(_quad_tex(image, align_corners=True), u, v)
        torch.testing.assert_close(got, torch.tensor([[2.25]], dtype=torch.float64))
        # False: x = 0.25 * 3 - 0.5 = 0.25, y = 0.25 * 2 - 0.5 = 0: row 0 at 0.25 -> 1.25
        got = _sample_uv_points(_quad_tex(image, align_corners=False), u, v)
        torch.testing.assert_close(got, torch.tensor([[1.25]], dtype=torch.float64))

    def test_convention_pytorch3d_docstring_example(self):
        # maps of shape (1001, 101), uv (0.4, 0.3), align_corners=True -> maps[700, 40]
        image = torch.rand(1, 1001, 101, 1, dtype=torch.float64)
        got = _sample_uv_points(
            _quad_tex(image),
            torch.tensor([0.4], dtype=torch.float64),
            torch.tensor([0.3], dtype=torch.float64),
        )
        torch.testing.assert_close(got[0], image[0, 700, 40])

    def test_centers_for_image(self):
        # the PyTorch3D docstring examples: uv (0.4, 0.3) on (1001, 101) with align_corners,
        # uv (0.405, 0.2995) on (1000, 100) without, both hit row 700, column 40
        for shape, uv, align in (
            ((1001, 101), (0.4, 0.3), True),
            ((1000, 100), (0.405, 0.2995), False),
        ):
            tex = TexturesUV(
                torch.zeros(1, *shape, 3),
                QUAD_FACES[None],
                torch.tensor([[uv, uv, uv, uv]]),
                align_corners=align,
            )
            torch.testing.assert_close(tex.centers_for_image(0), torch.tensor([[40.0, 700.0]] * 4))
        with pytest.raises(ValueError, match="one mesh"):
            TexturesUV(*_hetero_uv()).centers_for_image(0)

    def test_device_follows_inputs(self, device):
        maps, faces, verts = _hetero_uv()
        tex = TexturesUV(maps, faces, verts)
        frags = _random_frags(3, [3, 5, 2], offsets=[0, 3, 8])
        ref = tex.sample_textures(frags)
        moved = tex.clone().to(device)
        assert moved.maps_padded().device.type == device.type
        on_dev = _frags(frags.pix_to_face.to(device), frags.bary_coords.to(device))
        out = moved.sample_textures(on_dev)
        assert out.device.type == device.type
        torch.testing.assert_close(out.cpu(), ref)
        vtex = TexturesVertex([torch.rand(4, 3, device=device), torch.rand(4, 3, device=device)])
        out = vtex.sample_textures(
            _frags(on_dev.pix_to_face[:2].clamp(max=1), on_dev.bary_coords[:2]),
            faces_packed=torch.tensor([[0, 1, 2], [4, 5, 6]], device=device),
        )
        assert out.device.type == device.type
        atex = TexturesAtlas(torch.rand(2, 2, 3, 3, 3, device=device))
        assert (
            atex.sample_textures(
                _frags(on_dev.pix_to_face[:2].clamp(max=1), on_dev.bary_coords[:2])
            ).device.type
            == device.type
        )

    def test_padding_modes(self):
        H, W = 4, 5
        image = torch.rand(1, H, W, 3, dtype=torch.float64) + 0.5
        # align_corners=True: u = 1.2 -> x = 4.8; v = 1/3 -> y = 2 (row 2)
        u = torch.tensor([1.2], dtype=torch.float64)
        v = torch.tensor([1.0 / 3.0], dtype=torch.float64)
        row = image[0, 2]
        expect = {
            "border": row[4],
            "zeros": 0.2 * row[4],
            "reflection": 0.8 * row[3] + 0.2 * row[4],  # x reflected about 4: 3.2
        }
        for mode, ref in expect.items():
            got = _sample_uv_points(_quad_tex(image, padding_mode=mode), u, v)[0]
            torch.testing.assert_close(got, ref, msg=mode)

    def test_gradcheck(self):
        image = torch.rand(1, 3, 4, 2, dtype=torch.float64, requires_grad=True)
        u = torch.rand(3, 2, dtype=torch.float64) * 0.8 + 0.1
        v = torch.rand(3, 2, dtype=torch.float64) * 0.8 + 0.1
        face, bary = _quad_bary(u, v)
        p2f = face[None, ..., None]
        bary = bary[None, :, :, None].clone().requires_grad_(True)

        def fn(maps, b):
            return _quad_tex(maps).sample_textures(_frags(p2f, b))

        assert torch.autograd.gradcheck(fn, (image, bary))

    def test_gradient_reaches_verts_uvs(self):
        verts_uvs = (QUAD_UVS * 0.5 + 0.2)[None].clone().requires_grad_(True)
        tex = TexturesUV(torch.rand(1, 4, 4, 3), QUAD_FACES[None], verts_uvs)
        frags = _random_frags(1, [2])
        tex.sample_textures(frags).sum().backward()
        assert verts_uvs.grad.abs().sum() > 0

    def test_batch_ops_equal_pieces(self):
        maps, faces, verts = _hetero_uv()
        tex = TexturesUV(maps, faces, verts)
        m2, f2, v2 = _hetero_uv()
        other = TexturesUV(m2[:1], f2[:1], v2[:1])
        rep = [0, 0, 1, 1, 2, 2]
        cases = [
            (tex.join_batch([other]), (maps + m2[:1], faces + f2[:1], verts + v2[:1])),
            (
                tex.extend(2),
                ([maps[i] for i in rep], [faces[i] for i in rep], [verts[i] for i in rep]),
            ),
            (tex[1], ([maps[1]], [faces[1]], [verts[1]])),
            (tex[[2, 0]], ([maps[2], maps[0]], [faces[2], faces[0]], [verts[2], verts[0]])),
            (tex[torch.tensor([False, True, True])], (maps[1:], faces[1:], verts[1:])),
            (tex.clone(), (maps, faces, verts)),
            (tex.detach(), (maps, faces, verts)),
            (
                tex.submeshes(None, [[torch.tensor([0, 2])], [], [torch.tensor([1])]]),
                ([maps[0], maps[2]], [faces[0][[0, 2]], faces[2][[1]]], [verts[0], verts[2]]),
            ),
        ]
        for got, pieces in cases:
            _assert_uv_equal(got, TexturesUV(*pieces))

    @pytest.mark.parametrize("align_corners", [True, False])
    @pytest.mark.parametrize("padding_mode", ["border", "zeros"])
    @pytest.mark.parametrize("sampling_mode", ["bilinear", "nearest"])
    def test_join_scene_matches_per_mesh(self, align_corners, padding_mode, sampling_mode):
        maps, faces, verts = _hetero_uv(C=2, shared=True)
        kw = dict(
            align_corners=align_corners, padding_mode=padding_mode, sampling_mode=sampling_mode
        )
        tex = TexturesUV(maps, faces, verts, **kw)
        scene = tex.join_scene()
        assert scene._N == 1 and scene.maps_padded().ndim == 4
        # the shared map is stored once: the packed image is smaller than all three side by side
        b = 0 if align_corners else 1
        area = sum((m.shape[0] + 2 * b) * (m.shape[1] + 2 * b) for m in maps)
        assert scene.maps_padded()[0].shape[0] * scene.maps_padded()[0].shape[1] < area
        nf = [3, 5, 2]
        offs = _offsets(nf)
        for i in range(3):
            frags = _random_frags(1, [nf[i]], H=4, W=4, K=2)
            alone = tex[i].sample_textures(frags)
            p2f = torch.where(frags.pix_to_face >= 0, frags.pix_to_face + offs[i], -1)
            joined = scene.sample_textures(_frags(p2f, frags.bary_coords))
            mask = frags.pix_to_face >= 0
            torch.testing.assert_close(joined[mask], alone[mask], atol=1e-5, rtol=1e-5)

    def test_maps_ids_selects_map_per_face(self):
        M, H, W = 3, 4, 5
        maps = torch.rand(2, M, H, W, 3)
        faces = [torch.randint(0, 4, (6, 3)), torch.randint(0, 4, (6, 3))]
        verts = [torch.rand(4, 2), torch.rand(4, 2)]
        ids = torch.randint(0, M, (2, 6))
        tex = TexturesUV(maps, faces, verts, maps_ids=ids)
        assert tex.is_multi_map() and tex.maps_padded().shape == (2, M, H, W, 3)
        frags = _random_frags(2, [6, 6], H=3, W=3, K=2, offsets=[0, 6])
        out = tex.sample_textures(frags)
        for m in range(M):
            single = TexturesUV(maps[:, m], faces, verts).sample_textures(frags)
            p2f = frags.pix_to_face
            sel = (p2f >= 0) & (ids.reshape(-1)[p2f.clamp(min=0)] == m)
            assert sel.any()
            torch.testing.assert_close(out[sel], single[sel])
        # list form with a different number of maps per mesh agrees with the padded form
        lst = TexturesUV(
            [maps[0], maps[1, :2]], faces, verts, maps_ids=[ids[0], ids[1].clamp(max=1)]
        )
        pad = TexturesUV(maps, faces, verts, maps_ids=torch.stack([ids[0], ids[1].clamp(max=1)]))
        torch.testing.assert_close(lst.sample_textures(frags), pad.sample_textures(frags))
        # vertex textures agree with sampling at the vertex barycentrics
        fv = tex.faces_verts_textures_packed()
        p2f = torch.arange(12).repeat_interleave(3).reshape(2, 1, 18, 1)
        bary = torch.eye(3).repeat(12, 1).reshape(2, 1, 18, 1, 3)
        torch.testing.assert_close(tex.sample_textures(_frags(p2f, bary)).reshape(12, 3, 3), fv)
        # joins and indexing keep the per-face selection
        scene = tex.join_scene()
        assert scene.maps_padded().shape == (1, 2 * M, H, W, 3)
        p2f_s = frags.pix_to_face.clone()
        p2f_s[1] = torch.where(p2f_s[1] >= 0, p2f_s[1], -1)
        joined = scene.sample_textures(
            _frags(p2f_s.reshape(1, 6, 3, 2), frags.bary_coords.reshape(1, 6, 3, 2, 3))
        )
        mask = p2f_s.reshape(1, 6, 3, 2) >= 0
        torch.testing.assert_close(joined[mask], out.reshape(1, 6, 3, 2, 3)[mask])
        _assert_uv_equal(
            tex.join_batch([tex[1]]),
            TexturesUV(
                [maps[0], maps[1], maps[1]],
                faces + faces[1:],
                verts + verts[1:],
                maps_ids=[ids[0], ids[1], ids[1]],
            ),
        )

    def test_vertex_textures_match_sampling(self):
        maps, faces, verts = _hetero_uv()
        maps = [torch.rand(4, 5, 3) for _ in maps]  # one size: no resizing in the batch
        tex = TexturesUV(maps, faces, verts)
        nf = [3, 5, 2]
        fv = tex.faces_verts_textures_packed()
        for i, o in enumerate(_offsets(nf)):
            p2f = torch.arange(nf[i]).repeat_interleave(3).reshape(1, 1, 3 * nf[i], 1)
            bary = torch.eye(3).repeat(nf[i], 1).reshape(1, 1, 3 * nf[i], 1, 3)
            got = tex[i].sample_textures(_frags(p2f, bary)).reshape(nf[i], 3, 3)
            torch.testing.assert_close(fv[o : o + nf[i]], got)

    def test_meshes_integration(self):
        meshes_mod = pytest.importorskip("inverse3d.structures.meshes")
        verts = [torch.rand(4, 3), torch.rand(4, 3)]
        faces = [QUAD_FACES, QUAD_FACES[:1]]
        tex = TexturesUV(
            [torch.rand(3, 3, 3)] * 2, [QUAD_FACES, QUAD_FACES[:1]], [QUAD_UVS, QUAD_UVS]
        )
        meshes = meshes_mod.Meshes(verts, faces, textures=tex)
        frags = _random_frags(2, [2, 1], offsets=[0, 2])
        out = meshes.sample_textures(frags)
        torch.testing.assert_close(out, tex.sample_textures(frags))
        vtex = TexturesVertex([torch.rand(4, 3), torch.rand(4, 3)])
        m2 = meshes_mod.Meshes(verts, faces, textures=vtex)
        ref = vtex.sample_textures(frags, faces_packed=m2.faces_packed())
        torch.testing.assert_close(m2.sample_textures(frags), ref)
        assert m2[1].textures._N == 1 and m2.extend(2).textures._N == 4
        sub = m2.submeshes([[torch.tensor([1])], [torch.tensor([0])]])
        for i in range(2):  # each kept vertex keeps its feature
            idx = [int((verts[i] == p).all(-1).nonzero()) for p in sub.verts_list()[i]]
            torch.testing.assert_close(
                sub.textures.verts_features_list()[i], vtex.verts_features_list()[i][idx]
            )
        # joins through Meshes: the scene samples like the batch at offset face ids
        scene = meshes_mod.join_meshes_as_scene(meshes)
        p2f = frags.pix_to_face.reshape(1, 6, 4, 2)
        bary = frags.bary_coords.reshape(1, 6, 4, 2, 3)
        mask = p2f >= 0
        got = scene.sample_textures(_frags(p2f, bary))
        torch.testing.assert_close(got[mask], out.reshape(1, 6, 4, 2, 3)[mask])
        batch = meshes_mod.join_meshes_as_batch([meshes[1], meshes[0]])
        assert isinstance(batch.textures, TexturesUV) and batch.textures._num_faces_per_mesh == [
            1,
            2,
        ]

    def test_exceptions(self):
        maps, faces, verts = _hetero_uv()
        with pytest.raises(ValueError, match="faces_uvs"):  # index past verts_uvs
            TexturesUV(maps, [faces[0], faces[1] + 10, faces[2]], verts)
        with pytest.raises(ValueError, match="faces_uvs"):
            TexturesUV(torch.rand(1, 4, 4, 3), torch.tensor([[[0, 1, 4]]]), torch.rand(1, 4, 2))
        with pytest.raises(ValueError, match="faces_uvs"):
            TexturesUV(maps, [faces[0], faces[1] - 5, faces[2]], verts)
        with pytest.raises(ValueError, match="faces_uvs"):
            TexturesUV(maps, [f[:, :2] for f in faces], verts)
        with pytest.raises(TypeError, match="faces_uvs"):
            TexturesUV(maps, [f.float() for f in faces], verts)
        with pytest.raises(ValueError, match="verts_uvs"):
            TexturesUV(maps, faces, [torch.rand(6, 3)] * 3)
        with pytest.raises(ValueError, match="verts_uvs"):  # batch size mismatch
            TexturesUV(maps, faces, verts[:2])
        with pytest.raises(ValueError, match="maps"):
            TexturesUV(maps[:2], faces, verts)
        with pytest.raises(ValueError, match="maps"):
            TexturesUV(torch.rand(3, 4, 4), faces, verts)
        with pytest.raises(ValueError, match=r"maps\[1\]"):
            TexturesUV([maps[0], torch.rand(4, 4, 2), maps[2]], faces, verts)
        with pytest.raises(ValueError, match="padding_mode"):
            TexturesUV(maps, faces, verts, padding_mode="wrap")
        with pytest.raises(ValueError, match="sampling_mode"):
            TexturesUV(maps, faces, verts, sampling_mode="linear")
        with pytest.raises(TypeError, match="align_corners"):
            TexturesUV(maps, faces, verts, align_corners="yes")
        stacked = [torch.rand(2, 4, 4, 3)] * 3
        with pytest.raises(ValueError, match="maps_ids"):  # map index out of range
            TexturesUV(stacked, faces, verts, maps_ids=[torch.full((len(f),), 2) for f in faces])
        with pytest.raises(ValueError, match="maps_ids"):  # one id per face
            TexturesUV(stacked, faces, verts, maps_ids=[torch.zeros(1, dtype=torch.int64)] * 3)
        with pytest.raises(ValueError, match="maps"):  # maps_ids needs (M, H, W, C) maps
            TexturesUV(
                maps, faces, verts, maps_ids=[torch.zeros(len(f), dtype=torch.int64) for f in faces]
            )
        tex = TexturesUV(maps, faces, verts)
        with pytest.raises(ValueError, match="pix_to_face"):
            tex.sample_textures(_random_frags(2, [1, 1]))
        with pytest.raises(ValueError, match="align_corners"):
            tex.join_batch([TexturesUV(maps, faces, verts, align_corners=False)])
        with pytest.raises(ValueError, match="TexturesUV"):
            tex.join_batch([TexturesVertex([torch.rand(2, 3)])])


class TestTexturesDeprecated:
    def test_returns_subclass(self):
        with pytest.warns(PendingDeprecationWarning):
            t = Textures(
                maps=torch.rand(1, 4, 4, 3), faces_uvs=QUAD_FACES[None], verts_uvs=QUAD_UVS[None]
            )
        assert isinstance(t, TexturesUV)
        with pytest.warns(PendingDeprecationWarning):
            t = Textures(verts_rgb=torch.rand(1, 4, 3))
        assert isinstance(t, TexturesVertex)

    def test_exceptions(self):
        with pytest.warns(PendingDeprecationWarning), pytest.raises(ValueError, match="verts_rgb"):
            Textures(maps=torch.rand(1, 4, 4, 3))
