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
    cp -r scripts/regimes-cache runs/regimes && python scripts/regimes.py   # resume from the kept records
        (the cells' data folders are named after the cache, runs/regimes/data/..., so resume from that path)
"""

from __future__ import annotations

import argparse
import collections
import csv
import datetime
import io
import json
import math
import re
import shlex
import string
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eqlab import zoo
from eqlab.experiments import Run, load_records, mean_std, run_grid
from eqlab.metrics import words
from eqlab.train import STALL_MARGIN_DB

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (0, 1, 2)
STEPS = 1000  # 1500 (the issue's one-image setting) did not fit the session on this shared CPU: 18000 worker-s
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
SECTIONS = ("grid", "deblur", "equal-time")  # the grid's cells, deblurring at the zoo budget, the equal-time runs


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


ZOO_BUDGET = "deblur at the zoo budget"  # the regime issue's goal: eqreg within 0.1 dB of augment, 3 seeds


def deblur_plan(args, cache: Path) -> list[Run]:
    """Deblurring's augment and eqreg at the zoo's budget (``zoo.RECIPE``: 6000 steps), the zoo recipe otherwise."""
    return [Run(key(ZOO_BUDGET, "deblur", arm, seed),
                config(CELLS[0], "deblur", arm, seed, cache, zoo.RECIPE["steps"]), ZOO_BUDGET, options(arm))
            for seed in args.seeds for arm in ("augment", "eqreg")]


def _per_step(records: dict, regime: str, task: str, arm: str) -> float:
    return mean_std(r["train"]["s_per_step"] for r in select(records, regime, task, arm))[0]


# -- reading the cache ---------------------------------------------------------------------------------

def select(records: dict, regime: str, task: str, arm: str) -> list[dict]:
    prefix = f"{_slug(regime)}/{task}/{arm}/s"
    return [r for k, r in sorted(records.items()) if k.startswith(prefix)]


def seed_of(record: dict) -> int:
    return record["spec"]["config"]["optim"]["seed"]


def stalled(record: dict) -> bool:
    m = record["metrics"]
    return bool(record.get("stalled")) or not m["psnr"] >= m["baseline_psnr"] + STALL_MARGIN_DB


def variants(arms: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """``(label, arm, metric)`` of every trained arm and test-time average of a cell."""
    out = []
    for arm in arms:
        out.append((arm, arm, "psnr"))
        if arm != "strict":
            out += [(f"{arm} + {g} avg", arm, f"psnr_avg{g}") for g in AVERAGES]
    return out


NOT_SOFT = ("plain", "augment", "strict")  # the arms eqreg is measured against, with their averages


def by_seed(runs: list[dict], metric: str) -> dict[int, float]:
    return {seed_of(r): r["metrics"][metric] for r in runs if metric in r["metrics"]}


def paired(a: dict[int, float], b: dict[int, float]) -> tuple[float, float, int]:
    return mean_std(a[s] - b[s] for s in a if s in b)


def cell_summary(records: dict, regime: str, task: str, arms: tuple[str, ...], metric_of=None) -> dict | None:
    """Every variant's PSNR by seed, the best non-soft variant, and eqreg's paired differences against it."""
    metric_of = metric_of or (lambda m: m)
    runs = {arm: select(records, regime, task, arm) for arm in arms}
    if any(len(runs[arm]) < len(SEEDS) for arm in arms):
        return None  # a cell is shown when every arm has every seed (a partial cell would compare unequal sets)
    table = {label: by_seed(runs[arm], metric_of(metric)) for label, arm, metric in variants(arms)}
    table = {label: values for label, values in table.items() if values}
    others = {label: v for label, v in table.items() if label.split(" + ")[0] in NOT_SOFT}
    if not others:
        return None
    best = max(others, key=lambda label: mean_std(others[label].values())[0])
    return dict(table=table, best=best, eqreg=paired(table["eqreg"], others[best]),
                eqreg_c4=paired(table.get("eqreg + C4 avg", {}), others[best]), runs=runs)


def fmt(value: tuple, spec: str = ".2f") -> str:
    mean, std, n = value
    if n == 0 or math.isnan(mean):
        return "–"
    return f"{mean:{spec}} ± {std:{spec.lstrip('+')}}" if n > 1 else f"{mean:{spec}}"


def cells(records: dict) -> list[dict]:
    """One entry per (regime, task) of the grid, run or not, in the order of the page."""
    out = []
    for cell in CELLS:
        for task in cell.tasks:
            out.append(dict(regime=cell.regime, task=task, cell=cell,
                            summary=cell_summary(records, cell.regime, task, cell_arms(cell))))
        if cell.regime == "base":  # the base runs scored on crops turned 45 degrees before the degradation
            for task in cell.tasks:
                out.append(dict(regime="turned 45° test", task=task, cell=cell, summary=cell_summary(
                    records, "base", task, CNN_ARMS, metric_of=lambda m: m.replace("psnr", "psnr_turned45")
                    if m == "psnr" else "-")))
    for task in CELLS[0].tasks:  # eqreg's own runs at equal time are the base's: spliced in
        base_eqreg = select(records, "base", task, "eqreg")
        merged = {**{k: r for k, r in records.items() if k.startswith(f"{_slug(EQUAL_TIME)}/{task}/")},
                  **{f"{_slug(EQUAL_TIME)}/{task}/eqreg/s{seed_of(r)}": r for r in base_eqreg}}
        out.append(dict(regime=EQUAL_TIME, task=task, cell=CELLS[0],
                        summary=cell_summary(merged, EQUAL_TIME, task, CNN_ARMS)))
    return out


# -- the page ------------------------------------------------------------------------------------------

def grid_table() -> str:
    rows = []
    what = {"base": "—", "1 image": "training data", "3 images": "training data",
            "transformer, 1 image": "the net: winattn (width 16, depth 4), no strict twin; and the data",
            "transformer": "the net: winattn (width 16, depth 4), no strict twin",
            "cross-dataset": "the test family", "oriented data": "data with a preferred orientation (bias 1)",
            "symmetric blur": "the blur direction drawn per image (a rotation-symmetric degradation)"}
    for cell in CELLS:
        rows.append(f"| {cell.regime} | {', '.join(cell.tasks)} | {cell.train} | {cell.test} | {what[cell.regime]} |")
    rows.append(f"| {EQUAL_TIME} | {', '.join(CELLS[0].tasks)} | 14 bundled | 5 bundled | every arm trained for "
                "eqreg's seconds (its steps from the base runs' seconds per step) |")
    return "\n".join(rows)


def cell_table(records: dict, entry: dict) -> str:
    summary = entry["summary"]
    title = f"### {entry['regime']} — {entry['task']}"
    if summary is None:
        return f"{title}\n\nNot run (the grid had not reached this cell when the page was written)."
    runs = summary["runs"]
    head = ["arm", "PSNR", "Δ vs best non-soft (paired)", "oriented share", "oriented err", "layer err", "stalled"]
    lines = [title, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    best = summary["table"][summary["best"]]
    for label, values in summary["table"].items():
        arm = label.split(" + ")[0]
        trained = runs.get(arm, [])
        equiv = [fmt(mean_std(r["metrics"].get(k) for r in trained), ".3f") if label == arm else ""
                 for k in ("oriented_share", "oriented_error", "layer_error")]
        mark = " **(best non-soft)**" if label == summary["best"] else ""
        diff = "" if label == summary["best"] else fmt(paired(values, best), "+.2f")
        n_stalled = sum(map(stalled, trained)) if label == arm else None
        lines.append("| " + " | ".join([label + mark, fmt(mean_std(values.values())), diff, *equiv,
                                        "" if n_stalled is None else f"{n_stalled}/{len(trained)}"]) + " |")
    base = runs.get("plain") or runs.get("augment")
    lines.append(f"| *degraded input* | {fmt(mean_std(r['metrics']['baseline_psnr'] for r in base))} | | | | | |")
    lines.append("")
    lines.append(f"eqreg against {summary['best']}: {fmt(summary['eqreg'], '+.2f')} dB — "
                 f"**{words.paired_word(*summary['eqreg'])}**; eqreg + C4 average: "
                 f"{fmt(summary['eqreg_c4'], '+.2f')} dB — {words.paired_word(*summary['eqreg_c4'])}.")
    return "\n".join(lines)


def decomposition(entries: list[dict]) -> str:
    head = ["regime", "task", "augment − plain (the rotated data)", "eqreg − augment (the penalty)",
            "strict − augment", "eqreg's oriented share / error", "augment's"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e in entries:
        s = e["summary"]
        if s is None or e["regime"] in ("turned 45° test", EQUAL_TIME):
            continue
        t, runs = s["table"], s["runs"]

        def orient(arm, runs=runs):
            rs = runs.get(arm, [])
            return (f"{fmt(mean_std(r['metrics']['oriented_share'] for r in rs), '.2f')} / "
                    f"{fmt(mean_std(r['metrics']['oriented_error'] for r in rs), '.2f')}") if rs else "–"

        lines.append("| " + " | ".join([
            e["regime"], e["task"], fmt(paired(t["augment"], t["plain"]), "+.2f"),
            fmt(paired(t["eqreg"], t["augment"]), "+.2f"),
            fmt(paired(t["strict"], t["augment"]), "+.2f") if "strict" in t else "no twin",
            orient("eqreg"), orient("augment")]) + " |")
    return "\n".join(lines)


def progress(entries: list[dict], flat: list[dict]) -> str:
    """A sentence saying how much of the grid the answer rests on, when it is not all of it."""
    missing = [f"{e['regime']} / {e['task']}" for e in entries if e["summary"] is None]
    if not missing:
        return ""
    return (f"**Part-way: {len(flat)} of {len(entries)} cells of the grid have run** (the rest are grey in the map "
            f"and say so in their tables; the cache resumes them). Not run, or not with every seed, yet: "
            f"{'; '.join(missing)}.\n\n")


def flat_cells(entries: list[dict]) -> list[dict]:
    """The cells that were run, as ``eqlab.metrics.words.regime_answer`` and ``eqlab/zoo/regimes.json`` read them."""
    out = []
    for e in entries:
        s = e["summary"]
        if s is None:
            continue
        t, runs = s["table"], s["runs"]
        eq = runs.get("eqreg", [])
        out.append(dict(regime=e["regime"], task=e["task"], best=s["best"], eqreg=s["eqreg"], eqreg_c4=s["eqreg_c4"],
                        penalty=paired(t.get("eqreg", {}), t.get("augment", {})),
                        data=paired(t.get("augment", {}), t.get("plain", {})),
                        strict=paired(t.get("strict", {}), t.get("augment", {})),
                        eqreg_oriented_share=mean_std(r["metrics"]["oriented_share"] for r in eq),
                        eqreg_oriented_error=mean_std(r["metrics"]["oriented_error"] for r in eq),
                        stalled={arm: sum(map(stalled, rs)) for arm, rs in runs.items() if rs}))
    return out


# Every run trained on one torch thread; a float sum's order depends on the thread count, and training amplifies it:
# SR plain seed 1 reads 30.049 dB on one thread (the row, reproduced bit for bit) and 30.156 on two.
ONE_THREAD = "OMP_NUM_THREADS=1 "


def csv_rows(records: dict) -> list[dict]:
    """One row per run and per test-time average of a run, with the command that reproduces it."""
    rows = []
    by_key = {Run(k, None).key: r for k, r in records.items()}
    for key_, record in sorted(by_key.items()):
        regime_slug, task, arm, _ = key_.split("/")
        cell = next((c for c in CELLS if _slug(c.regime) == regime_slug), CELLS[0])
        regime = {_slug(EQUAL_TIME): EQUAL_TIME, _slug(ZOO_BUDGET): ZOO_BUDGET}.get(regime_slug, cell.regime)
        config = record["spec"]["config"]
        m = record["metrics"]
        base = dict(task=task, regime=regime, train_images=cell.train, test_set=cell.test,
                    model=config["net"]["model"] or task_net(task, arm), arm=arm, steps=record["train"]["steps"],
                    seed=seed_of(record), baseline_psnr=f"{m['baseline_psnr']:.4f}",
                    oriented_share=f"{m['oriented_share']:.4f}", oriented_error=f"{m['oriented_error']:.4f}",
                    layer_error=f"{m['layer_error']:.4f}", wall_s=f"{record['train']['train_s']:.1f}",
                    cpu=record["machine"].get("cpu", ""),
                    status="stalled" if stalled(record) else "ok")
        command = f"{ONE_THREAD}{record['command']} --json"
        turned = m.get(f"psnr_turned{ANGLES[-1]}")
        rows.append(dict(base, average="none", psnr=f"{m['psnr']:.4f}", ssim=f"{m['ssim']:.4f}",
                         psnr_turned45="" if turned is None else f"{turned:.4f}", command=command))
        out = f"runs/check/{key_.replace('/', '-')}"
        test = config["run"]["test_data"]
        for group in AVERAGES if f"psnr_avg{AVERAGES[0]}" in m else ():
            rows.append(dict(base, average=group, psnr=f"{m[f'psnr_avg{group}']:.4f}",
                             ssim=f"{m[f'ssim_avg{group}']:.4f}", psnr_turned45="",
                             command=f"{ONE_THREAD}{record['command']} --out-dir {out} && python -m eqlab eval "
                                     f"{out}/checkpoint.safetensors --self-ensemble {group} --crop {zoo.EVAL_SIZE}"
                                     + (f" --data {test}" if test else "") + " --json  # self_ensemble.psnr"))
    return rows


def task_net(task: str, arm: str) -> str:
    from eqlab.tasks import get_task

    spec = get_task(task)
    return spec.strict_model if arm == "strict" else spec.plain_model


def write_csv(rows: list[dict], path: Path) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(text.getvalue())


def turned_section(entries: list[dict]) -> str:
    rows = [e for e in entries if e["regime"] == "turned 45° test" and e["summary"]]
    if not rows:
        return ("The turned test has no result yet: its scores are the base runs' on the turned crops, and the base "
                "records in the cache do not hold them (run the base cell to fill it).")
    lines = ["The base runs scored on the test crops turned 45° before the degradation (no test-time averages "
             "there: the average is over quarter turns). eqreg against the best of plain, augment and strict:", "",
             "| task | eqreg − best (paired) | best | verdict |", "|---|---|---|---|"]
    for e in rows:
        s = e["summary"]
        lines.append(f"| {e['task']} | {fmt(s['eqreg'], '+.2f')} | {s['best']} | {words.paired_word(*s['eqreg'])} |")
    return "\n".join(lines)


def equal_time_section(records: dict, entries: list[dict]) -> str:
    rows = [e for e in entries if e["regime"] == EQUAL_TIME and e["summary"]]
    if not rows:
        return "The equal-time runs have not been run yet (they are planned from the base runs' timings)."
    lines = ["Every arm trained for the seconds eqreg's base runs took (eqreg itself: the base runs):", "",
             "| task | steps: plain / augment / eqreg / strict | eqreg − best (paired) | best | verdict |",
             "|---|---|---|---|---|"]
    for e in rows:
        steps = [str(next(iter(select(records, EQUAL_TIME if a != "eqreg" else "base", e["task"], a)),
                          {"train": {"steps": "–"}})["train"]["steps"]) for a in CNN_ARMS]
        s = e["summary"]
        lines.append(f"| {e['task']} | {' / '.join(steps)} | {fmt(s['eqreg'], '+.2f')} | {s['best']} | "
                     f"{words.paired_word(*s['eqreg'])} |")
    return "\n".join(lines)


def figure(summary: dict, docs: Path) -> str:
    from eqlab.viz import regime_figure

    (docs / "figures").mkdir(parents=True, exist_ok=True)
    regime_figure(summary).savefig(docs / "figures" / "regimes.png", dpi=90)
    return "figures/regimes.png"


def machines_of(records: dict) -> list[dict]:
    """The machines the runs trained on, each with its number of runs (``runs``), the most used first."""
    counts = collections.Counter(json.dumps(r["machine"], sort_keys=True) for r in records.values())
    return [dict(json.loads(m), runs=n) for m, n in counts.most_common()]


def mixed_cells(records: dict) -> str:
    """A sentence naming the cells whose runs were trained on more than one machine (the CSV's ``cpu``), if any."""
    cpus = collections.defaultdict(set)
    for key_, record in records.items():
        cpus[key_.rsplit("/", 2)[0]].add(record["machine"].get("cpu"))
    mixed = sorted(cell.replace("/", " / ") for cell, names in cpus.items() if len(names) > 1)
    if not mixed:
        return "Each cell's runs, every arm and seed, trained on one machine."
    return (f"The runs of {len(mixed)} cells trained on more than one machine (the CSV's `cpu` column names each "
            f"run's): {'; '.join(mixed)}.")


def recovered(records: dict) -> str:
    """A sentence on the records rebuilt from an earlier CSV rather than kept from their runs, if any."""
    rebuilt = [k for k, r in records.items() if r.get("recovered")]
    if not rebuilt:
        return ""
    regimes = sorted({records[k]["section"] for k in rebuilt})
    return (f" {len(rebuilt)} records ({'; '.join(regimes)}) were rebuilt from the CSV of an earlier session, whose "
            "records were lost: their numbers are the CSV's (4 decimals), each rebuilt config checked against its "
            "row's command; they have no training history and no 45° scores.")


def write_page(records: dict, args, sessions: list[dict]) -> Path:
    docs = Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    entries = cells(records)
    rows = csv_rows(records)
    if rows:
        write_csv(rows, docs / "regimes.csv")
    machines = machines_of(records)
    machine = machines[0] if machines else {}  # the one most runs were trained on
    flat = flat_cells(entries)
    summary = dict(steps=args.steps, seeds=list(args.seeds), regimes=list(dict.fromkeys(e["regime"] for e in entries)),
                   grid=[dict(regime=e["regime"], task=e["task"]) for e in entries], cells=flat, machine=machine,
                   machines=machines,
                   written=datetime.date.today().isoformat(), source="python scripts/regimes.py (docs/regimes.md)")
    Path(args.summary).write_text(json.dumps(summary, indent=1) + "\n")
    values = dict(
        runs=len(records), answer=progress(entries, flat) + words.regime_answer(flat), figure=figure(summary, docs),
        nseeds=len(args.seeds),
        steps=args.steps, seeds=", ".join(map(str, args.seeds)), grid_table=grid_table(),
        cell_tables="\n\n".join(cell_table(records, e) for e in entries if e["regime"] != "turned 45° test"),
        decomposition=decomposition(entries), turned=turned_section(entries),
        equal_time=equal_time_section(records, entries), deblur=deblur_section(records), csv_rows=len(rows),
        mixed=mixed_cells(records),
        machine="; ".join(f"{m.get('cpu')}, {m.get('cpu_count')} cores, torch {m.get('torch')} ({m['runs']} runs)"
                          for m in machines) + "; one thread per run, two runs at a time" if machines else "–",
        sessions=(("Grid time: " + "; ".join(f"`{s['command']}` {s['wall_time_s'] / 60:.0f} min" for s in sessions)
                   + "; ") if sessions else "") + (f"{sum(r.get('job_s', 0) for r in records.values()) / 3600:.1f} "
                                                   f"worker-hours of training and scoring in the runs whose records "
                                                   f"were kept; written "
                                                   f"{datetime.date.today().isoformat()}.") + recovered(records),
    )
    if args.readme:
        write_answer_block(Path(args.readme), values["answer"], flat, args, docs="docs/")
    if args.findings:
        write_answer_block(Path(args.findings), values["answer"], flat, args, docs="")
    page = docs / "regimes.md"
    page.write_text(string.Template((ROOT / "scripts" / "regimes.md.in").read_text()).substitute(values))
    return page


ANSWER_BLOCK = re.compile(r"(<!-- regime-answer:[^\n]*-->\n).*?(<!-- /regime-answer -->)", re.S)


def write_answer_block(page: Path, answer: str, cells: list[dict], args, docs: str) -> None:
    """Put the page's answer and its figure between the ``regime-answer`` markers of ``page`` (the README, the
    findings); ``docs``: the path from ``page`` to the docs folder (``"docs/"`` or ``""``)."""
    regimes = len({c["regime"] for c in cells})
    block = (f"{answer}\n\n![The regime map: eqreg's PSNR against the best arm that is not soft, per regime and task]"
             f"({docs}figures/regimes.png)\n\n*{len(cells)} cells ({regimes} regimes × the tasks run in them), "
             f"{len(args.seeds)} seeds each, small nets, {args.steps} CPU steps: the regime, the arms and every run "
             f"are on [the regime map]({docs}regimes.md).*\n")
    text = page.read_text()
    if not ANSWER_BLOCK.search(text):
        raise SystemExit(f"{page} has no <!-- regime-answer --> block")
    page.write_text(ANSWER_BLOCK.sub(lambda m: m.group(1) + block + m.group(2), text))


DEBLUR_GOAL_DB = 0.1  # the regime issue's goal: eqreg within 0.1 dB of augment at the zoo budget


def deblur_section(records: dict) -> str:
    """Deblurring's eqreg against augment at the zoo budget, paired by seed, from the ``--sections deblur`` runs."""
    runs = {arm: select(records, ZOO_BUDGET, "deblur", arm) for arm in ("augment", "eqreg")}
    steps = zoo.RECIPE["steps"]
    if any(len(r) < len(SEEDS) for r in runs.values()):
        return (f"The goal: deblurring's eqreg within {DEBLUR_GOAL_DB} dB of augment at the zoo budget ({steps} "
                f"steps), or a measured reason why not. Its runs (`--sections deblur`, {len(SEEDS)} seeds) have not "
                "all run yet: " + ", ".join(f"{arm} {len(r)} of {len(SEEDS)}" for arm, r in runs.items()) + ".")
    psnr = {arm: by_seed(r, "psnr") for arm, r in runs.items()}
    gap = paired(psnr["eqreg"], psnr["augment"])
    lines = [f"Deblurring (the fixed 30° blur of every other deblurring cell), augment and eqreg at the zoo budget: "
             f"{steps} steps, the zoo recipe at width 16, {len(SEEDS)} seeds.", "",
             "| arm | PSNR | oriented share | oriented err | layer err | seeds: PSNR |", "|---|---|---|---|---|---|"]
    for arm, rs in runs.items():
        per_seed = ", ".join(f"{psnr[arm][seed]:.2f}" for seed in sorted(psnr[arm]))
        lines.append(f"| {arm} | {fmt(mean_std(psnr[arm].values()))} | " + " | ".join(
            fmt(mean_std(r["metrics"][k] for r in rs), ".3f") for k in ("oriented_share", "oriented_error",
                                                                         "layer_error")) + f" | {per_seed} |")
    mean, std, _ = gap
    if mean >= -DEBLUR_GOAL_DB:
        verdict = f"within {DEBLUR_GOAL_DB} dB of augment on the mean of the seeds (the goal is met)"
    else:
        verdict = f"further than {DEBLUR_GOAL_DB} dB behind augment on the mean of the seeds (the goal is not met)"
    spread = ("the seed spread is as large as the gap, so three seeds do not tell the two apart"
              if std >= abs(mean) else "the gap is larger than the seed spread")
    lines += ["", f"eqreg − augment, paired by seed: **{fmt(gap, '+.2f')} dB** — {verdict}; {spread}."]
    base = cell_summary(records, "base", "deblur", CNN_ARMS)
    control = cell_summary(records, "symmetric blur", "deblur", CNN_ARMS)
    if base:
        t = base["table"]
        data, c4 = paired(t["augment"], t["plain"]), paired(t["augment + C4 avg"], t["augment"])
        why = (f"At the grid's {STEPS} steps (the base cell) the penalty on top of augment moves PSNR by "
               f"{fmt(paired(t['eqreg'], t['augment']), '+.2f')} dB, the rotated half of the batch alone by "
               f"{fmt(data, '+.2f')} dB (augment − plain) and averaging augment over C4 at test time by "
               f"{fmt(c4, '+.2f')} dB: the fixed blur has one direction, so the task is not rotation-symmetric and "
               "exact equivariance is wrong for it")
        if control:
            tc = control["table"]
            why += (f". The control, the same images with the blur direction drawn per image (a rotation-symmetric "
                    f"task): augment − plain {fmt(paired(tc['augment'], tc['plain']), '+.2f')} dB, eqreg − augment "
                    f"{fmt(paired(tc['eqreg'], tc['augment']), '+.2f')} dB")
        lines += ["", why + "."]
    return "\n".join(lines)


def snapshot(records: dict, folder: Path, sessions: list[dict]) -> None:
    """The records as a cache of their own, without the per-step histories (what the page needs, and enough for
    ``run_grid`` to skip them: their spec is kept)."""
    from eqlab.experiments import _cache_path
    from eqlab.files import write_text

    for key, record in records.items():
        write_text(_cache_path(folder, key), json.dumps({k: v for k, v in record.items() if k != "history"},
                                                          indent=1, default=float))
    write_text(folder / "sessions.json", json.dumps(sessions, indent=1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="runs/regimes", help="the run cache (default runs/regimes)")
    parser.add_argument("--docs", default=str(ROOT / "docs"), help="where regimes.md, regimes.csv and figures/ go")
    parser.add_argument("--summary", default=str(zoo.ROOT / "regimes.json"),
                        help="the cells as the app and the notebooks read them (default: the package's zoo folder)")
    parser.add_argument("--readme", default=str(ROOT / "README.md"), help="the README whose answer block is "
                        "rewritten ('' for none)")
    parser.add_argument("--findings", default=str(ROOT / "docs" / "findings.md"), help="the findings page whose answer "
                        "block is rewritten ('' for none)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--steps", type=int, default=STEPS, help="steps of every run at equal steps")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--write-only", action="store_true", help="write the page from the cache, train nothing")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        help="train only these (the page shows whatever the cache holds)")
    parser.add_argument("--snapshot", default=None, help="also copy the cache's records, without their training "
                        "histories, into this folder (a cache the repository keeps: --cache it to resume the grid)")
    parser.add_argument("--data-only", action="store_true", help="write the cells' data folders, train nothing")
    args = parser.parse_args(argv)
    cache = Path(args.cache)
    if args.data_only:
        plan(args, cache)  # planning writes every folder a config names
        print(f"wrote the data folders under {cache / 'data'}")
        return 0
    sessions_file = cache / "sessions.json"
    sessions = json.loads(sessions_file.read_text()) if sessions_file.exists() else []
    if not args.write_only:
        start = time.perf_counter()
        records = {}
        if "grid" in args.sections:
            records.update(run_grid(plan(args, cache), cache, workers=args.workers))
        if "deblur" in args.sections:
            records.update(run_grid(deblur_plan(args, cache), cache, workers=args.workers))
        if "equal-time" in args.sections:
            records.update(run_grid(equal_time_plan({**load_records(cache), **records}, args, cache), cache,
                                    workers=args.workers))
        command = shlex.join(["python", "scripts/regimes.py", *(sys.argv[1:] if argv is None else argv)])
        sessions.append(dict(command=command, wall_time_s=time.perf_counter() - start))
        sessions_file.write_text(json.dumps(sessions, indent=1))
    records = load_records(cache)
    if args.snapshot:
        snapshot(records, Path(args.snapshot), sessions)
    print(f"wrote {write_page(records, args, sessions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
