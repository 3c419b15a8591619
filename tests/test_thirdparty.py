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


TINY = ["--features", "16", "--depth", "1", "--stages", "1", "--heads", "2", "--batch-size", "2", "--patch-size", "32",
        "--val-size", "32", "--val-every", "0", "--checkpoint-every", "0", "--workers", "0", "--no-progress"]


@pytest.mark.parametrize("recipe", ["swinir-sr-x2", "swinir-denoise-color-50"])
def test_recipe_smoke_resume_and_eval(recipe, rgb_folder, tmp_path, capsys):
    """Each bundled recipe, shrunk by flags (1 stage of 1 block, 16 channels): 3 steps, stopped, resumed to 5 by
    the command line, scored by eqlab eval (the moving average)."""
    import json

    from eqlab.checkpoint import load_checkpoint
    from eqlab.cli import build_parser, config_from_args, main
    from eqlab.recipes import load_recipe, names
    from eqlab.train import Callback, fit

    class StopAt3(Callback):
        def on_step(self, trainer, record):
            if trainer.step == 3:
                trainer.request_stop()

    assert recipe in names()
    out = tmp_path / "run"
    data = ["--data", str(rgb_folder), "--test-data", str(rgb_folder), "--out-dir", str(out), "--steps", "5"]
    config = config_from_args(build_parser(load_recipe(recipe)).parse_args(["train", *TINY, *data]))
    assert fit(config, progress=False, callbacks=[StopAt3()]).step == 3
    _, meta = load_checkpoint(out / "checkpoint.safetensors")
    assert meta["step"] == 3 and meta["ema_state"] is not None and meta["config"]["optim"]["schedule"] == "multistep"
    assert main(["train", "--recipe", recipe, *TINY, *data, "--resume", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["step"] == 5
    assert main(["eval", str(out / "checkpoint.safetensors"), "--data", str(rgb_folder), "--crop", "64",
                 "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["model"] == "swinir" and scored["images"] == 4 and scored["weights"] == "ema"
    assert scored["step"] == 5 and scored["psnr"] == scored["psnr"]


@pytest.mark.parametrize("recipe", ["swinir-sr-x2", "swinir-denoise-color-50"])
def test_recipe_dry_run_reports_the_reference_layers(recipe, rgb_folder, capsys):
    """--dry-run: the resolved recipe, qkv and the output conv left plain (as the reference), data, memory."""
    import json

    from eqlab.cli import main

    assert main(["train", "--recipe", recipe, *TINY, "--data", str(rgb_folder), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "[optim]" in text and 'loss = "' in text and "ema_decay = 0.999" in text
    assert "left plain: matches skip '*.attn.qkv'" in text and "produces the output (layers='hidden')" in text
    assert "4 images, 72-72 x 72-72 px" in text and "memory per rank" in text
    assert main(["train", "--recipe", recipe, *TINY, "--data", str(rgb_folder), "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["memory"]["activations"] > 0 and plan["memory"]["images"] == 4  # 2 source patches, paired
    assert plan["memory"]["parameters"] * 20 <= plan["memory"]["total"]  # weights, grads, Adam, EMA


def test_skip_layers_reproduce_the_reference_choice_on_swinir():
    """layers='hidden' with skip='*.attn.qkv': every conv / linear but qkv and conv_last, as the reference's MyConvs."""
    from eqlab.selection import select

    model = build("swinir", channels=3, dim=16, depth=2, heads=2, stages=1, scale=2)
    chosen = select(model, "C4", layers="hidden", skip="*.attn.qkv")
    names = chosen.names()
    assert not any(n.endswith("attn.qkv") or n == "net.conv_last" for n in names)
    assert {"net.conv_first", "net.conv_after_body", "net.upsample.0"} <= set(names)
    assert sum(n.endswith(("attn.proj", "mlp.fc1", "mlp.fc2")) for n in names) == 6
    assert "left plain: matches skip '*.attn.qkv'" in chosen.table()
    with pytest.raises(ValueError, match=r"skip pattern\(s\) \['\*\.qvk'\] match no candidate"):
        select(model, "C4", skip="*.qvk")


@pytest.mark.slow  # two fresh processes importing torch and spandrel
def test_recipe_under_torchrun_exits_zero_on_every_rank(rgb_folder, tmp_path):
    """`torchrun --nproc_per_node 2 -m eqlab train --recipe ...` (gloo on the CPU): both ranks exit 0."""
    import os
    import subprocess
    import sys

    from conftest import free_port

    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
               str(free_port()), "-m", "eqlab", "train", "--recipe", "swinir-sr-x2", *TINY, "--steps", "2",
               "--batch-size", "1", "--data", str(rgb_folder), "--test-data", str(rgb_folder), "--out-dir",
               str(tmp_path / "run"), "--device", "cpu"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / "run" / "checkpoint.safetensors").exists()


def test_recipe_check_script_runs_tiny_on_the_cpu(tmp_path, capsys):
    """scripts/recipe_check.py (what scripts/gpu_check.sh runs on a GPU), shrunk: 3 steps, the estimate printed."""
    import runpy
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "recipe_check.py"
    argv, sys.argv = sys.argv, [str(script), "--tiny", "--device", "cpu", "--steps", "3", "--images", "2",
                                "--estimate", "--folder", str(tmp_path), "swinir-sr-x2"]
    try:
        with pytest.raises(SystemExit) as done:
            runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = argv
    out = capsys.readouterr().out
    assert done.value.code == 0 and "swinir-sr-x2: 3 steps" in out and "--dry-run estimates" in out
