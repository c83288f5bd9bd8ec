"""Activation patterns: exact enumeration against brute force, counts, sampling, errors."""

import itertools
import time

import numpy as np
import pytest
from scipy.optimize import linprog

from convexnet.patterns import (
    ActivationPatterns,
    count_bound,
    enumerate_patterns,
    merge_patterns,
    sample_patterns,
    unique_patterns,
)


def _brute_force(X):
    """Every pattern of a non-empty open cell: one LP per sign vector of the non-zero rows."""
    n, d = X.shape
    nz = np.flatnonzero(np.any(X != 0, axis=1))
    found = set()
    for signs in itertools.product((1.0, -1.0), repeat=nz.size):
        s = np.array(signs)
        # s_i x_i^T u >= 1  <=>  -s_i x_i^T u <= -1  (feasibility, zero objective)
        res = linprog(
            np.zeros(d),
            A_ub=-(s[:, None] * X[nz]),
            b_ub=-np.ones(nz.size),
            bounds=[(None, None)] * d,
            method="highs",
        )
        if res.status == 0:
            D = np.ones(n, dtype=bool)
            D[nz] = s > 0
            found.add(D.tobytes())
    return found


def _pattern_set(p):
    return {p.D[:, j].tobytes() for j in range(p.n_patterns)}


def _check_generators(p, X):
    assert p.D.dtype == bool and p.D.shape == (X.shape[0], p.n_patterns)
    assert p.generators.shape == (X.shape[1], p.n_patterns)
    assert np.array_equal(X @ p.generators >= 0, p.D)
    for j in range(p.n_patterns):  # one generator at a time, too
        assert np.array_equal(X @ p.generators[:, j] >= 0, p.D[:, j])
    assert len(_pattern_set(p)) == p.n_patterns  # no duplicates
    assert p.margins(X).min() > 1e-12


def _tiny_cases():
    rng = np.random.default_rng(1)
    cases = {}
    for d in (2, 3, 4):
        cases[f"gauss_d{d}"] = rng.standard_normal((7, d))
    X = rng.standard_normal((6, 3))
    cases["duplicates"] = np.vstack([X, X[:2]])
    cases["antiparallel"] = np.vstack([X[:5], -2.0 * X[:2], 3.0 * X[3:4]])
    cases["zero_row"] = np.vstack([X[:6], np.zeros((1, 3))])
    cases["rank2_in_d3"] = rng.standard_normal((8, 2)) @ rng.standard_normal((2, 3))
    cases["rank3_in_d5"] = rng.standard_normal((9, 3)) @ rng.standard_normal((3, 5))
    cases["rank1"] = np.outer(rng.standard_normal(6), rng.standard_normal(3))
    cases["rank1_zero"] = np.vstack([np.outer([1.0, -2.0, 3.0], [1.0, 2.0]), np.zeros((1, 2))])
    cases["all_zero"] = np.zeros((3, 2))
    # three planes through one line (a degenerate vertex), plus duplicates and a zero row
    cases["concurrent_d3"] = np.array(
        [
            [1.0, 0, 0],
            [0, 1, 0],
            [1, 1, 0],
            [1, -1, 0],
            [0, 0, 1],
            [1, 1, 1],
            [0, 1, 0],
            [0, 0, 0],
            [-1, 1, 0],
        ]
    )
    cases["integer_d3"] = rng.integers(-1, 2, size=(9, 3)).astype(float)
    cases["integer_d4"] = rng.integers(-1, 2, size=(8, 4)).astype(float)
    cases["wide_n3_d4"] = rng.standard_normal((3, 4))
    cases["duplicates_d4"] = np.vstack([rng.standard_normal((6, 4))] * 1 + [np.eye(4)[:2]] * 1)
    return cases


@pytest.mark.parametrize("name", sorted(_tiny_cases()))
def test_enumeration_matches_brute_force(name):
    X = _tiny_cases()[name]
    p = enumerate_patterns(X)
    assert isinstance(p, ActivationPatterns)
    assert p.is_complete
    assert _pattern_set(p) == _brute_force(X)
    _check_generators(p, X)
    assert len(p) == p.n_patterns


@pytest.mark.parametrize(
    "n, r, d", [(40, 1, 3), (40, 2, 2), (60, 3, 3), (50, 3, 6), (12, 4, 4), (9, 5, 6), (5, 5, 5)]
)
def test_general_position_counts_equal_cover(n, r, d):
    rng = np.random.default_rng(n + 10 * r + d)
    X = rng.standard_normal((n, r)) @ rng.standard_normal((r, d))
    p = enumerate_patterns(X)
    assert p.n_patterns == count_bound(n, r).cover
    _check_generators(p, X)


def test_rank3_n300_is_fast_and_matches_cover():
    rng = np.random.default_rng(300)
    X = rng.standard_normal((300, 3)) @ rng.standard_normal((3, 10))
    t0 = time.perf_counter()
    p = enumerate_patterns(X)
    elapsed = time.perf_counter() - t0
    assert p.n_patterns == count_bound(300, 3).cover == 89702
    assert p.is_complete and p.method == "vertices"
    assert elapsed < 30.0  # a few seconds in practice
    assert p.reproduces(X)
    assert p.margins(X).min() > 1e-12


def test_degenerate_rank3_larger():
    rng = np.random.default_rng(5)
    X = rng.integers(-2, 3, size=(80, 3)).astype(float)  # many concurrencies, duplicates
    X = np.vstack([X, np.zeros((2, 3)), -X[:5]])
    p = enumerate_patterns(X)
    assert p.is_complete
    _check_generators(p, X)
    # every sampled pattern is among the enumerated ones
    s = sample_patterns(X, 20000, random_state=0)
    assert _pattern_set(s) <= _pattern_set(p)
    assert np.all(p.D[-7 - 0 : -5].all(axis=1))  # zero rows always active


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("eps", [1e-6, 1e-9])
def test_nearly_degenerate_rank3_never_misses_a_sampled_pattern(eps):
    # integer data plus tiny noise: nearly parallel rows and nearly concurrent planes
    rng = np.random.default_rng(11)
    for trial in range(4):
        X = rng.integers(-2, 3, size=(30, 3)).astype(float)
        X += eps * rng.standard_normal(X.shape)
        p = enumerate_patterns(X)
        assert p.reproduces(X)
        assert p.margins(X).min() > 0
        s = sample_patterns(X, 5000, random_state=trial)
        assert _pattern_set(s) <= _pattern_set(p)


def test_zero_rows_and_all_zero_pattern_kept():
    X = np.array([[1.0, 0.0], [0.0, 0.0], [2.0, 0.0]])
    p = enumerate_patterns(X)
    assert p.n_patterns == 2
    assert p.D[1].all()
    q = p.without_zero_pattern()
    assert q.n_patterns == 2  # row 1 is always active, so no all-zero pattern
    X = np.array([[1.0, 0.0], [2.0, 0.0]])
    p = enumerate_patterns(X)
    assert not p.D.any(axis=0).all()  # the all-zero pattern is kept
    assert p.without_zero_pattern().n_patterns == 1


def test_subset_merge_unique():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, 3))
    p = enumerate_patterns(X)
    a = p.subset(np.arange(0, p.n_patterns, 2))
    b = p.subset(np.arange(1, p.n_patterns, 2))
    assert not a.is_complete and not b.is_complete
    m = merge_patterns(a, b)
    assert _pattern_set(m) == _pattern_set(p)
    assert merge_patterns(p, a).is_complete
    D, G, idx = unique_patterns(
        np.hstack([p.D, p.D[:, :3]]), np.hstack([p.generators] * 2)[:, : p.n_patterns + 3]
    )
    assert D.shape[1] == p.n_patterns and np.array_equal(idx, np.arange(p.n_patterns))
    mask = np.zeros(p.n_patterns, dtype=bool)
    mask[:4] = True
    assert p.subset(mask).n_patterns == 4
    with pytest.raises(ValueError, match="shape"):
        merge_patterns(p, enumerate_patterns(X[:5]))


def test_sampling_subset_reproducible_and_finds_all():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((6, 3))
    full = enumerate_patterns(X)
    s1 = sample_patterns(X, 200, random_state=7)
    s2 = sample_patterns(X, 200, random_state=7)
    assert not s1.is_complete and s1.method == "sampled"
    assert np.array_equal(s1.D, s2.D) and np.array_equal(s1.generators, s2.generators)
    assert _pattern_set(s1) <= _pattern_set(full)
    _check_generators(s1, X)
    s3 = sample_patterns(X, 200, random_state=np.random.default_rng(7))
    s4 = sample_patterns(X, 200, random_state=np.random.RandomState(7))
    assert _pattern_set(s3) <= _pattern_set(full) and _pattern_set(s4) <= _pattern_set(full)
    many = sample_patterns(X, 200_000, random_state=0)
    assert _pattern_set(many) == _pattern_set(full)
    assert not many.is_complete


def test_count_bound():
    assert count_bound(8, 2).cover == 16
    assert count_bound(300, 3).cover == 2 * (1 + 299 + 299 * 298 // 2)
    assert count_bound(5, 5).cover == 2**5
    assert count_bound(4, 0).cover == 1
    for n, r in [(10, 2), (50, 3), (100, 7)]:
        b = count_bound(n, r)
        assert b.cover <= b.loose
        assert b.loose == pytest.approx(2 * r * (np.e * (n - 1) / r) ** r)
    with pytest.raises(ValueError, match="rank"):
        count_bound(3, 4)
    with pytest.raises(ValueError, match="n"):
        count_bound(0, 1)


def test_too_large_enumeration_is_refused():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 3))
    with pytest.raises(ValueError, match=r"3,998,002 patterns.*MiB.*sample_patterns"):
        enumerate_patterns(X, max_memory_bytes=100 * 2**20)
    with pytest.raises(ValueError, match=r"max_patterns=1000"):
        enumerate_patterns(X[:100], max_patterns=1000)
    with pytest.raises(ValueError, match=r"linear programs.*PCA"):
        enumerate_patterns(rng.standard_normal((60, 6)))
    with pytest.raises(ValueError, match=r"GiB"):
        enumerate_patterns(rng.standard_normal((5000, 20)))


@pytest.mark.parametrize(
    "X, exc",
    [
        (np.array([[1.0, np.nan]]), ValueError),
        (np.array([[1.0, np.inf]]), ValueError),
        ("abc", TypeError),
        ([["a", "b"]], TypeError),
        (np.zeros((0, 3)), ValueError),
        (np.ones(3), ValueError),
        (np.ones((2, 2, 2)), ValueError),
    ],
)
def test_bad_inputs(X, exc):
    with pytest.raises(exc, match="X"):
        enumerate_patterns(X)
    with pytest.raises(exc, match="X"):
        sample_patterns(X, 10)


def test_bad_arguments():
    X = np.eye(3)
    for bad, exc in [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError)]:
        with pytest.raises(exc, match="n_samples"):
            sample_patterns(X, bad)
    with pytest.raises(ValueError, match="max_patterns"):
        enumerate_patterns(X, max_patterns=0)
    with pytest.raises(TypeError, match="max_memory_bytes"):
        enumerate_patterns(X, max_memory_bytes="lots")
    with pytest.raises(ValueError, match="generators"):
        ActivationPatterns(np.ones((3, 2), dtype=bool), np.ones((3, 3)), True, "x")
