"""Patches for training and evaluation: random crops with a generator, fixed crops without.

What is here:
    - ``PatchSampler(images, patch_size, batch_size, generator)``: endless random
      ``(B, C, p, p)`` batches of clean patches. No augmentation by default.
    - ``draw_positions(sizes, patch_size, batch_size, generator)``: the random part alone, from
      the image sizes (the training pipeline, ``eqlab.data.pipeline``, crops elsewhere).
    - ``fixed_test_patches(images, patch_size, count)``: the same patches every time, on a grid.
    - ``center_crop(images, size)`` and ``crop_to_multiple(images, m)``: deterministic crops.

What is not here: degradations (``eqlab.data.degrade``) and rotations (``eqlab.groups``).

Why no augmentation by default: rotating the training data is one of eqlab's experimental arms
(``augment`` / ``eqreg``), so the ``plain`` arm must see unrotated patches. Even the optional
flips are not innocent: a horizontal and a vertical flip together are a 180-degree rotation.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch

__all__ = ["PatchSampler", "draw_positions", "fixed_test_patches", "center_crop", "crop_to_multiple"]


def _check_images(images: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    if isinstance(images, torch.Tensor):
        images = list(images) if images.dim() == 4 else [images]
    images = list(images)
    if not images:
        raise ValueError("images is empty")
    for i, x in enumerate(images):
        if not isinstance(x, torch.Tensor) or x.dim() != 3:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"image {i} must be a (C, H, W) tensor, got {got}")
    channels = {x.shape[0] for x in images}
    if len(channels) != 1:
        raise ValueError(f"all images must have the same number of channels, got {sorted(channels)}")
    return images


def _check_fits(images: list[torch.Tensor], height: int, width: int, names: Sequence[str] | None) -> None:
    for i, x in enumerate(images):
        if x.shape[-2] < height or x.shape[-1] < width:
            label = f"image {i}" + (f" ({names[i]!r})" if names is not None else "")
            raise ValueError(f"{label} of size {tuple(x.shape[-2:])} is smaller than the patch size {(height, width)}")


def _positive_int(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return value


def _pair(size: int | tuple[int, int], what: str) -> tuple[int, int]:
    hw = (size, size) if isinstance(size, int) and not isinstance(size, bool) else tuple(size)
    if len(hw) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in hw):
        raise ValueError(f"{what} must be a positive int or a pair of them, got {size!r}")
    return hw


class PatchSampler:
    """Endless random batches of clean patches, reproducible with a seeded generator.

    Each patch is drawn independently: an image uniformly at random, then a top-left corner
    uniformly among all positions where the patch fits. Sampling the parameters and cropping are
    separate steps (``sample_positions`` then ``crop``), so a batch can be re-cut elsewhere.

    Args:
        images: list of ``(C, H, W)`` tensors (or a ``(N, C, H, W)`` tensor), all with the same
            ``C`` and each at least ``patch_size`` on both sides.
        patch_size: side ``p`` of the square patches.
        batch_size: patches per batch ``B``.
        generator: random generator; the same seed gives the same sequence of batches.
        flips: random horizontal and vertical flips (off by default; see the module docstring).
        names: optional image names, used in error messages.

    Raises:
        ValueError: an image is smaller than the patch (named by index and name), channels
            differ, or the list is empty. Raised at construction, before any training.

    Example:
        >>> sampler = PatchSampler([torch.rand(1, 64, 80)], 32, 8, torch.Generator().manual_seed(0))
        >>> next(iter(sampler)).shape
        torch.Size([8, 1, 32, 32])
    """

    def __init__(
        self,
        images: Sequence[torch.Tensor],
        patch_size: int,
        batch_size: int,
        generator: torch.Generator | None = None,
        flips: bool = False,
        names: Sequence[str] | None = None,
    ) -> None:
        self.images = _check_images(images)
        self.patch_size = _positive_int(patch_size, "patch_size")
        self.batch_size = _positive_int(batch_size, "batch_size")
        if names is not None and len(names) != len(self.images):
            raise ValueError(f"names has {len(names)} entries for {len(self.images)} images")
        _check_fits(self.images, self.patch_size, self.patch_size, names)
        self.generator = generator
        self.flips = flips
        self.names = names

    def sample_positions(self) -> torch.Tensor:
        """Draw the parameters of one batch (see :func:`draw_positions`).

        Returns:
            ``(B, 5)`` long tensor of rows ``(image index, top, left, flip_h, flip_v)``.
        """
        sizes = [tuple(x.shape[-2:]) for x in self.images]
        return draw_positions(sizes, self.patch_size, self.batch_size, self.generator, self.flips)

    def crop(self, positions: torch.Tensor) -> torch.Tensor:
        """Cut the patches described by ``positions (B, 5)``; returns ``(B, C, p, p)``."""
        p = self.patch_size
        patches = []
        for i, top, left, flip_h, flip_v in positions.tolist():
            patch = self.images[i][:, top:top + p, left:left + p]
            if flip_h:
                patch = patch.flip(-1)
            if flip_v:
                patch = patch.flip(-2)
            patches.append(patch)
        return torch.stack(patches)  # (B, C, p, p)

    def sample(self) -> torch.Tensor:
        """One batch ``(B, C, p, p)`` of clean patches."""
        return self.crop(self.sample_positions())

    def __iter__(self) -> Iterator[torch.Tensor]:
        while True:
            yield self.sample()

    def __repr__(self) -> str:
        return (f"PatchSampler(images={len(self.images)}, patch_size={self.patch_size}, "
                f"batch_size={self.batch_size}, flips={self.flips})")


def draw_positions(sizes: Sequence[tuple[int, int]], patch_size: int, batch_size: int,
                   generator: torch.Generator | None = None, flips: bool = False) -> torch.Tensor:
    """The random parameters of a batch of patches: an image uniformly, then a corner uniformly where it fits.

    Only the image sizes are needed, so the images themselves may stay on disk
    (``eqlab.data.pipeline``). ``PatchSampler`` draws through this function: the same generator
    state gives the same positions either way.

    Args:
        sizes: ``(H, W)`` of every image, each at least ``patch_size`` on both sides.
        patch_size: side ``p`` of the square patches.
        batch_size: patches per batch ``B``.
        generator: the random stream.
        flips: also draw a horizontal and a vertical flip per patch (else zeros, without a draw).

    Returns:
        ``(B, 5)`` long tensor of rows ``(image index, top, left, flip_h, flip_v)``.

    Example:
        >>> draw_positions([(64, 80)], 32, 4, torch.Generator().manual_seed(0)).shape
        torch.Size([4, 5])
    """
    b, p = batch_size, patch_size
    index = torch.randint(len(sizes), (b,), generator=generator)
    free = torch.tensor([[h - p + 1, w - p + 1] for h, w in sizes])[index]  # (B, 2)
    corner = (torch.rand(b, 2, generator=generator, dtype=torch.float64) * free).long().minimum(free - 1)
    flip = torch.randint(2, (b, 2), generator=generator) if flips else torch.zeros(b, 2, dtype=torch.long)
    return torch.cat([index[:, None], corner, flip], dim=1)


def _grid(length: int, size: int, n: int) -> list[int]:
    """``n`` evenly spaced start offsets of a window ``size`` inside ``length``, ends included."""
    if n == 1:
        return [(length - size) // 2]
    return [round(k * (length - size) / (n - 1)) for k in range(n)]


def fixed_test_patches(images: Sequence[torch.Tensor], patch_size: int, count: int = 4) -> torch.Tensor:
    """``count`` patches per image at fixed positions: no randomness, same result every call.

    The positions are the first ``count`` cells, in raster order, of an evenly spaced
    ``rows x cols`` grid with ``rows = ceil(sqrt(count))``, ``cols = ceil(count / rows)``, whose
    outer windows touch the image borders (``count = 1`` is the centre crop).

    Args:
        images: list of ``(C, H, W)`` tensors with the same ``C``.
        patch_size: side ``p`` of the square patches.
        count: patches per image, ``>= 1``.

    Returns:
        ``(N * count, C, p, p)``, patches of image 0 first.

    Example:
        >>> fixed_test_patches([torch.rand(1, 64, 64), torch.rand(1, 48, 80)], 32, count=4).shape
        torch.Size([8, 1, 32, 32])
    """
    images = _check_images(images)
    p = _positive_int(patch_size, "patch_size")
    _positive_int(count, "count")
    _check_fits(images, p, p, None)
    rows = math.ceil(math.sqrt(count))
    cols = math.ceil(count / rows)
    patches = []
    for x in images:
        cells = [(top, left) for top in _grid(x.shape[-2], p, rows) for left in _grid(x.shape[-1], p, cols)][:count]
        patches += [x[:, top:top + p, left:left + p] for top, left in cells]
    return torch.stack(patches)  # (N * count, C, p, p)


def center_crop(images: torch.Tensor | Sequence[torch.Tensor], size: int | tuple[int, int]):
    """Crop the centre ``(h, w)`` window (top-left rounding down when the margin is odd).

    Args:
        images: a ``(..., H, W)`` tensor or a list of them.
        size: ``h = w = size`` or a pair ``(h, w)``, at most the image size.

    Returns:
        ``(..., h, w)`` tensor, or a list of them if a list was given.

    Example:
        >>> center_crop(torch.rand(3, 10, 12), 8).shape
        torch.Size([3, 8, 8])
    """
    h, w = _pair(size, "size")
    if not isinstance(images, torch.Tensor):
        return [center_crop(x, (h, w)) for x in images]
    if images.dim() < 2 or images.shape[-2] < h or images.shape[-1] < w:
        raise ValueError(f"cannot crop {(h, w)} out of shape {tuple(images.shape)}")
    top, left = (images.shape[-2] - h) // 2, (images.shape[-1] - w) // 2
    return images[..., top:top + h, left:left + w]


def crop_to_multiple(images: torch.Tensor | Sequence[torch.Tensor], m: int):
    """Crop the bottom and right edges so that ``m`` divides the height and width ("modcrop").

    Needed before ``BicubicDown(m)``, so that down- then up-scaling returns the original size.

    Args:
        images: a ``(..., H, W)`` tensor or a list of them.
        m: the divisor, ``>= 1``.

    Returns:
        ``(..., H - H % m, W - W % m)`` tensor, or a list of them if a list was given.

    Example:
        >>> crop_to_multiple(torch.rand(1, 3, 10, 13), 4).shape
        torch.Size([1, 3, 8, 12])
    """
    _positive_int(m, "m")
    if not isinstance(images, torch.Tensor):
        return [crop_to_multiple(x, m) for x in images]
    h, w = images.shape[-2:]
    if h < m or w < m:
        raise ValueError(f"image of shape {tuple(images.shape)} is smaller than the multiple {m}")
    return images[..., : h - h % m, : w - w % m]
