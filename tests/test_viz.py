"""Tests for eqlab.viz: every function returns a Figure with the expected panels, on CPU tensors."""

import io
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from matplotlib.figure import Figure

from eqlab import viz
from eqlab.data import GaussianBlur, MotionBlur
from eqlab.groups import C4, D4, pixel_shuffle, regular
from eqlab.metrics import equivariance_components, equivariance_error, error_vs_angle
from eqlab.models import build


def image_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.images]


def suptitle(fig: Figure) -> str:
    return fig._suptitle.get_text() if fig._suptitle is not None else ""


@pytest.fixture(scope="module")
def x():
    return torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    return {"plain": build("dncnn", features=8, depth=3), "strict": build("dncnn_p4", fields=2, depth=3)}


# -- rotation_panel ------------------------------------------------------------------------------------

def test_smoke_rotation_panel(nets, x):
    fig = viz.rotation_panel(nets["plain"], x, "C4", 1, "body.0.conv")
    assert isinstance(fig, Figure)
    assert len(image_axes(fig)) == 5 * 4 + 3  # 5 rows x 4 channels of a C4 field, x, g x, mean error
    assert "with $P_g$" in suptitle(fig)
    fig.savefig(io.BytesIO(), format="png")  # renders without pyplot


def test_rotation_panel_strict_twin_has_zero_error(nets, x):
    fig = viz.rotation_panel(nets["strict"], x, C4(), 1, "body.0.conv", field=1)
    with_shift = float(re.search(r"with \$P_g\$ ([0-9.e+-]+)", suptitle(fig)).group(1))
    without = float(re.search(r"without ([0-9.e+-]+)", suptitle(fig)).group(1))
    assert with_shift < 1e-5 < without


def test_exception_rotation_panel_unknown_layer(nets, x):
    with pytest.raises(ValueError, match="nope") as info:
        viz.rotation_panel(nets["plain"], x, "C4", 1, "nope")
    assert "body.0.conv" in str(info.value)  # lists the valid layers


def test_exception_rotation_panel_bad_field_and_shape(nets, x):
    with pytest.raises(ValueError, match="field"):
        viz.rotation_panel(nets["plain"], x, "C4", 1, "head", field=2)  # 8 channels = 2 fields of 4
    with pytest.raises(ValueError, match="square"):
        viz.rotation_panel(nets["plain"], torch.rand(1, 1, 16, 20), "C4", 1, "head")


def test_rotation_panel_field_sizes(x):
    srnet = build("srnet", features=8, depth=3)
    assert len(image_axes(viz.rotation_panel(srnet, x, "C4", 1, "upsampler"))) == 5 * 4 + 3  # pixel_shuffle(2)
    dncnn = build("dncnn", features=8, depth=3)
    assert len(image_axes(viz.rotation_panel(dncnn, x, D4(), 5, "head"))) == 5 * 8 + 3  # regular D4: 8
    fig = viz.rotation_panel(srnet, x, "C4", 1, "upsampler", rep=regular())
    assert "(regular)" in suptitle(fig)


def test_rotation_panel_linear_layer_and_training_flag():
    model = build("winattn").train()
    fig = viz.rotation_panel(model, torch.rand(1, 1, 16, 16), "C4", 1, "blocks.0.fc1", field=1)
    assert len(image_axes(fig)) == 5 * 4 + 3
    assert model.training  # restored after the eval-mode forward passes


# -- groups and representations ------------------------------------------------------------------------

def test_channel_shift_diagram():
    fig = viz.channel_shift_diagram("C4", ["regular", pixel_shuffle(2), "trivial"], 8)
    assert len(fig.axes) == 3
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts[:8] == [str(c) for c in range(8)]  # identity row
    assert texts[8:12] == ["3", "0", "1", "2"]  # rot 90: position c reads channel c - 1
    labels = [t.get_text() for t in fig.axes[1].child_axes[0].get_yticklabels()]
    assert labels[1] == "(0 2 3 1)"  # sub-pixels go round the 2x2 block
    assert len(viz.channel_shift_diagram(D4(), "regular", 16).axes) == 1


def test_exception_channel_shift_diagram():
    with pytest.raises(ValueError, match="divisible"):
        viz.channel_shift_diagram("C4", "regular", 6)
    with pytest.raises(ValueError, match="rep"):
        viz.channel_shift_diagram("C4", "spiral", 8)


def test_group_orbit_cayley_and_image_grid(x):
    assert len(image_axes(viz.group_orbit(x, "C8"))) == 8
    assert len(image_axes(viz.group_orbit(x[0], "C2"))) == 2
    assert len(image_axes(viz.cayley_table("D4"))) == 1
    fig = viz.image_grid([x, torch.rand(16, 16), torch.rand(3, 8, 8)], ["a", "b", "c"], colorbar=True)
    assert len(image_axes(fig)) == 3
    with pytest.raises(ValueError, match="image 0"):
        viz.image_grid([torch.rand(2, 8, 8)])


def test_feature_layers(nets):
    assert list(viz.feature_layers(nets["plain"])) == ["head", "body.0.conv", "tail"]
    assert viz.field_size(pixel_shuffle(2), C4(), 4) == 4
    assert viz.field_size(regular(), D4(), 16) == 8


# -- errors ---------------------------------------------------------------------------------------------

def test_layer_error_bars(nets, x):
    results = {arm: equivariance_error(net, x, "C4") for arm, net in nets.items()}
    fig = viz.layer_error_bars(results)
    assert len(fig.axes) == 3  # shift, none, best
    assert len(fig.legends) == 1 and not any(ax.get_legend() for ax in fig.axes)  # above the panels, not on bars
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["plain", "strict"]
    assert len(viz.layer_error_bars(results, kinds=["shift"]).axes) == 1
    components = {arm: equivariance_components(net, x, "C4") for arm, net in nets.items()}
    labels = [t.get_text() for t in viz.layer_error_bars(results, components=components).legends[0].get_texts()]
    assert all(" · oriented " in label and label.endswith(" %") for label in labels)  # which equivariance
    with pytest.raises(ValueError, match="kinds"):
        viz.layer_error_bars(results, kinds=["sideways"])
    with pytest.raises(ValueError, match="at least one"):
        viz.layer_error_bars({})


def test_error_vs_angle_plot(nets, x):
    rows = {arm: error_vs_angle(net, x, range(0, 361, 45)) for arm, net in nets.items()}
    fig = viz.error_vs_angle_plot(rows)
    assert len(fig.axes) == 1
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:2] == ["plain", "strict"] and labels[-1].startswith("floor")  # the models first
    assert len(viz.error_vs_angle_plot(rows["plain"]).axes) == 1


# -- training and restoration ---------------------------------------------------------------------------

def test_training_curves_from_fit():
    from eqlab.train import TrainConfig, fit

    config = TrainConfig.of(task="denoise", arm="eqreg", features=8, depth=3, steps=3, batch_size=2, patch_size=16,
                         val_size=32, val_every=0, share_every=1, log_every=1, device="cpu")
    result = fit(config, progress=False)
    fig = viz.training_curves(result)
    assert len(fig.axes) == 4
    assert all(ax.get_lines() for ax in fig.axes)  # loss, regularizer, share and PSNR were all recorded
    fig = viz.training_curves({"eqreg": result.history, "plain": [dict(step=1, task_loss=0.1)]})
    assert len(fig.axes) == 4


def test_training_curves_missing_keys():
    fig = viz.training_curves([dict(step=1, task_loss=0.1), dict(step=2, task_loss=0.05)])
    assert any("not recorded" in t.get_text() for ax in fig.axes for t in ax.texts)


def test_restoration_comparison(x):
    outputs = {"a": x.clamp(0, 1), "b": torch.rand(1, 1, 16, 16)}
    fig = viz.restoration_comparison(x, x + 0.1, outputs)
    assert len(fig.axes) == 2 * (2 + 2) + 1  # two rows of images, one colorbar
    assert "PSNR" in fig.axes[2].get_title() and "SSIM" in fig.axes[2].get_title()
    fig = viz.restoration_comparison(x, x[..., ::2, ::2], outputs)  # SR: a smaller input
    assert "stretched" in fig.axes[1].get_title()
    with pytest.raises(ValueError, match="shape"):
        viz.restoration_comparison(x, x, {"bad": torch.rand(1, 1, 8, 8)})


def test_degradation_symmetry(x):
    fig = viz.degradation_symmetry(MotionBlur(5, 30.0), "C4", torch.rand(1, 1, 24, 24))
    assert len(fig.axes) == 3 * 4 + 1 + 1  # 3 rows x 4 elements, the bars, the colorbar
    bars = fig.axes[-1] if fig.axes[-1].patches else fig.axes[-2]
    widths = [p.get_width() for p in bars.patches]
    assert widths[0] == 0 and widths[1] > 0.01  # quarter turns do not commute with an oblique blur
    fig = viz.degradation_symmetry(GaussianBlur(1.0), "C4", torch.rand(1, 24, 24))
    assert max(p.get_width() for ax in fig.axes for p in ax.patches) < 1e-5


def test_weight_tradeoff():
    rows = [dict(weight=0.0, psnr=29.0, layer_error=1.4), dict(weight=1e-4, psnr=28.5, layer_error=0.2),
            dict(weight=1e-3, psnr=27.3, layer_error=0.07, output_error=0.1)]
    fig = viz.weight_tradeoff(rows, reference={"plain": 29.1})
    assert len(fig.axes) == 2  # PSNR above, error below
    psnr_ax, error_ax = fig.axes
    assert error_ax.get_xscale() == "log" and error_ax.get_yscale() == "log"
    assert [t.get_text() for t in error_ax.get_xticklabels()][0].startswith("0")  # lambda = 0, left of the break
    assert not error_ax.get_legend() and not fig.legends  # every line is labelled in place
    assert any("plain 29.10 dB" in t.get_text() for t in psnr_ax.texts)
    assert "trade-off" not in psnr_ax.get_title()  # no input PSNR: the title names the panels only
    title = viz.weight_tradeoff(rows, input_psnr=20.2).axes[0].get_title()
    assert "read from the sweep: trade-off" in title
    collapsed = [dict(weight=0.0, psnr=29.04, layer_error=1.33), dict(weight=1.0, psnr=23.98, layer_error=1.25)]
    assert "read from the sweep: collapse" in viz.weight_tradeoff(collapsed, input_psnr=26.64).axes[0].get_title()
    with pytest.raises(ValueError, match="lacks"):
        viz.weight_tradeoff([dict(weight=1e-3, psnr=27.0)])
    with pytest.raises(ValueError, match="weight > 0"):
        viz.weight_tradeoff([dict(weight=0.0, psnr=27.0, layer_error=1.0)])


def test_weight_tradeoff_moves_close_labels_apart():
    rows = [dict(weight=w, psnr=24.5 + 0.01 * i, layer_error=1.0 / (i + 1)) for i, w in enumerate([0.0, 1e-3, 1e-2])]
    fig = viz.weight_tradeoff(rows, reference={"plain": 24.53, "blurred input": 24.58})  # three values within 0.1 dB
    heights = sorted(t.xyann[1] for t in fig.axes[0].texts)
    assert len(heights) == 3
    assert all(b - a >= 0.07 for a, b in zip(heights, heights[1:]))  # labels do not overlap
    fig.savefig(io.BytesIO(), format="png")


# -- no global state ------------------------------------------------------------------------------------

def test_viz_does_not_import_pyplot():
    code = "import sys, eqlab.viz; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_figures_from_threads(nets):
    model = nets["strict"].eval()  # one shared model, as in the app: threads must not see each other's features
    inputs = [torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(i)) for i in range(4)]

    def draw(x):
        fig = viz.rotation_panel(model, x, "C4", 1, "body.0.conv")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return float(re.search(r"with \$P_g\$ ([0-9.e+-]+)", suptitle(fig)).group(1)), len(buffer.getvalue())

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(draw, inputs))
    assert all(error < 1e-5 and size > 1000 for error, size in results)
    assert not model.training


# -- component_spectrum ----------------------------------------------------------------------------------

def test_component_spectrum(nets, x):
    from eqlab.metrics import equivariance_components

    rows = {name: equivariance_components(net, x, "C4") for name, net in nets.items()}
    pooled = viz.pool_components(rows["strict"], layer="body.0.conv")
    assert [p["component"] for p in pooled] == ["invariant", "frequency 1", "sign"]
    assert abs(sum(p["share"] for p in pooled) - 1) < 1e-6  # the shares of one layer add up to 1
    assert all(p["value"] < 1e-4 for p in pooled if p["energy"] > 0)  # the group CNN: every component exact
    fig = viz.component_spectrum(rows, layer="body.0.conv")
    assert isinstance(fig, Figure) and len(fig.axes) == 3  # energy shares, errors, the words
    words = fig.axes[2].texts[0].get_text()
    assert "strict: orientation-carrying energy" in words and "plain:" in words
    assert "body.0.conv" in suptitle(fig)
    with pytest.raises(ValueError, match="no component rows"):
        viz.component_spectrum(rows, layer="no.such.layer")
