"""What the user gives, made safe: the square working image every tab uses, with notes on what was done.

What is here: ``load_working_image`` (validate an upload or pick a bundled sample; refuse images under
``MIN_SIDE`` or over ``MAX_PIXELS`` before decoding; area-downscale to a long side of ``MAX_SIDE``;
convert gray/RGB to what the model takes; crop the centre square and downscale it to ``WORK_SIDE``),
``image_or_sample`` (the same, falling back to the sample with a warning) and ``centre_crop``.

What is not here: image decoding and resizing themselves (``eqlab.data``), degradations
(``eqlab.tasks``), the caps' values (``settings.py``).
"""

import os
from pathlib import Path

import torch

from eqlab.app.settings import MAX_PIXELS, MAX_SIDE, MIN_SIDE, WORK_SIDE, InputError
from eqlab.data import ALL_IMAGES, limit_side, load_image, read_image, to_mode


def centre_crop(x: torch.Tensor, side: int) -> torch.Tensor:
    """``x: (..., H, W)`` -> its centre ``(..., side, side)`` crop (a view; ``side <= min(H, W)``)."""
    top = (x.shape[-2] - side) // 2
    left = (x.shape[-1] - side) // 2
    return x[..., top:top + side, left:left + side]


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


def _square(x: torch.Tensor, notes: list[str], multiple: int = 4, quiet: bool = False) -> torch.Tensor:
    """``(C, H, W)`` -> centre square, area-downscaled to at most ``WORK_SIDE``, side divisible by ``multiple``."""
    h, w = x.shape[-2:]
    side = min(h, w)
    if h != w:
        x = centre_crop(x, side)
        if not quiet:
            notes.append(f"centre square {side}×{side} cropped from {w}×{h}")
    if side > WORK_SIDE:
        x = limit_side(x, WORK_SIDE)
        if not quiet:
            notes.append(f"downscaled to {WORK_SIDE}×{WORK_SIDE} (the working size)")
    side = x.shape[-1] // multiple * multiple
    return x[:, :side, :side].contiguous()


def load_working_image(sample: str | None, upload: str | None, channels: int = 1,
                       cache: dict | None = None) -> tuple[torch.Tensor, list[str], str]:
    """The square image a tab works on, with readable notes on everything done to it.

    Args:
        sample: a name of ``eqlab.data.ALL_IMAGES`` (used when there is no upload).
        upload: path of an uploaded file, or ``None``.
        channels: what the model takes (1 gray, 3 RGB); the image is converted and a note says so.
        cache: a per-session dict reused between calls (decoding a big photo takes a while).

    Returns:
        ``(x, notes, name)``: ``x`` is ``(1, channels, S, S)`` in [0, 1] with ``MIN_SIDE <= S <= WORK_SIDE``.

    Raises:
        InputError: an unreadable or non-image file, an image under ``MIN_SIDE`` or over ``MAX_PIXELS``.
    """
    key = (sample, upload, os.path.getmtime(upload) if upload and os.path.exists(upload) else None, channels)
    if cache is not None and key in cache:
        x, notes, name = cache[key]
        return x.clone(), list(notes), name
    notes: list[str] = []
    if upload:
        name = Path(upload).name
        (w, h), mode, notes = _file_info(upload)
        if min(w, h) < MIN_SIDE:
            raise InputError(f"“{name}” is {w}×{h} px; the app needs at least {MIN_SIDE} px on each side")
        if w * h > MAX_PIXELS:
            raise InputError(f"“{name}” is {w}×{h} px ({w * h / 1e6:.0f} MP); "
                             f"the limit is {MAX_PIXELS / 1e6:.0f} MP")
        try:
            x = read_image(upload, mode="rgb" if mode not in ("L", "LA", "I", "F", "1") and not mode.startswith("I;16")
                           else "gray", max_side=MAX_SIDE)
        except Exception as err:  # noqa: BLE001 - a user file can fail to decode in many ways
            raise InputError(f"could not decode “{name}” ({type(err).__name__}: {err})") from None
        if max(w, h) > MAX_SIDE:
            notes.append(f"downscaled from {w}×{h} to a long side of {MAX_SIDE} px")
    else:
        name = sample if sample in ALL_IMAGES else "camera"
        if sample not in ALL_IMAGES:
            notes.append(f"unknown sample {sample!r}; using “camera”")
        x = load_image(name, mode="rgb", max_side=MAX_SIDE)
        if bool((x[0] == x[1]).all() and (x[1] == x[2]).all()):
            x = x[:1]
    if x.shape[0] != channels:
        what = "gray" if channels == 1 else "RGB"
        src = "an RGB" if x.shape[0] == 3 else "a gray"
        if upload or channels == 3:
            notes.append(f"{src} image was converted to {what} for this {channels}-channel model")
        x = to_mode(x, "gray" if channels == 1 else "rgb")
    x = _square(x, notes, quiet=not upload)
    if min(x.shape[-2:]) < MIN_SIDE:
        raise InputError(f"“{name}” leaves a {x.shape[-1]} px square; the app needs at least {MIN_SIDE} px")
    result = (x[None].contiguous(), notes, name)
    if cache is not None:
        if len(cache) > 8:
            cache.pop(next(iter(cache)))
        cache[key] = result
    return result[0].clone(), list(notes), name


def image_or_sample(sample, upload, channels, session) -> tuple[torch.Tensor, list[str], str, list[str]]:
    """Like ``load_working_image``; a bad upload falls back to the sample with a warning instead of failing."""
    cache = session.setdefault("images", {})
    try:
        x, notes, name = load_working_image(sample, upload, channels, cache)
        return x, notes, name, []
    except InputError as err:
        x, notes, name = load_working_image(sample, None, channels, cache)
        return x, notes, name, [f"Your upload was not used: {err}. Showing the sample “{name}” instead."]
