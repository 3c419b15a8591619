"""EQ-Reg on unmodified third-party nets (spandrel): it attaches, trains a step, measures, and chooses sensibly.

Skipped without spandrel (it needs torchvision, which the CPU wheel of torch lacks); ``.ci/run`` runs this
file in a second environment that has both.
"""

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("spandrel", exc_type=ImportError)

from eqlab import C4, EQReg, metrics  # noqa: E402
from eqlab.groups import PixelShuffle, Trivial  # noqa: E402
from eqlab.layouts import Map, Tokens, Windows  # noqa: E402
from eqlab.models import SPANDREL, build, build_thirdparty  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("name", sorted(SPANDREL))
def test_module_attaches_trains_and_measures(name):
    model, channels, scale = build_thirdparty(name)
    reg = EQReg(model)
    assert len(reg.layers) > 0, reg.report()
    outputs = [layer for layer in reg.layers if layer.role == "output"]
    assert outputs and all(layer.rep in (Trivial(), PixelShuffle(scale, Trivial())) for layer in outputs), reg.report()
    for layer in reg.layers:
        if layer.role == "pixel_shuffle":
            assert isinstance(layer.rep, PixelShuffle), (name, layer)
    x = torch.rand(1, channels, 64, 64)  # SCUNet pads to multiples of 64
    xb, _, element = C4().pair(x, element=1)
    model.train()
    with reg.active(element):
        out = model(xb)
    loss = F.mse_loss(out, F.interpolate(xb[:, :out.shape[1]], scale_factor=scale)) + 1e-3 * reg.loss()
    loss.backward()
    assert reg.stats() and torch.isfinite(loss)
    copy = x.clone()
    rows = metrics.equivariance_error(model, x, "C4", elements=[1], kinds=("shift",))
    assert rows and all(0 <= r["value"] < 2.01 for r in rows)
    assert torch.equal(x, copy)  # the caller's input is never changed (RCAN scales its input in place)
    assert 0 <= metrics.output_equivariance_error(model, x, "C4", elements=[1])[1] < 2


@pytest.mark.parametrize("name", ["SwinIR", "HAT", "DRCT"])
def test_attention_and_mlp_token_layers_are_regularized(name):
    model, _, _ = build_thirdparty(name)
    layouts = {type(layer.layout) for layer in EQReg(model).layers if "attn" in layer.name or "mlp" in layer.name}
    assert {Tokens, Windows} <= layouts, layouts


def test_nafnet_ending_is_the_trivial_output_layer():
    model, _, _ = build_thirdparty("NAFNet")
    by_name = {layer.name: layer for layer in EQReg(model).layers}
    assert by_name["ending"].rep == Trivial() and by_name["ending"].role == "output"
    assert list(dict(model.named_modules()))[2] == "ending"  # registered second, runs last: found by the graph


def test_shifted_windows_read_back_the_map():
    """The qkv layer of a shifted block, read as Windows(8, shift=4), is exactly qkv applied to the block's map."""
    model = build("swinir", channels=1, dim=16, depth=2).eval()
    layers = {layer.name: layer for layer in metrics.viewable_layers(model)[0]}
    x = torch.rand(2, 1, 32, 32)
    for block, shift in (("net.layers.0.residual_group.blocks.0", 0), ("net.layers.0.residual_group.blocks.1", 4)):
        assert layers[f"{block}.attn.qkv"].layout == Windows(8, shift=shift)
        features, _ = metrics.layer_features(model, x, [f"{block}.norm1", f"{block}.attn.qkv"])
        qkv = model.get_submodule(f"{block}.attn.qkv")
        with torch.no_grad():
            expected = qkv(features[f"{block}.norm1"]).transpose(1, 2).reshape(2, -1, 32, 32)
        read = layers[f"{block}.attn.qkv"].layout.to_map(features[f"{block}.attn.qkv"], 2)
        assert torch.equal(read, expected)
    assert isinstance(layers["net.conv_first"].layout, Map)


def test_swinir_trains_by_name():
    from eqlab.train import TrainConfig, fit

    config = TrainConfig.of(task="denoise", model="swinir", features=16, depth=1, steps=2, batch_size=2,
                            patch_size=32, val_size=32, val_every=0, share_every=1)
    result = fit(config, progress=False)
    assert result.step == 2 and any(k.startswith("reg/net.layers") for k in result.history[-1])


@pytest.mark.parametrize("recipe", ["swinir-sr-x2", "swinir-denoise-color-50"])
def test_recipe_trains_a_tiny_variant_and_eval_scores_it(recipe, rgb_folder, tmp_path, capsys):
    """Each SwinIR recipe, shrunk by flags (1 stage of 1 block, 16 channels), trains on a colour folder."""
    import json

    from eqlab.cli import main

    out = tmp_path / "run"
    tiny = ["--features", "16", "--depth", "1", "--stages", "1", "--heads", "2", "--steps", "2", "--batch-size", "2",
            "--patch-size", "32", "--val-size", "32", "--val-every", "0", "--checkpoint-every", "0", "--workers", "0"]
    code = main(["train", "--recipe", recipe, *tiny, "--data", str(rgb_folder), "--test-data", str(rgb_folder),
                 "--out-dir", str(out), "--no-progress", "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["step"] == 2
    assert main(["eval", str(out / "checkpoint.safetensors"), "--data", str(rgb_folder), "--crop", "64",
                 "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["model"] == "swinir" and scored["images"] == 4 and scored["psnr"] == scored["psnr"]
