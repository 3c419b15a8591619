"""The training data pipeline: random clean patches and their degraded inputs, as a ``torch.utils.data`` Dataset.

What is here:
    - ``ImageFiles(folder, mode, cache_dir)``: a folder opened lazily: sizes from the file headers,
      pixels decoded when a patch is cut, or read from a uint8 ``.npy`` cache (memory-mapped).
    - ``ImageTensors(images)``: the same two methods over images already in memory (the bundled set).
    - ``PairedFiles(hr, lr, scale)``: a high-resolution folder and the low-resolution inputs that go
      with it (DIV2K's ``X2`` folder, BasicSR's paired dataset), matched by name, sizes checked.
    - ``BatchPlan`` and ``BatchPlanner``: the random part of every batch (patch positions, blur
      directions, noise), drawn in the training process from the run's ``data`` and ``noise`` streams.
    - ``PatchPairs``: the Dataset: a plan in, ``(x, y)`` out (crops, then the task's degradation).
    - ``patch_loader``: the ``DataLoader`` over them (worker processes, pinned memory).

Why the plans are drawn in the training process (sampling separated from applying): the workers
then hold no random state at all. Batch ``k`` is a function of the seed, the rank and ``k`` only, so
0, 2 or 16 workers give the same batches, bit for bit, as the in-process path of the earlier loop
(the zoo's runs are unchanged). The draws are cheap (a few integers per patch, and the noise);
decoding, cropping, blurring and down-scaling run in the workers. The planner also keeps the
streams' states after every plan, so a checkpoint stores the state of the last *consumed* batch,
not of the batches the workers prefetched, and a resumed run stays bit-identical.

Memory: ``ImageFiles`` keeps only file names and sizes. Without a cache every patch decodes its
whole file (as KAIR's and BasicSR's disk readers do); with ``cache_dir`` each file is decoded once
into an ``.npy`` file of its stored dtype (uint8 for 8-bit images, a third of the float32 size of
the gray image, a twelfth in colour) and read memory-mapped: a patch reads its rows only, and the
pages are shared by every worker and every run.

What is not here: the degradations (``eqlab.tasks``, ``eqlab.data.degrade``), reading a whole
folder into memory (``eqlab.data.folder``), the loop that consumes the batches (``eqlab.train``).
"""

from __future__ import annotations

import hashlib
import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from eqlab.data.convert import check_mode, to_mode, to_tensor
from eqlab.data.folder import _read_array, image_files
from eqlab.data.patches import draw_positions
from eqlab.files import atomic_path

__all__ = ["ImageFiles", "ImageTensors", "PairedFiles", "open_folder", "BatchPlan", "BatchPlanner", "PatchPairs",
           "patch_loader", "image_size"]


def image_size(path: str | Path) -> tuple[int, int]:
    """``(H, W)`` of an image file as ``eqlab.data.folder.read_image`` would return it, from its header.

    EXIF orientations that swap the axes (5 to 8) are taken into account; TIFFs stored planar
    ``(C, H, W)`` are recognised as ``read_image`` recognises them.
    """
    path = Path(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        with tifffile.TiffFile(path) as tif:
            shape = tif.pages[0].shape
        if len(shape) == 3 and shape[0] in (3, 4) and shape[2] not in (1, 2, 3, 4):
            return int(shape[1]), int(shape[2])
        return int(shape[0]), int(shape[1])
    from PIL import Image

    with Image.open(path) as im:
        width, height = im.size
        if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # a quarter turn in the EXIF orientation
            width, height = height, width
    return height, width


class ImageTensors:
    """Images already in memory behind the interface of ``ImageFiles``.

    Args:
        images: ``(C, H, W)`` float tensors in [0, 1], all with the same ``C``.
        names: optional names for error messages.
    """

    def __init__(self, images: Sequence[torch.Tensor], names: Sequence[str] | None = None):
        self.images = list(images)
        self.names = list(names) if names is not None else [f"image {i}" for i in range(len(self.images))]
        self.sizes = [tuple(x.shape[-2:]) for x in self.images]

    def __len__(self) -> int:
        return len(self.images)

    def patches(self, index: int, corners: Sequence[tuple[int, int]], size: int) -> list[torch.Tensor]:
        """``(C, size, size)`` windows of image ``index`` at the ``(top, left)`` corners."""
        x = self.images[index]
        return [x[:, top:top + size, left:left + size] for top, left in corners]


class ImageFiles:
    """A folder of images, opened lazily: nothing is decoded until a patch is cut.

    Args:
        folder: the folder (its image files, sorted by name, as ``eqlab.data.folder.load_folder``).
        mode: ``"gray"`` (BT.601 luma) or ``"rgb"`` (gray files replicated).
        cache_dir: optional folder for the decoded arrays (``.npy`` in the file's stored dtype,
            written once, atomically, by whichever process needs a file first; keyed by the file's
            path, size and modification time). ``None``: decode the whole file for every batch.
        recursive: also read the sub-folders (names then hold the relative path).

    Raises:
        ValueError: the folder is missing or empty, or no file header can be read. Files whose header
        cannot be read are skipped with one ``UserWarning``, as ``load_folder`` does.

    Example:
        >>> files = ImageFiles("data/DIV2K_train_HR", mode="rgb", cache_dir="/tmp/div2k")  # doctest: +SKIP
        >>> files.patches(0, [(0, 0)], 96)[0].shape  # doctest: +SKIP
        torch.Size([3, 96, 96])
    """

    def __init__(self, folder: str | Path, mode: str = "rgb", cache_dir: str | Path | None = None,
                 recursive: bool = False):
        self.mode = check_mode(mode)
        self.root = Path(folder)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.files, self.names, self.sizes, skipped = [], [], [], []
        for file in image_files(self.root, recursive):
            name = file.relative_to(self.root).as_posix()
            try:
                self.sizes.append(image_size(file))
            except Exception as err:  # noqa: BLE001 - a user file may fail in many ways; report, go on
                skipped.append((name, f"{type(err).__name__}: {err}"))
                continue
            self.files.append(file)
            self.names.append(name)
        if skipped:
            listing = "; ".join(f"{n} ({reason})" for n, reason in skipped)
            warnings.warn(f"skipped {len(skipped)} unreadable file(s) in {str(self.root)!r}: {listing}", stacklevel=2)
        if not self.files:
            raise ValueError(f"no image in {str(self.root)!r} could be read; skipped: {skipped}")

    def __len__(self) -> int:
        return len(self.files)

    def array(self, index: int) -> np.ndarray:
        """The decoded file ``(H, W)`` or ``(H, W, C)`` in its stored dtype (memory-mapped from the cache)."""
        file = self.files[index]
        if self.cache_dir is None:
            return _read_array(file)
        stat = file.stat()
        key = hashlib.sha1(f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
        cached = self.cache_dir / f"{file.stem}-{key}.npy"  # the key tells apart equal names of sub-folders
        if not cached.exists():
            with atomic_path(cached) as tmp, open(tmp, "wb") as out:  # two workers may both write a whole one
                np.save(out, _read_array(file))
        return np.load(cached, mmap_mode="r")

    def patches(self, index: int, corners: Sequence[tuple[int, int]], size: int) -> list[torch.Tensor]:
        """``(C, size, size)`` float32 windows in [0, 1] of image ``index`` at the ``(top, left)`` corners.

        Each window is converted alone (``to_tensor`` then ``to_mode``, per pixel), so it equals the
        same window of ``read_image(file, mode)`` bit for bit.
        """
        array = self.array(index)
        windows = []
        for top, left in corners:
            x = to_tensor(np.ascontiguousarray(array[top:top + size, left:left + size]))
            if x.shape[0] not in (1, 3):
                raise ValueError(f"{self.names[index]}: expected 1 or 3 colour channels after alpha, got {x.shape[0]}")
            windows.append(to_mode(x, self.mode))
        return windows


def _pair_key(name: str, scale: int | None = None) -> str:
    """The name a file is paired by: its relative path without the extension (and the LR suffix ``x{scale}``)."""
    stem = name.rsplit(".", 1)[0]
    suffix = f"x{scale}" if scale else ""
    return stem[:-len(suffix)] if suffix and stem.endswith(suffix) else stem


def _listing(names: Sequence[str], limit: int = 5) -> str:
    return ", ".join(map(repr, names[:limit])) + (f" and {len(names) - limit} more" if len(names) > limit else "")


class PairedFiles:
    """High-resolution images and their low-resolution inputs, from two folders, paired by name.

    A low-resolution file pairs with the high-resolution file of the same relative name, without
    the extension, where a trailing ``x{scale}`` is dropped: ``X2/0001x2.png`` (DIV2K) or
    ``X2/0001.png`` pairs with ``HR/0001.png``. The high-resolution image is cropped to a multiple of
    the scale at the bottom and right (KAIR's and BasicSR's ``modcrop``); the low-resolution one must
    then be exactly ``scale`` times smaller.

    A patch of side ``p`` is cut at a corner ``(top, left)`` of the low-resolution grid: the input is
    its ``p / scale`` window there, the target the ``p`` window at ``(scale top, scale left)``.

    Args:
        hr: the high-resolution folder (an ``ImageFiles``).
        lr: the low-resolution folder (an ``ImageFiles``).
        scale: the super-resolution factor.

    Raises:
        ValueError: a file of one folder without its partner in the other, or a pair whose sizes are
            not ``scale`` apart (each names the files, the sizes and the scale they imply).
    """

    def __init__(self, hr: ImageFiles, lr: ImageFiles, scale: int):
        self.hr, self.lr, self.scale = hr, lr, int(scale)
        hr_keys = {_pair_key(n): i for i, n in enumerate(hr.names)}
        lr_keys = {_pair_key(n, scale): i for i, n in enumerate(lr.names)}
        missing = [hr.names[i] for k, i in hr_keys.items() if k not in lr_keys]
        extra = [lr.names[i] for k, i in lr_keys.items() if k not in hr_keys]
        if missing or extra:
            raise ValueError(f"the folders {str(hr.root)!r} and {str(lr.root)!r} do not pair by name (a low-"
                             f"resolution file is named like its high-resolution one, optionally with 'x{scale}': "
                             f"0001.png <- 0001x{scale}.png): "
                             + "; ".join(f"{what}: {_listing(names)}" for what, names in (
                                 ("high-resolution without input", missing), ("input without high-resolution", extra))
                                 if names))
        self.order = [(i, lr_keys[k]) for k, i in sorted(hr_keys.items(), key=lambda item: item[1])]
        self.names = [hr.names[i] for i, _ in self.order]
        self.sizes = [lr.sizes[j] for _, j in self.order]  # the grid patches are drawn on
        for (i, j), name in zip(self.order, self.names):
            (h, w), (lh, lw) = hr.sizes[i], lr.sizes[j]
            if (lh, lw) != (h // scale, w // scale):
                ratio = h // lh if lh and lw and h // lh == w // lw else None
                implied = f" (the pair is x{ratio} apart: a folder of another scale?)" if ratio not in (None, scale) \
                    else ""
                raise ValueError(f"{lr.names[j]!r} is {(lh, lw)}, but {name!r} of {(h, w)} at scale {scale} needs "
                                 f"{(h // scale, w // scale)}{implied}")

    def __len__(self) -> int:
        return len(self.order)

    def patches(self, index: int, corners: Sequence[tuple[int, int]], size: int) -> list[torch.Tensor]:
        """``(C, size, size)`` targets of pair ``index`` at the low-resolution ``(top, left)`` corners."""
        s = self.scale
        return self.hr.patches(self.order[index][0], [(top * s, left * s) for top, left in corners], size)

    def inputs(self, index: int, corners: Sequence[tuple[int, int]], size: int) -> list[torch.Tensor]:
        """``(C, size / scale, size / scale)`` inputs of pair ``index`` at the low-resolution corners."""
        return self.lr.patches(self.order[index][1], corners, size // self.scale)


def open_folder(data: str | Path, mode: str, cache_dir: str | Path | None = None, recursive: bool = False,
                data_lr: str | Path | None = None, scale: int = 1):
    """A training folder opened lazily: ``ImageFiles``, or ``PairedFiles`` when ``data_lr`` is given.

    Raises:
        ValueError: a missing or empty folder, or folders that do not pair (see ``PairedFiles``).
    """
    hr = ImageFiles(data, mode, cache_dir, recursive)
    if data_lr is None:
        return hr
    return PairedFiles(hr, ImageFiles(data_lr, mode, cache_dir, recursive), scale)


@dataclass
class BatchPlan:
    """The random parameters of one batch: what ``PatchPairs`` turns into ``(x, y)`` without drawing anything."""

    step: int  # the optimizer step the batch is for (1-based)
    positions: torch.Tensor  # (B, 5) rows (image index, top, left, flip_h, flip_v), see draw_positions
    draws: dict  # the degradation's draws, Task.draws: blur directions and noise
    transposes: torch.Tensor | None = None  # (B,) 0 / 1: transpose the patch after its flips (dihedral)


class BatchPlanner(torch.utils.data.Sampler):
    """Endless ``BatchPlan``s, drawn in step order from the run's ``data`` and ``noise`` streams.

    The planner draws from copies of the two generators and records their states after every
    plan; :meth:`consumed` hands back the states after the oldest plan not yet consumed, for the
    loop to copy into its own generators (what a checkpoint stores). The draws are those of the
    earlier in-process loop: ``draw_positions`` from ``data``, then ``task.draws`` from ``noise``.
    With ``dihedral`` every patch also draws (from ``data``) a horizontal flip, a vertical flip and a
    transpose: one of the 8 elements of D4, uniformly, as KAIR's ``augment_img`` and BasicSR's
    ``augment`` do. Off by default: rotating the data is what the arms compare (``eqlab.arms``).

    Args:
        sizes: ``(H, W)`` of every training image.
        patch_size: side of the clean patches.
        batch_size: patches per batch.
        channels: image channels (the noise's shape).
        task: an ``eqlab.tasks.Task`` (its ``draws``).
        data: the generator of the patch positions (copied, not advanced).
        noise: the generator of the degradation (copied, not advanced).
        step: the step already taken (a resumed run starts after it).
        dihedral: transform every patch by a random element of D4 (flips and a transpose).
    """

    def __init__(self, sizes, patch_size: int, batch_size: int, channels: int, task, data: torch.Generator,
                 noise: torch.Generator, step: int = 0, dihedral: bool = False):
        self.sizes, self.patch_size, self.batch_size, self.channels, self.task = sizes, patch_size, batch_size, \
            channels, task
        self.dihedral = bool(dihedral)
        self.data, self.noise = _copy(data), _copy(noise)
        self.step = step
        self.states: deque[tuple[torch.Tensor, torch.Tensor]] = deque()

    def __iter__(self) -> Iterator[BatchPlan]:
        shape = (self.batch_size, self.channels, self.patch_size, self.patch_size)
        while True:
            self.step += 1
            positions = draw_positions(self.sizes, self.patch_size, self.batch_size, self.data, flips=self.dihedral)
            transposes = torch.randint(2, (self.batch_size,), generator=self.data) if self.dihedral else None
            draws = self.task.draws(shape, self.noise)
            self.states.append((self.data.get_state(), self.noise.get_state()))
            yield BatchPlan(self.step, positions, draws, transposes)

    def consumed(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``(data, noise)`` generator states right after the oldest plan not yet consumed."""
        return self.states.popleft()


def _copy(generator: torch.Generator) -> torch.Generator:
    copy = torch.Generator(device=generator.device)
    copy.set_state(generator.get_state())
    return copy


class PatchPairs(torch.utils.data.Dataset):
    """``dataset[plan] -> (x, y)``: the plan's clean patches and their degraded inputs.

    Args:
        source: ``ImageFiles``, ``ImageTensors`` or ``PairedFiles`` (whose inputs are files: no degradation).
        patch_size: side ``p`` of the clean patches.
        task: the ``eqlab.tasks.Task`` whose degradation makes ``x``.

    Returns (per item):
        ``x``: ``(B, C, p / scale, p / scale)`` degraded inputs, ``y``: ``(B, C, p, p)`` clean patches.

    Raises:
        ValueError: at construction, an image smaller than the patch (named).
    """

    def __init__(self, source, patch_size: int, task):
        self.source, self.patch_size, self.task = source, patch_size, task
        self.paired = isinstance(source, PairedFiles)
        # what the planner draws on: the images' grid and the patch side there (the inputs' grid when paired)
        self.plan_patch = patch_size // source.scale if self.paired else patch_size
        for name, (h, w) in zip(source.names, source.sizes):
            if h < self.plan_patch or w < self.plan_patch:
                what = f"its input {(h, w)} is smaller than the input patch" if self.paired else \
                    f"of size {(h, w)} is smaller than the patch size"
                raise ValueError(f"{name!r} {what} {(self.plan_patch, self.plan_patch)}")

    def _cut(self, cut, rows: list, size: int, transposes: list) -> torch.Tensor:
        """The windows ``cut(index, corners, size)`` of every row, flipped (and transposed) as drawn, stacked."""
        patches: list[torch.Tensor | None] = [None] * len(rows)
        for index in sorted({row[0] for row in rows}):  # each image decoded once per batch
            mine = [k for k, row in enumerate(rows) if row[0] == index]
            for k, patch in zip(mine, cut(index, [tuple(rows[k][1:3]) for k in mine], size)):
                patches[k] = patch.flip(-1) if rows[k][3] else patch
                patches[k] = patches[k].flip(-2) if rows[k][4] else patches[k]
                patches[k] = patches[k].transpose(-1, -2) if transposes[k] else patches[k]
        return torch.stack(patches)

    def __getitem__(self, plan: BatchPlan) -> tuple[torch.Tensor, torch.Tensor]:
        rows = plan.positions.tolist()
        transposes = plan.transposes.tolist() if plan.transposes is not None else [0] * len(rows)
        y = self._cut(self.source.patches, rows, self.patch_size, transposes)  # (B, C, p, p)
        if self.paired:  # (B, C, p / s, p / s) read from the files, transformed as their targets
            return self._cut(self.source.inputs, rows, self.patch_size, transposes), y
        return self.task.degrade(y, draws=plan.draws), y


def patch_loader(pairs: PatchPairs, planner: BatchPlanner, workers: int = 0,
                 pin_memory: bool = False) -> torch.utils.data.DataLoader:
    """The ``DataLoader`` of the training batches: one plan per item, in order, with ``workers`` processes.

    Args:
        pairs: the dataset.
        planner: its plans (the loader's sampler).
        workers: worker processes (0: in the training process).
        pin_memory: page-locked batches for asynchronous copies to a GPU.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be an int >= 0, got {workers!r}")
    # The loader's own generator only seeds the workers (which draw nothing); passing one keeps
    # it off torch's global generator.
    return torch.utils.data.DataLoader(pairs, batch_size=None, sampler=planner, num_workers=workers,
                                       pin_memory=pin_memory, prefetch_factor=2 if workers else None,
                                       generator=torch.Generator().manual_seed(0))
