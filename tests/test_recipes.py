"""Tests for eqlab.recipes: the bundled recipes are valid configs, flags override them, a recipe file trains.

The SwinIR recipes themselves train in tests/test_thirdparty.py (they need spandrel).
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from eqlab.checkpoint import read_meta
from eqlab.cli import build_parser, config_from_args, main
from eqlab.recipes import load_recipe, names, recipe_path
from eqlab.train import TrainConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_bundled_recipes_are_valid_and_commented():
    assert {"swinir-sr-x2", "swinir-denoise-color-50"} <= set(names())
    for name in names():
        config = TrainConfig.of(**load_recipe(name)).validate()
        assert config.color == "rgb" and config.model == "swinir"
        for line in recipe_path(name).read_text().splitlines():  # a comment per field: which setting, and why
            if "=" in line and not line.startswith("#"):
                assert "# reference:" in line or "# eqlab:" in line, line
    sr = TrainConfig.of(**load_recipe("swinir-sr-x2"))
    assert (sr.task, sr.scale, sr.patch_size // sr.scale, sr.features, sr.depth, sr.stages, sr.heads) == \
        ("sr", 2, 48, 180, 6, 6, 6)
    assert (sr.lr, sr.steps, sr.clip) == (2e-4, 500000, None)
    # the reference's options (EQ-REG-T, train_swinir_sr_classical_loss.json)
    assert (sr.loss, sr.ema_decay, sr.schedule, sr.optim.milestone_steps(), sr.gamma) == \
        ("l1", 0.999, "multistep", (200000, 350000, 450000, 475000), 0.5)
    dn = TrainConfig.of(**load_recipe("swinir-denoise-color-50"))
    assert (dn.task, dn.sigma, dn.patch_size) == ("denoise", 50, 128)
    assert (dn.loss, dn.charbonnier_eps, dn.ema_decay, dn.optim.milestone_steps()) == \
        ("charbonnier", 1e-9, 0.999, (800000, 1200000, 1400000, 1500000))
    for config in (sr, dn):  # the reference's layers (qkv and the output conv plain), the kit's real-equivariance norm
        assert (config.layers, config.skip_layers, config.norm, config.identity_draws, config.dihedral_patches) == \
            ("hidden", "*.attn.qkv", "split", False, True)


def test_recipes_name_no_difference_eqlab_has_the_means_to_close():
    """The comments no longer say that eqlab lacks a loss, an EMA or a multi-step schedule."""
    for name in names():
        text = recipe_path(name).read_text().lower()
        for missing in ("no ema", "has no multi-step", "eqlab trains with mse", "orientation-blind one"):
            assert missing not in text, (name, missing)
        assert "what eqlab does not do as the reference does, and why:" in text


def test_gpu_check_script_parses():
    """scripts/gpu_check.sh runs only where a GPU is lent: here its syntax, and its recipe runner's, are checked."""
    root = Path(__file__).resolve().parents[1]
    bash = shutil.which("bash")
    assert bash is not None
    done = subprocess.run([bash, "-n", str(root / "scripts" / "gpu_check.sh")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    compile((root / "scripts" / "recipe_check.py").read_text(), "recipe_check.py", "exec")
    assert "--steps 200" in (root / "scripts" / "gpu_check.sh").read_text()


def test_flags_override_the_recipe():
    args = build_parser(load_recipe("swinir-sr-x2")).parse_args(["train", "--steps", "7", "--heads", "2",
                                                                  "--clip", "1.0"])
    config = config_from_args(args)
    assert (config.steps, config.heads, config.clip, config.stages, config.lr) == (7, 2, 1.0, 6, 2e-4)


def test_exception(tmp_path):
    with pytest.raises(ValueError, match="neither a file nor a bundled recipe"):
        load_recipe("swinir-sr-x9")
    bad = tmp_path / "bad.toml"
    bad.write_text("[net]\nfeaturs = 8\n")
    with pytest.raises(ValueError, match="has no field 'featurs' \\(did you mean 'features'\\?\\)"):
        load_recipe(bad)
    bad.write_text("[problem]\nsteps = 8\n")
    with pytest.raises(ValueError, match="has no field 'steps'"):
        load_recipe(bad)
    bad.write_text("[training]\nsteps = 8\n")
    with pytest.raises(ValueError, match=r"\[training\] is not a config section"):
        load_recipe(bad)
    assert main(["train", "--recipe", str(tmp_path / "missing.toml")]) == 2


def test_a_recipe_file_trains_from_the_command_line(tmp_path, capsys, rgb_folder):
    """A recipe for one of eqlab's own nets, colour SR x2 on a generated folder, overridden by flags."""
    folder = rgb_folder
    recipe = tmp_path / "tiny-sr.toml"
    recipe.write_text('[problem]\ntask = "sr"  # eqlab\ncolor = "rgb"\npatch_size = 32\nbatch_size = 4\n'
                      '[net]\nfeatures = 8\ndepth = 3\n[optim]\nsteps = 50\nclip = "none"\n'
                      '[run]\nval_every = 0\nval_size = 64\n')
    out = tmp_path / "run"
    code = main(["train", "--recipe", str(recipe), "--steps", "3", "--data", str(folder), "--test-data", str(folder),
                 "--out-dir", str(out), "--arm", "plain", "--no-progress", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["step"] == 3
    config = read_meta(out / "checkpoint.safetensors")["config"]
    assert config["problem"]["color"] == "rgb" and config["optim"]["clip"] is None and config["net"]["features"] == 8


def test_dry_run_configuration_is_a_recipe_that_rebuilds_it(tmp_path):
    """What --dry-run prints first (eqlab.train.dryrun.as_toml) reads back as the same config."""
    from eqlab.train.dryrun import as_toml

    config = TrainConfig.of(**load_recipe("swinir-sr-x2")).replace(data="DIV2K", data_lr="X2", sigma=None)
    path = tmp_path / "resolved.toml"
    path.write_text(as_toml(config))
    assert TrainConfig.of(**load_recipe(path)) == config
