"""Which equivariance does EQ-Reg learn? Train the runs behind ``docs/orientation.md`` and write the page.

Sections (every run is ``eqlab.train.fit`` of an ``eqlab.zoo.recipe`` config through
``eqlab.experiments.run_grid``; finished runs are cached in ``--cache`` and the script resumes):

    pilot      eqreg with each component norm ("split", "components") at a quarter of the zoo's budget,
               seed 0, every task: which penalty keeps orientation at all.
    grid       augment, eqreg with the whole-layer norm ("relative", eqlab 0.2's default) and eqreg with
               the split norm (the new default) at the zoo budget, seeds 0-2, every task: PSNR, layer
               error, the oriented share of the energy and the error of each part. Seed 0 of the split
               arm is the zoo's eqreg. The weights of every grid run are kept (``--cache``/weights) for
               the test-time averaging section.
    frontier   the split norm at target shares 0.03 and 0.3 (3 seeds): where the parts out of reach lie.

Each run's ``metrics`` come from ``eqlab.zoo.evaluate`` (the card's protocol), which reports
``oriented_share``, ``oriented_error``, ``invariant_error`` and ``blind_layers`` beside the PSNR;
``ensemble`` adds, from the kept weights, the PSNR of the net averaged over C4 and D4 at test time.

Usage:
    nohup python scripts/orientation.py --sections pilot > runs/orientation.log 2>&1 &
    python scripts/orientation.py --sections grid frontier     # then the page
    python scripts/orientation.py --write-only                 # the page from the cache
    python scripts/orientation.py --steps 20 --seeds 0 --cache /tmp/o --docs /tmp/docs   # a quick try
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

from eqlab import zoo
from eqlab.experiments import Run, load_records, mean_std, paired, run_grid

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("zoo", "quarter", "frontier")
QUARTER = 0.25  # the quarter section trains a quarter of the zoo's steps (CPU time), three seeds
NORMS = {"augment": None, "split": "split", "relative": "relative"}  # arms: name -> eqreg norm (None: augment)
FRONTIER_TASKS = ("sr",)
FRONTIER_SHARES = (0.3,)
ENSEMBLE_GROUPS = ("C4", "D4")


def plan(args) -> list[Run]:
    """The runs of the chosen sections, in the order they start (two workers take them in turn)."""
    short = args.steps or round(zoo.RECIPE["steps"] * QUARTER)
    full = {} if args.steps is None else {"steps": args.steps}

    def kept(key: str) -> dict:  # the weights are kept for the test-time averaging section
        return dict(model_out=str(Path(args.cache) / "weights" / f"{key.replace('/', '__')}.safetensors"))

    def zoo_run(task: str) -> Run:
        key = f"zoo/{task}/split/s0"
        return Run(key, zoo.recipe(task, "eqreg", 0, norm="split", **full), "zoo", kept(key))

    runs = []
    for seed in args.seeds:
        if seed == args.seeds[0]:
            runs.append(zoo_run("deblur"))
        for task in zoo.TASKS:
            for name, norm in NORMS.items():
                key = f"quarter/{task}/{name}/s{seed}"
                changes = {"steps": short} | ({} if norm is None else {"norm": norm})
                runs.append(Run(key, zoo.recipe(task, "augment" if norm is None else "eqreg", seed, **changes),
                                "quarter", kept(key)))
            if seed == args.seeds[0]:
                runs.append(Run(f"quarter/{task}/components/s{seed}",
                                zoo.recipe(task, "eqreg", seed, norm="components", steps=short), "quarter"))
        if seed == args.seeds[0]:
            runs += [zoo_run("denoise"), zoo_run("sr")]
    runs += [Run(f"frontier/{task}/{share:g}/s{seed}",
                 zoo.recipe(task, "eqreg", seed, norm="split", target_share=share, steps=short), "frontier")
             for task in FRONTIER_TASKS for share in FRONTIER_SHARES for seed in args.seeds]
    return [run for run in runs if run.section in args.sections]


def ensemble_scores(record: dict, cache: Path) -> dict:
    """PSNR of the kept weights averaged over each group at test time (the card's crops and noise)."""
    from eqlab.checkpoint import load_checkpoint
    from eqlab.ensemble import SelfEnsemble
    from eqlab.train import TrainConfig

    config = TrainConfig.from_dict(record["spec"]["config"])
    model, _ = load_checkpoint(record["spec"]["options"]["model_out"])
    return {group: zoo.evaluate(SelfEnsemble(model, group), config, equivariance=False)["psnr"]
            for group in ENSEMBLE_GROUPS}


def _cell(values, digits=2) -> str:
    mean, std, n = mean_std(values)
    if n == 0:
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if n > 1 else f"{mean:.{digits}f}"


def write_page(cache: Path, docs: Path) -> Path:
    records = load_records(cache)

    def section(prefix):
        return {k: r for k, r in records.items() if k.startswith(prefix)}

    lines = ["# Which equivariance does EQ-Reg learn?", "",
             f"Generated by `python scripts/orientation.py` on {datetime.date.today().isoformat()} from "
             f"{len(records)} cached runs. Machine: "
             + (next(iter(records.values()))["machine"].get("cpu", "?") if records else "?")
             + " (a shared 2-core CPU, one torch thread per worker).", "",
             "Every number is from `eqlab.zoo.evaluate` (the cards' protocol: centre 96-px crops of the 5 test "
             "images, C4). *Layer err*: the relative error of each regularized layer, centred maps (√2 ≈ unrelated). "
             "*Oriented share*: the share of the layer's (centred) energy outside the invariant component of its "
             "representation, i.e. in the part that can carry orientation; *oriented err* / *invariant err*: the "
             "relative error of each part (`eqlab.metrics.orientation_summary`, averaged over the layers). "
             "*Blind*: the fraction of layers whose oriented share is under 10 %.", ""]
    pilot = section("pilot/")
    if pilot:
        lines += ["## Pilot: which penalty keeps orientation (seed 0, a quarter of the zoo's steps)", "",
                  "| task | norm | PSNR | layer err | oriented share | oriented err | invariant err | blind |",
                  "|---|---|---|---|---|---|---|---|"]
        for key, r in sorted(pilot.items()):
            _, task, norm, _ = key.split("/")
            m = r["metrics"]
            lines.append(f"| {task} | {norm} | {m['psnr']:.2f} | {m['layer_error']:.3f} | {m['oriented_share']:.3f} | "
                         f"{m['oriented_error']:.3f} | {m['invariant_error']:.3f} | {m['blind_layers']:.2f} |")
        lines.append("")
    grid = section("grid/")
    if grid:
        lines += ["## The grid: augment, eqreg (whole-layer norm) and eqreg (split norm), zoo budget", "",
                  "Mean ± std over the seeds; Δ PSNR is paired by seed against augment (same images, same noise).", "",
                  "| task | arm | seeds | PSNR | Δ vs augment | layer err | oriented share | oriented err | "
                  "invariant err | blind | held share |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for task in zoo.TASKS:
            augment = [r for k, r in grid.items() if k.startswith(f"grid/{task}/augment/")]
            for name in NORMS:
                rs = [r for k, r in grid.items() if k.startswith(f"grid/{task}/{name}/")]
                if not rs:
                    continue
                delta = "–"
                if name != "augment":
                    mean, std, n = paired(rs, augment, "psnr")
                    delta = f"{mean:+.2f} ± {std:.2f}" if n else "–"
                m = [r["metrics"] for r in rs]
                share = [r["train"].get("held_share") for r in rs]
                lines.append(f"| {task} | {name} | {len(rs)} | {_cell([x['psnr'] for x in m])} | {delta} | "
                             f"{_cell([x['layer_error'] for x in m], 3)} | {_cell([x['oriented_share'] for x in m], 3)} | "
                             f"{_cell([x['oriented_error'] for x in m], 3)} | "
                             f"{_cell([x['invariant_error'] for x in m], 3)} | {_cell([x['blind_layers'] for x in m])} | "
                             f"{_cell([s for s in share if s], 3)} |")
        lines.append("")
        ensembled = {k: r for k, r in grid.items() if "ensemble" in r}
        if ensembled:
            lines += ["## Test-time averaging", "",
                      "The same kept weights, averaged at test time over the group: `SelfEnsemble(model, group)` "
                      "(|G| forward passes; exactly equivariant outputs for C4). PSNR mean ± std over the seeds.", "",
                      "| task | arm | single pass | C4 average (4×) | D4 average (8×) |", "|---|---|---|---|---|"]
            for task in zoo.TASKS:
                for name in NORMS:
                    rs = [r for k, r in ensembled.items() if k.startswith(f"grid/{task}/{name}/")]
                    if rs:
                        lines.append(f"| {task} | {name} | {_cell([r['metrics']['psnr'] for r in rs])} | "
                                     f"{_cell([r['ensemble']['C4'] for r in rs])} | "
                                     f"{_cell([r['ensemble']['D4'] for r in rs])} |")
            lines.append("")
    frontier = section("frontier/")
    if frontier:
        lines += ["## Frontier: the split norm at other target shares", "",
                  "| task | target share | seeds | PSNR | layer err | oriented share | oriented err | stalled |",
                  "|---|---|---|---|---|---|---|---|"]
        for task in zoo.TASKS:
            for share in FRONTIER_SHARES:
                rs = [r for k, r in frontier.items() if k.startswith(f"frontier/{task}/{share:g}/")]
                if rs:
                    m = [r["metrics"] for r in rs]
                    lines.append(f"| {task} | {share:g} | {len(rs)} | {_cell([x['psnr'] for x in m])} | "
                                 f"{_cell([x['layer_error'] for x in m], 3)} | "
                                 f"{_cell([x['oriented_share'] for x in m], 3)} | "
                                 f"{_cell([x['oriented_error'] for x in m], 3)} | "
                                 f"{sum(bool(r['stalled']) for r in rs)} |")
        lines.append("")
    docs.mkdir(parents=True, exist_ok=True)
    page = docs / "orientation.md"
    page.write_text("\n".join(lines))
    return page


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="override every run's steps (quick tries only)")
    parser.add_argument("--cache", default="runs/orientation")
    parser.add_argument("--docs", default=str(ROOT / "docs"))
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--write-only", action="store_true")
    args = parser.parse_args(argv)
    cache = Path(args.cache)
    if not args.write_only:
        run_grid(plan(args), cache, workers=args.workers)
        import json

        for path in sorted((cache / "runs").glob("grid__*.json")):
            record = json.loads(path.read_text())
            if "ensemble" not in record and Path(record["spec"]["options"].get("model_out", "")).exists():
                record["ensemble"] = ensemble_scores(record, cache)
                path.write_text(json.dumps(record, indent=1, default=float))
    print(write_page(cache, Path(args.docs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
