"""The Explore tab's first view, computed once and kept on disk, so that a launch shows it at once.

What is here: ``FirstView`` (everything the Explore tab shows before the user touches a control:
the control choices, the strip, the panel, the status, both charts, the field spectrum), ``first_view(app)`` (read it
from ``<cache_dir>/first/<key>/`` when a previous launch wrote it for the same weights and the same
app code, else compute it with the same functions the events use, and write it) and ``warm(app)``
(after launch, in the background: load every net of the default task and compute the default
Restore view, so that the first clicks find them ready).

What is not here: the computations themselves (``explore.py``, ``charts.py``, ``restore.py``).
"""

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from eqlab.app.charts import (
    ANGLE_COLUMNS,
    COMPONENT_COLUMNS,
    LAYER_COLUMNS,
    explore_charts,
    layer_components,
    plot_df,
    shown,
    spectrum_bars,
    spectrum_words,
)
from eqlab.app.explore import explore_controls, explore_view, resolve
from eqlab.app.settings import DEFAULT_SAMPLE, EXPLORE_SIDE, STRENGTH, arm_color

DEFAULTS = dict(task="denoise", arm="eqreg", sample=DEFAULT_SAMPLE, upload=None, group="C4", element=1, channel=0)


@dataclass
class FirstView:
    """What the Explore tab shows first (file paths are copies in the app's own folder)."""

    elements: list  # (label, element) choices
    layers: list  # (label, layer name) choices
    layer: str
    channels: int
    strip: str | None
    panel: str | None
    status: str
    layer_rows: list
    angle_rows: list
    chart_note: str
    spectrum_rows: list = field(default_factory=list)  # the field spectrum's bars (arm · layer, component, share)
    spectrum_text: str = ""

    @property
    def layer_chart(self):
        return shown(plot_df(self.layer_rows, LAYER_COLUMNS))

    @property
    def angle_chart(self):
        return shown(plot_df(self.angle_rows, ANGLE_COLUMNS))

    @property
    def spectrum_chart(self):
        return shown(plot_df(self.spectrum_rows, COMPONENT_COLUMNS))

    @property
    def layer_colors(self) -> dict:
        return {row["arm"]: arm_color(row["arm"]) for row in self.layer_rows}

    @property
    def angle_colors(self) -> dict:
        return {row["series"]: arm_color(row["series"]) for row in self.angle_rows}

    @property
    def spectrum_order(self) -> list:
        return list(dict.fromkeys(row["arm"] for row in self.spectrum_rows)) or None

    @property
    def spectrum_colors(self) -> dict:
        from eqlab.viz.components import component_color

        return {row["component"]: component_color(row["component"]) for row in self.spectrum_rows}


def _key(app) -> str:
    """Identifies the first view: the weights of the default task's arms, the app's code and its sizes."""
    digest = hashlib.sha1(f"{app.bank.fingerprint(DEFAULTS['task'])}|{EXPLORE_SIDE}|{DEFAULTS}".encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


def _compute(app) -> FirstView:
    d = DEFAULTS
    resolved = resolve(app, d["task"], d["arm"], d["sample"], d["upload"], d["group"], d["element"], None)
    elements, layers, layer, _ = explore_controls(resolved)
    view = explore_view(app, resolved, d["channel"])
    layer_rows, angle_rows, rows, notes = explore_charts(app, d["task"], d["sample"], d["upload"], d["group"])
    position = [lay.name for lay in resolved.selection].index(layer) + 1
    table = layer_components(rows, layer, position)
    return FirstView([list(e) for e in elements], [list(c) for c in layers], view.layer, view.channels, view.strip,
                     view.panel, view.status, layer_rows, angle_rows, "\n\n".join(f"ℹ️ {n}" for n in notes),
                     spectrum_bars(table, layer),
                     spectrum_words(table, resolved.group.name))


def first_view(app) -> FirstView:
    """The first view, from the disk cache when it is there (no model is loaded then), else computed and stored."""
    folder = app.bank.cache_dir / "first" / _key(app)
    try:
        stored = json.loads((folder / "view.json").read_text())
        view = FirstView(**stored)
        for name in ("strip", "panel"):  # served files must live in the app's temporary folder
            copy = app.files / f"first-{name}.png"
            shutil.copyfile(folder / f"{name}.png", copy)
            setattr(view, name, str(copy))
        return view
    except (OSError, ValueError, TypeError):
        pass
    try:
        view = _compute(app)
    except Exception as err:  # noqa: BLE001 - e.g. a zoo being rebuilt: the page still opens, the events retry
        return FirstView([[f"1: {DEFAULTS['group']} element 1", 1]], [], "", 1, None, None,
                         f"⚠️ The first view could not be computed ({type(err).__name__}: {err}). Choose a task or "
                         "an arm to try again.", [], [], "")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(view.strip, folder / "strip.png")
        shutil.copyfile(view.panel, folder / "panel.png")
        (folder / "view.json").write_text(json.dumps(asdict(view)))
    except OSError:
        pass  # a read-only cache folder: compute again next launch
    return view


def warm(app, delay_s: float = 0.0) -> None:
    """Load every net of the default task and compute the default Restore view (run in a background thread,
    ``delay_s`` after the launch: the first pages are served first)."""
    import time

    from eqlab.app.restore import restore_update

    time.sleep(delay_s)
    d = DEFAULTS
    try:
        explore_view(app, resolve(app, d["task"], d["arm"], d["sample"], d["upload"], d["group"], d["element"], None),
                     d["channel"])
        explore_charts(app, d["task"], d["sample"], d["upload"], d["group"])
        restore_update(app, d["task"], STRENGTH[d["task"]][1]["value"], d["sample"], None, "90°")
    except Exception:  # noqa: BLE001 - a warm-up failure shows up (readably) when a user asks for the same view
        pass
