"""Newton polish of the gated ReLU program on its support (squared and logistic losses).

Restricted to a support ``T`` of patterns, the gated program (SPEC.md §1.4) for one output,

    min_a  loss(sum_{i in T} D_i X a_i, y) + alpha sum_{i in T} ||a_i||_2,

is twice differentiable wherever no ``a_i`` is zero, with gradient
``F^T loss'(F a) + alpha a_i / ||a_i||`` and Hessian
``F^T diag(loss''(F a)) F + alpha (I - u_i u_i^T) / ||a_i||`` (``u_i = a_i / ||a_i||``,
``F = [D_i X]_{i in T}``, ``n x |T| d``). From a first-order iterate whose support is right,
damped Newton's method (Boyd and Vandenberghe, *Convex Optimization*, 2004, Alg. 9.5) reaches
the restricted optimum to rounding in a few steps, where FISTA needs hundreds when ``alpha`` is
small. Column generation makes the support right: a pattern outside ``T`` whose dual bound
``||X^T D_i lam||`` (``lam = -loss'(F a)``) exceeds ``alpha`` joins ``T``, started along
``X^T D_i lam`` (its steepest descent direction); a group Newton drives towards zero leaves.

Nothing here certifies: the caller computes the certified gap of the polished point over every
pattern (:mod:`convexnet.solvers.first_order`), so a polish that goes wrong costs time, never a
wrong answer.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import LinAlgError

from convexnet.solvers.working_set import _newton_factor, _spd_inverse

#: Losses with an entry-wise second derivative (``Loss.curvature``).
POLISH_LOSSES = ("squared", "logistic")
#: A group whose norm falls below this fraction of the largest leaves the support.
DROP_BELOW = 1e-7
#: Newton stops when every group's gradient is below this fraction of ``alpha`` (its dual
#: bound is then within this of ``alpha``) ...
GRADIENT_TOL = 1e-12
#: ... and takes full steps, without a line search, once half the squared decrement is below
#: this fraction of the objective (the objective's rounding would fool the Armijo test there).
FULL_STEP_BELOW = 1e-9
#: Newton systems are factored when forming and factoring them (``n (k d)^2 + (k d)^3 / 3``)
#: costs at most this, else solved by preconditioned conjugate gradients (at most
#: ``CG_MAX_ITER`` products with the Hessian, ``4 n d k`` flops each).
DENSE_MAX_FLOPS = 2e9
CG_MAX_ITER = 200


def _builds_lifted(n: int, d: int, k: int) -> bool:
    """Whether a polish over ``k`` groups builds ``F`` and factors its Newton systems (forming
    and factoring them, ``n (k d)^2 + (k d)^3 / 3`` flops, costs at most ``DENSE_MAX_FLOPS``)."""
    kd = float(k * d)
    return n * kd * kd + kd**3 / 3.0 <= DENSE_MAX_FLOPS


def gated_polish_flops(n: int, d: int, k: int, loss: str) -> float:
    """Estimated floating-point operations of one polish over ``k`` groups. Built lifted
    matrix (below ``DENSE_MAX_FLOPS``): ``F^T diag(h) F`` (``n (k d)^2``, once for the squared
    loss, about six times for the logistic one) and six Cholesky factorisations
    (``(k d)^3 / 3``). Matrix-free: the preconditioner's blocks (``n d^2 k``, likewise once
    or six times) and about six Newton steps of thirty Hessian products (``4 n d k`` each)."""
    kd = float(k * d)
    steps = 1.0 if loss == "squared" else 6.0
    if _builds_lifted(n, d, k):
        return steps * n * kd * kd + 6.0 * kd**3 / 3.0
    return steps * n * d * kd + 6.0 * 30.0 * 4.0 * n * kd


def gated_polish_bytes(n: int, d: int, k: int) -> float:
    """Bytes of one polish's largest arrays: the lifted matrix when it is built, else a few
    ``n x k`` images."""
    return 8.0 * n * k * d if _builds_lifted(n, d, k) else 8.0 * 4 * n * k


def polish_gated(
    X: np.ndarray,
    y: np.ndarray,
    D: np.ndarray,
    alpha: float,
    loss,
    A0: np.ndarray,
    *,
    rounds: int = 4,
    max_newton: int = 40,
) -> np.ndarray | None:
    """Polish the gated program from ``A0`` (``d x P``; its non-zero columns are the support).

    ``X`` is ``n x d``, ``y`` has ``n`` entries, ``D`` is the ``n x P`` pattern matrix and
    ``loss`` a :class:`convexnet.losses.Loss` with ``curvature`` (squared or logistic). Runs
    damped Newton on the support, then adds the patterns priced above ``alpha`` (at most
    ``rounds`` times). Returns the polished ``d x P`` groups, or ``None`` when a Newton system
    fails or the support empties.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float).reshape(-1, 1)
    Df = np.asarray(D, dtype=float)
    A = np.array(A0, dtype=float, copy=True)
    for _ in range(rounds + 1):
        support = np.flatnonzero(np.linalg.norm(A, axis=0) > 0)
        if support.size == 0:
            return None
        solved = _newton(X, y, Df[:, support], float(alpha), loss, A[:, support], max_newton)
        if solved is None:
            return None
        A = np.zeros_like(A)
        A[:, support] = solved
        pred = _predict(X, Df, A)
        lam = -loss.gradient(pred, y)[:, 0]
        G = X.T @ (Df * lam[:, None])  # (d, P): each group's dual direction
        kappa = np.linalg.norm(G, axis=0)
        norms = np.linalg.norm(A, axis=0)
        enter = np.flatnonzero((norms == 0) & (kappa > alpha * (1.0 + 1e-9)))
        if enter.size == 0:
            return A
        start = 1e-3 * float(np.median(norms[norms > 0])) if np.any(norms > 0) else 1e-3
        A[:, enter] = start * G[:, enter] / kappa[enter]
    return A


def _predict(X: np.ndarray, Df: np.ndarray, A: np.ndarray) -> np.ndarray:
    return np.sum(Df * (X @ A), axis=1, keepdims=True)


def _group_blocks(norms: np.ndarray, u: np.ndarray, alpha: float) -> np.ndarray:
    """The penalty's Hessian blocks ``alpha (I - u_i u_i^T) / ||a_i||``, ``k x d x d``."""
    d = u.shape[1]
    return (alpha / norms)[:, None, None] * (np.eye(d) - np.einsum("ki,kj->kij", u, u))


class _Dense:
    """The restricted program's lifted matrix ``F = [D_i X]_i`` (``n x k d``), built; Newton
    systems solved by Cholesky."""

    def __init__(self, X, Df, loss):
        n, d = X.shape
        self.k, self.d = Df.shape[1], d
        self.F = (Df[:, :, None] * X[:, None, :]).reshape(n, self.k * d)
        self.K = self.F.T @ self.F if loss.name == "squared" else None

    def predict(self, a):
        return self.F @ a

    def adjoint(self, r):
        return self.F.T @ r

    def step(self, h, norms, u, g, alpha):
        if self.K is not None:
            H = self.K
        else:
            Fh = self.F * np.sqrt(h)[:, None]
            H = Fh.T @ Fh
        # H is singular along radial directions the data do not see (more groups than
        # samples): the barrier's factorisation has the fallbacks for that.
        try:
            solve = _newton_factor(H, _group_blocks(norms, u, alpha))
        except (LinAlgError, np.linalg.LinAlgError, ValueError):
            return None
        return -solve(g.reshape(self.k, self.d)).reshape(-1)


class _MatrixFree:
    """The restricted program's products ``F a`` and ``F^T r`` without ``F`` (``2 n d k``
    flops each); Newton systems solved by conjugate gradients preconditioned with the Hessian's
    ``d x d`` diagonal blocks ``X^T diag(h D_i) X + alpha (I - u_i u_i^T) / ||a_i||``."""

    def __init__(self, X, Df, loss):
        self.X, self.M = X, Df
        self.k, self.d = Df.shape[1], X.shape[1]
        self.blocks = self._blocks(np.ones(X.shape[0])) if loss.name == "squared" else None

    def _blocks(self, h):
        """``X^T diag(h D_i) X`` for every group, ``k x d x d``."""
        return np.stack([(self.X * (h * m)[:, None]).T @ self.X for m in self.M.T])

    def predict(self, a):
        return np.sum(self.M * (self.X @ a.reshape(self.k, self.d).T), axis=1)

    def adjoint(self, r):
        return (self.X.T @ (self.M * r[:, None])).T.reshape(-1)

    def step(self, h, norms, u, g, alpha):
        k, d = self.k, self.d
        data = self.blocks if self.blocks is not None else self._blocks(h)
        Binv = _spd_inverse(data + _group_blocks(norms, u, alpha))

        def hessian(v):
            vg = v.reshape(k, d)
            radial = np.sum(u * vg, axis=1)
            group = (alpha / norms)[:, None] * (vg - u * radial[:, None])
            return self.adjoint(h * self.predict(v)) + group.reshape(-1)

        def precondition(r):
            return np.einsum("kij,kj->ki", Binv, r.reshape(k, d)).reshape(-1)

        # Inexact Newton: the residual shrinks with the gradient (superlinear convergence).
        gmax = np.linalg.norm(g.reshape(k, d), axis=1).max()
        forcing = min(0.1, gmax / alpha)
        return -_pcg(hessian, precondition, g, forcing, CG_MAX_ITER)


def _pcg(hessian, precondition, b, rel_tol, max_iter):
    """Preconditioned conjugate gradients for ``H x = b`` from ``x = 0`` until
    ``||b - H x|| <= rel_tol ||b||``."""
    x = np.zeros_like(b)
    r = b.copy()
    z = precondition(r)
    p = z.copy()
    rz = float(r @ z)
    target = rel_tol * float(np.linalg.norm(b))
    for _ in range(max_iter):
        Hp = hessian(p)
        curvature = float(p @ Hp)
        if curvature <= 0:
            break
        step = rz / curvature
        x += step * p
        r -= step * Hp
        if float(np.linalg.norm(r)) <= target:
            break
        z = precondition(r)
        rz_new = float(r @ z)
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x


def _newton(X, y, Df, alpha, loss, A, max_newton) -> np.ndarray | None:
    """Damped Newton on the support's groups (columns of ``A``, all non-zero). Groups whose
    step crosses their origin, or that shrink below ``DROP_BELOW`` of the largest, are set to
    zero and leave. The lifted matrix is built when it is small (:func:`_builds_lifted`)."""
    n, d = X.shape
    A = A.copy()
    keep = np.ones(A.shape[1], dtype=bool)
    while True:
        idx = np.flatnonzero(keep)
        if idx.size == 0:
            return None
        k = idx.size
        system = (_Dense if _builds_lifted(n, d, k) else _MatrixFree)(X, Df[:, idx], loss)
        a = A[:, idx].T.reshape(-1)  # group-major: a_i = a[i d:(i + 1) d]
        leave = None  # the groups that leave the support, when some do
        for _ in range(max_newton):
            pred = system.predict(a)[:, None]
            groups = a.reshape(k, d)
            norms = np.linalg.norm(groups, axis=1)
            if norms.min() <= DROP_BELOW * norms.max():
                leave = norms <= DROP_BELOW * norms.max()
                break
            u = groups / norms[:, None]
            phi = loss.value(pred, y) + alpha * float(norms.sum())
            g = system.adjoint(loss.gradient(pred, y)[:, 0]) + alpha * u.reshape(-1)
            if np.linalg.norm(g.reshape(k, d), axis=1).max() <= GRADIENT_TOL * alpha:
                break
            step = system.step(loss.curvature(pred, y)[:, 0], norms, u, g, alpha)
            if step is None:
                return None
            decrement = -float(g @ step)
            if not np.isfinite(decrement) or decrement < 0:
                return None
            # A full step through a group's origin means the group wants to be zero, where
            # the objective is not smooth: it leaves (pricing brings it back if it must). Far
            # from the optimum every group may cross: then only those whose data gradient is
            # below alpha (zero satisfies their optimality condition) leave.
            crossing = np.sum(groups * (groups + step.reshape(k, d)), axis=1) <= 0
            if np.all(crossing):
                crossing &= np.linalg.norm(g.reshape(k, d) - alpha * u, axis=1) < alpha
            if np.any(crossing):
                leave = crossing
                break
            dpred = system.predict(step)[:, None]
            eta = 1.0
            if 0.5 * decrement > FULL_STEP_BELOW * max(abs(phi), 1e-300):
                while True:  # Armijo backtracking
                    trial = a + eta * step
                    value = loss.value(pred + eta * dpred, y) + alpha * float(
                        np.linalg.norm(trial.reshape(k, d), axis=1).sum()
                    )
                    if value <= phi - 0.25 * eta * decrement or eta < 1e-12:
                        break
                    eta *= 0.5
                if eta < 1e-12:
                    break  # no descent left at this precision
            a = a + eta * step
        A[:, idx] = a.reshape(k, d).T
        if leave is None:
            return A
        A[:, idx[leave]] = 0.0
        keep[idx[leave]] = False
