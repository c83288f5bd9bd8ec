"""Deep linear networks (SPEC.md §2): closed forms, CVXPY duals, SPEC [checked] numbers, the [!]."""

import cvxpy as cp
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from convexnet.deep_linear import (
    DeepLinearRegressor,
    check_rank_one_aligned,
    factorize,
    gap_stairs,
    min_norm_solution,
    network_output,
    parallel_min_norm,
    parallel_output,
    prox_schatten_power,
    schatten_norm,
    standard_min_norm,
    two_layer_linear,
)

DEPTHS = [2, 3, 4, 5, 6]


@pytest.fixture(autouse=True)
def _single_blas_thread():
    """Tiny matrices: multi-threaded BLAS only adds contention (10x slower on a busy machine)."""
    with threadpool_limits(limits=1):
        yield


def _orth(rng, n, k):
    return np.linalg.qr(rng.normal(size=(n, k)))[0]


def data_with_sigma(sigma, n=5, d=8, C=3, seed=0):
    """X (n, d) of full row rank and Y = X Z with Z = X^+ Y having singular values ``sigma``."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    R = np.linalg.qr(X.T)[0][:, : len(sigma)]  # orthonormal columns in range(X^T)
    Z = R @ np.diag(sigma) @ _orth(rng, C, len(sigma)).T
    return X, X @ Z, Z


def random_data(n=5, d=6, C=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(n, C))


def cvx_dual_min_norm(X, Y, radius):
    """max tr(Lam^T Y) s.t. ||X^T Lam||_2 <= radius ([002] (35)/(58) and (16), written here)."""
    Lam = cp.Variable(Y.shape)
    prob = cp.Problem(cp.Maximize(cp.trace(Lam.T @ Y)), [cp.sigma_max(X.T @ Lam) <= radius])
    prob.solve(solver=cp.CLARABEL)
    assert prob.status == cp.OPTIMAL
    return prob.value


def cvx_nuclear_min_norm(X, Y):
    W = cp.Variable((X.shape[1], Y.shape[1]))
    prob = cp.Problem(cp.Minimize(cp.normNuc(W)), [X @ W == Y])
    prob.solve(solver=cp.CLARABEL)
    assert prob.status == cp.OPTIMAL
    return prob.value, W.value


# ------------------------------------------------------------------------------------------
# factorisation lemma (SPEC §2.4)
# ------------------------------------------------------------------------------------------


def test_factorisation_spec_numbers():
    """SPEC §2.4 [checked]: sigma = (1.888, 0.9947, 0.4605) gives 3.343203, 4.680566, ...

    The SPEC prints sigma rounded to 4 digits, so the values agree to ~5e-6 relative.
    """
    rng = np.random.default_rng(3)
    W = _orth(rng, 4, 3) @ np.diag([1.888, 0.9947, 0.4605]) @ _orth(rng, 3, 3).T
    for L, ref in zip([2, 3, 4, 5], [3.343203, 4.680566, 6.100015, 7.551617]):
        f = factorize(W, L)
        assert f.value == pytest.approx(ref, rel=1e-5)
        assert np.allclose(np.linalg.multi_dot(f.weights), W, atol=1e-14)
        norms = [np.linalg.norm(A) ** 2 for A in f.weights]
        assert np.allclose(norms, norms[0])  # balanced
        assert 0.5 * sum(norms) == pytest.approx(f.value, rel=1e-13)
        assert f.status == "exact"


def test_factorise_vector_and_width():
    w = np.array([3.0, -4.0, 0.0])
    f = factorize(w, 4, hidden_width=3)
    assert [A.shape for A in f.weights] == [(3, 3), (3, 3), (3, 3), (3, 1)]
    assert np.allclose(np.linalg.multi_dot(f.weights)[:, 0], w)
    assert f.value == pytest.approx(2 * 5.0**0.5)
    assert check_rank_one_aligned(f.weights, w=w).ok


def test_schatten_norm():
    A = np.diag([3.0, 4.0])
    assert schatten_norm(A, 2) == pytest.approx(5.0)
    assert schatten_norm(A, 1) == pytest.approx(7.0)
    assert schatten_norm(A, 0.5) == pytest.approx((3**0.5 + 2.0) ** 2)


# ------------------------------------------------------------------------------------------
# standard networks, min norm (SPEC §2.5)
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("L", DEPTHS)
def test_standard_min_norm_weights_and_dual_against_cvxpy(L):
    X, Y = random_data(n=5, d=7, C=3, seed=L)
    r = standard_min_norm(X, Y, L)
    Z = np.linalg.pinv(X) @ Y
    s = np.linalg.svd(Z, compute_uv=False)
    assert r.primal_value == pytest.approx(0.5 * L * np.sum(s ** (2 / L)), rel=1e-12)
    assert np.allclose(network_output(X, r.weights), Y, atol=1e-10)
    assert np.allclose(np.linalg.multi_dot(r.weights), Z, atol=1e-12)
    norms = np.array([np.linalg.norm(W) for W in r.weights])
    assert np.allclose(norms, r.t_star, rtol=1e-12)
    assert 0.5 * np.sum(norms**2) == pytest.approx(r.primal_value, rel=1e-12)
    for t in [0.7, 1.0, 1.3]:
        # dual (35) with constraint (58) solved by CVXPY, against (11)
        assert cvx_dual_min_norm(X, Y, t ** (2 - L)) == pytest.approx(r.dual_at(t), rel=1e-6)
        Lam = r.dual_point_at(t)
        assert np.linalg.norm(X.T @ Lam, 2) <= t ** (2 - L) * (1 + 1e-10)
        assert np.sum(Lam * Y) == pytest.approx(r.dual_at(t), rel=1e-10)
        # Theorem-2 weights (9) attain P(t) (10)
        Ws = r.weights_at(t)
        assert np.allclose(network_output(X, Ws), Y, atol=1e-10)
        for W in Ws[: L - 2]:
            assert np.linalg.norm(W) == pytest.approx(t)
        assert np.allclose(np.linalg.norm(Ws[L - 2], axis=0), 1.0)
        assert np.sum(np.linalg.norm(Ws[-1], axis=1)) == pytest.approx(r.primal_at(t))
        assert r.gap_at(t) >= -1e-12
    # optimising t: D = min_t (L-2)/2 t^2 + D(t) (grid check, independent of the closed form)
    ts = np.linspace(0.2, 4.0, 4001)
    dgrid = (L - 2) / 2 * ts**2 + ts ** (2 - L) * np.sum(s)
    pgrid = (L - 2) / 2 * ts**2 + ts ** (2 - L) * np.sum(s ** (2 / L)) ** (L / 2)
    if L > 2:
        assert r.dual_value == pytest.approx(dgrid.min(), rel=1e-5)
        assert r.primal_value == pytest.approx(pgrid.min(), rel=1e-5)
        assert ts[np.argmin(pgrid)] == pytest.approx(r.t_star, abs=2e-3)
        assert ts[np.argmin(dgrid)] == pytest.approx(r.t_dual, abs=2e-3)
        assert r.gap > 0
    else:
        assert r.gap == pytest.approx(0.0, abs=1e-12)


def test_standard_spec_table():
    """SPEC §2.5 [checked] table: sigma(Z) = (2.1833, 0.5574, 0.4253), n=5, d=8, C=3."""
    X, Y, _ = data_with_sigma([2.1833, 0.5574, 0.4253])
    ref = {
        3: (4.388713, 3.234202, 1.710499, 5.004594, 3.166021),
        4: (5.752687, 3.558663, 1.695979, 8.273352, 3.166021),
    }
    for L, (P, D, ts, P1, D1) in ref.items():
        r = standard_min_norm(X, Y, L)
        assert r.primal_value == pytest.approx(P, rel=1e-5)
        assert r.dual_value == pytest.approx(D, rel=1e-5)
        assert r.t_star == pytest.approx(ts, rel=1e-5)
        assert r.t_star**2 == pytest.approx(2.92581 if L == 3 else 2.87634, rel=1e-5)
        assert r.primal_at(1.0) == pytest.approx(P1, rel=1e-5)
        assert r.dual_at(1.0) == pytest.approx(D1, rel=1e-5)
    r = standard_min_norm(X, Y, 3)
    assert r.primal_at(0.7) == pytest.approx(7.149420, rel=1e-5)
    assert r.dual_at(0.7) == pytest.approx(4.522887, rel=1e-5)
    assert cvx_dual_min_norm(X, Y, 0.7 ** (2 - 3)) == pytest.approx(4.522887, rel=1e-5)


# ------------------------------------------------------------------------------------------
# the [!] of SPEC §2.5 / §6.1: when is the gap zero?
# ------------------------------------------------------------------------------------------


def test_zero_gap_condition_equal_sigma_refutes_paper():
    """sigma = (1, 1): the paper's condition holds but the gap is not zero (ours: rank <= 1)."""
    X, Y, _ = data_with_sigma([1.0, 1.0])
    r3 = standard_min_norm(X, Y, 3)
    assert r3.zero_gap_paper_condition and not r3.zero_gap_rank_condition
    assert r3.primal_value == pytest.approx(3.0, rel=1e-10)
    assert r3.dual_value == pytest.approx(2.381102, rel=1e-6)
    assert r3.gap == pytest.approx(0.618898, rel=1e-5) and not r3.zero_gap
    assert r3.primal_at(1.0) == pytest.approx(2.828427, rel=1e-6)
    assert cvx_dual_min_norm(X, Y, 1.0) == pytest.approx(2.0, rel=1e-6)
    r4 = standard_min_norm(X, Y, 4)
    assert (r4.primal_value, r4.dual_value) == pytest.approx((4.0, 2.828427), rel=1e-6)
    # the rank condition predicts the numbers; the paper's does not
    assert r3.zero_gap == r3.zero_gap_rank_condition != r3.zero_gap_paper_condition


def test_zero_gap_condition_rank_one():
    """Rank-one Z: P = D; SPEC's 4.845955 (L=3) and 4.819434 (L=4) share one sigma."""
    sigma = (4.845955 / 1.5) ** 1.5
    X, Y, _ = data_with_sigma([sigma])
    r3, r4 = standard_min_norm(X, Y, 3), standard_min_norm(X, Y, 4)
    for r in (r3, r4):
        assert r.zero_gap_rank_condition and r.zero_gap_paper_condition and r.zero_gap
        assert r.primal_value == pytest.approx(r.dual_value, rel=1e-12)
    assert r3.primal_value == pytest.approx(4.845955, rel=1e-7)
    assert r4.primal_value == pytest.approx(4.819434, rel=1e-6)


@pytest.mark.parametrize("L", [3, 4, 5])
def test_zero_gap_condition_generic(L):
    X, Y = random_data(seed=10 + L)
    r = standard_min_norm(X, Y, L)
    assert not r.zero_gap_paper_condition and not r.zero_gap_rank_condition
    assert r.gap > 1e-3 and not r.zero_gap


def test_depth_two_always_zero_gap():
    X, Y = random_data(seed=2)
    r = standard_min_norm(X, Y, 2)
    assert r.zero_gap and r.zero_gap_rank_condition and r.zero_gap_paper_condition


# ------------------------------------------------------------------------------------------
# parallel networks (SPEC §2.7)
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("L", DEPTHS)
def test_parallel_lth_power_is_nuclear_norm(L):
    X, Y = random_data(n=5, d=8, C=3, seed=20 + L)
    r = parallel_min_norm(X, Y, L, n_branches=5)
    nuc, Wcvx = cvx_nuclear_min_norm(X, Y)
    assert r.primal_value == pytest.approx(nuc, rel=1e-6)
    assert r.dual_value == pytest.approx(cvx_dual_min_norm(X, Y, 1.0), rel=1e-6)
    assert r.gap == 0.0 and r.zero_gap and r.zero_gap_rank_condition
    assert np.allclose(Wcvx, np.linalg.pinv(X) @ Y, atol=1e-6)
    assert len(r.branches) == 5 and all(len(b) == L for b in r.branches)
    assert np.allclose(parallel_output(X, r.branches), Y, atol=1e-10)
    assert r.regularizer() == pytest.approx(r.primal_value, rel=1e-12)
    for b in r.branches[: r.rank]:  # balanced branches
        norms = [np.linalg.norm(W) for W in b]
        assert np.allclose(norms, norms[0])
    Lam = r.dual_point
    assert np.linalg.norm(X.T @ Lam, 2) <= 1 + 1e-10
    assert np.sum(Lam * Y) == pytest.approx(r.dual_value, rel=1e-10)


def test_parallel_spec_numbers():
    """SPEC §2.7 [checked]: sigma(Z) = (1.27012, 0.74473, 0.26923)."""
    X, Y, _ = data_with_sigma([1.27012, 0.74473, 0.26923])
    assert parallel_min_norm(X, Y, 3).primal_value == pytest.approx(2.284077, rel=1e-5)
    for L, ref in [(3, 3.617061), (4, 5.017695)]:
        r = parallel_min_norm(X, Y, L, regularization="weight_decay", n_branches=6)
        assert r.primal_value == pytest.approx(ref, rel=1e-5)
        assert r.primal_value == pytest.approx(standard_min_norm(X, Y, L).primal_value)
        assert r.regularizer() == pytest.approx(r.primal_value, rel=1e-12)
        assert r.gap > 0.1 and not r.zero_gap and not r.zero_gap_rank_condition
        assert np.allclose(parallel_output(X, r.branches), Y, atol=1e-12)


# ------------------------------------------------------------------------------------------
# stairs (SPEC §2.8)
# ------------------------------------------------------------------------------------------


def test_gap_stairs_spec_numbers_and_figure():
    X, Y, _ = data_with_sigma([1.32727, 1.17969, 0.77326], n=5, d=7)
    s = gap_stairs(X, Y, 5, t=1.0)
    assert s.values[:4] == pytest.approx([3.28022, 5.63512, 9.71918, 16.79086], rel=2e-5)
    assert s.values[4] == s.values[3]
    r = standard_min_norm(X, Y, 5)
    assert s.primal_value == pytest.approx(r.primal_at(1.0))
    assert s.dual_value == pytest.approx(cvx_dual_min_norm(X, Y, 1.0), rel=1e-6)
    assert s.strictly_decreasing and s.gap > 0
    opt = gap_stairs(X, Y, 5, plot=False)
    assert opt.values[:4] == pytest.approx([4.0207, 4.99231, 6.20857, 7.72626], rel=2e-5)
    assert opt.primal_value == pytest.approx(r.primal_value)
    assert opt.dual_value == pytest.approx(r.dual_value)
    assert opt.figure is None
    fig = s.figure
    assert fig is not None and len(fig.axes) == 1
    assert len(fig.axes[0].lines) >= 2


@pytest.mark.parametrize("L", [3, 4, 6])
def test_stairs_flat_iff_rank_one(L):
    X, Y, _ = data_with_sigma([2.0])
    flat = gap_stairs(X, Y, L, plot=False)
    assert np.allclose(flat.values, flat.values[0]) and not flat.strictly_decreasing
    X, Y, _ = data_with_sigma([1.0, 1.0])  # equal sigma, rank 2: still strictly decreasing
    st = gap_stairs(X, Y, L, plot=False)
    assert st.strictly_decreasing and st.zero_gap_paper_condition


# ------------------------------------------------------------------------------------------
# scalar output / two-layer dual (SPEC §2.2, §2.3)
# ------------------------------------------------------------------------------------------


def test_alignment_check_accepts_chains_and_rejects_random():
    rng = np.random.default_rng(0)
    w = rng.normal(size=5)
    f = factorize(w, 4, hidden_width=3)
    rep = check_rank_one_aligned(f.weights, w=w)
    assert rep.ok and rep.rank_one and rep.aligned
    rand = [rng.normal(size=(5, 3)), rng.normal(size=(3, 3)), rng.normal(size=(3, 1))]
    bad = check_rank_one_aligned(rand)
    assert not bad.rank_one and not bad.ok
    # rank one but misaligned
    u = [np.outer(rng.normal(size=5), rng.normal(size=3)), np.outer(rng.normal(size=3), [1.0])]
    mis = check_rank_one_aligned(u)
    assert mis.rank_one and not mis.aligned


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_two_layer_linear_strong_duality_against_cvxpy(loss):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(10, 5))
    if loss == "squared":
        Y = rng.normal(size=(10, 3))
    else:
        Y = np.sign(rng.normal(size=10))
    beta = 0.8
    r = two_layer_linear(X, Y, beta, loss=loss)
    Lam = cp.Variable(Y.shape)
    if loss == "squared":
        obj = cp.sum(cp.multiply(Lam, Y)) - 0.5 * cp.sum_squares(Lam)
        cons = [cp.sigma_max(X.T @ Lam) <= beta]
        W = cp.Variable((5, 3))
        primal = 0.5 * cp.sum_squares(X @ W - Y) + beta * cp.normNuc(W)
    else:
        q = cp.multiply(Lam, Y)
        obj = cp.sum(cp.entr(q) + cp.entr(1 - q))
        cons = [cp.norm(X.T @ Lam, 2) <= beta, q >= 0, q <= 1]
        W = cp.Variable(5)
        primal = cp.sum(cp.logistic(-cp.multiply(Y, X @ W))) + beta * cp.norm(W, 2)
    dval = cp.Problem(cp.Maximize(obj), cons).solve(solver=cp.CLARABEL)
    pval = cp.Problem(cp.Minimize(primal)).solve(solver=cp.CLARABEL)
    assert dval == pytest.approx(pval, rel=1e-6)  # strong duality (independent)
    assert r.primal_value == pytest.approx(pval, rel=1e-6)
    assert r.dual_value == pytest.approx(dval, rel=1e-6)
    assert r.gap <= 1e-6 * max(1, r.primal_value) and r.status == "optimal"
    W1, W2 = r.weights
    assert np.allclose(W1 @ W2, r.W.reshape(5, -1), atol=1e-10)
    if loss == "logistic":  # scalar output: rank-one first layer aligned with w*
        assert check_rank_one_aligned(r.weights, w=r.W).ok


# ------------------------------------------------------------------------------------------
# prox and estimator
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("q", [1.0, 2 / 3, 0.5, 1 / 3])
def test_prox_is_global_minimiser(q):
    sig = np.array([0.0, 0.05, 0.3, 0.7, 1.0, 2.5, 10.0])
    c = 0.4
    s = prox_schatten_power(sig, c, q)
    grid = np.linspace(0, 11, 220001)
    for si, pi in zip(sig, s):
        f = 0.5 * (grid - si) ** 2 + c * grid**q
        fp = 0.5 * (pi - si) ** 2 + c * pi**q
        assert fp <= f.min() + 1e-9


def test_regressor_whitened_is_exact_and_matches_closed_form():
    rng = np.random.default_rng(0)
    X = _orth(rng, 12, 4)
    Y = rng.normal(size=(12, 3))
    for L in [3, 4, 6]:
        m = DeepLinearRegressor(depth=L, alpha=0.3).fit(X, Y)
        assert m.status_ == "exact"
        sig = np.linalg.svd(X.T @ Y, compute_uv=False)
        s = prox_schatten_power(sig, 0.3 * L / 2, 2 / L)
        ref = 0.5 * np.sum(Y**2) - 0.5 * np.sum(sig**2) + np.sum(0.5 * (s - sig) ** 2)
        ref += 0.3 * L / 2 * np.sum(s ** (2 / L))
        assert m.objective_ == pytest.approx(ref, rel=1e-10)
        assert m.duality_gap_ >= 0
        Wp = np.linalg.multi_dot(m.weights_)
        assert np.allclose(Wp, m.coef_)
        reg = 0.5 * 0.3 * sum(np.linalg.norm(W) ** 2 for W in m.weights_)
        assert 0.5 * np.sum((X @ m.coef_ - Y) ** 2) + reg == pytest.approx(m.objective_)


def test_regressor_parallel_against_cvxpy():
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(12, 5)), rng.normal(size=(12, 3))
    alpha = 1.5
    m = DeepLinearRegressor(depth=4, alpha=alpha, architecture="parallel").fit(X, Y)
    W = cp.Variable((5, 3))
    pval = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(X @ W - Y) + alpha * cp.normNuc(W))).solve(
        solver=cp.CLARABEL
    )
    Lam = cp.Variable(Y.shape)
    dval = cp.Problem(
        cp.Maximize(cp.sum(cp.multiply(Lam, Y)) - 0.5 * cp.sum_squares(Lam)),
        [cp.sigma_max(X.T @ Lam) <= alpha],
    ).solve(solver=cp.CLARABEL)
    assert m.objective_ == pytest.approx(pval, rel=1e-6)
    assert m.dual_objective_ == pytest.approx(dval, rel=1e-6)
    assert m.dual_objective_ <= dval + 1e-7  # a certified lower bound
    assert m.status_ == "optimal" and m.duality_gap_ <= 1e-6 * m.objective_
    assert np.allclose(parallel_output(X, m.weights_), X @ m.coef_, atol=1e-10)
    reg = sum(np.linalg.norm(A) ** 4 for b in m.weights_ for A in b) / 4
    assert 0.5 * np.sum((X @ m.coef_ - Y) ** 2) + alpha * reg == pytest.approx(m.objective_)


def test_regressor_standard_dual_is_a_valid_bound():
    """dual_objective_ <= min_t alpha(L-2)/2 t^2 + Phi_cvx(t) (CVXPY, t grid) <= objective_."""
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(10, 4)), rng.normal(size=(10, 3))
    alpha, L = 0.5, 3
    m = DeepLinearRegressor(depth=L, alpha=alpha).fit(X, Y)
    assert m.status_ == "local"
    W = cp.Variable((4, 3))
    beta = cp.Parameter(nonneg=True)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(X @ W - Y) + beta * cp.normNuc(W)))
    vals = []
    for t in np.geomspace(0.5, 2.5, 15):
        beta.value = alpha * t ** (2 - L)
        vals.append(alpha * (L - 2) / 2 * t**2 + prob.solve(solver=cp.CLARABEL))
    assert m.dual_objective_ <= min(vals) + 1e-7
    assert m.dual_objective_ >= min(vals) * (1 - 1e-2)
    assert m.dual_objective_ <= m.objective_


def test_regressor_losses_and_intercept():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(20, 3))
    y = np.sign(X @ [1.0, -1.0, 0.5] + 0.3)
    m = DeepLinearRegressor(depth=3, alpha=0.5, loss="logistic", fit_intercept=True).fit(X, y)
    assert np.mean(np.sign(m.predict(X)) == y) > 0.8
    assert m.dual_objective_ <= m.objective_
    assert np.isscalar(m.intercept_) and m.coef_.shape == (3,)
    assert np.linalg.multi_dot(m.weights_).shape == (4, 1)  # ones column included
    Yc = np.eye(3)[rng.integers(0, 3, size=20)]
    mc = DeepLinearRegressor(depth=3, alpha=0.5, loss="cross_entropy", architecture="parallel")
    mc.fit(X, Yc)
    assert mc.status_ == "optimal" and mc.duality_gap_ <= 1e-5 * mc.objective_
    with pytest.raises(ValueError, match="y"):
        DeepLinearRegressor(loss="logistic").fit(X, X[:, 0])
    with pytest.raises(ValueError, match="y"):
        DeepLinearRegressor(loss="cross_entropy").fit(X, y)


def test_regressor_convergence_warning():
    from sklearn.exceptions import ConvergenceWarning

    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(10, 4)), rng.normal(size=(10, 2))
    with pytest.warns(ConvergenceWarning):
        m = DeepLinearRegressor(depth=2, alpha=0.1, max_iter=2).fit(X, Y)
    assert m.status_ == "max_iter" and not m.converged_


# ------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------


def test_bad_inputs():
    X, Y = random_data()
    with pytest.raises(ValueError, match="range"):
        standard_min_norm(np.random.default_rng(0).normal(size=(6, 3)), np.ones((6, 2)), 3)
    with pytest.raises(ValueError, match="range"):
        parallel_min_norm(np.ones((3, 2)), np.arange(3.0), 3)
    with pytest.raises(ValueError, match="depth"):
        standard_min_norm(X, Y, 1)
    with pytest.raises(TypeError, match="depth"):
        standard_min_norm(X, Y, 2.5)
    with pytest.raises(TypeError, match="depth"):
        gap_stairs(X, Y, "3")
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="X"):
        standard_min_norm(bad, Y, 3)
    Yi = Y.copy()
    Yi[1, 1] = np.inf
    with pytest.raises(ValueError, match="Y"):
        parallel_min_norm(X, Yi, 3)
    with pytest.raises(ValueError, match="Y"):
        standard_min_norm(X, Y[:3], 3)
    with pytest.raises(TypeError, match="X"):
        standard_min_norm("abc", Y, 3)
    with pytest.raises(ValueError, match="X"):
        standard_min_norm(np.zeros((0, 3)), np.zeros((0, 1)), 3)
    with pytest.raises(ValueError, match="regularization"):
        parallel_min_norm(X, Y, 3, regularization="l2")
    with pytest.raises(ValueError, match="n_branches"):
        parallel_min_norm(X, Y, 3, n_branches=1)
    with pytest.raises(ValueError, match="t"):
        standard_min_norm(X, Y, 3).primal_at(-1.0)
    with pytest.raises(ValueError, match="t"):
        gap_stairs(X, Y, 3, t=0.0)
    with pytest.raises(ValueError, match="hidden_width"):
        standard_min_norm(X, Y, 3, hidden_width=1)
    with pytest.raises(ValueError, match="alpha"):
        DeepLinearRegressor(alpha=-1.0).fit(X, Y)
    with pytest.raises(ValueError, match="architecture"):
        DeepLinearRegressor(architecture="deep").fit(X, Y)
    with pytest.raises(ValueError, match="depth"):
        DeepLinearRegressor(depth=1).fit(X, Y)
    with pytest.raises(ValueError, match="beta"):
        two_layer_linear(X, Y, -0.1)
    assert np.allclose(min_norm_solution(X, Y), np.linalg.pinv(X) @ Y)


@pytest.mark.parametrize("L", [3, 4, 5, 6])
def test_stairs_levels_are_standard_values_of_depth_l_plus_2(L):
    """Prop. 9: P^(l)(t) = t^(2-L) ||Z||_{S_2/(l+2)}, i.e. the (l+2)-layer value at radius 1.

    The (l+2)-layer values are checked against non-convex training in
    test_deep_linear_nonconvex.py, which makes this an independent check of every stair.
    """
    X, Y = random_data(n=5, d=7, C=3, seed=40 + L)
    t = 0.8
    st = gap_stairs(X, Y, L, t=t, plot=False)
    for l in range(L - 1):
        ref = t ** (2 - L) * standard_min_norm(X, Y, l + 2).primal_at(1.0)
        assert st.values[l] == pytest.approx(ref, rel=1e-12)
    assert st.values[0] == pytest.approx(cvx_dual_min_norm(X, Y, t ** (2 - L)), rel=1e-6)
    assert st.values[-1] == pytest.approx(standard_min_norm(X, Y, L).primal_at(t), rel=1e-12)
    assert st.strictly_decreasing


def test_review_regressions_bad_input_and_tiny_targets():
    """Found in review: tiny Y outside range X, prox outside 0 < q <= 1, unchecked inputs."""
    from convexnet.deep_linear import network_output, prox_schatten_power, schatten_norm

    with pytest.raises(ValueError, match="range"):
        standard_min_norm([[1.0, 0.0], [1.0, 0.0]], [1e-9, -1e-9], 3)
    with pytest.raises(ValueError, match="q"):
        prox_schatten_power([1.0], 1.0, 2.0)
    with pytest.raises(ValueError, match="q"):
        prox_schatten_power([1.0], 1.0, 0.0)
    with pytest.raises(ValueError, match="sigma"):
        prox_schatten_power([np.nan], 1.0, 0.5)
    with pytest.raises(ValueError, match="c"):
        prox_schatten_power([1.0], -1.0, 0.5)
    with pytest.raises(ValueError, match="A"):
        schatten_norm([[np.nan, 1.0]], 1.0)
    with pytest.raises(TypeError, match="A"):
        schatten_norm([["a"]], 1.0)
    with pytest.raises(ValueError, match="weights"):
        network_output(np.ones((2, 3)), [np.ones((3, 2)), np.ones((3, 1))])


def test_two_layer_linear_stall_at_round_off_is_certified_without_warning():
    """Whitened X: one prox step is optimal and FISTA stalls at round-off before its next gap
    check; the final gap certifies the point, so status "optimal" and no ConvergenceWarning
    (was "max_iter" with a warning; seen in convexnet reproduce E000-1)."""
    import warnings

    rng = np.random.default_rng(3)
    X = np.linalg.qr(rng.normal(size=(10, 5)))[0]
    Y = np.random.default_rng(3).normal(size=(10, 4))
    U, s, Vt = np.linalg.svd(X.T @ Y, full_matrices=False)
    for beta in s[0] * np.array([0.45, 0.65, 0.85]):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            r = two_layer_linear(X, Y, beta)
        assert r.status == "optimal"
        np.testing.assert_allclose(r.W, U @ np.diag(np.maximum(s - beta, 0)) @ Vt, atol=1e-9)
        assert r.gap <= 1e-7 * r.primal_value
