"""MkDocs hooks of the documentation site (``mkdocs.yml``): executed notebooks, local MathJax, docstring math.

- **Notebooks.** The site shows every ``notebooks/NN_*.py`` executed in quick mode (``EQLAB_QUICK=1``, the
  mode CI runs), with its figures. ``tests/test_notebooks.py`` writes each notebook it executes to
  ``build/notebooks/NN_*.ipynb`` with the SHA-256 of its source in the metadata; this hook uses that copy
  when the source has not changed since, and otherwise executes the notebook itself (what ``eqlab docs``
  does on a fresh checkout: a few minutes on a laptop CPU, once). So CI runs each notebook once.
- **MathJax** comes from the ``jupyter-server-mathjax`` package, copied into ``site/assets/mathjax``: the
  pages fetch nothing from the internet.
- **Docstrings** are written for an editor (STYLE.md: ``.. math::`` blocks, ``:math:`` and ``:func:`` roles);
  ``RestructuredText``, a griffe extension, turns those into the Markdown the API pages render.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from pathlib import Path

import griffe
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "notebooks"
EXECUTED = ROOT / "build" / "notebooks"  # tests/test_notebooks.py writes here too
THREAD_VARIABLES = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS")  # eqlab chooses its threads itself


def source_digest(source: Path) -> str:
    """SHA-256 of a notebook's ``.py`` source: an executed copy with another digest is stale."""
    return hashlib.sha256(source.read_bytes()).hexdigest()


def execute(source: Path, target: Path) -> None:
    """Run ``source`` (a jupytext ``.py``) in quick mode in a fresh kernel and write the executed ``.ipynb``."""
    import jupytext
    import nbclient
    import nbformat

    nb = jupytext.read(source)
    target.parent.mkdir(parents=True, exist_ok=True)  # build/notebooks; build/ is the kernel's working folder
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    saved = os.environ.copy()
    os.environ.clear()
    os.environ.update(env, EQLAB_QUICK="1", MPLBACKEND="Agg")
    try:
        start = time.perf_counter()
        nbclient.NotebookClient(nb, kernel_name="python3", timeout=600,
                                resources={"metadata": {"path": str(ROOT / "build")}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    nb.metadata["eqlab"] = dict(source_sha256=source_digest(source), quick=True)
    nbformat.write(nb, target)
    print(f"site: executed {source.name} in quick mode ({time.perf_counter() - start:.0f} s)")


def executed_copy(source: Path) -> Path:
    """The executed ``.ipynb`` of ``source``: the copy in ``build/notebooks`` if current, else a fresh run.

    The copy keeps no widget state: with it, nbconvert would add a script that loads the widgets' renderer
    from a CDN. Widgets show as their text instead (notebook 07's explorer needs a running kernel anyway).
    """
    import nbformat

    target = EXECUTED / f"{source.stem}.ipynb"
    current = False
    if target.exists():
        nb = nbformat.read(target, as_version=4)
        current = nb.metadata.get("eqlab", {}).get("source_sha256") == source_digest(source)
    if not current:
        execute(source, target)
        nb = nbformat.read(target, as_version=4)
    if nb.metadata.pop("widgets", None) is not None:
        nbformat.write(nb, target)
    return target


@event_priority(100)  # before mkdocs-jupyter reads the files
def on_files(files, config):
    """Put the executed notebooks at ``notebooks/NN_*.ipynb`` of the site."""
    for source in sorted(SOURCES.glob("[0-9][0-9]_*.py")):
        uri = f"notebooks/{source.stem}.ipynb"
        old = files.get_file_from_path(uri)
        if old is not None:
            files.remove(old)
        copy = executed_copy(source)  # build/notebooks/NN_*.ipynb: the uri below build/
        files.append(File(uri, src_dir=str(copy.parent.parent), dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))
    return files


def on_post_build(config):
    """Copy MathJax (from the jupyter-server-mathjax package) into the site."""
    import jupyter_server_mathjax

    static = Path(jupyter_server_mathjax.__file__).parent / "static"
    target = Path(config["site_dir"]) / "assets" / "mathjax"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(static, target, ignore=shutil.ignore_patterns("*.otf", "*.eot", "*.svg"))


MATH_BLOCK = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<first>.*)\n"  # the directive, maybe with math
                        r"(?P<rest>(?:(?P=indent)[ \t]+\S.*\n|[ \t]*\n)*)", re.M)  # its indented lines
MATH_ROLE = re.compile(r":math:`([^`]+)`")
CODE_ROLE = re.compile(r":(?:func|class|meth|mod|attr|obj|data):`~?([^`]+)`")
EXAMPLE = re.compile(r"^([ \t]*)Example:[ \t]*$", re.M)  # kornia's singular heading; griffe parses "Examples:"


def rst_to_markdown(text: str) -> str:
    """``.. math::`` blocks to ``$$ ... $$``, ``:math:`x``` to ``$x$``, ``:func:`f``` to ``f`` as code, and
    ``Example:`` to ``Examples:`` (whose ``>>>`` lines griffe shows as code)."""
    def block(match):
        lines = [match["first"]] + [line.strip() for line in match["rest"].splitlines()]
        latex = " ".join(line for line in lines if line.strip())
        return f"{match['indent']}$$\n{match['indent']}{latex}\n{match['indent']}$$\n\n"

    text = MATH_BLOCK.sub(block, text if text.endswith("\n") else text + "\n")
    text = MATH_ROLE.sub(lambda m: f"${m[1]}$", text)
    text = CODE_ROLE.sub(lambda m: f"`{m[1]}`", text)
    return EXAMPLE.sub(r"\1Examples:", text)


class RestructuredText(griffe.Extension):
    """A griffe extension: the docstrings' reStructuredText math and roles, as the site's Markdown."""

    def on_instance(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
