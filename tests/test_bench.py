"""``eqlab bench`` runs the benchmark scripts of a source checkout and prints ratios."""

import pytest

from eqlab import bench
from eqlab.cli import main


def test_smoke_overhead_prints_ratios(capsys):
    assert bench.main(["overhead", "--quick", "--threads", "1", "--patch", "16", "--batch", "2"]) == 0
    out = capsys.readouterr().out
    assert "ratios over augment" in out and out.count("DnCNN") == 2  # one row per net of the quick run


def test_exception(monkeypatch, capsys, tmp_path):
    with pytest.raises(SystemExit):
        main(["bench", "nope"])
    monkeypatch.setattr(bench, "FOLDER", tmp_path)
    assert main(["bench", "overhead"]) == 2
    assert "not found" in capsys.readouterr().err
