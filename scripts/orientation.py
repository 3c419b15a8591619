"""Which equivariance does EQ-Reg learn? Train the runs behind ``docs/orientation.md`` and write the page.

Sections (every run is ``eqlab.train.fit`` of an ``eqlab.zoo.recipe`` config through
``eqlab.experiments.run_grid``; finished runs are cached in ``--cache`` and the script resumes):

    zoo        eqreg with the split norm at the zoo budget, seed 0, every task: the new ``<task>/eqreg``
               (``--ship``); the shipped augment, strict and eqlab 0.2's eqreg (whole-layer norm, shipped
               as ``<task>/eqreg-relative``) are scored beside it, not retrained.
    quarter    augment, eqreg with the split norm and eqreg with the whole-layer norm at a quarter of the
               zoo's steps, seeds 0-2, every task (and the "components" norm, seed 0): does the split norm
               keep orientation on every seed, and at what PSNR?
    frontier   the split norm at target share 0.3 on SR and deblurring, seeds 0-2 at a quarter of the budget, and
               at stronger shares at the zoo budget, seed 0: where the part out of reach lies.
    relaxed    eqreg with the split norm from an equivariant start (``weight_init="equivariant"``: the plain
               net's convs projected onto the C4-equivariant ones, a strict twin "relaxed" into ordinary
               convs): a quarter of the budget, seeds 0-2, and the zoo budget, seed 0, every task.
    width      the strict twin at the plain net's width (half its fields: the equivariant net the penalty asks
               a plain net of that width to become, a quarter of its free parameters), zoo budget, seed 0.
    seeds      the zoo budget again at seeds 1 and 2: augment and the shipped eqreg's config (with seed 0 from
               the zoo section, three seeds at the full budget).

Each run's ``metrics`` come from ``eqlab.zoo.evaluate`` (the card's protocol), which reports
``oriented_share``, ``oriented_error``, ``invariant_error`` and ``blind_layers`` beside the PSNR; the
weights of the zoo and quarter runs are kept (``--cache``/weights) and scored again averaged over C4 and
D4 at test time (``eqlab.ensemble.SelfEnsemble``).

Usage:
    nohup python scripts/orientation.py > runs/orientation.log 2>&1 &    # every section, then the page
    python scripts/orientation.py --write-only --ship          # ship the zoo section's nets, write the page
    python scripts/orientation.py --write-only                 # the page from the cache
    python scripts/orientation.py --steps 20 --seeds 0 --cache /tmp/o --docs /tmp/docs   # a quick try
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

from eqlab import zoo
from eqlab.experiments import Run, load_records, mean_std, paired, run_grid

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("zoo", "quarter", "frontier", "relaxed", "width", "seeds")
QUARTER = 0.25  # the quarter section trains a quarter of the zoo's steps (CPU time), three seeds
ARM_NORMS = {"augment": None, "split": "split", "relative": "relative"}  # arms: name -> eqreg norm (None: augment)
FRONTIER_TASKS = ("sr", "deblur")
ZOO_SHARES = {"sr": (0.3,), "deblur": (0.2, 0.3)}  # the zoo section also trains these shares (weights kept)
FRONTIER_SHARES = (0.3,)
FRONTIER_ZOO_SHARES = {"deblur": (0.2, 0.3), "sr": (0.4,)}  # the frontier at the zoo budget (deblur: 3 seeds)
SEEDS_SHARES = {"denoise": 0.1, "sr": 0.3, "deblur": 0.1}  # the seeds section's split runs (Kaiming start)
RELAXED_ZOO_SHARES = {"sr": (0.3,)}  # the equivariant start at a stronger share too, zoo budget, every seed
ENSEMBLE_GROUPS = ("C4", "D4")


def split_recipe(task: str, seed: int, share: float, start: str = "kaiming", **changes):
    """eqreg with the split norm at a target share, from a Kaiming or an equivariant start (``weight_init``)."""
    return zoo.recipe(task, "eqreg", seed, norm="split", target_share=share, weight_init=start, **changes)


def plan(args) -> list[Run]:
    """The runs of the chosen sections, in the order they start (two workers take them in turn)."""
    short = args.steps or round(zoo.RECIPE["steps"] * QUARTER)
    full = {} if args.steps is None else {"steps": args.steps}

    def kept(key: str) -> dict:  # the weights are kept for the test-time averaging section
        return dict(model_out=str(Path(args.cache) / "weights" / f"{key.replace('/', '__')}.safetensors"))

    def zoo_run(task: str) -> Run:
        key = f"zoo/{task}/split/s0"
        return Run(key, split_recipe(task, 0, zoo.RECIPE_SHARE, **full), "zoo",
                   kept(key))

    def quarter_run(task: str, name: str, seed: int) -> Run:
        key, norm = f"quarter/{task}/{name}/s{seed}", ARM_NORMS.get(name, name)
        # augment: the norm field has no effect without a penalty; pinned to the value its cached runs were made with
        changes = {"steps": short} | ({"norm": "relative"} if norm is None else
                                      {"norm": norm, "target_share": zoo.RECIPE_SHARE, "weight_init": "kaiming"})
        return Run(key, zoo.recipe(task, "augment" if norm is None else "eqreg", seed, **changes), "quarter",
                   kept(key) if name in ARM_NORMS else {})

    first, *others = args.seeds  # the order the runs start in: what the page needs most comes first
    runs = [zoo_run("deblur")]
    runs += [quarter_run(task, name, first) for task in zoo.TASKS for name in ("augment", "split")]
    runs += [zoo_run("denoise"), zoo_run("sr")]
    for task, shares in ZOO_SHARES.items():  # a task whose oriented part stayed unrelated at the default share
        for share in shares:
            key = f"zoo/{task}/split-{share:g}/s0"
            runs.append(Run(key, split_recipe(task, 0, share, **full), "zoo", kept(key)))
    runs += [quarter_run(task, name, seed) for seed in others for task in zoo.TASKS for name in ("augment", "split")]
    runs += [quarter_run(task, "relative", seed) for seed in args.seeds for task in zoo.TASKS]
    runs += [quarter_run(task, "components", first) for task in zoo.TASKS]
    runs += [Run(f"frontier/{task}/{share:g}/s{seed}",
                 split_recipe(task, seed, share, steps=short), "frontier")
             for task in FRONTIER_TASKS for share in FRONTIER_SHARES for seed in args.seeds]
    runs += [Run(f"frontier-zoo/{task}/{share:g}/s{seed}", split_recipe(task, seed, share, **full), "frontier")
             for task, shares in FRONTIER_ZOO_SHARES.items() for share in shares
             for seed in (args.seeds if task == "deblur" else [first])]  # deblurring: the goal out of reach
    for budget, seeds in (("quarter", args.seeds), ("zoo", [first])):
        for seed in seeds:
            for task in zoo.TASKS:
                key = f"relaxed/{budget}/{task}/s{seed}"
                steps = {"steps": short} if budget == "quarter" else full
                runs.append(Run(key, split_recipe(task, seed, zoo.RECIPE_SHARE, "equivariant", **steps), "relaxed",
                                kept(key)))
    for task, shares in RELAXED_ZOO_SHARES.items():
        for share in shares:
            for seed in args.seeds:
                key = f"relaxed/zoo/{task}-{share:g}/s{seed}"
                runs.append(Run(key, split_recipe(task, seed, share, "equivariant", **full), "relaxed", kept(key)))
    for seed in others:  # the equivariant start on denoising met every goal at seed 0: the other seeds
        key = f"relaxed/zoo/denoise/s{seed}"
        runs.append(Run(key, split_recipe("denoise", seed, zoo.RECIPE_SHARE, "equivariant", **full), "relaxed",
                        kept(key)))
    narrow = zoo.RECIPE["features"] // 2  # strict gets features // 2 fields of 4 channels: the plain net's width
    runs += [Run(f"width/{task}/s{first}", zoo.recipe(task, "strict", first, features=narrow, **full), "width")
             for task in zoo.TASKS]
    for seed in others:  # the zoo budget over three seeds: seed 0 is the zoo section's (and the shipped augment)
        for task in zoo.TASKS:
            share = SEEDS_SHARES[task]
            runs += [Run(f"seeds/{task}/augment/s{seed}", zoo.recipe(task, "augment", seed, norm="relative", **full),
                         "seeds", kept(f"seeds/{task}/augment/s{seed}")),
                     Run(f"seeds/{task}/split/s{seed}",
                         split_recipe(task, seed, share, **full), "seeds",
                         kept(f"seeds/{task}/split/s{seed}"))]
    return [run for run in runs if run.section in args.sections]


def ensemble_scores(model, config) -> dict:
    """PSNR of a net averaged over each group at test time (the card's crops and noise)."""
    from eqlab.ensemble import SelfEnsemble

    return {group: zoo.evaluate(SelfEnsemble(model, group), config, equivariance=False)["psnr"]
            for group in ENSEMBLE_GROUPS}


def score_kept(cache: Path) -> None:
    """Add the test-time averages to every cached record whose weights were kept (once)."""
    from eqlab.checkpoint import load_checkpoint
    from eqlab.train import TrainConfig

    for path in sorted((cache / "runs").glob("*.json")):
        record = json.loads(path.read_text())
        weights = Path(record["spec"]["options"].get("model_out", ""))
        if "ensemble" not in record and weights.is_file():
            model, _ = load_checkpoint(weights)
            record["ensemble"] = ensemble_scores(model, TrainConfig.from_dict(record["spec"]["config"]))
            path.write_text(json.dumps(record, indent=1, default=float))


def shipped(cache: Path) -> dict[str, dict]:
    """The zoo-budget nets of seed 0 that need no training here, scored like a run: ``{"<task>/<name>": record}``.

    augment and strict are the shipped zoo's; ``relative`` is eqlab 0.2's eqreg (``<task>/eqreg-relative`` once
    the new zoo ships, ``<task>/eqreg`` before). Scored once and kept in ``cache/shipped.json``.
    """
    path = cache / "shipped.json"
    scores = json.loads(path.read_text()) if path.exists() else {}
    for task in zoo.TASKS:
        names = {"augment": "augment", "strict": "strict",
                 "relative": "eqreg-relative" if f"{task}/eqreg-relative" in zoo.available() else "eqreg"}
        for name, arm in names.items():
            key = f"{task}/{name}"
            card = zoo.card(f"{task}/{arm}")
            if key in scores or (name == "relative" and card["train_config"]["method"]["norm"] != "relative"):
                continue
            model, _ = zoo.load(f"{task}/{arm}")
            from eqlab.train import TrainConfig

            config = TrainConfig.from_dict(card["train_config"])
            scores[key] = dict(metrics=zoo.evaluate(model, config), ensemble=ensemble_scores(model, config),
                               train=card["train"], stalled=card["stalled"])
    path.write_text(json.dumps(scores, indent=1, default=float))
    return scores


def _cell(values, digits=2) -> str:
    mean, std, n = mean_std(values)
    if n == 0:
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if n > 1 else f"{mean:.{digits}f}"


COLUMNS = ("| arm | PSNR | layer err | oriented share | oriented err | invariant err | blind | C4 average | "
           "D4 average |\n|---|---|---|---|---|---|---|---|---|")


def _row(name: str, records: list[dict]) -> str:
    m = [r["metrics"] for r in records]
    e = [r.get("ensemble", {}) for r in records]
    return (f"| {name} | {_cell([x['psnr'] for x in m])} | {_cell([x['layer_error'] for x in m], 3)} | "
            f"{_cell([x['oriented_share'] for x in m], 3)} | {_cell([x['oriented_error'] for x in m], 3)} | "
            f"{_cell([x['invariant_error'] for x in m], 3)} | {_cell([x['blind_layers'] for x in m])} | "
            f"{_cell([x['C4'] for x in e if 'C4' in x])} | {_cell([x['D4'] for x in e if 'D4' in x])} |")




def _shipped_key(task: str) -> str:
    """The run shipped as ``<task>/eqreg``: the zoo recipe's share and start for the task (``zoo.EQREG_CHANGES``)."""
    config = zoo.recipe(task, "eqreg")
    share, start = config.method.target_share, config.net.weight_init
    if start == "equivariant":
        return f"relaxed/zoo/{task}/s0" if share == zoo.RECIPE_SHARE else f"relaxed/zoo/{task}-{share:g}/s0"
    return f"zoo/{task}/split/s0" if share == zoo.RECIPE_SHARE else f"zoo/{task}/split-{share:g}/s0"


def _split_seeds(task: str, share: float, records: dict | None = None) -> list[str]:
    """The keys of the split norm from Kaiming at ``share`` and the zoo budget, seeds 0-2, wherever they ran.

    Seed 0 is the zoo section's run (weights kept: the one that can ship), else the frontier's of the same config.
    """
    first = f"zoo/{task}/split/s0" if share == zoo.RECIPE_SHARE else f"zoo/{task}/split-{share:g}/s0"
    if records is not None and first not in records:
        first = f"frontier-zoo/{task}/{share:g}/s0"
    others = "seeds/{task}/split/s{seed}" if SEEDS_SHARES[task] == share else "frontier-zoo/{task}/{share:g}/s{seed}"
    return [first] + [others.format(task=task, share=share, seed=seed) for seed in (1, 2)]


def _shipped_seeds(task: str) -> list[str]:
    """The keys of the shipped eqreg's config at seeds 0-2 (§4 for a Kaiming start, §5 for an equivariant one)."""
    key = _shipped_key(task)
    if key.startswith("relaxed/"):
        return [key.replace("/s0", f"/s{seed}") for seed in (0, 1, 2)]
    return _split_seeds(task, zoo.recipe(task, "eqreg").target_share)


def write_page(cache: Path, docs: Path) -> Path:
    records = load_records(cache)
    ships = shipped(cache)
    machine = next(iter(records.values()))["machine"] if records else {}
    lines = [(ROOT / "scripts" / "orientation.md.in").read_text().format(
        date=datetime.date.today().isoformat(), runs=len(records), cpu=machine.get("cpu", "?"),
        torch=machine.get("torch", "?"))]

    lines += ["## 1. The zoo budget, seed 0: the shipped nets", "",
              "6000 steps. *augment*, *strict*: the shipped zoo's; *relative*: eqlab 0.2's eqreg (whole-layer norm, "
              "shipped now as `<task>/eqreg-relative`); *split*: the new default norm, from Kaiming; *equivariant "
              "start*: the same from `weight_init=\"equivariant\"` (§5). The bold row is `<task>/eqreg`.", ""]
    checks = []
    for task in zoo.TASKS:
        lines += [f"**{task}**", "", COLUMNS]
        keys = [f"zoo/{task}/{name}/s0" for name in ("augment", "relative", "split", *(
            f"split-{share:g}" for share in ZOO_SHARES.get(task, ())))]
        keys += [_shipped_key(task)] * (_shipped_key(task) not in keys) + [f"zoo/{task}/strict/s0"]
        for key in keys:
            name = key.split("/")[2]
            rs = [records[key]] if key in records else [ships[f"{task}/{name}"]] if f"{task}/{name}" in ships else []
            if rs:
                label = name.replace("split-", "split, share ") if key.startswith("zoo/") else \
                    "split, equivariant start" + (f", share {name.split('-')[1]}" if "-" in name else "")
                lines.append(_row(f"**{label}** (shipped)" if key == _shipped_key(task) else label, rs))
        lines.append("")
        if _shipped_key(task) in records:
            new, aug, strict = records[_shipped_key(task)]["metrics"], ships[f"{task}/augment"]["metrics"], \
                ships[f"{task}/strict"]["metrics"]
            checks.append(f"| {task} | {new['oriented_share']:.3f} vs ½ × {strict['oriented_share']:.3f} "
                          f"{'✓' if new['oriented_share'] >= strict['oriented_share'] / 2 else '✗'} | "
                          f"{new['oriented_error']:.3f} {'✓' if new['oriented_error'] <= 0.3 else '✗'} | "
                          f"{new['psnr'] - aug['psnr']:+.2f} dB {'✓' if new['psnr'] >= aug['psnr'] - 0.1 else '✗'} |")
    if checks:
        lines += ["The goals for the shipped eqreg net (oriented share ≥ half of the strict twin's, its error ≤ 0.3, "
                  "PSNR ≥ augment − 0.1 dB):", "", "| task | oriented share | oriented err | PSNR − augment |",
                  "|---|---|---|---|", *checks, ""]

    lines += ["## 2. Three seeds at a quarter of the budget", "",
              f"{round(zoo.RECIPE['steps'] * QUARTER)} steps, seeds 0–2, mean ± std. Δ PSNR paired by seed against "
              "augment (same images, same noise). *components*: every isotypic component normalised apart "
              "(seed 0).", ""]
    for task in zoo.TASKS:
        lines += [f"**{task}**", "", COLUMNS]
        augment = _under(records, f"quarter/{task}/augment/")
        deltas = []
        for name in ("augment", "relative", "split", "components"):
            rs = _under(records, f"quarter/{task}/{name}/")
            if rs:
                lines.append(_row(_seeds(rs, name), rs))
                if name != "augment":
                    mean, std, n = paired(rs, augment, "psnr")
                    if n:
                        deltas.append(f"{name} {mean:+.2f} ± {std:.2f} dB")
        lines += ["", "PSNR − augment, paired: " + "; ".join(deltas) if deltas else "", ""]

    frontier = {k: r for k, r in records.items() if k.startswith(("frontier/", "frontier-zoo/"))}
    if frontier:
        header, rule = COLUMNS.split("\n")
        lines += ["## 3. Frontier: the split norm at a stronger share", "",
                  f"A quarter of the budget ({round(zoo.RECIPE['steps'] * QUARTER)} steps, seeds 0–2; share 0.1 is "
                  f"§2's split row) and the zoo budget ({zoo.RECIPE['steps']} steps; deblurring over three seeds, "
                  f"SR at seed 0; share {zoo.RECIPE_SHARE:g} is §1's and §4's).", "",
                  "| budget | task | target share " + header, "|---|---|---" + rule]
        for prefix, budget in (("frontier", "quarter"), ("frontier-zoo", "zoo")):
            for task in FRONTIER_TASKS:
                shares = sorted({float(k.split("/")[2]) for k in frontier if k.startswith(f"{prefix}/{task}/")})
                for share in shares:
                    rs = [r for k, r in frontier.items() if k.startswith(f"{prefix}/{task}/{share:g}/")]
                    lines.append(f"| {budget} | {task} | {share:g} " + _row(_seeds(rs, "split"), rs))
        lines.append("")
    lines += _seeds_section(records, ships) + _relaxed_section(records, ships) + _width_section(records, ships)
    lines.append((ROOT / "scripts" / "orientation_reading.md.in").read_text())
    docs.mkdir(parents=True, exist_ok=True)
    page = docs / "orientation.md"
    page.write_text("\n".join(lines))
    return page


def _seed(record: dict) -> int:
    """A run's seed; the shipped zoo's nets (scored, not run here) are seed 0."""
    return record.get("spec", {}).get("config", {}).get("optim", {}).get("seed", 0)


def _under(records: dict, prefix: str) -> list[dict]:
    """The records whose key starts with ``prefix`` (e.g. ``"quarter/sr/split/"``: every seed of one arm)."""
    return [r for k, r in records.items() if k.startswith(prefix)]


def _augment(records: dict, ships: dict, task: str) -> list[dict]:
    """augment at the zoo budget: the shipped net (seed 0) and the seeds section's."""
    return [ships[f"{task}/augment"], *_under(records, f"seeds/{task}/augment/")]


def _seeds(rs: list[dict], name: str) -> str:
    return f"{name} ({len(rs)} seed{'s' if len(rs) > 1 else ''})"


def _delta(rs: list[dict], reference: list[dict]) -> str:
    mean, std, n = paired(rs, reference, "psnr", seed=_seed)
    return f"{mean:+.2f} ± {std:.2f} dB ({n} seed{'s' if n > 1 else ''})" if n > 1 else f"{mean:+.2f} dB (seed 0)" \
        if n else "–"


def _seeds_section(records: dict, ships: dict) -> list[str]:
    """§4: augment and the shipped eqreg's config at the zoo budget over seeds 0-2, and the goals on their means."""
    if not _under(records, "seeds/"):
        return []
    lines = ["## 4. Three seeds at the zoo budget", "",
             f"{zoo.RECIPE['steps']} steps, seed 0 from §1 (augment: the shipped net), seeds 1 and 2 trained here "
             "(§4 and §3). *split, share s*: the split norm from Kaiming; *equivariant start*: from "
             "`weight_init=\"equivariant\"` (§5); the bold row is `<task>/eqreg`'s config, on which the goals are "
             "checked.", ""]
    checks = []
    for task in zoo.TASKS:
        augment = _augment(records, ships, task)
        shipped = _shipped_seeds(task)
        shares = sorted({zoo.RECIPE_SHARE, *FRONTIER_ZOO_SHARES.get(task, ()), *ZOO_SHARES.get(task, ())})
        candidates = [(f"split, share {share:g}", _split_seeds(task, share, records)) for share in shares]
        candidates += [("split, equivariant start, share 0.3", shipped)] * _shipped_key(task).startswith("relaxed/")
        rows = []
        for name, keys in candidates:
            rs = [records[k] for k in keys if k in records]
            if len(rs) > 1:  # a seed-0 run alone is §1's
                rows.append((f"**{name}**, shipped" if keys[1:] == shipped[1:] else name, rs))
        eqreg = [records[k] for k in shipped if k in records]
        rows = [("augment", augment), *rows]
        lines += [f"**{task}**", "", COLUMNS, *(_row(_seeds(rs, name), rs) for name, rs in rows), "",
                  "PSNR − augment's, paired by seed: " + "; ".join(f"{name} {_delta(rs, augment)}"
                                                                   for name, rs in rows[1:]), ""]
        share, _, _ = mean_std(r["metrics"]["oriented_share"] for r in eqreg)
        error, error_std, _ = mean_std(r["metrics"]["oriented_error"] for r in eqreg)
        delta, _, _ = paired(eqreg, augment, "psnr", seed=_seed)
        strict = ships[f"{task}/strict"]["metrics"]["oriented_share"]
        checks.append(f"| {task} | {share:.3f} vs ½ × {strict:.3f} {'✓' if share >= strict / 2 else '✗'} | "
                      f"{error:.3f} ± {error_std:.3f} {'✓' if error <= 0.3 else '✗'} | "
                      f"{delta:+.2f} dB {'✓' if delta >= -0.1 else '✗'} |")
    return lines + ["The goals on the means over the seeds:", "",
                    "| task | oriented share | oriented err | PSNR − augment |", "|---|---|---|---|", *checks, ""]


def _relaxed_section(records: dict, ships: dict) -> list[str]:
    """§5: the split norm from an equivariant start, beside the same budget's augment and split runs."""
    if not _under(records, "relaxed/"):
        return []
    lines = ["## 5. An equivariant start (“relaxed from strict”)", "",
             "eqreg with the split norm at the default share, its convs started on the C4-equivariant ones "
             "(`weight_init=\"equivariant\"`: Kaiming projected onto the equivariant kernels, the plain net "
             "then a strict net of a quarter of its parameters), beside augment and the split norm from Kaiming "
             "at the same budget (§1, §2).", "", "| budget | task " + COLUMNS.split("\n")[0],
             "|---|---" + COLUMNS.split("\n")[1]]
    deltas = []
    for budget in ("quarter", "zoo"):
        for task in zoo.TASKS:
            relaxed = _under(records, f"relaxed/{budget}/{task}/")
            if not relaxed:
                continue
            if budget == "quarter":
                augment = _under(records, f"quarter/{task}/augment/")
                split = _under(records, f"quarter/{task}/split/")
            else:
                augment = _augment(records, ships, task)
                split = [records[k] for k in _split_seeds(task, zoo.RECIPE_SHARE, records) if k in records]
            stronger = [(f"split, equivariant start, share {share:g}", rs) for share in RELAXED_ZOO_SHARES.get(task, ())
                        if budget == "zoo" and (rs := _under(records, f"relaxed/zoo/{task}-{share:g}/"))]
            for name, rs in (("augment", augment), ("split", split), ("**split, equivariant start**", relaxed),
                             *stronger):
                lines.append(f"| {budget} | {task} " + _row(_seeds(rs, name), rs))
            deltas.append(f"{task} at the {budget} budget: {_delta(relaxed, augment)} against augment, "
                          f"{_delta(relaxed, split)} against the split norm from Kaiming")
    return lines + ["", "PSNR of the equivariant start, paired by seed: " + "; ".join(deltas) + ".", ""]


def _width_section(records: dict, ships: dict) -> list[str]:
    """§6: what exact equivariance costs at the plain net's width (the strict twin with half its fields)."""
    if not _under(records, "width/"):
        return []
    lines = ["## 6. Exact equivariance at the plain net's width", "",
             "A plain conv of width C that is exactly C4-equivariant on regular fields is a group conv of C/4 fields: "
             "a quarter of its free parameters. The shipped strict twin has C/2 fields (twice the width, the plain "
             "net's parameters, 4× its multiply-adds); *strict, plain width* has C/4 (the plain net's width, a "
             "quarter of its parameters): the net a penalty that reached zero would leave. Zoo budget, seed 0.", "",
             COLUMNS]
    for task in zoo.TASKS:
        rows = [("augment", ships.get(f"{task}/augment")), ("eqreg (shipped)", records.get(_shipped_key(task))),
                ("eqreg, split, equivariant start", records.get(f"relaxed/zoo/{task}/s0")),
                ("strict, plain width (¼ of the parameters)", records.get(f"width/{task}/s0")),
                ("strict (shipped: 2× the width)", ships.get(f"{task}/strict"))]
        lines += [_row(f"{task}: {name}", [r]) for name, r in rows if r]
    return lines + [""]


def ship(cache: Path, out: Path = zoo.ROOT) -> None:
    """Ship the runs of ``_shipped_key`` as ``<task>/eqreg`` where they changed; 0.2's as ``<task>/eqreg-relative``."""
    import filecmp
    import shutil

    sys.path.insert(0, str(ROOT / "scripts"))
    from build_zoo import card

    from eqlab.train import TrainConfig
    from eqlab.train.config import command_for

    records = load_records(cache)
    for task in zoo.TASKS:
        record = records[_shipped_key(task)]
        weights = record["spec"]["options"]["model_out"]
        if filecmp.cmp(weights, out / task / "eqreg.safetensors", shallow=False):
            continue  # shipped already: its card stays as it is
        built_by = f"python scripts/orientation.py --sections {record['section']} --ship"
        if record["stalled"]:
            raise SystemExit(f"refusing to ship {_shipped_key(task)}: it stalled at its degraded input")
        old = json.loads((out / task / "eqreg.json").read_text())
        if old["train_config"]["method"]["norm"] == "relative":  # eqlab 0.2's eqreg becomes the variant
            old.update(name=f"{task}/eqreg-relative", variant="eqreg-relative")
            shutil.copyfile(out / task / "eqreg.safetensors", out / task / "eqreg-relative.safetensors")
            (out / task / "eqreg-relative.json").write_text(json.dumps(old, indent=1) + "\n")
        shutil.copyfile(weights, out / task / "eqreg.safetensors")
        (out / task / "eqreg.json").write_text(json.dumps(card(record, out, built_by), indent=1) + "\n")
        for arm in ("plain", "augment", "strict"):  # no penalty: the norm field has no effect on these weights
            path = out / task / f"{arm}.json"
            info = json.loads(path.read_text())
            method = info["train_config"]["method"]
            if method["norm"] != (default := TrainConfig().method.norm):
                info["note"] = (f"eqlab 0.3 rewrote method.norm from {method['norm']!r} to its new default "
                                f"{default!r}: this arm has no penalty, so the field has no effect on its weights")
                method["norm"] = default
                info["command"] = command_for(TrainConfig.from_dict(info["train_config"]))
                path.write_text(json.dumps(info, indent=1) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="override every run's steps (quick tries only)")
    parser.add_argument("--cache", default="runs/orientation")
    parser.add_argument("--docs", default=str(ROOT / "docs"))
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--only", nargs="+", default=None, metavar="PREFIX",
                        help="run only the runs whose key starts with one of these, in this order")
    parser.add_argument("--write-only", action="store_true")
    parser.add_argument("--ship", action="store_true", help="then ship the zoo section's nets into eqlab/zoo "
                        "(re-score the cards afterwards: python scripts/build_zoo.py --rescore)")
    args = parser.parse_args(argv)
    cache = Path(args.cache)
    if not args.write_only:
        runs = plan(args)
        if args.only:
            runs = [run for prefix in args.only for run in runs if run.key.startswith(prefix)]
        run_grid(runs, cache, workers=args.workers)
    score_kept(cache)
    if args.ship:
        ship(cache)
    print(write_page(cache, Path(args.docs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
