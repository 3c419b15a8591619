"""Tests for eqlab.data.pipeline: lazy folders, plans drawn in order, the same batches for any worker count."""

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from eqlab.data import PatchSampler, load_default, load_folder, read_image
from eqlab.data.pipeline import BatchPlanner, ImageFiles, ImageTensors, PatchPairs, image_size, patch_loader
from eqlab.tasks import get_task

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """RGB, gray, RGBA and 16-bit gray PNGs of different sizes, and one EXIF-rotated JPEG."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)).save(root / "a_rgb.png")
    Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).save(root / "b_gray.png")
    Image.fromarray(rng.integers(0, 256, (80, 66, 4), dtype=np.uint8)).save(root / "c_rgba.png")
    Image.fromarray(rng.integers(0, 65536, (72, 68), dtype=np.uint16)).save(root / "d_gray16.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 60 x 100, shown 100 x 60
    Image.fromarray(rng.integers(0, 256, (60, 100, 3), dtype=np.uint8)).save(root / "e_turned.jpg", exif=exif)
    return root


def batches(pairs, planner, workers, count):
    loader = iter(patch_loader(pairs, planner, workers))
    return [next(loader) for _ in range(count)]


@pytest.mark.parametrize("mode", ["gray", "rgb"])
def test_lazy_patches_equal_the_loaded_images(folder, tmp_path, mode):
    """A window cut lazily (decoded per patch, or from the .npy cache) is the same window of read_image."""
    images = load_folder(folder, mode=mode).images
    for cache in (None, tmp_path / "cache"):
        files = ImageFiles(folder, mode=mode, cache_dir=cache)
        assert files.sizes == [tuple(x.shape[-2:]) for x in images]
        for index, x in enumerate(images):
            corners = [(0, 0), (x.shape[-2] - 32, x.shape[-1] - 32), (5, 7)]
            for (top, left), patch in zip(corners, files.patches(index, corners, 32)):
                assert torch.equal(patch, x[:, top:top + 32, left:left + 32]), (files.names[index], cache)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == len(images)


def test_image_size_reads_the_header_as_read_image_reads_the_file(folder):
    for file in sorted(folder.iterdir()):
        assert image_size(file) == tuple(read_image(file).shape[-2:]), file.name
    assert image_size(folder / "e_turned.jpg") == (100, 60)


@pytest.mark.parametrize("changes", [dict(), dict(name="deblur", blur_random=True), dict(name="sr", scale=2),
                                     dict(name="denoise", mode="rgb")])
def test_batches_are_those_of_the_in_process_loop(changes):
    """Plans drawn ahead give the batches of PatchSampler + task.degrade(generator), bit for bit."""
    task = get_task(changes.pop("name", "denoise"), **changes)
    images = load_default("train", mode=task.mode)[:4]
    sampler, noise = PatchSampler(images, 32, 4, seeded(1)), seeded(2)
    expected = []
    for _ in range(3):
        y = sampler.sample()
        expected.append((task.degrade(y, generator=noise), y))
    data_state, noise_state = sampler.generator.get_state(), noise.get_state()
    planner = BatchPlanner([tuple(x.shape[-2:]) for x in images], 32, 4, task.channels, task, seeded(1), seeded(2))
    got = batches(PatchPairs(ImageTensors(images), 32, task), planner, 0, 3)
    for (x, y), (ex, ey) in zip(got, expected):
        assert torch.equal(x, ex) and torch.equal(y, ey)
    for _ in range(2):
        planner.consumed()
    assert [torch.equal(a, b) for a, b in zip(planner.consumed(), (data_state, noise_state))] == [True, True]


def test_same_batches_with_0_and_2_workers(folder, tmp_path):
    task = get_task("sr", scale=2, sigma=5, mode="rgb")
    files = ImageFiles(folder, mode="rgb", cache_dir=tmp_path / "cache")
    runs = []
    for workers in (0, 2):
        planner = BatchPlanner(files.sizes, 32, 3, 3, task, seeded(3), seeded(4))
        runs.append(batches(PatchPairs(files, 32, task), planner, workers, 5))
    for (x0, y0), (x2, y2) in zip(*runs):
        assert x0.shape == (3, 3, 16, 16) and y0.shape == (3, 3, 32, 32)
        assert torch.equal(x0, x2) and torch.equal(y0, y2)


def test_exception(folder, tmp_path):
    with pytest.raises(ValueError, match="b_gray.png.*smaller than the patch size"):
        PatchPairs(ImageFiles(folder), 65, get_task("denoise"))
    with pytest.raises(ValueError, match="workers"):
        patch_loader(PatchPairs(ImageFiles(folder), 32, get_task("denoise")), None, workers=-1)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="could be read"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ImageFiles(broken)
    Image.fromarray(np.zeros((40, 40), dtype=np.uint8)).save(broken / "good.png")
    with pytest.warns(UserWarning, match="bad.png"):
        assert ImageFiles(broken).names == ["good.png"]
    with pytest.raises(ValueError, match="does not exist"):
        ImageFiles(tmp_path / "missing")
