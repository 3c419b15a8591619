"""The tutorial notebooks: jupytext pairs in sync (the ``.py`` is the source), well formed, and running in quick mode.

Each ``notebooks/NN_*.py`` (percent format) must match its ``.ipynb`` in cell types and sources only, so an
``.ipynb`` saved with outputs still passes the sync check; the committed ``.ipynb`` must hold no outputs.

Every notebook ends with two or three exercises: a markdown cell starting with ``**Exercise N.**``, then one
code cell with its solution, tagged ``solution`` and collapsed (jupytext cell metadata
``tags=["solution"] jupyter={"source_hidden": true}``), after a ``## Exercises`` heading. The solutions are
part of the notebook, so the run below executes them; it also checks that each one ran and showed something.

Each notebook is read from its ``.py`` and runs in a fresh ``python3`` kernel with ``EQLAB_QUICK=1`` (small
images, few steps) and ``MPLBACKEND=Agg``, and with no thread or OpenMP variable: ``import eqlab`` chooses how
torch uses the threads, as it does for a student. Any cell error fails the test with the cell's traceback.
The time of each notebook is printed and recorded (``record_property``), never asserted. The executed
notebook is kept in ``build/notebooks/`` for the documentation site (``scripts/site_hooks.py``).

The same run checks the claims each lesson prints against the values it computed (issue 27): for the notebooks in
``CLAIMS`` one more cell is appended that prints those values as JSON; the test derives the sentences from them with
``eqlab.metrics.words`` and finds each one, verbatim, in what the notebook printed. That cell is removed again
before the executed notebook is kept for the site.
"""

import dataclasses
import hashlib
import json
import re
import time
import typing
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
EXECUTED_DIR = Path(__file__).resolve().parents[1] / "build" / "notebooks"  # the site's executed copies
SOURCES = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
RESYNC = "resync with `jupytext --sync notebooks/*.ipynb` (the newer file of each pair wins)"
EXERCISE = re.compile(r"\*\*Exercise (\d+)\.\*\*")
THREAD_VARIABLES = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS")  # what eqlab.machine decides itself


def _cells(nb) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in nb.cells]


def _is_solution(cell) -> bool:
    return cell.cell_type == "code" and "solution" in cell.metadata.get("tags", [])


def test_every_notebook_is_a_jupytext_pair_in_sync():
    assert SOURCES, f"no notebooks/[0-9][0-9]_*.py in {NOTEBOOK_DIR}"
    orphans = sorted({p.stem for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb")} - {p.stem for p in SOURCES})
    assert not orphans, f"notebooks without their .py source: {orphans}; create it with `jupytext --to py:percent`"
    problems = []
    for path in SOURCES:
        source = jupytext.read(path)
        jupytext_metadata = source.metadata.get("jupytext", {})
        if jupytext_metadata.get("formats") != "ipynb,py:percent":
            problems.append(f"{path.name}: its header does not pair it with the .ipynb (formats: ipynb,py:percent)")
        if source.metadata.get("kernelspec", {}).get("name") != "python3":
            problems.append(f"{path.name}: its header names no python3 kernelspec")
        notebook = path.with_suffix(".ipynb")
        if not notebook.exists():
            problems.append(f"{notebook.name} is missing: create it with `jupytext --sync notebooks/{path.name}`")
        elif _cells(jupytext.read(notebook)) != _cells(source):
            problems.append(f"{notebook.name} and {path.name} differ in their cells: {RESYNC}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_committed_notebook_holds_no_outputs(path):
    notebook = path.with_suffix(".ipynb")
    if not notebook.exists():
        pytest.skip(f"{notebook.name} is missing (reported by the sync test)")
    nb = jupytext.read(notebook)
    ran = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not ran, f"{notebook.name}: cells {ran} hold outputs; clear them (`jupytext --to ipynb --update`)"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_notebook_starts_with_what_you_will_learn_and_has_a_quick_mode(path):
    cells = jupytext.read(path).cells
    assert cells[0].cell_type == "markdown" and "What you will learn" in cells[0].source
    assert any("EQLAB_QUICK" in cell.source for cell in cells)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_notebook_ends_with_exercises_and_hidden_solutions(path):
    cells = jupytext.read(path).cells
    heading = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and c.source.startswith("## Exercises")]
    assert len(heading) == 1, f"{path.name}: expected one '## Exercises' heading, found {len(heading)}"
    tail = cells[heading[0] + 1:]
    exercises = [c for c in tail if c.cell_type == "markdown" and EXERCISE.match(c.source)]
    assert 2 <= len(exercises) <= 3, f"{path.name}: {len(exercises)} exercises, expected two or three"
    assert [int(EXERCISE.match(c.source).group(1)) for c in exercises] == list(range(1, len(exercises) + 1))
    first = next(i for i, c in enumerate(tail) if c in exercises)
    pairs = tail[first:]
    assert len(pairs) == 2 * len(exercises), f"{path.name}: after the first exercise, only exercises and solutions"
    for number, (exercise, solution) in enumerate(zip(pairs[::2], pairs[1::2]), start=1):
        assert exercise in exercises, f"{path.name}: cell before solution {number} is not an exercise"
        assert _is_solution(solution), f"{path.name}: exercise {number} is not followed by a cell tagged 'solution'"
        assert solution.metadata.get("jupyter", {}).get("source_hidden") is True, \
            f"{path.name}: the solution of exercise {number} is not collapsed (jupyter.source_hidden)"
    assert not any(_is_solution(c) for c in cells[:heading[0]]), f"{path.name}: a solution before the exercises"


CLAIM_MARK = "EQLAB-CLAIMS "


@dataclasses.dataclass
class Claims:
    """What one notebook claims: ``source`` (a cell run after the notebook, printing ``CLAIM_MARK`` + JSON of its
    computed values) and ``sentences`` (values -> the sentences ``eqlab.metrics.words`` makes of them)."""

    source: str
    sentences: typing.Callable[[dict], list[str]]


def _claims_01(v: dict) -> list[str]:
    from eqlab.metrics import words

    said = [f"{name:7} {layer:12} {words.verdict(error, share, oriented)}"
            for name, rows in v["layers"].items() for layer, error, share, oriented in rows]
    assert all(words.layer_word(*row[1:]) == "exactly equivariant" for row in v["layers"]["strict"])
    return said


def _claims_04(v: dict) -> list[str]:
    from eqlab.metrics import words

    said = [words.run_words(psnr, v["input"], input_name="the noisy input") for psnr, _ in v["arms"].values()]
    (eq_psnr, eq_error), (au_psnr, au_error) = v["arms"]["eqreg"], v["arms"]["augment"]
    said.append("eqreg against augment: " + words.trade_words(eq_psnr, eq_error, au_psnr, au_error, v["input"],
                                                              "augment", "the noisy input"))
    for name, tally in v["tallies"].items():
        if name.endswith("/strict"):  # no strict layer is called blind, or anything but exact
            said.append(f"{name:24} {sum(tally.values())} exactly equivariant")
    return said


def _claims_05(v: dict) -> list[str]:
    from eqlab.metrics import words

    said = [f"{arm:8} " + words.run_words(psnr, v["bicubic"], input_name="bicubic") for arm, psnr in v["arms"].items()]
    return said + [f"from {start:12} " + words.run_words(m["psnr"], m["bicubic"], input_name="bicubic")
                   for start, m in v["starts"].items()]


def _claims_06(v: dict) -> list[str]:
    from eqlab.metrics import words

    rows, blurred = v["rows"], v["blurred"]
    said = [f"λ = {r['weight']:<6g}: " + words.trade_words(r["psnr"], r["layer_error"], rows[0]["psnr"],
                                                            rows[0]["layer_error"], blurred, "augment",
                                                            "the blurred input") for r in rows[1:]]
    return said + ["the sweep: " + words.sweep_words(rows, blurred, "the blurred input")]


def _claims_07(v: dict) -> list[str]:
    from eqlab.metrics import words

    said = []
    for arm, values in v["profiles"].items():
        level, spread = sum(values) / len(values), max(values) - min(values)
        said.append(f"{arm:15} level {level:.3f} ({words.degree(level)})  spread {spread:.3f} "
                    f"({words.spread_word(spread)})")
    for arm, layer, rep, with_shift, without, share, word in v["same"]:
        assert words.compare_errors(with_shift, without) == "about the same as", (arm, layer, with_shift, without)
        said.append(f"{with_shift:9.3f} {without:9.3f} {share:15.3f}  " + (
            "P_g is the identity" if rep == "trivial" else word))
    return said


CLAIMS = {
    "01_symmetry_on_the_pixel_grid": Claims("dict(layers=layer_verdicts)", _claims_01),
    "04_denoising_four_arms": Claims(
        "dict(input=first['baseline_psnr'], tallies={k: dict(t) for k, t in tallies.items()}, "
        "arms={a: [r.metrics['psnr'], r.metrics['layer_error']] for a, r in results.items()})", _claims_04),
    "05_super_resolution": Claims(
        "dict(bicubic=first['baseline_psnr'], starts=starts, arms={a: r.metrics['psnr'] for a, r in results.items()})",
        _claims_05),
    "06_deblurring_and_symmetry": Claims("dict(rows=rows, blurred=blurred)", _claims_06),
    "07_interactive_explorer": Claims("dict(profiles=profiles, same=same)", _claims_07),
}


def _kernel_available(name: str) -> bool:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        return False
    return True


def _keep_for_the_site(nb, source: Path) -> None:
    """Write the executed notebook to ``build/notebooks/``, where the documentation site takes it
    (``scripts/site_hooks.py``: used while the source's SHA-256 matches, so CI runs each notebook once)."""
    nb.metadata["eqlab"] = dict(source_sha256=hashlib.sha256(source.read_bytes()).hexdigest(), quick=True)
    EXECUTED_DIR.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, EXECUTED_DIR / f"{source.stem}.ipynb")


@pytest.mark.slow
@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_notebook_runs_in_quick_mode(path, monkeypatch, tmp_path, record_property):
    assert _kernel_available("python3"), "no 'python3' Jupyter kernel: run `python -m ipykernel install --user`"
    monkeypatch.setenv("EQLAB_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    nb = jupytext.read(path)  # the source of truth, not the .ipynb
    claims = CLAIMS.get(path.stem)
    if claims:
        nb.cells.append(nbformat.v4.new_code_cell(f"import json as _json\nprint({CLAIM_MARK!r} + _json.dumps("
                                                  f"{claims.source}))"))
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=600,
                                     resources={"metadata": {"path": str(tmp_path)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the failing cell and its traceback
    seconds = time.perf_counter() - start
    record_property("seconds", round(seconds, 1))
    print(f"{path.name}: {seconds:.1f} s in quick mode")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    if claims:
        _check_claims(nb, claims, path.name)
        nb.cells.pop()  # the claims cell is the test's, not the lesson's: the site shows the lesson
    _keep_for_the_site(nb, path)
    solutions = [c for c in nb.cells if _is_solution(c)]
    assert solutions, f"{path.name} has no solution cells"
    silent = [i for i, c in enumerate(solutions, start=1) if c.execution_count is None or not c.outputs]
    assert not silent, f"{path.name}: the solutions of exercises {silent} did not run or showed nothing"


def _printed(cells) -> str:
    return "".join(o.text for c in cells if c.cell_type == "code" for o in c.outputs if o.output_type == "stream")


def _check_claims(nb, claims: Claims, name: str) -> None:
    """Every sentence the words module makes of the notebook's values is printed, verbatim, by the notebook."""
    line = next(x for x in _printed(nb.cells[-1:]).splitlines() if x.startswith(CLAIM_MARK))
    printed = _printed(nb.cells[:-1])
    missing = [s for s in claims.sentences(json.loads(line[len(CLAIM_MARK):])) if s not in printed]
    assert not missing, f"{name} does not print what its numbers say:\n" + "\n".join(missing)


def test_notebook_04_trains_its_eqreg_arm_with_the_weight_its_text_states(monkeypatch):
    """Notebook 4 states a fixed λ; the arm must not replace it (``target_share`` defaults to 0.1).

    Runs the notebook's configuration cell (quick mode) and three steps of the eqreg arm with it.
    """
    from eqlab.train import fit

    monkeypatch.setenv("EQLAB_QUICK", "1")
    cells = [c.source for c in jupytext.read(NOTEBOOK_DIR / "04_denoising_four_arms.py").cells if c.cell_type == "code"]
    setup = next(c for c in cells if "QUICK = " in c)
    config_cell = next(c for c in cells if "base = TrainConfig.of(" in c)
    namespace: dict = {}
    exec(setup.replace("%matplotlib inline", ""), namespace)  # noqa: S102  (the notebook's own cells)
    exec(config_cell, namespace)  # noqa: S102
    base = namespace["base"]
    assert base.target_share is None, "notebook 4 states a fixed λ: its config must set target_share=None"
    assert base.max_share is None, "notebook 4 states a fixed λ: the share cap must not lower it (max_share=None)"
    run = fit(base.replace(arm="eqreg", steps=3, val_every=0, share_every=1, val_size=16), progress=False)
    weights = {record["weight"] for record in run.history if "weight" in record}
    assert weights == {base.weight}, f"the eqreg arm trained with λ in {weights}, the text states {base.weight:g}"
