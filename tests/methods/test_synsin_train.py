"""methods.synsin, eval.view_synthesis and the train-synsin / synthesize verbs."""

import json
import math

import pytest
import torch
from PIL import Image

from inverse3d.cli import main
from inverse3d.datasets.view_pairs import make_view_pairs
from inverse3d.eval.view_synthesis import evaluate_view_synthesis
from inverse3d.loss.feature_loss import feature_loss_net
from inverse3d.methods.synsin import (
    SynSinConfig,
    build_discriminator,
    build_model,
    discriminator_losses,
    synsin_losses,
    train_synsin,
)

TINY = dict(image_size=16, channels=8, blocks=2, depth_width=8, batch_size=4, lr=3e-3)


@pytest.fixture(autouse=True)
def _one_thread():
    # small convolutions: one thread is faster, and much faster on a loaded machine
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _depth_error(model, pairs):
    with torch.no_grad():
        return float((model(pairs.source, pairs.R, pairs.T).depth - pairs.depth).abs().mean())


def test_two_step_smoke_and_errors():
    cfg = SynSinConfig(**TINY, steps=2)
    pairs = make_view_pairs(4, seed=0, image_size=16)
    model, history = train_synsin(cfg, train_data=pairs)
    assert len(history) == 2 and all(torch.isfinite(torch.tensor(h["loss"])) for h in history)
    assert not model.training
    with pytest.raises(TypeError, match="train_data"):
        train_synsin(cfg, train_data=[1, 2])
    with pytest.raises(ValueError, match="image size"):
        train_synsin(SynSinConfig(**{**TINY, "image_size": 32}, steps=1), train_data=pairs)


def test_quality_floor_on_held_out_pairs():
    # a short run (one core, ~10 s): the synthesized views beat the unchanged input by a margin,
    # and the depth, learned from the view losses alone (depth_weight 0), gets much closer to
    # the truth than the untrained model's: a trainer that stops learning fails here
    cfg = SynSinConfig(**TINY, steps=80)
    train = make_view_pairs(32, seed=0, image_size=16)
    test = make_view_pairs(8, seed=1, image_size=16)
    torch.manual_seed(0)
    untrained = build_model(cfg)
    model, _ = train_synsin(cfg, train_data=train, seed=0)
    m = evaluate_view_synthesis(model, test)
    assert m["synsin"]["psnr"] > m["input_copy"]["psnr"] + 2.0
    assert m["synsin"]["ssim"] > m["input_copy"]["ssim"] + 0.1
    assert _depth_error(model, test) < 0.7 * _depth_error(untrained, test)


def test_evaluation_baselines_are_what_they_say():
    cfg = SynSinConfig(**TINY)
    pairs = make_view_pairs(3, seed=2, image_size=16)
    torch.manual_seed(0)
    m = evaluate_view_synthesis(build_model(cfg), pairs)
    from inverse3d.eval.metrics import psnr

    copy = float(psnr(pairs.source.permute(0, 2, 3, 1), pairs.target.permute(0, 2, 3, 1)))
    assert m["input_copy"]["psnr"] == pytest.approx(copy)
    # an untrained model's decoder adds nothing: it is the forward warp
    assert m["synsin"]["psnr"] == pytest.approx(m["warp_predicted_depth"]["psnr"], abs=1e-4)


def test_cli_train_and_synthesize(tmp_path, capsys):
    argv = ["train-synsin", "--out", str(tmp_path), "--name", "t", "--steps", "2",
            "--n-train", "4", "--n-test", "2", "--image-size", "16", "--channels", "4",
            "--blocks", "1", "--depth-width", "4", "--examples", "2"]  # fmt: skip
    assert main(argv) == 0
    run = tmp_path / "t"
    for name in ("model.pt", "report.json", "history.json", "loss.png", "examples.png"):
        assert (run / name).is_file(), name
    rep = json.loads((run / "report.json").read_text())
    assert set(rep["metrics"]) == {
        "synsin",
        "input_copy",
        "warp_predicted_depth",
        "warp_true_depth",
    }
    assert rep["metrics"]["input_copy"]["psnr"] > 0
    img = tmp_path / "room.png"
    Image.fromarray((torch.rand(20, 24, 3) * 255).byte().numpy()).save(img)
    argv = ["synthesize", str(img), "--angle", "8", "--checkpoint", str(run / "model.pt"),
            "--out", str(tmp_path), "--name", "s", "--feedback", "5"]  # fmt: skip
    assert main(argv) == 0
    out = tmp_path / "s"
    for name in ("output.png", "feedback.gif", "feedback.png", "report.json"):
        assert (out / name).is_file(), name
    gif = Image.open(out / "feedback.gif")
    assert gif.n_frames == 6 and gif.size == (16, 16)
    rep = json.loads((out / "report.json").read_text())
    assert rep["feedback_steps"] == 5 and rep["camera"]["angle_deg"] == 8.0
    # bad inputs: exit 2, one line naming the problem
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    argv[5] = str(tmp_path / "bad.pt")
    assert main(argv) == 2
    assert "bad.pt" in capsys.readouterr().err
    argv = ["synthesize", str(img), "--angle", "120", "--checkpoint", str(run / "model.pt")]
    assert main(argv) == 2
    assert "--angle" in capsys.readouterr().err


def test_default_path_is_the_plain_training():
    # gan_weight 0 (the default): no discriminator, and the losses are those recorded before the
    # GAN option existed (same seed, one thread)
    assert SynSinConfig().gan_weight == 0.0
    pairs = make_view_pairs(4, seed=0, image_size=16)
    _, history = train_synsin(SynSinConfig(**TINY, steps=3), train_data=pairs)
    assert set(history[0]) == {"l1", "feature", "depth", "loss"}
    pinned = [0.08827928453683853, 0.2573821246623993, 0.10564480721950531]
    assert [h["loss"] for h in history] == pytest.approx(pinned, rel=1e-3)


def test_loss_terms_with_a_discriminator_by_formula():
    cfg = SynSinConfig(**TINY, gan_weight=0.3)
    pairs = make_view_pairs(2, seed=0, image_size=16)
    torch.manual_seed(0)
    model, disc = build_model(cfg), build_discriminator(cfg)
    fnet = feature_loss_net(None, seed=0)
    with torch.no_grad():
        out = model(pairs.source, pairs.R, pairs.T)
        terms = synsin_losses(model, pairs, cfg, fnet, disc)
        plain = synsin_losses(model, pairs, cfg, fnet)
        logits = disc(out.image)
        assert logits.shape == (2, 1, 2, 2)  # 16 px, 3 stride-2 layers: 2 x 2 patches
        assert float(terms["gan"]) == pytest.approx(float(-logits.mean()), rel=1e-5)
        assert float(terms["loss"]) == pytest.approx(
            float(plain["loss"]) + 0.3 * float(-logits.mean()), rel=1e-5
        )
        d = discriminator_losses(disc, pairs.target, out.image, "hinge")
        real_l, fake_l = disc(pairs.target), logits
        assert float(d["d_real"]) == pytest.approx(float((1 - real_l).clamp_min(0).mean()))
        assert float(d["d_fake"]) == pytest.approx(float((1 + fake_l).clamp_min(0).mean()))
        assert float(d["d_loss"]) == pytest.approx(float(d["d_real"] + d["d_fake"]))
    with pytest.raises(ValueError, match="divisible"):
        build_discriminator(SynSinConfig(**{**TINY, "image_size": 20}))


@pytest.mark.parametrize("kind", ["hinge", "nonsaturating"])
def test_two_step_smoke_with_the_gan(kind):
    cfg = SynSinConfig(**TINY, steps=2, gan_weight=0.1, gan_loss=kind, d_width=8)
    pairs = make_view_pairs(4, seed=0, image_size=16)
    _, plain = train_synsin(SynSinConfig(**TINY, steps=2), train_data=pairs)
    model, history = train_synsin(cfg, train_data=pairs)
    assert len(history) == 2 and not model.training
    for h in history:
        assert {"gan", "d_loss", "d_real", "d_fake"} <= set(h)
        assert all(math.isfinite(v) for v in h.values())
    # the first step's image terms are the plain run's (same data, same initial model)
    assert history[0]["l1"] == pytest.approx(plain[0]["l1"], rel=1e-6)
    assert history[0]["loss"] == pytest.approx(plain[0]["loss"] + 0.1 * history[0]["gan"], rel=1e-5)
    assert history[1]["l1"] != pytest.approx(plain[1]["l1"], rel=1e-6)  # the GAN term acted


def test_cli_gan_flags(tmp_path, capsys):
    base = ["train-synsin", "--out", str(tmp_path), "--steps", "1", "--n-train", "2",
            "--n-test", "2", "--image-size", "16", "--channels", "4", "--blocks", "1",
            "--depth-width", "4", "--examples", "0", "--gan-weight", "0.1", "--d-width", "4"]  # fmt: skip
    assert main([*base, "--name", "bad", "--d-layers", "5"]) == 2
    assert "--d-layers" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    assert main([*base, "--name", "g", "--gan-loss", "nonsaturating"]) == 0
    rep = json.loads((tmp_path / "g" / "report.json").read_text())
    assert rep["settings"]["gan_weight"] == 0.1 and "d_loss" in rep["final_loss"]
