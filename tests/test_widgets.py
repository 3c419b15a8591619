"""Tests for eqlab.widgets: drive the explorer without a browser, as a user's clicks would."""

import io

import pytest
import torch

pytest.importorskip("ipywidgets")

import ipywidgets as widgets  # noqa: E402

from eqlab.models import build  # noqa: E402
from eqlab.widgets import Explorer, explore, figure_png  # noqa: E402

PNG = b"\x89PNG"


@pytest.fixture(scope="module")
def explorer():
    torch.manual_seed(0)
    models = {"plain": build("dncnn", features=8, depth=3), "strict": build("dncnn_p4", fields=2, depth=4)}
    gen = torch.Generator().manual_seed(0)
    images = {"noise": torch.rand(1, 40, 40, generator=gen), "rgb": torch.rand(3, 30, 36, generator=gen)}
    return Explorer(models, images, size=24)


def test_smoke(explorer):
    assert isinstance(explorer.widget, widgets.VBox)
    assert bytes(explorer.panel.value).startswith(PNG) and bytes(explorer.bars.value).startswith(PNG)
    assert explorer.controls["layer"].options == ("head", "body.0.conv", "tail")
    assert explorer.x.shape == (1, 1, 24, 24)  # gray, square, at most `size`
    assert "plain" in explorer.status.value
    assert explorer.summary.startswith("plain · layer body.0.conv") and "<" not in explorer.summary  # plain text


def test_pictures_are_readable(explorer):
    from PIL import Image

    width, height = Image.open(io.BytesIO(bytes(explorer.bars.value))).size
    assert width >= 600 and height >= 300  # the default dpi draws a figure at a readable size


def test_changing_a_dropdown_updates_the_pictures(explorer):
    before, renders = bytes(explorer.panel.value), explorer.renders
    explorer.controls["model"].value = "strict"
    assert explorer.renders == renders + 1  # one redraw per change, not one per refreshed control
    assert bytes(explorer.panel.value) != before
    assert explorer.controls["layer"].options == ("head", "body.0.conv", "body.1.conv", "tail")
    assert "strict" in explorer.status.value and "e-0" in explorer.status.value  # ~1e-7: exact
    assert "<b>strict</b>" in explorer.status.value and explorer.summary.startswith("strict · ")

    explorer.controls["layer"].value = "body.1.conv"
    assert explorer.controls["field"].max == 1  # 2 fields of 4 channels
    before = bytes(explorer.panel.value)
    explorer.controls["field"].value = 1
    assert bytes(explorer.panel.value) != before and "field 1" in explorer.status.value

    before = bytes(explorer.panel.value)
    explorer.controls["element"].value = 2
    assert bytes(explorer.panel.value) != before and "rot 180°" in explorer.status.value


def test_changing_the_image_redraws_the_bars(explorer):
    bars = bytes(explorer.bars.value)
    explorer.controls["image"].value = "rgb"
    assert bytes(explorer.bars.value) != bars
    explorer.controls["image"].value = "noise"
    assert bytes(explorer.bars.value) == bars  # cached per image


def test_update_directly(explorer):
    renders = explorer.renders
    explorer.update()
    assert explorer.renders == renders + 1


def test_explore_returns_an_explorer():
    ex = explore({"plain": build("dncnn", features=4, depth=2)}, {"a": torch.rand(1, 16, 16)}, size=16)
    assert isinstance(ex, Explorer)


def test_exception():
    with pytest.raises(ValueError, match="models"):
        Explorer({}, {"a": torch.rand(1, 16, 16)})
    with pytest.raises(ValueError, match="images"):
        Explorer({"plain": build("dncnn", features=4, depth=2)}, {})
    with pytest.raises(TypeError, match="nn.Module"):
        Explorer({"plain": "not a model"}, {"a": torch.rand(1, 16, 16)})


def test_figure_png():
    from matplotlib.figure import Figure

    assert figure_png(Figure(figsize=(1, 1))).startswith(PNG)
