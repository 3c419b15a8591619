"""Numpy pictures for the app's hot paths: colour maps, gray images and labelled tile grids.

What is here: ``colorize`` (a colour-map table look-up), ``gray`` (a tensor image as ``(H, W, 3)``
uint8), ``canvas`` (a labelled grid of square tiles, drawn with Pillow) and the font they use.

What is not here: matplotlib figures (``eqlab.viz``; a figure of the rotation panel takes
seconds, these pictures milliseconds) and the native Gradio charts (``handlers.plot_df``).
"""

from pathlib import Path

import numpy as np
import torch

_FONTS: dict[int, object] = {}


def _font(size: int = 13):
    """DejaVu Sans from matplotlib's data (it has ←, −, ·, σ), else Pillow's default font."""
    from PIL import ImageFont

    if size not in _FONTS:
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        try:
            _FONTS[size] = ImageFont.truetype(str(path), size)
        except OSError:
            _FONTS[size] = ImageFont.load_default(size=size)
    return _FONTS[size]


def colorize(a: np.ndarray, cmap: str, vmin: float, vmax: float) -> np.ndarray:
    """``(H, W)`` float -> ``(H, W, 3)`` uint8 through a matplotlib colormap (a table look-up, no figure)."""
    import matplotlib

    t = np.clip((a - vmin) / max(vmax - vmin, 1e-12), 0, 1)
    return (matplotlib.colormaps[cmap](t)[..., :3] * 255).astype(np.uint8)


def gray(x: torch.Tensor) -> np.ndarray:
    """``(C, H, W)`` or ``(1, C, H, W)`` tensor in [0, 1] -> ``(H, W, 3)`` uint8."""
    x = x.detach().float().cpu()
    x = x[0] if x.dim() == 4 else x
    a = x.clamp(0, 1).permute(1, 2, 0).numpy()
    a = np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a
    return (a * 255 + 0.5).astype(np.uint8)


def _resize(a: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    if a.shape[0] == size and a.shape[1] == size:
        return a
    resample = Image.NEAREST if a.shape[0] < size else Image.BILINEAR
    return np.asarray(Image.fromarray(a).resize((size, size), resample))


def canvas(rows: list[list[np.ndarray | None]], row_labels: list[str], col_labels: list[str], tile: int,
            title: str = "", notes: list[list[str]] | None = None, label_width: int = 190) -> np.ndarray:
    """A labelled grid of square RGB tiles (``None`` leaves a cell empty); returns ``(H, W, 3)`` uint8."""
    from PIL import Image, ImageDraw

    gap, head, foot = 6, 22, 16
    top = 8 + 20 * len(title.split("\n")) if title else 4
    ncols = max(len(r) for r in rows)
    width = label_width + ncols * (tile + gap) + gap
    if title:
        width = max(width, 16 + max(int(_font(14).getlength(line)) for line in title.split("\n")))
    height = top + head + len(rows) * (tile + foot + gap)
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    if title:
        for k, line in enumerate(title.split("\n")):
            draw.text((8, 6 + 20 * k), line, fill="black", font=_font(14))
    for j, text in enumerate(col_labels):
        draw.text((label_width + j * (tile + gap) + gap, top + 3), text, fill="#333333", font=_font(12))
    for i, (row, label) in enumerate(zip(rows, row_labels)):
        y0 = top + head + i * (tile + foot + gap)
        for k, line in enumerate(label.split("\n")):
            draw.text((6, y0 + tile // 2 - 10 + 15 * k), line, fill="black", font=_font(13))
        for j, cell in enumerate(row):
            if cell is None:
                continue
            x0 = label_width + j * (tile + gap) + gap
            img.paste(Image.fromarray(_resize(cell, tile)), (x0, y0))
            if notes and notes[i] and j < len(notes[i]) and notes[i][j]:
                draw.text((x0, y0 + tile + 1), notes[i][j], fill="#555555", font=_font(11))
    return np.asarray(img)
