"""Where does soft equivariance pay? Train the regime grid and write ``docs/regimes.md`` and ``docs/regimes.csv``.

The grid is fixed here, before any result (``GRID``, ``ARMS``, ``SEEDS``, ``STEPS``): one base point, and one
axis varied at a time around it.

    base          the 14 bundled training images -> the 5 bundled test crops, eqlab's CNN of the task (width 16),
                  1500 steps, every arm at equal steps
    data          1 image (astronaut) and 3 images (astronaut, brick, cell) instead of 14
    cross         train on the photographs, test on textures and micrographs (another family of images)
    oriented      synthetic textures of orientation bias 1 (a preferred direction: exact rotation symmetry is wrong)
    symmetric     deblurring with a blur direction drawn per image (the degradation made rotation-symmetric;
                  every other deblurring cell has the fixed 30-degree blur, itself a symmetry deviation)
    transformer   the windowed-attention net (winattn, no strict twin) at the base point and on one image
    equal time    the base point with every arm trained for the seconds eqreg's 1500 steps took (its steps set
                  from the mean seconds per step of the base runs: the cheaper arms get more steps, strict fewer)

Arms trained: plain, augment, eqreg (the zoo's eqreg recipe of the task: split norm, target gradient share 0.1,
SR 0.3 from the equivariant start, deblur 0.2) and strict (the P4 twin; CNNs only). Test-time averages are
evaluations of the trained nets, not new runs: every plain, augment and eqreg net is also scored averaged over
C4 and D4. Every run is scored on the test crops turned 90 and 45 degrees before the degradation too.

Usage:
    nohup python scripts/regimes.py > runs/regimes.log 2>&1 &   # train what the cache lacks, then write the page
    python scripts/regimes.py --write-only                      # the page, the figure and the CSV from the cache
    python scripts/regimes.py --steps 10 --seeds 0 --cache /tmp/g --docs /tmp/d   # a quick try of the machinery
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eqlab import zoo
from eqlab.experiments import Run, load_records, mean_std, run_grid

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (0, 1, 2)
STEPS = 1500
CNN_ARMS = ("plain", "augment", "eqreg", "strict")
SOFT_ARMS = ("plain", "augment", "eqreg")  # arms without a strict twin (the Transformer)
AVERAGES = ("C4", "D4")  # test-time averages of every net that is not strict
ANGLES = (90, 45)
TRANSFORMER = dict(model="winattn", features=16, depth=4)  # ~7x a CNN step at depth 8: depth 4 to fit the CPU
# The bundled images by family (eqlab.data.images; the test split's camera, chelsea, coins, rocket are photographs).
PHOTOS = ("astronaut", "coffee", "grace_hopper", "motorcycle_left", "motorcycle_right", "camera", "chelsea", "coins",
          "rocket")
TEXTURES_MICROGRAPHS = ("brick", "grass", "gravel", "cell", "immunohistochemistry", "retina", "moon",
                        "hubble_deep_field")
ONE, THREE = ("astronaut",), ("astronaut", "brick", "cell")


@dataclass(frozen=True)
class Cell:
    """One point of the map: a regime, its tasks, its net and what changes in the training config."""

    regime: str  # the row of the map
    tasks: tuple[str, ...]
    train: str  # in words: the training images
    test: str  # in words: the test images
    changes: dict = field(default_factory=dict)  # TrainConfig fields (data folders are filled in by plan())
    train_images: tuple[str, ...] | None = None  # bundled images written to a folder; None: the 14 bundled
    test_images: tuple[str, ...] | None = None  # None: the 5 bundled test images
    synthetic: bool = False  # synthetic textures of orientation bias 1 (train and test)
    transformer: bool = False


CELLS = (  # in the order they run: what the map needs most first
    Cell("base", zoo.TASKS, "14 bundled", "5 bundled"),
    Cell("1 image", zoo.TASKS, "1 (astronaut)", "5 bundled", train_images=ONE),
    Cell("transformer, 1 image", ("denoise",), "1 (astronaut)", "5 bundled", train_images=ONE, transformer=True),
    Cell("transformer", ("denoise",), "14 bundled", "5 bundled", transformer=True),
    Cell("cross-dataset", zoo.TASKS, "9 photographs", "8 textures & micrographs", train_images=PHOTOS,
         test_images=TEXTURES_MICROGRAPHS),
    Cell("oriented data", ("denoise", "sr"), "24 synthetic, bias 1", "5 synthetic, bias 1", synthetic=True),
    Cell("symmetric blur", ("deblur",), "14 bundled", "5 bundled", dict(blur_random=True)),
    Cell("3 images", ("denoise", "sr"), "3 (astronaut, brick, cell)", "5 bundled", train_images=THREE),
)
EQUAL_TIME = "equal time"  # the base point at eqreg's seconds (planned from the base runs' timings)
REGIMES = tuple(c.regime for c in CELLS) + (EQUAL_TIME,)


# -- the plan ------------------------------------------------------------------------------------------

def image_folder(cache: Path, name: str, images: tuple[str, ...]) -> str:
    """Write (once) bundled images as 16-bit gray PNGs into ``cache/data/<name>``; the folder, relative to the root."""
    from PIL import Image

    from eqlab.data.images import load_image

    folder = cache / "data" / name
    if len(list(folder.glob("*.png"))) != len(images):
        folder.mkdir(parents=True, exist_ok=True)
        for image in images:
            y = load_image(image, mode="gray", max_side=512)
            Image.fromarray((y[0].numpy() * 65535).round().astype(np.uint16)).save(folder / f"{image}.png")
    return _relative(folder)


def synthetic_folders(cache: Path) -> tuple[str, str]:
    """The synthetic train / test folders of orientation bias 1 (``scripts/report.py`` writes them the same way)."""
    from report import synthetic_data

    return tuple(_relative(Path(f)) for f in synthetic_data(cache, 1.0))


def _relative(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _slug(text: str) -> str:
    return text.replace(", ", "-").replace(" ", "-")


def cell_arms(cell: Cell) -> tuple[str, ...]:
    return SOFT_ARMS if cell.transformer else CNN_ARMS


def options(arm: str) -> dict:
    return dict(angles=list(ANGLES), averages=[] if arm == "strict" else list(AVERAGES))


def config(cell: Cell, task: str, arm: str, seed: int, cache: Path, steps: int):
    changes = dict(cell.changes, steps=steps, val_size=zoo.EVAL_SIZE)  # fit's last validation = the row's PSNR
    if cell.transformer:
        changes.update(TRANSFORMER)
    if cell.synthetic:
        changes["data"], changes["test_data"] = synthetic_folders(cache)
    if cell.train_images:
        changes["data"] = image_folder(cache, _slug(cell.train), cell.train_images)
    if cell.test_images:
        changes["test_data"] = image_folder(cache, _slug(cell.test), cell.test_images)
    return zoo.recipe(task, arm, seed, **changes)


def key(regime: str, task: str, arm: str, seed: int) -> str:
    return f"{_slug(regime)}/{task}/{arm}/s{seed}"


def plan(args, cache: Path) -> list[Run]:
    """Every run that does not depend on another's result, in the order of ``CELLS`` (seeds inside a cell)."""
    runs = []
    for cell in CELLS:
        for task in cell.tasks:
            for seed in args.seeds:
                for arm in cell_arms(cell):
                    runs.append(Run(key(cell.regime, task, arm, seed),
                                    config(cell, task, arm, seed, cache, args.steps), cell.regime, options(arm)))
    return runs


def equal_time_plan(records: dict, args, cache: Path) -> list[Run]:
    """The base point at equal wall-clock: each arm's steps = eqreg's steps x eqreg's s/step / the arm's s/step."""
    runs = []
    base = CELLS[0]
    for task in base.tasks:
        eqreg = _per_step(records, "base", task, "eqreg")
        for arm in ("plain", "augment", "strict"):
            ratio = eqreg / _per_step(records, "base", task, arm)
            if math.isnan(ratio):
                raise SystemExit(f"the equal-time runs need the base runs of {task} in the cache")
            for seed in args.seeds:
                runs.append(Run(key(EQUAL_TIME, task, arm, seed),
                                config(base, task, arm, seed, cache, max(1, round(args.steps * ratio))),
                                EQUAL_TIME, options(arm)))
    return runs


def _per_step(records: dict, regime: str, task: str, arm: str) -> float:
    return mean_std(r["train"]["s_per_step"] for r in select(records, regime, task, arm))[0]


# -- reading the cache ---------------------------------------------------------------------------------

def select(records: dict, regime: str, task: str, arm: str) -> list[dict]:
    prefix = f"{_slug(regime)}/{task}/{arm}/s"
    return [r for k, r in sorted(records.items()) if k.startswith(prefix)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="runs/regimes", help="the run cache (default runs/regimes)")
    parser.add_argument("--docs", default=str(ROOT / "docs"), help="where regimes.md, regimes.csv and figures/ go")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--steps", type=int, default=STEPS, help="steps of every run at equal steps")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--write-only", action="store_true", help="write the page from the cache, train nothing")
    args = parser.parse_args(argv)
    cache = Path(args.cache)
    sessions_file = cache / "sessions.json"
    sessions = json.loads(sessions_file.read_text()) if sessions_file.exists() else []
    if not args.write_only:
        start = time.perf_counter()
        records = run_grid(plan(args, cache), cache, workers=args.workers)
        records.update(run_grid(equal_time_plan({**load_records(cache), **records}, args, cache), cache,
                                workers=args.workers))
        command = " ".join(["python", "scripts/regimes.py", *(sys.argv[1:] if argv is None else argv)])
        sessions.append(dict(command=command, wall_time_s=time.perf_counter() - start))
        sessions_file.write_text(json.dumps(sessions, indent=1))
    print(f"wrote {write_page(load_records(cache), args, sessions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
