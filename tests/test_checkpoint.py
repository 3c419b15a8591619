"""Tests for eqlab.checkpoint: bit-exact round trips, atomic writes, and every way a file can be wrong."""

import json

import pytest
import torch
import torch.nn.functional as F

from eqlab.checkpoint import FORMAT_VERSION, color_of, load_checkpoint, read_meta, save_checkpoint
from eqlab.models import build


def trained(name="dncnn", **kwargs):
    """A small net and an Adam optimizer after two steps (so the optimizer has state)."""
    torch.manual_seed(0)
    model = build(name, **(kwargs or dict(features=8, depth=3)))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(2):
        x = torch.rand(2, 1, 16, 16)
        optimizer.zero_grad()
        F.mse_loss(model(x), x).backward()
        optimizer.step()
    return model, optimizer


def test_round_trip_is_bit_exact(tmp_path):
    model, optimizer = trained()
    generator = torch.Generator().manual_seed(3)
    path = save_checkpoint(tmp_path / "run" / "ck.safetensors", model, {"task": "denoise"}, optimizer, step=2,
                           history=[{"step": 1, "loss": 0.5}], rng_state={"r0.data": generator.get_state()},
                           extra={"wall_time_s": 1.5})
    loaded, meta = load_checkpoint(path)
    assert type(loaded) is type(model) and not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert (meta["format"], meta["model"], meta["step"]) == (FORMAT_VERSION, "dncnn", 2)
    assert meta["model_config"] == model.config and meta["config"] == {"task": "denoise"}
    assert meta["history"] == [{"step": 1, "loss": 0.5}] and meta["extra"]["wall_time_s"] == 1.5
    assert torch.equal(meta["rng_state"]["r0.data"], generator.get_state())

    fresh = torch.optim.Adam(loaded.parameters(), lr=0.5)
    fresh.load_state_dict(meta["optimizer_state"])
    want, got = optimizer.state_dict(), fresh.state_dict()
    assert got["param_groups"][0]["lr"] == 1e-3
    for index, state in want["state"].items():
        for key, value in state.items():
            assert torch.equal(got["state"][index][key], value), (index, key)


def test_moving_average_round_trip_and_choice(tmp_path):
    model, optimizer = trained()
    average, _ = trained()
    with torch.no_grad():
        for p in average.parameters():
            p.mul_(0.5)
    path = save_checkpoint(tmp_path / "ck.safetensors", model, optimizer=optimizer, ema=average)
    raw, meta = load_checkpoint(path)
    ema, meta_ema = load_checkpoint(path, ema=True)
    assert (meta["weights"], meta_ema["weights"]) == ("raw", "ema")
    for key, value in model.state_dict().items():
        assert torch.equal(raw.state_dict()[key], value), key
        assert torch.equal(ema.state_dict()[key], average.state_dict()[key]), key
        assert torch.equal(meta["ema_state"][key], average.state_dict()[key]), key
    plain = save_checkpoint(tmp_path / "plain.safetensors", model)
    loaded, meta = load_checkpoint(plain, ema=True)  # no average in the file: its weights
    assert meta["weights"] == "raw" and meta["ema_state"] is None
    data = bytearray(path.read_bytes())
    header = int.from_bytes(data[:8], "little")
    names = json.loads(data[8:8 + header])
    start = 8 + header + names[next(k for k in names if k.startswith("ema."))]["data_offsets"][0]
    data[start] ^= 0xFF  # a byte of the average only
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="moving average does not match its checksum"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match="moving average does not have the model's weights"):
        save_checkpoint(tmp_path / "x.safetensors", model, ema=build("dncnn", features=8, depth=4))


def test_colour_is_recorded_and_checked(tmp_path):
    """The card's run colour (config problem.color) must match its net's channels."""
    rgb = build("dncnn", channels=3, features=8, depth=3)
    path = save_checkpoint(tmp_path / "rgb.safetensors", rgb, {"problem": {"color": "rgb"}})
    assert color_of(read_meta(path)) == "rgb" and load_checkpoint(path)[0].channels == 3
    gray, _ = trained()
    path = save_checkpoint(tmp_path / "bad.safetensors", gray, {"problem": {"color": "rgb"}})
    with pytest.raises(ValueError, match=r"was --color rgb, but its net dncnn has 1 channel\(s\) \(a gray net\)"):
        load_checkpoint(path)


def test_atomic_write_leaves_no_temporary_file(tmp_path):
    model, _ = trained()
    path = tmp_path / "ck.safetensors"
    save_checkpoint(path, model, step=1)
    save_checkpoint(path, model, step=2)  # overwrite in place
    assert [p.name for p in tmp_path.iterdir()] == ["ck.safetensors"]
    assert read_meta(path)["step"] == 2


def test_failed_write_keeps_the_old_file(tmp_path):
    model, _ = trained()
    path = tmp_path / "ck.safetensors"
    save_checkpoint(path, model, step=1)
    with pytest.raises(ValueError, match="JSON"):
        save_checkpoint(path, model, config={"bad": object()}, step=2)
    assert read_meta(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ck.safetensors"]


def test_exception_missing_file(tmp_path):
    with pytest.raises(ValueError, match="nothing.safetensors.*does not exist"):
        load_checkpoint(tmp_path / "nothing.safetensors")


def test_exception_truncated_file(tmp_path):
    model, _ = trained()
    path = save_checkpoint(tmp_path / "ck.safetensors", model)
    data = path.read_bytes()
    for cut in (len(data) // 2, 40, 4):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="ck.safetensors.*corrupt"):
            load_checkpoint(path)


def test_exception_damaged_weights(tmp_path):
    model, _ = trained()
    path = save_checkpoint(tmp_path / "ck.safetensors", model)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # a byte of the last tensor
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):
        load_checkpoint(path)


def test_exception_wrong_architecture(tmp_path):
    model, _ = trained()
    model.config = dict(model.config, features=16)  # the card claims another width
    path = save_checkpoint(tmp_path / "ck.safetensors", model)
    with pytest.raises(ValueError, match="does not fit the architecture.*wrong shapes"):
        load_checkpoint(path)
    model.config = dict(model.config, features=8, depth=4)  # one layer more than stored
    path = save_checkpoint(tmp_path / "ck.safetensors", model)
    with pytest.raises(ValueError, match="missing"):
        load_checkpoint(path)


def test_exception_unknown_model_and_foreign_file(tmp_path):
    model, _ = trained()
    model.name = "resnet9000"
    path = save_checkpoint(tmp_path / "ck.safetensors", model)
    with pytest.raises(ValueError, match="unknown model 'resnet9000'"):
        load_checkpoint(path)
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(ValueError, match="no eqlab metadata"):
        load_checkpoint(tmp_path / "foreign.safetensors")
    with pytest.raises(TypeError, match="eqlab.models.build"):
        save_checkpoint(tmp_path / "x.safetensors", torch.nn.Conv2d(1, 1, 3))


def test_newer_format_is_refused(tmp_path):
    from safetensors.torch import save_file

    meta = {"format": FORMAT_VERSION + 1}
    save_file({"model.w": torch.zeros(1)}, str(tmp_path / "new.safetensors"), metadata={"eqlab": json.dumps(meta)})
    with pytest.raises(ValueError, match="format"):
        read_meta(tmp_path / "new.safetensors")


def test_strict_twin_and_ddp_wrapper(tmp_path):
    model, _ = trained("dncnn_p4", fields=4, depth=3)
    wrapped = torch.nn.parallel.DataParallel(model)  # any wrapper with .module is unwrapped
    loaded, meta = load_checkpoint(save_checkpoint(tmp_path / "p4.safetensors", wrapped))
    assert meta["model"] == "dncnn_p4"
    x = torch.rand(1, 1, 16, 16)
    assert torch.equal(loaded(x), model.eval()(x))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_checkpoint_loads_on_cpu(tmp_path):
    model, _ = trained()
    model = model.cuda()
    optimizer = torch.optim.Adam(model.parameters())
    F.mse_loss(model(torch.rand(2, 1, 16, 16, device="cuda")), torch.zeros(2, 1, 16, 16, device="cuda")).backward()
    optimizer.step()
    path = save_checkpoint(tmp_path / "gpu.safetensors", model, optimizer=optimizer)
    loaded, meta = load_checkpoint(path, map_location="cpu")
    assert all(p.device.type == "cpu" for p in loaded.parameters())
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value.cpu()), key
    assert all(t.device.type == "cpu" for s in meta["optimizer_state"]["state"].values() for t in s.values())


# -- a tampered card: every problem a ValueError naming the file ----------------------------------------

def _with_card(tmp_path, edit, name="edited.safetensors"):
    """A valid checkpoint whose JSON card ``edit(meta)`` changed (the weights and their checksum untouched)."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    model, optimizer = trained()
    path = save_checkpoint(tmp_path / "ck.safetensors", model, {"task": "denoise"}, optimizer, step=2)
    with safe_open(str(path), framework="pt") as handle:
        meta = json.loads(handle.metadata()["eqlab"])
    meta = edit(meta)
    target = tmp_path / name
    save_file(load_file(str(path)), str(target), metadata={"eqlab": json.dumps(meta)})
    return target


@pytest.mark.parametrize("edit, match", [
    (lambda m: [m], "metadata is a JSON list, not an object"),
    (lambda m: None, "metadata is a JSON NoneType"),
    (lambda m: "a string", "metadata is a JSON str"),
    (lambda m: {k: v for k, v in m.items() if k != "step"}, "lacks the field 'step'"),
    (lambda m: dict(m, step="2"), "'step' must be int, got str"),
    (lambda m: dict(m, step=-1), "'step' must be >= 0"),
    (lambda m: dict(m, model_config=[8, 3]), "'model_config' must be dict, got list"),
    (lambda m: dict(m, config=None), "'config' must be dict, got NoneType"),
    (lambda m: dict(m, config={"problem": [1]}), r"config\['problem'\] must be an object"),
    (lambda m: dict(m, history={"step": 1}), "'history' must be list"),
    (lambda m: dict(m, optimizer=dict(param_groups="x")), "optimizer section is broken"),
    (lambda m: dict(m, optimizer=dict(m["optimizer"], param_groups=[dict(m["optimizer"]["param_groups"][0],
                                                                         params=[0])])),
     "optimizer section is broken: optimizer tensor 'optimizer.1"),
])
def test_exception_tampered_card(tmp_path, edit, match):
    path = _with_card(tmp_path, edit)
    with pytest.raises(ValueError, match=match) as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


def test_a_card_claiming_a_huge_net_is_refused_before_building_it(tmp_path, monkeypatch):
    import eqlab.models as models

    path = _with_card(tmp_path, lambda m: dict(m, model_config=dict(m["model_config"], features=10000)))
    built = []
    real = models.build
    monkeypatch.setattr(models, "build", lambda *a, **k: built.append(torch.empty(0).device) or real(*a, **k))
    with pytest.raises(ValueError, match=r"does not fit.*wrong shapes") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)
    assert built == [torch.device("meta")]  # only the shape-only model was built: no memory for 10000 features


def test_leftover_temporary_files_of_a_killed_writer_are_removed(tmp_path):
    import os

    model, _ = trained()
    target = tmp_path / "ck.safetensors"
    dead = tmp_path / ".ck.safetensors.999999999.0123456789ab.tmp"  # no such process: a killed writer's
    dead.write_bytes(b"\0" * 1000)
    live = tmp_path / f".ck.safetensors.{os.getppid()}.0123456789ab.tmp"  # a running writer's: kept
    live.write_bytes(b"\0")
    save_checkpoint(target, model)
    assert not dead.exists() and live.exists()
    assert read_meta(target)["step"] == 0
