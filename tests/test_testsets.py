"""Tests for eqlab.testsets: whole images of a folder, scored by the SR protocol, a table per folder."""

import numpy as np
import pytest
import torch
from PIL import Image

from eqlab.metrics import psnr, ssim
from eqlab.models import build
from eqlab.tasks import EVAL_SEED, get_task
from eqlab.testsets import format_table, score_folder

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZES = ((50, 61), (43, 38))  # sides that no scale divides: the modcrop is part of the protocol


def write_folder(folder, sizes=SIZES, seed=0):
    """Smooth RGB test images with some texture, saved as PNG files."""
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i, (h, w) in enumerate(sizes):
        rows, cols = np.mgrid[:h, :w]
        image = np.stack([128 + 90 * np.sin(cols / (3 + c) + rows / (4 + i)) for c in range(3)], axis=-1)
        image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
        Image.fromarray(image).save(folder / f"im{i}.png")
    return folder


def net(name="srnet", scale=3, channels=3):
    torch.manual_seed(0)
    kwargs = dict(features=8) if name == "srnet" else dict(fields=4)
    return build(name, channels=channels, depth=3, scale=scale, **kwargs).eval()


@pytest.mark.parametrize("scale", [3, 4])
def test_smoke_matches_the_protocol_by_hand(tmp_path, scale):
    folder = write_folder(tmp_path / "Set2")
    task, model = get_task("sr", scale=scale, mode="rgb"), net(scale=scale)
    scores = score_folder(model, task, folder)
    assert scores["name"] == "Set2" and scores["border"] == scale and scores["channels"] == 3
    assert [r["image"] for r in scores["images"]] == ["im0.png", "im1.png"]
    for index, ((h, w), row) in enumerate(zip(SIZES, scores["images"])):
        clean = np.asarray(Image.open(folder / f"im{index}.png"), dtype=np.float32) / 255
        y = torch.from_numpy(clean).permute(2, 0, 1)[None, :, : h // scale * scale, : w // scale * scale]  # modcrop
        x = task.degrade(y, generator=torch.Generator().manual_seed(EVAL_SEED + index))
        with torch.no_grad():
            out = (model(x).clamp(0, 1) * 255).round() / 255  # BasicSR's tensor2img: clamp, x 255, round to uint8
        assert row["psnr"] == pytest.approx(psnr(out, y, crop_border=scale), abs=1e-4)  # Y channel, border = scale
        assert row["ssim"] == pytest.approx(ssim(out, y, crop_border=scale), abs=1e-6)
        assert row["psnr_rgb"] == pytest.approx(psnr(out, y, crop_border=scale, y_channel=False), abs=1e-4)
    assert scores["mean"]["psnr"] == pytest.approx(np.mean([r["psnr"] for r in scores["images"]]))
    lines = format_table(scores, task.baseline_name).splitlines()
    assert lines[0].startswith("Set2: 2 whole images, sr x") and "Y channel (BT.601)" in lines[0]
    assert "PSNR RGB" in lines[1] and "bicubic PSNR" in lines[1]
    assert [line.split()[0] for line in lines[2:]] == ["im0.png", "im1.png", "mean"]


def test_self_ensemble_of_a_strict_net_is_the_net(tmp_path):
    folder = write_folder(tmp_path / "set", sizes=((36, 36),))
    task = get_task("sr", scale=2)
    scores = score_folder(net("srnet_p4", scale=2, channels=1), task, folder, self_ensemble="C4")
    row = scores["images"][0]
    assert row["psnr_plus"] == pytest.approx(row["psnr"], abs=1e-4) and "psnr_rgb" not in row  # gray
    plain = score_folder(net(scale=2, channels=1), task, folder, self_ensemble="D4")
    assert plain["images"][0]["psnr_plus"] != pytest.approx(plain["images"][0]["psnr"], abs=1e-3)
    table = format_table(plain, task.baseline_name)
    assert "PSNR+D4" in table and "SSIM+D4" in table and "gray images" in table


def test_exception(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no image file"):
        score_folder(net(), get_task("sr", scale=3, mode="rgb"), tmp_path / "empty")
    with pytest.raises(ValueError, match="does not exist"):
        score_folder(net(), "sr", tmp_path / "missing")
