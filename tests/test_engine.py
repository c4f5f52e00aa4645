import math

import pytest
import torch

from inverse3d.engine import (
    NonFiniteLossError,
    checkpoint_path,
    peak_memory_mb,
    run_loop,
    seed_everything,
)


def _problem(seed=0):
    seed_everything(seed)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(7))  # same data in every run
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3

    def step(i):
        opt.zero_grad()
        noise = 0.01 * torch.randn(64, 1)  # uses the RNG, so resume must restore it
        loss = ((model(x) - y - noise) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    return model, opt, step


def _train(out_dir, n_steps, seed=0, **kwargs):
    """Run a fresh _problem(seed) for n_steps through run_loop with its checkpoint in out_dir;
    return the model and run_loop's result."""
    model, opt, step = _problem(seed)
    res = run_loop(step, n_steps, out_dir, {"m": model, "o": opt}, progress=False, **kwargs)
    return model, res


class TestRunLoop:
    def test_converges_and_logs(self, tmp_path):
        _, res = _train(tmp_path, 200, checkpoint_every=50)
        assert res.steps == 200 and len(res.series()) == 200
        assert res.series()[-1] < 0.01 * res.series()[0]
        assert checkpoint_path(tmp_path).is_file()

    def test_resume_matches_uninterrupted(self, tmp_path):
        model_a, _ = _train(tmp_path / "a", 60, checkpoint_every=20)
        # interrupted run: stops after 40 steps (as if killed after its checkpoint at step 40)
        _train(tmp_path / "b", 40, checkpoint_every=20)
        # a fresh process: new objects with different weights, then resume
        model_c, res = _train(tmp_path / "b", 60, seed=123, resume=True)
        assert res.resumed_from == 40 and res.steps == 60
        for pa, pc in zip(model_a.parameters(), model_c.parameters()):
            torch.testing.assert_close(pa, pc)

    def test_non_finite_stops_and_keeps_checkpoint(self, tmp_path):
        model, opt, step = _problem()

        def bad_step(i):
            loss = step(i)
            return loss * (math.nan if i == 25 else 1.0)

        with pytest.raises(
            NonFiniteLossError, match=r"at step 25; last good checkpoint kept: .* \(step 20\)"
        ) as e:
            run_loop(
                bad_step,
                100,
                tmp_path,
                {"model": model, "opt": opt},
                checkpoint_every=10,
                progress=False,
            )
        assert e.value.step == 25 and e.value.checkpoint_step == 20
        saved = torch.load(checkpoint_path(tmp_path), weights_only=False)
        assert saved["step"] == 20 and len(saved["history"]) == 20

    def test_exceptions(self, tmp_path):
        with pytest.raises(ValueError, match="n_steps"):
            run_loop(lambda i: 0.0, -1)
        with pytest.raises(ValueError, match="checkpoint_every"):
            run_loop(lambda i: 0.0, 3, checkpoint_every=0)
        with pytest.raises(ValueError, match="'loss' key"):
            run_loop(lambda i: {"l": 1.0}, 3, progress=False)


def test_peak_memory_positive():
    assert peak_memory_mb() > 1.0
