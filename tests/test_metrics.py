"""PSNR / SSIM against scikit-image; equivariance errors: ~0 for a strict net, order 1 for a plain CNN."""

import numpy as np
import pytest
import torch
import torch.nn as nn
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from eqlab.groups import C4, C8, Regular, Trivial
from eqlab.layers import GroupBatchNorm2d, GroupConv2d, GroupToImageConv2d, LiftingConv2d
from eqlab.metrics import (
    equivariance_error,
    equivariance_error_map,
    error_vs_angle,
    mean_layer_error,
    output_equivariance_error,
    psnr,
    rgb_to_y,
    ssim,
)


class StrictNet(nn.Sequential):
    def __init__(self):
        torch.manual_seed(0)
        super().__init__(LiftingConv2d(1, 4), GroupBatchNorm2d(4), nn.ReLU(inplace=True),
                         GroupConv2d(4, 4), nn.ReLU(inplace=True), GroupToImageConv2d(4, 1))

    def equivariance_reps(self, group):
        return {"0": Regular(), "3": Regular(), "5": Trivial()}


def plain_cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(16, 16, 3, padding=1),
                         nn.ReLU(inplace=True), nn.Conv2d(16, 1, 3, padding=1))


X = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))


def test_psnr_matches_skimage():
    y = torch.rand(2, 1, 16, 16)
    x = (y + 0.05 * torch.randn(y.shape)).clamp(0, 1)
    expected = np.mean([peak_signal_noise_ratio(b[0].numpy(), a[0].numpy(), data_range=1.0) for a, b in zip(x, y)])
    assert psnr(x, y) == pytest.approx(expected, rel=1e-5)
    assert psnr(x, y, reduction="none").shape == (2,)


def test_ssim_matches_skimage_on_the_y_channel():
    y = torch.rand(1, 3, 32, 32)
    x = (y + 0.05 * torch.randn(y.shape)).clamp(0, 1)
    ya, xa = rgb_to_y(y)[0, 0].numpy(), rgb_to_y(x)[0, 0].numpy()
    expected = structural_similarity(xa, ya, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False)
    assert ssim(x, y) == pytest.approx(expected, rel=1e-6)
    assert ssim(y, y) == pytest.approx(1.0)
    assert psnr(x, y, crop_border=4) != psnr(x, y)


# -- the reference: BasicSR's calculate_psnr / calculate_ssim ----------------------------------------
# Transcribed from XPixelGroup/BasicSR, basicsr/metrics/psnr_ssim.py and metric_util.py (to_y_channel,
# bgr2ycbcr): HWC BGR images on the [0, 255] scale; crop first, then the BT.601 Y channel in float32
# as BasicSR makes it, then float64. cv2.filter2D(...)[5:-5, 5:-5] is a 'valid' correlation with the
# 11 x 11 window (scipy here, so the tests need no OpenCV).

def _basicsr_to_y_channel(img):
    img = img.astype(np.float32) / 255.0
    if img.ndim == 3 and img.shape[2] == 3:
        luma = np.dot(img, [24.966, 128.553, 65.481]) + 16.0  # bgr2ycbcr(y_only=True): [0, 1] -> [16, 235]
        img = (luma / 255.0).astype(np.float32)[..., None]
    return img * 255.0


def _basicsr_prepare(img, img2, crop_border, test_y_channel):
    if crop_border != 0:
        img = img[crop_border:-crop_border, crop_border:-crop_border, ...]
        img2 = img2[crop_border:-crop_border, crop_border:-crop_border, ...]
    if test_y_channel:
        img, img2 = _basicsr_to_y_channel(img), _basicsr_to_y_channel(img2)
    return img.astype(np.float64), img2.astype(np.float64)


def basicsr_calculate_psnr(img, img2, crop_border, test_y_channel=False):
    img, img2 = _basicsr_prepare(img, img2, crop_border, test_y_channel)
    mse = np.mean((img - img2) ** 2)
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 * 255.0 / mse)


def _basicsr_ssim(img, img2):
    from scipy.signal import correlate2d

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    kernel = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))  # cv2.getGaussianKernel(11, 1.5)
    window = np.outer(kernel / kernel.sum(), kernel / kernel.sum())

    def valid(a):
        return correlate2d(a, window, mode="valid")

    mu1, mu2 = valid(img), valid(img2)
    sigma1_sq, sigma2_sq = valid(img**2) - mu1**2, valid(img2**2) - mu2**2
    sigma12 = valid(img * img2) - mu1 * mu2
    ssim_map = ((2 * mu1 * mu2 + c1) * (2 * sigma12 + c2)) / ((mu1**2 + mu2**2 + c1) * (sigma1_sq + sigma2_sq + c2))
    return ssim_map.mean()


def basicsr_calculate_ssim(img, img2, crop_border, test_y_channel=False):
    img, img2 = _basicsr_prepare(img, img2, crop_border, test_y_channel)
    return np.mean([_basicsr_ssim(img[..., i], img2[..., i]) for i in range(img.shape[2])])


def _pair(quantized: bool, size=(41, 38)):
    """An RGB reference and a noisy restoration, as float tensors in [0, 1] (optionally on the 8-bit grid)."""
    generator = torch.Generator().manual_seed(3)
    y = torch.rand(1, 3, *size, generator=generator)
    x = (y + 0.04 * torch.randn(y.shape, generator=generator)).clamp(0, 1)
    if quantized:  # what an SR evaluation scores: PNG files and outputs rounded to uint8
        x, y = (x * 255).round() / 255, (y * 255).round() / 255
    return x, y


def _bgr255(t: torch.Tensor, quantized: bool) -> np.ndarray:
    array = t[0].permute(1, 2, 0).numpy()[..., ::-1] * 255.0  # (H, W, 3) BGR, as cv2 reads it
    return array.round().astype(np.uint8) if quantized else array.astype(np.float64)


@pytest.mark.parametrize("quantized", [True, False])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_y_channel_psnr_ssim_match_basicsr(quantized, scale):
    x, y = _pair(quantized)
    a, b = _bgr255(x, quantized), _bgr255(y, quantized)
    expected_psnr = basicsr_calculate_psnr(a, b, crop_border=scale, test_y_channel=True)
    expected_ssim = basicsr_calculate_ssim(a, b, crop_border=scale, test_y_channel=True)
    assert psnr(x, y, crop_border=scale) == pytest.approx(expected_psnr, abs=1e-3)  # y_channel=True is the default
    assert ssim(x, y, crop_border=scale) == pytest.approx(expected_ssim, abs=1e-4)
    rgb_psnr = basicsr_calculate_psnr(a, b, crop_border=scale, test_y_channel=False)
    assert psnr(x, y, crop_border=scale, y_channel=False) == pytest.approx(rgb_psnr, abs=1e-3)
    rgb_ssim = basicsr_calculate_ssim(a, b, crop_border=scale, test_y_channel=False)
    assert ssim(x, y, crop_border=scale, y_channel=False) == pytest.approx(rgb_ssim, abs=1e-4)
    assert abs(expected_psnr - rgb_psnr) > 0.1  # the two protocols differ: the test tells them apart


def test_y_channel_of_gray_images_is_the_image():
    x, y = _pair(True)
    x, y = x[:, :1], y[:, :1]
    a, b = x[0].permute(1, 2, 0).numpy() * 255.0, y[0].permute(1, 2, 0).numpy() * 255.0
    assert psnr(x, y, crop_border=2) == pytest.approx(basicsr_calculate_psnr(a, b, 2, test_y_channel=True), abs=1e-3)
    assert ssim(x, y, crop_border=2) == pytest.approx(basicsr_calculate_ssim(a, b, 2, test_y_channel=True), abs=1e-4)


def test_strict_net_has_zero_error_plain_cnn_order_one():
    rows = equivariance_error(StrictNet(), X, C4())
    assert {r["kind"] for r in rows} == {"shift", "none", "best"}
    assert len(rows) == 3 * 3 * 3  # layers x elements x kinds
    assert mean_layer_error(rows, "shift") < 1e-5
    assert mean_layer_error(rows, "none") > 0.1  # the channel shift is needed
    assert max(output_equivariance_error(StrictNet(), X, C4()).values()) < 1e-5
    plain = equivariance_error(plain_cnn(), X, C4())
    assert 0.3 < mean_layer_error(plain, "shift") < 2.0
    assert max(output_equivariance_error(plain_cnn(), X, C4()).values()) > 0.1
    for shift, best in zip([r for r in plain if r["kind"] == "shift"], [r for r in plain if r["kind"] == "best"]):
        assert best["value"] <= shift["value"] + 1e-7


def test_c8_floor_is_not_hidden():
    errors = output_equivariance_error(StrictNet(), X, C8())
    assert errors[2] < 1e-5 and errors[4] < 1e-5  # multiples of 90 degrees: exact
    assert errors[1] > 1e-3  # 45 degrees: interpolation, even for a strictly C4-equivariant net


def test_error_vs_angle():
    rows = error_vs_angle(StrictNet(), X, [0, 30, 90, 180, 225])
    by_angle = {r["angle_deg"]: r for r in rows}
    assert by_angle[90]["value"] < 1e-5 and by_angle[180]["floor"] < 1e-6  # exact turns: round-off only
    assert by_angle[30]["value"] > 1e-3 and by_angle[30]["floor"] > 0


def test_error_map():
    m = equivariance_error_map(StrictNet(), X, C4(), 1, layer="3")
    assert m.shape == (2, 1, 16, 16) and m.max() < 1e-5
    m = equivariance_error_map(plain_cnn(), X, C4(), 1)
    assert m.shape == (2, 1, 16, 16) and m.min() >= 0 and m.max() > 0


def test_training_flag_is_restored():
    net = StrictNet().train()
    equivariance_error(net, X, C4(), elements=[1])
    assert net.training


def test_exception():
    with pytest.raises(ValueError, match="unknown layer name"):
        equivariance_error(StrictNet(), X, C4(), layers=["nope"])
    with pytest.raises(ValueError, match="unknown layer name"):
        equivariance_error_map(StrictNet(), X, C4(), 1, layer="nope")
    with pytest.raises(ValueError, match=r"needs a square x, got shape \(2, 1, 16, 12\)"):
        output_equivariance_error(StrictNet(), X[..., :12], C4())
    with pytest.raises(ValueError, match="same shape"):
        psnr(X, X[..., :8])
    with pytest.raises(ValueError, match="unknown kind"):
        equivariance_error(StrictNet(), X, kinds=("bogus",))


def test_layer_features_records_only_its_own_thread():
    import threading

    from eqlab.metrics import layer_features

    net = plain_cnn().eval()
    inputs = [torch.rand(1, 1, 16, 16) for _ in range(4)]
    with torch.no_grad():
        expected = [layer_features(net, x, ["2"])[0]["2"] for x in inputs]
    results = [None] * 4

    def work(i):
        with torch.no_grad():
            for _ in range(5):
                results[i] = layer_features(net, inputs[i], ["2"])[0]["2"]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(torch.equal(r, e) for r, e in zip(results, expected))
    with pytest.raises(ValueError, match="unknown layer name"):
        layer_features(net, inputs[0], ["nope"])


def test_psnr_of_identical_images_is_infinite_and_8bit_rounding():
    """BasicSR's conventions: identical images score inf; outputs are rounded to 8 bits before scoring."""
    from eqlab.metrics import to_8bit

    y = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    assert psnr(y, y) == float("inf")
    levels = to_8bit(y * 1.2 - 0.1) * 255
    assert torch.equal(levels, levels.round()) and levels.min() >= 0 and levels.max() <= 255


# -- no silent wrong number: every input a metric cannot score is refused, naming what it got ----------

@pytest.mark.parametrize("metric", [psnr, ssim])
@pytest.mark.parametrize("x, y, error, match", [
    (X[:0], X[:0], ValueError, r"x is empty: shape \(0, 1, 16, 16\)"),
    ((X * 255).to(torch.uint8), X, TypeError, "dtype torch.uint8"),
    (X.clone().index_fill_(0, torch.tensor([1]), float("nan")), X, ValueError, "non-finite"),
    (X, X.clone().fill_(float("inf")), ValueError, "y holds 512 non-finite"),
    (X, X[..., :8], ValueError, "same shape"),
    (X[0], X[0], ValueError, r"\(B, C, H, W\)"),
    (X.numpy(), X, TypeError, "got ndarray"),
])
def test_quality_metrics_refuse_what_they_cannot_score(metric, x, y, error, match):
    with pytest.raises(error, match=match):
        metric(x, y)


@pytest.mark.parametrize("metric", [psnr, ssim])
@pytest.mark.parametrize("kwargs, match", [
    (dict(data_range=-1), "data_range must be a finite number > 0, got -1"),
    (dict(data_range=0), "data_range must be a finite number > 0, got 0"),
    (dict(data_range=float("nan")), "data_range"),
    (dict(crop_border=-2), "crop_border must be an int >= 0, got -2"),
    (dict(crop_border=8), "leaves nothing"),
])
def test_quality_metrics_refuse_bad_arguments(metric, kwargs, match):
    with pytest.raises(ValueError, match=match):
        metric(X, X * 0.5, **kwargs)


def test_identical_images_are_not_an_error():
    assert psnr(X, X) > 100  # capped or infinite, never refused: identical images are a valid, perfect result
    assert ssim(X, X) == pytest.approx(1.0)


def test_equivariance_metrics_refuse_an_empty_or_broken_batch():
    with pytest.raises(ValueError, match="empty"):  # it read 0.0 for every layer: "perfectly equivariant"
        equivariance_error(StrictNet(), X[:0], C4())
    with pytest.raises(ValueError, match="non-finite"):
        output_equivariance_error(plain_cnn(), X.clone().fill_(float("nan")), C4())
    with pytest.raises(TypeError, match="uint8"):
        equivariance_error(plain_cnn(), (X * 255).to(torch.uint8), C4())


def test_relative_error_never_broadcasts():
    from eqlab.metrics import relative_error

    a = torch.rand(1, 4, 8, 8)
    with pytest.raises(ValueError, match=r"same shape, got \(1, 4, 8, 8\) and \(1, 1, 8, 8\)"):
        relative_error(a, a[:, :1])
    with pytest.raises(ValueError, match="mask must be"):
        relative_error(a, a, torch.ones(4, 4))
    with pytest.raises(ValueError, match="empty"):
        relative_error(a[:0], a[:0])
    assert relative_error(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)) == 0.0
