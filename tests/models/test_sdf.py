import json

import pytest
import torch

from inverse3d.models.sdf import (
    SDF_MODELS,
    CodedDeepSDF,
    HashGridSdf,
    build_sdf_model,
    load_sdf,
    save_sdf,
)


@pytest.mark.parametrize("kind", SDF_MODELS)
def test_round_trip(kind, tmp_path):
    torch.manual_seed(0)
    opts = {"hidden_dim": 16} if kind != "siren" else {"hidden_features": 16}
    if kind == "hashgrid":
        opts.update(n_levels=2, log2_hashmap_size=10, finest_resolution=16)
    net = build_sdf_model(kind, **opts)
    x = torch.rand(50, 3) - 0.5
    path, side = save_sdf(net, tmp_path / "w.pt", kind, opts, extra={"scale": 2.0})
    back = load_sdf(path)
    torch.testing.assert_close(back(x), net(x))
    assert json.loads(side.read_text())["extra"] == {"scale": 2.0}
    assert back.sdf_meta["kind"] == kind
    assert not list(tmp_path.glob("*.tmp"))


def test_shapes():
    net = HashGridSdf(n_levels=2, log2_hashmap_size=8, finest_resolution=8)
    assert net(torch.zeros(4, 5, 3)).shape == (4, 5, 1)


def test_exceptions(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        build_sdf_model("nerf")
    with pytest.raises(FileNotFoundError):
        load_sdf(tmp_path / "missing.pt")
    net = build_sdf_model("deepsdf", hidden_dim=8, n_layers=2)
    path, side = save_sdf(net, tmp_path / "w.pt", "deepsdf", {"hidden_dim": 8, "n_layers": 2})
    side.write_text(
        json.dumps(
            {
                "format": "inverse3d-sdf",
                "kind": "deepsdf",
                "options": {"hidden_dim": 16, "n_layers": 2},
            }
        )
    )
    with pytest.raises(ValueError, match="do not fit"):
        load_sdf(path)
    good = path.read_bytes()
    path.write_bytes(b"junk")  # a foreign / truncated weights file: ValueError naming it
    with pytest.raises(ValueError, match="not a weights file"):
        load_sdf(path)
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="not a weights file"):
        load_sdf(path)
    side.write_text("{not json")
    with pytest.raises(ValueError, match="JSON"):
        load_sdf(path)


def test_coded_deepsdf_round_trip(tmp_path):
    torch.manual_seed(0)
    opts = {"latent_dim": 4, "hidden_dim": 8, "n_layers": 2}
    net = build_sdf_model("deepsdf", **opts)
    assert isinstance(net, CodedDeepSDF)
    with torch.no_grad():
        net.code.normal_()
    x = torch.rand(20, 3) - 0.5
    torch.testing.assert_close(net(x), net.decoder(x, net.code.expand(20, 4)))
    path, _ = save_sdf(net, tmp_path / "w.pt", "deepsdf", opts)
    back = load_sdf(path)
    torch.testing.assert_close(back.code, net.code)
    torch.testing.assert_close(back(x), net(x))
