"""The Gradio app (eqlab.app), driven through gradio_client like a remote user.

Most tests use one app launched per module on a free local port with untrained nets
(``models="random"``: nothing to load). ``test_every_layer_of_every_zoo_net`` serves the shipped zoo
and explores every layer of every net for every arm. Every endpoint is called; every bad input must
leave the server answering the next call, with a readable message.
"""

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

gr = pytest.importorskip("gradio")
client_mod = pytest.importorskip("gradio_client")
from conftest import free_port, running_app  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from PIL import Image  # noqa: E402

import eqlab.app as app  # noqa: E402
from eqlab.arms import ARM_NAMES  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

TRAIN = dict(task="denoise", arm="eqreg", start="scratch", group="C4", mode="fixed λ", weight=1e-3, share=0.3,
             steps=10, seed=0, net="task's net", color="gray")


@pytest.fixture(scope="module")
def served():
    with running_app() as (url, demo):
        yield url, demo


@pytest.fixture(scope="module")
def server(served):
    return served[0]


@pytest.fixture(scope="module")
def client(server):
    return Client(server, verbose=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The bad and odd inputs of the issue, written once."""
    d = tmp_path_factory.mktemp("uploads")
    ramp = np.linspace(0, 255, 64, dtype=np.uint8)
    Image.fromarray(np.full((1, 1), 128, np.uint8)).save(d / "tiny.png")
    big = np.add.outer(np.linspace(0, 200, 4000), np.linspace(0, 55, 6000)).astype(np.uint8)
    Image.fromarray(big).convert("RGB").save(d / "big.jpg", quality=70)
    rgba = np.dstack([np.tile(ramp, (64, 1))] * 3 + [np.tile(ramp[:, None], (1, 64))])
    Image.fromarray(rgba, "RGBA").save(d / "rgba.png")
    Image.fromarray(np.tile(np.linspace(0, 65535, 80).astype(np.uint16), (80, 1))).save(d / "deep16.png")
    Image.fromarray(np.dstack([np.tile(ramp, (64, 1)), np.zeros((64, 64), np.uint8), np.tile(ramp[:, None], (1, 64))])
                    ).save(d / "colour.png")
    (d / "notes.png").write_text("this is not an image, only a renamed text file\n")
    return {name.split(".")[0]: str(d / name)
            for name in ("tiny.png", "big.jpg", "rgba.png", "deep16.png", "colour.png", "notes.png")}


def explore(client, upload=None, api="/explore", **kw):
    args = dict(task="denoise", arm="eqreg", sample="camera", upload=handle_file(upload) if upload else None,
                group="C4", element=1, layer="body.0.conv", channel=0)
    args.update(kw)
    return client.predict(*args.values(), api_name=api)


def train(client, submit=False, **kw):
    args = dict(TRAIN, **kw)
    return (client.submit if submit else client.predict)(*args.values(), api_name="/train")


def _image(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def _data(chart: dict) -> list[list]:
    """The rows of a chart, whether the server sent the plot or an update of it (with its colours)."""
    return chart["value"]["data"] if "value" in chart else chart["data"]


def _records(chart: dict) -> list[dict]:
    """The rows of a chart as dicts, by column name."""
    plot = chart.get("value", chart)
    return [dict(zip(plot["columns"], row)) for row in plot["data"]]


def _rows(table: dict) -> list[dict]:
    return [dict(zip(table["headers"], row)) for row in table["data"]]


# -- every endpoint ------------------------------------------------------------------------------------

def test_api_lists_every_event(client):
    endpoints = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert {"/explore", "/explore_panel", "/explore_charts", "/explore_controls", "/explore_figure", "/restore",
            "/restore_controls", "/restore_show", "/train", "/cancel_training", "/clear_runs", "/learn_rotate",
            "/learn_channels", "/learn_grid", "/learn_diagram"} <= endpoints


@pytest.mark.parametrize("group, element, channel", [("C4", 1, 6), ("C8", 1, 0), ("D4", 5, 9)])
def test_explore(client, group, element, channel):
    strip, panel, layers, angles, status = explore(client, group=group, element=element, channel=channel)
    for picture in (strip, panel):
        image = _image(picture)
        assert image.ndim == 3 and image.shape[2] == 3 and image.shape[1] > 500
    rows = _records(layers)
    arms = {row["arm"] for row in rows}
    assert set(ARM_NAMES) <= arms
    per_arm = {arm: sum(row["arm"] == arm for row in rows) for arm in arms}
    assert len(set(per_arm.values())) == 1 and min(per_arm.values()) >= 3  # every layer of every arm
    assert all(0 <= row["error"] <= 2 for row in rows)  # the relative error lies in [0, 2]
    assert all(0 <= row["oriented"] <= 1 and row["verdict"] for row in rows if row["oriented"] == row["oriented"])
    series = {row["series"] for row in _records(angles)}
    assert "interpolation floor" in series and "strict" in series
    assert "representation of" in status and "Relative error of the whole layer with P_g" in status
    assert "**Verdict" in status and "orientation-carrying energy" in status  # the field's components
    assert f"channel {channel}:" in status
    if group == "C8":
        assert "interpolation" in status


def test_strict_is_exact_and_the_panel_says_why(client):
    _, _, status, = explore(client, api="/explore_panel", arm="strict", element=2, layer="tail")
    assert "with P_g **0.000**" in status and "image-valued" in status
    _, _, status = explore(client, api="/explore_panel", arm="strict", group="D4", element=4, layer="head")
    assert "no D4 representation" in status and "compared as plain maps" in status
    layers, *_ = client.predict("denoise", "camera", None, "C4", api_name="/explore_charts")
    strict = [row for row in _records(layers) if row["arm"] == "strict"]
    assert len(strict) >= 3 and max(row["error"] for row in strict) < 1e-4  # the P4 twin is exactly equivariant


def test_explore_controls_label_layers_with_their_representation(client):
    elements, layer, channel = client.predict("sr", "plain", "camera", None, "C8", 1, "nope", 0,
                                              api_name="/explore_controls")
    names = [choice[1] for choice in layer["choices"]]
    assert layer["value"] in names  # an unknown layer falls back to one the net has
    assert all(" · " in label for label, _ in layer["choices"])  # "name · representation"
    assert [c[1] for c in elements["choices"]] == list(range(1, 8)) and channel["maximum"] >= 1
    _, layer, _ = client.predict("sr", "plain", "camera", None, "C4", 1, None, 0, api_name="/explore_controls")
    labels = {name: label for label, name in layer["choices"]}
    assert "pixel_shuffle" in labels["upsampler"] and "output image" in labels["upsampler"]
    _, _, status = explore(client, api="/explore_panel", task="sr", arm="plain", layer="upsampler")
    assert "sub-pixels" in status and "fields of" not in status


def test_a_failed_choice_never_sticks(client):
    """The issue's sequence: tail on deblur, then another task: the status follows the new task."""
    for arm in ("plain", "augment", "eqreg"):
        for task in ("denoise", "deblur"):
            _, _, status = explore(client, api="/explore_panel", task=task, arm=arm, layer="tail")
            assert status.startswith(f"**{task} · {arm}**") and "layer `tail`" in status and "⚠️" not in status
    _, _, status = explore(client, api="/explore_panel", task="denoise", arm="eqreg", layer="down.0.conv1")
    assert status.startswith("**denoise · eqreg**") and "is not in this net" in status  # a deblur layer


def _blind_net(wobble: float = 0.002):
    """A hand-built orientation-blind net: every conv the same constant (isotropic) filter, no biases, plus a small
    random ``wobble``: the channels of a field are nearly equal, so the layer's error is small because it carries
    (almost) no orientation, as in a net that met the penalty that way. ``wobble=0``: exactly equivariant."""
    from eqlab.models import build

    model = build("dncnn", features=8, depth=3).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.weight.fill_(1.0 / module.weight[0].numel())
                module.weight.add_(wobble * torch.randn(module.weight.shape, generator=generator))
                if module.bias is not None:
                    module.bias.zero_()
    return model


def test_verdicts_come_from_the_metrics_and_say_blind(served):
    """Issue 20: no view calls an orientation-blind layer equivariant without saying it is blind; issue 22: the words
    come from eqlab.metrics.verdict, and a group the net was not trained for says so."""
    from eqlab.app.bank import Loaded
    from eqlab.app.explore import explore_view, resolve
    from eqlab.metrics import verdict

    app_ = served[1].eqlab
    loaded = Loaded(_blind_net(), "yours", "yours (blind)", ("test", "blind"), "C4")
    session = {"mine": {"denoise": {"loaded": loaded, "label": "blind"}}}
    view = explore_view(app_, resolve(app_, "denoise", "yours", "camera", None, "C4", 1, "body.0.conv", session), 0)
    assert 1e-4 < view.numbers["with_shift"] < 0.3  # a small error, not round-off ...
    assert "Verdict: orientation-blind" in view.status and "orientation-carrying energy 0 %," in view.status
    assert "exactly equivariant" not in view.status  # ... never called equivariant
    exact = Loaded(_blind_net(wobble=0.0), "yours", "yours (exact)", ("test", "exact"), "C4")
    other = explore_view(app_, resolve(app_, "denoise", "yours", "camera", None, "C4", 1, "body.0.conv",
                                       {"mine": {"denoise": {"loaded": exact, "label": "exact"}}}), 0)
    assert "Verdict: exactly equivariant" in other.status and "blind" not in other.status  # issue 27: not blind
    for task in ("denoise", "sr", "deblur"):  # issue 27: no strict layer is called blind
        other = explore_view(app_, resolve(app_, task, "strict", "camera", None, "C4", 1, "head"), 0)
        assert "Verdict: exactly equivariant" in other.status and "blind" not in other.status, other.status
    assert "trained for C4" in view.status and "not trained for" not in view.status
    view = explore_view(app_, resolve(app_, "denoise", "yours", "camera", None, "D4", 5, "body.0.conv", session), 0)
    assert "trained for **C4**, not D4" in view.status and "which this net was not trained for" in view.status
    for task in ("denoise", "sr"):  # an untrained net: every number has its word from the same thresholds
        view = explore_view(app_, resolve(app_, task, "augment", "camera", None, "C4", 1, "head"), 0)
        assert verdict(view.numbers["channel"]) in view.status or "a channel of a blind layer" in view.status
        assert "**Verdict: " in view.status and "1.41 = √2 = unrelated" not in view.status


def test_group_change_keeps_the_rotation(served):
    """C4's rot 180° becomes C8's element 4 and D4's element 2, not "element 2" of the new group."""
    from eqlab.app.explore import same_element
    from eqlab.app.handlers import make_handlers
    from eqlab.groups import get_group

    c4, c8, d4 = (get_group(name) for name in ("C4", "C8", "D4"))
    assert same_element(c4, 2, c8) == 4 and same_element(c8, 4, d4) == 2 and same_element(d4, 6, c4) == 1
    on, session = make_handlers(served[1].eqlab), {}
    assert on.explore_ui("denoise", "eqreg", "camera", None, "C4", 2, None, 0, session)[0].value == 2
    element, *_, status, _, _, _, _ = on.explore_ui("denoise", "eqreg", "camera", None, "C8", 2, None, 0, session)
    assert element.value == 4 and "g = rot 180°" in status
    args = ("deblur", "eqreg", "camera", None, "D4", 1, None, 0, {})  # issue 22: a sign that the charts are coming
    assert "Computing the charts" in on.explore_ui_charts(*args)[-1]
    on.explore_charts_event(*args)
    assert on.explore_ui_charts(*args)[-1] == gr.update()  # cached: no sign, the charts answer at once


def test_sr_layer_chart_has_one_tick_per_position(client):
    """SR's plain and strict nets differ in their last layers: one x label per position, naming both."""
    layers, *_ = client.predict("sr", "camera", None, "C4", api_name="/explore_charts")
    rows = _records(layers)
    positions: dict[str, set] = {}
    for row in rows:
        positions.setdefault(row["layer"], set()).add(row["position"])
    assert all(len(p) == 1 for p in positions.values())
    assert len(positions) == len({row["position"] for row in rows})  # no two labels at one position
    assert any(" / " in label for label in positions)  # e.g. "08 upsampler / tail"
    assert set(layers["color_map"]) == {row["arm"] for row in rows}


def test_page_defaults(served):
    """The Train tab's target share is the kit's default; the Restore table has its headers before a run."""
    from eqlab.app.handlers import TABLE_COLUMNS
    from eqlab.train import TrainConfig

    blocks = list(served[1].blocks.values())
    share = next(b for b in blocks if isinstance(b, gr.Number) and str(b.label).startswith("target gradient share"))
    assert share.value == TrainConfig().target_share == 0.1
    table = next(b for b in blocks if getattr(b, "elem_id", None) == "restore-table")
    assert table.value["headers"] == TABLE_COLUMNS


def test_page_layout_of_issue_27(served, monkeypatch):
    """Issue 27: the notice on the missing extra net comes below Explore's controls; both explore charts share one
    HTML legend (their own is hidden: it drops what does not fit in one row); before a run the Train legend says
    what the empty charts will show; the Learn tab defines the vocabulary once, from eqlab.metrics.words."""
    from eqlab.app import text
    from eqlab.app.charts import NO_RUNS
    from eqlab.metrics.words import VOCABULARY

    demo = served[1]
    blocks = list(demo.blocks.values())
    by_id = {b.elem_id: b for b in blocks if getattr(b, "elem_id", None)}
    if demo.eqlab.bank.extra_absent:
        notice = by_id["explore-absent"]
        column = notice.parent.children
        full = next(b for b in column if isinstance(b, gr.Button) and "Full figure" in b.value)
        assert column.index(notice) > column.index(full) == max(column.index(b) for b in column if b is not notice)
    assert by_id["explore-layers"].colors_in_legend == by_id["explore-angles"].colors_in_legend == []
    legend = by_id["explore-legend"].value
    for series in ("plain", "augment", "eqreg", "strict", "interpolation floor"):
        assert f"</span> {series}</span>" in legend
    assert by_id["train-legend"].value == NO_RUNS and "press <b>Train</b>" in NO_RUNS
    vocabulary = next(b for b in blocks if isinstance(b, gr.Markdown) and text.VOCABULARY in str(b.value))
    assert vocabulary.parent.label.startswith("The words eqlab uses")
    assert all(f"**{word}**" in text.VOCABULARY for word in VOCABULARY)
    markdowns = [str(b.value) for b in blocks if isinstance(b, gr.Markdown)]
    assert sum(text.VOCABULARY in m for m in markdowns) == 1  # defined once


def test_controls_say_what_they_do(tmp_path, files):
    """Issue 27: the λ controls are active only for an arm with a penalty; the Image dropdown says when an upload
    is shown instead; "Slider shows: yours" before any training says that it shows eqreg."""
    from eqlab.app.restore import restore_views
    from eqlab.app.state import App
    from eqlab.app.tabs import RestoreTab, TrainTab
    from eqlab.app.tabs.common import IMAGE_LABELS, sample_label
    from eqlab.arms import ARMS

    for arm, spec in ARMS.items():
        mode, share, weight = TrainTab.penalty_controls(arm)
        assert mode.interactive is share.interactive is weight.interactive is spec.penalized
        assert ("has no EQ-Reg penalty" in str(weight.info)) is not spec.penalized
    assert sample_label(None)["label"] == IMAGE_LABELS[0] == "Image"
    assert "upload is shown" in sample_label(files["tiny"])["label"]
    state = App("random", str(tmp_path))
    try:
        restore = RestoreTab(state)
        *_, session, _ = restore.compute("denoise", 25, "camera", None, "90°", {})
        yours, strict = restore.restore_show_ui("yours", session), restore.restore_show_ui("strict", session)
        assert restore.restore_show("yours", session) == restore_views(session, "eqreg")  # the API: the pair
        assert "after: eqreg" in yours.label and "“yours” has no model yet" in yours.label
        assert yours.value is not None and "after: strict" in strict.label and "yours" not in strict.label
    finally:
        state.close()


def test_full_figure_shows_the_same_numbers(served):
    """Quick panel and eqlab.viz figure: the same image, layer, field and numbers."""
    from eqlab.app.explore import explore_figure, explore_view, resolve

    demo = served[1]
    args = ("denoise", "augment", "coins", None, "C4", 1, "body.1.conv", 5)
    resolved = resolve(demo.eqlab, *args[:-1])
    view, figure = explore_view(demo.eqlab, resolved, 5), explore_figure(demo.eqlab, resolved, 5)
    title = figure._suptitle.get_text()
    assert "'body.1.conv'" in title and "field 1" in title
    assert f"with $P_g$ {view.numbers['with_shift']:.3g}" in title
    assert f"this field: {view.numbers['field']:.3g}" in title
    result = Client(served[0], verbose=False).predict(*args, api_name="/explore_figure")
    assert result["type"] == "matplotlib" and len(result["plot"]) > 1000


def test_restore_and_slider(client):
    slider, maps, table, status = client.predict("denoise", 25, "camera", None, "90°", "eqreg", api_name="/restore")
    before, after = (_image(p) for p in slider)
    assert before.shape == after.shape == (256, 256, 3)
    assert _image(maps).shape[1] > 600
    rows = _rows(table)
    assert [r["arm"] for r in rows] == ["noisy input", "plain", "augment", "eqreg", "strict"]
    assert all(10 < r["PSNR (dB)"] < 60 and 0 < r["SSIM"] <= 1 for r in rows)
    strict = rows[-1]
    assert abs(strict["Δ PSNR"]) < 1e-3 and 0 < strict["output error e"] < 1e-4  # exact: round-off, not 0
    assert "f(g·x) equals g·f(x)" in status
    from eqlab.metrics import words  # issue 27: the comparison beside the table is made from the table's numbers

    errors = {r["arm"]: r["output error e"] for r in rows[1:]}
    assert "strict: output error" in status and "exactly equivariant" in status
    ratio = words.compare_errors(errors["eqreg"], errors["plain"])
    assert f"eqreg: output error {errors['eqreg']:.3g}, {ratio} plain ({errors['plain']:.3g})" in status
    shown = client.predict("strict", api_name="/restore_show")
    assert _image(shown[1]).shape == (256, 256, 3)


@pytest.mark.parametrize("task, strength", [("sr", 5), ("deblur", 9)])
def test_restore_other_tasks(client, task, strength):
    slider, maps, table, status = client.predict(task, strength, "rocket", None, "180°", "plain", api_name="/restore")
    assert _image(slider[1]).shape[:2] == _image(slider[0]).shape[:2]
    assert len(_rows(table)) == 5
    strength = client.predict(task, api_name="/restore_controls")  # a slider update for this task
    assert strength["value"] == app.STRENGTH[task][1]["value"]
    assert strength["maximum"] == app.STRENGTH[task][1]["maximum"]
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


# -- training: per-session result, fine-tuning, overlays, cancel ---------------------------------------

def test_train_then_use_it(server):
    me, other = Client(server, verbose=False), Client(server, verbose=False)
    job = train(me, submit=True)
    updates = list(job)  # every yield of the generator: live curves while it runs
    loss, reg, weight, share, psnr, layer, legend, status, token = job.result(timeout=300)
    assert len(updates) >= 2 and len(token) >= 16 and "Done" in status and "yours" in status
    assert "against the starting net" in status and "(start " in status  # the change, not only the end value
    assert "#1 eqreg" in legend and "input (degraded)" in legend  # the runs' legend explains every colour
    assert set(psnr["color_map"]) == {row[2] for row in _data(psnr)}  # one colour per series, sent with the data
    assert len(_data(loss)) >= 10 and len(_data(reg)) >= 10 and len(_data(share)) >= 2
    runs = {row[2] for row in _data(psnr)}
    assert "input (degraded)" in runs and len(runs) == 2  # the net's validations and the degraded input's
    _, _, mine = me.predict("denoise", "yours", "camera", None, "C4", 1, "head", 0, api_name="/explore_panel")
    assert "yours (#1 eqreg λ 0.001" in mine
    _, _, theirs = other.predict("denoise", "yours", "camera", None, "C4", 1, "head", 0, api_name="/explore_panel")
    assert "not trained a model" in theirs  # another session has trained nothing
    _, _, table, _ = me.predict("denoise", 25, "camera", None, "90°", "yours", api_name="/restore")
    assert any(r["arm"].startswith("yours") for r in _rows(table))


def test_fine_tuning_lowers_the_layer_error_and_runs_overlay(server):
    """Start from the zoo's augment net, switch EQ-Reg on (a target share): R and the layer error fall."""
    me = Client(server, verbose=False)
    train(me, steps=10, arm="plain", weight=0)  # a first run: stays on the charts
    loss, reg, weight, share, psnr, layer, _, status, _ = train(me, start="zoo augment", mode="target share",
                                                                share=0.3, steps=60)
    assert "Done" in status and "from zoo augment" in status
    assert len({row[2] for row in _data(loss)}) == 2  # both runs of this session are overlaid
    mine = [row for row in _data(layer) if "from zoo augment" in row[2]]
    assert mine[-1][1] < mine[0][1] - 0.1, mine  # the validation layer error falls
    r = [row[1] for row in _data(reg) if "from zoo augment" in row[2]]
    assert np.mean(r[-10:]) < np.mean(r[:10]), r  # and so does R
    assert len({row[1] for row in _data(weight) if "from zoo augment" in row[2]}) > 1  # λ adapts to the share
    empty = me.predict(api_name="/clear_runs")
    assert all(chart is None or chart.get("value", 0) is None or len(_data(chart)) == 0 for chart in empty[:6])
    from eqlab.app.charts import NO_RUNS

    assert empty[6] == NO_RUNS  # and the legend says what the empty charts will show


def test_equivariant_start_begins_equivariant(server):
    """The Train tab's equivariant start: the run's first validation reads a layer error near 0 (a group CNN)."""
    me = Client(server, verbose=False)
    *_, layer, _, status, _ = train(me, start="scratch, equivariant", steps=10)
    assert "Done" in status and "from scratch, equivariant" in status
    first = [row for row in _data(layer) if "from scratch, equivariant" in row[2]][0]
    assert first[0] == 0 and first[1] < 1e-3, first  # step 0: every regularized layer exactly equivariant


def test_colour_run_trains_a_colour_net(server):
    """Colour rgb: a 3-channel net trained on colour images; it becomes this session's arm yours."""
    me = Client(server, verbose=False)
    *_, legend, status, _ = train(me, arm="plain", weight=0, color="rgb")
    assert "Done" in status and "#1 plain rgb" in legend
    _, _, table, restore_status = me.predict("denoise", 25, "camera", None, "90°", "yours", api_name="/restore")
    assert any(r["arm"].startswith("yours") for r in _rows(table))


def test_cancel_stops_training(served):
    url, demo = served
    me = Client(url, verbose=False)
    job = train(me, submit=True, arm="plain", weight=0, steps=app.STEPS_CPU)
    deadline = time.time() + 120
    while time.time() < deadline and not demo.eqlab.trainings.running():
        time.sleep(0.2)
    time.sleep(3.0)
    while not job.outputs():  # the first update carries the run's token
        time.sleep(0.2)
    token = job.outputs()[-1][-1]
    other = Client(url, verbose=False)  # any other client: the session hash plays no part, only the token
    for guess in ("", "x" * 22):
        assert other.predict(guess, api_name="/cancel_training") == "No training was running."
        assert not demo.eqlab.trainings.stop(guess)
    assert demo.eqlab.trainings.running() == 1  # still running
    assert "Cancelling" in me.predict(token, api_name="/cancel_training")
    loss, reg, weight, share, psnr, layer, _, status, _ = job.result(timeout=120)
    assert "stopped at step" in status and demo.eqlab.trainings.running() == 0
    assert len([row for row in _data(psnr) if row[2].startswith("#")]) >= 2  # the start's and the stop's validation
    assert me.predict(token, api_name="/cancel_training") == "No training was running."


# -- bad input: a readable message, and the server keeps serving -----------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("tiny", "at least 32 px"),
    ("notes", "could not read"),
    ("big", "downscaled from 6000×4000"),
    ("rgba", "composited over white"),
    ("deep16", "16-bit image"),
    ("colour", "converted to gray"),
])
def test_bad_and_odd_uploads(client, files, name, expected):
    _, panel, status = explore(client, upload=files[name], api="/explore_panel")
    assert expected in status
    assert _image(panel).shape[2] == 3
    if name in ("tiny", "notes"):
        assert "your upload was not used" in status
        slider, *_, restore_status = client.predict("denoise", 25, "camera", handle_file(files[name]), "90°",
                                                    "eqreg", api_name="/restore")
        assert expected in restore_status
    _, _, status = explore(client, api="/explore_panel", layer="head")
    assert status.startswith("**denoise · eqreg**") and "⚠️" not in status  # and the next call is fine


@pytest.mark.parametrize("changes, expected", [
    (dict(steps=100000), "maximum"),
    (dict(steps=3), "minimum"),
    (dict(weight=5.0), "between 0 and 1"),
    (dict(weight=-1e-3), "between 0 and 1"),
    (dict(weight="lots"), "must be a number"),
    (dict(mode="target share", share=50), "target gradient share"),
    (dict(arm="strict", start="zoo augment"), "same architecture"),
    (dict(arm="strict", start="scratch, equivariant"), "same architecture"),  # a group CNN is equivariant already
    (dict(start="scratch, equivariant", group="C8"), "acts exactly"),
    (dict(group="C7"), "not in the list of choices"),  # gradio checks a radio button's value itself
    (dict(color="rgb", start="zoo augment"), "the zoo's nets are gray"),
])
def test_train_rejects_out_of_range(client, changes, expected):
    with pytest.raises(AppError, match=expected):
        train(client, **changes)
    assert _image(client.predict(90, "camera", api_name="/learn_rotate")[0]).ndim == 3


def test_bad_controls_fall_back(server):
    client = Client(server, verbose=False)
    strip, panel, layers, angles, status = explore(client, element=7, layer="no.such.layer", channel=40)
    assert "not a rotation of C4" in status and "not in this net" in status and "does not exist" in status
    with pytest.raises(AppError, match="not in the list of choices"):  # gradio checks a radio button itself
        explore(client, arm="nope")
    with pytest.raises(AppError, match="maximum"):
        client.predict("denoise", 1000, "camera", None, "90°", "eqreg", api_name="/restore")
    assert "**denoise · eqreg**" in explore(client, api="/explore_panel")[2]


# -- the shipped zoo: every layer of every net, for every arm --------------------------------------------

@pytest.mark.slow
def test_every_layer_of_every_zoo_net():
    """Through the client for C4; D4 and C8 (every layer too) by direct calls, which skip HTTP and PNG copies."""
    from eqlab import zoo
    from eqlab.app.explore import explore_controls, explore_view, resolve

    if len(zoo.available()) < 12:
        pytest.skip(f"the zoo is incomplete (being rebuilt?): {zoo.available()}")

    def check(status, task, arm, name):
        assert status.startswith(f"**{task} · {arm}**") and f"layer `{name}`" in status, status
        warnings = [line for line in status.split("\n\n") if line.startswith("⚠️")]
        assert all("This net was trained" in line for line in warnings), status  # D4, C8: not its group
        assert "is not in this net" not in status, status

    with running_app("auto") as (url, demo):
        client = Client(url, verbose=False)
        seen = 0
        for task in app.TASKS:
            for arm in ARM_NAMES:
                _, layers, _ = client.predict(task, arm, "camera", None, "C4", 1, None, 0,
                                              api_name="/explore_controls")
                for _, name in layers["choices"]:
                    strip, panel, status = client.predict(task, arm, "camera", None, "C4", 1, name, 0,
                                                          api_name="/explore_panel")
                    check(status, task, arm, name)
                    assert _image(strip).ndim == 3 and _image(panel).ndim == 3
                    seen += 1
                for group in ("D4", "C8"):
                    _, choices, _, _ = explore_controls(resolve(demo.eqlab, task, arm, "camera", None, group, 1, None))
                    for _, name in choices:
                        resolved = resolve(demo.eqlab, task, arm, "camera", None, group, 1, name)
                        check(explore_view(demo.eqlab, resolved, 0).status, task,
                              arm, name)
        assert seen >= 3 * 4 * 8


# -- direct calls (no server) ----------------------------------------------------------------------------

def test_extra_zoo_nets_join_the_arms(tmp_path, monkeypatch):
    """A zoo net beside the four arms (the lead's ``<task>/eqreg-relative``) is offered and compared, by name from
    ``eqlab.zoo.available()``: nothing in the app names it."""
    import shutil

    from eqlab import zoo
    from eqlab.app.charts import explore_charts
    from eqlab.app.explore import explore_view, resolve

    if not all(f"denoise/{arm}" in zoo.available() for arm in ARM_NAMES):
        pytest.skip(f"the zoo is incomplete (being rebuilt?): {zoo.available()}")
    (tmp_path / "zoo" / "denoise").mkdir(parents=True)
    for arm, copy in [(a, a) for a in ARM_NAMES] + [("eqreg", "eqreg-extra")]:
        for suffix in (".safetensors", ".json"):
            shutil.copy(zoo.ROOT / "denoise" / f"{arm}{suffix}", tmp_path / "zoo" / "denoise" / f"{copy}{suffix}")
    monkeypatch.setattr(zoo, "ROOT", tmp_path / "zoo")
    extra = app.App("auto", tmp_path / "cache")
    try:
        assert extra.arms() == [*ARM_NAMES, "eqreg-extra", "yours"]
        view = explore_view(extra, resolve(extra, "denoise", "eqreg-extra", "camera", None, "C4", 1, "body.0.conv"), 0)
        assert view.status.startswith("**denoise · eqreg-extra**") and "trained for C4" in view.status
        layer_rows, _, component_rows, _ = explore_charts(extra, "denoise", "camera", None, "C4")
        assert {row["arm"] for row in layer_rows} == set(ARM_NAMES) | {"eqreg-extra"}
        assert {row["arm"] for row in component_rows} == set(ARM_NAMES) | {"eqreg-extra"}
    finally:
        extra.close()


def test_gray_image_for_an_rgb_model(files):
    x, notes, _ = app.load_working_image(None, files["deep16"], channels=3)
    assert x.shape[1] == 3 and any("converted to RGB" in n for n in notes)
    x, notes, _ = app.load_working_image(None, files["colour"], channels=1)
    assert x.shape[1] == 1 and any("converted to gray" in n for n in notes)


def test_restore_in_colour_only_with_a_colour_net(tmp_path):
    """Gray nets restore a colour image's luma and say so; with a colour net of yours, the picture is RGB."""
    from eqlab.app.bank import Loaded
    from eqlab.app.restore import restore_update
    from eqlab.models import build

    state = app.App("random", cache_dir=tmp_path)
    _, table, status, _ = restore_update(state, "denoise", 25, "astronaut", None, "90°")
    assert "no net of this task is" in status and len(table) == 1 + len(ARM_NAMES)
    torch.manual_seed(0)
    mine = Loaded(build("dncnn", channels=3, features=8, depth=3).eval(), "yours", "yours", ("mine", "rgb"))
    session = {"mine": {"denoise": {"loaded": mine}}}
    maps, table, status, session = restore_update(state, "denoise", 25, "astronaut", None, "90°", session)
    assert "no net of this task is" not in status and "yours" in session["restore"]["arms"]
    yours, plain = (_image(session["restore"]["outputs"][arm]) for arm in ("yours", "plain"))
    assert (yours[..., 0] != yours[..., 1]).any() and (plain[..., 0] == plain[..., 1]).all()  # colour, gray shown
    assert len(table) == 2 + len(ARM_NAMES)


def test_working_image_caps(files):
    x, notes, _ = app.load_working_image(None, files["rgba"])  # 64 px: kept, not upscaled
    assert x.shape[-2:] == (64, 64) and any("white" in n for n in notes)
    with pytest.raises(app.InputError, match="at least"):
        app.load_working_image(None, files["tiny"])
    x, notes, _ = app.load_working_image("gravel", None)
    assert x.shape == (1, 1, 256, 256) and notes == []
    x, _, _ = app.load_working_image("gravel", None, side=app.EXPLORE_SIDE)
    assert x.shape == (1, 1, 128, 128) and isinstance(x, torch.Tensor)


def test_first_use_training_is_cached(tmp_path, monkeypatch):
    """Without the zoo, a net is trained once on first use, saved, and loaded from the cache next time."""
    monkeypatch.setattr(app.bank, "QUICK_STEPS", 2)  # the first-use budget lives in eqlab.app.bank
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


def test_apps_share_no_state(tmp_path):
    """Caches, stop flags and locks belong to each App; the app's modules hold none."""
    import importlib
    import inspect
    import pkgutil

    import eqlab.app as package

    first, second = app.App("random", tmp_path), app.App("random", tmp_path)
    assert first.views is not second.views and first.trainings is not second.trainings
    from eqlab.app.explore import explore_view, resolve

    explore_view(first, resolve(first, "denoise", "plain", "camera", None, "C4", 1, None), 0)
    assert len(first.views) == 1 and len(second.views) == 0
    stateful = (dict, list, set, threading.Event, type(threading.Lock()), type(threading.RLock()))
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"eqlab.app.{info.name}")
        for attr, value in vars(module).items():
            if attr.startswith("__") or inspect.ismodule(value) or not isinstance(value, stateful):
                continue
            assert attr.isupper(), f"eqlab.app.{info.name}.{attr} is module-level state"  # constants only
    first.close()
    second.close()


def test_cache_computes_a_missing_entry_once():
    from eqlab.app.cache import Cache

    cache, calls = Cache(4), []

    def make():
        calls.append(1)
        time.sleep(0.2)
        return "value"

    threads = [threading.Thread(target=cache.get_or_make, args=("key", make)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1] and cache.get("key") == "value"
    for i in range(6):
        cache.put(i, i)
    assert len(cache) == 4 and cache.get("key") is None  # least recently used out first


def test_import_without_gradio_says_what_to_install():
    done = subprocess.run([sys.executable, "-c", "import sys; sys.modules['gradio'] = None; import eqlab.app"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "ModuleNotFoundError" in done.stderr and "needs the package 'gradio'" in done.stderr
    assert 'pip install -e ".[app]"' in done.stderr


# -- offline, per-user, bounded, cleaned --------------------------------------------------------------------

def test_a_url_upload_is_never_fetched(client):
    url_upload = {"path": "https://example.com/picture.png", "meta": {"_type": "gradio.FileData"}}
    with pytest.raises(AppError, match="does not fetch URLs"):
        client.predict("denoise", "eqreg", "camera", url_upload, "C4", 1, "head", 0, api_name="/explore_panel")
    with pytest.raises(AppError, match="does not fetch URLs"):
        client.predict("denoise", 25, "camera", url_upload, "90°", "eqreg", api_name="/restore")
    assert "**denoise · eqreg**" in explore(client, api="/explore_panel")[2]  # and the server goes on


def test_explore_and_restore_events_are_bounded(served):
    _, demo = served
    from eqlab.app.settings import REQUEST_SLOTS

    limits = {fn.api_name: fn.concurrency_limit for fn in demo.fns.values() if fn.api_name}
    for name in ("explore", "explore_panel", "explore_charts", "explore_controls", "restore"):
        assert limits[name] == REQUEST_SLOTS, (name, limits[name])


def test_an_upload_of_36_megapixels_is_decoded_small(tmp_path):
    """A 16-bit RGBA PNG of 6000² (36 MP, under the cap): decoded reduced, never 16 bytes a pixel as float."""
    import tracemalloc

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from upload_memory import write_png16_rgba

    png = tmp_path / "big16.png"
    write_png16_rgba(png, 6000)
    tracemalloc.start()
    x, notes, _ = app.load_working_image(None, str(png), channels=1)
    _, peak = tracemalloc.get_traced_memory()  # numpy's and Python's allocations (Pillow's own are not traced)
    tracemalloc.stop()
    assert x.shape == (1, 1, 256, 256) and any("downscaled from 6000×6000" in n for n in notes)
    assert peak < 200e6, peak  # a full float32 RGBA decode alone would be 576 MB


def test_the_app_launches_and_answers_with_no_outbound_lookup(tmp_path):
    """Every getaddrinfo and connect of a launch and a request, traced: only this machine is asked."""
    script = textwrap.dedent(f"""
        import sys
        hosts = []
        def audit(event, args):
            if event in ("socket.getaddrinfo", "socket.connect"):
                target = args[0] if event == "socket.getaddrinfo" else args[1]
                hosts.append(str(target[0] if isinstance(target, tuple) else target))
        sys.addaudithook(audit)
        import eqlab.app as app
        from conftest import free_port
        demo = app.build_app(models="random", cache_dir={str(tmp_path)!r})
        port = free_port()
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                    **app.launch_kwargs())
        import urllib.request
        urllib.request.urlopen(f"http://127.0.0.1:{{port}}/config", timeout=30).read()
        import time
        time.sleep(2.0)  # a version check or analytics thread would have started by now
        demo.close()
        print("HOSTS", sorted(set(hosts)))
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    env.pop("GRADIO_ANALYTICS_ENABLED", None)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env,
                         cwd=ROOT)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("HOSTS")), None)
    assert line is not None, out.stderr[-2000:]
    hosts = eval(line[len("HOSTS "):])  # noqa: S307 - our own printed list
    assert hosts and set(hosts) <= {"127.0.0.1", "localhost", "::1"}, hosts


def test_sigterm_removes_the_servers_folders(tmp_path):
    from eqlab.app.guard import PREFIX

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "eqlab", "demo", "--models", "random", "--port", str(port),
                               "--cache-dir", str(tmp_path / "cache")], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=5).read(10)
                break
            except OSError:
                time.sleep(0.5)
        folders = list(Path(tempfile.gettempdir()).glob(f"{PREFIX}{server.pid}-*"))
        assert {f.name.split("-")[3] for f in folders} == {"uploads", "files"}, folders
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    assert not [f for f in folders if f.exists()]


def test_remove_old_and_remove_stale(tmp_path):
    from eqlab.app.guard import PREFIX, remove_old, remove_stale

    old, new = tmp_path / "up" / "a" / "old.png", tmp_path / "up" / "b" / "new.png"
    for path in (old, new):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert remove_old(tmp_path / "up", max_age_s=3600) == 1
    assert not old.exists() and not old.parent.exists() and new.exists()
    dead = tmp_path / f"{PREFIX}999999999-uploads-x"  # no such process
    mine = tmp_path / f"{PREFIX}{os.getpid()}-files-x"
    for folder in (dead, mine):
        folder.mkdir()
    assert remove_stale(tmp_path) == [dead] and mine.exists()


def test_nan_strength_and_angle_fall_back_with_a_note(served):
    """NaN through Restore's strength and Learn's angle once gave "Rotated by nan°, error nan"."""
    from eqlab.app.learn import learn_grid, learn_rotate
    from eqlab.app.restore import restore_update

    _, demo = served
    _, text = learn_rotate(demo.eqlab, float("nan"))
    assert "nan" not in text and "**90°**" in text
    _, _, grid_text = learn_grid(demo.eqlab, float("inf"))
    assert "nan" not in grid_text
    _, table, status, _ = restore_update(demo.eqlab, "denoise", float("nan"), "camera", None, "90°", {})
    assert "not a finite number" in status and all(row["psnr"] == row["psnr"] for row in table)


def test_the_train_status_says_what_the_run_did():
    """Issue 27: the default Train run (eqreg from the zoo's augment) lowered PSNR 28.99 -> 28.07 with no word."""
    from eqlab.app.training import against_start

    start = [dict(step=0, val_psnr=28.99, val_layer_error=0.80)]
    text = against_start(start, dict(psnr=28.07, baseline_psnr=20.3, layer_error=0.78))
    assert "against the starting net: a cost with nothing bought" in text and "0.92 dB below" in text
    text = against_start(start, dict(psnr=28.07, baseline_psnr=20.3, layer_error=0.30))
    assert "against the starting net: a trade-off: layer error 0.800 → 0.300" in text
    text = against_start(start, dict(psnr=20.35, baseline_psnr=20.3, layer_error=0.05))
    assert "collapsed: from 28.99 dB to 20.35 dB" in text and "a collapse, not a trade" in text
    scratch = against_start([dict(step=0, val_psnr=12.0, val_layer_error=1.3)],
                            dict(psnr=20.4, baseline_psnr=20.3, layer_error=1.2))
    assert "stalled" in scratch and "against the starting net:" not in scratch  # a random start restored nothing


def test_any_group_of_eqlab_groups_is_offered_and_explored(tmp_path):
    """The Explore and Train tabs offer every group that eqlab.groups names (C6 and D6 included, written nowhere in
    the app); an interpolated element says so whatever its parity (C6's rot 180° is exact, its rot 120° is not)."""
    from eqlab.app.explore import element_choices, explore_controls, explore_view, resolve
    from eqlab.app.state import App
    from eqlab.groups import GROUP_NAMES, get_group

    assert set(app.GROUPS) | {"C2"} == set(GROUP_NAMES) and set(app.settings.TRAIN_GROUPS) == set(GROUP_NAMES)
    labels = {e: text for text, e in element_choices(get_group("C6"))}
    assert "interpolated" in labels[2] and "interpolated" not in labels[3]
    state = App("random", str(tmp_path))
    try:
        for name in ("C6", "D6"):
            elements, layers, _, _ = explore_controls(resolve(state, "denoise", "eqreg", "camera", None, name, 1, None))
            assert len(elements) == get_group(name).order - 1
            view = explore_view(state, resolve(state, "denoise", "eqreg", "camera", None, name, 2, layers[0][1]), 0)
            assert f"of {name})" in view.status and "not a symmetry of the pixel grid" in view.status
    finally:
        state.close()


def test_each_tab_is_one_module_whose_events_run_without_a_server(tmp_path, files):
    """The tabs' event functions, called directly: what the page and the API get, and the refusal of an upload
    read from the picture's flag in both tabs that take one (not from the message's words)."""
    from eqlab.app.handlers import make_handlers
    from eqlab.app.state import App
    from eqlab.app.tabs import ExploreTab, LearnTab, RestoreTab, TrainTab
    from eqlab.app.ui import TABS

    assert (ExploreTab, RestoreTab, TrainTab, LearnTab) == TABS
    state = App("random", str(tmp_path))
    try:
        restore = RestoreTab(state)
        assert restore.restore_controls("deblur").value == 9 and restore.restore_controls("nope").value == 25
        with pytest.raises(app.InputError, match="Restore"):
            restore.restore_show("eqreg", {})
        for upload, refused in ((None, False), (files["tiny"], True)):
            *_, status, session, was_refused = restore.compute("denoise", 25, "camera", upload, "90°", {})
            assert was_refused == refused and ("your upload was not used" in status) == refused
            view = ExploreTab(state).explore_ui("denoise", "plain", "camera", upload, "C4", 1, None, 0, {})
            assert (view[6] is None) == refused  # the page clears a refused upload
        train = TrainTab(state)
        assert train.train_controls("plain").value == "scratch" and train.train_controls("eqreg").value == "zoo augment"
        assert len(train.clear_runs({})) == 9
        with pytest.raises(app.InputError, match="steps"):
            train.train_check("denoise", "eqreg", "scratch", "C4", "fixed λ", 1e-3, 0.1, 1, 0, "task's net")
        image, curve, words = LearnTab(state).learn_grid(45)
        assert image.endswith(".png") and len(curve) > 10 and "45" in words
        figure, answer = LearnTab(state).learn_regimes()  # the regime map's answer, word for word the page's
        from eqlab import zoo
        from eqlab.metrics.words import regime_answer

        assert answer.startswith(regime_answer(zoo.regimes()["cells"])) and len(figure.axes) == 3
        on = make_handlers(state)
        assert {"explore_ui", "explore_charts", "restore", "train", "learn_diagram", "learn_regimes"} <= set(vars(on))
    finally:
        state.close()
