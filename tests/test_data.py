"""Tests for eqlab.data: offline images, folders, degradations, commutation, synthetic, patches."""

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from eqlab.data import (
    ALL_IMAGES,
    TEST_IMAGES,
    TRAIN_IMAGES,
    BicubicDown,
    Chain,
    GaussianBlur,
    GaussianNoise,
    MotionBlur,
    PatchSampler,
    RandomMotionBlur,
    bicubic_up,
    center_crop,
    crop_to_multiple,
    degradation_commutes,
    dominant_orientation_deg,
    fixed_test_patches,
    gaussian_kernel,
    get_degradation,
    image_names,
    limit_side,
    load_default,
    load_folder,
    load_image,
    motion_kernel,
    orientation_coherence,
    oriented_image,
    read_image,
    rgb_to_gray,
    smooth_image,
    synthetic_set,
    to_tensor,
)
from eqlab.groups import C4, D4


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- default image set ---------------------------------------------------------------------------


def test_smoke_default_split():
    assert not set(TRAIN_IMAGES) & set(TEST_IMAGES)
    assert 4 <= len(TEST_IMAGES) <= 5 and len(TRAIN_IMAGES) >= 10
    assert image_names("all") == TRAIN_IMAGES + TEST_IMAGES == ALL_IMAGES
    for split in ("train", "test"):
        images = load_default(split)
        assert len(images) == len(image_names(split))
        for x in images:
            assert x.dtype == torch.float32 and x.dim() == 3 and x.shape[0] == 1
            assert max(x.shape[-2:]) <= 512 and min(x.shape[-2:]) >= 128
            assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0 and float(x.std()) > 0.02
    rgb = load_default("test", mode="rgb")
    assert all(x.shape[0] == 3 for x in rgb)
    assert [x.shape[-2:] for x in rgb] == [x.shape[-2:] for x in load_default("test")]


def test_default_sizes_and_cache():
    assert load_image("retina", max_side=None).shape == (1, 1411, 1411)
    assert load_image("retina", max_side=300).shape == (1, 300, 300)
    assert load_image("coins", max_side=1000).shape == (1, 303, 384)  # never up-scaled
    x = load_image("camera")
    x.zero_()  # callers get fresh tensors: the cache is not corrupted
    assert float(load_image("camera").max()) > 0.5


def test_gray_is_bt601_luma():
    rgb = load_image("astronaut", mode="rgb", max_side=None)
    gray = load_image("astronaut", mode="gray", max_side=None)
    r, g, b = rgb
    torch.testing.assert_close(gray[0], 0.299 * r + 0.587 * g + 0.114 * b, atol=1e-6, rtol=0)
    # Trusted reference: Pillow's "L" conversion uses the same BT.601 weights (rounded to 8 bits).
    pil = np.asarray(Image.fromarray((rgb.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).convert("L"))
    assert (gray[0] - torch.from_numpy(pil / 255.0).float()).abs().max() <= 1.01 / 255
    gray_rgb = load_image("camera", mode="rgb")
    assert torch.equal(gray_rgb[0], gray_rgb[1]) and torch.equal(gray_rgb[1], gray_rgb[2])


def test_exception_images():
    with pytest.raises(ValueError, match="split"):
        load_default("val")
    with pytest.raises(ValueError, match="lena"):
        load_image("lena")
    with pytest.raises(ValueError, match="mode"):
        load_default("test", mode="ycbcr")
    with pytest.raises(ValueError, match="max_side"):
        load_image("camera", max_side=0)
    with pytest.raises(ValueError, match=r"\(5, 5\)"):
        rgb_to_gray(torch.rand(5, 5))


def test_core_does_not_import_pyplot():
    code = (
        "import sys, eqlab.data as d\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported by eqlab.data'\n"
        "d.load_image('grace_hopper')\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported to load its sample'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# --- folders ---------------------------------------------------------------------------------------


def test_load_folder_formats(tmp_path):
    import tifffile

    rgb8 = np.zeros((20, 30, 3), np.uint8)
    rgb8[..., 0] = 255
    Image.fromarray(rgb8).save(tmp_path / "a_rgb8.png")
    gray16 = np.full((20, 30), 1000, np.uint16)
    Image.fromarray(gray16).save(tmp_path / "b_gray16.png")
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 2] = 255
    rgba[:10, :, 3] = 255  # top half opaque blue, bottom half transparent
    Image.fromarray(rgba).save(tmp_path / "c_rgba.png")
    Image.fromarray(np.full((20, 30), 128, np.uint8)).save(tmp_path / "d_gray8.png")
    tifffile.imwrite(tmp_path / "e_rgb16.tif", np.full((20, 30, 3), 1000, np.uint16), photometric="rgb")
    (tmp_path / "f_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (tmp_path / "notes.txt").write_text("ignored")

    with pytest.warns(UserWarning, match="f_corrupt.png"):
        images, names, skipped = load_folder(tmp_path, mode="rgb")
    assert names == ["a_rgb8.png", "b_gray16.png", "c_rgba.png", "d_gray8.png", "e_rgb16.tif"]
    assert [name for name, _ in skipped] == ["f_corrupt.png"] and skipped[0][1]
    assert all(x.dtype == torch.float32 and x.shape == (3, 20, 30) for x in images)
    assert torch.equal(images[0][:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(images[1], torch.full((3, 20, 30), 1000 / 65535))  # 16 bits kept
    assert torch.equal(images[2][:, 0, 0], torch.tensor([0.0, 0.0, 1.0]))  # opaque: the colour
    assert torch.equal(images[2][:, -1, 0], torch.ones(3))  # transparent: white background
    torch.testing.assert_close(images[3], torch.full((3, 20, 30), 128 / 255))
    torch.testing.assert_close(images[4], torch.full((3, 20, 30), 1000 / 65535))

    with pytest.warns(UserWarning):
        gray, _, _ = load_folder(tmp_path, mode="gray", max_side=15)
    assert all(x.shape == (1, 10, 15) for x in gray)
    torch.testing.assert_close(gray[0], torch.full((1, 10, 15), 0.299))


def test_exception_folder(tmp_path):
    with pytest.raises(ValueError, match="empty_dir"):
        (tmp_path / "empty_dir").mkdir()
        load_folder(tmp_path / "empty_dir")
    with pytest.raises(ValueError, match="missing"):
        load_folder(tmp_path / "missing")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.jpg").write_bytes(b"garbage")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="could be read"):
            load_folder(bad)


def test_to_tensor_dtypes():
    assert torch.equal(to_tensor(np.array([[True, False]])), torch.tensor([[[1.0, 0.0]]]))
    torch.testing.assert_close(to_tensor(np.array([[0.25, 2.0]], np.float64)), torch.tensor([[[0.25, 1.0]]]))
    la = np.array([[[0, 0], [0, 255]]], np.uint8)  # gray + alpha: transparent, opaque black
    assert torch.equal(to_tensor(la), torch.tensor([[[1.0, 0.0]]]))
    with pytest.raises(ValueError, match=r"\(2, 2, 5\)"):
        to_tensor(np.zeros((2, 2, 5), np.uint8))


# --- degradations ----------------------------------------------------------------------------------


def test_noise_statistics_and_determinism():
    y = torch.full((4, 1, 64, 64), 0.5)
    x = GaussianNoise(25)(y, generator=seeded(1))
    noise = x - y
    assert abs(float(noise.std()) - 25 / 255) < 0.03 * 25 / 255
    assert abs(float(noise.mean())) < 0.005
    assert torch.equal(x, GaussianNoise(25)(y, generator=seeded(1)))
    assert not torch.equal(x, GaussianNoise(25)(y, generator=seeded(2)))
    dark = GaussianNoise(25)(torch.zeros(1, 1, 32, 32), generator=seeded(0))
    assert float(dark.min()) < 0  # no clipping by default
    clipped = GaussianNoise(25, clip=True)(torch.zeros(1, 1, 32, 32), generator=seeded(0))
    assert float(clipped.min()) == 0.0
    assert GaussianNoise(0)(y).equal(y)
    assert GaussianNoise(10)(torch.rand(3, 8, 8)).shape == (3, 8, 8)  # (C, H, W) is accepted


def test_bicubic_shapes_and_exception():
    y = smooth_image((48, 72), generator=seeded(0))[None]
    for scale in (2, 3, 4):
        x = BicubicDown(scale)(y)
        assert x.shape == (1, 1, 48 // scale, 72 // scale)
        up = bicubic_up(x, scale)
        assert up.shape == y.shape
        assert float((up - y).pow(2).mean()) < 1e-3  # a smooth image survives the round trip
    assert torch.allclose(BicubicDown(2)(torch.full((1, 3, 8, 8), 0.3)), torch.full((1, 3, 4, 4), 0.3))
    with pytest.raises(ValueError, match=r"\(1, 1, 10, 12\)"):
        BicubicDown(4)(torch.rand(1, 1, 10, 12))
    with pytest.raises(ValueError, match="5"):
        BicubicDown(5)
    assert BicubicDown(4)(crop_to_multiple(torch.rand(1, 1, 10, 13), 4)).shape == (1, 1, 2, 3)


def test_blur_kernels():
    for sigma in (0.5, 1.0, 2.5):
        k = gaussian_kernel(sigma)
        assert abs(float(k.sum()) - 1) < 1e-6 and k.shape[0] % 2 == 1
        assert torch.equal(k, k.rot90(1)) and torch.equal(k, k.flip(0))
    for length, angle in ((1, 0.0), (5, 0.0), (9, 30.0), (12.5, 117.0)):
        k = motion_kernel(length, angle)
        assert abs(float(k.sum()) - 1) < 1e-6 and k.min() >= 0 and k.shape[0] % 2 == 1
        assert torch.allclose(k, k.flip(0, 1))
    assert torch.equal(motion_kernel(5, 0.0)[2], torch.full((5,), 0.2))
    torch.testing.assert_close(motion_kernel(9, 90.0), motion_kernel(9, 0.0).rot90(1))
    # The principal axis of the 30-degree kernel points 30 degrees counter-clockwise (y up).
    k = motion_kernel(15, 30.0).double()
    r = k.shape[0] // 2
    cols = torch.arange(-r, r + 1, dtype=torch.float64)[None, :]
    up = -torch.arange(-r, r + 1, dtype=torch.float64)[:, None]
    cxx, cyy, cxy = (k * cols**2).sum(), (k * up**2).sum(), (k * cols * up).sum()
    assert abs(math.degrees(0.5 * math.atan2(2 * cxy, cxx - cyy)) - 30.0) < 1.0
    for blur in (GaussianBlur(1.6), MotionBlur(9, 30.0)):
        assert blur(torch.rand(2, 3, 20, 24)).shape == (2, 3, 20, 24)
    with pytest.raises(ValueError, match="length"):
        MotionBlur(0.5, 0.0)
    with pytest.raises(ValueError, match=r"\(1, 1, 4, 4\)"):
        GaussianBlur(3.0)(torch.rand(1, 1, 4, 4))


def test_commutation_with_rotations():
    x = oriented_image(64, 0.0, generator=seeded(0))[None]  # isotropic texture
    gauss = degradation_commutes(GaussianBlur(1.6, noise_sigma=10), C4(), x)
    assert set(gauss) == set(C4().elements()) and gauss[0] == 0.0
    assert max(gauss.values()) < 1e-5
    assert max(degradation_commutes(GaussianBlur(2.0), D4(), x).values()) < 1e-5
    assert max(degradation_commutes(BicubicDown(2), C4(), x).values()) < 1e-5
    motion = degradation_commutes(MotionBlur(9, 30.0), C4(), x)
    assert motion[1] > 1e-2 and motion[3] > 1e-2
    assert motion[2] < 1e-5  # the kernel is point-symmetric: 180 degrees commutes
    assert max(degradation_commutes(GaussianNoise(25), C4(), x).values()) == 0.0  # in distribution
    same = degradation_commutes(GaussianNoise(25), C4(), x, generator=seeded(3), noise="same")
    assert same[0] == 0.0 and min(same[e] for e in (1, 2, 3)) > 0.05  # realisations differ
    with pytest.raises(ValueError, match="Generator"):
        degradation_commutes(GaussianNoise(25), C4(), x, noise="same")


def test_get_degradation():
    assert get_degradation("noise", sigma=15) == GaussianNoise(15)
    assert get_degradation("motion_blur", length=7, angle_deg=45.0).kernel.shape == (7, 7)
    assert [get_degradation(n).scale for n in ("noise", "bicubic", "gaussian_blur")] == [1, 2, 1]
    with pytest.raises(ValueError, match="jpeg"):
        get_degradation("jpeg")
    with pytest.raises(TypeError, match="scale"):
        get_degradation("noise", scale=2)



def test_draw_then_apply_is_the_call():
    """Sampling apart from applying: the same generator state gives the same x either way, and a chain draws
    each operator's part for the shape it sees."""
    y = torch.rand(3, 2, 24, 24, generator=torch.Generator().manual_seed(1))
    chain = Chain((RandomMotionBlur(7, noise_sigma=3.0), BicubicDown(2), GaussianNoise(10)))
    assert chain.scale == 2
    for op in (GaussianNoise(25), MotionBlur(9, 30.0, noise_sigma=5.0), RandomMotionBlur(5), chain):
        drawn = op.draw(tuple(y.shape), torch.Generator().manual_seed(0))
        assert torch.equal(op.apply(y, drawn), op(y, generator=torch.Generator().manual_seed(0)))
    blur, down, noise = chain.draw(tuple(y.shape), torch.Generator().manual_seed(0))
    assert down is None and noise.shape == (3, 2, 12, 12) and blur["noise"].shape == (3, 2, 24, 24)
    assert blur["angles_deg"].shape == (3,) and 0 <= float(blur["angles_deg"].min()) < 180
    one = torch.cat([MotionBlur(5, float(a))(yi[None]) for yi, a in zip(y, blur["angles_deg"])])
    assert torch.equal(RandomMotionBlur(5).apply(y, dict(blur, noise=None)), one)  # one direction per image
    assert chain.deterministic().operators[0].noise_sigma == 0 and chain.deterministic().operators[2].sigma == 0
    with pytest.raises(ValueError, match="directions drawn for a batch of 3"):
        RandomMotionBlur(5).apply(y, None)


# --- synthetic -------------------------------------------------------------------------------------


def test_symmetry_knob():
    def mean_coherence(bias):
        images = torch.stack(synthetic_set(3, 64, bias, generator=seeded(4)))
        return float(orientation_coherence(images).mean())

    c0, c5, c10 = (mean_coherence(b) for b in (0.0, 0.5, 1.0))
    assert c0 < 0.15 < c5 < c10 and c10 > 0.8
    # angle 0 means horizontal streaks: intensity changes much more down the rows than across.
    x = oriented_image(64, 1.0, generator=seeded(5))
    assert x.diff(dim=-2).abs().mean() > 3 * x.diff(dim=-1).abs().mean()
    tilted = oriented_image(96, 1.0, generator=seeded(6), angle_deg=30.0)
    assert abs(float(dominant_orientation_deg(tilted)) - 30.0) < 5.0


def test_synthetic_smoke_and_exception():
    x = oriented_image((32, 48), 0.3, generator=seeded(0), channels=3)
    assert x.shape == (3, 32, 48) and x.dtype == torch.float32
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert torch.equal(x, oriented_image((32, 48), 0.3, generator=seeded(0), channels=3))
    s = smooth_image(64, generator=seeded(0))
    texture = oriented_image(64, 0.0, generator=seeded(0))
    assert s.shape == (1, 64, 64) and s.diff(dim=-1).abs().mean() < 0.25 * texture.diff(dim=-1).abs().mean()
    assert len(synthetic_set(2, 16, 0.0, generator=seeded(0))) == 2
    with pytest.raises(ValueError, match="1.5"):
        oriented_image(32, 1.5)
    with pytest.raises(ValueError, match="size"):
        oriented_image(4, 0.0)


# --- patches ---------------------------------------------------------------------------------------


def test_patch_sampler_determinism():
    images = [torch.rand(1, 40, 50, generator=seeded(0)), torch.rand(1, 33, 33, generator=seeded(1))]
    a = PatchSampler(images, 32, 8, seeded(7))
    b = PatchSampler(images, 32, 8, seeded(7))
    batches = [a.sample() for _ in range(3)]
    assert all(torch.equal(x, y) for x, y in zip(batches, [b.sample() for _ in range(3)]))
    assert batches[0].shape == (8, 1, 32, 32)
    assert not torch.equal(batches[0], batches[1])
    # No augmentation by default: every patch is a plain crop of its image.
    positions = a.sample_positions()
    for (i, top, left, flip_h, flip_v), patch in zip(positions.tolist(), a.crop(positions)):
        assert flip_h == flip_v == 0
        assert torch.equal(patch, images[i][:, top:top + 32, left:left + 32])
    flipped = PatchSampler(images, 32, 64, seeded(7), flips=True).sample_positions()
    assert flipped[:, 3:].any()


def test_exception_patches():
    images = [torch.rand(1, 40, 40), torch.rand(1, 20, 60)]
    with pytest.raises(ValueError, match=r"image 1 \('tiny'\).*\(20, 60\)"):
        PatchSampler(images, 32, 4, names=["ok", "tiny"])
    with pytest.raises(ValueError, match="channels"):
        PatchSampler([torch.rand(1, 40, 40), torch.rand(3, 40, 40)], 32, 4)
    with pytest.raises(ValueError, match="batch_size"):
        PatchSampler(images[:1], 32, 0)


def test_fixed_crops():
    images = [torch.rand(1, 64, 64), torch.rand(1, 48, 80)]
    p1 = fixed_test_patches(images, 32, count=4)
    assert p1.shape == (8, 1, 32, 32) and torch.equal(p1, fixed_test_patches(images, 32, count=4))
    assert torch.equal(p1[0], images[0][:, :32, :32]) and torch.equal(p1[3], images[0][:, 32:, 32:])
    centre = fixed_test_patches(images, 16, count=1)
    assert torch.equal(centre, torch.stack(center_crop(images, 16)))
    assert center_crop(torch.rand(2, 3, 10, 12), (4, 6)).shape == (2, 3, 4, 6)
    assert [x.shape for x in crop_to_multiple(images, 3)] == [(1, 63, 63), (1, 48, 78)]
    with pytest.raises(ValueError, match=r"\(1, 48, 80\)"):
        center_crop(images[1], 50)


# -- large files are decoded reduced, before they become float -------------------------------------------

@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "LA", "P", "I;16", "1"])
def test_reduced_decoding_matches_the_full_decode(tmp_path, mode):
    from PIL import Image

    from eqlab.data.folder import _read_array

    rng = np.random.default_rng(0)
    smooth = np.add.outer(np.linspace(0, 1, 300), np.linspace(0, 1, 200)) / 2  # (300, 200)
    base = np.dstack([smooth, smooth[::-1], smooth[:, ::-1], (smooth > 0.3) * 0.9 + 0.05 * rng.random(smooth.shape)])
    eight = (base * 255).astype(np.uint8)
    if mode == "I;16":
        im = Image.fromarray((smooth * 65535).astype(np.uint16))
    elif mode == "1":
        im = Image.fromarray(eight[..., 0]).convert("1")
    else:
        im = Image.fromarray(eight, "RGBA").convert(mode)
    path = tmp_path / "big.png"
    im.save(path)
    full = read_image(path, mode="rgb", max_side=None)
    reduced = read_image(path, mode="rgb", max_side=70)
    assert reduced.shape == (3, 70, 47) and reduced.dtype == torch.float32
    assert _read_array(path, 70).shape[:2] == (75, 50)  # decoded at a quarter of the size, integers still
    expected = limit_side(full, 70)
    tolerance = 0.05 if mode == "1" else 0.006  # dithered bilevel pixels: only the average survives
    assert float((reduced - expected).abs().mean()) < tolerance  # two-stage resampling differs only at hard edges


def test_reduced_decoding_does_not_leak_the_colour_of_transparent_pixels(tmp_path):
    from PIL import Image

    pixels = np.zeros((400, 400, 4), np.uint8)
    pixels[..., 0] = 255  # red everywhere...
    pixels[::2, :, 3] = 255  # ...opaque on even rows, which are black
    pixels[::2, :, :3] = 0
    Image.fromarray(pixels, "RGBA").save(tmp_path / "veil.png")
    x = read_image(tmp_path / "veil.png", mode="rgb", max_side=100)  # half black, half white: a gray, not pink
    assert x.shape == (3, 100, 100) and float((x - 0.5).abs().max()) < 0.01


def test_reduced_decoding_keeps_the_exif_orientation_and_jpeg_draft(tmp_path):
    from PIL import Image

    wide = np.zeros((100, 400, 3), np.uint8)
    wide[:, :200] = 255  # left half white
    im = Image.fromarray(wide)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    im.save(tmp_path / "turned.jpg", exif=exif, quality=95)
    full = read_image(tmp_path / "turned.jpg", mode="gray")
    reduced = read_image(tmp_path / "turned.jpg", mode="gray", max_side=100)
    assert full.shape == (1, 400, 100) and reduced.shape == (1, 100, 25)  # upright, both
    assert float((reduced - limit_side(full, 100)).abs().mean()) < 0.02
