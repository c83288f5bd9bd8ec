"""The dense barrier for small exact programs (convexnet.solvers.working_set; issue 6).

Checked against Clarabel on the same program (same patterns), and through the trainer, whose
certificate and fallback must not depend on the barrier being right.
"""

import warnings

import numpy as np
import pytest

from convexnet.growth import hyperplane_generators
from convexnet.losses import get_loss
from convexnet.patterns import ActivationPatterns, patterns_from_generators, sample_patterns
from convexnet.programs.two_layer import TwoLayerProgram
from convexnet.solvers.conic import solve_two_layer_conic
from convexnet.solvers.working_set import (
    BarrierFailure,
    barrier_applies,
    barrier_max_patterns,
    barrier_two_layer,
    central_generators,
    solve_two_layer_barrier,
)
from convexnet.training import train_two_layer


def _data(task, seed=0, n=60, d=3, n_patterns=10):
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.standard_normal((n, d)), np.ones((n, 1))])
    y = np.maximum(X @ rng.standard_normal((d + 1, 3)), 0) @ np.array([1.0, -1.0, 0.5])
    y = y + 0.1 * rng.standard_normal(n)
    Y = (y if task == "squared" else np.sign(y - np.median(y)))[:, None]
    pat = sample_patterns(X, n_patterns, random_state=seed)
    loss = get_loss(task)
    lam0 = loss.dual_point(np.zeros_like(Y), Y)
    alpha = 0.1 * float(np.linalg.norm(X.T @ (pat.D * lam0), axis=0).max())
    return X, Y, pat, loss, alpha


@pytest.mark.parametrize("task", ["squared", "logistic"])
@pytest.mark.parametrize("seed", [0, 1])
def test_barrier_matches_clarabel_on_the_same_patterns(task, seed):
    X, Y, pat, loss, alpha = _data(task, seed)
    program = TwoLayerProgram(X, Y, pat.D, pat.generators, loss, alpha)
    ref = solve_two_layer_conic(program, solver="CLARABEL", tol=1e-10)
    for screen in (True, False):
        ours = solve_two_layer_barrier(program, tol=1e-10, screen=screen)
        assert ours.status == "optimal" and ours.solver == "barrier"
        assert ours.objective == pytest.approx(ref.objective, rel=1e-6)
        assert program.cone_violation(ours.V, ours.W) == 0.0  # strictly inside the cones
        mult = ours.info["multipliers"]
        assert mult.shape == (len(X), 1, 2 * program.n_patterns) and np.all(mult >= 0)
        # every row has its multiplier without screening; screened-out rows have zero
        assert np.all(mult > 0) != screen


@pytest.mark.parametrize("task", ["squared", "logistic"])
def test_trainer_certifies_the_barrier_solution(task):
    X, Y, pat, loss, alpha = _data(task, 2)
    fit = train_two_layer(X, Y, loss, alpha, pat, solver="barrier", tol=1e-7, prove=False)
    program = TwoLayerProgram(X, Y, pat.D, pat.generators, loss, alpha)
    ref = solve_two_layer_conic(program, solver="CLARABEL", tol=1e-10).objective
    assert fit.solution.solver == "barrier" and fit.status == "optimal"
    assert fit.certificate.relative_gap <= 1e-7
    assert fit.objective == pytest.approx(ref, rel=1e-6)
    assert fit.certificate.dual <= ref + 1e-9


def test_multi_output_squared_loss():
    X, Y, pat, loss, alpha = _data("squared", 3)
    Y2 = np.hstack([Y, -0.5 * Y + 0.1])
    program = TwoLayerProgram(X, Y2, pat.D, pat.generators, loss, alpha)
    ours = solve_two_layer_barrier(program, tol=1e-10)
    ref = solve_two_layer_conic(program, solver="CLARABEL", tol=1e-10)
    assert ours.objective == pytest.approx(ref.objective, rel=1e-6)


def test_bad_start_fails_and_the_trainer_falls_back_to_clarabel():
    X, Y, pat, loss, alpha = _data("squared", 4)
    with pytest.raises(BarrierFailure, match="strictly inside"):
        barrier_two_layer(X, Y[:, 0], pat.D, alpha, -np.hstack([pat.generators] * 2))
    # Generators on the wrong side of their patterns: the barrier cannot start, Clarabel solves.
    wrong = ActivationPatterns(pat.D, -pat.generators, False, "sampled")
    program = TwoLayerProgram(X, Y, wrong.D, wrong.generators, loss, alpha)
    assert solve_two_layer_barrier(program).status == "failed"
    fit = train_two_layer(X, Y, loss, alpha, wrong, solver="barrier", tol=1e-6, prove=False)
    assert fit.solution.solver == "CLARABEL" and fit.status == "optimal"


def test_barrier_refuses_programs_it_does_not_solve():
    X, Y, pat, loss, alpha = _data("squared", 5)
    with pytest.raises(ValueError, match="barrier"):
        train_two_layer(X, Y, loss, alpha, pat, gated=True, solver="barrier")
    with pytest.raises(ValueError, match="barrier"):
        train_two_layer(X, Y, loss, alpha, pat, interpolate=True, solver="barrier")
    onehot = np.eye(2)[(Y[:, 0] > np.median(Y)).astype(int)]
    with pytest.raises(ValueError, match="barrier"):
        train_two_layer(X, onehot, get_loss("cross_entropy"), alpha, pat, solver="barrier")
    gated = TwoLayerProgram(X, Y, pat.D, pat.generators, loss, alpha, gated=True)
    assert solve_two_layer_barrier(gated).status == "failed"


def test_central_generators_keep_the_patterns_and_widen_small_margins():
    X, Y, pat, loss, alpha = _data("squared", 6, n=200)
    # Hyperplanes through data points: relative margins of about 1e-7 (nudged off the points).
    hyper = patterns_from_generators(X, hyperplane_generators(X, 5, np.random.default_rng(0)))
    G = central_generators(X, hyper.D, hyper.generators)
    assert np.array_equal(X @ G >= 0, hyper.D)

    def margins(G):
        rel = (2 * hyper.D - 1) * (X @ G) / np.linalg.norm(G, axis=0)
        return (rel / np.linalg.norm(X, axis=1)[:, None]).min(axis=0)

    assert margins(hyper.generators).min() < 1e-5
    assert np.all(margins(G) > 100 * margins(hyper.generators))


def _interior(rng, e, G):
    x = rng.standard_normal((e, G))
    x[0] = np.linalg.norm(x[1:], axis=0) + rng.random(G) + 1e-3
    return x


def test_nesterov_todd_scaling_and_jordan_algebra():
    from convexnet.solvers.working_set import _cone_step, _jordan, _jordan_solve, _nt_scaling

    rng = np.random.default_rng(0)
    x, y = _interior(rng, 5, 7), _interior(rng, 5, 7)
    W, Winv, lam = _nt_scaling(x, y)
    assert np.allclose(np.matmul(W, Winv), np.eye(5), atol=1e-12)
    assert np.allclose(lam, np.einsum("gij,jg->ig", Winv, y), atol=1e-12)  # W x = W^{-1} y
    assert np.allclose(np.einsum("gij,jg->ig", np.matmul(W, W), x), y, atol=1e-12)
    v = rng.standard_normal((5, 7))
    assert np.allclose(_jordan(lam, _jordan_solve(lam, v)), v, atol=1e-10)
    dx = rng.standard_normal((5, 7)) * 10
    eta = _cone_step(x, dx)
    edge = x + eta * dx
    det = edge[0] ** 2 - np.sum(edge[1:] ** 2, axis=0)
    assert np.isfinite(eta) and np.min(np.abs(det)) < 1e-8 * np.max(x[0] ** 2)
    inner = x + 0.999 * eta * dx
    assert np.all(inner[0] > np.linalg.norm(inner[1:], axis=0))
    # A point past its cone's boundary (rounding, late on the path) has no scaling: a clear
    # FloatingPointError, which stops the primal-dual method, and no NaN or RuntimeWarning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for bad in (edge + 1e-3 * np.r_[-1.0, np.zeros(4)][:, None], -x):
            with pytest.raises(FloatingPointError, match="left its cone"):
                _nt_scaling(bad, y)
            with pytest.raises(FloatingPointError, match="left its cone"):
                _nt_scaling(x, bad)


@pytest.mark.parametrize("task", ["squared", "logistic"])
@pytest.mark.parametrize("seed", [0, 1])
def test_primal_dual_matches_clarabel_and_the_barrier(task, seed):
    from convexnet.solvers.working_set import primal_dual_two_layer

    X, Y, pat, loss, alpha = _data(task, seed, n=80, n_patterns=12)
    program = TwoLayerProgram(X, Y, pat.D, pat.generators, loss, alpha)
    ref = solve_two_layer_conic(program, solver="CLARABEL", tol=1e-10).objective
    gen = central_generators(X, pat.D, pat.generators)
    start = 0.1 * np.hstack([gen, gen])
    z, info = primal_dual_two_layer(X, Y[:, 0], pat.D, alpha, start, loss=task, rel_gap=1e-10)
    zb, _ = barrier_two_layer(X, Y[:, 0], pat.D, alpha, start, loss=task, rel_gap=1e-10)
    P = program.n_patterns
    V, W = z[:, :P].T[:, :, None], z[:, P:].T[:, :, None]
    assert program.cone_violation(V, W) == 0.0
    assert program.objective(V, W) == pytest.approx(ref, rel=1e-7)
    assert info["objective"] == pytest.approx(ref, rel=1e-7)
    assert np.all(info["multipliers"] > 0)
    # either it reached the asked gap itself or the barrier finished the path from its iterate
    assert info.get("gap", 0.0) <= 1e-10 or info["handoff"] > 1e-10
    Vb, Wb = zb[:, :P].T[:, :, None], zb[:, P:].T[:, :, None]
    assert program.objective(V, W) == pytest.approx(program.objective(Vb, Wb), rel=1e-7)


def test_barrier_columns_methods():
    from convexnet.solvers.working_set import barrier_columns

    X, Y, pat, loss, alpha = _data("squared", 5)
    gen = central_generators(X, pat.D, pat.generators)
    a = barrier_columns(X, Y, pat.D, gen, alpha, "squared", [0.1], method="barrier")
    b = barrier_columns(X, Y, pat.D, gen, alpha, "squared", [0.1], method="primal-dual")
    program = TwoLayerProgram(X, Y, pat.D, pat.generators, loss, alpha)
    P = program.n_patterns

    def value(Z):
        return program.objective(
            np.transpose(Z[:, :, :P], (2, 0, 1)), np.transpose(Z[:, :, P:], (2, 0, 1))
        )

    assert value(b[0]) == pytest.approx(value(a[0]), rel=1e-7)
    assert b[2] < a[2]  # fewer Newton steps
    with pytest.raises(ValueError, match="method"):
        barrier_columns(X, Y, pat.D, gen, alpha, "squared", [0.1], method="newton")


@pytest.mark.parametrize("task", ["squared", "logistic"])
def test_auto_method_takes_the_primal_dual_method_at_loose_tolerances(task):
    X, Y, pat, loss, alpha = _data(task, 3, n=120, n_patterns=20)
    program = TwoLayerProgram(X, Y, pat.D, pat.generators, loss, alpha)
    ref = solve_two_layer_conic(program, solver="CLARABEL", tol=1e-10).objective
    loose = solve_two_layer_barrier(program, tol=1e-4)  # auto: the primal-dual method
    barrier = solve_two_layer_barrier(program, tol=1e-4, method="barrier")
    for sol in (loose, barrier):
        assert sol.status == "optimal"
        assert program.cone_violation(sol.V, sol.W) == 0.0
        # a feasible point: never below the optimum, and within the asked gap above it
        assert ref * (1 - 1e-9) <= sol.objective <= ref * (1 + 1e-4)
    assert loose.iterations < barrier.iterations
    tight = solve_two_layer_barrier(program, tol=1e-9)  # auto: the barrier
    assert tight.objective == pytest.approx(ref, rel=1e-8)


def test_newton_limit_returns_a_feasible_iterate_marked_inaccurate():
    X, Y, pat, loss, alpha = _data("squared", 4)
    program = TwoLayerProgram(X, Y, pat.D, pat.generators, loss, alpha)
    ref = solve_two_layer_conic(program, solver="CLARABEL", tol=1e-10).objective
    full = solve_two_layer_barrier(program, tol=1e-10, method="barrier")
    # unscreened, so that the stopped path's iterate is inside every row, not only the kept ones
    cut = solve_two_layer_barrier(program, tol=1e-10, method="barrier", max_newton=40, screen=False)
    assert full.status == "optimal" and full.iterations > 40
    assert cut.status == "inaccurate" and "stopped short" in cut.info["reason"]
    assert cut.iterations <= 40
    assert program.cone_violation(cut.V, cut.W) == 0.0
    assert ref * (1 - 1e-9) <= cut.objective < 2 * ref
    # a limit inside the first centring leaves nothing worth returning
    first = solve_two_layer_barrier(program, tol=1e-10, method="barrier", max_newton=1)
    assert first.status == "failed" and "no convergence" in first.info["reason"]


@pytest.mark.parametrize("task", ["squared", "logistic"])
def test_screened_rows_grow_until_none_is_violated(task, monkeypatch):
    """Row screening solves a relaxation; its answer must be the full program's optimum."""
    import convexnet.solvers.working_set as ws

    X, Y, pat, loss, alpha = _data(task, 6, n=200, d=4, n_patterns=12)
    program = TwoLayerProgram(X, Y, pat.D, pat.generators, loss, alpha)
    ref = solve_two_layer_conic(program, solver="CLARABEL", tol=1e-10).objective
    gen = central_generators(X, pat.D, pat.generators)
    start = 0.1 * np.hstack([gen, gen])
    P = program.n_patterns

    def solve(**kw):
        z, info = barrier_two_layer(
            X, Y[:, 0], pat.D, alpha, start, loss=task, rel_gap=1e-10, screen=True, **kw
        )
        V, W = z[:, :P].T[:, :, None], z[:, P:].T[:, :, None]
        return program, V, W, info

    # one row per feature and group: the first relaxation violates rows, which are added
    monkeypatch.setattr(ws, "SCREEN_ROWS_PER_FEATURE", 1)
    _, V, W, info = solve()
    assert info["screen_rounds"] >= 2
    assert info["screened_rows"] < len(X) * 2 * P
    assert program.cone_violation(V, W) == 0.0
    assert program.objective(V, W) == pytest.approx(ref, rel=1e-7)
    assert np.all(info["multipliers"] >= 0)
    # with one round allowed, the violated relaxation hands over to every row
    monkeypatch.setattr(ws, "SCREEN_ROUNDS", 1)
    _, V, W, info = solve()
    assert info["screen_rounds"] == 2 and info["screened_rows"] == len(X) * 2 * P
    assert program.cone_violation(V, W) == 0.0
    assert program.objective(V, W) == pytest.approx(ref, rel=1e-7)
    # guided by the optimum's own groups, the first relaxation is already exact
    monkeypatch.setattr(ws, "SCREEN_ROUNDS", 4)
    monkeypatch.setattr(ws, "SCREEN_ROWS_PER_FEATURE", 5)
    best = np.hstack([V[:, :, 0].T, W[:, :, 0].T])
    _, V, W, info = solve(directions=best)
    assert program.cone_violation(V, W) == 0.0
    assert program.objective(V, W) == pytest.approx(ref, rel=1e-7)


def test_screening_is_skipped_when_it_would_keep_most_rows():
    import convexnet.solvers.working_set as ws

    X, Y, pat, loss, alpha = _data("squared", 7, n=30, d=3, n_patterns=6)  # 2 * 5 * 4 >= 30
    gen = central_generators(X, pat.D, pat.generators)
    start = 0.1 * np.hstack([gen, gen])
    z, info = barrier_two_layer(X, Y[:, 0], pat.D, alpha, start, rel_gap=1e-9, screen=True)
    assert "screen_rounds" not in info and np.all(info["multipliers"] > 0)
    assert 2 * ws.SCREEN_ROWS_PER_FEATURE * X.shape[1] >= len(X)


def test_pcg_solves_spd_systems_and_reports_its_limit():
    from convexnet.solvers.working_set import _pcg

    rng = np.random.default_rng(8)
    Q = rng.standard_normal((30, 30))
    A = Q @ Q.T + 1e-2 * np.eye(30)
    b = rng.standard_normal(30)
    approx = np.linalg.inv(A + 0.3 * np.diag(np.diag(A)))  # a rough preconditioner
    x, its, ok = _pcg(lambda v: A @ v, b, lambda r: approx @ r, 1e-12, 200)
    assert ok and np.linalg.norm(A @ x - b) <= 1e-10 * np.linalg.norm(b)
    assert its > 1
    _, its, ok = _pcg(lambda v: A @ v, b, lambda r: approx @ r, 1e-12, 1)
    assert not ok and its == 1


def test_refined_solve_stops_when_accurate_and_refines_an_inexact_factor():
    from convexnet.solvers.working_set import PD_REFINE, PD_REFINE_TOL, _refined_solve

    rng = np.random.default_rng(3)
    Q = rng.standard_normal((40, 40))
    A = Q @ Q.T + np.eye(40)
    b = rng.standard_normal(40)
    calls = []

    def counted(inverse):
        def solve(r):
            calls.append(1)
            return inverse @ r

        return solve

    x = _refined_solve(counted(np.linalg.inv(A)), lambda v: A @ v, b)
    assert len(calls) == 1  # an exact factor: no correction
    assert np.linalg.norm(A @ x - b) <= 1e-11 * np.linalg.norm(b)
    calls.clear()
    E = rng.standard_normal((40, 40))
    rough = np.linalg.inv(A) @ (np.eye(40) + 0.01 * E / np.linalg.norm(E, 2))  # 1% off
    x = _refined_solve(counted(rough), lambda v: A @ v, b)
    assert 1 < len(calls) <= PD_REFINE + 1
    assert np.linalg.norm(A @ x - b) <= 10 * PD_REFINE_TOL * np.linalg.norm(b)
    calls.clear()
    useless = np.zeros((40, 40))  # corrections that do not halve the residual stop at once
    _refined_solve(counted(useless), lambda v: A @ v, b)
    assert len(calls) == 2


def test_logistic_barrier_with_stale_hessians_matches_the_formed_one(monkeypatch):
    """Conjugate gradients on the step's own Hessian: the same path, far fewer formations."""
    import convexnet.solvers.working_set as ws

    X, Y, pat, loss, alpha = _data("logistic", 9, n=150, d=4, n_patterns=12)
    program = TwoLayerProgram(X, Y, pat.D, pat.generators, loss, alpha)
    ref = solve_two_layer_conic(program, solver="CLARABEL", tol=1e-10).objective
    formed = []
    original = ws._group_newton

    def counting(B, H, k, exact=None, report=None):
        formed.append(exact is None)
        return original(B, H, k, exact=exact, report=report)

    monkeypatch.setattr(ws, "_group_newton", counting)
    stale = solve_two_layer_barrier(program, tol=1e-10, method="barrier")
    n_formed, n_steps = sum(formed), len(formed)
    formed.clear()
    monkeypatch.setattr(ws, "PCG_REFRESH", 0)  # form it at every step
    fresh = solve_two_layer_barrier(program, tol=1e-10, method="barrier")
    assert all(formed)
    assert n_formed < n_steps / 4
    for sol in (stale, fresh):
        assert sol.status == "optimal"
        assert program.cone_violation(sol.V, sol.W) == 0.0
        assert sol.objective == pytest.approx(ref, rel=1e-7)
    assert stale.objective == pytest.approx(fresh.objective, rel=1e-9)


@pytest.mark.parametrize("n, d", [(60, 3), (400, 7)])
def test_barrier_max_patterns_is_the_largest_count_the_barrier_takes(n, d, monkeypatch):
    import convexnet.solvers.working_set as ws

    monkeypatch.setattr(ws, "BARRIER_MAX_BLOCK", 40)  # small limits, so that data stays small
    monkeypatch.setattr(ws, "BARRIER_MAX_DENSE", 1e4)
    X, Y, _, loss, alpha = _data("squared", n=n, d=d)
    most = barrier_max_patterns(*X.shape)
    assert most >= 1
    for count, applies in ((most, True), (most + 1, False)):
        pat = sample_patterns(X, 3 * most, random_state=0).subset(np.arange(count))
        program = TwoLayerProgram(X, Y, pat.D, pat.generators, loss, alpha)
        assert barrier_applies(program) is applies


def _spd_blocks(rng, G, e, scale=1.0):
    Q = rng.standard_normal((G, e, e))
    return scale * (np.matmul(Q, np.transpose(Q, (0, 2, 1))) + 0.5 * np.eye(e))


def test_eliminating_the_cone_variable_solves_the_full_block_system():
    from convexnet.solvers.working_set import _cone_eliminated, _group_newton

    rng = np.random.default_rng(0)
    k, d = 5, 4
    e, G = d + 1, 2 * k
    B = _spd_blocks(rng, G, e)
    Fd = rng.standard_normal((30, k * d))
    H_data = Fd.T @ Fd
    # The unreduced matrix in (z, s) per group, a = v - w coupling the data term, built densely.
    inside = (np.arange(k)[:, None] * e + np.arange(d)[None, :]).reshape(-1)
    H = np.zeros((k * e, k * e))
    H[np.ix_(inside, inside)] = H_data
    n_var = G * e
    M = np.zeros((n_var, n_var))
    for g in range(G):
        M[g * e : (g + 1) * e, g * e : (g + 1) * e] = B[g]
    E = np.zeros((k * e, n_var))  # a-coordinates (z and s of v minus w) from the stacked groups
    for i in range(k):
        E[i * e : (i + 1) * e, i * e : (i + 1) * e] = np.eye(e)
        E[i * e : (i + 1) * e, (k + i) * e : (k + i + 1) * e] = -np.eye(e)
    M += E.T @ H @ E
    r = rng.standard_normal((e, G))
    expected = np.linalg.solve(M, r.T.reshape(-1)).reshape(G, e).T
    assert np.allclose(_cone_eliminated(B, H_data, k)(r), expected, rtol=1e-9, atol=1e-12)
    assert np.allclose(_group_newton(B, H, k)(r), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("task", ["squared", "logistic"])
def test_the_primal_dual_start_is_central_along_its_ray(task):
    from convexnet.solvers.working_set import _column_data, _predictions, _ray_central_scale

    X, Y, pat, loss, alpha = _data(task, 0, n=80, n_patterns=12)
    gen = central_generators(X, pat.D, pat.generators)
    start = 0.1 * np.hstack([gen, gen])
    column = _column_data(X, Y[:, 0], pat.D, task)
    c, t = _ray_central_scale(X, column, alpha, start)
    assert c != 1.0
    # The barrier's first t at the unscaled start, then the ray's stationarity at c * start:
    # t (d/dc) f(c z, c s) = degree, by central differences of f along the ray.
    norms = np.linalg.norm(start, axis=0)
    s = 2.0 * norms + 1e-3 * norms.max()

    def f(scale):
        pred = _predictions(column.F, scale * start)
        return column.datafit.value(pred, column.y) + alpha * scale * s.sum()

    n, G = column.S.shape
    degree = n * G + 2 * G
    assert t == pytest.approx(degree / f(1.0), rel=1e-12)
    h = 1e-6 * c
    slope = (f(c + h) - f(c - h)) / (2 * h)
    assert t * c * slope == pytest.approx(degree, rel=1e-6)


def test_hand_off_starts_strictly_inside_the_group_cones():
    from convexnet.solvers.working_set import _inside_group_cones

    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, 8)) * np.array([1, 1e-3, 1e-9, 0, 1, 1, 1e-12, 2])
    norms = np.linalg.norm(z, axis=0)
    s = norms * np.array([2.0, 1.5, 1.0, 0.0, 1.0 - 1e-17, 1.0 + 1e-3, 0.5, 3.0])
    inside = _inside_group_cones(s, z)
    assert np.all(inside > 0) and np.all(inside * inside - norms * norms > 0)
    assert np.all(inside >= s)
    well = np.array([0, 1, 5, 7])  # already strictly inside: unchanged
    assert np.array_equal(inside[well], s[well])
    # a raised entry moves by a hair, not to the start's "twice the norm"
    assert inside[4] <= norms[4] * (1 + 1e-9)


@pytest.mark.parametrize("task", ["squared", "logistic"])
def test_tight_solves_take_the_primal_dual_method_on_wide_data(task, monkeypatch):
    import convexnet.solvers.working_set as ws

    X, Y, pat, loss, alpha = _data(task, 4, n=120, d=5, n_patterns=15)
    program = TwoLayerProgram(X, Y, pat.D, pat.generators, loss, alpha)
    ref = solve_two_layer_conic(program, solver="CLARABEL", tol=1e-10).objective
    narrow = solve_two_layer_barrier(program, tol=1e-7)  # 6 columns: the barrier
    monkeypatch.setattr(ws, "PD_TIGHT_MIN_COLUMNS", X.shape[1])
    wide = solve_two_layer_barrier(program, tol=1e-7)  # now "wide": the primal-dual method
    forced = solve_two_layer_barrier(program, tol=1e-7, method="primal-dual")
    barrier = solve_two_layer_barrier(program, tol=1e-7, method="barrier")
    assert narrow.iterations == barrier.iterations
    assert wide.iterations == forced.iterations != barrier.iterations
    for sol in (narrow, wide):
        assert sol.status == "optimal"
        assert program.cone_violation(sol.V, sol.W) == 0.0
        assert ref * (1 - 1e-9) <= sol.objective <= ref * (1 + 1e-6)


@pytest.mark.parametrize("task", ["squared", "logistic"])
def test_a_primal_dual_path_ending_far_from_its_gap_restarts_the_barrier(task, monkeypatch):
    """Above PD_RESTART_GAP the barrier starts afresh instead of continuing the path."""
    import convexnet.solvers.working_set as ws
    from convexnet.solvers.working_set import barrier_columns, primal_dual_two_layer

    X, Y, pat, loss, alpha = _data(task, 6, n=80, n_patterns=12)
    program = TwoLayerProgram(X, Y, pat.D, pat.generators, loss, alpha)
    ref = solve_two_layer_conic(program, solver="CLARABEL", tol=1e-10).objective
    gen = central_generators(X, pat.D, pat.generators)
    start = 0.1 * np.hstack([gen, gen])
    monkeypatch.setattr(ws, "PD_MAX_ITER", 1)  # the path ends after one step, far from 1e-8
    with pytest.raises(BarrierFailure, match="stopped at relative gap") as failure:
        primal_dual_two_layer(X, Y[:, 0], pat.D, alpha, start, loss=task, rel_gap=1e-8)
    spent = failure.value.newton_steps
    assert spent >= 1
    barrier = barrier_columns(X, Y, pat.D, gen, alpha, task, [0.1], method="barrier")
    restarted = barrier_columns(X, Y, pat.D, gen, alpha, task, [0.1], method="primal-dual")
    assert np.array_equal(restarted[0], barrier[0])  # the barrier's own path from the start
    assert restarted[2] == barrier[2] + spent  # its Newton steps count the abandoned ones
    P = program.n_patterns
    Z = restarted[0]
    V, W = np.transpose(Z[:, :, :P], (2, 0, 1)), np.transpose(Z[:, :, P:], (2, 0, 1))
    assert program.objective(V, W) == pytest.approx(ref, rel=1e-6)


@pytest.mark.parametrize("task", ["squared", "logistic"])
def test_accept_tol_keeps_a_stalled_primal_dual_iterate(task, monkeypatch):
    """A path that stops within accept_tol is returned as it is (no hand-off); the trainer's
    certificate then decides, and a re-solve follows the path to the asked gap."""
    import convexnet.solvers.working_set as ws

    X, Y, pat, loss, alpha = _data(task, 7, n=120, n_patterns=15)
    program = TwoLayerProgram(X, Y, pat.D, pat.generators, loss, alpha)
    ref = solve_two_layer_conic(program, solver="CLARABEL", tol=1e-10).objective
    monkeypatch.setattr(ws, "PD_MAX_ITER", 12)  # stops short of 1e-10, below PD_RESTART_GAP
    monkeypatch.setattr(ws, "PD_RESTART_GAP", 1.0)
    kept = solve_two_layer_barrier(program, tol=1e-10, method="primal-dual", accept_tol=1.0)
    full = solve_two_layer_barrier(program, tol=1e-10, method="primal-dual")
    assert kept.iterations < full.iterations  # no hand-off
    for sol in (kept, full):
        assert program.cone_violation(sol.V, sol.W) == 0.0
        assert sol.objective >= ref * (1 - 1e-9)
    assert full.objective == pytest.approx(ref, rel=1e-7)
    gap = (kept.objective - ref) / ref
    assert 1e-10 < gap < 1.0  # short of the asked gap, within the accepted one


def test_the_primal_dual_method_stops_for_slow_progress_only_at_small_gaps(monkeypatch):
    """Slow steps far from the optimum do not end the path (PD_SLOW_BELOW)."""
    import convexnet.solvers.working_set as ws
    from convexnet.solvers.working_set import primal_dual_two_layer

    X, Y, pat, loss, alpha = _data("logistic", 8, n=120, n_patterns=15)
    gen = central_generators(X, pat.D, pat.generators)
    start = 0.1 * np.hstack([gen, gen])
    args = (X, Y[:, 0], pat.D, alpha, start)
    monkeypatch.setattr(ws, "PD_RESTART_GAP", np.inf)
    monkeypatch.setattr(ws, "PD_SLOW_BELOW", np.inf)  # the earlier rule: slow anywhere stops it
    calls = []
    real = ws._primal_dual_step

    def short(*a):  # steps of 0.12 at most: not "short" (0.1), but five never halve the gap
        eta, direction, sigma = real(*a)
        calls.append(eta)
        return min(eta, 0.12), direction, sigma

    monkeypatch.setattr(ws, "_primal_dual_step", short)
    monkeypatch.setattr(ws, "PD_MAX_ITER", 20)
    primal_dual_two_layer(*args, loss="logistic", rel_gap=1e-8)
    early = len(calls)
    calls.clear()
    monkeypatch.setattr(ws, "PD_SLOW_BELOW", 1e-4)
    primal_dual_two_layer(*args, loss="logistic", rel_gap=1e-8)
    assert early == 5 and len(calls) == 20  # it went on to the iteration limit
