"""Scoring a net on benchmark folders (Set5, Set14, BSD100, Urban100, your own) as restoration papers do.

What is here: ``score_folder(model, task, folder)``, every whole image of a folder scored by
``eqlab.tasks.evaluate`` (and, with ``self_ensemble``, by the net averaged over a group, the "+"
rows of SR papers), and ``format_table(scores)``, the table ``eqlab eval --test-data`` prints.

The protocol (BasicSR's, the one of the SR tables): the clean image is cropped to a multiple of
the scale (and of the net's input multiple), degraded, restored, clipped; PSNR and SSIM are on the
BT.601 Y channel for RGB images (``psnr_rgb`` on the three channels beside it) with ``scale`` pixels
of border dropped (none for denoising and deblurring). Noise is seeded per image index
(``eqlab.tasks.EVAL_SEED``), so every net sees the same noisy inputs. The equivariance errors are
left out (``eqlab eval`` without ``--test-data`` measures them).

What is not here: the metrics (``eqlab.metrics``), the averaging (``eqlab.ensemble``), reading
files (``eqlab.data.folder``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch.nn as nn

from eqlab.data.folder import load_folder
from eqlab.tasks import Task, evaluate, get_task

__all__ = ["score_folder", "format_table"]

_QUALITY = ("psnr", "ssim", "psnr_rgb", "psnr_rot90", "baseline_psnr", "baseline_ssim", "non_finite")


def score_folder(model: nn.Module, task: Task | str, folder: str | Path, self_ensemble: str | None = None,
                 crop: int | None = None) -> dict:
    """Every image of a folder, scored whole.

    Args:
        model: the net (its device is used).
        task: a ``Task`` or a task name; its ``mode`` decides gray or RGB reading.
        folder: a folder of clean images (``eqlab.data.folder.IMAGE_EXTENSIONS``).
        self_ensemble: ``"C2"``, ``"C4"`` or ``"D4"`` also scores the averaged net (``|G|`` times
            the forward passes): ``psnr_plus`` and ``ssim_plus``; ``None`` or ``"none"``: not.
        crop: centre crops of at most this side instead of whole images (quick looks, not the protocol).

    Returns:
        ``{"name": folder name, "folder", "task", "scale", "channels", "border", "self_ensemble", "crop",
        "images": [{"image": file name, "psnr", "ssim", ...}], "mean": {...}, "skipped": [(file, why)]}``;
        the numbers are those of :func:`eqlab.tasks.evaluate` (``psnr_rgb`` for RGB only).

    Raises:
        ValueError: a missing or empty folder, an image smaller than the scale requires.
    """
    task = get_task(task)
    images, names, skipped = load_folder(folder, mode=task.mode)  # raises for a folder without a readable image
    if crop:
        images = [task.crop(y, 1, crop) for y in images]
    plain = evaluate(model, task, images, equivariance=False, per_image=True)["per_image"]
    rows = [dict(image=name, **{k: r[k] for k in _QUALITY if k in r}) for name, r in zip(names, plain)]
    averaged = self_ensemble not in (None, "none")
    if averaged:
        plus = evaluate(model, task, images, equivariance=False, per_image=True, self_ensemble=self_ensemble)
        for row, r in zip(rows, plus["per_image"]):
            row.update(psnr_plus=r["psnr"], ssim_plus=r["ssim"])
    keys = [k for k in rows[0] if k != "image"]
    return dict(name=Path(folder).resolve().name, folder=str(folder), task=task.name, scale=task.scale,
                channels=task.channels, border=task.scale if task.scale > 1 else 0,
                self_ensemble=self_ensemble if averaged else None, crop=crop, images=rows,
                mean={k: float(np.mean([r[k] for r in rows])) for k in keys}, skipped=skipped)


def format_table(scores: dict, baseline_name: str = "baseline") -> str:
    """The table of :func:`score_folder`: a title line, a row per image, the mean.

    Args:
        scores: what :func:`score_folder` returned.
        baseline_name: how the degraded baseline is called (``Task.baseline_name``, e.g. ``"bicubic"``).

    Returns:
        the lines, joined by newlines (no trailing newline).
    """
    group = scores["self_ensemble"]
    columns = [("psnr", "PSNR", ".2f"), ("ssim", "SSIM", ".4f")]
    if group:
        columns += [("psnr_plus", f"PSNR+{group}", ".2f"), ("ssim_plus", f"SSIM+{group}", ".4f")]
    columns += [("psnr_rgb", "PSNR RGB", ".2f"), ("psnr_rot90", "PSNR rot90", ".2f"),
                ("baseline_psnr", f"{baseline_name} PSNR", ".2f"), ("baseline_ssim", f"{baseline_name} SSIM", ".4f")]
    columns = [c for c in columns if c[0] in scores["mean"]]
    what = "Y channel (BT.601) of the RGB images" if scores["channels"] == 3 else "gray images"
    scale = f" x{scores['scale']}" if scores["scale"] > 1 else ""
    count = len(scores["images"])
    size = f"{count} whole images"
    if scores.get("crop"):
        size = f"{count} images (centre crops of at most {scores['crop']} px)"
    title = f"{scores['name']}: {size}, {scores['task']}{scale}; PSNR / SSIM on the {what}, " \
        f"border {scores['border']} px"
    if group:
        title += f"\n+{group}: the net averaged over {group} at test time (self-ensemble, eqlab.ensemble)"
    first = max([len("image"), len("mean")] + [len(r["image"]) for r in scores["images"]]) + 2
    widths = [max(len(title_), 7) + 2 for _, title_, _ in columns]
    lines = [title, f"{'image':<{first}}" + "".join(f"{t:>{w}}" for (_, t, _), w in zip(columns, widths))]
    for row in [*scores["images"], dict(image="mean", **scores["mean"])]:
        lines.append(f"{row['image']:<{first}}" + "".join(f"{row[k]:>{w}{spec}}"
                                                          for (k, _, spec), w in zip(columns, widths)))
    return "\n".join(lines)
