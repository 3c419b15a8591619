"""The Restore & compare tab: every arm on one degraded image, and on its rotated copy.

What is here: ``restore_update`` (degrade the image with the task at the chosen strength, run the
arms side by side, score PSNR/SSIM, restore the rotated input, rotate the answer back, score again,
and draw the error and rotation maps on shared colour scales) and ``restore_views`` (what the
before/after slider shows for an arm, from the session's last run).

What is not here: the degradations and baselines (``eqlab.tasks``), the scores (``eqlab.metrics``),
the Gradio wiring (``ui.py``, ``handlers.py``).
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from eqlab import metrics
from eqlab.app.inputs import image_or_sample
from eqlab.app.models import ModelBank, arm_model
from eqlab.app.render import canvas, colorize, gray
from eqlab.app.settings import ARM_CHOICES, ARM_WORKERS, STRENGTH, known_task
from eqlab.groups import get_group
from eqlab.tasks import get_task


def restore_update(bank: ModelBank, task: str, strength, sample: str, upload: str | None, rotation: str,
                   session: dict | None = None, progress=None):
    """Run every arm on one degraded image, and on its rotated copy.

    Returns:
        ``(images, table, status, session)``: ``images`` maps names (``"clean"``, ``"degraded"``,
        ``"baseline"``, each arm, ``"error <arm>"``, ``"rotation <arm>"``) to ``(H, W, 3)`` uint8
        images; ``table`` is a list of row dicts (arm, PSNR, SSIM, PSNR and SSIM with the rotated
        input, their difference, output equivariance error).
    """
    session = session if session is not None else {}
    warnings = []
    task = known_task(task)
    field, spec = STRENGTH[task]
    try:
        value = float(strength)
    except (TypeError, ValueError):
        value = spec["value"]
        warnings.append(f"strength {strength!r} is not a number; using {value:g}")
    if not spec["minimum"] <= value <= spec["maximum"]:
        clipped = min(max(value, spec["minimum"]), spec["maximum"])
        warnings.append(f"strength {value:g} is outside [{spec['minimum']}, {spec['maximum']}]; using {clipped:g}")
        value = clipped
    t = get_task(task, **{field: value})
    group = get_group("C4")
    element = {"90°": 1, "180°": 2, "270°": 3}.get(str(rotation), 1)
    arms = [a for a in ARM_CHOICES if arm_model(bank, session, task, a, progress) is not None]
    first = arm_model(bank, session, task, arms[0], progress).model
    x_clean, notes, name, more = image_or_sample(sample, upload, getattr(first, "channels", 1), session)
    warnings += more
    y = t.crop(x_clean, max(t.crop_multiple(getattr(first, "config", {})), 4))  # (1, C, S, S)
    x = t.degrade(y, generator=torch.Generator().manual_seed(0))
    base = t.baseline(x)
    border = t.scale if t.scale > 1 else 0

    def scores(out):
        return metrics.psnr(out, y, crop_border=border), metrics.ssim(out, y, crop_border=border)

    images = {"clean": gray(y), "degraded": gray(t.baseline(x) if t.scale > 1 else x.clamp(0, 1)),
              "baseline": gray(base)}
    p, s = scores(base)
    table = [dict(arm=t.baseline_name, source="no net", psnr=p, ssim=s, psnr_rot=p, ssim_rot=s, delta_psnr=0.0,
                  output_error=0.0)]
    outs, errors, rot_maps = {}, {}, {}
    gx = group.rotate(x, element)
    models = {arm: arm_model(bank, session, task, arm, progress) for arm in arms}

    def run(model):
        with torch.no_grad():  # x and g·x in one batch: one forward pass per arm
            return model(torch.cat([x, gx])).clamp(0, 1).split(1)

    # The arms run side by side: torch releases the GIL, and each request uses one intra-op thread.
    with ThreadPoolExecutor(max_workers=ARM_WORKERS) as pool:
        results = dict(zip(arms, pool.map(run, [models[a].model for a in arms])))
    for arm in arms:
        loaded = models[arm]
        out, out_g = results[arm]
        back = group.rotate(out_g, group.inverse(element))
        p, s = scores(out)
        pr, sr = scores(back)
        table.append(dict(arm=loaded.label, source=loaded.source, psnr=p, ssim=s, psnr_rot=pr, ssim_rot=sr,
                          delta_psnr=pr - p, output_error=metrics.relative_error(group.rotate(out, element), out_g)))
        outs[arm] = out
        errors[arm] = (out - y).abs().mean(1)[0]
        rot_maps[arm] = (back - out).abs().mean(1)[0]
    vmax = max(float(np.percentile((base - y).abs().mean(1)[0].numpy(), 99.5)), 1e-3)
    images["error " + t.baseline_name] = colorize((base - y).abs().mean(1)[0].numpy(), "inferno", 0, vmax)
    rmax = max(max(float(np.percentile(m.numpy(), 99.5)) for m in rot_maps.values()), 1e-6)
    for arm in arms:
        images[arm] = gray(outs[arm])
        images["error " + arm] = colorize(errors[arm].numpy(), "inferno", 0, vmax)
        images["rotation " + arm] = colorize(rot_maps[arm].numpy(), "viridis", 0, rmax)
    scored = {r["arm"]: r for r in table}
    labels = [r["arm"] for r in table[1:]]
    images["maps"] = canvas(
        [[images["degraded"]] + [images[a] for a in arms],
         [images["error " + t.baseline_name]] + [images["error " + a] for a in arms],
         [images["clean"]] + [images["rotation " + a] for a in arms]],
        ["restored", f"|restored − clean|\n(0 … {vmax:.2f})",
         f"rotated input:\n|g⁻¹f(g·x) − f(x)|\n(0 … {rmax:.2g})"],
        [f"input: {t.baseline_name}"] + arms, 150,
        f"{task} · every arm on the same input · error maps on one scale, brighter = worse",
        [[f"{scored[t.baseline_name]['psnr']:.2f} dB"] + [f"{scored[lbl]['psnr']:.2f} dB" for lbl in labels],
         [""] * (len(arms) + 1),
         ["clean (reference)"] + [f"Δ PSNR {scored[lbl]['delta_psnr']:+.2f} dB" for lbl in labels]],
        label_width=170)
    status = [f"**{task}**, {field.replace('_', ' ')} = {value:g} · image **{name}** {y.shape[-1]}×{y.shape[-2]} · "
              f"rotated input: {group.describe(element)} in, rotated back out · error maps share one colour "
              f"scale (0 … {vmax:.3f}); rotation maps |g⁻¹f(g·x) − f(x)| share another (0 … {rmax:.2g})"]
    if task == "deblur":
        status.append("the blur has a fixed direction (30°): a rotated photo is blurred along another direction, "
                      "so here even a perfect deblurrer should *not* be rotation-equivariant")
    status += [f"⚠️ {w}" for w in warnings] + [f"ℹ️ {n}" for n in notes]
    session["restore"] = {"images": images, "arms": arms, "baseline": t.baseline_name}
    return images, table, "\n\n".join(status), session



def restore_views(session: dict | None, show: str) -> tuple:
    """The slider pair ``(degraded, restored by show)`` and the maps picture of the session's last
    ``restore_update``; ``(None, [])`` before the first one. An arm not run falls back to eqreg."""
    restored = (session or {}).get("restore")
    if not restored:
        return None, []
    images, arms = restored["images"], restored["arms"]
    show = show if show in arms else ("eqreg" if "eqreg" in arms else arms[0])
    return (images["degraded"], images[show]), images["maps"]
