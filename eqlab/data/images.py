"""The default offline image set: natural photographs bundled with scikit-image and matplotlib.

What is here:
    - ``TRAIN_IMAGES`` / ``TEST_IMAGES``: a fixed, documented split of the bundled images.
    - ``image_names(split)``, ``load_image(name, ...)``, ``load_default(split, ...)``.

What is not here: user folders (``eqlab.data.folder``) and synthetic images
(``eqlab.data.synthetic``). Nothing here downloads: every image is a file inside the installed
``scikit-image`` package (``skimage.data``) or matplotlib's ``sample_data`` folder. The images
of ``skimage.data`` that need the optional ``pooch`` download (``skin``, ``lily``, ``kidney``,
``brain``, ``eagle``, ``palisades_of_vogt``, ...) are deliberately not used.

The split (chosen once, never changes; the two tuples are disjoint):
    - test (5 images, varied content): ``camera`` (gray portrait, sky and sharp edges),
      ``chelsea`` (RGB cat, fur texture), ``coins`` (gray, many round objects), ``gravel``
      (gray isotropic texture), ``rocket`` (RGB, man-made, strong vertical lines).
    - train (14 images): everything else that is a natural photograph or micrograph. The two
      views of ``motorcycle`` are near duplicates, so both sit in train. ``cat`` (a copy of
      ``chelsea``), binary or drawn images (``horse``, ``logo``, ``colorwheel``,
      ``checkerboard``, ``shepp_logan_phantom``), the already motion-blurred ``clock`` and the
      102-pixel ``microaneurysms`` are left out.

Images are decoded once per process (``functools.lru_cache``); every call returns fresh
tensors, so callers may modify them in place.
"""

from __future__ import annotations

import importlib.util
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import torch

from eqlab.data.convert import check_mode, limit_side, to_mode, to_tensor

__all__ = ["TRAIN_IMAGES", "TEST_IMAGES", "ALL_IMAGES", "image_names", "load_image", "load_default"]

TEST_IMAGES: tuple[str, ...] = ("camera", "chelsea", "coins", "gravel", "rocket")
TRAIN_IMAGES: tuple[str, ...] = (
    "astronaut", "brick", "cell", "coffee", "grace_hopper", "grass", "hubble_deep_field",
    "immunohistochemistry", "moon", "motorcycle_left", "motorcycle_right", "page", "retina", "text",
)
ALL_IMAGES: tuple[str, ...] = TRAIN_IMAGES + TEST_IMAGES

_SPLITS = {"train": TRAIN_IMAGES, "test": TEST_IMAGES, "all": ALL_IMAGES}


def image_names(split: str = "train") -> tuple[str, ...]:
    """Names of the images of a split, in the order ``load_default`` returns them.

    Args:
        split: ``"train"``, ``"test"`` or ``"all"`` (train then test).

    Returns:
        A tuple of image names.

    Example:
        >>> image_names("test")
        ('camera', 'chelsea', 'coins', 'gravel', 'rocket')
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {tuple(_SPLITS)}, got {split!r}")
    return _SPLITS[split]


def _matplotlib_sample(filename: str) -> Path:
    """Path of a file in matplotlib's ``mpl-data/sample_data``, found without importing matplotlib.

    The core never imports UI libraries; only the installed file is read.
    """
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"{filename!r} ships with matplotlib, which is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "sample_data" / filename
    if not path.is_file():
        raise ValueError(f"matplotlib's sample file {path} is missing")
    return path


@cache
def _decode(name: str) -> np.ndarray:
    """Decode one bundled image to its stored array (uint8, ``(H, W)`` or ``(H, W, 3)``)."""
    if name == "grace_hopper":
        from PIL import Image

        path = _matplotlib_sample("grace_hopper.jpg")
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    from skimage import data  # lazy: importing scikit-image takes a moment

    if name in ("motorcycle_left", "motorcycle_right"):
        left, right, _ = data.stereo_motorcycle()
        return left if name == "motorcycle_left" else right
    return getattr(data, name)()


@lru_cache(maxsize=64)
def _load(name: str, mode: str, max_side: int | None) -> torch.Tensor:
    return to_mode(limit_side(to_tensor(_decode(name)), max_side), mode).contiguous()


def load_image(name: str, mode: str = "gray", max_side: int | None = 512) -> torch.Tensor:
    """Load one bundled image by name.

    Args:
        name: one of ``ALL_IMAGES``.
        mode: ``"gray"`` (1 channel, BT.601 luma of the stored RGB values) or ``"rgb"``
            (3 channels; gray originals are replicated).
        max_side: long-side limit in pixels, applied by area down-scaling (see
            ``eqlab.data.convert.limit_side``); ``None`` keeps the original size. With the
            default 512, ``cell``, ``coffee``, ``grace_hopper``, ``hubble_deep_field``,
            ``motorcycle_*``, ``retina`` and ``rocket`` are reduced.

    Returns:
        ``(C, H, W)`` float32 tensor in ``[0, 1]``, ``C = 1`` or ``3``.

    Example:
        >>> load_image("camera").shape
        torch.Size([1, 512, 512])
    """
    if name not in ALL_IMAGES:
        raise ValueError(f"unknown image {name!r}; available: {ALL_IMAGES}")
    check_mode(mode)
    if max_side is not None and (isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 1):
        raise ValueError(f"max_side must be a positive int or None, got {max_side!r}")
    return _load(name, mode, max_side).clone()


def load_default(split: str = "train", mode: str = "gray", max_side: int | None = 512) -> list[torch.Tensor]:
    """Load a split of the default offline image set.

    Args:
        split: ``"train"`` (14 images), ``"test"`` (5 images) or ``"all"``.
        mode: ``"gray"`` or ``"rgb"``, as in ``load_image``.
        max_side: long-side limit in pixels (area down-scaling), ``None`` for the originals.

    Returns:
        A list of ``(C, H, W)`` float32 tensors in ``[0, 1]`` (sizes differ), in the order of
        ``image_names(split)``.

    Example:
        >>> xs = load_default("test", mode="rgb")
        >>> len(xs), xs[0].shape
        (5, torch.Size([3, 512, 512]))
    """
    return [load_image(name, mode=mode, max_side=max_side) for name in image_names(split)]
