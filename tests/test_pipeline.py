"""Tests for eqlab.data.pipeline: lazy folders, plans drawn in order, the same batches for any worker count."""

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from eqlab.data import PatchSampler, load_default, load_folder, read_image
from eqlab.data.pipeline import (
    BatchPlanner,
    ImageFiles,
    ImageTensors,
    PairedFiles,
    PatchPairs,
    image_size,
    open_folder,
    patch_loader,
)
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


def test_recursive_folder_reads_the_sub_folders(paired):
    assert ImageFiles(paired / "HR").names == ["0001.png"]
    assert ImageFiles(paired / "HR", recursive=True).names == ["0001.png", "sub/0002.png"]


def test_paired_patches_are_the_files_windows(paired):
    """An input patch at a low-resolution corner is that window of the LR file; its target the HR window at 2x."""
    source = open_folder(paired / "HR", "rgb", recursive=True, data_lr=paired / "LR", scale=2)
    assert isinstance(source, PairedFiles) and source.names == ["0001.png", "sub/0002.png"]
    assert source.sizes == [(35, 40), (32, 32)]  # the inputs' grid; the HR 70 x 81 is cropped to 70 x 80
    task = get_task("sr", scale=2, sigma=0, mode="rgb")
    pairs = PatchPairs(source, 32, task)
    planner = BatchPlanner(source.sizes, pairs.plan_patch, 6, 3, task, seeded(0), seeded(1), dihedral=True)
    plan = next(iter(planner))
    x, y = pairs[plan]
    assert x.shape == (6, 3, 16, 16) and y.shape == (6, 3, 32, 32)
    hr = [read_image(paired / "HR" / n) for n in source.names]
    lr = [read_image(paired / "LR" / n.replace(".png", "x2.png")) for n in source.names]
    def transformed(z, flip_h, flip_v, transpose):
        z = z.flip(-1) if flip_h else z
        z = z.flip(-2) if flip_v else z
        return z.transpose(-1, -2) if transpose else z

    for k, (index, top, left, *flips) in enumerate(plan.positions.tolist()):
        how = (*flips, plan.transposes[k])
        assert torch.equal(x[k], transformed(lr[index][:, top:top + 16, left:left + 16], *how))
        assert torch.equal(y[k], transformed(hr[index][:, 2 * top:2 * top + 32, 2 * left:2 * left + 32], *how))


def test_dihedral_patches_draw_all_eight_elements():
    task = get_task("denoise")
    images = [torch.arange(32 * 32, dtype=torch.float32).reshape(1, 32, 32) / 1024]
    planner = BatchPlanner([(32, 32)], 32, 64, 1, task, seeded(0), seeded(1), dihedral=True)
    _, y = PatchPairs(ImageTensors(images), 32, task)[next(iter(planner))]
    d4 = [torch.rot90(images[0], k, (-2, -1)) for k in range(4)]
    d4 += [z.flip(-1) for z in d4]
    seen = {next(i for i, z in enumerate(d4) if torch.equal(z, patch)) for patch in y}
    assert seen == set(range(8))
    plain = BatchPlanner([(32, 32)], 32, 4, 1, task, seeded(0), seeded(1))
    assert next(iter(plain)).transposes is None


def test_exception_paired(paired):
    lr = paired / "LR"
    (lr / "sub" / "0002x2.png").rename(lr / "sub" / "0003x2.png")
    with pytest.raises(ValueError, match="do not pair by name.*without input: 'sub/0002.png'.*"
                                         "input without high-resolution: 'sub/0003x2.png'"):
        open_folder(paired / "HR", "rgb", recursive=True, data_lr=lr, scale=2)
    (lr / "sub" / "0003x2.png").unlink()
    Image.fromarray(np.zeros((20, 20, 3), dtype=np.uint8)).save(lr / "sub" / "0002x2.png")
    with pytest.raises(ValueError, match=r"'sub/0002x2.png' is \(20, 20\), but 'sub/0002.png' of \(64, 64\) at scale 2 "
                                         r"needs \(32, 32\)"):
        open_folder(paired / "HR", "rgb", recursive=True, data_lr=lr, scale=2)
    Image.fromarray(np.zeros((16, 16, 3), dtype=np.uint8)).save(lr / "sub" / "0002x2.png")
    with pytest.raises(ValueError, match=r"x4 apart: a folder of another scale"):
        open_folder(paired / "HR", "rgb", recursive=True, data_lr=lr, scale=2)
    source = open_folder(paired / "HR", "rgb", data_lr=lr, scale=2)  # the top level only: 0001 alone
    with pytest.raises(ValueError, match=r"'0001.png' its input \(35, 40\) is smaller than the input patch"):
        PatchPairs(source, 96, get_task("sr", scale=2, mode="rgb"))
