"""The regime map (scripts/regimes.py) as published: the page, its CSV and the package's summary are what the kept
cache gives, and every CSV row's command rebuilds the config its record was trained with.

The records are kept in ``scripts/regimes-cache`` so that anyone can regenerate (and resume) the map; a page that
the kept records cannot regenerate is a page whose numbers nobody can check.
"""

import csv
import importlib.util
import json
import shlex
import sys
from pathlib import Path

import pytest

from eqlab import zoo
from eqlab.cli import build_parser, config_from_args
from eqlab.experiments import _current, load_records

ROOT = Path(__file__).resolve().parents[1]
KEPT = ROOT / "scripts" / "regimes-cache"


@pytest.fixture(scope="module")
def regimes():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        spec = importlib.util.spec_from_file_location("regimes", ROOT / "scripts" / "regimes.py")
        module = sys.modules["regimes"] = importlib.util.module_from_spec(spec)  # its dataclasses look it up there
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("regimes", None)
        sys.path.remove(str(ROOT / "scripts"))


@pytest.fixture(scope="module")
def written(regimes, tmp_path_factory):
    out = tmp_path_factory.mktemp("regimes")
    regimes.main(["--write-only", "--cache", str(KEPT), "--docs", str(out), "--summary", str(out / "regimes.json"),
                  "--readme", "", "--findings", ""])
    return out


def test_the_kept_cache_holds_every_published_run():
    records = load_records(KEPT)
    rows = [r for r in csv.DictReader((ROOT / "docs" / "regimes.csv").open()) if r["average"] == "none"]
    assert records and len(rows) == len(records)
    for record in records.values():
        assert "history" not in record  # the snapshot keeps what the page needs, not the per-step logs


def test_the_published_csv_and_summary_regenerate_from_the_kept_cache(written):
    assert (written / "regimes.csv").read_text() == (ROOT / "docs" / "regimes.csv").read_text()
    mine, shipped = json.loads((written / "regimes.json").read_text()), zoo.regimes()
    for name in ("steps", "seeds", "regimes", "grid", "cells"):
        assert mine[name] == shipped[name], name
    page = (written / "regimes.md").read_text()
    published = (ROOT / "docs" / "regimes.md").read_text()
    cut = "## How to check a row"  # after it: the date the page was written
    assert page.split(cut)[0] == published.split(cut)[0]


def test_every_row_command_rebuilds_its_records_config(regimes):
    records = load_records(KEPT)
    parser = build_parser()
    for row in csv.DictReader((ROOT / "docs" / "regimes.csv").open()):
        if row["average"] != "none":
            continue
        words = shlex.split(row["command"])
        assert words[:5] == ["OMP_NUM_THREADS=1", "python", "-m", "eqlab", "train"] and words[-1] == "--json"
        config = config_from_args(parser.parse_args(words[4:-1]))
        key = regimes.key(row["regime"], row["task"], row["arm"], int(row["seed"]))
        assert config.to_dict() == _current(records[key]["spec"])["config"], key
        assert float(row["psnr"]) == pytest.approx(records[key]["metrics"]["psnr"], abs=6e-5)


def test_the_readme_and_the_findings_carry_the_pages_answer(regimes):
    page = (ROOT / "docs" / "regimes.md").read_text()
    answer = page.split("## The answer\n\n")[1].split("\n\n![")[0]
    for path in (ROOT / "README.md", ROOT / "docs" / "findings.md"):
        block = regimes.ANSWER_BLOCK.search(path.read_text())
        assert block and answer in block.group(0), path.name
