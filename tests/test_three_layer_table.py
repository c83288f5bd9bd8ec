"""The ``--csv`` path of ``benchmarks/three_layer_table.py`` on a 20-row file."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")  # the non-convex baselines of the table

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "three_layer_table.py"


def _table():
    spec = importlib.util.spec_from_file_location("three_layer_table", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_csv(path, y):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3))
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header="a,b,c,label", comments="")


def test_csv_regression_table(tmp_path, monkeypatch):
    table = _table()
    y = np.random.default_rng(1).normal(size=20)
    csv, out = tmp_path / "data.csv", tmp_path / "table.md"
    _write_csv(csv, y)
    argv = ["x", "--csv", str(csv), "--target", "label", "--n-train", "12", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    table.main()
    text = out.read_text()
    assert f"**{csv}** (12 train / 8 test rows" in text and "R^2" in text
    rows = [line for line in text.splitlines() if line.startswith("| convex")]
    assert len(rows) == 2
    three, two = (float(r.split("|")[2]) for r in rows)
    dual3 = float(rows[0].split("|")[3])
    assert dual3 <= three + 1e-9 and three <= two * (1 + 1e-5)  # p3 <= p2, same patterns


def test_csv_binary_labels_of_any_value(tmp_path):
    table = _table()
    csv = tmp_path / "binary.csv"
    _write_csv(csv, np.tile([1.0, 2.0], 10))
    X, y, regression = table.load(None, str(csv), "label")
    assert X.shape == (20, 3) and not regression
    assert set(np.unique(y)) == {0.0, 1.0}
