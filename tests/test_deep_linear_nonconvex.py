"""Closed forms of SPEC §2 against non-convex training of the same problems.

Independent computation: the networks themselves are trained by scipy L-BFGS (numpy gradients
written here) from many random starts; equality constraints X f(theta) = Y by an augmented
Lagrangian (a start is feasible when ``||residual||_F <= 1e-6``). A certified optimum must never be
beaten: no feasible start may end below the closed form, and the best start must reach it.
"""

import numpy as np
import pytest
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from convexnet.deep_linear import (
    DeepLinearRegressor,
    check_rank_one_aligned,
    parallel_min_norm,
    standard_min_norm,
    two_layer_linear,
)

FEAS = 1e-6


@pytest.fixture(autouse=True)
def _single_blas_thread():
    """Tiny matrices: multi-threaded BLAS only adds contention (10x slower on a busy machine)."""
    with threadpool_limits(limits=1):
        yield


def _shapes(d, widths, C):
    dims = [d, *widths, C]
    return [(dims[i], dims[i + 1]) for i in range(len(dims) - 1)]


def _unpack(theta, branch_shapes):
    out, k = [], 0
    for shapes in branch_shapes:
        b = []
        for s in shapes:
            n = s[0] * s[1]
            b.append(theta[k : k + n].reshape(s))
            k += n
        out.append(b)
    return out


def _forward_backward(X, Ws, G=None):
    """Output of a chain, and (if G = d obj / d output is given) gradients of each layer."""
    acts = [X]
    for W in Ws:
        acts.append(acts[-1] @ W)
    if G is None:
        return acts[-1], None
    grads = [None] * len(Ws)
    B = G
    for l in reversed(range(len(Ws))):
        grads[l] = acts[l].T @ B
        B = B @ Ws[l].T
    return acts[-1], grads


def _reg(W, kind, L):
    n = np.linalg.norm(W)
    if kind == "wd":
        return 0.5 * n**2, W
    return n**L / L, n ** (L - 2) * W  # (1/L)||W||^L


class Net:
    """A parallel network (K branches of given widths); K = 1 is a standard network."""

    def __init__(self, X, Y, widths, K, reg, loss_weight=None):
        self.X, self.Y = X, Y
        self.L = len(widths) + 1
        self.shapes = [_shapes(X.shape[1], widths, Y.shape[1])] * K
        self.size = sum(a * b for s in self.shapes for a, b in s)
        self.reg = reg
        self.loss_weight = loss_weight  # None: constrained; alpha: alpha*reg + squared loss

    def parts(self, theta, G_of_out):
        branches = _unpack(theta, self.shapes)
        out = sum(_forward_backward(self.X, b)[0] for b in branches)
        G = G_of_out(out)
        val, grads = 0.0, []
        for b in branches:
            _, gb = _forward_backward(self.X, b, G)
            for W, g in zip(b, gb):
                r, dr = _reg(W, self.reg, self.L)
                w = 1.0 if self.loss_weight is None else self.loss_weight
                val += w * r
                grads.append((g + w * dr).ravel())
        return out, val, np.concatenate(grads)

    def regulariser(self, theta):
        return sum(_reg(W, self.reg, self.L)[0] for b in _unpack(theta, self.shapes) for W in b)

    def residual(self, theta):
        branches = _unpack(theta, self.shapes)
        return sum(_forward_backward(self.X, b)[0] for b in branches) - self.Y

    def train_constrained(self, theta0, outer=25):
        """Augmented Lagrangian for min reg s.t. sum_j X W_1j...W_Lj = Y.

        The penalty starts large (rho = 1e3): with a small one, depth >= 4 starts get stuck at
        infeasible points where a singular value of the product is zero (the WD cost of a
        singular value, (L/2) s^(2/L), has infinite slope at 0). Such points are filtered out as
        infeasible anyway.
        """
        lam, rho, theta = np.zeros_like(self.Y), 1e3, theta0
        for _ in range(outer):

            def f(th, lam=lam, rho=rho):
                cache = {}

                def G(out):
                    R = out - self.Y
                    cache["R"] = R
                    return lam + rho * R

                _, val, grad = self.parts(th, G)
                R = cache["R"]
                return val + np.sum(lam * R) + 0.5 * rho * np.sum(R**2), grad

            theta = minimize(
                f,
                theta,
                jac=True,
                method="L-BFGS-B",
                options={"maxiter": 5000, "gtol": 1e-10, "ftol": 1e-15},
            ).x
            R = self.residual(theta)
            lam = lam + rho * R
            if np.linalg.norm(R) < 1e-9:
                break
        return self.regulariser(theta), np.linalg.norm(self.residual(theta)), theta

    def train_regularised(self, theta0):
        """min (1/2)||out - Y||^2 + alpha * reg."""

        def f(th):
            cache = {}

            def G(out):
                cache["R"] = out - self.Y
                return cache["R"]

            _, val, grad = self.parts(th, G)
            return val + 0.5 * np.sum(cache["R"] ** 2), grad

        res = minimize(
            f,
            theta0,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 5000, "gtol": 1e-10, "ftol": 1e-15},
        )
        return res.fun, res.x


def _starts(net, n, seed, scale=0.7):
    rng = np.random.default_rng(seed)
    return [scale * rng.normal(size=net.size) for _ in range(n)]


def _assert_certified(values, closed, feasible=None, rel=1e-4):
    values = np.asarray(values)
    if feasible is not None:
        values = values[np.asarray(feasible)]
    assert values.size >= 1, "no feasible start"
    # no start beats the certified optimum ...
    assert values.min() >= closed * (1 - rel) - 1e-8, (values.min(), closed)
    # ... and the best reaches it
    assert values.min() <= closed * (1 + rel) + 1e-8, (values.min(), closed)


def _data(n, d, C, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(n, C))


# depth, hidden width, outputs, starts
STANDARD_CASES = [
    (2, 3, 3, 6),
    (3, 3, 3, 6),
    (3, 4, 2, 6),
    (4, 3, 3, 6),
    (5, 4, 3, 5),
    (6, 3, 3, 4),
    (4, 2, 1, 4),  # scalar output
]


@pytest.mark.parametrize("L,m,C,n_starts", STANDARD_CASES)
def test_standard_min_norm_never_beaten(L, m, C, n_starts):
    """[002] (5): min (1/2) sum ||W_l||^2 s.t. X W_1...W_L = Y equals (L/2)||Z||_{S_2/L}^{2/L}."""
    X, Y = _data(4, 6, C, seed=100 + 10 * L + m)
    closed = standard_min_norm(X, Y, L).primal_value
    net = Net(X, Y, [m] * (L - 1), K=1, reg="wd")
    runs = [net.train_constrained(t0) for t0 in _starts(net, n_starts, seed=L)]
    vals, res = [r[0] for r in runs], [r[1] for r in runs]
    _assert_certified(vals, closed, feasible=[r <= FEAS for r in res])


@pytest.mark.parametrize("L", [3, 4])
def test_parallel_lth_power_never_beaten(L):
    """[002] (14) with constant 1/L equals ||X^+ Y||_* (Thm. 4), K = 4 branches of width 2."""
    X, Y = _data(4, 6, 3, seed=200 + L)
    closed = parallel_min_norm(X, Y, L).primal_value
    net = Net(X, Y, [2] * (L - 2) + [1], K=4, reg="lth")
    runs = [net.train_constrained(t0) for t0 in _starts(net, 5, seed=L)]
    _assert_certified([r[0] for r in runs], closed, feasible=[r[1] <= FEAS for r in runs])


def test_parallel_weight_decay_never_beaten_and_not_nuclear():
    """[002] (12): plain WD on a parallel network gives the standard value, not ||Z||_*."""
    L = 3
    X, Y = _data(4, 6, 3, seed=300)
    r = parallel_min_norm(X, Y, L, regularization="weight_decay")
    net = Net(X, Y, [2, 1], K=4, reg="wd")
    runs = [net.train_constrained(t0) for t0 in _starts(net, 5, seed=1)]
    _assert_certified([x[0] for x in runs], r.primal_value, feasible=[x[1] <= FEAS for x in runs])
    assert r.primal_value > parallel_min_norm(X, Y, L).primal_value  # the gap is real


def test_equal_sigma_primal_is_three():
    """SPEC §2.5 [!]: sigma(Z) = (1, 1), L = 3: non-convex optimum 3.0 > D = 2.381102."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(4, 6))
    R = np.linalg.qr(X.T)[0][:, :2]
    Y = X @ R @ np.linalg.qr(rng.normal(size=(3, 2)))[0].T
    r = standard_min_norm(X, Y, 3)
    net = Net(X, Y, [3, 3], K=1, reg="wd")
    runs = [net.train_constrained(t0) for t0 in _starts(net, 5, seed=3)]
    _assert_certified([x[0] for x in runs], 3.0, feasible=[x[1] <= FEAS for x in runs])
    assert r.dual_value == pytest.approx(2.381102, rel=1e-6)
    assert min(x[0] for x in runs) > r.dual_value + 0.6  # the dual is not attained


@pytest.mark.parametrize("L", [2, 3, 4])
def test_regressor_parallel_never_beaten(L):
    """[002] (14) regularised (SPEC §2.7 (d)): (1/2)||f - Y||^2 + (alpha/L) sum ||W||^L."""
    X, Y = _data(8, 4, 3, seed=400 + L)
    alpha = 1.0
    m = DeepLinearRegressor(depth=L, alpha=alpha, architecture="parallel").fit(X, Y)
    widths = [3] if L == 2 else [2] * (L - 2) + [1]
    net = Net(X, Y, widths, K=1 if L == 2 else 4, reg="wd" if L == 2 else "lth", loss_weight=alpha)
    vals = [net.train_regularised(t0)[0] for t0 in _starts(net, 6, seed=L)]
    _assert_certified(vals, m.objective_, rel=1e-5)


@pytest.mark.parametrize("L", [3, 4, 5])
def test_regressor_standard_whitened_never_beaten(L):
    """Whitened X (exact): (1/2)||X W_1..W_L - Y||^2 + (alpha/2) sum ||W_l||^2 ([002] (31))."""
    rng = np.random.default_rng(500 + L)
    X = np.linalg.qr(rng.normal(size=(8, 4)))[0] * 1.5
    Y = rng.normal(size=(8, 3))
    alpha = 0.4
    m = DeepLinearRegressor(depth=L, alpha=alpha).fit(X, Y)
    assert m.status_ == "exact"
    net = Net(X, Y, [3] * (L - 1), K=1, reg="wd", loss_weight=alpha)
    vals = [net.train_regularised(t0)[0] for t0 in _starts(net, 8, seed=L)]
    _assert_certified(vals, m.objective_, rel=1e-6)


def test_regressor_standard_local_reaches_nonconvex_best():
    """General X: the local method is checked against non-convex training (not certified)."""
    X, Y = _data(10, 4, 3, seed=600)
    alpha, L = 0.5, 3
    m = DeepLinearRegressor(depth=L, alpha=alpha).fit(X, Y)
    assert m.status_ == "local"
    net = Net(X, Y, [3, 3], K=1, reg="wd", loss_weight=alpha)
    best = min(net.train_regularised(t0)[0] for t0 in _starts(net, 8, seed=0))
    assert m.objective_ == pytest.approx(best, rel=1e-5)
    assert m.dual_objective_ <= best


@pytest.mark.parametrize("L", [3, 4])
def test_scalar_output_trained_layers_are_rank_one_and_aligned(L):
    """[000]: trained optimal layers of a scalar-output network are rank one and aligned."""
    rng = np.random.default_rng(700 + L)
    X, y = rng.normal(size=(12, 4)), rng.normal(size=(12, 1))
    alpha = 0.3
    m = DeepLinearRegressor(depth=L, alpha=alpha).fit(X, y)
    net = Net(X, y, [5] * (L - 1), K=1, reg="wd", loss_weight=alpha)
    runs = [net.train_regularised(t0) for t0 in _starts(net, 6, seed=L)]
    val, theta = min(runs, key=lambda r: r[0])
    assert val >= m.objective_ * (1 - 1e-6)
    assert val == pytest.approx(m.objective_, rel=1e-5)
    Ws = _unpack(theta, net.shapes)[0]
    rep = check_rank_one_aligned(Ws, w=m.coef_, tol=1e-4)
    assert rep.ok, (rep.rank_ratios, rep.alignments, rep.input_alignment)
    assert check_rank_one_aligned(m.weights_, w=m.coef_).ok


def test_two_layer_linear_never_beaten():
    """SPEC §2.2: two-layer WD network = nuclear-norm program (strong duality)."""
    X, Y = _data(10, 5, 3, seed=800)
    beta = 0.3
    r = two_layer_linear(X, Y, beta)
    net = Net(X, Y, [4], K=1, reg="wd", loss_weight=beta)
    vals = [net.train_regularised(t0)[0] for t0 in _starts(net, 6, seed=1)]
    _assert_certified(vals, r.primal_value, rel=1e-6)
    assert r.dual_value <= min(vals) + 1e-9


def test_baseline_trainer_linear_activation_reaches_closed_forms():
    """``train_deep_relu_nonconvex(activation="linear")`` (used by ``convexnet reproduce``) trains
    the standard (5) and parallel (14) deep linear networks to their closed forms, never below."""
    pytest.importorskip("torch")
    from convexnet.baselines import deep_relu_forward, train_deep_relu_nonconvex

    X, Y = _data(5, 7, 3, seed=900)
    std = standard_min_norm(X, Y, 3)
    prl = parallel_min_norm(X, Y, 3)
    a = train_deep_relu_nonconvex(X, Y, [4, 4], activation="linear", n_starts=2, random_state=0)
    b = train_deep_relu_nonconvex(
        X, Y, [4, 4], n_branches=4, regularization="lth_power", activation="linear",
        n_starts=2, random_state=0,
    )  # fmt: skip
    for res, closed in ((a, std.primal_value), (b, prl.primal_value)):
        assert res.feasible.any()
        assert np.all(res.objectives[res.feasible] >= closed * (1 - 1e-6))
        assert res.best_objective == pytest.approx(closed, rel=1e-4)
    out = deep_relu_forward(X, a.branches, activation="linear")
    np.testing.assert_allclose(out, Y, atol=1e-5)
    with pytest.raises(ValueError, match="activation"):
        deep_relu_forward(X, a.branches, activation="tanh")
