"""interpolate_face_attributes against a per-pixel loop, gradcheck and bad inputs."""

import pytest
import torch

from inverse3d.ops.interp_face_attrs import interpolate_face_attributes


def _random_inputs(N=2, H=3, W=4, K=2, F=5, D=3, dtype=torch.float32, empty_frac=0.3):
    p2f = torch.randint(0, F, (N, H, W, K))
    p2f[torch.rand(N, H, W, K) < empty_frac] = -1
    bary = torch.rand(N, H, W, K, 3, dtype=dtype)
    bary = bary / bary.sum(-1, keepdim=True)
    attrs = torch.randn(F, 3, D, dtype=dtype)
    return p2f, bary, attrs


def _loop_reference(p2f, bary, attrs):
    N, H, W, K = p2f.shape
    out = torch.zeros(N, H, W, K, attrs.shape[-1], dtype=attrs.dtype)
    for n in range(N):
        for y in range(H):
            for x in range(W):
                for k in range(K):
                    f = int(p2f[n, y, x, k])
                    if f < 0:
                        continue
                    for j in range(3):
                        out[n, y, x, k] += bary[n, y, x, k, j] * attrs[f, j]
    return out


class TestInterpolateFaceAttributes:
    def test_smoke(self):
        p2f, bary, attrs = _random_inputs()
        out = interpolate_face_attributes(p2f, bary, attrs)
        assert torch.isfinite(out).all()

    def test_shapes(self):
        p2f, bary, attrs = _random_inputs(N=1, H=2, W=5, K=3, D=7)
        assert interpolate_face_attributes(p2f, bary, attrs).shape == (1, 2, 5, 3, 7)

    def test_matches_reference(self):
        p2f, bary, attrs = _random_inputs(dtype=torch.float64)
        out = interpolate_face_attributes(p2f, bary, attrs)
        torch.testing.assert_close(out, _loop_reference(p2f, bary, attrs))
        # empty slots are exactly zero, covered slots are not (random attrs)
        assert (out[p2f < 0] == 0).all()
        assert (out[p2f >= 0].abs().sum(-1) > 0).all()

    def test_vertex_bary_returns_vertex_attribute(self):
        attrs = torch.randn(2, 3, 4)
        p2f = torch.tensor([1, 1, 1, 0]).reshape(1, 1, 4, 1)
        bary = torch.eye(3)[[0, 1, 2, 2]].reshape(1, 1, 4, 1, 3)
        out = interpolate_face_attributes(p2f, bary, attrs)[0, 0, :, 0]
        torch.testing.assert_close(
            out, torch.stack([attrs[1, 0], attrs[1, 1], attrs[1, 2], attrs[0, 2]])
        )

    def test_chunked_equals_unchunked(self, monkeypatch):
        import inverse3d.ops.interp_face_attrs as mod

        p2f, bary, attrs = _random_inputs(N=2, H=5, W=5, K=2)
        full = interpolate_face_attributes(p2f, bary, attrs)
        monkeypatch.setattr(mod, "_CHUNK_ELEMENTS", 20)  # chunks of 2 pixels
        torch.testing.assert_close(interpolate_face_attributes(p2f, bary, attrs), full)

    def test_gradcheck(self):
        p2f, bary, attrs = _random_inputs(N=1, H=2, W=2, K=2, F=3, D=2, dtype=torch.float64)
        bary.requires_grad_(True)
        attrs.requires_grad_(True)
        assert torch.autograd.gradcheck(
            lambda b, a: interpolate_face_attributes(p2f, b, a), (bary, attrs)
        )

    def test_exceptions(self):
        p2f, bary, attrs = _random_inputs()
        with pytest.raises(ValueError, match="face_attributes"):
            interpolate_face_attributes(p2f, bary, torch.randn(5, 4, 3))
        with pytest.raises(ValueError, match="face_attributes"):
            interpolate_face_attributes(p2f, bary, torch.randn(5, 3))
        with pytest.raises(ValueError, match="pix_to_face"):
            interpolate_face_attributes(p2f[:, :2], bary, attrs)
        with pytest.raises(ValueError, match="barycentric_coords"):
            interpolate_face_attributes(p2f, bary[..., :2], attrs)
        with pytest.raises(TypeError, match="pix_to_face"):
            interpolate_face_attributes(p2f.float(), bary, attrs)
        with pytest.raises(TypeError, match="barycentric_coords"):
            interpolate_face_attributes(p2f, bary.numpy(), attrs)
        with pytest.raises(ValueError, match="pix_to_face"):
            interpolate_face_attributes(p2f.clamp(min=0) + 5, bary, attrs)

    def test_empty_inputs(self):
        p2f = torch.full((1, 2, 2, 1), -1)
        bary = torch.zeros(1, 2, 2, 1, 3)
        out = interpolate_face_attributes(p2f, bary, torch.zeros(0, 3, 2))
        assert out.shape == (1, 2, 2, 1, 2) and (out == 0).all()
