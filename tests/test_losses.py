"""Losses: gradients by finite differences, conjugates by direct minimisation."""

import numpy as np
import pytest
from scipy.optimize import minimize

from convexnet.losses import CrossEntropyLoss, LogisticLoss, SquaredLoss, get_loss

rng = np.random.default_rng(0)


def _data(loss):
    if isinstance(loss, SquaredLoss):
        return rng.normal(size=(5, 2)), rng.normal(size=(5, 2))
    if isinstance(loss, LogisticLoss):
        return rng.normal(size=5), rng.choice([-1.0, 1.0], size=5)
    Y = np.eye(3)[rng.integers(0, 3, size=5)]
    return rng.normal(size=(5, 3)), Y


@pytest.mark.parametrize("loss", [SquaredLoss(), LogisticLoss(), CrossEntropyLoss()])
def test_gradient_matches_finite_differences(loss):
    P, Y = _data(loss)
    G = loss.gradient(P, Y)
    eps = 1e-6
    flat = P.ravel()
    for k in range(flat.size):
        e = np.zeros_like(flat)
        e[k] = eps
        fd = loss.value((flat + e).reshape(P.shape), Y) - loss.value((flat - e).reshape(P.shape), Y)
        assert fd / (2 * eps) == pytest.approx(G.ravel()[k], abs=1e-6)


@pytest.mark.parametrize("loss", [SquaredLoss(), LogisticLoss(), CrossEntropyLoss()])
def test_dual_value_is_inf_of_lagrangian(loss):
    """-loss*(-lam) = inf_p loss(p) + <lam, p>, computed by direct minimisation."""
    P, Y = _data(loss)
    lam = 0.7 * loss.dual_point(P, Y)  # inside the domain (scaled towards 0)

    def lagr(p):
        p = p.reshape(P.shape)
        return loss.value(p, Y) + np.sum(lam * p)

    res = minimize(lagr, P.ravel(), method="BFGS", options={"gtol": 1e-10})
    assert loss.dual_value(lam, Y) == pytest.approx(res.fun, abs=1e-6)


@pytest.mark.parametrize("loss", [SquaredLoss(), LogisticLoss(), CrossEntropyLoss()])
def test_weak_duality_for_matched_point(loss):
    P, Y = _data(loss)
    lam = loss.dual_point(P, Y)
    # Fenchel-Young: loss(P) + loss*(-lam) = <-lam, P> exactly at the matched point.
    assert loss.value(P, Y) - loss.dual_value(lam, Y) == pytest.approx(-np.sum(lam * P), abs=1e-9)


def test_dual_outside_domain_is_minus_inf():
    y = np.array([1.0, -1.0])
    assert LogisticLoss().dual_value(np.array([2.0, 0.0]), y) == -np.inf
    Y = np.eye(2)
    assert CrossEntropyLoss().dual_value(np.array([[2.0, 0.0], [0.0, 0.0]]), Y) == -np.inf


def test_get_loss_errors():
    with pytest.raises(ValueError, match="loss"):
        get_loss("hinge-ish")
    with pytest.raises(TypeError, match="loss"):
        get_loss(3)


@pytest.mark.parametrize("loss", [SquaredLoss(), LogisticLoss()])
def test_curvature_matches_finite_differences_of_the_gradient(loss):
    rng = np.random.default_rng(3)
    P = rng.normal(size=(7, 1)) * 3
    Y = np.sign(rng.normal(size=(7, 1)))
    h = 1e-6
    numeric = (loss.gradient(P + h, Y) - loss.gradient(P - h, Y)) / (2 * h)
    np.testing.assert_allclose(loss.curvature(P, Y), numeric, rtol=1e-6, atol=1e-9)


def test_cross_entropy_has_no_diagonal_curvature():
    with pytest.raises(NotImplementedError, match="diagonal"):
        CrossEntropyLoss().curvature(np.zeros((2, 3)), np.eye(3)[[0, 1]])
