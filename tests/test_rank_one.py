"""Rank-one data (SPEC.md §4.2): closed forms, the [!] sign condition, non-convex training."""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from convexnet.baselines import train_deep_relu_nonconvex
from convexnet.closed_form.rank_one import (
    rank_one_decomposition,
    rank_one_min_norm,
    relu_network_output,
)

# SPEC §4.2 "Checks": ||a|| = 2.5347 is rounded; the parallel column 1/||a|| = 0.394530 and
# 2/||a|| = 0.789059 pin it to 2.534664.
NORM_A = 2.534664
SPEC_TABLE = {  # (gamma_+, gamma_-): (P_ReLU, D_ReLU, parallel (22))
    (1.0, 0.5): (1.057317, 1.057317, 0.591794),
    (1.0, 0.0): (0.806884, 0.806884, 0.394530),
    (1.0, -0.7): (1.443010, 1.149327, 0.670700),
    (1.0, -1.0): (1.613768, 1.280848, 0.789059),
}


@pytest.fixture(autouse=True)
def _single_blas_thread():
    with threadpool_limits(limits=1):
        yield


def instance(gamma, n=8, d=3, seed=0, norm_a=NORM_A, one_signed=False):
    rng = np.random.default_rng(seed)
    c = rng.normal(size=n)
    if one_signed:
        c = np.abs(c)
    a = rng.normal(size=d)
    a *= norm_a / np.linalg.norm(a)
    y = gamma[0] * np.maximum(c, 0) + gamma[1] * np.maximum(-c, 0)
    return np.outer(c, a), y


@pytest.mark.parametrize("gamma", list(SPEC_TABLE))
def test_spec_table_reproduced(gamma):
    X, y = instance(gamma)
    r = rank_one_min_norm(X, y, depth=3)
    P, D, par = SPEC_TABLE[gamma]
    assert r.primal_value == pytest.approx(P, abs=2e-6)
    assert r.dual_value == pytest.approx(D, abs=2e-6)
    assert r.parallel_value == pytest.approx(par, abs=2e-6)
    assert r.status == "exact"
    assert r.zero_gap_paper_condition  # [002] Thm. 5 as printed
    assert r.zero_gap_sign_condition == (gamma[0] * gamma[1] >= 0)
    assert r.zero_gap == r.zero_gap_sign_condition


@pytest.mark.parametrize("depth", [3, 4, 5])
@pytest.mark.parametrize("gamma", [(1.0, 0.5), (1.0, 0.0), (1.0, -0.7), (-0.3, 2.0)])
def test_weights_interpolate_and_attain_values(depth, gamma):
    X, y = instance(gamma, seed=3)
    r = rank_one_min_norm(X, y, depth=depth)
    W = r.weights
    assert len(W) == depth
    np.testing.assert_allclose(relu_network_output(X, W)[:, 0], y, atol=1e-10)
    assert 0.5 * sum(np.sum(w**2) for w in W) == pytest.approx(r.primal_value, rel=1e-12)
    s = np.linalg.svd(W[0], compute_uv=False)
    assert s[1] / s[0] < 1e-9  # W_1 rank one, aligned with a
    u = np.linalg.svd(W[0])[0][:, 0]
    assert abs(u @ r.a) / np.linalg.norm(r.a) == pytest.approx(1.0, abs=1e-12)
    for t in (0.6, 1.7):  # Theta form (18): ||W_l||_F = t, unit columns, sum |w_L| = P(t)
        Wt = r.weights_at(t)
        np.testing.assert_allclose(relu_network_output(X, Wt)[:, 0], y, atol=1e-10)
        for w in Wt[: depth - 2]:
            assert np.linalg.norm(w) == pytest.approx(t, rel=1e-12)
        np.testing.assert_allclose(np.linalg.norm(Wt[-2], axis=0), 1.0, atol=1e-12)
        assert np.abs(Wt[-1]).sum() == pytest.approx(r.primal_at(t), rel=1e-12)
        assert r.dual_at(t) <= r.primal_bounds_at(t)[0] * (1 + 1e-12)


@pytest.mark.parametrize("depth", [3, 4])
def test_dual_point_feasible_against_random_paths_and_vertices(depth):
    """lambda* of (20) is feasible on sampled path features of A(t) and tight at (88)."""
    X, y = instance((1.0, -0.6), seed=5)
    r = rank_one_min_norm(X, y, depth=depth)
    t = 1.3
    lam = r.dual_point_at(t)
    assert lam @ y == pytest.approx(r.dual_at(t), rel=1e-12)
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(3000):
        m = rng.integers(1, 5)
        Ws = [rng.normal(size=(X.shape[1] if l == 0 else m, m)) for l in range(depth - 2)]
        Ws = [t * W / np.linalg.norm(W) for W in Ws]
        w = rng.normal(size=(m, 1))
        Ws.append(w / np.linalg.norm(w))
        f = np.maximum(relu_network_output(X, Ws[:-1]) @ Ws[-1], 0.0)[:, 0]
        worst = max(worst, abs(lam @ f))
    assert worst <= 1.0 + 1e-10
    verts = r.dual_extreme_points(t)
    for v in verts:
        assert v["exposed"]  # both gamma non-zero: both vertices exposed, (88)'s sign undefined
        f = np.maximum(relu_network_output(X, v["layers"][:-1]) @ v["layers"][-1], 0)[:, 0]
        np.testing.assert_allclose(f, v["feature"], atol=1e-12)
        assert abs(lam @ f) == pytest.approx(1.0, rel=1e-12)


def test_one_signed_data_never_has_a_gap():
    X, _ = instance((1.0, 0.0), one_signed=True, seed=2)
    c, _ = rank_one_decomposition(X)
    assert np.all(c >= 0)
    for depth in (3, 4, 6):
        r = rank_one_min_norm(X, -2.5 * c, depth=depth)
        assert r.zero_gap and r.status == "exact" and r.gamma_minus == 0.0


def test_sign_of_the_factorisation_does_not_matter():
    X, y = instance((0.4, -1.3), seed=7)
    r1, r2 = rank_one_min_norm(X, y, 4), rank_one_min_norm(-X, y, 4)
    assert r1.primal_value == pytest.approx(r2.primal_value, rel=1e-12)
    assert r1.dual_value == pytest.approx(r2.dual_value, rel=1e-12)


def test_mixed_deep_returns_labelled_bounds():
    X, y = instance((1.0, -1.0))
    for depth in (4, 5):
        r = rank_one_min_norm(X, y, depth=depth)
        assert r.status == "bounds" and not r.zero_gap
        assert r.dual_value < r.primal_lower < r.primal_upper == r.primal_value
        assert r.gap_lower > 0


@pytest.mark.parametrize(
    "gamma, depth",
    [((1.0, 0.5), 3), ((1.0, -1.0), 3), ((1.0, -0.7), 3), ((1.0, 0.5), 4), ((1.0, -1.0), 4)],
)
def test_against_nonconvex_training(gamma, depth):
    """SPEC §4.2: no feasible start below the proven lower bound, the best reaches P; with mixed
    signs training stays strictly above the dual (the [!] against [002] Thm. 5)."""
    X, y = instance(gamma)
    r = rank_one_min_norm(X, y, depth=depth)
    res = train_deep_relu_nonconvex(X, y, [4] * (depth - 1), n_starts=6, random_state=1)
    assert res.feasible.sum() >= 1
    feas = res.objectives[res.feasible]
    assert np.all(feas >= r.primal_lower * (1 - 1e-6))
    assert np.all(feas >= r.dual_value * (1 - 1e-6))
    if r.status == "exact":
        assert res.best_objective == pytest.approx(r.primal_value, rel=1e-4)
    else:  # L = 4, mixed: the block-diagonal upper bound is what training finds here
        assert res.best_objective <= r.primal_upper * (1 + 1e-4)
    if gamma[0] * gamma[1] < 0:
        assert res.best_objective > r.dual_value * 1.15


def test_bad_input_names_the_argument():
    X, y = instance((1.0, 0.5))
    with pytest.raises(ValueError, match="X must be rank one"):
        rank_one_min_norm(np.random.default_rng(0).normal(size=(5, 3)), np.ones(5))
    with pytest.raises(ValueError, match="y is not in span"):
        rank_one_min_norm(X, y + np.random.default_rng(1).normal(size=y.size))
    with pytest.raises(ValueError, match="depth"):
        rank_one_min_norm(X, y, depth=2)
    with pytest.raises(TypeError, match="depth"):
        rank_one_min_norm(X, y, depth=3.0)
    with pytest.raises(TypeError, match="y"):
        rank_one_min_norm(X, "abc")
    with pytest.raises(ValueError, match="y"):
        rank_one_min_norm(X, np.ones(3))
    with pytest.raises(ValueError, match="t"):
        rank_one_min_norm(X, y).primal_at(-1.0)
