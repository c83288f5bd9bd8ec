"""Parallel deep ReLU networks by column generation (SPEC.md §4.4, [002] (22)-(24), Thms. 6-7)."""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from convexnet.baselines import train_deep_relu_nonconvex
from convexnet.certificates import cone_projection_norm, relu_kappa
from convexnet.closed_form.rank_one import rank_one_min_norm
from convexnet.losses import SquaredLoss
from convexnet.patterns import enumerate_patterns
from convexnet.programs.deep_relu import (
    _exact_oracle_l2,
    branch_feature,
    parallel_deep_relu,
    parallel_network_output,
)
from convexnet.training import train_two_layer

FAST = {"n_starts": 16, "oracle_steps": 80}


@pytest.fixture(autouse=True)
def _single_blas_thread():
    with threadpool_limits(limits=1):
        yield


def small(n=5, d=2, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=n)


@pytest.mark.parametrize("alpha", [None, 0.5])
def test_depth_two_equals_the_two_layer_convex_program(alpha):
    """L = 2: (22) is the two-layer WD problem; the exact oracle makes the bound proven."""
    X, y = small(n=6, seed=0)
    r = parallel_deep_relu(X, y, depth=2, alpha=alpha, tol=1e-8)
    fit = train_two_layer(
        X, y[:, None], SquaredLoss(), alpha or 1.0, enumerate_patterns(X), interpolate=alpha is None
    )
    assert r.bound_label == "exact" and r.status == "converged"
    assert r.primal_value == pytest.approx(fit.objective, rel=1e-5)
    assert r.dual_bound <= r.primal_value * (1 + 1e-9)
    assert r.relative_gap <= 1e-5
    if alpha is None:
        assert r.residual <= 1e-7


@pytest.mark.parametrize("depth", [3, 4])
@pytest.mark.parametrize("gamma", [(1.0, 0.5), (1.0, -0.7)])
def test_rank_one_data_equals_the_closed_form(depth, gamma):
    """SPEC §4.2/§4.4: on rank-one data (22) = D_ReLU(1) for any signs (zero gap)."""
    rng = np.random.default_rng(2)
    c, a = rng.normal(size=6), rng.normal(size=2)
    X = np.outer(c, a)
    y = gamma[0] * np.maximum(c, 0) + gamma[1] * np.maximum(-c, 0)
    r = parallel_deep_relu(X, y, depth=depth, **FAST)
    closed = rank_one_min_norm(X, y, depth=depth)
    assert r.primal_value == pytest.approx(closed.parallel_value, rel=1e-4)
    assert r.dual_bound == pytest.approx(closed.parallel_value, rel=1e-4)
    assert r.dual_bound <= closed.parallel_value * (1 + 1e-7)
    assert r.residual <= 1e-7
    if gamma[1] < 0:  # the standard network has a strict gap, the parallel one none
        assert closed.gap > 0.1


@pytest.mark.parametrize("depth", [3, 4, 5])
def test_general_instance_reports_bound_and_network(depth):
    X, y = small()
    r = parallel_deep_relu(X, y, depth=depth, branch_widths=2, **FAST)
    assert r.bound_label.startswith("heuristic")
    assert r.dual_bound <= r.primal_value * (1 + 1e-7)
    assert r.gap == pytest.approx(max(r.primal_value - r.dual_bound, 0.0), abs=1e-12)
    assert r.relative_gap <= 1e-3
    assert r.residual <= 1e-7 and r.n_branches <= X.shape[0] + 1  # Caratheodory, App. G
    np.testing.assert_allclose(r.predict(X), y, atol=1e-7)
    assert r.regularizer() == pytest.approx(r.primal_value, rel=1e-9)
    for b in r.branches:  # balanced: every layer of a branch has the same norm
        norms = [np.linalg.norm(W) for W in b]
        np.testing.assert_allclose(norms, norms[0], rtol=1e-9)
    np.testing.assert_allclose(parallel_network_output(X, r.branches)[:, 0], r.predict(X))


def test_regularised_against_nonconvex_parallel_training():
    """No start of the non-convex (22) beats the CG primal by more than the oracle's slack."""
    X, y = small()
    r = parallel_deep_relu(X, y, depth=3, branch_widths=2, alpha=0.2, **FAST)
    res = train_deep_relu_nonconvex(
        X, y, [2, 2], n_branches=6, regularization="lth_power", alpha=0.2, n_starts=3
    )
    assert r.dual_bound <= r.primal_value * (1 + 1e-9)
    assert r.relative_gap <= 1e-3
    # the bound is heuristic (local oracle): allow 1e-3 relative, report if training goes below
    assert res.best_objective >= r.dual_bound * (1 - 1e-3)
    assert res.best_objective >= r.primal_value * (1 - 1e-3)


def test_bad_input_names_the_argument():
    X, y = small()
    with pytest.raises(ValueError, match="depth"):
        parallel_deep_relu(X, y, depth=1)
    with pytest.raises(ValueError, match="branch_widths"):
        parallel_deep_relu(X, y, depth=4, branch_widths=[2])
    with pytest.raises(ValueError, match="alpha"):
        parallel_deep_relu(X, y, alpha=-1.0)
    with pytest.raises(ValueError, match="oracle"):
        parallel_deep_relu(X, y, depth=3, oracle="exact")
    with pytest.raises(ValueError, match="y"):
        parallel_deep_relu(X, np.ones((5, 2)))
    with pytest.raises(TypeError, match="X"):
        parallel_deep_relu("abc", y)
    with pytest.raises(ValueError, match="n_init_features"):
        parallel_deep_relu(X, y, n_init_features=0)
    with pytest.raises(TypeError, match="n_init_features"):
        parallel_deep_relu(X, y, n_init_features=2.5)
    with pytest.raises(ValueError, match="X is zero"):
        parallel_deep_relu(np.zeros_like(X), y)
    with pytest.raises(TypeError, match="branch_widths"):
        parallel_deep_relu(X, y, depth=3, branch_widths=True)


def test_numpy_integer_branch_widths_are_accepted():
    X, y = small()
    a = parallel_deep_relu(X, y, depth=3, branch_widths=np.int64(2), max_iter=2, **FAST)
    b = parallel_deep_relu(X, y, depth=3, branch_widths=2, max_iter=2, **FAST)
    assert a.primal_value == b.primal_value and a.dual_bound == b.dual_bound


def test_exact_oracle_values_are_upper_bounds():
    """L = 2: each pattern's value is the cone-projection bound (never below the attained
    |lam^T (X w)_+| of its candidate column), and their maximum is relu_kappa."""
    X, _ = small(n=6, seed=3)
    patterns = enumerate_patterns(X)
    lam = np.random.default_rng(4).normal(size=6)
    vals, cand = _exact_oracle_l2(X, lam, patterns)
    attained = np.array([abs(lam @ branch_feature(X, th)) for th in cand])
    assert attained.max() <= vals.max() * (1 + 1e-9)
    real = vals > 1e-8  # a zero projection leaves a rounding-noise column, never added (<= 1)
    np.testing.assert_allclose(attained[real], vals[real], rtol=1e-7)
    assert vals.max() == pytest.approx(relu_kappa(X, patterns.D, lam)[0], rel=1e-12)
    Df = patterns.D.astype(float)
    bounds = sorted(
        cone_projection_norm((2 * Df[:, i] - 1)[:, None] * X, s * X.T @ (Df[:, i] * lam))
        for i in range(Df.shape[1])
        for s in (1.0, -1.0)
        if np.any(X.T @ (Df[:, i] * lam))
    )
    np.testing.assert_allclose(sorted(vals), [b for b in bounds if b > 0], rtol=1e-12)


def _dual_objective(r, y):
    lam = r.dual_point
    return float(lam @ y) if r.alpha is None else float(lam @ y - 0.5 * lam @ lam)


@pytest.mark.parametrize("alpha", [None, 0.5])
def test_dual_point_is_feasible_and_gives_the_bound_exact(alpha):
    """L = 2: dual_point satisfies the full dual constraint (all patterns) and gives dual_bound."""
    X, y = small(n=6, seed=0)
    r = parallel_deep_relu(X, y, depth=2, alpha=alpha, tol=1e-8)
    assert r.bound_label == "exact"
    assert _dual_objective(r, y) == pytest.approx(r.dual_bound, rel=1e-10, abs=1e-12)
    kappa = relu_kappa(X, enumerate_patterns(X).D, r.dual_point)[0]
    assert kappa <= (alpha or 1.0) * (1 + 1e-9)


@pytest.mark.parametrize("alpha", [None, 0.2])
def test_dual_point_is_feasible_and_gives_the_bound_local(alpha):
    """L = 3: dual_point is feasible against every branch found and reproduces dual_bound."""
    X, y = small()
    r = parallel_deep_relu(X, y, depth=3, branch_widths=2, alpha=alpha, **FAST)
    assert _dual_objective(r, y) == pytest.approx(r.dual_bound, rel=1e-10, abs=1e-12)
    for b in r.branches:
        theta = [W / np.linalg.norm(W) for W in b[:-1]]
        assert abs(r.dual_point @ branch_feature(X, theta)) <= (alpha or 1.0) * (1 + 1e-9)
    # not the unscaled last restricted dual: its scaling differs from the stored point
    assert np.linalg.norm(r.dual_point) > 0
