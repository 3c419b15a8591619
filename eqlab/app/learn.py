"""The Learn tab: the group basics in three interactive pictures.

What is here: ``learn_rotate`` (rotate an image or its edge map: a directed filter cannot simply
rotate along), ``learn_channels`` (a lifting conv's four orientation channels cycle when the input
turns: the P_g of EQ-Reg) and ``learn_grid`` (only multiples of 90° are exact on a pixel grid).

Each picture is drawn once per angle and image and kept in the app's ``learn`` cache (a PNG path);
arbitrary angles use ``eqlab.groups.rotate_by_angle`` (exact at multiples of 90°, else bilinear).

Each text ends with links into the documentation site, where the notebooks explain more than a picture
can (``read_more``; ``eqlab docs`` serves the site at ``DOCS_URL``).

What is not here: the groups and the lifting conv (``eqlab.groups``, ``eqlab.layers``), the
matplotlib channel tables (``eqlab.viz.channel_shift_diagram``).
"""

import math

import torch

from eqlab import metrics
from eqlab.app.render import Bar, gray, save_png
from eqlab.app.settings import DEFAULT_SAMPLE, MAX_SIDE
from eqlab.data import ALL_IMAGES, center_crop, limit_side, load_image
from eqlab.groups import disk_mask, get_group, rotate_by_angle
from eqlab.layers import LiftingConv2d
from eqlab.metrics import UNRELATED, verdict

DOCS_URL = "http://127.0.0.1:8000"  # where `eqlab docs` serves the documentation site (eqlab.cli, its --port)
DOCS_PAGES = {  # the site's pages the Learn tab links to: name -> (title, path in the site)
    "01": ("notebook 01, symmetry on the pixel grid", "notebooks/01_symmetry_on_the_pixel_grid.html"),
    "02": ("notebook 02, equivariant CNNs", "notebooks/02_equivariant_cnns.html"),
    "03": ("notebook 03, the EQ-Reg regularizer", "notebooks/03_the_eqreg_regularizer.html"),
    "groups": ("the representations in eqlab.groups", "api/groups.html"),
    "regimes": ("the regime map", "regimes.html"),
}


def read_more(*names: str) -> str:
    """A Markdown line of links into the documentation site, for the ``DOCS_PAGES`` named."""
    links = ", ".join(f"[{DOCS_PAGES[n][0]}]({DOCS_URL}/{DOCS_PAGES[n][1]})" for n in names)
    return f"\n\n**Read more:** {links} (the documentation site: run `eqlab docs` from a checkout)."


def _edge_conv() -> LiftingConv2d:
    """A lifting conv with one hand-made filter (a vertical-edge detector) and its three quarter turns."""
    conv = LiftingConv2d(1, 1, 3, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]]]) / 4)
    return conv.eval()


def _learn_image(sample: str, side: int = 128) -> torch.Tensor:
    """A bundled image (unknown names: "camera") as gray, centre square, downscaled: ``(1, 1, side, side)``."""
    x = load_image(sample if sample in ALL_IMAGES else DEFAULT_SAMPLE, mode="gray", max_side=MAX_SIDE)
    return limit_side(center_crop(x, min(x.shape[-2:])), side)[None]  # (1, 1, side, side)


def _angle(value, default: float) -> float:
    """``value`` in degrees modulo 360; ``default`` for anything that is not a finite number (NaN, inf, text)."""
    try:
        angle = float(value)
    except (TypeError, ValueError):
        return default
    return angle % 360 if math.isfinite(angle) else default


def learn_rotate(app, angle, sample: str = DEFAULT_SAMPLE) -> tuple[str, str]:
    """Picture 1: rotate an image and a feature map (one vertical-edge channel). Returns ``(png, markdown)``."""
    angle = _angle(angle, 90.0)
    return app.learn.get_or_make(("rotate", angle, sample), lambda: _rotate(app, angle, sample))


def _rotate(app, angle: float, sample: str) -> tuple[str, str]:
    x = _learn_image(sample)
    conv = _edge_conv()
    with torch.no_grad():
        f = conv(x)[:, :1]  # channel 0: vertical edges
        fg = conv(rotate_by_angle(x, angle))[:, :1]
    rf = rotate_by_angle(f, angle)
    mask = disk_mask(*x.shape[-2:]) if angle % 90 else None
    e = metrics.relative_error(rf, fg, mask)
    amp = float(f.abs().max()) or 1.0
    feat = lambda t: app.painter.colorize(t[0, 0].numpy(), "RdBu_r", -amp, amp)  # noqa: E731
    image = app.painter.canvas(
        [[gray(x), feat(f)], [gray(rotate_by_angle(x, angle)), feat(fg), feat(rf)]],
        ["not rotated", f"rotated\nby {angle:g}°"], ["image", "its vertical-edge map", "the map above, rotated"], 190,
        f"rotate the image, or rotate its feature map: do the two right maps agree?  error {e:.2f}",
        label_width=120, bars=(Bar(0, 2, "RdBu_r", -amp, amp, "edge"),))
    text = (f"Rotated by **{angle:g}°**, the vertical-edge map of the rotated image (bottom middle) and the map of "
            f"the original, rotated (bottom right), differ by a relative error of **{e:.2f}**: {verdict(e)} (0 = the "
            f"same, about {UNRELATED:.2f} = √2 = unrelated maps, 2 = opposite signs). "
            "An edge detector has a direction: after a quarter turn, vertical edges have become horizontal, "
            "so *this* channel cannot simply rotate along. Picture 2 shows where the answer went." + read_more("01"))
    return str(save_png(image, app.files / f"learn-{app.counter()}.png")), text


def learn_channels(app, quarter_turns, sample: str = DEFAULT_SAMPLE) -> tuple[str, str]:
    """Picture 2: a lifting conv's four orientation channels cycle when the input turns."""
    try:
        k = int(float(quarter_turns)) % 4
    except (TypeError, ValueError):
        k = 1
    return app.learn.get_or_make(("channels", k, sample), lambda: _channels(app, k, sample))


def _channels(app, k: int, sample: str) -> tuple[str, str]:
    x = _learn_image(sample, 112)
    conv = _edge_conv()
    group = get_group("C4")
    with torch.no_grad():
        f = conv(x)  # (1, 4, H, W): the filter at 0, 90, 180, 270 degrees
        fg = conv(group.rotate(x, k))
    rf = group.rotate(f, k)
    amp = float(f.abs().max()) or 1.0
    feat = lambda t: app.painter.colorize(t.numpy(), "RdBu_r", -amp, amp)  # noqa: E731
    index = [(c - k) % 4 for c in range(4)]
    image = app.painter.canvas(
        [[gray(x)] + [feat(rf[0, c]) for c in range(4)],
         [gray(group.rotate(x, k))] + [feat(fg[0, c]) for c in range(4)]],
        [f"rotate f(x)\nby {90 * k}°", f"f(g·x)\n(g = {90 * k}°)"],
        ["input"] + [f"ch {c}: filter {90 * c}°" for c in range(4)], 140,
        f"rotating the input by {90 * k}° moves every orientation channel {k} place(s) to the right",
        [[""] * 5, [""] + [f"= ch {index[c]} above" for c in range(4)]], label_width=130,
        bars=(Bar(0, 2, "RdBu_r", -amp, amp, "edge"),))
    text = (f"Four copies of one edge filter, turned by 0°, 90°, 180° and 270°, make four channels: a *field*. "
            f"Turn the input by **{90 * k}°** and channel *c* of the new features equals channel "
            f"**c − {k} (mod 4)** of the rotated old ones: the maps rotate **and the channels cycle**. That cyclic "
            "shift is the P_g in EQ-Reg's f(g·x) = P_g rot_g f(x); EQ-Reg asks every layer of an ordinary CNN to "
            "behave like this, softly." + read_more("02", "groups", "03"))
    return str(save_png(image, app.files / f"learn-{app.counter()}.png")), text


def _round_trip(x: torch.Tensor, angle: float) -> torch.Tensor:
    return rotate_by_angle(rotate_by_angle(x, angle), -angle)


def _grid_curve() -> list[dict]:
    x = _learn_image(DEFAULT_SAMPLE, 96)
    disk = disk_mask(*x.shape[-2:])
    return [dict(angle=float(a), error=metrics.relative_error(_round_trip(x, a), x, disk),
                 series="rotate there and back") for a in range(0, 361, 5)]


def learn_grid(app, angle) -> tuple[str, list[dict], str]:
    """Picture 3: why only multiples of 90° are exact on a pixel grid (rotate there and back)."""
    angle = _angle(angle, 30.0)
    curve = app.learn.get_or_make(("grid curve",), _grid_curve)
    image, text = app.learn.get_or_make(("grid", angle), lambda: _grid(app, angle))
    top = max(r["error"] for r in curve)
    return image, curve + [dict(angle=angle, error=0.0, series="you are here"),
                           dict(angle=angle, error=top, series="you are here")], text


def _grid(app, angle: float) -> tuple[str, str]:
    x = _learn_image(DEFAULT_SAMPLE, 96)
    disk = disk_mask(*x.shape[-2:])
    back = _round_trip(x, angle)
    e = metrics.relative_error(back, x, disk)
    checker = ((torch.arange(12)[:, None] // 2 + torch.arange(12)[None, :] // 2) % 2).float()[None, None]
    checker = torch.nn.functional.pad(checker, (6, 6, 6, 6), value=0.5)
    diff = (back - x).abs()[0, 0] * disk
    image = app.painter.canvas(
        [[gray(x), gray(rotate_by_angle(x, angle)), gray(back), app.painter.colorize(diff.numpy(), "magma", 0, 0.25)],
         [gray(checker), gray(rotate_by_angle(checker, angle)), gray(_round_trip(checker, angle)), None]],
        ["photo", "pixels\n(zoomed)"], ["original", f"rotated {angle:g}°", "…and back", "|back − original|"], 170,
        f"rotate by {angle:g}° and back: relative error {e:.3f}", label_width=110,
        bars=(Bar(0, 1, "magma", 0.0, 0.25, "|diff|"),))
    text = (f"At **{angle:g}°** the round trip loses **{e:.3f}** (relative). Multiples of 90° move every pixel onto "
            "another pixel, so they are exact (error 0). Any other angle lands between pixels: the new values are "
            "interpolated, which blurs and loses the corners. That is why C4 (and D4) can be exact and C8 "
            "(45°) cannot: its error floor is not zero." + read_more("01"))
    return str(save_png(image, app.files / f"learn-{app.counter()}.png")), text
