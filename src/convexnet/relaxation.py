"""A proven, pattern-free upper bound on the two-layer dual constraint (SPEC.md §1.5).

The dual constraint of two-layer ReLU training is ``kappa(lam) = max_{||u|| <= 1} |lam^T (X u)_+|
<= alpha``. Computing ``kappa`` is NP-hard in general (it is the best single-ReLU fit), so a
certificate valid against networks of *any* width and *any* activation patterns needs a bound
``kbar >= kappa(lam)`` that does not enumerate patterns. This module computes one by a Lagrangian
(Shor-type) relaxation whose value is verified in closed form at the end, so an inexact inner
solve can only make the bound larger, never invalid.

The relaxation
--------------
``kappa(lam) = max(kappa_+(lam), kappa_+(-lam))`` with ``kappa_+(lam) = max_{||u|| <= 1}
lam^T (X u)_+ >= 0``. Split the rows by the sign of ``lam``: ``P = {i : lam_i > 0}``,
``N = {i : lam_i < 0}``, and write ``t_i = x_i^T u``.

1. Positive rows. For every ``eta_i > 0`` and every real ``t``::

       lam_i (t)_+ <= (lam_i + eta_i t)_+^2 / (4 eta_i)

   (for ``t <= 0`` the left side is 0; for ``t > 0`` the difference is
   ``(lam_i - eta_i t)^2 / (4 eta_i) >= 0``). This is the Lagrangian of ``z_i = (t)_+`` written as
   ``z >= 0, z (z - t) <= 0`` with multiplier ``eta_i``: ``max_{z >= 0} lam z - eta z (z - t)``.
2. Negative rows are kept exactly through ``-(t)_+ = min_{mu in [0, 1]} -mu t``: for every
   ``mu in [0, 1]^N``, ``-|lam_i| (t_i)_+ <= -|lam_i| mu_i t_i``.
3. The ball: ``gamma (1 - ||u||^2) >= 0`` for ``||u|| <= 1`` and ``gamma >= 0``.

Hence for all ``eta > 0``, ``gamma >= 0`` and ``mu in [0, 1]^N``::

    kappa_+(lam) <= max_{u in R^d} q(u),
    q(u) = sum_{i in P} (lam_i + eta_i x_i^T u)_+^2 / (4 eta_i)
           - sum_{i in N} |lam_i| mu_i x_i^T u + gamma (1 - ||u||^2).

``q`` is C^1 with generalised Hessian ``(1/2) X_P^T diag(eta_i 1[...]) X_P - 2 gamma I``, so with
``gamma = lmax / 4 + m / 2``, ``lmax >= lambda_max(X_P^T diag(eta) X_P)`` and ``m > 0`` it is
``m``-strongly concave, and for *any* ``u``::

    max q <= q(u) + ||grad q(u)||^2 / (2 m).                                   (*)

The number returned is the right side of (*), evaluated in NumPy at the final ``(eta, gamma,
mu, u)``; ``lmax`` is an eigenvalue computed by LAPACK and inflated by a relative ``1e-9`` plus an
absolute ``1e-12 trace`` against rounding. The parameters are chosen to make it small: ``u`` by a
semismooth Newton method on the smoothed problem (``(t)_+`` replaced by ``tau softplus(t / tau)``,
``tau -> 0``, and ``mu_i = sigmoid(t_i / tau)``); ``eta = c w`` with a profile ``w`` (``lam_P``
or constant) and ``(c, m)`` by a short pattern search; then ``(eta, m)`` per row by
multiplicative steps along the envelope gradient (``d/d eta_i = -z_i (z_i - t_i) + (1 - ||u||^2)
(v^T x_i)^2 / 4`` with ``z_i = (lam_i + eta_i t_i)_+ / (2 eta_i)`` and ``v`` the top
eigenvector), kept only when the certified value drops. None of these choices affects validity.
Floating point: the certified sum is raised by ``4 (n + d) eps`` times the sum of the magnitudes
of its terms.

Minimising (*) over ``(eta, gamma, mu)`` is the dual of the Shor semidefinite relaxation of the
positive part (with the negative part exact). Like that SDP, it is *not* tight in general: for
noise-like ``lam`` the true ``kappa`` grows like ``sqrt(n d)`` and the relaxation like ``n``
(see ``docs/certificates.md`` for measured ratios).

Gated networks over all gates: ``max_g ||X^T D_g lam|| <= max_{||u|| <= 1} sum_i (lam_i x_i^T u)_+``
(relaxing arrangement patterns to all subsets), which is ``kappa_+`` of the all-positive weights
``|lam_i|`` on the rows ``sign(lam_i) x_i``; the same relaxation (with ``N`` empty) bounds it.

Cheap closed-form bounds, used as fallbacks and always min-combined:

* ``coarse``: ``max(sum (lam)_+ ||x_i||, sum (lam)_- ||x_i||)`` (ReLU) and
  ``sum |lam_i| ||x_i||`` (gated, all gates);
* ``split``: ``(t)_+ = (t + |t|) / 2`` and Cauchy-Schwarz give
  ``kappa_+(lam) <= ||X^T lam|| / 2
  + sqrt(sum_P lam_i) sqrt(lambda_max(X_P^T diag(lam_P) X_P)) / 2``
  (the negative rows' ``-|lam_i| |t_i| / 2 <= 0`` are dropped); for gated the same with ``P`` all
  rows and weights ``|lam_i|`` on ``sign(lam_i) x_i``, whose linear part is
  ``||X^T lam|| / 2`` as well.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

__all__ = ["KappaBound", "kappa_upper_bound", "kappa_lower_bound"]

# Above this many rows times features (per sign and column) only the closed-form bounds are used.
_DEFAULT_MAX_SIZE = 2_000_000


@dataclass(frozen=True)
class KappaBound:
    """A proven upper bound ``value >= kappa(lam)`` per output column.

    Attributes
    ----------
    value : ndarray, shape (c,)
        The bound, per column of ``lam``.
    method : str
        Which bound produced the reported values (``"lagrangian"``, ``"split"``, ``"coarse"``;
        joined by ``"+"`` when columns differ).
    lower : ndarray, shape (c,)
        ``lam^T (X u)_+`` (absolute value) at the best unit ``u`` seen: a lower bound on
        ``kappa`` (for ``gated``, on the all-subsets relaxation), so ``value / lower`` bounds
        how loose ``value`` can be.
    details : dict
        Per-column bounds of every method tried and the time spent.
    """

    value: np.ndarray
    method: str
    lower: np.ndarray
    details: dict = field(default_factory=dict)


def _check(X, lam):
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array (n, d); got shape {X.shape}.")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinite values.")
    lam = np.asarray(lam, dtype=float)
    if lam.ndim not in (1, 2) or lam.shape[0] != X.shape[0]:
        raise ValueError(
            f"lam must have shape (n,) or (n, c) with n = {X.shape[0]} rows of X; got {lam.shape}."
        )
    if not np.all(np.isfinite(lam)):
        raise ValueError("lam contains NaN or infinite values.")
    return X, lam.reshape(X.shape[0], -1)


def _inflate(lmax: float, M: np.ndarray, n: int) -> float:
    """``lmax`` raised past the rounding errors of forming ``M = X^T diag(w) X`` from ``n`` rows
    (at most ``n eps`` times ``sum_i w_i ||x_i||_1^2 <= d trace(M)`` per entry) and of the
    symmetric eigensolver (a small multiple of ``d eps ||M||``), with a wide margin."""
    d = M.shape[0]
    eps = np.finfo(float).eps
    return max(lmax, 0.0) * (1.0 + 1e-9) + 4.0 * eps * (n + d) * d * float(np.trace(M)) + 1e-300


def _safe_lmax(M: np.ndarray, n: int) -> float:
    """An upper bound on ``lambda_max`` of the symmetric PSD matrix ``M`` (rounding-inflated)."""
    if M.size == 0:
        return 0.0
    return _inflate(float(np.linalg.eigvalsh(M)[-1]), M, n)


def _split_bound(Xp, wp, lin):
    """``||lin|| / 2 + sqrt(sum w) sqrt(lambda_max(Xp^T diag(w) Xp)) / 2`` (see module doc)."""
    if wp.size == 0:
        return 0.5 * float(np.linalg.norm(lin))
    M = Xp.T @ (wp[:, None] * Xp)
    lmax = _safe_lmax(M, Xp.shape[0])
    return 0.5 * float(np.linalg.norm(lin)) + 0.5 * np.sqrt(float(wp.sum()) * lmax)


class _Lagrangian:
    """Evaluates the certified bound (*) of the module docstring for one sign of one column."""

    def __init__(self, Xp, wp, Xm, wm):
        self.Xp, self.wp, self.Xm, self.wm = Xp, wp, Xm, wm
        self.d = Xp.shape[1] if Xp.size else Xm.shape[1]

    def setup(self, eta, m):
        self.eta = eta
        M = self.Xp.T @ (eta[:, None] * self.Xp)
        evals, evecs = np.linalg.eigh(M)
        self.top = evecs[:, -1]
        self.lmax = _inflate(float(evals[-1]), M, self.Xp.shape[0])
        self.m = m
        self.gamma = self.lmax / 4.0 + m / 2.0

    def eta_gradient(self, u):
        """Envelope gradient of the bound in ``log eta`` at the maximiser ``u`` (m held fixed)."""
        t = self.Xp @ u
        z = np.maximum(self.wp + self.eta * t, 0.0) / (2.0 * self.eta)
        direct = -z * (z - t)
        through_gamma = 0.25 * (self.Xp @ self.top) ** 2 * (1.0 - float(u @ u))
        return self.eta * (direct + through_gamma)

    def _parts(self, u, tau):
        """Smoothed objective, gradient, Hessian and the certificate pieces at ``u``."""
        eta, wp, wm = self.eta, self.wp, self.wm
        tp = self.Xp @ u
        a = np.maximum(wp + eta * tp, 0.0)
        tm = self.Xm @ u
        s = tm / tau
        mu = 0.5 * (1.0 + np.tanh(0.5 * s))  # sigmoid, overflow-free
        softplus = tau * (np.maximum(s, 0.0) + np.log1p(np.exp(-np.abs(s))))
        quad = float(np.sum(a * a / (4.0 * eta))) + self.gamma * (1.0 - float(u @ u))
        f = quad - float(wm @ softplus)
        gq = self.Xp.T @ (0.5 * a) - 2.0 * self.gamma * u
        g = gq - self.Xm.T @ (wm * mu)
        act = (a > 0).astype(float)
        H = 0.5 * (self.Xp.T @ ((eta * act)[:, None] * self.Xp)) - 2.0 * self.gamma * np.eye(self.d)
        H -= self.Xm.T @ ((wm * mu * (1.0 - mu) / tau)[:, None] * self.Xm)
        # Certificate with the valid multiplier mu in [0, 1]: q(u) + ||grad q(u)||^2 / (2 m).
        q = quad - float(wm @ (mu * tm))
        cert = q + float(g @ g) / (2.0 * self.m)
        # Rounding: every sum above errs by at most (n + d) eps times its sum of magnitudes.
        size = float(np.sum(a * a / (4.0 * eta))) + self.gamma * (1.0 + float(u @ u))
        size += float(wm @ (mu * np.abs(tm))) + cert
        cert += 4.0 * np.finfo(float).eps * (eta.size + wm.size + self.d) * abs(size)
        return f, g, H, cert

    def solve(self, u, tau0, tau_min, newton=6):
        best_cert, best_u = np.inf, u
        tau = tau0
        while True:
            for _ in range(newton):
                f, g, H, cert = self._parts(u, tau)
                if cert < best_cert:
                    best_cert, best_u = cert, u
                try:
                    step = -np.linalg.solve(H, g)
                except np.linalg.LinAlgError:
                    step = g / (2.0 * self.gamma)
                decrement = float(g @ step)
                if decrement <= 1e-12 * max(abs(f), 1e-300):
                    break
                t, moved = 1.0, False
                while t > 1e-4:
                    u_new = u + t * step
                    if self._parts_value(u_new, tau) >= f + 1e-4 * t * float(g @ step):
                        u, moved = u_new, True
                        break
                    t *= 0.3
                if not moved or float(g @ g) / (2.0 * self.m) <= 1e-12 * max(abs(f), 1e-300):
                    break
            if tau <= tau_min:
                break
            tau = max(tau / 10.0, tau_min)
        f, g, H, cert = self._parts(u, tau)
        if cert < best_cert:
            best_cert, best_u = cert, u
        return best_cert, best_u

    def _parts_value(self, u, tau):
        tp = self.Xp @ u
        a = np.maximum(self.wp + self.eta * tp, 0.0)
        s = (self.Xm @ u) / tau
        softplus = tau * (np.maximum(s, 0.0) + np.log1p(np.exp(-np.abs(s))))
        quad = float(np.sum(a * a / (4.0 * self.eta))) + self.gamma * (1.0 - float(u @ u))
        return quad - float(self.wm @ softplus)


def _relu_value(X, lam, u):
    return float(lam @ np.maximum(X @ u, 0.0))


def _ascent(X, lam, u, iters=50):
    """Projected (super)gradient ascent of ``lam^T (X u)_+`` on the unit sphere from ``u``."""
    nu = np.linalg.norm(u)
    if nu == 0:
        return 0.0, u
    u = u / nu
    best, best_u = _relu_value(X, lam, u), u
    step = 1.0 / max(np.linalg.norm(X, 2) * np.linalg.norm(lam), 1e-300)
    for _ in range(iters):
        g = X.T @ (lam * (X @ u >= 0))
        g -= (g @ u) * u
        if not np.any(g):
            break
        v = u + step * np.linalg.norm(lam) * np.sqrt(X.shape[0]) * g / max(
            np.linalg.norm(g), 1e-300
        )
        v /= np.linalg.norm(v)
        val = _relu_value(X, lam, v)
        if val > best:
            best, best_u, u = val, v, v
        else:
            step *= 0.5
    return best, best_u


def kappa_lower_bound(X, lam, *, n_starts: int = 20, iters: int = 100, random_state=0) -> float:
    """``max |lam^T (X u)_+|`` over unit ``u`` found by multi-start projected ascent.

    A *lower* bound on ``kappa(lam)`` (one column ``lam`` of shape (n,)), used to judge how
    tight :func:`kappa_upper_bound` is where ``kappa`` cannot be enumerated.
    """
    X, lam2 = _check(X, lam)
    lam = lam2[:, 0]
    rng = np.random.default_rng(random_state)
    best = 0.0
    for sgn in (1.0, -1.0):
        starts = [X.T @ (sgn * lam), X.T @ np.maximum(sgn * lam, 0.0)]
        starts += list(rng.standard_normal((n_starts, X.shape[1])))
        for u0 in starts:
            best = max(best, _ascent(X, sgn * lam, u0, iters)[0])
    return best


def _one_sign(X, lam, gated, budget_end, tol=0.1, n_refine=100):
    """Certified ``kappa_+(lam)`` (or its all-gates relaxation) and a lower bound."""
    if gated:
        sgn = np.where(lam >= 0, 1.0, -1.0)
        Xp, wp = (sgn[:, None] * X)[lam != 0], np.abs(lam[lam != 0])
        Xm, wm = X[:0], lam[:0]
    else:
        P, N = lam > 0, lam < 0
        Xp, wp, Xm, wm = X[P], lam[P], X[N], -lam[N]
    lin = Xp.T @ wp - Xm.T @ wm
    split = _split_bound(Xp, wp, lin)
    if wp.size == 0:
        return 0.0, 0.0, {"split": 0.0}
    L = _Lagrangian(Xp, wp, Xm, wm)
    lower_fn_X = np.vstack([Xp, Xm])
    lower_fn_l = np.concatenate([wp, -wm])
    scale_t = float(np.sqrt(np.mean(np.sum(X * X, axis=1)) / X.shape[1])) or 1.0
    tau0, tau_warm, tau_min = 1e-1 * scale_t, 1e-3 * scale_t, 1e-5 * scale_t
    best = (np.inf, None)
    u = lin / max(np.linalg.norm(lin), 1e-300) * 0.5
    profiles = {"lam": wp, "ones": np.full_like(wp, float(np.mean(wp)))}
    lmaxes = {k: _safe_lmax(Xp.T @ (w[:, None] * Xp), wp.size) for k, w in profiles.items()}

    warm = [tau0]

    def evaluate(w, lw, logc, logr, u):
        c = np.exp(logc)
        L.setup(c * w, c * lw * np.exp(logr) / 2.0)
        out = L.solve(u, warm[0], tau_min)
        warm[0] = tau_warm  # later solves start near the previous maximiser
        return out

    for name, w in profiles.items():
        lw = lmaxes[name]
        # The bound at u = 0 is about sum w^2/(4 c w) + c lw/4: balanced at c0.
        c0 = np.sqrt(float(np.sum(wp * wp / w)) / lw)
        logc, logr = np.log(c0), np.log(0.2)
        cur, u_c = evaluate(w, lw, logc, logr, u)
        step_c, step_r = 1.0, 1.0
        for _ in range(30):
            if time.perf_counter() > budget_end:
                break
            improved = False
            for dc, dr in ((step_c, 0), (-step_c, 0), (0, step_r), (0, -step_r)):
                val, u_n = evaluate(w, lw, logc + dc, logr + dr, u_c)
                if val < cur * (1 - 1e-9):
                    cur, u_c, logc, logr, improved = val, u_n, logc + dc, logr + dr, True
                    break
            if not improved:
                step_c, step_r = step_c / 2, step_r / 2
                if step_c < tol:
                    break
        if cur < best[0]:
            best = (cur, u_c, np.exp(logc) * w, np.exp(logc) * lw * np.exp(logr) / 2.0)
    # Per-row refinement of eta: multiplicative steps along the envelope gradient, kept only
    # when the certified value decreases.
    value, u_best, eta, m = best
    step = 0.5
    history = [value]
    for it in range(n_refine):
        if time.perf_counter() > budget_end or step < 1e-3:
            break
        history.append(value)
        if it >= 10 and history[-11] - value <= 1e-4 * value:
            break  # less than 0.01% in the last ten steps
        L.setup(eta, m)
        G = L.eta_gradient(u_best)
        Gm = 0.5 * m * (1.0 - float(u_best @ u_best))  # d bound / d log m
        gmax = float(np.sqrt(np.mean(np.r_[G, Gm] ** 2)))
        if gmax == 0:
            break
        eta_new = eta * np.exp(np.clip(-step * G / gmax, -2.0, 2.0))
        m_new = m * np.exp(np.clip(-step * Gm / gmax, -2.0, 2.0))
        L.setup(eta_new, m_new)
        val, u_n = L.solve(u_best, tau_warm, tau_min)
        if val < value * (1 - 1e-9):
            value, u_best, eta, m, step = val, u_n, eta_new, m_new, step * 1.5
        else:
            step *= 0.3
    lower = _ascent(lower_fn_X, lower_fn_l, u_best, 30)[0] if u_best is not None else 0.0
    lower = max(lower, _ascent(lower_fn_X, lower_fn_l, lin, 30)[0])
    return min(value, split), lower, {"split": split, "lagrangian": value}


def kappa_upper_bound(
    X: np.ndarray,
    lam: np.ndarray,
    *,
    gated: bool = False,
    max_time: float | None = None,
    max_size: int = _DEFAULT_MAX_SIZE,
) -> KappaBound:
    """A proven upper bound on ``kappa(lam) = max_{||u|| <= 1} |lam^T (X u)_+|`` per column.

    ``value >= kappa(lam_k)`` for every column ``k``, over *all* directions ``u`` (no activation
    patterns involved), by the Lagrangian relaxation of the module docstring, min-combined with
    the closed-form ``coarse`` and ``split`` bounds. With ``gated=True`` the bound is on
    ``max_g ||X^T D_g lam||`` over all gates ``g``.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    lam : ndarray, shape (n,) or (n, c)
    gated : bool
        Bound the gated dual constraint over all gates instead.
    max_time : float, optional
        Seconds for the parameter search of the Lagrangian bound (each column and sign gets an
        equal share; checked between inner solves, so it can be overrun by one solve); the bound
        stays valid when the budget runs out, only looser. ``None``: ``2 + 4e-5 n d`` seconds
        (about 3 s at ``n = 1000, d = 20`` and 22 s at ``n = 10000, d = 50``); ``np.inf``: none.
    max_size : int
        Above ``n * d`` of this size only the closed-form bounds are computed.
    """
    X, lam = _check(X, lam)
    n, d = X.shape
    c = lam.shape[1]
    t0 = time.perf_counter()
    r = np.linalg.norm(X, axis=1)
    values, lowers, methods, per = np.zeros(c), np.zeros(c), [], []
    big = n * d > max_size
    if max_time is None:
        max_time = 2.0 + 4e-5 * n * d
    share = max_time / ((1 if gated else 2) * c)
    for k in range(c):
        lk = lam[:, k]
        if gated:
            coarse = float(np.abs(lk) @ r)
        else:
            coarse = float(max(np.maximum(lk, 0) @ r, np.maximum(-lk, 0) @ r))
        info: dict = {"coarse": coarse}
        sides = []
        for sgn in (1.0, -1.0):
            if big:
                P = sgn * lk > 0
                if gated:
                    s = np.where(lk >= 0, 1.0, -1.0)
                    sp = _split_bound(s[:, None] * X, np.abs(lk), X.T @ lk)
                else:
                    sp = _split_bound(X[P], sgn * lk[P], X.T @ (sgn * lk))
                sides.append((sp, 0.0, {"split": sp}))
            else:
                end = time.perf_counter() + share
                sides.append(_one_sign(X, sgn * lk, gated, end))
            if gated:
                break  # the all-subsets relaxation is symmetric in the sign of lam
        for key in ("split", "lagrangian"):
            if all(key in s[2] for s in sides):
                info[key] = max(s[2][key] for s in sides)
        worst = max(sides, key=lambda s: s[0])  # the sign that sets the bound
        value = min(coarse, worst[0])
        if coarse <= worst[0]:
            method = "coarse"
        else:
            method = min(worst[2], key=worst[2].get)
        info["bound"] = value
        values[k], lowers[k] = value, max(s[1] for s in sides)
        methods.append(method)
        per.append(info)
    method = "+".join(sorted(set(methods)))
    return KappaBound(
        value=values,
        method=method,
        lower=lowers,
        details={"per_column": per, "seconds": time.perf_counter() - t0, "closed_form_only": big},
    )
