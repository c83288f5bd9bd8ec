"""Newton polish of the gated program (issue 3): against Clarabel, from wrong supports."""

import numpy as np
import pytest

import convexnet.solvers.first_order as first_order
import convexnet.solvers.gated_polish as gated_polish
from convexnet.losses import get_loss
from convexnet.patterns import sample_patterns
from convexnet.programs.two_layer import TwoLayerProgram
from convexnet.solvers.conic import solve_two_layer_conic
from convexnet.solvers.gated_polish import polish_gated


def _program(loss, n=120, d=4, P=40, frac=0.15, seed=0, c=1):
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.standard_normal((n, d)), np.ones((n, 1))])
    h = np.maximum(X @ rng.standard_normal((d + 1, 4)), 0) @ rng.standard_normal(4)
    if loss == "squared":
        Y = (h + 0.1 * rng.standard_normal(n))[:, None]
        lam0 = Y
    elif loss == "logistic":
        Y = np.where(h > np.median(h), 1.0, -1.0)[:, None]
        lam0 = Y / 2
    else:
        labels = np.digitize(h, np.quantile(h, np.linspace(0, 1, c + 1)[1:-1]))
        Y = np.eye(c)[labels]
        lam0 = Y - 1.0 / c
    pat = sample_patterns(X, P, random_state=seed)
    alpha_max = np.linalg.norm(
        np.einsum("nd,nq,nc->dcq", X, pat.D.astype(float), lam0).reshape(-1, P), axis=0
    ).max()
    return TwoLayerProgram(
        X, Y, pat.D, pat.generators, get_loss(loss), frac * alpha_max, gated=True
    )


def _objective_and_bound(program, A):
    """Gated objective of ``A`` (``d x P``) and the dual bound of its dual point, rescaled."""
    X, y, Df = program.X, program.Y, program.D.astype(float)
    pred = np.sum(Df * (X @ A), axis=1, keepdims=True)
    loss = program.loss
    primal = loss.value(pred, y) + program.alpha * np.linalg.norm(A, axis=0).sum()
    lam = -loss.gradient(pred, y)
    kappa = np.linalg.norm(X.T @ (Df * lam), axis=0).max()
    dual = loss.dual_value(lam * min(1.0, program.alpha / kappa), y)
    return primal, dual


def _clarabel(program):
    ref = solve_two_layer_conic(program, solver="CLARABEL", tol=1e-9, max_iter=500)
    assert ref.status == "optimal"
    return ref.V[:, :, 0].T, ref.objective


@pytest.mark.parametrize("newton", ["Cholesky", "conjugate gradients"])
@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_polish_from_a_loose_iterate_reaches_the_clarabel_optimum(loss, newton, monkeypatch):
    if newton == "conjugate gradients":  # the matrix-free Newton systems of large supports
        monkeypatch.setattr(gated_polish, "DENSE_MAX_FLOPS", 0.0)
    program = _program(loss)
    A_ref, ref = _clarabel(program)
    monkeypatch.setattr(first_order, "GATED_POLISH_BELOW", 0.0)  # FISTA alone, loosely
    loose = first_order.solve_two_layer_first_order(program, tol=1e-2)
    assert loose.info["relative_gap"] > 1e-6
    A = polish_gated(
        program.X, program.Y[:, 0], program.D, program.alpha, program.loss, loose.V[:, :, 0].T
    )
    primal, dual = _objective_and_bound(program, A)
    assert primal - dual <= 1e-9 * abs(primal)  # certified over every pattern
    assert dual <= ref * (1 + 1e-9)  # weak duality against Clarabel's solution
    assert primal == pytest.approx(ref, rel=1e-8)
    support = np.linalg.norm(A_ref, axis=0) > 1e-6 * np.linalg.norm(A_ref, axis=0).max()
    assert np.array_equal(np.linalg.norm(A, axis=0) > 0, support)


@pytest.mark.parametrize("newton", ["Cholesky", "conjugate gradients"])
@pytest.mark.parametrize("start", ["half of the support", "support and ten more"])
def test_polish_grows_and_prunes_a_wrong_support(start, newton, monkeypatch):
    if newton == "conjugate gradients":
        monkeypatch.setattr(gated_polish, "DENSE_MAX_FLOPS", 0.0)
    program = _program("squared", seed=1)
    A_ref, ref = _clarabel(program)
    norms = np.linalg.norm(A_ref, axis=0)
    support = np.flatnonzero(norms > 1e-6 * norms.max())
    assert support.size >= 4
    if start == "half of the support":
        A0 = np.where(norms > 1e-6 * norms.max(), A_ref, 0.0)
        A0[:, support[::2]] = 0.0  # the optimum needs these: pricing must bring them back
    else:
        rng = np.random.default_rng(0)
        A0 = np.where(norms > 1e-6 * norms.max(), A_ref, 0.0)
        others = rng.choice(np.flatnonzero(norms <= 1e-6 * norms.max()), 10, replace=False)
        A0[:, others] = 1e-2 * rng.standard_normal((A0.shape[0], 10))  # these must leave
    A = polish_gated(program.X, program.Y[:, 0], program.D, program.alpha, program.loss, A0)
    primal, dual = _objective_and_bound(program, A)
    assert primal - dual <= 1e-9 * abs(primal)
    assert primal == pytest.approx(ref, rel=1e-8)
    assert np.array_equal(np.flatnonzero(np.linalg.norm(A, axis=0) > 0), support)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_solver_certifies_by_the_polish_in_fewer_iterations(loss, monkeypatch):
    program = _program(loss, n=300, P=200, frac=0.05, seed=2)
    _, ref = _clarabel(program)
    polished = first_order.solve_two_layer_first_order(program, tol=1e-6)
    monkeypatch.setattr(first_order, "GATED_POLISH_BELOW", 0.0)
    plain = first_order.solve_two_layer_first_order(program, tol=1e-6)
    assert polished.info["polish"] == "newton" and plain.info["polish"] is None
    assert polished.status == "optimal" and polished.info["relative_gap"] <= 1e-6
    assert polished.info["dual"] <= ref * (1 + 1e-9)
    assert polished.info["primal"] == pytest.approx(ref, rel=1e-7)
    assert polished.iterations < plain.iterations


def test_no_polish_where_the_newton_system_is_not_diagonal():
    program = _program("cross_entropy", c=3, frac=0.3)
    sol = first_order.solve_two_layer_first_order(program, tol=1e-6, max_iter=20_000)
    assert sol.status == "optimal" and sol.info["polish"] is None
