import math
import os
import random
import zipfile

import numpy as np
import pytest
import torch

from inverse3d.common.errors import InputError, NonFiniteError
from inverse3d.engine import (
    CheckpointError,
    DivergedError,
    Loop,
    NonFiniteLossError,
    checkpoint_path,
    diverged,
    load_checkpoint,
    peak_memory_mb,
    run_loop,
    save_checkpoint,
    seed_everything,
)
from inverse3d.renderer.implicit.raymarching import (
    AbsorptionOnlyRaymarcher,
    EmissionAbsorptionRaymarcher,
)


def _problem(seed=0, lr=0.05):
    seed_everything(seed)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(7))  # same data in every run
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3

    def step(i):
        opt.zero_grad()
        noise = 0.01 * torch.randn(64, 1)  # uses the RNG, so resume must restore it
        noise = noise + 0.001 * float(np.random.randn()) + 0.001 * random.random()
        loss = ((model(x) - y - noise) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    return model, opt, step


def _train(out_dir, n_steps, seed=0, **kwargs):
    """Run a fresh _problem(seed) for n_steps through run_loop with its checkpoint in out_dir;
    return the model, its optimizer and run_loop's result."""
    model, opt, step = _problem(seed)
    res = run_loop(step, n_steps, out_dir, {"m": model, "o": opt}, progress=False, **kwargs)
    return model, opt, res


def _assert_same(a, b, where="state"):
    """Exact (bitwise for tensors) equality of two nested state_dict-like values."""
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if torch.is_tensor(a):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for k in a:
            _assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


class TestRunLoop:
    def test_converges_and_logs(self, tmp_path):
        _, _, res = _train(tmp_path, 200, checkpoint_every=50)
        assert res.steps == 200 and len(res.series()) == 200
        assert res.series()[-1] < 0.01 * res.series()[0]
        assert checkpoint_path(tmp_path).is_file()

    def test_resume_matches_uninterrupted(self, tmp_path):
        model_a, opt_a, res_a = _train(tmp_path / "a", 60, checkpoint_every=20)
        # interrupted run: stops after 40 steps (as if killed after its checkpoint at step 40)
        _train(tmp_path / "b", 40, checkpoint_every=20)
        # a fresh process: new objects with different weights, then resume
        model_c, opt_c, res = _train(tmp_path / "b", 60, seed=123, resume=True)
        assert res.resumed_from == 40 and res.steps == 60
        # bitwise identical: weights, optimizer state, loss history and the RNGs' next draws
        _assert_same(model_a.state_dict(), model_c.state_dict())
        _assert_same(opt_a.state_dict(), opt_c.state_dict())
        assert res.history == res_a.history

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
        saved = torch.load(checkpoint_path(tmp_path), weights_only=True)
        assert saved["step"] == 20 and len(saved["history"]) == 20

    def test_exceptions(self, tmp_path):
        with pytest.raises(ValueError, match="n_steps"):
            run_loop(lambda i: 0.0, -1)
        with pytest.raises(ValueError, match="checkpoint_every"):
            run_loop(lambda i: 0.0, 3, checkpoint_every=0)
        with pytest.raises(ValueError, match="'loss' key"):
            run_loop(lambda i: {"l": 1.0}, 3, progress=False)
        for bad in (0, 1, -3, 2.5, True, "50"):
            with pytest.raises(ValueError, match="divergence_window"):
                run_loop(lambda i: 0.0, 3, progress=False, divergence_window=bad)


class TestNonFiniteInStep:
    """A NonFiniteError raised inside step_fn (e.g. NaN densities in the raymarcher) stops the
    run like a non-finite loss, naming the step and the last good checkpoint."""

    def test_raymarchers_raise_non_finite_error(self):
        dens = torch.rand(2, 6, 1)
        feats = torch.rand(2, 6, 3)
        for bad in (math.nan, math.inf, -math.inf):
            d = dens.clone()
            d[1, 2, 0] = bad
            with pytest.raises(NonFiniteError, match="rays_densities must be finite; got 1 "):
                EmissionAbsorptionRaymarcher()(d, feats)
            with pytest.raises(NonFiniteError, match="rays_densities must be finite"):
                AbsorptionOnlyRaymarcher()(d)
        assert issubclass(NonFiniteError, ValueError)  # callers catching ValueError still do
        EmissionAbsorptionRaymarcher()(dens, feats)  # finite densities pass

    def test_nan_densities_name_the_step(self, tmp_path):
        torch.manual_seed(0)
        logits = torch.zeros(4, 8, 1, requires_grad=True)
        opt = torch.optim.SGD([logits], lr=0.1)
        target = torch.full((4, 1), 0.7)

        def step(i):
            opt.zero_grad()
            dens = torch.sigmoid(logits)
            if i == 13:  # the field blows up: NaN densities reach the raymarcher
                dens = dens * torch.tensor(math.nan)
            loss = ((AbsorptionOnlyRaymarcher()(dens) - target) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        with pytest.raises(NonFiniteLossError) as e:
            run_loop(step, 30, tmp_path, {"opt": opt}, checkpoint_every=5, progress=False)
        err = e.value
        assert err.step == 13 and err.checkpoint_step == 10 and math.isnan(err.value)
        assert isinstance(err.__cause__, NonFiniteError)
        msg = str(err)
        assert "rays_densities must be finite" in msg and "at step 13" in msg
        assert f"last good checkpoint kept: {checkpoint_path(tmp_path)} (step 10)" in msg
        assert torch.load(checkpoint_path(tmp_path), weights_only=True)["step"] == 10

    def test_other_value_errors_propagate(self):
        def step(i):
            raise ValueError("verts must have shape (N, V, 3)")

        with pytest.raises(ValueError, match="verts must have shape") as e:
            run_loop(step, 3, progress=False)
        assert not isinstance(e.value, NonFiniteLossError)


class _Custom:
    """A small custom object whose state_dict holds tensors and plain values."""

    def __init__(self, seed):
        g = torch.Generator().manual_seed(seed)
        self.sd = {
            "t": torch.randn(3, 2, generator=g),
            "i64": torch.randint(0, 100, (4,), generator=g),
            "nested": {"lst": [1, 2.5, "x", None, True], "tup": (0.9, 0.999)},
            "f": float(seed) + 0.25,
            "i": seed,
            "s": f"name{seed}",
            "none": None,
            "inf": math.inf,
        }

    def state_dict(self):
        return self.sd

    def load_state_dict(self, sd):
        self.sd = sd


def _objects(seed):
    """Module (with buffers), Adam with two param groups, SGD, two schedulers, a custom object;
    stepped a little so that the optimizers and schedulers have non-trivial state."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 1))
    adam = torch.optim.Adam(
        [
            {"params": net[0].parameters(), "lr": 1e-3 * (seed + 1)},
            {"params": net[2].parameters(), "lr": 2e-3, "betas": (0.8, 0.9)},
        ],
        weight_decay=0.01,
    )
    extra = torch.nn.Parameter(torch.randn(5))
    sgd = torch.optim.SGD([extra], lr=0.1, momentum=0.9)
    step_lr = torch.optim.lr_scheduler.StepLR(adam, step_size=2, gamma=0.5)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(sgd, patience=1)
    for _ in range(seed + 2):
        adam.zero_grad()
        sgd.zero_grad()
        loss = net(torch.randn(8, 3)).pow(2).mean() + extra.pow(2).sum()
        loss.backward()
        adam.step()
        sgd.step()
        step_lr.step()
        plateau.step(float(loss.detach()))
    return {
        "net": net,
        "adam": adam,
        "sgd": sgd,
        "step_lr": step_lr,
        "plateau": plateau,
        "custom": _Custom(seed),
    }


class TestCheckpoint:
    def test_round_trip(self, tmp_path):
        src = _objects(3)
        history = [{"loss": 1.5, "rgb": 0.25}, {"loss": 1.0, "rgb": 0.125}]
        save_checkpoint(tmp_path, 2, src, history, extra={"grid": torch.arange(3), "note": "x"})
        dst = _objects(0)  # different weights, optimizer state and scheduler counters
        payload = load_checkpoint(tmp_path, dst)
        assert payload["step"] == 2 and payload["history"] == history
        _assert_same(payload["extra"], {"grid": torch.arange(3), "note": "x"})
        for key in src:
            _assert_same(src[key].state_dict(), dst[key].state_dict(), key)

    def test_loads_with_weights_only(self, tmp_path):
        path = save_checkpoint(tmp_path, 0, _objects(1), [])
        payload = torch.load(path, weights_only=True)  # independent of load_checkpoint
        assert payload["step"] == 0 and set(payload["state"]) == set(_objects(1))

    def test_restores_rng_states(self, tmp_path):
        seed_everything(5)
        torch.randn(3), np.random.randn(2), random.random()
        np.random.standard_normal()  # leaves a cached Gaussian in NumPy's state
        save_checkpoint(tmp_path, 0, {}, [])
        want = (torch.randn(4), np.random.randn(3), np.random.randint(1 << 30), random.random())
        seed_everything(99)
        load_checkpoint(tmp_path, {})
        got = (torch.randn(4), np.random.randn(3), np.random.randint(1 << 30), random.random())
        assert torch.equal(want[0], got[0]) and np.array_equal(want[1], got[1])
        assert want[2:] == got[2:]

    def test_refuses_pickled_callable_without_running_it(self, tmp_path):
        marker = tmp_path / "pwned"

        class Evil:
            def __reduce__(self):
                return (open, (str(marker), "w"))

        path = checkpoint_path(tmp_path)
        path.parent.mkdir()
        torch.save({"format": "inverse3d-checkpoint", "version": 2, "step": Evil()}, path)
        model, opt, step = _problem()
        with pytest.raises(CheckpointError, match="refused without running") as e:
            run_loop(step, 10, tmp_path, {"m": model, "o": opt}, resume=True, progress=False)
        assert str(path) in str(e.value) and "\n" not in str(e.value)
        with pytest.raises(CheckpointError):
            load_checkpoint(tmp_path, {})
        assert not marker.exists()
        # control: the file really does run code when unpickled without weights_only
        torch.load(path, weights_only=False)
        assert marker.exists()

    def _good(self, tmp_path):
        model, opt, step = _problem()
        run_loop(step, 4, tmp_path, {"m": model, "o": opt}, progress=False)
        return checkpoint_path(tmp_path).read_bytes()

    @pytest.mark.parametrize(
        "kind", ["empty", "truncated", "garbage", "zip", "foreign", "old_format", "bad_history"]
    )
    def test_bad_files_are_one_line_errors(self, tmp_path, kind):
        good = self._good(tmp_path)
        path = checkpoint_path(tmp_path)
        if kind == "empty":
            path.write_bytes(b"")
        elif kind == "truncated":
            path.write_bytes(good[: len(good) // 2])
        elif kind == "garbage":
            path.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 3000, np.uint8)))
        elif kind == "zip":
            with zipfile.ZipFile(path, "w") as z:
                z.writestr("data.txt", "hello")
        elif kind == "foreign":
            torch.save({"weights": torch.ones(3)}, path)
        elif kind == "old_format":  # the first format: NumPy arrays pickled in the RNG state
            torch.save({"step": 4, "state": {}, "history": [], "rng": np.random.get_state()}, path)
        elif kind == "bad_history":
            torch.save(
                {
                    "format": "inverse3d-checkpoint",
                    "version": 2,
                    "step": 4,
                    "state": {},
                    "history": [{"loss": "x"}],
                    "rng": {},
                    "extra": {},
                },
                path,
            )
        model, opt, _ = _problem()
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(tmp_path, {"m": model, "o": opt})
        msg = str(e.value)
        assert str(path) in msg and "\n" not in msg and len(msg) < 400, msg
        assert isinstance(e.value, InputError)

    def test_every_truncation_is_refused(self, tmp_path):
        good = self._good(tmp_path)
        path = checkpoint_path(tmp_path)
        for n in np.linspace(0, len(good) - 1, 25).astype(int):
            path.write_bytes(good[:n])
            with pytest.raises(CheckpointError, match=str(path)):
                load_checkpoint(tmp_path, {})

    def test_state_that_does_not_fit(self, tmp_path):
        self._good(tmp_path)
        with pytest.raises(CheckpointError, match=r"state 'm' does not fit this run: .*size"):
            load_checkpoint(tmp_path, {"m": torch.nn.Linear(4, 1)})
        with pytest.raises(CheckpointError, match=r"lacks state for \['x'\]"):
            load_checkpoint(tmp_path, {"x": torch.nn.Linear(3, 1)})
        with pytest.raises(FileNotFoundError, match="no checkpoint"):
            load_checkpoint(tmp_path / "nowhere", {})

    def test_unstorable_state_is_refused_at_save(self, tmp_path):
        self._good(tmp_path)
        before = checkpoint_path(tmp_path).read_bytes()

        class Bad:
            def state_dict(self):
                return {"ok": torch.ones(2), "arr": np.zeros(3)}

        with pytest.raises(TypeError, match=r"state\['b'\]\['arr'\]: a numpy.ndarray"):
            save_checkpoint(tmp_path, 5, {"b": Bad()}, [])
        assert checkpoint_path(tmp_path).read_bytes() == before
        assert not checkpoint_path(tmp_path).with_suffix(".tmp").exists()

    def test_fsync_before_rename(self, tmp_path, monkeypatch):
        events = []
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd):
            events.append(("fsync", os.path.isdir(f"/proc/self/fd/{fd}")))
            real_fsync(fd)

        def replace(a, b):
            events.append(("replace", os.path.getsize(a) > 0))
            real_replace(a, b)

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)
        save_checkpoint(tmp_path, 0, {"m": torch.nn.Linear(2, 2)}, [])
        if os.path.isdir("/proc/self/fd"):
            assert events == [("fsync", False), ("replace", True), ("fsync", True)]
        else:
            assert events[:2] == [("fsync", False), ("replace", True)]

    def test_failed_write_keeps_previous_checkpoint(self, tmp_path, monkeypatch):
        self._good(tmp_path)
        path = checkpoint_path(tmp_path)
        before = path.read_bytes()

        def dying_save(obj, f):
            f.write(b"PK\x03\x04 half a checkpoint")
            raise OSError("No space left on device")

        monkeypatch.setattr(torch, "save", dying_save)
        with pytest.raises(OSError, match="No space"):
            save_checkpoint(tmp_path, 9, {"m": torch.nn.Linear(3, 1)}, [])
        assert path.read_bytes() == before and not path.with_suffix(".tmp").exists()

    @pytest.mark.parametrize("with_checkpoint", [True, False])
    def test_stale_tmp_is_removed_on_resume(self, tmp_path, with_checkpoint):
        if with_checkpoint:
            self._good(tmp_path)
        tmp = checkpoint_path(tmp_path).with_suffix(".tmp")
        tmp.parent.mkdir(exist_ok=True)
        tmp.write_bytes(b"PK\x03\x04 left by a killed run")
        model, opt, step = _problem()
        res = run_loop(step, 2, None, progress=False)  # no folder: nothing touched
        assert tmp.exists() and res.steps == 2
        _, _, res = _train(tmp_path, 4, resume=True, checkpoint_every=100)
        assert res.resumed_from == (4 if with_checkpoint else None)
        assert not tmp.exists()
        # ... and at the next save
        tmp.write_bytes(b"stale")
        save_checkpoint(tmp_path, 0, {}, [])
        assert not tmp.exists()

    def test_resume_with_inconsistent_history(self, tmp_path):
        save_checkpoint(tmp_path, 3, {}, [{"loss": 1.0}])
        with pytest.raises(CheckpointError, match="one loss per step"):
            run_loop(lambda i: 0.0, 5, tmp_path, resume=True, progress=False)


def _sigmoid_fit(lr):
    """Fit sigmoid outputs to targets in [0.4, 0.6] on minibatches with Adam at learning rate `lr`
    (as the grid methods do with colours and densities); at lr=1e30 the first update saturates
    every sigmoid, and the loss stays finite but above its first value, as `--lr 1e30` did."""
    seed_everything(0)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(128, 4, generator=g)
    y = 0.5 + 0.1 * torch.tanh(x @ torch.tensor([[1.0], [-1.0], [0.5], [2.0]]))
    model = torch.nn.Linear(4, 1)
    torch.nn.init.zeros_(model.weight)  # starts at 0.5 everywhere
    torch.nn.init.zeros_(model.bias)
    opt = torch.optim.Adam(model.parameters(), lr=lr)

    def step(i):
        opt.zero_grad()
        idx = torch.randint(0, 128, (32,))  # minibatches: a noisy loss
        loss = ((torch.sigmoid(model(x[idx])) - y[idx]) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    return model, opt, step


class TestDivergence:
    def test_rule(self):
        w = 10
        assert diverged([1.0] * w, w) is None  # too short: checked from step w on
        assert diverged([1.0] * (w + 1), w) == (1.0, 1.0)  # constant
        assert diverged([1.0] + [0.5] + [1.2] * (w - 1), w) is None  # step 1 in the window
        assert diverged([1.0] + [0.5] + [1.2] * w, w) == (1.0, 1.2)  # step 1 just left it
        assert diverged([1.0] + [1.0 + 0.1 * i for i in range(1, 30)], w) is not None
        assert diverged([1.0] + [0.999] + [5.0] * 40 + [0.999] * w, w) is None
        assert diverged([0.0] * (w + 1), w) is None  # a perfect fit from the start
        assert diverged([-3.0] + [-2.0] * w, w) == (-3.0, -2.0)  # negative losses work too
        # above the first loss all the time, even while going down slowly: diverged
        assert diverged([1.0] + [3.0 - 0.01 * i for i in range(w)], w) == (1.0, pytest.approx(2.91))

    @pytest.mark.parametrize("kind", ["constant", "increasing", "exploding", "noisy_above"])
    def test_stops_bad_runs_and_keeps_checkpoint(self, tmp_path, kind):
        rng = np.random.default_rng(0)
        losses = {
            "constant": lambda i: 0.7,
            "increasing": lambda i: 0.7 + 0.01 * i,
            "exploding": lambda i: 0.7 * 1.5**i,
            "noisy_above": lambda i: 0.7 if i == 0 else 1.2 + 0.1 * rng.standard_normal(),
        }[kind]
        model = torch.nn.Linear(2, 1)
        with pytest.raises(DivergedError) as e:
            run_loop(
                losses,
                500,
                tmp_path,
                {"m": model},
                checkpoint_every=30,
                progress=False,
                divergence_window=50,
            )
        err = e.value
        assert err.step == 50 and err.window == 50  # the first check
        assert err.checkpoint_step == 30 and err.reference == 0.7 and err.best >= 0.7
        msg = str(err)
        first = err.step - 49
        assert f"no loss in the last 50 steps (steps {first}-{err.step}," in msg
        assert f"stopped at step {err.step}" in msg
        assert (
            f"last checkpoint kept: {checkpoint_path(tmp_path)} (step 30, inside the window" in msg
        )
        assert isinstance(err, RuntimeError)
        assert torch.load(checkpoint_path(tmp_path), weights_only=True)["step"] == 30

    def test_huge_learning_rate_stops(self):
        _, _, step = _sigmoid_fit(1e30)
        with pytest.raises(DivergedError) as e:
            run_loop(step, 1000, progress=False)  # the default window
        assert e.value.step == 200 and e.value.checkpoint is None
        assert "no checkpoint was written" in str(e.value)

    def test_healthy_run_does_not_stop(self):
        _, _, step = _sigmoid_fit(0.05)
        res = run_loop(step, 400, progress=False, divergence_window=20)
        assert res.steps == 400 and min(res.series()[-20:]) < res.series()[0]

    @pytest.mark.parametrize("shape", ["decay", "fast_then_plateau", "bump_then_decay"])
    def test_noisy_healthy_losses_never_stop(self, shape):
        # 200 seeded runs of 2000 steps with 30% multiplicative (Gaussian) noise, default window;
        # "bump_then_decay" first rises by half for 80 steps (e.g. a warm-up) then decays
        t = np.arange(2000)
        trend = {
            "decay": 0.2 + np.exp(-t / 300),
            "fast_then_plateau": np.where(t < 3, 1.0, 0.3),
            "bump_then_decay": 1.0
            + 0.5 * np.sin(np.pi * np.minimum(t, 80) / 80) * (t < 80)
            - 0.5 * (1 - np.exp(-np.maximum(t - 80, 0) / 200)),
        }[shape]
        from inverse3d.engine import DEFAULT_DIVERGENCE_WINDOW as w

        for seed in range(200):
            noise = 1.0 + 0.3 * np.random.default_rng(seed).standard_normal(t.size)
            noise = np.maximum(noise, 0.01)  # losses stay positive
            losses = list(trend * noise)
            hits = [diverged(losses[: i + 1], w) for i in range(w, t.size, 7)]
            assert all(h is None for h in hits), (shape, seed)

    def test_none_disables_and_loop_passes_window(self, tmp_path):
        res = run_loop(lambda i: 1.0, 300, progress=False, divergence_window=None)
        assert res.steps == 300
        assert run_loop(lambda i: 1.0, 200, progress=False).steps == 200  # too short to check
        with pytest.raises(DivergedError, match="last 5 steps"):
            Loop(progress=False, divergence_window=5).run(lambda i: 1.0, 20)
        with pytest.raises(DivergedError, match="last 200 steps"):
            Loop(progress=False).run(lambda i: 1.0, 300)  # on by default
        assert Loop(progress=False, divergence_window=None).run(lambda i: 1.0, 300).steps == 300

    def test_resumed_run_stops_at_the_same_step(self, tmp_path):
        def losses(i):
            return 1.0 if i == 0 else 0.5 if i < 30 else 2.0  # diverges at step 30

        with pytest.raises(DivergedError) as a:
            run_loop(losses, 200, tmp_path / "a", progress=False, divergence_window=40)
        run_loop(losses, 60, tmp_path / "b", progress=False, divergence_window=40)  # "killed"
        with pytest.raises(DivergedError) as b:
            run_loop(losses, 200, tmp_path / "b", resume=True, progress=False, divergence_window=40)
        assert a.value.step == b.value.step == 69
        # window 10: stops at step 39; the checkpoint at step 25 came before the window (30-39)
        with pytest.raises(DivergedError) as c:
            run_loop(
                losses,
                200,
                tmp_path / "c",
                checkpoint_every=25,
                progress=False,
                divergence_window=10,
            )
        assert c.value.step == 39
        kept = f"last good checkpoint kept: {checkpoint_path(tmp_path / 'c')} (step 25)"
        assert str(c.value).endswith(kept)


def test_bit_flips_are_refused(tmp_path):
    # torch.load does not check the archive's CRC-32s; load_checkpoint does
    _, _, step = _problem()
    run_loop(step, 4, tmp_path, {}, progress=False)
    path = checkpoint_path(tmp_path)
    good = path.read_bytes()
    with zipfile.ZipFile(path) as z:
        members = [(i.filename, i.header_offset, i.file_size) for i in z.infolist()]
    for name, offset, size in members:
        if size == 0:
            continue
        data_at = offset + 30 + int.from_bytes(good[offset + 26 : offset + 28], "little")
        data_at += int.from_bytes(good[offset + 28 : offset + 30], "little")
        flipped = bytearray(good)
        flipped[data_at + size // 2] ^= 0x10
        path.write_bytes(bytes(flipped))
        with pytest.raises(CheckpointError, match=f"checksum mismatch in its member '{name}'"):
            load_checkpoint(tmp_path, {})


def test_peak_memory_positive():
    assert peak_memory_mb() > 1.0
