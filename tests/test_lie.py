"""``eqlab.metrics.lie``: the Lie-derivative estimate of equivariance to small rotations."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from eqlab.data import GaussianBlur, center_crop, load_image
from eqlab.data.kernels import gaussian_kernel
from eqlab.metrics import LIE_STEP_DEG, lie_derivative
from eqlab.models import build


@pytest.fixture(scope="module")
def photo():
    return center_crop(load_image("camera", max_side=128), 64)[None]  # (1, 1, 64, 64)


def _isotropic_conv(in_channels, out_channels, generator):
    """A conv whose every kernel is a random mix of isotropic Gaussians: it commutes with every rotation."""
    conv = nn.Conv2d(in_channels, out_channels, 9, padding=4)
    bank = torch.stack([F.pad(gaussian_kernel(s), [(9 - gaussian_kernel(s).shape[-1]) // 2] * 4)
                        for s in (0.8, 1.0, 1.3)])  # (3, 9, 9)
    with torch.no_grad():
        conv.weight.copy_(torch.einsum("oik,khw->oihw", torch.randn(out_channels, in_channels, 3,
                                                                    generator=generator), bank))
    return conv


class _Derivative(nn.Module):
    """The central difference along the columns: ``(B, 1, H, W) -> (B, 1, H, W)``."""

    def forward(self, x):
        return F.conv2d(x, torch.tensor([[[[-0.5, 0.0, 0.5]]]], dtype=x.dtype), padding=(0, 1))


def test_smoke(photo):
    rows = lie_derivative(build("dncnn", features=8, depth=3), photo)
    assert [r["layer"] for r in rows][-1] == "output" and len(rows) > 1
    assert all(r["value"] >= 0 and r["floor"] == rows[0]["floor"] for r in rows)


def test_exception(photo):
    with pytest.raises(ValueError, match="square"):
        lie_derivative(nn.Identity(), torch.rand(1, 1, 16, 24), layers=[])
    with pytest.raises(ValueError, match="step_deg"):
        lie_derivative(nn.Identity(), photo, layers=[], step_deg=0)
    with pytest.raises(ValueError, match="margin"):
        lie_derivative(nn.Identity(), photo, layers=[], margin=0.5)


def test_isotropic_blur_reads_its_floor(photo):
    blur = nn.Conv2d(1, 1, 7, padding=3, bias=False)
    with torch.no_grad():
        blur.weight.copy_(gaussian_kernel(1.0)[None, None])  # zero padding: the disk keeps the border out
    (row,) = lie_derivative(blur, photo, layers=[])
    assert row["value"] < 2 * row["floor"] < 0.05


def test_strict_net_reads_zero_to_the_floor(photo):
    """A net of isotropic kernels and ReLUs commutes with every rotation: it reads at its floor."""
    generator = torch.Generator().manual_seed(0)
    net = nn.Sequential(_isotropic_conv(1, 8, generator), nn.ReLU(), _isotropic_conv(8, 8, generator), nn.ReLU(),
                        _isotropic_conv(8, 1, generator))
    rows = lie_derivative(net, photo)
    assert all(r["value"] < 3 * r["floor"] < 0.05 for r in rows), rows


def test_random_cnn_reads_order_one(photo):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(8, 1, 3, padding=1))
    rows = lie_derivative(net, photo)
    assert rows[-1]["layer"] == "output" and 0.3 < rows[-1]["value"] < 30
    assert all(r["value"] > 20 * r["floor"] for r in rows)


def test_against_a_hand_computed_derivative():
    """Turning the derivative along the columns by t adds t times the derivative along the rows (continuum):
    its Lie derivative is the row derivative, so the relative value is ``‖∂_rows x‖ / ‖∂_cols x‖``."""
    x = GaussianBlur(2.0)(center_crop(load_image("camera", max_side=256), 96)[None])  # smooth: finite differences hold
    (row,) = lie_derivative(_Derivative(), x, layers=[])
    d_cols, d_rows = _Derivative()(x), _Derivative()(x.transpose(-2, -1)).transpose(-2, -1)
    r = torch.arange(96.0) - 47.5
    disk = ((r[:, None] ** 2 + r[None] ** 2) <= (0.375 * 96) ** 2).float()
    centred = d_cols - (d_cols * disk).sum() / disk.sum()
    expected = float((d_rows * disk).norm() / (centred * disk).norm())
    assert row["value"] == pytest.approx(expected, rel=0.05)


def test_the_step_is_small_and_the_estimate_converges(photo):
    torch.manual_seed(0)
    net = build("dncnn", features=8, depth=3)
    values = [[r["value"] for r in lie_derivative(net, photo, step_deg=h)] for h in (LIE_STEP_DEG, LIE_STEP_DEG / 10)]
    assert values[1] == pytest.approx(values[0], rel=0.02)  # a ReLU net too: its activation pattern holds
