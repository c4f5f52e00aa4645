"""models.EnvironmentMap: lookup convention, continuity across the seam, fitting, checks."""

from __future__ import annotations

import math

import pytest
import torch

from inverse3d.models.environment_map import EnvironmentMap


class TestEnvironmentMap:
    def test_shapes_and_init(self):
        env = EnvironmentMap(4, 8, init=0.25)
        out = env(torch.randn(2, 5, 3))
        assert out.shape == (2, 5, 3)
        assert torch.allclose(out, torch.full_like(out, 0.25), atol=1e-6)

    def test_convention(self):
        """+y reads the top row, -y the bottom row; +z longitude 0 the middle columns."""
        env = EnvironmentMap(4, 8)
        with torch.no_grad():
            env.logits.zero_()
            env.logits[0, 0] = 5.0  # top row red
            env.logits[2, -1] = 5.0  # bottom row blue
            env.logits[1, :, 4] = 5.0  # the column just right of longitude 0 green
        up, down = env(torch.tensor([0.0, 1.0, 0.0])), env(torch.tensor([0.0, -1.0, 0.0]))
        assert up[0] > 0.9 and up[2] < 0.6 and down[2] > 0.9 and down[0] < 0.6
        lon = 0.5 * (2 * math.pi / 8)  # centre of column 4: longitude +pi/8
        d = torch.tensor([math.sin(lon), 0.0, math.cos(lon)])
        assert env(d)[1] > 0.9 and env(-d)[1] < 0.6

    def test_continuous_across_the_seam(self):
        torch.manual_seed(0)
        env = EnvironmentMap(6, 12)
        with torch.no_grad():
            env.logits.normal_()
        eps = 1e-4
        a = env(torch.tensor([math.sin(math.pi - eps), 0.2, math.cos(math.pi - eps)]))
        b = env(torch.tensor([math.sin(-math.pi + eps), 0.2, math.cos(-math.pi + eps)]))
        assert torch.allclose(a, b, atol=1e-3)

    def test_fits_colours(self):
        """Gradients reach the texels: a two-colour sky (y > 0 blue, else brown) is learnt."""
        torch.manual_seed(0)
        env = EnvironmentMap(8, 16)
        opt = torch.optim.Adam(env.parameters(), lr=0.1)
        d = torch.nn.functional.normalize(torch.randn(2048, 3), dim=-1)
        target = torch.where(
            d[:, 1:2] > 0, torch.tensor([0.2, 0.4, 0.9]), torch.tensor([0.5, 0.3, 0.1])
        )
        first = ((env(d) - target) ** 2).mean().item()
        for _ in range(100):
            opt.zero_grad()
            loss = ((env(d) - target) ** 2).mean()
            loss.backward()
            opt.step()
        assert loss.item() < first / 20

    def test_exceptions(self):
        with pytest.raises(ValueError, match="init"):
            EnvironmentMap(init=1.0)
        with pytest.raises(ValueError, match="height"):
            EnvironmentMap(height=0)
        with pytest.raises(ValueError, match="directions must have shape"):
            EnvironmentMap()(torch.randn(4, 2))
