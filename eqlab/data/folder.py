"""Load a folder of images (BSD68, Set5, DIV2K, your own photos) as eqlab tensors.

What is here:
    - ``read_image(path, mode, max_side)``: one file to a ``(C, H, W)`` tensor.
    - ``load_folder(path, mode, max_side, recursive)``: every image file of a folder, sorted by
      name; unreadable files are skipped and reported instead of stopping the run.
    - ``image_files(path, recursive)``: the image files of a folder, sorted, without reading them.
    - ``IMAGE_EXTENSIONS``: the file types read.

What is not here: the bundled default set (``eqlab.data.images``), patch sampling
(``eqlab.data.patches``) and the lazy training pipeline over a folder (``eqlab.data.pipeline``).

Formats: PNG, JPEG, BMP are read with Pillow (EXIF orientation applied); TIFF is read with
``tifffile`` (a dependency of scikit-image) so that 16-bit colour TIFFs keep their precision.
8-bit and 16-bit files, gray, gray + alpha, palette, RGB, RGBA and CMYK are supported. Alpha is
composited over white (see ``eqlab.data.convert``). Limitation: Pillow reads 16-bit *colour*
PNGs at 8-bit precision (16-bit gray PNGs keep their 16 bits).
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from eqlab.data.convert import check_mode, limit_side, to_mode, to_tensor

__all__ = ["IMAGE_EXTENSIONS", "FolderImages", "read_image", "image_files", "load_folder"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


class FolderImages(NamedTuple):
    """What ``load_folder`` returns; unpacks as ``images, names, skipped = load_folder(...)``."""

    images: list[torch.Tensor]  # (C, H, W) float32 tensors in [0, 1]
    names: list[str]  # file names relative to the folder, same order as images
    skipped: list[tuple[str, str]]  # (file name, reason) for every file that could not be read


@functools.cache
def _exif_turns() -> dict:
    from PIL import Image

    t = Image.Transpose  # EXIF orientation -> the transposition that undoes it (as ImageOps.exif_transpose)
    return {2: t.FLIP_LEFT_RIGHT, 3: t.ROTATE_180, 4: t.FLIP_TOP_BOTTOM, 5: t.TRANSPOSE, 6: t.ROTATE_270,
            7: t.TRANSVERSE, 8: t.ROTATE_90}


def _shrink(im, max_side: int | None):
    """Decode ``im`` at a reduced size when its long side is at least twice ``max_side``: JPEG's DCT scaling
    (``draft``), else an integer box reduction (``reduce``) before any conversion to float. The result keeps a
    long side of at least ``max_side`` (``limit_side`` finishes the area down-scaling), and a 36-MP upload never
    exists as float32. Alpha is reduced premultiplied, so a transparent pixel's colour does not leak."""
    if max_side is None or max(im.size) < 2 * max_side:
        return im
    factor = max(im.size) // max_side
    if im.format == "JPEG" and im.mode in ("L", "RGB", "CMYK", "YCbCr"):
        im.draft(im.mode, (-(-im.size[0] // factor), -(-im.size[1] // factor)))  # scales 1/2, 1/4, 1/8
        factor = max(im.size) // max_side
        if factor < 2:
            return im
    premultiplied = {"RGBA": "RGBa", "LA": "La"}.get(im.mode)
    if im.mode in ("P", "PA"):  # a palette cannot be averaged: its colours first (what _read_array does anyway)
        im = im.convert("RGBA")
        premultiplied = "RGBa"
    elif im.mode not in ("1", "L", "LA", "RGB", "RGBA", "I", "F") and not im.mode.startswith("I;16"):
        im = im.convert("RGB")
    if im.mode == "1" or im.mode.startswith("I;16"):  # no box reduction of these modes: 32-bit integers keep 16 bits
        im = im.convert("L" if im.mode == "1" else "I")
    if premultiplied:
        return im.convert(premultiplied).reduce(factor).convert(im.mode)
    return im.reduce(factor)


def _read_array(path: Path, max_side: int | None = None) -> np.ndarray:
    """Decode a file to an array whose dtype still tells its bit depth (reduced towards ``max_side``: ``_shrink``)."""
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        array = tifffile.imread(path, key=0)  # first page of a multi-page file
        if array.ndim == 3 and array.shape[0] in (3, 4) and array.shape[2] not in (1, 2, 3, 4):
            array = np.moveaxis(array, 0, -1)  # planar (C, H, W) storage
        return array
    from PIL import Image

    with Image.open(path) as im:
        turn = _exif_turns().get(im.getexif().get(0x0112))  # read before _shrink: a reduced copy has no EXIF
        im = _shrink(im, max_side)
        if turn is not None:  # as ImageOps.exif_transpose
            im = im.transpose(turn)
        if im.mode in ("P", "PA"):
            im = im.convert("RGBA" if im.mode == "PA" or "transparency" in im.info else "RGB")
        elif im.mode not in ("1", "L", "LA", "RGB", "RGBA", "I", "F") and not im.mode.startswith("I;16"):
            im = im.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX, ...
        return np.array(im)  # uint8, uint16 for I;16*, int32 for I, float32 for F, bool for 1


def read_image(path: str | Path, mode: str = "rgb", max_side: int | None = None) -> torch.Tensor:
    """Read one image file.

    Args:
        path: an image file (see ``IMAGE_EXTENSIONS``).
        mode: ``"gray"`` (BT.601 luma) or ``"rgb"`` (gray files are replicated).
        max_side: long-side limit in pixels, applied by area down-scaling; ``None`` keeps the
            original size. A file at least twice as large is decoded reduced (JPEG's DCT scaling or an
            integer box filter, alpha premultiplied) before it becomes float: the memory a large upload
            takes is the reduced image's, not 16 bytes a pixel of the original.

    Returns:
        ``(C, H, W)`` float32 tensor in ``[0, 1]``, ``C = 1`` or ``3``.

    Raises:
        OSError, ValueError, ...: whatever the decoder raises for an unreadable file.

    Example:
        >>> x = read_image("photo.png", mode="gray")  # doctest: +SKIP
    """
    check_mode(mode)
    x = to_tensor(_read_array(Path(path), max_side))
    if x.shape[0] not in (1, 3):
        raise ValueError(f"{path}: expected 1 or 3 colour channels after alpha, got {x.shape[0]}")
    return to_mode(limit_side(x, max_side), mode).contiguous()


def image_files(path: str | Path, recursive: bool = False) -> list[Path]:
    """The image files of a folder (``IMAGE_EXTENSIONS``, no hidden files), sorted by path.

    Raises:
        ValueError: the folder does not exist, is not a folder or holds no image file.
    """
    root = Path(path)
    if not root.exists():
        raise ValueError(f"image folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise ValueError(f"{str(root)!r} is not a folder")
    files = sorted(
        p for p in (root.rglob("*") if recursive else root.iterdir())
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    )
    if not files:
        raise ValueError(f"image folder {str(root)!r} holds no image file {IMAGE_EXTENSIONS}")
    return files


def load_folder(
    path: str | Path, mode: str = "rgb", max_side: int | None = None, recursive: bool = False
) -> FolderImages:
    """Load every image of a folder, sorted by file name.

    Files whose extension is not in ``IMAGE_EXTENSIONS`` are ignored. Files that have an image
    extension but cannot be decoded are skipped: each is listed in ``skipped`` with the reason,
    one ``UserWarning`` names them all, and loading goes on.

    Args:
        path: the folder.
        mode: ``"gray"`` or ``"rgb"``.
        max_side: long-side limit in pixels (area down-scaling), ``None`` for no limit.
        recursive: also read sub-folders (names then contain the relative path).

    Returns:
        ``FolderImages(images, names, skipped)``: ``images`` is a list of ``(C, H, W)`` float32
        tensors in ``[0, 1]``, ``names`` the matching relative file names, ``skipped`` a list of
        ``(name, reason)``.

    Raises:
        ValueError: the folder does not exist, is not a folder, holds no image file, or none of
            its image files could be read.

    Example:
        >>> images, names, skipped = load_folder("data/BSD68", mode="gray")  # doctest: +SKIP
    """
    check_mode(mode)
    root = Path(path)
    files = image_files(root, recursive)
    images, names, skipped = [], [], []
    for file in files:
        name = file.relative_to(root).as_posix()
        try:
            images.append(read_image(file, mode=mode, max_side=max_side))
            names.append(name)
        except Exception as err:  # noqa: BLE001 - a user file may fail in many ways; report, go on
            skipped.append((name, f"{type(err).__name__}: {err}"))
    if skipped:
        listing = "; ".join(f"{n} ({reason})" for n, reason in skipped)
        warnings.warn(f"skipped {len(skipped)} unreadable file(s) in {str(root)!r}: {listing}", stacklevel=2)
    if not images:
        raise ValueError(f"no image in {str(root)!r} could be read; skipped: {skipped}")
    return FolderImages(images, names, skipped)
