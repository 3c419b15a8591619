"""Train the comparison behind ``docs/results.md`` and write the page (from ``scripts/results.md.in``).

Which runs (every run is ``eqlab.train.fit`` of an ``eqlab.zoo.recipe`` config; ``eqlab.experiments``
trains them in worker processes, caches each finished run in ``--cache``, and resumes):

    main       3 tasks x 4 arms x 5 seeds at the zoo budget (seed 0 is the zoo: the same cached run); every
               run is also scored on the test crops turned 90 and 45 degrees before the degradation.
    share      eqreg at several target gradient shares (the weight that transfers across tasks), 3 seeds.
    fixed      eqreg at the old fixed weight 1e-4 (what one lambda means on each task), 3 seeds.
    reference  eqreg with the reference code's preset (hidden layers, paper norm, lambda 1e-8), 3 seeds.
    stochastic eqreg computing a random quarter of its layers per step (unbiased), 3 seeds.
    budget     augment, eqreg and strict at a quarter of the zoo budget, 3 seeds (does the gap move?).
    wallclock  strict at a third of its steps: the training seconds of eqreg's full run (equal time).
    synthetic  denoising on synthetic textures of orientation bias 0, 0.5 and 1, the four arms, 3 seeds,
               a quarter of the zoo's steps.

Usage:
    nohup python scripts/report.py > runs/report.log 2>&1 &     # everything, then docs/results.md
    python scripts/report.py --write-only                      # re-write the page from the cache
    python scripts/report.py --steps 20 --seeds 0 --cache /tmp/r --docs /tmp/docs   # a quick try
    python scripts/report.py --seeds 0 --sections share budget wallclock   # some sections, fewer seeds
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import string
import sys
import time
from pathlib import Path

import numpy as np
import torch

from eqlab import zoo
from eqlab.arms import ARM_NAMES
from eqlab.experiments import Run, load_records, mean_std, paired, run_grid
from eqlab.train import STALL_MARGIN_DB

ROOT = Path(__file__).resolve().parents[1]
TASKS = zoo.TASKS
SHARES = (0.02, 0.05, 0.3)  # target gradient shares of the share section, beside the zoo's own (the default, 0.1)
FIXED_WEIGHT = 1e-4  # eqlab 0.1's default lambda: one fixed weight on every task
BUDGET_FRACTION = 0.25  # the second training budget, as a fraction of the zoo's steps
STOCHASTIC = 0.25  # the share of the layers the stochastic estimator computes per step
BIASES = (0.0, 0.5, 1.0)
SYNTHETIC_FRACTION = 0.25  # the synthetic section trains a quarter of the zoo's steps (CPU time)
SECTIONS = ("main", "share", "fixed", "reference", "stochastic", "budget", "wallclock", "synthetic")
SYN_TRAIN, SYN_TEST, SYN_SIZE, SYN_TEST_SIZE, SYN_SEEDS = 24, 5, 128, 144, (2025, 2026)
ANGLES = {"angles": [90, 45]}
_COST = {"strict": 4.0, "eqreg": 2.0, "augment": 1.8, "plain": 1.0}
_TASK_COST = {"deblur": 1.5, "denoise": 1.0, "sr": 0.6}


# -- the plan ------------------------------------------------------------------------------------------

def synthetic_data(cache: Path, bias: float) -> tuple[str, str]:
    """Write (once) the synthetic train / test images of one orientation bias as 16-bit PNGs; both folders."""
    from PIL import Image

    from eqlab.data.synthetic import synthetic_set

    folders = []
    for split, n, size, seed in (("train", SYN_TRAIN, SYN_SIZE, SYN_SEEDS[0]),
                                 ("test", SYN_TEST, SYN_TEST_SIZE, SYN_SEEDS[1])):
        folder = cache / "synthetic" / f"bias{bias:g}" / split
        if len(list(folder.glob("*.png"))) != n:
            folder.mkdir(parents=True, exist_ok=True)
            for i, y in enumerate(synthetic_set(n, size, bias, generator=torch.Generator().manual_seed(seed))):
                Image.fromarray((y[0].numpy() * 65535).round().astype(np.uint16)).save(folder / f"{i:02d}.png")
        folders.append(str(folder))
    return folders[0], folders[1]


def plan(args, cache: Path) -> list[Run]:
    """Every run that does not depend on another one's result."""
    steps = {} if args.steps is None else {"steps": args.steps}
    runs = []
    for task in TASKS:
        for seed in args.seeds:
            for arm in ARM_NAMES:
                runs.append(main_run(task, arm, seed, **steps))
        for seed in args.seeds[:3]:
            for share in SHARES:
                if share != zoo.recipe(task, "eqreg").target_share:
                    runs.append(Run(f"share/{task}/{share:g}/s{seed}",
                                    zoo.recipe(task, "eqreg", seed, target_share=share, **steps), "share"))
            runs.append(Run(f"fixed/{task}/s{seed}", zoo.recipe(task, "eqreg", seed, target_share=None,
                                                                weight=FIXED_WEIGHT, **steps), "fixed"))
            runs.append(Run(f"reference/{task}/s{seed}",
                            zoo.recipe(task, "eqreg", seed, target_share=None, preset="reference", **steps),
                            "reference"))
            runs.append(Run(f"stochastic/{task}/s{seed}",
                            zoo.recipe(task, "eqreg", seed, layer_fraction=STOCHASTIC, **steps), "stochastic"))
            short = max(1, round(zoo.recipe(task, "plain", seed, **steps).steps * BUDGET_FRACTION))
            for arm in ("augment", "eqreg", "strict"):
                runs.append(Run(f"budget/{task}/{arm}/s{seed}", zoo.recipe(task, arm, seed, steps=short), "budget",
                                ANGLES))
    for bias in BIASES if "synthetic" in args.sections else ():
        train, test = synthetic_data(cache, bias)
        short = args.steps or round(zoo.RECIPE["steps"] * SYNTHETIC_FRACTION)
        for seed in args.seeds[:3]:
            for arm in ARM_NAMES:
                runs.append(Run(f"synthetic/{bias:g}/{arm}/s{seed}",
                                zoo.recipe("denoise", arm, seed, data=train, test_data=test, steps=short),
                                "synthetic", ANGLES))
    return [run for run in runs if run.section in args.sections]


def main_run(task: str, arm: str, seed: int, **changes) -> Run:
    """A run of the main grid; seed 0 at the zoo's budget *is* the zoo's run (``scripts/build_zoo.py``
    trains the same ``Run``, so the cache serves both and the shipped weights are these)."""
    options = dict(ANGLES)
    if seed == 0 and not changes:
        options["model_out"] = str(zoo.ROOT / task / f"{arm}.safetensors")
    return Run(f"main/{task}/{arm}/s{seed}", zoo.recipe(task, arm, seed, **changes), "main", options)


def wallclock_plan(records: dict, args) -> list[Run]:
    """Strict for the training seconds that eqreg's full run took (the mean s/step ratio of the main runs)."""
    runs = []
    for task in TASKS if "wallclock" in args.sections else ():
        ratio = _per_step(records, task, "eqreg") / _per_step(records, task, "strict")
        if math.isnan(ratio):
            raise SystemExit(f"the wallclock section needs the main runs of {task} (eqreg and strict) in the cache")
        for seed in args.seeds[:3]:
            config = zoo.recipe(task, "strict", seed, **({} if args.steps is None else {"steps": args.steps}))
            steps = max(1, round(config.steps * ratio))
            runs.append(Run(f"wallclock/{task}/strict/s{seed}", config.replace(steps=steps), "wallclock", ANGLES))
    return runs


def _cost(run: Run) -> float:
    return _COST[run.config.arm] * _TASK_COST[run.config.task] * run.config.steps


# -- reading the cache ---------------------------------------------------------------------------------

def _select(records: dict, prefix: str) -> list[dict]:
    return [r for k, r in sorted(records.items()) if k.startswith(prefix + "/s")]


def _per_step(records: dict, task: str, arm: str) -> float:
    return mean_std(r["train"]["s_per_step"] for r in _select(records, f"main/{task}/{arm}"))[0]


def fmt(value: tuple, spec: str = ".2f", std: bool = True) -> str:
    mean, sd, n = value
    if n == 0 or math.isnan(mean):
        return "–"
    return f"{mean:{spec}} ± {sd:{spec.lstrip('+')}}" if std and n > 1 else f"{mean:{spec}}"


def stalled(run: dict) -> bool:
    m = run["metrics"]
    return m["psnr"] < m["baseline_psnr"] + STALL_MARGIN_DB


def _stat(runs: list[dict], key: str) -> tuple:
    return mean_std(r["metrics"].get(key, r["train"].get(key)) for r in runs)


COLUMNS = (("psnr", "PSNR", ".2f"), ("psnr_turned90", "PSNR 90°", ".2f"), ("psnr_turned45", "PSNR 45°", ".2f"),
           ("ssim", "SSIM", ".3f"), ("output_error", "output eq. err", ".4f"),
           ("layer_error", "mean layer eq. err", ".3f"))


def arm_table(records: dict, prefix: str, arms=ARM_NAMES, extra: dict | None = None) -> str:
    """One row per arm: mean ± std over seeds, the paired PSNR change against augment, s/step, stalls."""
    head = ["arm"] + [t for _, t, _ in COLUMNS] + ["Δ PSNR vs augment", "s / step", "stalled"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    augment = _select(records, f"{prefix}/augment")
    rows = [(arm, _select(records, f"{prefix}/{arm}")) for arm in arms] + list((extra or {}).items())
    for label, runs in rows:
        if not runs:
            continue
        cells = [label] + [fmt(_stat(runs, key), spec) for key, _, spec in COLUMNS]
        cells.append(fmt(paired(runs, augment, "psnr"), "+.2f") if label != "augment" else "")
        cells.append(fmt(_stat(runs, "s_per_step"), ".3f", std=False))
        cells.append(f"{sum(map(stalled, runs))}/{len(runs)}")
        lines.append("| " + " | ".join(cells) + " |")
    base = _select(records, f"{prefix}/plain") or augment
    if base:
        lines.append(f"| *degraded input* | {fmt(_stat(base, 'baseline_psnr'))} | "
                     f"{fmt(_stat(base, 'baseline_psnr_turned90'))} | {fmt(_stat(base, 'baseline_psnr_turned45'))} | "
                     f"{fmt(_stat(base, 'baseline_ssim'), '.3f')} | | | | | |")
    return "\n".join(lines)


def goal(records: dict, task: str, prefix: str = "main") -> dict:
    """The issue's goal for one task: eqreg's layer error at least 3x below augment's, PSNR >= augment - 0.1 dB."""
    eq, aug = _select(records, f"{prefix}/{task}/eqreg"), _select(records, f"{prefix}/{task}/augment")
    ratio = _stat(aug, "layer_error")[0] / _stat(eq, "layer_error")[0]
    delta = paired(eq, aug, "psnr")
    return dict(ratio=ratio, delta=delta, met=ratio >= 3 and delta[0] >= -0.1)


def share_table(records: dict) -> str:
    head = ["task", "setting", "λ at the end", "gradient share held", "PSNR", "Δ PSNR vs augment",
            "layer err", "÷ augment's"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    zoo_share = zoo.recipe("denoise", "eqreg").target_share
    for task in TASKS:
        augment = _select(records, f"main/{task}/augment")
        aug_err = _stat(augment, "layer_error")[0]
        settings = [(f"target share {s:g}" + (" (zoo)" if s == zoo_share else ""),
                     _select(records, f"main/{task}/eqreg" if s == zoo_share else f"share/{task}/{s:g}"))
                    for s in sorted({*SHARES, *([zoo_share] if zoo_share else [])})]
        settings += [(f"fixed λ = {FIXED_WEIGHT:g}", _select(records, f"fixed/{task}")),
                     ("reference preset (paper norm, λ = 1e-8)", _select(records, f"reference/{task}"))]
        for label, runs in settings:
            if not runs:
                continue
            err = _stat(runs, "layer_error")
            lines.append("| " + " | ".join([
                task, label, fmt(_stat(runs, "weight"), ".2g", std=False),
                fmt(_stat(runs, "held_share"), ".3f"),
                fmt(_stat(runs, "psnr")), fmt(paired(runs, augment, "psnr"), "+.2f"), fmt(err, ".3f"),
                f"1/{aug_err / err[0]:.1f}" if err[0] > 0 else "–"]) + " |")
    return "\n".join(lines)


def budget_table(records: dict) -> str:
    head = ["task", "budget", "steps", "augment PSNR", "eqreg − augment", "strict − augment",
            "eqreg layer err ÷ augment's"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for task in TASKS:
        for label, prefix in ((f"{BUDGET_FRACTION:g} × zoo", "budget"), ("zoo", "main")):
            aug = _select(records, f"{prefix}/{task}/augment")
            eq, st = _select(records, f"{prefix}/{task}/eqreg"), _select(records, f"{prefix}/{task}/strict")
            if not (aug and eq and st):
                continue
            lines.append("| " + " | ".join([
                task, label, str(aug[0]["train"]["steps"]), fmt(_stat(aug, "psnr")),
                fmt(paired(eq, aug, "psnr"), "+.2f"), fmt(paired(st, aug, "psnr"), "+.2f"),
                f"1/{_stat(aug, 'layer_error')[0] / _stat(eq, 'layer_error')[0]:.1f}"]) + " |")
    return "\n".join(lines)


def wallclock_table(records: dict) -> str:
    head = ["task", "eqreg: steps, train s", "strict (equal time): steps, train s", "eqreg PSNR", "strict PSNR",
            "strict − eqreg (paired)", "strict at equal steps − eqreg"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for task in TASKS:
        eq, st = _select(records, f"main/{task}/eqreg"), _select(records, f"wallclock/{task}/strict")
        full = _select(records, f"main/{task}/strict")
        if not (eq and st):
            continue
        lines.append("| " + " | ".join([
            task, f"{eq[0]['train']['steps']}, {fmt(_stat(eq, 'train_s'), '.0f', std=False)}",
            f"{st[0]['train']['steps']}, {fmt(_stat(st, 'train_s'), '.0f', std=False)}", fmt(_stat(eq, "psnr")),
            fmt(_stat(st, "psnr")), fmt(paired(st, eq, "psnr"), "+.2f"), fmt(paired(full, eq, "psnr"), "+.2f")]) + " |")
    return "\n".join(lines)


def stochastic_table(records: dict) -> str:
    head = ["task", "layers per step", "PSNR", "Δ PSNR vs exact (paired)", "layer err", "÷ exact's", "s / step"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for task in TASKS:
        exact, sampled = _select(records, f"main/{task}/eqreg"), _select(records, f"stochastic/{task}")
        if not (exact and sampled):
            continue
        for label, runs in (("all (exact)", exact), (f"a random {STOCHASTIC:g}", sampled)):
            err = _stat(runs, "layer_error")
            lines.append("| " + " | ".join([
                task, label, fmt(_stat(runs, "psnr")),
                fmt(paired(runs, exact, "psnr"), "+.2f") if runs is sampled else "",
                fmt(err, ".3f"), f"{err[0] / _stat(exact, 'layer_error')[0]:.2f}",
                fmt(_stat(runs, "s_per_step"), ".3f", std=False)]) + " |")
    return "\n".join(lines)


def seeds_table(records: dict) -> str:
    """Which seeds each section holds in the cache (a section can be run with fewer seeds than another)."""
    lines = ["| section | runs | seeds |", "|---|---|---|"]
    for section in SECTIONS:
        runs = [r for k, r in records.items() if k.startswith(section + "/")]
        if runs:
            seeds = sorted({r["spec"]["config"]["optim"]["seed"] for r in runs})
            lines.append(f"| {section} | {len(runs)} | {', '.join(map(str, seeds))} |")
    return "\n".join(lines)


def headline(records: dict) -> str:
    head = ["arm"] + [f"{t}: PSNR / 45° / layer err" for t in TASKS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for arm in ARM_NAMES:
        cells = [arm]
        for task in TASKS:
            runs = _select(records, f"main/{task}/{arm}")
            cells.append(f"{fmt(_stat(runs, 'psnr'))} / {fmt(_stat(runs, 'psnr_turned45'), std=False)} / "
                         f"{fmt(_stat(runs, 'layer_error'), '.3f', std=False)}")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("| *degraded input* | " + " | ".join(
        fmt(_stat(_select(records, f"main/{t}/plain"), "baseline_psnr"), std=False) for t in TASKS) + " |")
    return "\n".join(lines)


def figures(records: dict, docs: Path) -> dict[str, str]:
    from eqlab.viz.experiments import arm_comparison, share_tradeoff, synthetic_knob

    out = docs / "figures"
    out.mkdir(parents=True, exist_ok=True)
    data = {task: {arm: _select(records, f"main/{task}/{arm}") for arm in ARM_NAMES} for task in TASKS}
    shares = {task: [dict(share=r["spec"]["config"]["method"]["target_share"] or float("nan"),
                          label=label, **r["metrics"], **r["train"], seed=r["spec"]["config"]["optim"]["seed"])
                     for label, prefix in (("eqreg", f"main/{task}/eqreg"), ("augment", f"main/{task}/augment"),
                                           *((f"{s:g}", f"share/{task}/{s:g}") for s in SHARES))
                     for r in _select(records, prefix)] for task in TASKS}
    synthetic = {bias: {arm: _select(records, f"synthetic/{bias:g}/{arm}") for arm in ARM_NAMES} for bias in BIASES}
    paths = {}
    for name, fig in (("arms", arm_comparison(data)), ("share", share_tradeoff(shares)),
                      ("synthetic", synthetic_knob(synthetic))):
        fig.savefig(out / f"{name}.png", dpi=90)
        paths[name] = f"figures/{name}.png"
    return paths


def write_page(records: dict, args, sessions: list[dict]) -> Path:
    docs = Path(args.docs)
    paths = figures(records, docs)
    goals = {task: goal(records, task) for task in TASKS}
    trained = list(records.values())
    machine = trained[0]["machine"]
    recipe = zoo.recipe("denoise", "eqreg")
    values = dict(
        date=datetime.date.today().isoformat(), runs=len(records),
        stalled=sum(map(stalled, trained)),
        stalled_list=", ".join(sorted(k for k, r in records.items() if stalled(r))) or "none",
        machine=f"{machine['cpu']}, {machine['cpu_count']} cores, torch {machine['torch']}, device {machine['device']}",
        workers=args.workers, wall_min=f"{sum(s['wall_time_s'] for s in sessions) / 60:.0f}",
        commands="`, then `".join(dict.fromkeys(s["command"] for s in sessions)), seeds=", ".join(map(str, sorted(
            {r["spec"]["config"]["optim"]["seed"] for k, r in records.items() if k.startswith("main/")}))),
        steps=recipe.steps, lr=f"{recipe.lr:g}", warmup=f"{recipe.warmup:g}", clip=f"{recipe.clip:g}",
        batch=recipe.batch_size, features=recipe.features, depth=recipe.depth, share=f"{recipe.target_share:g}"
        if recipe.target_share else "none", eval_size=zoo.EVAL_SIZE,
        headline=headline(records), arms_fig=paths["arms"], share_fig=paths["share"], synthetic_fig=paths["synthetic"],
        goals="\n".join(f"- **{t}**: layer error {g['ratio']:.1f}× lower than augment's, PSNR "
                        f"{fmt(g['delta'], '+.2f')} dB against augment (paired) — {'met' if g['met'] else 'not met'}"
                        for t, g in goals.items()),
        denoise_table=arm_table(records, "main/denoise"), sr_table=arm_table(records, "main/sr"),
        deblur_table=arm_table(records, "main/deblur"), share_table=share_table(records),
        budget_table=budget_table(records), wallclock_table=wallclock_table(records),
        synthetic_tables="\n\n".join(f"### orientation bias {b:g}\n\n" + arm_table(records, f"synthetic/{b:g}")
                                     for b in BIASES),
        budget_fraction=f"{BUDGET_FRACTION:g}", fixed_weight=f"{FIXED_WEIGHT:g}",
        stochastic_table=stochastic_table(records), stochastic=f"{STOCHASTIC:g}", seeds_table=seeds_table(records),
    )
    template = string.Template((ROOT / "scripts" / "results.md.in").read_text())
    page = docs / "results.md"
    page.write_text(template.substitute(values))
    return page


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="runs/report", help="the run cache (default runs/report)")
    parser.add_argument("--docs", default=str(ROOT / "docs"), help="where results.md and figures/ go")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", type=int, default=None, help="override every run's steps (quick tries only)")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        help="train only these sections (default all; the page shows whatever the cache holds)")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--write-only", action="store_true", help="write the page from the cache, train nothing")
    args = parser.parse_args(argv)
    cache = Path(args.cache)
    sessions_file = cache / "sessions.json"
    sessions = json.loads(sessions_file.read_text()) if sessions_file.exists() else []
    if not args.write_only:
        start = time.perf_counter()
        records = run_grid(plan(args, cache), cache, workers=args.workers, cost=_cost)
        records.update(run_grid(wallclock_plan({**load_records(cache), **records}, args), cache,
                                workers=args.workers, cost=_cost))
        cache.mkdir(parents=True, exist_ok=True)
        command = " ".join(["python", "scripts/report.py", *(sys.argv[1:] if argv is None else argv)])
        sessions.append(dict(command=command, wall_time_s=time.perf_counter() - start))
        sessions_file.write_text(json.dumps(sessions, indent=1))
    args.workers = args.workers or 2
    print(f"wrote {write_page(load_records(cache), args, sessions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
