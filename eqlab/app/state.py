"""The app object: everything the server keeps between requests, created by ``build_app``.

What is here: ``App`` (the model bank, the caches of everything many users ask for: working images,
layer selections, rotation views, drawn pictures, charts, restorations and the Learn pictures; the
compute slots that keep a 2-core machine responsive; the training runner with its stop flags; the
folder of drawn PNG files). Nothing here is module-level: two apps in one process share nothing.

Why the caches: a classroom asks for the same default views many times (computed once, then served
in milliseconds), and a change of one control should compute only what changed (a channel change
redraws from the cached view; a layer change computes one view).

What is not here: what is computed (the tab modules), the page (``ui.py`` and ``tabs/``).
"""

import contextlib
import itertools
import os
import shutil
import tempfile
import threading
import weakref
from pathlib import Path

from eqlab import metrics
from eqlab.app.bank import Loaded, ModelBank
from eqlab.app.cache import Cache
from eqlab.app.guard import PREFIX
from eqlab.app.render import Painter
from eqlab.app.settings import COMPUTE_SLOTS, EXTRA_NET, YOURS, InputError
from eqlab.app.training import Trainings
from eqlab.arms import ARMS


def _remove(value) -> None:
    """Delete the drawn files of an evicted cache entry (a path, a tuple with paths, a dict with "png")."""
    paths = value if isinstance(value, tuple) else (value.get("png"),) if isinstance(value, dict) else (value,)
    for path in paths:
        if isinstance(path, (Path, str)) and str(path).endswith(".png"):
            Path(path).unlink(missing_ok=True)


class App:
    """The server side of one app: models, caches, compute slots and trainings.

    Args:
        models: where the nets come from (``ModelBank``'s ``source``).
        cache_dir: folder of first-use checkpoints and of the cached first render.
    """

    def __init__(self, models: str = "auto", cache_dir: str | None = None):
        import torch

        self.bank = ModelBank(models, cache_dir)
        self.cuda = torch.cuda.is_available()
        self.painter = Painter()
        self.files = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-files-"))  # guard.remove_stale: if killed
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.files, True)
        self.images = Cache(48)  # (sample, upload, mtime, channels, side) -> Picture
        self.layers = Cache(256)  # (model key, group) -> (Selection, note)
        self.views = Cache(96, max_bytes=256 * 2**20)  # (model key, image, group, element, layer) -> RotationView
        self.pictures = Cache(768, on_evict=_remove)  # drawn PNGs, keyed by what they show
        self.charts = Cache(96)  # (model key, image, group) -> per-layer and per-angle rows
        self.restores = Cache(48, on_evict=_remove)  # (model key, task, strength, image, element) -> outputs and scores
        self.learn = Cache(256, on_evict=_remove)  # Learn tab pictures
        self.slots = threading.BoundedSemaphore(COMPUTE_SLOTS)
        self.trainings = Trainings(self.files)
        self._count = itertools.count()

    def counter(self) -> int:
        """A fresh number for file names."""
        return next(self._count)

    @contextlib.contextmanager
    def computing(self):
        """Hold one of the ``COMPUTE_SLOTS`` while computing: cache hits never wait behind computations."""
        with self.slots:
            yield

    # -- models ------------------------------------------------------------------------------------
    def arms(self) -> list[str]:
        """The arms the tabs offer: the four of ``eqlab.arms``, the zoo's extra nets (e.g. ``eqreg-relative``) and
        "yours" (whatever ``eqlab.zoo.available()`` lists: no extra name is written into the app)."""
        return list(ARMS) + self.bank.extra_arms() + [YOURS]

    def model(self, task: str, arm: str, session: dict | None, progress=None) -> Loaded | None:
        """The model of an arm; ``"yours"`` is the session's trained model (``None`` when it has none)."""
        if arm == YOURS:
            mine = (session or {}).get("mine", {}).get(task)
            return mine["loaded"] if mine else None
        if arm not in self.arms() and arm != EXTRA_NET:
            raise InputError(f"unknown arm {arm!r}; expected one of {self.arms()}")
        return self.bank.get(task, arm, progress)

    def viewable(self, loaded: Loaded, group):
        """``(Selection, note)`` of ``eqlab.metrics.viewable_layers``, probed once per model and group."""
        def make():
            with self.computing():
                return metrics.viewable_layers(loaded.model, group)

        return self.layers.get_or_make((loaded.key, group.name), make)

    @staticmethod
    def default_layer(selection):
        """The layer shown first: the second one (the first after the head) when there is one."""
        return selection.layers[min(1, len(selection.layers) - 1)]

    def rotation_view(self, loaded: Loaded, pic, group, element: int, layer):
        """``eqlab.metrics.rotation_view`` of one layer, computed once per model, image, group, element, layer."""
        def make():
            with self.computing():
                return metrics.rotation_view(loaded.model, pic.x, group, element, layer.name, layer.rep)

        return self.views.get_or_make((loaded.key, pic.digest, group.name, element, layer.name), make)

    def close(self) -> None:
        """Stop trainings and remove the drawn files."""
        self.trainings.stop_all()
        self._finalizer()
