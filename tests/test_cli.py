"""The `convexnet fit` command."""

import io

import numpy as np
import pytest

from convexnet.cli import main, progress


def test_fit_default_dataset(capsys):
    assert main(["fit", "--patterns", "30"]) == 0
    out = capsys.readouterr().out
    assert "diabetes" in out
    for key in ("patterns", "objective", "dual bound", "gap", "train R^2", "test R^2", "time"):
        assert key in out
    fields = {line[:12].strip(): line[12:].split() for line in out.splitlines()}
    objective = float(fields["objective"][0])
    bound = float(fields["dual bound"][0])
    assert bound <= objective


def test_fit_csv_with_string_labels(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    labels = np.where(X[:, 0] * X[:, 1] > 0, "yes", "no")
    path = tmp_path / "data.csv"
    lines = ["a,b,label"] + [f"{x:.6f},{z:.6f},{t}" for (x, z), t in zip(X, labels)]
    path.write_text("\n".join(lines) + "\n")
    assert main(["fit", "--data", str(path), "--target", "label", "--alpha", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "classification" in out and "accuracy" in out


def test_fit_csv_errors(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    with pytest.raises(SystemExit, match="target"):
        main(["fit", "--data", str(path), "--target", "c"])
    path.write_text("a,b\nx,2\n3,4\n")
    with pytest.raises(SystemExit, match="numeric"):
        main(["fit", "--data", str(path), "--target", "b"])
    with pytest.raises(SystemExit):
        main(["fit", "--patterns", "-3"])


def test_fit_limits_blas_threads(monkeypatch, capsys):
    """--threads N holds the BLAS pools at N threads during the fit (0: left alone)."""
    from threadpoolctl import threadpool_info

    from convexnet import ConvexReLURegressor

    seen = []
    fit = ConvexReLURegressor.fit

    def spy(self, X, y):
        seen.append({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})
        return fit(self, X, y)

    monkeypatch.setattr(ConvexReLURegressor, "fit", spy)
    assert main(["fit", "--patterns", "20", "--threads", "1"]) == 0
    assert seen[-1] == {1}
    with pytest.raises(SystemExit, match="threads"):
        main(["fit", "--threads", "-1"])


def test_progress_reports_long_work():
    stream = io.StringIO()
    with progress("working", stream=stream, delay=0.05):
        import time

        time.sleep(0.2)
    assert "working" in stream.getvalue()
