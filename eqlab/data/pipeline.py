"""The training data pipeline: random clean patches and their degraded inputs, as a ``torch.utils.data`` Dataset.

What is here:
    - ``ImageFiles(folder, mode, cache_dir)``: a folder opened lazily: sizes from the file headers,
      pixels decoded when a patch is cut, or read from a uint8 ``.npy`` cache (memory-mapped).
    - ``ImageTensors(images)``: the same two methods over images already in memory (the bundled set).
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

__all__ = ["ImageFiles", "ImageTensors", "BatchPlan", "BatchPlanner", "PatchPairs", "patch_loader", "image_size"]


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

    Raises:
        ValueError: the folder is missing or empty, or no file header can be read. Files whose header
        cannot be read are skipped with one ``UserWarning``, as ``load_folder`` does.

    Example:
        >>> files = ImageFiles("data/DIV2K_train_HR", mode="rgb", cache_dir="/tmp/div2k")  # doctest: +SKIP
        >>> files.patches(0, [(0, 0)], 96)[0].shape  # doctest: +SKIP
        torch.Size([3, 96, 96])
    """

    def __init__(self, folder: str | Path, mode: str = "rgb", cache_dir: str | Path | None = None):
        self.mode = check_mode(mode)
        self.root = Path(folder)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.files, self.names, self.sizes, skipped = [], [], [], []
        for file in image_files(self.root):
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
        cached = self.cache_dir / f"{file.stem}-{key}.npy"
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


@dataclass
class BatchPlan:
    """The random parameters of one batch: what ``PatchPairs`` turns into ``(x, y)`` without drawing anything."""

    step: int  # the optimizer step the batch is for (1-based)
    positions: torch.Tensor  # (B, 5) rows (image index, top, left, flip_h, flip_v), see draw_positions
    draws: dict  # the degradation's draws, Task.draws: blur directions and noise


class BatchPlanner(torch.utils.data.Sampler):
    """Endless ``BatchPlan``s, drawn in step order from the run's ``data`` and ``noise`` streams.

    The planner draws from copies of the two generators and records their states after every
    plan; :meth:`consumed` hands back the states after the oldest plan not yet consumed, for the
    loop to copy into its own generators (what a checkpoint stores). The draws are those of the
    earlier in-process loop: ``draw_positions`` from ``data``, then ``task.draws`` from ``noise``.

    Args:
        sizes: ``(H, W)`` of every training image.
        patch_size: side of the clean patches.
        batch_size: patches per batch.
        channels: image channels (the noise's shape).
        task: an ``eqlab.tasks.Task`` (its ``draws``).
        data: the generator of the patch positions (copied, not advanced).
        noise: the generator of the degradation (copied, not advanced).
        step: the step already taken (a resumed run starts after it).
    """

    def __init__(self, sizes, patch_size: int, batch_size: int, channels: int, task, data: torch.Generator,
                 noise: torch.Generator, step: int = 0):
        self.sizes, self.patch_size, self.batch_size, self.channels, self.task = sizes, patch_size, batch_size, \
            channels, task
        self.data, self.noise = _copy(data), _copy(noise)
        self.step = step
        self.states: deque[tuple[torch.Tensor, torch.Tensor]] = deque()

    def __iter__(self) -> Iterator[BatchPlan]:
        shape = (self.batch_size, self.channels, self.patch_size, self.patch_size)
        while True:
            self.step += 1
            positions = draw_positions(self.sizes, self.patch_size, self.batch_size, self.data)
            draws = self.task.draws(shape, self.noise)
            self.states.append((self.data.get_state(), self.noise.get_state()))
            yield BatchPlan(self.step, positions, draws)

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
        source: ``ImageFiles`` or ``ImageTensors``.
        patch_size: side ``p`` of the clean patches.
        task: the ``eqlab.tasks.Task`` whose degradation makes ``x``.

    Returns (per item):
        ``x``: ``(B, C, p / scale, p / scale)`` degraded inputs, ``y``: ``(B, C, p, p)`` clean patches.

    Raises:
        ValueError: at construction, an image smaller than the patch (named).
    """

    def __init__(self, source, patch_size: int, task):
        self.source, self.patch_size, self.task = source, patch_size, task
        for name, (h, w) in zip(source.names, source.sizes):
            if h < patch_size or w < patch_size:
                raise ValueError(f"{name!r} of size {(h, w)} is smaller than the patch size "
                                 f"{(patch_size, patch_size)}")

    def __getitem__(self, plan: BatchPlan) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.patch_size
        rows = plan.positions.tolist()
        patches: list[torch.Tensor | None] = [None] * len(rows)
        for index in sorted({row[0] for row in rows}):  # each image decoded once per batch
            mine = [k for k, row in enumerate(rows) if row[0] == index]
            for k, patch in zip(mine, self.source.patches(index, [tuple(rows[k][1:3]) for k in mine], p)):
                patches[k] = patch.flip(-1) if rows[k][3] else patch
                patches[k] = patches[k].flip(-2) if rows[k][4] else patches[k]
        y = torch.stack(patches)  # (B, C, p, p)
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
