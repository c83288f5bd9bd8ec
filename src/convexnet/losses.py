"""Datafits: value, gradient, convex conjugate (for dual bounds) and a CVXPY expression.

All losses are *sums* over samples (SPEC.md §0.4). Predictions ``P`` and targets ``Y`` have the
same shape, ``(n,)`` or ``(n, c)``.

Dual convention (SPEC.md §0.4): the Lagrangian term is ``lambda^T (yhat - f(X))`` and the dual
objective is ``-loss*(-lambda)``; at an optimum ``lambda* = -grad loss(yhat*)``.

=============  ==========================================  ====================================
loss           ``-loss*(-lam)`` (dual value)               domain of ``lam``
=============  ==========================================  ====================================
squared        ``<lam, y> - ||lam||^2 / 2``                 everything
logistic       ``sum_i H_b(lam_i y_i)``                     ``0 <= lam_i y_i <= 1``
cross-entropy  ``sum_i H(Y_i - Lam_i)``                     ``Y_i - Lam_i`` in the simplex
=============  ==========================================  ====================================

Each domain is convex and contains ``0``, so a dual point scaled by ``s in [0, 1]`` stays in it.

``value``, ``gradient`` and ``dual_value`` are written against the Array API, so they take NumPy
arrays and PyTorch tensors alike (the first-order solvers call them on the device).
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax

from convexnet._backend import array_namespace

__all__ = ["Loss", "SquaredLoss", "LogisticLoss", "CrossEntropyLoss", "get_loss"]


class Loss:
    """Interface of a datafit ``loss(P, Y)`` summed over samples."""

    name: str = "loss"

    def value(self, P: np.ndarray, Y: np.ndarray) -> float:
        raise NotImplementedError

    def gradient(self, P: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Gradient of ``value`` with respect to the predictions ``P``."""
        raise NotImplementedError

    def dual_value(self, lam: np.ndarray, Y: np.ndarray) -> float:
        """``-loss*(-lam)``; ``-inf`` outside the domain."""
        raise NotImplementedError

    def dual_point(self, P: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """The dual point ``-grad loss(P)`` matched to the predictions ``P``."""
        return -self.gradient(P, Y)

    def cvxpy_expression(self, P, Y: np.ndarray):
        """A CVXPY expression of the loss for a CVXPY expression ``P``."""
        raise NotImplementedError

    def smoothness(self) -> float:
        """Lipschitz constant of the gradient with respect to ``P`` (for step sizes)."""
        raise NotImplementedError

    def curvature(self, P: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Second derivative of a loss that is separable over entries, at each entry of ``P``
        (the diagonal Hessian; Newton steps of :mod:`convexnet.solvers.working_set`)."""
        raise NotImplementedError(f"the {self.name} loss has no diagonal Hessian")


class SquaredLoss(Loss):
    """``loss(P, Y) = ||P - Y||_F^2 / 2``."""

    name = "squared"

    def value(self, P, Y):
        xp = array_namespace(P, Y)
        return 0.5 * float(xp.sum((P - Y) ** 2))

    def gradient(self, P, Y):
        return P - Y

    def dual_value(self, lam, Y):
        xp = array_namespace(lam, Y)
        return float(xp.sum(lam * Y) - 0.5 * xp.sum(lam**2))

    def cvxpy_expression(self, P, Y):
        import cvxpy as cp

        return 0.5 * cp.sum_squares(P - Y)

    def smoothness(self):
        return 1.0

    def curvature(self, P, Y):
        return 1.0 + 0.0 * P


def _xlogx(xp, q):
    """``q log q`` with ``0 log 0 = 0``."""
    positive = q > 0
    return xp.where(positive, q * xp.log(xp.where(positive, q, xp.ones_like(q))), 0.0 * q)


def _binary_entropy(xp, q):
    return -_xlogx(xp, q) - _xlogx(xp, 1.0 - q)


def _sigmoid(xp, z):
    """``1 / (1 + exp(-z))`` without overflow."""
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _logsumexp_rows(xp, P):
    m = xp.max(P, axis=1, keepdims=True)
    return xp.log(xp.sum(xp.exp(P - m), axis=1)) + m[:, 0]


class LogisticLoss(Loss):
    """``loss(p, y) = sum_i log(1 + exp(-y_i p_i))`` with labels ``y_i`` in ``{-1, +1}``."""

    name = "logistic"
    _tol = 1e-12

    def value(self, P, Y):
        xp = array_namespace(P, Y)
        z = -Y * P
        return float(xp.sum(xp.logaddexp(z, 0.0 * z)))

    def gradient(self, P, Y):
        xp = array_namespace(P, Y)
        return -Y * _sigmoid(xp, -Y * P)

    def dual_value(self, lam, Y):
        xp = array_namespace(lam, Y)
        q = lam * Y
        if bool(xp.any(q < -self._tol)) or bool(xp.any(q > 1.0 + self._tol)):
            return -np.inf
        return float(xp.sum(_binary_entropy(xp, xp.clip(q, 0.0, 1.0))))

    def cvxpy_expression(self, P, Y):
        import cvxpy as cp

        return cp.sum(cp.logistic(-cp.multiply(Y, P)))

    def smoothness(self):
        return 0.25

    def curvature(self, P, Y):
        xp = array_namespace(P, Y)
        q = _sigmoid(xp, -Y * P)
        return q * (1.0 - q)


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy ``sum_i [logsumexp(P_i) - <Y_i, P_i>]`` with one-hot rows ``Y_i``."""

    name = "cross_entropy"
    _tol = 1e-12

    def value(self, P, Y):
        xp = array_namespace(P, Y)
        return float(xp.sum(_logsumexp_rows(xp, P) - xp.sum(Y * P, axis=1)))

    def gradient(self, P, Y):
        xp = array_namespace(P, Y)
        E = xp.exp(P - xp.max(P, axis=1, keepdims=True))
        return E / xp.sum(E, axis=1, keepdims=True) - Y

    def dual_value(self, lam, Y):
        xp = array_namespace(lam, Y)
        Q = Y - lam
        row_tol = max(1e-9, 100 * Q.shape[1] * float(xp.finfo(Q.dtype).eps))
        if bool(xp.any(Q < -self._tol)) or bool(xp.any(xp.abs(xp.sum(Q, axis=1) - 1.0) > row_tol)):
            return -np.inf
        return float(-xp.sum(_xlogx(xp, xp.clip(Q, 0.0, 1.0))))

    def cvxpy_expression(self, P, Y):
        import cvxpy as cp

        # Written as logsumexp_k(P_ik - P_i,y_i): exponents stay <= 0 where the fit is good,
        # which keeps the exponential cones well conditioned (Clarabel stalls otherwise).
        target = cp.sum(cp.multiply(Y, P), axis=1, keepdims=True)
        return cp.sum(cp.log_sum_exp(P - target @ np.ones((1, Y.shape[1])), axis=1))

    def smoothness(self):
        return 0.5

    @staticmethod
    def log_proba(P):
        return log_softmax(P, axis=1)


_LOSSES = {
    "squared": SquaredLoss,
    "logistic": LogisticLoss,
    "cross_entropy": CrossEntropyLoss,
}


def get_loss(loss) -> Loss:
    """Return a :class:`Loss` from a name (``"squared"``, ``"logistic"``, ``"cross_entropy"``)."""
    if isinstance(loss, Loss):
        return loss
    if not isinstance(loss, str):
        raise TypeError(f"loss must be a string or a Loss, got {type(loss).__name__}.")
    if loss not in _LOSSES:
        raise ValueError(f"loss must be one of {sorted(_LOSSES)}, got {loss!r}.")
    return _LOSSES[loss]()
