"""inverse3d.distributed and the data-parallel / sharded paths of the engine and the CLI.

The multi-process tests start 2 gloo processes on the CPU: the data-parallel step as torchrun's
workers (RANK, WORLD_SIZE, MASTER_ADDR/PORT in the environment, a free port), the many-object
job through torchrun itself (`python -m torch.distributed.run --standalone`)."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from inverse3d import distributed

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
sys.path.insert(0, str(HERE))
import distributed_worker as worker  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in distributed.ENV_KEYS}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(SRC), **extra)
    return env


class TestShard:
    def test_covers_every_item_once(self):
        for n_items in (0, 1, 5, 12):
            items = [f"obj{i}" for i in range(n_items)]
            for world in (1, 2, 3, 5):
                shares = [distributed.shard(items, r, world) for r in range(world)]
                flat = [x for s in shares for x in s]
                assert sorted(flat) == sorted(items) and len(flat) == len(items)
                sizes = [len(s) for s in shares]
                assert max(sizes, default=0) - min(sizes, default=0) <= 1  # balanced

    def test_round_robin_and_deterministic(self):
        assert distributed.shard(list("abcde"), 0, 2) == ["a", "c", "e"]
        assert distributed.shard(list("abcde"), 1, 2) == ["b", "d"]
        assert distributed.shard(list("abc")) == ["a", "b", "c"]  # one process: everything

    def test_exceptions(self):
        with pytest.raises(ValueError, match="rank must be"):
            distributed.shard([1, 2], 2, 2)
        with pytest.raises(ValueError, match="world must be"):
            distributed.shard([1, 2], 0, 0)


class TestOneProcess:
    """Without torchrun's variables nothing distributed is set up and every collective is the
    identity."""

    def test_init_from_env_is_a_noop(self):
        assert distributed.init_from_env(env={}) is False
        assert (
            distributed.init_from_env(
                env={
                    "RANK": "0",
                    "WORLD_SIZE": "1",
                    "LOCAL_RANK": "0",
                    "MASTER_ADDR": "x",
                    "MASTER_PORT": "1",
                }
            )
            is False
        )
        assert not torch.distributed.is_initialized()
        assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)

    def test_init_from_env_exceptions(self):
        with pytest.raises(ValueError, match="MASTER_ADDR"):
            distributed.init_from_env(env={"RANK": "0", "WORLD_SIZE": "2"})
        env = {
            "RANK": "2",
            "WORLD_SIZE": "2",
            "LOCAL_RANK": "0",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": "1",
        }
        with pytest.raises(ValueError, match="RANK must be in"):
            distributed.init_from_env(env=env)
        with pytest.raises(ValueError, match="WORLD_SIZE must be an integer"):
            distributed.init_from_env(env={**env, "WORLD_SIZE": "two"})
        with pytest.raises(ValueError, match="backend"):
            distributed.init_from_env(backend="mpi", env={**env, "RANK": "0"})

    def test_collectives_are_identity(self):
        p = torch.nn.Parameter(torch.ones(3))
        p.grad = torch.tensor([1.0, 2.0, 3.0])
        q = torch.nn.Parameter(torch.ones(2))
        distributed.all_reduce_gradients([p, q])
        torch.testing.assert_close(p.grad, torch.tensor([1.0, 2.0, 3.0]))
        assert q.grad is None
        assert distributed.all_reduce_scalars({"loss": torch.tensor(2.5)}) == {"loss": 2.5}
        import numpy as np

        got = distributed.all_gather_json({"a": [1, 2], "t": torch.tensor(0.5), "n": np.float32(2)})
        assert got == [{"a": [1, 2], "t": 0.5, "n": 2.0}]
        with pytest.raises(TypeError, match="not JSON"):
            distributed.all_gather_json({"x": object()})
        assert distributed.local_batch(1000) == 1000
        assert distributed.rank_seed(7) == 7 and distributed.rank_seed(7, step=3) != 7
        distributed.barrier()
        distributed.broadcast_state([torch.nn.Linear(2, 2)])

    def test_exceptions(self):
        with pytest.raises(ValueError, match="batch must be an int"):
            distributed.local_batch(0)
        with pytest.raises(TypeError, match="params must hold tensors"):
            distributed.all_reduce_gradients([1.0])

    def test_loop_sets_nothing_up(self):
        model, opt, batch = worker.build(seed=1)
        result = worker.run_steps(model, opt, batch, 0, 1)
        assert result.steps == worker.STEPS
        assert not torch.distributed.is_initialized()


def test_data_parallel_steps_match_one_process(tmp_path):
    """2 gloo ranks, each on half of the global batch (different initial weights: rank 0's are
    broadcast), gradients averaged by the Loop's hook: parameters and losses after 3 Adam steps
    equal those of one process on the whole batch (float64, up to summation order). The same
    processes then run `inverse3d reconstruct --method volume` data-parallel: rank 0 alone
    writes and prints, config.yaml keeps the global batch."""
    from inverse3d.datasets.folder import write_folder_scene
    from inverse3d.datasets.synthetic import make_synthetic_scene

    scene = tmp_path / "scene"
    write_folder_scene(make_synthetic_scene(n_views=4, n_test=2, image_size=24), scene)
    out = tmp_path / "dp"
    port = str(_free_port())
    procs = []
    for r in range(2):
        env = _env(
            RANK=str(r),
            WORLD_SIZE="2",
            LOCAL_RANK=str(r),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=port,
        )
        cmd = [sys.executable, str(HERE / "distributed_worker.py"), "step", str(out), str(scene)]
        procs.append(
            subprocess.Popen(
                cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        )
    logs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    got = torch.load(out / "dp.pt", weights_only=True)
    assert got["logged"] == {"loss": 0.5, "depth": 4.0}
    assert "done in" in logs[0] and "done in" not in logs[1], logs
    report = json.loads((out / "runs" / "vol" / "report.json").read_text(encoding="utf-8"))
    assert report["steps"] == 2 and report["settings"]["rays_per_step"] == 64
    assert "rays_per_step: 64" in (out / "runs" / "vol" / "config.yaml").read_text()
    assert (out / "runs" / "vol" / "checkpoints" / "last.pt").is_file()

    model, opt, batch = worker.build(seed=100)
    ref = worker.run_steps(model, opt, batch, 0, 1)
    torch.testing.assert_close(
        torch.tensor(got["loss"]), torch.tensor(ref.series()), rtol=1e-12, atol=1e-12
    )
    for name, value in model.state_dict().items():
        torch.testing.assert_close(got["state"][name], value, rtol=1e-9, atol=1e-12, msg=name)
    # head b (used by rank 0's half only, grad None on rank 1) moved as one process moves it:
    # by the mean gradient, rank 1 counting zero; ignoring rank 1 would double its SGD step
    init, _, _ = worker.build(seed=100)
    assert (init.b.weight - model.b.weight).abs().max() > 1e-3

    # rank 0's checkpoint resumes in one process (any number of ranks): 2 more steps equal an
    # uninterrupted one-process run of STEPS + 2 steps
    other, other_opt, _ = worker.build(seed=5)
    resumed = worker.run_steps(other, other_opt, batch, 0, 1, worker.STEPS + 2, out_dir=out)
    assert resumed.resumed_from == worker.STEPS
    model, opt, batch = worker.build(seed=100)
    worker.run_steps(model, opt, batch, 0, 1, worker.STEPS + 2)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(other.state_dict()[name], value, rtol=1e-9, atol=1e-12)


def test_rank_config_one_process():
    from inverse3d.methods.nerf import NerfConfig
    from inverse3d.pipeline.reconstruct import rank_config

    cfg = NerfConfig(rays_per_step=1000)
    assert rank_config(cfg) is cfg  # one process: the global batch
    assert rank_config(object) is object  # a config without rays_per_step


TINY = [
    "--steps",
    "2",
    "--batch-size",
    "64",
    "--pool-size",
    "256",
    "--width",
    "16",
    "--eval-points",
    "200",
    "--mc-resolution",
    "12",
    "--quiet",
    "--device",
    "cpu",
]


def test_fit_sdf_object_that_raises_is_listed(tmp_path, monkeypatch, capsys):
    """One process: an exception other than bad input in one object's fit is listed with its
    error (no rank named) and traceback file, the next object still runs; exit code 1."""
    import inverse3d.pipeline.fit_sdf as pipe
    from inverse3d.cli import main

    meshes = tmp_path / "in"
    meshes.mkdir()
    _sphere(meshes / "a.obj", shift=0.0)
    (meshes / "b.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")  # no faces: bad input

    def failing(config, mesh, loop):
        raise RuntimeError("boom")

    monkeypatch.setattr(pipe, "fit", failing)
    code = main(["fit-sdf", str(meshes), "--out", str(tmp_path / "runs"), "--name", "j", *TINY])
    err = capsys.readouterr().err
    assert code == 1  # an error outranks bad input (2)
    assert "a.obj" in err and "RuntimeError: boom" in err and "rank" not in err
    run = tmp_path / "runs" / "j"
    rows = {r["object"]: r for r in csv.DictReader(open(run / "results.csv", encoding="utf-8"))}
    assert rows["a"]["status"] == "error" and rows["b"]["status"] == "failed"
    assert "no faces" in rows["b"]["error"]
    assert "boom" in (run / "errors" / "a.log").read_text(encoding="utf-8")


def _sphere(path: Path, shift: float) -> None:
    from inverse3d.io import IO
    from inverse3d.utils import ico_sphere

    m = ico_sphere(1)
    IO().save_mesh(m.offset_verts(torch.full((m.verts_packed().shape[0], 3), shift)), path)


def test_fit_sdf_sharded_over_two_ranks_with_a_failing_rank(tmp_path):
    """torchrun, 2 ranks, 3 meshes: objects a, c on rank 0 and b on rank 1; the fit of a raises.
    Every object is in the merged table exactly once, c still runs after a on rank 0, the good
    ones are written, the job exits non-zero naming rank 0 and object a."""
    meshes = tmp_path / "in"
    meshes.mkdir()
    for i, name in enumerate("abc"):
        _sphere(meshes / f"{name}.obj", shift=float(i))
    out = tmp_path / "runs"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        str(HERE / "distributed_worker.py"),
        "fit-sdf",
        "0.0",
        "--",
        str(meshes),
        "--out",
        str(out),
        "--name",
        "job",
        *TINY,
    ]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=180)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text
    assert "rank 0" in text and "a.obj" in text and "injected failure" in text, text
    run = out / "job"
    rows = list(csv.DictReader(open(run / "results.csv", encoding="utf-8")))
    assert [r["object"] for r in rows] == ["a", "b", "c", "average"]
    status = {r["object"]: r["status"] for r in rows}
    assert status == {"a": "error", "b": "ok", "c": "ok", "average": "2/3 ok"}
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    assert report["ranks"] == 2
    assert {o["object"]: o["rank"] for o in report["objects"]} == {"a": 0, "b": 1, "c": 0}
    assert "rank 0" in report["objects"][0]["error"]
    for name in "bc":
        assert (run / name / "metrics.json").is_file(), name
    assert not (run / "a").exists()
    assert "rank 0 of 2" in (run / "errors" / "a.log").read_text(encoding="utf-8")


def test_reconstruct_several_scenes(tmp_path, capsys):
    """`reconstruct --data MISSING A`: one run per scene inside the job folder, a merged
    results.csv / report.json; the missing scene is listed as failed and the next one still runs
    (exit 2). One --data keeps the single-run path (covered by tests/cli)."""
    from inverse3d.cli import main
    from inverse3d.datasets.folder import write_folder_scene
    from inverse3d.datasets.synthetic import make_synthetic_scene

    write_folder_scene(make_synthetic_scene(n_views=4, n_test=2, image_size=24), tmp_path / "s1")
    datas = [str(tmp_path / "missing"), str(tmp_path / "s1")]
    fast = ["--method", "mesh", "--steps", "2", "--hull-resolution", "16"]
    fast += ["--eval-samples", "300", "--quiet", "--device", "cpu"]
    code = main(["reconstruct", "--data", *datas, "--out", str(tmp_path / "runs"), *fast])
    err = capsys.readouterr().err
    assert code == 2 and "missing" in err
    job = tmp_path / "runs" / "scenes-mesh"
    rows = list(csv.DictReader(open(job / "results.csv", encoding="utf-8")))
    assert [(r["data"], r["status"]) for r in rows] == [(datas[0], "failed"), (datas[1], "ok")]
    assert "no such file" in rows[0]["error"] and rows[1]["run"] == "s1-mesh"
    assert (job / "s1-mesh" / "report.json").is_file()
    report = json.loads((job / "report.json").read_text(encoding="utf-8"))
    assert report["ok"] == 1 and report["ranks"] == 1
    # --resume continues one run only
    assert main(["reconstruct", "--data", *datas, "--resume", "--out", str(tmp_path)]) == 2
