"""The Restore & compare tab: every arm on one degraded image, and on its rotated copy.

What is here: ``restore_update`` (degrade the image with the task at the chosen strength, run every
arm on ``x`` and on ``g·x`` in one batch, score PSNR/SSIM, compare f(g·x) with g·f(x), and draw
"rotate the input, watch the output rotate": restored images, error maps, g·x, f(g·x), g·f(x) and
their difference, on shared colour scales with colour bars) and ``restore_views`` (what the
before/after slider shows for an arm, from the session's last run). The shared arms' outputs are
cached per image, strength and rotation: a classroom's default view is computed once.

What is not here: the degradations and baselines (``eqlab.tasks``), the scores (``eqlab.metrics``),
the Gradio layout and wiring (``tabs/restore.py``).
"""

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from eqlab import metrics
from eqlab.app.inputs import picture
from eqlab.app.render import Bar, gray, save_png, tile_for
from eqlab.app.settings import COMPUTE_SLOTS, STRENGTH, WORK_SIDE, InputError, known_task
from eqlab.data import to_mode
from eqlab.groups import get_group
from eqlab.metrics import words
from eqlab.tasks import get_task

ROTATIONS = {"90°": 1, "180°": 2, "270°": 3}


def _strength(task: str, strength, warnings: list[str]) -> tuple[str, float]:
    name, spec = STRENGTH[task]
    try:
        value = float(strength)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):  # NaN would pass the range check below and degrade the image to NaN
        value = spec["value"]
        warnings.append(f"strength {strength!r} is not a finite number; using {value:g}")
    if not spec["minimum"] <= value <= spec["maximum"]:
        clipped = min(max(value, spec["minimum"]), spec["maximum"])
        warnings.append(f"strength {value:g} is outside [{spec['minimum']}, {spec['maximum']}]; using {clipped:g}")
        value = clipped
    return name, value


def _restore_arm(app, loaded, t, x, y, group, element) -> dict:
    """One arm on ``x`` and ``g·x``: outputs and scores (cached for the shared arms).

    A gray net among colour ones gets the luma of ``x`` and its output is shown replicated; a colour
    net on a gray picture gets it replicated (``eqlab.data.to_mode``).
    """
    border = t.scale if t.scale > 1 else 0
    mode = "rgb" if y.shape[1] == 3 else "gray"
    x = to_mode(x, "rgb" if getattr(loaded.model, "channels", x.shape[1]) == 3 else "gray")
    with app.computing(), torch.no_grad():  # x and g·x in one batch: one forward pass per arm
        out, out_g = to_mode(loaded.model(torch.cat([x, group.rotate(x, element)])).clamp(0, 1), mode).split(1)
    back = group.rotate(out_g, group.inverse(element))
    png = save_png(gray(out), app.files / f"restored-{app.counter()}.png")  # the slider's "after", drawn once
    return dict(out=out, out_g=out_g, png=str(png), psnr=metrics.psnr(out, y, crop_border=border),
                ssim=metrics.ssim(out, y, crop_border=border), psnr_rot=metrics.psnr(back, y, crop_border=border),
                ssim_rot=metrics.ssim(back, y, crop_border=border),
                output_error=metrics.relative_error(group.rotate(out, element), out_g))


def restore_update(app, task: str, strength, sample: str, upload: str | None, rotation: str,
                   session: dict | None = None, progress=None):
    """Run every arm on one degraded image, and on its rotated copy.

    Returns:
        ``(maps, table, status, session)``: the path of the maps picture, a list of row dicts (arm,
        source, PSNR, SSIM, the same with the rotated input, their difference, output equivariance
        error) and a Markdown status. ``session["restore"]`` keeps the slider images of every arm and
        ``refused``, whether the upload was refused (the sample was used instead).
    """
    session = session if session is not None else {}
    warnings: list[str] = []
    task = known_task(task)
    field, value = _strength(task, strength, warnings)
    t = get_task(task, **{field: value})
    group = get_group("C4")
    element = ROTATIONS.get(str(rotation), 1)
    models = {a: m for a in app.arms() if (m := _model(app, task, a, session, progress)) is not None}
    first = next(iter(models.values())).model
    colour = any(getattr(m.model, "channels", 1) == 3 for m in models.values())  # e.g. yours, trained --color rgb
    pic = picture(app.images, sample, upload, 3 if colour else 1, WORK_SIDE)
    warnings += pic.warnings
    notes = list(pic.notes)  # pic is shared through the image cache: never change it
    if not colour and _in_colour(picture(app.images, sample, upload, 3, WORK_SIDE).x):
        notes.append("the image is in colour, but no net of this task is (the zoo's nets are gray): every net "
                         "restores its gray (BT.601 luma); a net trained with `eqlab train --color rgb` restores "
                         "it in colour")
    y = t.crop(pic.x, max(t.crop_multiple(getattr(first, "config", {})), 4))  # (1, C, S, S) clean
    x = t.degrade(y, generator=torch.Generator().manual_seed(0))  # the same noise for every arm and user
    base = t.baseline(x)

    def one(arm):
        loaded = models[arm]
        return app.restores.get_or_make((loaded.key, task, value, pic.digest, element),
                                        lambda: _restore_arm(app, loaded, t, x, y, group, element))

    # The arms run side by side: torch releases the GIL, and each request uses one intra-op thread.
    with ThreadPoolExecutor(max_workers=COMPUTE_SLOTS) as pool:
        results = dict(zip(models, pool.map(one, list(models))))
    border = t.scale if t.scale > 1 else 0
    p, s = metrics.psnr(base, y, crop_border=border), metrics.ssim(base, y, crop_border=border)
    table = [dict(arm=t.baseline_name, source="no net", psnr=p, ssim=s, psnr_rot=p, ssim_rot=s, delta_psnr=0.0,
                  output_error=0.0)]
    table += [dict(arm=models[a].label, source=models[a].source, psnr=r["psnr"], ssim=r["ssim"],
                   psnr_rot=r["psnr_rot"], ssim_rot=r["ssim_rot"], delta_psnr=r["psnr_rot"] - r["psnr"],
                   output_error=r["output_error"]) for a, r in results.items()]
    key = ("restore", task, value, pic.digest, element, tuple(m.key for m in models.values()))
    maps = app.pictures.get_or_make(key, lambda: _draw(app, t, x, y, base, group, element, models, results, table))
    degraded = app.pictures.get_or_make(("degraded", task, value, pic.digest), lambda: save_png(
        gray(base if t.scale > 1 else x.clamp(0, 1)), app.files / f"degraded-{app.counter()}.png"))
    session["restore"] = dict(degraded=str(degraded), outputs={a: r["png"] for a, r in results.items()},
                              arms=list(results), refused=pic.refused)
    status = [f"**{task}**, {field.replace('_', ' ')} = {value:g} · image **{pic.name}** {y.shape[-1]}×{y.shape[-2]}"
              f" · rotate the input by {group.describe(element)}: each net restores g·x too; if it is equivariant, "
              "f(g·x) equals g·f(x) (the restored image, rotated) and the bottom row stays dark"]
    status.append(output_error_line({models[a].label: r["output_error"] for a, r in results.items()},
                                    models["plain"].label if "plain" in models else None))
    status += t.notes()
    status += [f"⚠️ {w}" for w in warnings] + [f"ℹ️ {n}" for n in notes]
    return str(maps), table, "\n\n".join(status), session


def output_error_line(errors: dict, reference: str | None) -> str:
    """The arms' output errors against ``reference``'s, in words (``eqlab.metrics.words.output_error_words``)."""
    lines = words.output_error_words(errors, reference) if reference else []
    if not lines:
        return "Output error e: " + ", ".join(f"{arm} {value:.3g}" for arm, value in errors.items())
    return "Output error e (f(g·x) against g·f(x), whole images): " + "; ".join(lines)


def _model(app, task, arm, session, progress):
    """The arm's model, or ``None`` (yours before a run; an extra zoo arm this task lacks)."""
    try:
        return app.model(task, arm, session, progress)
    except InputError:
        return None


def _in_colour(x: torch.Tensor) -> bool:
    """Whether ``x: (1, 3, H, W)`` has colour (channels that differ)."""
    return bool((x[:, 0] != x[:, 1]).any() or (x[:, 1] != x[:, 2]).any())


def _draw(app, t, x, y, base, group, element, models, results, table):
    """The maps picture: restored, error, g·x, f(g·x), g·f(x) and |f(g·x) − g·f(x)| for every arm."""
    arms = list(results)
    err = {a: (r["out"] - y).abs().mean(1)[0] for a, r in results.items()}
    rot = {a: (group.rotate(r["out"], element) - r["out_g"]).abs().mean(1)[0] for a, r in results.items()}
    base_err = (base - y).abs().mean(1)[0]
    vmax = max(float(np.percentile(base_err.numpy(), 99.5)), 1e-3)
    rmax = max(max(float(np.percentile(m.numpy(), 99.5)) for m in rot.values()), 1e-4)
    shown_x = base if t.scale > 1 else x.clamp(0, 1)
    turn = group.describe(element)
    paint = app.painter.colorize
    rows = [[gray(shown_x)] + [gray(results[a]["out"]) for a in arms],
            [paint(base_err.numpy(), "inferno", 0, vmax)] + [paint(err[a].numpy(), "inferno", 0, vmax) for a in arms],
            [gray(group.rotate(shown_x, element))] + [gray(results[a]["out_g"]) for a in arms],
            [gray(group.rotate(y, element))] + [gray(group.rotate(results[a]["out"], element)) for a in arms],
            [None] + [paint(rot[a].numpy(), "viridis", 0, rmax) for a in arms]]
    by_label = {r["arm"]: r for r in table}
    labels = [models[a].label for a in arms]
    notes = [[f"{by_label[t.baseline_name]['psnr']:.2f} dB"]  # the column label names the input: no overlap
             + [f"{by_label[lbl]['psnr']:.2f} dB" for lbl in labels],
             [""] * (len(arms) + 1),
             [f"g·x ({turn})"] + [""] * len(arms),
             ["g·(clean)"] + [""] * len(arms),
             [""] + [f"e = {by_label[lbl]['output_error']:.2g}" for lbl in labels]]
    label_width = 150
    picture_ = app.painter.canvas(
        rows, ["f(x)\nrestored", "|f(x) − clean|", "f(g·x)\nrestore g·x", "g·f(x)\nrotate f(x)",
               "|f(g·x) − g·f(x)|"],
        [t.baseline_name] + arms, tile_for(len(arms) + 1, label_width),
        f"{t.name} · every arm on one input, and on it rotated by {turn}",
        notes, label_width,
        bars=(Bar(1, 1, "inferno", 0.0, vmax, "|error|"), Bar(4, 1, "viridis", 0.0, rmax, "|diff|")))
    return save_png(picture_, app.files / f"restore-{app.counter()}.png")


def restore_views(session: dict | None, show: str):
    """The slider pair ``(degraded, restored by show)`` of the session's last ``restore_update``, or
    ``None`` before the first one. An arm not run falls back to eqreg."""
    restored = (session or {}).get("restore")
    if not restored:
        return None
    arms = restored["arms"]
    show = show if show in arms else ("eqreg" if "eqreg" in arms else arms[0])
    return restored["degraded"], restored["outputs"][show]
