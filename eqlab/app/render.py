"""Numpy pictures for the app's hot paths: colour maps, colour bars and labelled tile grids.

What is here: ``Painter`` (owns the fonts and colour tables; ``colorize`` maps values through a
colormap, ``canvas`` draws a labelled grid of square tiles with colour bars, ``colorbar`` one bar
with its ticks),
``feature_scale`` (a diverging scale around 0 for signed maps, a sequential one otherwise, robust
to outliers), ``gray`` (a tensor image as ``(H, W, 3)`` uint8) and ``save_png``.

Why not matplotlib figures: a figure of the rotation panel takes seconds, these pictures tens of
milliseconds (``eqlab.viz`` has the figures; the app offers one as "Full figure").

What is not here: what the pictures show (``explore.py``, ``restore.py``, ``learn.py``) and the
native Gradio charts (``charts.py``).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

CANVAS_WIDTH = 760  # px: pictures are drawn about this wide, so their text stays readable when the page shrinks them
TITLE, LABEL, NOTE = 16, 15, 13  # font sizes
BAR_WIDTH = 74  # px per colour bar
ICONS = 90  # px right of a title kept free: the page lays its fullscreen / download buttons over the top right


@dataclass(frozen=True)
class Bar:
    """A colour bar beside ``rows`` consecutive rows of a canvas, starting at row ``first``."""

    first: int
    rows: int
    cmap: str
    vmin: float
    vmax: float
    label: str
    column: int = 0  # bars of the same rows stand side by side: 0, 1, ...


def feature_scale(values: torch.Tensor) -> tuple[str, float, float]:
    """``(cmap, vmin, vmax)`` for feature maps: blue-white-red around 0 when they take both signs,
    viridis from the lowest value otherwise (image-valued layers, maps after a ReLU). The ends are the
    0.5 and 99.5 percentiles, so one hot pixel does not wash the maps out."""
    v = values.detach().float().flatten()
    v = v[~torch.isnan(v)] if bool(torch.isnan(v).any()) else v  # NaN: not compared (outside C8's disk)
    if v.numel() == 0:
        return "viridis", 0.0, 1.0
    if v.numel() > 40_000:  # a strided sample: the percentiles of 40k values are as good, 10x faster
        v = v[:: v.numel() // 40_000 + 1]
    low, high = (float(q) for q in torch.quantile(v, torch.tensor([0.005, 0.995])))
    if low < 0 < high and min(-low, high) > 0.05 * max(-low, high):
        amp = max(-low, high) or 1.0
        return "RdBu_r", -amp, amp
    if high <= low:
        high = low + 1e-6
    return "viridis", low, high


def gray(x: torch.Tensor) -> np.ndarray:
    """``(C, H, W)`` or ``(1, C, H, W)`` tensor in [0, 1] -> ``(H, W, 3)`` uint8."""
    x = x.detach().float().cpu()
    x = x[0] if x.dim() == 4 else x
    a = x.clamp(0, 1).permute(1, 2, 0).numpy()
    a = np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a
    return (a * 255 + 0.5).astype(np.uint8)


def save_png(image: np.ndarray, path: Path) -> Path:
    """Write ``(H, W, 3)`` uint8 as a PNG (fast compression: the page shows it once) and return the path."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, format="PNG", compress_level=1)
    return path


def _resize(a: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    if a.shape[0] == size and a.shape[1] == size:
        return a
    resample = Image.NEAREST if a.shape[0] < size else Image.BILINEAR
    return np.asarray(Image.fromarray(a).resize((size, size), resample))


def _ticks(vmin: float, vmax: float) -> list[float]:
    return [vmin, (vmin + vmax) / 2, vmax]


class Painter:
    """Draws the app's pictures; owns its fonts (DejaVu Sans from matplotlib's data: it has ←, −, ·, σ, λ)
    and the colour tables of matplotlib's colormaps (256 colours each, looked up, no figure)."""

    def __init__(self):
        self._fonts: dict[int, object] = {}
        self._tables: dict[str, np.ndarray] = {}

    def colorize(self, a: np.ndarray, cmap: str, vmin: float, vmax: float) -> np.ndarray:
        """``(H, W)`` float -> ``(H, W, 3)`` uint8 through the colormap ``cmap``, ``vmin`` … ``vmax``; NaN is grey."""
        if cmap not in self._tables:
            import matplotlib

            self._tables[cmap] = (matplotlib.colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
        a = np.asarray(a, dtype=np.float32)
        t = np.clip((np.nan_to_num(a) - vmin) / max(vmax - vmin, 1e-12), 0, 1)
        rgb = self._tables[cmap][(t * 255 + 0.5).astype(np.intp)]
        rgb[np.isnan(a)] = 235  # not compared (outside C8's disk): light grey
        return rgb

    def font(self, size: int):
        from PIL import ImageFont

        if size not in self._fonts:
            import matplotlib

            path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
            try:
                self._fonts[size] = ImageFont.truetype(str(path), size)
            except OSError:
                self._fonts[size] = ImageFont.load_default(size=size)
        return self._fonts[size]

    def fit(self, text: str, width: int, size: int) -> str:
        """``text``, cut with "…" to at most ``width`` px in the font of ``size``: a label never runs into the next."""
        font = self.font(size)
        if font.getlength(text) <= width:
            return text
        while text and font.getlength(text + "…") > width:
            text = text[:-1]
        return text + "…"

    def colorbar(self, cmap: str, vmin: float, vmax: float, height: int, label: str) -> np.ndarray:
        """A vertical colour bar ``height`` px tall with three ticks and a label above: ``(H, W, 3)`` uint8."""
        from PIL import Image, ImageDraw

        width, bar, top = BAR_WIDTH - 4, 14, 20
        img = Image.new("RGB", (width, height), "white")
        ramp = np.linspace(vmax, vmin, max(height - top - 8, 8))[:, None].repeat(bar, 1)
        img.paste(Image.fromarray(self.colorize(ramp, cmap, vmin, vmax)), (4, top))
        draw = ImageDraw.Draw(img)
        draw.text((2, 2), label, fill="#333333", font=self.font(NOTE))
        span = ramp.shape[0] - 1
        for value in _ticks(vmin, vmax):
            y = top + round((vmax - value) / max(vmax - vmin, 1e-12) * span)
            draw.line([(4 + bar, y), (8 + bar, y)], fill="#333333")
            draw.text((11 + bar, y - 7), f"{value:.2g}", fill="#333333", font=self.font(NOTE))
        return np.asarray(img)

    def canvas(self, rows: list[list[np.ndarray | None]], row_labels: list[str], col_labels: list[str], tile: int,
               title: str = "", notes: list[list[str]] | None = None, label_width: int = 150,
               bars: tuple[Bar, ...] = ()) -> np.ndarray:
        """A labelled grid of square RGB tiles (``None`` leaves a cell empty); returns ``(H, W, 3)`` uint8.

        ``notes[i][j]`` is a small caption under tile ``(i, j)``; each ``Bar`` is drawn right of its rows.
        """
        from PIL import Image, ImageDraw

        gap, head, foot = 6, 24, 18 if notes else 6
        lines = title.split("\n") if title else []
        top = 8 + 23 * len(lines)
        ncols = max(len(r) for r in rows)
        grid_right = label_width + ncols * (tile + gap) + gap
        width = grid_right + BAR_WIDTH * (1 + max((b.column for b in bars), default=-1))
        if lines:
            width = max(width, 16 + ICONS + max(int(self.font(TITLE).getlength(line)) for line in lines))
        height = top + head + len(rows) * (tile + foot + gap)
        img = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(img)
        for k, line in enumerate(lines):
            draw.text((8, 6 + 23 * k), line, fill="black", font=self.font(TITLE))
        for j, text in enumerate(col_labels):
            room = tile + gap - 2 if j < ncols - 1 else tile + BAR_WIDTH  # the last column may use the bars' room
            draw.text((label_width + j * (tile + gap) + gap, top + 4), self.fit(text, room, NOTE),
                      fill="#333333", font=self.font(NOTE))
        for i, (row, label) in enumerate(zip(rows, row_labels)):
            y0 = top + head + i * (tile + foot + gap)
            parts = label.split("\n")
            for k, line in enumerate(parts):
                draw.text((6, y0 + tile // 2 - 9 * len(parts) + 18 * k), line, fill="black", font=self.font(LABEL))
            for j, cell in enumerate(row):
                if cell is None:
                    continue
                x0 = label_width + j * (tile + gap) + gap
                img.paste(Image.fromarray(_resize(cell, tile)), (x0, y0))
                if notes and notes[i] and j < len(notes[i]) and notes[i][j]:
                    room = tile + gap - 2 if j < ncols - 1 else tile + BAR_WIDTH
                    draw.text((x0, y0 + tile + 2), self.fit(notes[i][j], room, NOTE), fill="#555555",
                              font=self.font(NOTE))
        for bar in bars:
            y0 = top + head + bar.first * (tile + foot + gap)
            span = bar.rows * (tile + foot + gap) - foot - gap
            img.paste(Image.fromarray(self.colorbar(bar.cmap, bar.vmin, bar.vmax, span, bar.label)),
                      (grid_right + bar.column * BAR_WIDTH, y0))
        return np.asarray(img)


def tile_for(columns: int, label_width: int, bars: int = 1, largest: int = 150) -> int:
    """The tile side that makes a canvas of ``columns`` tiles and ``bars`` colour bars about ``CANVAS_WIDTH`` wide."""
    room = CANVAS_WIDTH - label_width - BAR_WIDTH * bars
    return int(max(64, min(largest, room // max(columns, 1) - 6)))
