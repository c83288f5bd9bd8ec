"""`convexnet reproduce` (issue 8): the quick run of all three papers, checked against SPEC.md's
known numbers, the certificates, determinism and the offline data path."""

import csv
import gzip
import struct

import numpy as np
import pytest

from convexnet.cli import main

pytest.importorskip("matplotlib")

STAIRS_T1 = [3.28022, 5.63512, 9.71918, 16.79086, 16.79086]  # SPEC §5.1 E002-1
STAIRS_OPT = [4.0207, 4.99231, 6.20857, 7.72626, 7.72626]  # SPEC §2.8
RANK_ONE = {  # SPEC §4.2 table: P, D, parallel
    "(1, 0.5)": (1.057317, 1.057317, 0.591794),
    "(1, 0)": (0.806884, 0.806884, 0.394530),
    "(1, -0.7)": (1.443010, 1.149327, 0.670700),
    "(1, -1)": (1.613768, 1.280848, 0.789059),
}
SECTIONS = [f"E000-{k}" for k in range(1, 6)] + [f"E001-{k}" for k in range(1, 4)]
SECTIONS += [f"E002-{k}" for k in range(1, 6)]


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def num(value):
    return float(value) if value not in ("", "not reported") else float("nan")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce") / "all"
    assert main(["reproduce", "all", "--quick", "--out", str(out)]) == 0
    return out


def test_quick_run_writes_everything(quick_run):
    # Its time is measured by hand (docs/reproduce.md), never asserted: this machine is shared.
    out = quick_run
    report = (out / "report.md").read_text()
    for key in SECTIONS:
        assert f"### {key} " in report
    for paper in ("000", "001", "002"):
        assert f"## Paper {paper}:" in report
    assert "| quantity | ours | paper / SPEC | difference | note |" in report
    tables = sorted(p.stem for p in (out / "tables").glob("*.csv"))
    names = ["e002_1_stairs", "e002_2_table1", "e002_5_rank_one", "e000_1_rank_vs_beta"]
    names += ["e001_1_convex", "e001_1_nonconvex", "e001_2_real_data", "e001_3_images"]
    for name in names:
        assert name in tables
        assert f"tables/{name}.csv" in report
    pngs = sorted((out / "figures").glob("*.png"))
    assert len(pngs) >= 6
    for png in pngs:  # every figure has the numbers behind it
        assert png.with_suffix(".csv").exists()
        assert png.stat().st_size > 1000
        assert f"figures/{png.name}" in report
        assert len(read_csv(png.with_suffix(".csv"))) >= 2
    assert (out / "timing.csv").exists()


def test_stairs_match_spec(quick_run):
    out = quick_run
    rows = {r["quantity"]: r for r in read_csv(out / "tables" / "e002_1_stairs.csv")}
    for l in range(5):
        r = rows[f"P^({l})(t=1)"]
        assert num(r["ours"]) == pytest.approx(STAIRS_T1[l], rel=2e-5)
        assert num(r["paper / SPEC"]) == STAIRS_T1[l]
        assert abs(num(r["difference"])) <= 2e-5 * STAIRS_T1[l]
        assert num(rows[f"P^({l}), optimised t"]["ours"]) == pytest.approx(STAIRS_OPT[l], rel=2e-5)
    fig = read_csv(out / "figures" / "e002_1_stairs.csv")
    values = [num(r["P_t1"]) for r in fig]
    assert all(a < b for a, b in zip(values[:3], values[1:4])) and values[3] == values[4]
    # non-convex training of the two ends reaches the closed forms, never goes below
    for key in ("non-convex standard", "non-convex parallel"):
        (r,) = [v for k, v in rows.items() if k.startswith(key)]
        assert num(r["difference"]) >= -2e-5 * num(r["paper / SPEC"])
        assert num(r["ours"]) == pytest.approx(num(r["paper / SPEC"]), rel=1e-4)


def test_rank_one_table_matches_spec(quick_run):
    out = quick_run
    rows = {r["quantity"]: r for r in read_csv(out / "tables" / "e002_5_rank_one.csv")}
    for target, (P, D, par) in RANK_ONE.items():
        assert num(rows[f"{target}: P_ReLU"]["ours"]) == pytest.approx(P, abs=2e-6)
        assert num(rows[f"{target}: D_ReLU"]["ours"]) == pytest.approx(D, abs=2e-6)
        assert num(rows[f"{target}: parallel (22)"]["ours"]) == pytest.approx(par, abs=2e-6)
        nc = num(rows[f"{target}: best non-convex (WD)"]["ours"])
        if not np.isnan(nc):  # a feasible start never ends below P (the [!] of SPEC §6.2)
            assert nc >= P * (1 - 1e-5)
    gaps = read_csv(out / "tables" / "e002_2_table1.csv")
    mixed = [r for r in gaps if r["architecture"] == "standard" and r["activation"] == "ReLU"]
    assert num(mixed[1]["gap"]) == pytest.approx(0.332919, abs=2e-6)  # L = 3
    for r in gaps:
        if r["architecture"].startswith("parallel") or "same-sign" in r["architecture"]:
            assert abs(num(r["gap"])) < 1e-4


def test_certified_optima_are_never_beaten(quick_run):
    out = quick_run
    convex = {r["program"][:6]: r for r in read_csv(out / "tables" / "e001_1_convex.csv")}
    p3, bound3 = num(convex["p3_cvx"]["objective"]), num(convex["p3_cvx"]["dual bound"])
    p2 = num(convex["p2_cvx"]["objective"])
    assert bound3 <= p3 <= p2 + 1e-7
    nonconvex = read_csv(out / "tables" / "e001_1_nonconvex.csv")
    assert len(nonconvex) >= 6
    for r in nonconvex:
        assert num(r["best objective"]) >= bound3 - 1e-9
        assert r["never below the certificate"] == "true"
    curves = read_csv(out / "figures" / "e001_1_objective_vs_iteration.csv")
    assert {r["training"] for r in curves} == {"R1, adam", "R3, lbfgs"}
    assert min(num(r["best_objective_so_far"]) for r in curves) >= bound3 - 1e-9
    for name in ("e001_2_real_data", "e001_3_images"):
        rows = read_csv(out / "tables" / f"{name}.csv")
        for dataset in {r["dataset"] for r in rows}:
            by = {r["model"].split(",")[0]: r for r in rows if r["dataset"] == dataset}
            two = by["convex two-layer (same patterns)"]
            three = by["convex three-layer (m1=2)"]
            # all first-layer patterns enumerated: the two-layer bound holds for any width
            assert (
                num(by["non-convex two-layer"]["objective"])
                >= num(two["dual bound (patterns used)"]) - 1e-7
            )
            assert num(by["non-convex three-layer R1"]["objective"]) >= num(
                three["pattern-free bound (any network)"]
            )
            assert num(three["objective"]) <= num(two["objective"]) + 1e-6
    for r in read_csv(out / "tables" / "e000_1_rank_vs_beta.csv"):
        assert num(r["trained − closed form"]) >= -1e-7
        assert r["rank closed form"] == r["rank convex (FISTA)"]
    for r in read_csv(out / "tables" / "e000_2_rank_one_layers.csv"):
        assert num(r["trained − closed"]) >= -1e-7
        assert num(r["max σ2/σ1 (trained)"]) < 1e-4
    for r in read_csv(out / "tables" / "e000_5_splines.csv"):
        if r["quantity"].startswith("two-layer"):
            assert num(r["ours"]) >= -1e-7  # non-convex best − Lasso optimum


def test_same_seed_gives_identical_csvs(quick_run, tmp_path):
    out = quick_run
    again = tmp_path / "again"
    assert main(["reproduce", "000", "--quick", "--out", str(again)]) == 0
    files = sorted(p.relative_to(again) for p in again.rglob("*.csv") if p.name != "timing.csv")
    assert len(files) >= 6
    for rel in files:
        assert (again / rel).read_text() == (out / rel).read_text(), rel


def test_bad_cli_input_gets_a_message(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", "003", "--quick", "--out", str(tmp_path)])
    assert "invalid choice" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SystemExit, match="cannot write to --out"):
        main(["reproduce", "000", "--quick", "--out", str(blocker / "sub")])
    from convexnet.reproduce import reproduce

    with pytest.raises(ValueError, match="unknown paper id"):
        reproduce(["9"], tmp_path)


def test_no_network_falls_back_to_the_bundled_stand_in(monkeypatch):
    from convexnet.reproduce import datasets

    def no_network(name, timeout, data_home=None):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(datasets, "_fetch", no_network)
    with pytest.raises(datasets.DatasetUnavailable, match="name resolution"):
        datasets.fetch_dataset("fashion_mnist")
    got = datasets.load_real_dataset("acute_inflammations", online=True)
    assert got.stand_in and got.name == "breast_cancer"
    assert "no network" in got.message and "load_breast_cancer" in got.message
    got = datasets.load_real_dataset("fashion_mnist", online=True)
    assert got.stand_in and "no network" in got.message and "load_digits" in got.message
    offline = datasets.load_real_dataset("fashion_mnist")
    assert offline.stand_in and "--online not set" in offline.message
    with pytest.raises(ValueError, match="unknown dataset"):
        datasets.load_real_dataset("cifar10")


def test_local_files_are_read(tmp_path):
    from convexnet.reproduce import datasets

    lines = ["35,5\tno\tyes\tno\tno\tno\tno\tno", "41,2\tyes\tno\tyes\tyes\tyes\tyes\tno"]
    path = tmp_path / "diagnosis.data"
    path.write_bytes("\n".join(lines).encode("utf-16"))
    got = datasets.load_real_dataset("acute_inflammations", path=path)
    assert not got.stand_in and str(path) in got.message
    np.testing.assert_allclose(got.X[:, 0], [35.5, 41.2])
    np.testing.assert_allclose(got.y, [0.0, 1.0])
    images = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    img = tmp_path / "images.idx.gz"
    img.write_bytes(
        gzip.compress(b"\x00\x00\x08\x03" + struct.pack(">3I", 2, 3, 3) + images.tobytes())
    )
    lab = tmp_path / "labels.idx"
    lab.write_bytes(b"\x00\x00\x08\x01" + struct.pack(">I", 2) + bytes([0, 6]))
    got = datasets.load_real_dataset("fashion_mnist", path=img, labels_path=lab)
    assert got.X.shape == (2, 9) and list(got.y) == [0, 6]
    with pytest.raises(ValueError, match="not an IDX file"):
        datasets.load_idx(path)


def test_without_torch_the_closed_forms_still_report(tmp_path, monkeypatch):
    """PyTorch is optional: the non-convex rows are left blank, everything else is written."""
    from convexnet.reproduce import paper000, reproduce

    monkeypatch.setattr(paper000, "have_torch", lambda: False)
    path = reproduce(["000"], tmp_path, quick=True)
    rows = read_csv(tmp_path / "tables" / "e000_4_rank_one_relu.csv")
    assert [num(r["P (closed form)"]) for r in rows] == pytest.approx(
        [1.057317, 0.806884, 1.443010, 1.613768], abs=2e-6
    )
    assert all(r["trained best"] == "" for r in rows)
    assert "### E000-5 " in path.read_text()
