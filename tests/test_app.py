"""The Gradio app (eqlab.app), driven through gradio_client like a remote user.

The app is launched once per module on a free local port with untrained nets (``models="random"``:
no training on first use). Every API endpoint is called; every bad input of the app's issue must
leave the server answering the next call, with a readable message.
"""

import threading
import time

import numpy as np
import pytest
import torch

gr = pytest.importorskip("gradio")
client_mod = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from PIL import Image  # noqa: E402

import eqlab.app as app  # noqa: E402
from conftest import running_app  # noqa: E402


@pytest.fixture(scope="module")
def server():
    with running_app() as url:
        yield url


@pytest.fixture(scope="module")
def client(server):
    return Client(server, verbose=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The bad and odd inputs of the issue, written once."""
    d = tmp_path_factory.mktemp("uploads")
    ramp = np.linspace(0, 255, 64, dtype=np.uint8)
    paths = {}
    Image.fromarray(np.full((1, 1), 128, np.uint8)).save(d / "tiny.png")
    big = np.add.outer(np.linspace(0, 200, 4000), np.linspace(0, 55, 6000)).astype(np.uint8)
    Image.fromarray(big).convert("RGB").save(d / "big.jpg", quality=70)
    rgba = np.dstack([np.tile(ramp, (64, 1))] * 3 + [np.tile(ramp[:, None], (1, 64))])
    Image.fromarray(rgba, "RGBA").save(d / "rgba.png")
    Image.fromarray(np.tile(np.linspace(0, 65535, 80).astype(np.uint16), (80, 1))).save(d / "deep16.png")
    Image.fromarray(np.dstack([np.tile(ramp, (64, 1)), np.zeros((64, 64), np.uint8), np.tile(ramp[:, None], (1, 64))])
                    ).save(d / "colour.png")
    (d / "notes.png").write_text("this is not an image, only a renamed text file\n")
    for name in ("tiny.png", "big.jpg", "rgba.png", "deep16.png", "colour.png", "notes.png"):
        paths[name.split(".")[0]] = str(d / name)
    return paths


def explore(client, upload=None, **kw):
    args = dict(task="denoise", arm="eqreg", sample="camera", upload=handle_file(upload) if upload else None,
                group="C4", element=1, layer="body.0.conv", field=0)
    args.update(kw)
    return client.predict(*args.values(), api_name="/explore")


def _image(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def _rows(table: dict) -> list[dict]:
    return [dict(zip(table["headers"], row)) for row in table["data"]]


# -- every endpoint ------------------------------------------------------------------------------------

def test_api_lists_every_event(client):
    endpoints = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert {"/explore", "/explore_panel", "/explore_charts", "/explore_controls", "/explore_figure", "/restore", "/restore_controls", "/restore_show",
            "/train", "/cancel_training", "/learn_rotate", "/learn_channels", "/learn_grid",
            "/learn_diagram"} <= endpoints


@pytest.mark.parametrize("group, element, field", [("C4", 1, 2), ("C8", 1, 0)])
def test_explore(client, group, element, field):
    panel, layers, angles, status = explore(client, group=group, element=element, field=field)
    image = _image(panel)
    assert image.ndim == 3 and image.shape[2] == 3 and image.shape[0] > 400 and image.shape[1] > 600
    arms = {row[4] for row in layers["data"]}
    assert {"plain", "augment", "eqreg", "strict"} <= arms
    per_arm = {arm: sum(row[4] == arm for row in layers["data"]) for arm in arms}
    assert len(set(per_arm.values())) == 1 and min(per_arm.values()) >= 3  # every layer of every arm
    series = {row[2] for row in angles["data"]}
    assert "interpolation floor" in series and "strict" in series
    assert "fields of" in status and "error with P_g" in status
    if group == "C8":
        assert "interpolation" in status


def test_explore_halves(client):
    """The UI calls the panel (every knob) and the cached charts (task, image, group) separately."""
    panel, status = client.predict("denoise", "strict", "camera", None, "C4", 2, "tail", 0, api_name="/explore_panel")
    assert _image(panel).ndim == 3 and "strict" in status and "with P_g **0.000**" in status
    panel, status = client.predict("denoise", "augment", "camera", None, "D4", 5, "head", 1, api_name="/explore_panel")
    assert "g = flip, rot 90° of D4" in status
    layers, angles = client.predict("denoise", "camera", None, "C4", api_name="/explore_charts")
    strict = [row for row in layers["data"] if row[4] == "strict"]
    assert len(strict) >= 3 and max(row[2] for row in strict) < 1e-4  # the P4 twin is exactly equivariant


def test_explore_strict_under_d4_says_why(client):
    *_, status = explore(client, arm="strict", group="D4", element=4)
    assert "no D4 representation" in status


def test_explore_controls(client):
    elements, layer, field = client.predict("sr", "strict", "C8", "nope", 0, api_name="/explore_controls")
    assert layer["value"] in [choice[1] for choice in layer["choices"]]  # an unknown layer falls back to one
    assert [c[1] for c in elements["choices"]] == list(range(1, 8)) and field["maximum"] >= 1
    panel, status = client.predict("sr", "plain", "chelsea", None, "C4", 1, "upsampler", 0, api_name="/explore_panel")
    assert _image(panel).shape[2] == 3 and "pixel_shuffle" in status or "upsampler" in status


def test_explore_figure(client):
    result = client.predict("denoise", "plain", "coins", None, "C4", 1, "head", 0, api_name="/explore_figure")
    assert result["type"] == "matplotlib" and len(result["plot"]) > 1000


def test_restore_and_slider(client):
    slider, maps, table, status = client.predict("denoise", 25, "camera", None, "90°", "eqreg", api_name="/restore")
    before, after = (_image(p) for p in slider)
    assert before.shape == after.shape == (256, 256, 3)
    assert _image(maps).shape[1] > 800
    rows = _rows(table)
    assert [r["arm"] for r in rows] == ["noisy input", "plain", "augment", "eqreg", "strict"]
    assert all(10 < r["PSNR (dB)"] < 60 and 0 < r["SSIM"] <= 1 for r in rows)
    strict = rows[-1]
    assert abs(strict["Δ PSNR"]) < 1e-3 and strict["output equivariance error"] < 1e-4  # exactly equivariant
    shown = client.predict("strict", api_name="/restore_show")
    assert _image(shown[1]).shape == (256, 256, 3)


@pytest.mark.parametrize("task, strength", [("sr", 5), ("deblur", 9)])
def test_restore_other_tasks(client, task, strength):
    slider, maps, table, status = client.predict(task, strength, "rocket", None, "180°", "plain", api_name="/restore")
    assert _image(slider[1]).shape[:2] == _image(slider[0]).shape[:2]
    assert len(_rows(table)) == 5
    strength = client.predict(task, api_name="/restore_controls")  # a slider update for this task
    assert strength["value"] == app.STRENGTH[task][1]["value"] and strength["maximum"] == app.STRENGTH[task][1]["maximum"]
    client.predict("denoise", api_name="/restore_controls")  # the session's slider range follows: put it back


def test_learn(client):
    image, text = client.predict(45, "coins", api_name="/learn_rotate")
    assert _image(image).shape[2] == 3 and "error" in text
    image, text = client.predict(2, "camera", api_name="/learn_channels")
    assert _image(image).shape[2] == 3 and "c − 2" in text
    image, curve, text = client.predict(30, api_name="/learn_grid")
    assert _image(image).shape[2] == 3 and len(curve["data"]) > 10
    _, _, text90 = client.predict(90, api_name="/learn_grid")
    assert "**0.000**" in text90  # a quarter turn is exact
    figure = client.predict(api_name="/learn_diagram")
    assert figure["type"] == "matplotlib"


# -- training: per-session result, cancel -------------------------------------------------------------

def test_train_then_use_it(server):
    me, other = Client(server, verbose=False), Client(server, verbose=False)
    job = me.submit("denoise", "eqreg", 1e-3, 10, 0, api_name="/train")
    updates = list(job)  # every yield of the generator: live curves while it runs
    loss, reg, share, psnr, status = job.result(timeout=300)
    assert len(updates) >= 2
    assert "Done" in status and "yours" in status
    assert len(loss["data"]) >= 10 and len(reg["data"]) >= 10 and len(share["data"]) >= 2 and len(psnr["data"]) >= 2
    panel, mine = me.predict("denoise", "yours", "camera", None, "C4", 1, "head", 0, api_name="/explore_panel")
    assert "yours (eqreg, λ = 0.001, 10 steps" in mine
    _, theirs = other.predict("denoise", "yours", "camera", None, "C4", 1, "head", 0, api_name="/explore_panel")
    assert "not trained a model" in theirs  # another session has trained nothing
    _, _, table, _ = me.predict("denoise", 25, "camera", None, "90°", "yours", api_name="/restore")
    assert any(r["arm"].startswith("yours") for r in _rows(table))


def test_cancel_stops_training(server):
    me = Client(server, verbose=False)
    job = me.submit("denoise", "plain", 0, app.STEPS_CAP, 0, api_name="/train")
    deadline = time.time() + 120
    while time.time() < deadline and not any(t.name.startswith("eqlab-train") for t in threading.enumerate()):
        time.sleep(0.2)
    time.sleep(1.0)
    message = me.predict(api_name="/cancel_training")
    assert "cancelled" in message
    deadline = time.time() + 60
    while time.time() < deadline and any(t.name.startswith("eqlab-train") for t in threading.enumerate()):
        time.sleep(0.2)
    assert not any(t.name.startswith("eqlab-train") for t in threading.enumerate()), "fit() did not stop"
    deadline = time.time() + 15
    while time.time() < deadline and not job.done():
        time.sleep(0.2)
    assert job.done()
    assert me.predict(api_name="/cancel_training") == "No training was running."


# -- bad input: a readable message, and the server keeps serving -----------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("tiny", "at least 32 px"),
    ("notes", "could not read"),
    ("big", "downscaled from 6000×4000"),
    ("rgba", "composited over white"),
    ("deep16", "16-bit"),
    ("colour", "converted to gray"),
])
def test_bad_uploads(client, files, name, expected):
    panel, status = client.predict("denoise", "eqreg", "camera", handle_file(files[name]), "C4", 1, "head", 0,
                                   api_name="/explore_panel")
    assert expected in status
    assert _image(panel).shape[2] == 3
    if name in ("tiny", "notes", "colour"):  # the Restore tab reads uploads the same way
        slider, *_, restore_status = client.predict("denoise", 25, "camera", handle_file(files[name]), "90°",
                                                    "eqreg", api_name="/restore")
        assert expected in restore_status
    _, status = client.predict("denoise", "eqreg", "camera", None, "C4", 1, "head", 0, api_name="/explore_panel")
    assert status.startswith("**denoise · eqreg**") and "⚠️" not in status  # and the next call is fine


@pytest.mark.parametrize("weight, steps, expected", [
    (1e-3, 100000, "maximum"),
    (1e-3, 3, "minimum"),
    (5.0, 10, "between 0 and 1"),
    (-1e-3, 10, "between 0 and 1"),
    ("lots", 10, "must be a number"),
])
def test_train_rejects_out_of_range(client, weight, steps, expected):
    with pytest.raises(AppError, match=expected):
        client.predict("denoise", "eqreg", weight, steps, 0, api_name="/train")
    assert _image(client.predict(90, "camera", api_name="/learn_rotate")[0]).ndim == 3


def test_bad_controls_fall_back(server):
    client = Client(server, verbose=False)  # a fresh session: the field slider still allows 0 ... 63
    panel, layers, angles, status = explore(client, element=7, layer="no.such.layer", field=40)
    assert "not a rotation of C4" in status and "not in this net" in status and "does not exist" in status
    with pytest.raises(AppError, match="maximum"):
        client.predict("denoise", 1000, "camera", None, "90°", "eqreg", api_name="/restore")


# -- direct calls (no server) ----------------------------------------------------------------------------

def test_gray_image_for_an_rgb_model(files):
    x, notes, _ = app.load_working_image(None, files["deep16"], channels=3)
    assert x.shape[1] == 3 and any("converted to RGB" in n for n in notes)
    x, notes, _ = app.load_working_image(None, files["colour"], channels=1)
    assert x.shape[1] == 1 and any("converted to gray" in n for n in notes)


def test_working_image_caps(files):
    x, notes, _ = app.load_working_image(None, files["rgba"])  # 64 px: kept, not upscaled
    assert x.shape[-2:] == (64, 64) and any("white" in n for n in notes)
    with pytest.raises(app.InputError, match="at least"):
        app.load_working_image(None, files["tiny"])
    x, notes, _ = app.load_working_image("gravel", None)
    assert x.shape == (1, 1, 256, 256) and notes == []
    assert isinstance(x, torch.Tensor)


def test_first_use_training_is_cached(tmp_path, monkeypatch):
    """Without the zoo, a net is trained once on first use, saved, and loaded from the cache next time."""
    monkeypatch.setattr(app.models, "QUICK_STEPS", 2)  # the first-use budget lives in eqlab.app.models
    bank = app.ModelBank("quick", cache_dir=tmp_path)
    calls = []
    loaded = bank.get("sr", "plain", progress=lambda *a, **k: calls.append(k.get("desc", "")))
    assert loaded.source == "trained on first use" and not loaded.model.training
    assert any("first use" in c for c in calls)
    (saved,) = tmp_path.glob("sr-plain-*.safetensors")
    again = app.ModelBank("quick", cache_dir=tmp_path).get("sr", "plain")
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(again.model(x), loaded.model(x))
    assert "trained" in bank.describe()
