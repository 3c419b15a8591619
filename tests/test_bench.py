"""``eqlab bench`` runs the benchmark scripts of a source checkout and prints ratios."""

import pytest

from eqlab import bench
from eqlab.cli import main


def test_smoke_overhead_prints_ratios(capsys):
    assert bench.main(["overhead", "--depth", "3", "--features", "8", "--patch", "16", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("ratio") == 3


def test_exception(monkeypatch, capsys, tmp_path):
    with pytest.raises(SystemExit):
        main(["bench", "nope"])
    monkeypatch.setattr(bench, "FOLDER", tmp_path)
    assert main(["bench", "overhead"]) == 2
    assert "not found" in capsys.readouterr().err
