"""What the user gives, made safe: the square working image every tab uses, with notes on what was done.

What is here: ``load_working_image`` (validate an upload or pick a bundled sample; refuse images under
``MIN_SIDE`` or over ``MAX_PIXELS`` before decoding; decode at a reduced size, ``DECODE_SLOTS`` uploads at
a time, and give the memory back after each; area-downscale to a long side of ``MAX_SIDE``;
convert gray/RGB to what the model takes; crop the centre square and downscale it to ``side``),
``Picture`` and ``picture`` (the same through the app's image cache, with a digest for the other
caches; a bad upload falls back to the sample with a warning).

What is not here: image decoding and resizing themselves (``eqlab.data``), degradations
(``eqlab.tasks``), the caps' values (``settings.py``).
"""

import hashlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch

from eqlab.app.cache import Cache
from eqlab.app.settings import DECODE_SLOTS, DEFAULT_SAMPLE, MAX_PIXELS, MAX_SIDE, MIN_SIDE, WORK_SIDE, InputError
from eqlab.data import ALL_IMAGES, center_crop, limit_side, load_image, read_image, to_mode
from eqlab.machine import release_memory

# Memory is the process's, whichever app asks: decoding is bounded per process, not per App.
_DECODING = threading.BoundedSemaphore(DECODE_SLOTS)


def _file_info(path: str) -> tuple[tuple[int, int], str, list[str]]:
    """``(width, height)``, PIL mode and notes, reading the header only; ``InputError`` when unreadable."""
    from PIL import Image, UnidentifiedImageError

    name = Path(path).name
    try:
        with Image.open(path) as im:
            size, mode, transparent = im.size, im.mode, "transparency" in im.info
    except Image.DecompressionBombError:
        raise InputError(f"“{name}” has too many pixels (over {MAX_PIXELS / 1e6:.0f} MP)") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise InputError(f"could not read “{name}” as an image ({type(err).__name__}); "
                         "try a PNG, JPEG, BMP or TIFF file") from None
    notes = []
    if mode in ("RGBA", "LA", "PA") or transparent:
        notes.append("transparent areas were composited over white")
    if mode.startswith("I;16") or mode == "I":
        notes.append("16-bit image: read at full precision and scaled to [0, 1]")
    return size, mode, notes


def _square(x: torch.Tensor, side: int, notes: list[str], quiet: bool, multiple: int = 4) -> torch.Tensor:
    """``(C, H, W)`` -> centre square, area-downscaled to at most ``side``, its side divisible by ``multiple``."""
    h, w = x.shape[-2:]
    short = min(h, w)
    if h != w:
        x = center_crop(x, short)
        if not quiet:
            notes.append(f"centre square {short}×{short} cropped from {w}×{h}")
    if short > side:
        x = limit_side(x, side)
        if not quiet:
            notes.append(f"downscaled to {side}×{side} (the working size)")
    keep = x.shape[-1] // multiple * multiple
    return x[:, :keep, :keep].contiguous()


def load_working_image(sample: str | None, upload: str | None, channels: int = 1,
                       side: int = WORK_SIDE) -> tuple[torch.Tensor, list[str], str]:
    """The square image a tab works on, with readable notes on everything done to it.

    Args:
        sample: a name of ``eqlab.data.ALL_IMAGES`` (used when there is no upload).
        upload: path of an uploaded file, or ``None``.
        channels: what the model takes (1 gray, 3 RGB); the image is converted and a note says so.
        side: the largest side of the result.

    Returns:
        ``(x, notes, name)``: ``x`` is ``(1, channels, S, S)`` in [0, 1] with ``MIN_SIDE <= S <= side``.

    Raises:
        InputError: an unreadable or non-image file, an image under ``MIN_SIDE`` or over ``MAX_PIXELS``.
    """
    notes: list[str] = []
    if upload:
        name = Path(upload).name
        (w, h), mode, notes = _file_info(upload)
        if min(w, h) < MIN_SIDE:
            raise InputError(f"“{name}” is {w}×{h} px; the app needs at least {MIN_SIDE} px on each side")
        if w * h > MAX_PIXELS:
            raise InputError(f"“{name}” is {w}×{h} px ({w * h / 1e6:.0f} MP); the limit is {MAX_PIXELS / 1e6:.0f} MP")
        gray = mode in ("L", "LA", "I", "F", "1") or mode.startswith("I;16")
        try:
            with _DECODING:  # reduced while decoded (eqlab.data.read_image), one at a time, memory given back
                try:
                    x = read_image(upload, mode="gray" if gray else "rgb", max_side=MAX_SIDE)
                finally:
                    release_memory()
        except Exception as err:  # noqa: BLE001 - a user file can fail to decode in many ways
            raise InputError(f"could not decode “{name}” ({type(err).__name__}: {err})") from None
        if max(w, h) > MAX_SIDE:
            notes.append(f"downscaled from {w}×{h} to a long side of {MAX_SIDE} px")
    else:
        name = sample if sample in ALL_IMAGES else DEFAULT_SAMPLE
        if sample not in ALL_IMAGES:
            notes.append(f"unknown sample {sample!r}; using “{name}”")
        x = load_image(name, mode="rgb", max_side=MAX_SIDE)
        if bool((x[0] == x[1]).all() and (x[1] == x[2]).all()):
            x = x[:1]
    if x.shape[0] != channels:
        what = "gray" if channels == 1 else "RGB"
        src = "an RGB" if x.shape[0] == 3 else "a gray"
        if upload or channels == 3:
            notes.append(f"{src} image was converted to {what} for this {channels}-channel model")
        x = to_mode(x, "gray" if channels == 1 else "rgb")
    x = _square(x, side, notes, quiet=not upload)
    if min(x.shape[-2:]) < MIN_SIDE:
        raise InputError(f"“{name}” leaves a {x.shape[-1]} px square; the app needs at least {MIN_SIDE} px")
    return x[None].contiguous(), notes, name


@dataclass(frozen=True)
class Picture:
    """A working image and what the page says about it."""

    x: torch.Tensor  # (1, C, S, S) in [0, 1]; shared through the cache: never change it in place
    name: str  # the sample's name or the upload's file name
    digest: str  # identifies the pixels in the app's caches
    notes: list[str] = field(default_factory=list)  # what was done to the image
    warnings: list[str] = field(default_factory=list)  # e.g. a refused upload
    refused: bool = False  # the upload was refused (the page clears it)


def picture(images: Cache, sample: str | None, upload: str | None, channels: int = 1,
            side: int = WORK_SIDE) -> Picture:
    """``load_working_image`` through the app's image cache; a refused upload falls back to the sample."""

    def load(sample_, upload_) -> Picture:
        stamp = os.path.getmtime(upload_) if upload_ and os.path.exists(upload_) else None

        def make():
            x, notes, name = load_working_image(sample_, upload_, channels, side)
            return Picture(x, name, hashlib.sha1(x.numpy().tobytes()).hexdigest()[:16], notes)

        return images.get_or_make(("image", sample_, upload_, stamp, channels, side), make)

    try:
        return load(sample, upload)
    except InputError as err:
        fallback = load(sample, None)
        return Picture(fallback.x, fallback.name, fallback.digest, list(fallback.notes),
                       [f"your upload was not used: {err}. Showing the sample “{fallback.name}” instead."], True)
