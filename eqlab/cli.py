"""The ``eqlab`` command line: ``train``, ``eval``, ``compare``, ``demo``, ``bench``, ``docs``.

    eqlab train --task denoise --arm eqreg --steps 200 --out-dir runs/dn-eqreg
    eqlab train --recipe swinir-sr-x2 --data DIV2K/DIV2K_train_HR --test-data Set5/HR
    eqlab eval runs/dn-eqreg/checkpoint.safetensors --rotate
    eqlab eval runs/sr4/checkpoint.safetensors --test-data Set5/ Set14/ --self-ensemble D4
    eqlab compare --task denoise --steps 200 --seeds 0 1 2
    eqlab bench overhead --quick      # a script of benchmarks/ (from a source checkout), with its arguments
    eqlab docs                        # the documentation site on http://127.0.0.1:8000 (from a source checkout)

``train`` has one flag per field of ``eqlab.train.TrainConfig`` (``batch_size`` -> ``--batch-size``;
booleans as ``--amp`` / ``--no-amp``; ``none`` for an optional value), generated from the fields'
metadata (``eqlab.train.option``: help text, choices), one argument group per config group.
``compare`` takes the same flags except ``--arm`` and ``--seed``. ``command_for(config)`` is the
inverse: the command line that rebuilds a config (the zoo cards carry it).
Errors in the input (a bad value, a missing folder, a corrupt checkpoint) print one line and
exit with status 2; a net whose output or loss is NaN or infinite (``eval``, ``train``) exits with
status 3. Until the console script is installed, run ``python -m eqlab``.

What is not here: the training loop (``eqlab.train``), the app (``eqlab.app``), the benchmark scripts
(``benchmarks/``: ``eqlab bench`` only finds and runs them), the documentation site (``mkdocs.yml``: ``eqlab docs``
runs ``mkdocs serve`` on it).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import json
import runpy
import subprocess
import sys
import typing
import warnings
from pathlib import Path

import numpy as np
import torch

__all__ = ["main", "build_parser", "config_from_args", "add_config_flags", "command_for"]

_COMPARE_EXCLUDED = ("arm", "seed")
BENCHMARK_DIR = Path(__file__).resolve().parents[1] / "benchmarks"  # beside the package: a source checkout only
BENCHMARKS = {  # eqlab bench NAME [arguments of the script]
    "overhead": "reg_overhead.py",  # EQ-Reg over augmentation (exact, stochastic), memory
    "throughput": "train_throughput.py",  # patches/s per arm
    "threads": "threads.py",  # eqlab train on a busy machine, against a tuned setting
    "thirdparty": "thirdparty.py",  # EQ-Reg on spandrel's nets (needs spandrel)
    "app": "app_latency.py",  # first panel, Explore change, Restore
    "load": "app_load.py",  # a classroom of clients while one training runs
}
DOCS_CONFIG = Path(__file__).resolve().parents[1] / "mkdocs.yml"  # the site's config: a source checkout only


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error: the mistake and where the options are listed, not the whole usage."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (`{self.prog} --help` lists the options)\n")


def _optional(kind):
    def convert(text: str):
        return None if text.lower() == "none" else kind(text)
    convert.__name__ = kind.__name__  # argparse names the type in its error message
    return convert


def add_config_flags(parser: argparse.ArgumentParser, exclude=()) -> None:
    """One flag per field of ``TrainConfig``, in an argument group per config group.

    ``--field-name``, typed by the field's annotation (``none`` for an optional value, booleans as
    ``--flag`` / ``--no-flag``), with the help text and choices of the field's metadata
    (``eqlab.train.option``).
    """
    from eqlab.train import SECTIONS

    for section_name, cls in SECTIONS.items():
        section = parser.add_argument_group(f"{section_name} ({cls.__name__})", cls.__doc__.splitlines()[0])
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name in exclude:
                continue
            flag, kind = "--" + f.name.replace("_", "-"), hints[f.name]
            help_text = f"{f.metadata['help']} (default: {f.default})".replace("%", "%%")
            if kind is bool:
                section.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=f.default,
                                     help=help_text)
                continue
            args = typing.get_args(kind)
            base = next((a for a in args if a is not type(None)), kind)
            convert = _optional(base) if type(None) in args else base
            section.add_argument(flag, dest=f.name, type=convert, default=f.default, choices=f.metadata["choices"],
                                 metavar=f.name.upper(), help=help_text)


def config_from_args(args: argparse.Namespace, **overrides):
    """The ``TrainConfig`` of the parsed flags, with ``overrides`` (flat field names) applied."""
    from eqlab.train import TrainConfig

    fields = TrainConfig().flat()
    values = {name: getattr(args, name) for name in fields if hasattr(args, name)}
    config = TrainConfig.of(**{**values, **overrides})
    if config.init:  # a zoo name (--init denoise/augment) becomes its file here: the training loop reads files
        from eqlab import zoo

        config = config.replace(init=zoo.checkpoint_file(config.init))
    return config


# Fields a command always spells out, so it stays exact when a default of TrainConfig changes.
def command_for(config) -> str:
    """The ``eqlab train`` command line that runs ``config`` (the inverse of the parser;
    ``eqlab.train.config.command_for``, imported when called so that ``eqlab --help`` stays quick)."""
    from eqlab.train.config import command_for as line_of

    return line_of(config)


def build_parser(recipe: dict | None = None) -> argparse.ArgumentParser:
    """The ``eqlab`` argument parser with its sub-commands; ``recipe``: defaults of ``train``'s flags."""
    from eqlab.ensemble import ENSEMBLE_GROUPS
    from eqlab.train import ARMS

    parser = _Parser(prog="eqlab", description="Explore EQ-Reg, rotation-equivariance "
                                     "regularization for image restoration (CVPR 2025, arXiv 2505.19799).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser("train", help="train one arm (plain, augment, eqreg, strict)",
                           description="Train one arm; every flag is a field of eqlab.train.TrainConfig.")
    add_config_flags(train)
    train.add_argument("--recipe", default=None, metavar="NAME_OR_PATH",
                       help="start from a recipe: a TOML file, or a bundled name (eqlab/recipes: swinir-sr-x2, "
                       "swinir-denoise-color-50); the other flags override its fields")
    train.set_defaults(**(recipe or {}))
    train.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show a progress bar")
    train.add_argument("--json", action="store_true", help="print the result as JSON")
    train.add_argument("--dry-run", action="store_true", help="set the run up without training: print the resolved "
                       "configuration, the regularized layers, the data found and a memory estimate per rank")

    ev = sub.add_parser("eval", help="evaluate a checkpoint", description="PSNR / SSIM against the degraded "
                        "baseline, PSNR on rotated inputs, output and per-layer equivariance errors.")
    ev.add_argument("checkpoint", help="a .safetensors file written by eqlab train")
    ev.add_argument("--data", default=None, help="folder of clean test images (default: the bundled test split)")
    ev.add_argument("--test-data", nargs="+", action="extend", default=None, metavar="DIR",
                    help="benchmark folders (Set5/ Set14/ ...; the flag may repeat): whole images, a table per "
                    "folder, PSNR / SSIM on the Y channel of RGB with a border of scale pixels, as SR papers")
    ev.add_argument("--self-ensemble", default="none", choices=("none", *ENSEMBLE_GROUPS),
                    help="also score the net averaged over this group at test time (|G| forward passes; "
                    "eqlab.ensemble)")
    ev.add_argument("--rotate", action="store_true", help="also report PSNR for every rotation of the group "
                    "(input rotated, output rotated back)")
    ev.add_argument("--crop", type=int, default=None, help="evaluate centre crops of at most this side")
    ev.add_argument("--group", default=None, help="group of the equivariance errors (default: the run's)")
    ev.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    ev.add_argument("--raw", action="store_true", help="score the trained weights even when the checkpoint holds "
                    "their moving average (--ema-decay; scored by default, as BasicSR does)")
    ev.add_argument("--json", action="store_true", help="print the result as JSON")

    cmp = sub.add_parser("compare", help="train the arms on equal budgets and tabulate them",
                         description="Train every arm for every seed on equal budgets (same steps, same "
                         "source patches) and print one row per arm (mean, and std over seeds): test PSNR / SSIM, "
                         "PSNR on inputs rotated 90 degrees, output and mean layer equivariance errors, test PSNR "
                         "before training (PSNR@0), mean task loss over the first and the last tenth of the steps, "
                         "training seconds (without validation) and wall seconds.")
    add_config_flags(cmp, exclude=_COMPARE_EXCLUDED)
    cmp.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds to average over (default: 0)")
    cmp.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS), help="arms to run (default: all)")
    cmp.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show progress bars")
    cmp.add_argument("--json", action="store_true", help="print the results as JSON")

    demo = sub.add_parser("demo", help="launch the Gradio app (eqlab.app.main; further arguments are passed on)",
                          add_help=False)
    demo.set_defaults(module="eqlab.app")
    bench = sub.add_parser("bench", help="run a script of benchmarks/ from a source checkout (further arguments "
                           "are passed on)", description="Run a script of benchmarks/ (a source checkout's: they do "
                           "not ship with the package); it prints ratios measured in one run, never timed assertions.")
    bench.add_argument("name", choices=sorted(BENCHMARKS), help="which benchmark (BENCHMARKS in eqlab.cli)")
    docs = sub.add_parser("docs", help="serve the documentation site on 127.0.0.1 (from a source checkout)",
                          description="Serve the documentation site (mkdocs serve on mkdocs.yml; needs the docs "
                          "extra). The first start executes the notebooks in quick mode: a few minutes, once.")
    docs.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default: 8000)")
    docs.add_argument("--build", action="store_true", help="write the site to site/ (mkdocs build --strict) "
                      "instead of serving it")
    return parser


# -- commands ----------------------------------------------------------------------------------------

class BrokenNumbers(Exception):
    """A net whose output or loss is NaN or infinite: the command printed what it measured, and exits with 3."""


def _train(args) -> dict | None:
    import warnings

    from eqlab.arms import PenaltyWarning
    from eqlab.train import fit

    config = config_from_args(args)
    if args.dry_run:
        from eqlab.train.dryrun import dry_run

        plan = dry_run(config)
        if not args.json:
            print(plan.text())
        return dict(config=plan.config.to_dict(), layers=plan.layers, data=plan.data, memory=plan.memory)
    with warnings.catch_warnings():  # printed below, as the summary's last lines (and in --json)
        warnings.simplefilter("ignore", PenaltyWarning)
        result = fit(config, progress=args.progress)
    if not result.main:  # another rank under torchrun: rank 0 validates, prints and writes
        return None
    m = result.metrics
    first, end = _loss_ends(result.history)
    summary = dict(step=result.step, wall_time_s=result.wall_time_s, paths=result.paths, metrics=m,
                   loss_first=first, loss_end=end, stalled=result.stalled, warnings=result.warnings)
    if not args.json:
        print(f"{args.task}/{args.arm}: {result.step} steps in {result.wall_time_s:.1f} s; mean task loss "
              f"{first:.3e} over the first tenth of the logged steps -> {end:.3e} over the last tenth")
        print(f"validation (centre {config.run.val_size}-px crops of the test images; `eqlab eval` scores whole "
              f"images): PSNR {m['psnr']:.2f} dB (degraded {m['baseline_psnr']:.2f}), SSIM {m['ssim']:.4f} "
              f"(degraded {m['baseline_ssim']:.4f}), rotated PSNR {m['psnr_rot90']:.2f}, "
              f"output error {m['output_error']:.4f}, layer error {m['layer_error']:.4f}")
        if result.stalled and not result.non_finite and result.collapse is None:
            print("warning: the net did not beat its degraded input (a stalled run; see docs/results.md)")
        for note in result.warnings:
            print(f"warning: {note}")
        if result.paths:
            print(f"checkpoint: {result.paths['checkpoint']}")
    if result.non_finite:
        raise BrokenNumbers(f"the run went NaN or infinite at {result.non_finite} and was stopped at step "
                            f"{result.step} (try a smaller --lr, --clip or λ)")
    return summary


def _eval(args) -> dict:
    from eqlab.checkpoint import load_checkpoint
    from eqlab.data.folder import load_folder
    from eqlab.data.images import load_default
    from eqlab.groups import get_group
    from eqlab.train import TrainConfig, evaluate

    model, meta = load_checkpoint(args.checkpoint, map_location=args.device, ema=not args.raw)
    config = TrainConfig.from_dict(meta.get("config", {}))
    task = config.task_spec()
    if args.test_data:
        return _eval_test_sets(args, model, meta, config, task)
    images = load_folder(args.data, mode=task.mode).images if args.data else load_default("test", mode=task.mode)
    if args.crop:
        images = [task.crop(y, 1, args.crop) for y in images]
    result = evaluate(model, task, images, group=args.group or config.group, rotations=args.rotate)
    result.update(model=meta["model"], step=meta["step"], task=config.task, arm=config.arm, weights=meta["weights"])
    if args.self_ensemble != "none":
        result["self_ensemble"] = dict(group=args.self_ensemble, **evaluate(
            model, task, images, group=args.group or config.group, self_ensemble=args.self_ensemble))
    if not args.json:
        crops = f"centre crops of at most {args.crop} px" if args.crop else "whole images"
        print(f"{args.checkpoint}: {meta['model']} ({config.task}/{config.arm}, {meta['step']} steps"
              f"{_weights(meta)}), {result['images']} images ({crops})")
        print(f"PSNR {result['psnr']:.2f} dB, SSIM {result['ssim']:.4f}; {task.baseline_name}: "
              f"PSNR {result['baseline_psnr']:.2f} dB, SSIM {result['baseline_ssim']:.4f}")
        print(f"PSNR on inputs rotated 90 degrees (output rotated back): {result['psnr_rot90']:.2f} dB")
        group = get_group(args.group or config.group)
        for element, value in result.get("psnr_rot", {}).items():
            print(f"  {group.describe(element)}: PSNR {value:.2f} dB")
        print(f"output equivariance error {result['output_error']:.4f}, mean layer error {result['layer_error']:.4f}")
        if "self_ensemble" in result:
            plus = result["self_ensemble"]
            print(f"averaged over {plus['group']} (self-ensemble, {get_group(plus['group']).order} forward passes): "
                  f"PSNR {plus['psnr']:.2f} dB, SSIM {plus['ssim']:.4f}, rotated PSNR {plus['psnr_rot90']:.2f}, "
                  f"output equivariance error {plus['output_error']:.2e}")
    if result["non_finite"]:
        raise BrokenNumbers(f"{args.checkpoint}: the net's output holds NaN or infinite values on "
                            f"{round(result['non_finite'] * result['images'])} of {result['images']} images: its "
                            "weights are broken, and its scores are NaN")
    return result


def _weights(meta: dict) -> str:
    """Which weights were scored, when the checkpoint holds both."""
    if meta["ema_state"] is None:
        return ""
    return ", the moving average of the weights" if meta["weights"] == "ema" else ", the trained weights (--raw)"


def _eval_test_sets(args, model, meta, config, task) -> dict:
    """``eqlab eval --test-data``: a table per benchmark folder (``eqlab.testsets``)."""
    from eqlab.testsets import format_table, score_folder

    sets = [score_folder(model, task, folder, self_ensemble=args.self_ensemble, crop=args.crop)
            for folder in args.test_data]
    if not args.json:
        print(f"{args.checkpoint}: {meta['model']} ({config.task}/{config.arm}, {meta['step']} steps{_weights(meta)})")
        for scores in sets:
            print()
            print(format_table(scores, task.baseline_name))
            for name, why in scores["skipped"]:
                print(f"  skipped {name}: {why}")
    broken = [scores["name"] for scores in sets if scores["mean"].get("non_finite")]
    if broken:
        raise BrokenNumbers(f"{args.checkpoint}: the net's output holds NaN or infinite values on images of "
                            f"{broken}: its weights are broken, and its scores are NaN")
    return dict(model=meta["model"], step=meta["step"], task=config.task, arm=config.arm, weights=meta["weights"],
                test_sets={scores["name"]: scores for scores in sets})


_COLUMNS = (("psnr", "PSNR", ".2f"), ("ssim", "SSIM", ".4f"), ("psnr_rot90", "PSNR rot90", ".2f"),
            ("output_error", "out err", ".4f"), ("layer_error", "layer err", ".4f"),
            ("psnr_step0", "PSNR@0", ".2f"), ("loss_first", "loss 1st", ".2e"), ("loss_end", "loss end", ".2e"),
            ("train_s", "train s", ".1f"), ("wall_time_s", "wall s", ".1f"))


def _loss_ends(records: list[dict]) -> tuple[float, float]:
    """Mean task loss over the first and over the last tenth of the records (one batch is too noisy)."""
    losses = [r["task_loss"] for r in records if "task_loss" in r]
    k = max(1, len(losses) // 10)
    return float(np.mean(losses[:k])), float(np.mean(losses[-k:]))


def _preload(config) -> None:
    from eqlab.data.images import load_default

    mode = config.task_spec().mode
    for folder, split in ((config.data, "train"), (config.test_data, "test")):
        if folder is None:
            load_default(split, mode=mode)


def _compare_job(run, progress: bool) -> dict:
    """One arm and seed of ``eqlab compare`` (a job of ``experiments.run_grid``): its row of the table."""
    from eqlab.train import fit

    result = fit(run.config, progress=progress)
    if not result.main:  # another rank under torchrun: it trains, rank 0 tabulates
        return dict(main=False)
    first, end = _loss_ends(result.history)
    return dict(main=True, row=dict(result.metrics, wall_time_s=result.wall_time_s, seed=run.options["seed"],
                                    loss_first=first, loss_end=end, train_s=result.history[-1]["train_s"],
                                    stalled=result.stalled,
                                    psnr_step0=result.history[0].get("val_psnr", float("nan"))))


def _compare(args) -> dict | None:
    import functools
    import tempfile

    from eqlab.experiments import Run, mean_std, run_grid

    base = config_from_args(args)
    _preload(base)  # decode the images once, so the first arm's wall time does not include it
    grid = [Run(f"{arm}/seed{seed}", base.replace(arm=arm, seed=seed, out_dir=f"{args.out_dir}/{arm}-seed{seed}"
                                                  if args.out_dir else None), options=dict(arm=arm, seed=seed))
            for seed in args.seeds for arm in args.arms]
    with tempfile.TemporaryDirectory(prefix="eqlab-compare-") as records_dir:  # in this process, one run at a time
        records = run_grid(grid, records_dir, work=functools.partial(_compare_job, progress=args.progress), workers=1,
                           threads=torch.get_num_threads(), log=lambda line: None)
    runs = {arm: [records[r.key]["row"] for r in grid if r.options["arm"] == arm and records[r.key]["main"]]
            for arm in args.arms}
    if not runs[args.arms[0]]:
        return None
    first = next(iter(runs.values()))[0]
    table = {arm: {key: mean_std(r[key] for r in rows)[:2] for key, _, _ in _COLUMNS}  # sample std over the seeds
             for arm, rows in runs.items()}
    baseline = dict(psnr=first["baseline_psnr"], ssim=first["baseline_ssim"])
    if not args.json:
        seeds = " ".join(map(str, args.seeds))
        print(f"{args.task}: {args.steps} steps, batch {args.batch_size} x patch {args.patch_size}, seeds {seeds}; "
              f"validation on centre {base.run.val_size}-px crops")
        width = 20 if len(args.seeds) > 1 else 11
        print(f"{'arm':<9}" + "".join(f"{title:>{width}}" for _, title, _ in _COLUMNS))
        for arm, row in table.items():
            cells = [f"{mean:{spec}}" + (f" ± {std:{spec}}" if len(args.seeds) > 1 else "")
                     for (key, _, spec), (mean, std) in zip(_COLUMNS, row.values())]
            stalled = sum(r["stalled"] for r in runs[arm])
            print(f"{arm:<9}" + "".join(f"{c:>{width}}" for c in cells) + (f"  ({stalled} stalled)" if stalled else ""))
        print(f"{'baseline':<9}{baseline['psnr']:>{width}.2f}{baseline['ssim']:>{width}.4f}  "
              f"({base.task_spec().baseline_name})")
    return dict(table={arm: {k: v[0] for k, v in row.items()} for arm, row in table.items()},
                std={arm: {k: v[1] for k, v in row.items()} for arm, row in table.items()},
                baseline=baseline, runs=runs)


def _bench(args, rest: list[str]) -> int:
    """Run one script of ``benchmarks/`` with the remaining arguments; 2 when it cannot be found."""
    script = BENCHMARK_DIR / BENCHMARKS[args.name]
    if not script.is_file():
        print(f"eqlab bench: {script} not found; the benchmarks ship with the source repository, "
              "not with the installed package", file=sys.stderr)
        return 2
    saved, sys.argv = sys.argv, [str(script), *rest]
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = saved
    return 0


def _docs(args) -> int:
    """Serve (or build) the documentation site with mkdocs; 2 without a checkout or without mkdocs."""
    if not DOCS_CONFIG.is_file():
        print(f"eqlab docs: {DOCS_CONFIG} not found; the documentation site builds from the source repository, "
              "not from the installed package", file=sys.stderr)
        return 2
    if importlib.util.find_spec("mkdocs") is None:
        print("eqlab docs: needs mkdocs, which is not installed; install it with "
              "`python -m pip install -e \".[docs]\"`", file=sys.stderr)
        return 2
    if args.build:
        command = ["build", "--strict"]
    else:
        command = ["serve", "--dev-addr", f"127.0.0.1:{args.port}"]
        print(f"eqlab docs: serving on http://127.0.0.1:{args.port} (Ctrl-C stops it)", file=sys.stderr)
    return subprocess.call([sys.executable, "-m", "mkdocs", *command, "--config-file", str(DOCS_CONFIG)],
                           cwd=DOCS_CONFIG.parent)


def _delegate(args) -> int:
    try:
        module = importlib.import_module(args.module)
        return module.main(args.args) or 0
    except ModuleNotFoundError as err:
        if err.name == args.module:
            print(f"eqlab {args.command}: {args.module} is not available in this installation", file=sys.stderr)
            return 2
        if err.name in _EXTRAS:
            print(f"eqlab {args.command}: needs the package {err.name!r}, which is not installed; install it with "
                  f"`python -m pip install -e \".[{_EXTRAS[err.name]}]\"` (or `pip install {err.name}`)",
                  file=sys.stderr)
            return 2
        raise


_EXTRAS = {"gradio": "app", "gradio_client": "dev", "pandas": "app"}  # optional packages -> the extra holding them


def _warn_in_one_line(command: str):
    """A ``warnings.showwarning`` that prints a ``UserWarning`` (eqlab's: skipped files, a refused setting) as one
    line, ``eqlab train: warning: ...``, without the path and source line of the code that raised it."""
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, UserWarning):
            return shown(message, category, filename, lineno, file, line)
        print(f"eqlab {command}: warning: {message}", file=file or sys.stderr)
    return show


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad input, 3 a NaN or infinite net)."""
    with warnings.catch_warnings():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "demo":
        args.args = rest  # everything after the sub-command belongs to the delegate
        return _delegate(args)
    if args.command == "bench":
        return _bench(args, rest)
    if args.command == "docs" and not rest:
        return _docs(args)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    warnings.showwarning = _warn_in_one_line(args.command)  # restored by main's catch_warnings
    try:
        if getattr(args, "recipe", None):  # parse again with the recipe's fields as the defaults
            from eqlab.recipes import load_recipe

            args = build_parser(load_recipe(args.recipe)).parse_args(argv)
        result = {"train": _train, "eval": _eval, "compare": _compare}[args.command](args)
    except BrokenNumbers as err:
        print(f"eqlab {args.command}: error: {err}", file=sys.stderr)
        return 3
    except ValueError as err:
        print(f"eqlab {args.command}: error: {err}", file=sys.stderr)
        return 2
    if args.json and result is not None:  # None: a rank other than 0 under torchrun
        print(json.dumps(result, indent=1, default=lambda v: v.item() if isinstance(v, torch.Tensor) else str(v)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
