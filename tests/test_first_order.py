"""First-order solvers (issue 3): against Clarabel on the same program, backends, statuses."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from convexnet import ConvexReLUClassifier, ConvexReLUCV, ConvexReLURegressor
from convexnet.losses import get_loss
from convexnet.patterns import enumerate_patterns, sample_patterns
from convexnet.programs.two_layer import TwoLayerProgram
from convexnet.solvers.conic import solve_two_layer_conic
from convexnet.solvers.first_order import (
    LiftedOperator,
    first_order_memory,
    project_onto_cones,
    solve_two_layer_first_order,
)
from convexnet.training import resolve_two_layer_solver, train_two_layer


def _data(n=60, d=3, seed=0, task="regression", c=3):
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.standard_normal((n, d)), np.ones((n, 1))])
    h = np.maximum(X @ rng.standard_normal((d + 1, 4)), 0) @ rng.standard_normal(4)
    if task == "regression":
        return X, (h + 0.1 * rng.standard_normal(n))[:, None], "squared"
    if task == "logistic":
        return X, np.sign(h - np.median(h))[:, None], "logistic"
    labels = np.digitize(h, np.quantile(h, np.linspace(0, 1, c + 1)[1:-1]))
    return X, np.eye(c)[labels], "cross_entropy"


def _program(task, gated, n_patterns=12, alpha=1.0, seed=0):
    X, Y, loss = _data(task=task, seed=seed)
    pat = sample_patterns(X, n_patterns, random_state=seed)
    return TwoLayerProgram(X, Y, pat.D, pat.generators, get_loss(loss), alpha, gated=gated)


@pytest.mark.parametrize("task", ["regression", "logistic", "cross_entropy"])
@pytest.mark.parametrize("gated", [True, False])
def test_matches_clarabel_on_the_same_program(task, gated):
    program = _program(task, gated)
    tol = 1e-7
    ours = solve_two_layer_first_order(program, tol=tol, max_iter=40_000 if gated else 8_000)
    ref = solve_two_layer_conic(
        program, solver="CLARABEL" if task != "cross_entropy" else "SCS", tol=1e-9, max_iter=20_000
    )
    gap = ours.info["relative_gap"]
    assert ours.status == ("optimal" if gap <= tol else "inaccurate")
    assert ours.status == "optimal" and gap <= tol, ours.info
    # The certified dual bound holds for the reference solution too (weak duality).
    assert ours.info["dual"] <= ref.objective * (1 + 1e-7)
    assert abs(ours.info["primal"] - ref.objective) <= 1e-6 * abs(ref.objective)
    if not gated:
        assert ours.info["violation"] <= 1e-12
        assert gap >= -1e-9  # projected onto the cones: a network of the certified class


def test_lifted_operator_adjoint_is_exact():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 4))
    M = (rng.random((30, 7)) > 0.5) * rng.choice([-1.0, 1.0], 7)
    op = LiftedOperator(X, M)
    Z = rng.standard_normal((4, 2, 7))
    R = rng.standard_normal((30, 2))
    lhs = np.sum(op.predict(op.image(Z)) * R)
    rhs = np.sum(Z * op.adjoint(R))
    assert lhs == pytest.approx(rhs, rel=1e-12)
    dense = np.einsum("nq,nd->ndq", M, X)  # the lifted matrix, only built here to check
    assert np.allclose(op.predict(op.image(Z))[:, 0], np.einsum("ndq,dq->n", dense, Z[:, 0]))


def test_cone_projection_is_the_euclidean_projection():
    import cvxpy as cp

    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 3))
    D = (X @ rng.standard_normal((3, 5))) >= 0
    S = 2.0 * D - 1.0
    Z = rng.standard_normal((3, 1, 5))
    P = project_onto_cones(X, S, Z)
    assert np.min(S[:, None, :] * np.einsum("nd,dcq->ncq", X, P)) >= -1e-10
    assert np.allclose(project_onto_cones(X, S, P), P, atol=1e-12)
    for q in range(5):  # against an independent QP: the nearest point of the cone
        u = cp.Variable(3)
        A = S[:, q][:, None] * X
        cp.Problem(cp.Minimize(cp.sum_squares(u - Z[:, 0, q])), [A @ u >= 0]).solve()
        assert np.allclose(P[:, 0, q], u.value, atol=1e-6)
    assert np.linalg.norm(P) > 0


def test_refined_kappa_bounds_the_exact_constraint_and_is_exact_above_alpha():
    """refined_kappa projects only the groups whose cheap bounds exceed alpha: never below
    relu_kappa (every projection computed), and equal to it wherever it is above alpha."""
    from convexnet.certificates import refined_kappa, relu_kappa

    rng = np.random.default_rng(5)
    X = rng.standard_normal((50, 4))
    pat = sample_patterns(X, 15, random_state=1)
    P = pat.n_patterns
    for trial in range(6):
        lam = rng.standard_normal((50, 2))
        mu = np.abs(rng.standard_normal((50, 2, 2 * P))) * (trial % 3)  # zero, small, larger
        exact = relu_kappa(X, pat.D, lam)
        for alpha in (0.5 * exact.max(), 0.9 * exact.min(), 2.0 * exact.max()):
            got = refined_kappa(X, pat.D, lam, mu, alpha)
            assert np.all(got >= exact * (1 - 1e-9))
            above = exact > alpha
            assert np.allclose(got[above], exact[above], rtol=1e-9)


def test_torch_backend_matches_numpy():
    torch = pytest.importorskip("torch")
    assert torch is not None
    program = _program("logistic", gated=True)
    a = solve_two_layer_first_order(program, tol=1e-8)
    b = solve_two_layer_first_order(program, tol=1e-8, device="cpu")
    assert b.info["device"] == "cpu"
    assert b.info["primal"] == pytest.approx(a.info["primal"], rel=1e-8)
    f32 = solve_two_layer_first_order(program, tol=1e-4, device="cpu", dtype="float32")
    assert f32.info["dtype"] == "float32"
    assert f32.status == "optimal" and f32.info["relative_gap"] <= 1e-4
    assert f32.info["primal"] == pytest.approx(a.info["primal"], rel=1e-3)


def test_max_iter_is_a_status_not_a_silent_return():
    program = _program("regression", gated=False)
    sol = solve_two_layer_first_order(program, tol=1e-12, max_iter=20)
    assert sol.status == "inaccurate"
    assert "max_iter" in sol.info["reason"]
    X, Y, _ = _data()
    with pytest.warns(ConvergenceWarning):
        est = ConvexReLURegressor(
            alpha=1.0, solver="auglag", max_iter=20, tol=1e-12, activation_patterns=12
        ).fit(X[:, :-1], Y[:, 0])
    assert est.status_ == "inaccurate"


def test_bad_arguments_are_refused_by_name():
    program = _program("regression", gated=False)
    with pytest.raises(ValueError, match="dtype"):
        solve_two_layer_first_order(program, dtype="float16")
    with pytest.raises(ValueError, match="device"):
        solve_two_layer_first_order(program, device="tpu")
    with pytest.raises(ValueError, match="fista"):
        resolve_two_layer_solver("fista", program)
    with pytest.raises(ValueError, match="check_every"):
        solve_two_layer_first_order(program, check_every=0)
    with pytest.raises(ValueError, match="max_iter"):
        solve_two_layer_first_order(program, max_iter=-1)
    other = _program("regression", gated=False, n_patterns=5)
    with pytest.raises(ValueError, match="warm_start"):
        solve_two_layer_first_order(program, warm_start=solve_two_layer_first_order(other))
    X, Y, _ = _data()
    with pytest.raises(ValueError, match="device"):
        ConvexReLURegressor(device="nonsense").fit(X, Y[:, 0])
    with pytest.raises(ValueError, match="interpolation"):
        pat = sample_patterns(X, 5, random_state=0)
        train_two_layer(X, Y, get_loss("squared"), 1.0, pat, interpolate=True, solver="auglag")


def test_auto_picks_first_order_above_the_size():
    small = _program("regression", gated=True)
    assert resolve_two_layer_solver("auto", small)[0] == "CLARABEL"
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 20))
    pat = sample_patterns(X, 20, random_state=0)
    big = TwoLayerProgram(X, X[:, :1], pat.D, pat.generators, get_loss("squared"), 1.0, gated=True)
    assert resolve_two_layer_solver("auto", big) == ["fista"]


def test_memory_is_estimated_and_refused_with_advice():
    need = first_order_memory(10**7, 100, 1, 10**4, gated=False)
    assert need > 10**12
    X = np.zeros((5, 2))
    X[:, 0] = 1.0

    class Huge:
        D = np.ones((5, 1), dtype=bool)
        generators = np.ones((2, 1))
        is_complete = False

    from convexnet import training

    original = training.first_order_memory
    training.first_order_memory = lambda *a, **k: 10**18
    try:
        with pytest.raises(MemoryError, match="fewer patterns"):
            train_two_layer(X, X[:, :1], get_loss("squared"), 1.0, Huge(), solver="auglag")
    finally:
        training.first_order_memory = original


def test_global_certificate_never_beaten_by_nonconvex_training():
    torch = pytest.importorskip("torch")
    assert torch is not None
    from convexnet.baselines import train_two_layer_nonconvex

    rng = np.random.default_rng(3)
    X = np.hstack([rng.standard_normal((25, 1)), np.ones((25, 1))])
    y = np.sin(3 * X[:, 0]) + 0.1 * rng.standard_normal(25)
    pat = enumerate_patterns(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = train_two_layer(
            X, y[:, None], get_loss("squared"), 1.0, pat, solver="auglag", tol=1e-6, max_iter=2000
        )
    assert fit.certificate.scope == "all networks of any width"
    assert 0 <= fit.certificate.relative_gap <= 1e-6
    res = train_two_layer_nonconvex(
        X, y, width=2 * max(fit.network.n_neurons, 1), alpha=1.0, n_starts=6, random_state=0
    )
    assert res.best_objective >= fit.certificate.dual - 1e-9


def test_regularisation_path_is_warm_started_and_monotone():
    X, Y, _ = _data(n=80)
    est = ConvexReLURegressor(gated=True, solver="fista", activation_patterns=20, random_state=0)
    fits = est.path(X[:, :-1], Y[:, 0], n_alphas=5)
    alphas = [f.alpha for f in fits]
    assert alphas == sorted(alphas, reverse=True)
    objectives = [f.objective_ for f in fits]
    assert all(a >= b - 1e-9 for a, b in zip(objectives, objectives[1:]))
    assert all(f.status_ == "optimal" for f in fits)
    assert fits[0].n_neurons_ <= fits[-1].n_neurons_
    # Each point of the path equals a cold solve at the same alpha (warm starts save few
    # iterations here: FISTA's restarts forget most of the starting point's advantage).
    cold = ConvexReLURegressor(
        alpha=alphas[2], gated=True, solver="fista", activation_patterns=20, random_state=0
    ).fit(X[:, :-1], Y[:, 0])
    assert cold.objective_ == pytest.approx(objectives[2], rel=1e-5)
    # path() leaves the estimator it is called on untouched.
    est.fit(X[:, :-1], Y[:, 0])
    est.path(np.hstack([X, X]), Y[:, 0], n_alphas=2)
    assert est.n_features_in_ == X.shape[1] - 1
    assert est.predict(X[:, :-1]).shape == (X.shape[0],)


def test_exact_solver_at_small_alpha_matches_clarabel():
    # Small alpha, few samples: the augmented Lagrangian alone stalled here (review finding);
    # the support polish certifies it.
    rng = np.random.default_rng(3)
    n, d = rng.integers(15, 50), rng.integers(2, 5)
    X = np.hstack([rng.standard_normal((n, d)), np.ones((n, 1))])
    h = np.maximum(X @ rng.standard_normal((d + 1, 3)), 0) @ rng.standard_normal(3)
    y = (h + 0.3 * rng.standard_normal(n))[:, None]
    pat = sample_patterns(X, 11, random_state=3)
    program = TwoLayerProgram(X, y, pat.D, pat.generators, get_loss("squared"), 0.05)
    ours = solve_two_layer_first_order(program, tol=1e-6, max_iter=5000)
    ref = solve_two_layer_conic(program, solver="CLARABEL", tol=1e-10)
    assert ours.status == "optimal"
    assert abs(ours.info["primal"] - ref.objective) <= 1e-6 * ref.objective


def test_cross_validation_with_joblib():
    X, Y, _ = _data(n=90, task="logistic")
    cv = ConvexReLUCV(
        ConvexReLUClassifier(gated=True, solver="fista", activation_patterns=10, random_state=0),
        n_alphas=4,
        cv=3,
        n_jobs=2,
    ).fit(X[:, :-1], Y[:, 0])
    assert cv.cv_scores_.shape == (3, 4)
    assert cv.alpha_ in cv.alphas_
    assert cv.score(X[:, :-1], Y[:, 0]) == cv.best_estimator_.score(X[:, :-1], Y[:, 0])
    assert cv.mean_scores_.max() > 0.6
    from sklearn.base import is_classifier

    assert is_classifier(cv) and not is_classifier(ConvexReLUCV())
    with pytest.raises(ValueError, match="max_iter"):
        ConvexReLUCV(ConvexReLURegressor(max_iter=0)).fit(X[:, :-1], Y[:, 0])


def test_cross_validation_on_a_dask_local_cluster():
    distributed = pytest.importorskip("dask.distributed")
    import joblib

    X, Y, _ = _data(n=60)
    est = ConvexReLURegressor(gated=True, solver="fista", activation_patterns=8, random_state=0)
    local = ConvexReLUCV(est, n_alphas=3, cv=3).fit(X[:, :-1], Y[:, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False)
        with distributed.Client(cluster), joblib.parallel_backend("dask"):
            remote = ConvexReLUCV(est, n_alphas=3, cv=3, n_jobs=-1).fit(X[:, :-1], Y[:, 0])
        cluster.close()
    assert np.allclose(remote.cv_scores_, local.cv_scores_, rtol=1e-6)
    assert remote.alpha_ == local.alpha_


def _planted(n, d, n_patterns, frac, seed=0):
    """The benchmark's planted teacher (benchmarks/exact_case.py), at a small size."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    h = np.maximum(X @ rng.standard_normal((d, 3)), 0) @ np.array([1.0, -1.0, 0.5])
    y = h + 0.1 * rng.standard_normal(n)
    pat = sample_patterns(X, n_patterns, random_state=seed)
    alpha = frac * np.linalg.norm(X.T @ (pat.D * y[:, None]), axis=0).max()
    return TwoLayerProgram(X, y[:, None], pat.D, pat.generators, get_loss("squared"), alpha)


@pytest.mark.parametrize("seed", [0, 1])
def test_exact_solver_polishes_by_barrier_and_matches_clarabel(seed):
    program = _planted(300, 6, 30, 0.1, seed=seed)
    ours = solve_two_layer_first_order(program, tol=1e-7)
    ref = solve_two_layer_conic(program, solver="CLARABEL", tol=1e-10)
    assert ours.status == "optimal", ours.info
    assert ours.info["polish"] == "barrier"
    assert 0 <= ours.info["relative_gap"] <= 1e-7
    assert ours.info["violation"] <= 1e-12
    assert ours.info["dual"] <= ref.objective * (1 + 1e-9)
    assert abs(ours.info["primal"] - ref.objective) <= 1e-6 * ref.objective


def test_barrier_newton_solve_survives_a_numerically_indefinite_system():
    """The barrier's Newton matrix ``H + blkdiag(Cinv)`` can lose definiteness to rounding
    (weights 1/m^2 of rows on the boundary reach 1e16): the solve then still returns a descent
    direction, exact where H vanishes."""
    from convexnet.solvers.working_set import _newton_factor

    rng = np.random.default_rng(0)
    k, d = 6, 5
    B = rng.normal(size=(k * d, 4))
    H = B @ B.T * 1e16  # PSD of rank 4 of 30, scaled like near-boundary barrier weights
    Cinv = np.stack([np.eye(d) * 1e-2] * k)  # small blocks, below the rounding of H
    A = H.copy()
    for i in range(k):
        A[i * d : (i + 1) * d, i * d : (i + 1) * d] += Cinv[i]
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(A)
    b = rng.normal(size=(k, d))
    x = _newton_factor(H, Cinv)(b)
    assert np.all(np.isfinite(x)) and float(np.sum(b * x)) > 0  # a descent direction
    good = B @ B.T + np.eye(k * d)  # a definite system: the direct Cholesky, exact
    x = _newton_factor(good - np.eye(k * d), np.stack([np.eye(d)] * k))(b)
    assert np.allclose(good @ x.reshape(-1), b.reshape(-1))


@pytest.mark.parametrize("seed", [0, 1])
def test_exact_logistic_solver_polishes_by_barrier_and_matches_clarabel(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 5))
    y = np.where(np.maximum(X @ rng.normal(size=(5, 3)), 0) @ [1.0, -1.0, 0.5] > 0.2, 1.0, -1.0)
    pat = sample_patterns(X, 20, random_state=seed)
    alpha = 0.1 * np.linalg.norm(X.T @ (pat.D * (y / 2)[:, None]), axis=0).max()
    program = TwoLayerProgram(X, y[:, None], pat.D, pat.generators, get_loss("logistic"), alpha)
    ours = solve_two_layer_first_order(program, tol=1e-7)
    ref = solve_two_layer_conic(program, solver="CLARABEL", tol=1e-10)
    assert ours.status == "optimal", ours.info
    assert ours.info["polish"] == "barrier"
    assert 0 <= ours.info["relative_gap"] <= 1e-7
    assert ours.info["dual"] <= ref.objective * (1 + 1e-9)  # a certified lower bound
    assert ours.info["primal"] <= ref.objective * (1 + 1e-6)


def test_capped_screen_on_many_patterns_matches_clarabel(monkeypatch):
    """Past ``POLISH_SCREEN_COLUMNS / d`` patterns only the largest groups are screened; the
    patterns pricing finds bring back the rest, and the result is Clarabel's optimum."""
    import convexnet.solvers.first_order as fo

    program = _planted(300, 6, 150, 0.05, seed=0)
    monkeypatch.setattr(fo, "POLISH_SCREEN_COLUMNS", 6 * 17)  # a cap of 17 patterns
    supports = []
    barrier = fo._barrier_polish

    def spy(program, Z, support, rel_gap=fo.POLISH_REL_GAP):
        supports.append((support.size, rel_gap))
        return barrier(program, Z, support, rel_gap=rel_gap)

    monkeypatch.setattr(fo, "_barrier_polish", spy)
    ours = solve_two_layer_first_order(program, tol=1e-7)
    ref = solve_two_layer_conic(program, solver="CLARABEL", tol=1e-10)
    screens = [k for k, gap in supports if gap == fo.POLISH_SCREEN_GAP]
    assert screens and screens[0] == 17  # the screen was capped
    assert ours.status == "optimal", ours.info
    assert 0 <= ours.info["relative_gap"] <= 1e-7
    assert ours.info["dual"] <= ref.objective * (1 + 1e-9)
    assert abs(ours.info["primal"] - ref.objective) <= 1e-6 * ref.objective


def test_support_iterations_run_in_float32_and_certify_in_float64():
    """Exact squared-loss program on NumPy in float64: the augmented Lagrangian runs in
    float32, the polish and the certificate in float64 (the optimum of Clarabel, a float64
    solution and multipliers); float32 asked for, or the gated program, stay as asked."""
    program = _planted(300, 6, 30, 0.1, seed=0)
    ours = solve_two_layer_first_order(program, tol=1e-7)
    ref = solve_two_layer_conic(program, solver="CLARABEL", tol=1e-10)
    assert ours.info["support_dtype"] == "float32" and ours.info["dtype"] == "float64"
    assert ours.status == "optimal" and 0 <= ours.info["relative_gap"] <= 1e-7
    assert ours.V.dtype == np.float64 and ours.info["multipliers"].dtype == np.float64
    assert ours.info["dual"] <= ref.objective * (1 + 1e-9)
    assert abs(ours.info["primal"] - ref.objective) <= 1e-7 * ref.objective
    low = solve_two_layer_first_order(program, tol=1e-4, dtype="float32")
    assert low.info["support_dtype"] == "float32" and low.info["dtype"] == "float32"
    # targets beyond float32's range: float64 throughout, the same optimum (scaled)
    huge = TwoLayerProgram(
        program.X,
        1e20 * program.Y,
        program.D,
        program.generators,
        program.loss,
        1e20 * program.alpha,
    )
    big = solve_two_layer_first_order(huge, tol=1e-7)
    assert big.info["support_dtype"] == "float64" and big.status == "optimal"
    assert abs(big.objective / 1e40 - ours.objective) <= 1e-7 * ours.objective


def test_float32_overflow_hands_over_to_float64(monkeypatch):
    """Without the range guard, features scaled by 1e20 overflow float32: the float64 method
    takes over from the start and still certifies the (scaled) optimum, with no warning."""
    import warnings

    import convexnet.solvers.first_order as fo

    program = _planted(300, 6, 30, 0.1, seed=0)
    ours = solve_two_layer_first_order(program, tol=1e-7)
    monkeypatch.setattr(fo, "LOW_RANGE", (0.0, np.inf))
    scaled = TwoLayerProgram(  # alpha scales with X: the same optimal objective
        1e20 * program.X,
        program.Y,
        program.D,
        program.generators,
        program.loss,
        1e20 * program.alpha,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        big = solve_two_layer_first_order(scaled, tol=1e-7)
    assert big.status == "optimal" and big.info["support_dtype"] == "float64"
    assert big.info["support_iterations"] > 0
    assert abs(big.objective - ours.objective) <= 1e-7 * ours.objective


def test_float64_method_continues_where_no_polish_certifies_the_float32_iterates(monkeypatch):
    """Polishes that fail during the float32 iterations hand over to the float64 method, which
    starts from the float32 iterate, polishes and certifies Clarabel's optimum."""
    import convexnet.solvers.first_order as fo

    program = _planted(300, 6, 30, 0.1, seed=1)
    stages = []
    solve, barrier, clarabel = fo._solve, fo._barrier_polish_and_price, fo.polish_on_support

    def staged(*args, low, **kwargs):
        stages.append(low)
        return solve(*args, low=low, **kwargs)

    def failing(real):
        return lambda *args, **kwargs: None if stages[-1] else real(*args, **kwargs)

    monkeypatch.setattr(fo, "_solve", staged)
    monkeypatch.setattr(fo, "_barrier_polish_and_price", failing(barrier))
    monkeypatch.setattr(fo, "polish_on_support", failing(clarabel))
    ours = solve_two_layer_first_order(program, tol=1e-7)
    ref = solve_two_layer_conic(program, solver="CLARABEL", tol=1e-10)
    assert stages == [True, False]
    assert ours.status == "optimal" and ours.info["support_dtype"] == "float64"
    assert 0 < ours.info["support_iterations"] < ours.iterations
    assert 0 <= ours.info["relative_gap"] <= 1e-7
    assert ours.info["dual"] <= ref.objective * (1 + 1e-9)
    assert abs(ours.info["primal"] - ref.objective) <= 1e-7 * ref.objective


def test_polish_period_shrinks_with_patterns_and_with_few_features():
    from convexnet.solvers.first_order import (
        POLISH_EVERY,
        POLISH_EVERY_FEATURES,
        POLISH_EVERY_MIN,
        _polish_period,
    )

    assert _polish_period(100, POLISH_EVERY_FEATURES) == POLISH_EVERY
    assert _polish_period(100, 51) == POLISH_EVERY  # never more than POLISH_EVERY
    assert _polish_period(50, 51) == POLISH_EVERY
    assert _polish_period(100, 11) == POLISH_EVERY * 11 // POLISH_EVERY_FEATURES
    assert _polish_period(50, 11) == _polish_period(100, 11)
    assert _polish_period(400, 21) == POLISH_EVERY // 4
    assert _polish_period(1000, 11) == _polish_period(10**6, 2) == POLISH_EVERY_MIN


def test_pricing_orders_violators_and_stops_at_its_limit():
    """``_priced_out`` returns the violated patterns most violated first, each one checked
    against an independent CVXPY solve of ``max lam^T D X u`` over the cone, ``||u|| <= 1``."""
    import cvxpy as cp

    from convexnet.solvers.first_order import _priced_out, _relu_predictions

    program = _planted(120, 4, 40, 0.05, seed=1)
    P = program.n_patterns
    support = np.arange(2)
    Z = np.zeros((program.n_features, 1, 2 * P))
    Z[:, 0, support] = program.generators[:, support]
    mult = np.zeros((program.n_samples, 1, 2 * P))
    extra, _ = _priced_out(program, Z, support, mult.copy(), mult.copy())
    assert extra.size >= 3 and not set(extra) & set(support)
    X, alpha = program.X, program.alpha
    lam = program.loss.dual_point(_relu_predictions(X, Z), program.Y)[:, 0]

    def exact(i):
        u = cp.Variable(X.shape[1])
        S = 2 * program.D[:, i] - 1.0
        best = 0.0
        for sign in (1.0, -1.0):
            value = sign * (lam * program.D[:, i]) @ (X @ u)
            prob = cp.Problem(cp.Maximize(value), [cp.norm(u) <= 1, cp.multiply(S, X @ u) >= 0])
            prob.solve(solver="CLARABEL")
            best = max(best, prob.value)
        return best

    values = [exact(i) for i in extra]
    assert all(v > alpha * (1 + 1e-7) for v in values)
    assert np.all(np.diff(values) <= 1e-6 * alpha)  # most violated first
    first, _ = _priced_out(program, Z, support, mult.copy(), mult.copy(), limit=2)
    assert first.size == 2 and set(first) <= set(extra)


def test_descended_multipliers_give_valid_tighter_bounds():
    """The batched projected-gradient multipliers lower the pricing bounds, never below the
    exact cone-projection value (NNLS, checked group by group)."""
    from convexnet.certificates import cone_projection_norm
    from convexnet.solvers.first_order import _descend_multipliers

    program = _planted(150, 4, 30, 0.05, seed=2)
    X, P = program.X, program.n_patterns
    rng = np.random.default_rng(0)
    lam = rng.standard_normal((program.n_samples, 1))
    Df = program.D.astype(float)
    M = np.concatenate([Df, -Df], axis=1)
    S = np.concatenate([2 * Df - 1, 2 * Df - 1], axis=1)
    mult = np.zeros((program.n_samples, 1, 2 * P))
    kappa = np.linalg.norm(X.T @ (lam * M), axis=0)[None, :]
    cols, qs = np.zeros(2 * P, dtype=int), np.arange(2 * P)
    tight, nu = _descend_multipliers(X, lam, M, S, mult, kappa, cols, qs, steps=50)
    assert np.all(nu >= 0)
    assert np.all(tight <= kappa + 1e-12) and np.mean(tight < 0.9 * kappa) > 0.5
    for q in range(2 * P):
        exact = cone_projection_norm(S[:, q][:, None] * X, X.T @ (M[:, q] * lam[:, 0]))
        assert tight[0, q] >= exact * (1 - 1e-9)
        again = np.linalg.norm(X.T @ (M[:, q] * lam[:, 0] + S[:, q] * nu[:, 0, q]))
        assert abs(again - tight[0, q]) <= 1e-9 * max(again, 1.0)  # the bound its nu gives


def test_fitted_network_keeps_the_solvers_certificate():
    # recover_two_layer drops atoms below 1e-7 of the largest: the network's outputs move by
    # ~3e-9 here, and its own dual point alone certified only 6.5e-7 > tol = 1e-7 although the
    # solver certified 1.4e-9. The certificate now also tries the solution's dual point.
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 5))
    y = np.maximum(X @ rng.standard_normal(5), 0) + 0.1 * rng.standard_normal(300)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = ConvexReLURegressor(
            alpha=0.05, activation_patterns=60, random_state=0, tol=1e-7, solver="auglag"
        ).fit(X, y)
    sol = est._solution
    assert sol.info["relative_gap"] <= 1e-7
    assert est.relative_duality_gap_ <= 1e-7
    # The returned multipliers are those that certified the polish: their cheap bound is
    # within a small factor of alpha (the augmented Lagrangian's own were above 200 on this
    # program; the polish's were 1.16 alpha with the barrier's support at 0.2 of the largest
    # group, 2.04 alpha at 0.25, where the exact cone projections certify the rest).
    from convexnet.certificates import multiplier_kappa

    Xa = np.hstack([X, np.ones((300, 1))])
    D = est.patterns_.D
    lam = get_loss("squared").dual_point(est.predict(X)[:, None], y[:, None])
    assert multiplier_kappa(Xa, D, lam, sol.info["multipliers"]).max() <= 4 * 0.05
    ref = solve_two_layer_conic(
        TwoLayerProgram(Xa, y[:, None], D, est.patterns_.generators, get_loss("squared"), 0.05),
        tol=1e-9,
    )
    assert est.objective_ == pytest.approx(ref.objective, rel=1e-6)
    assert est.dual_objective_ <= ref.objective * (1 + 1e-9)
