"""Dense log-barrier method for the exact ReLU program with the squared loss, on a small support.

Solves, for one output column and a few groups ``q`` (a support: ``V_i`` and ``W_i`` of some
patterns ``i``; SPEC.md §1.3),

    min_{z, s}  ||sum_q M_q X z_q - y||^2 / 2 + alpha sum_q s_q
    s.t.        S_q X z_q >= 0  (n rows per group),   ||z_q|| <= s_q

with ``M_q = +-D_i`` and ``S_q = 2 D_i - I``, by the primal log-barrier (path-following) method:
Newton's method on ``t f(z, s) - sum log(S_q X z_q) - sum log(s_q^2 - ||z_q||^2)`` for
``t = t0, mu t0, mu^2 t0, ...`` (Boyd and Vandenberghe, *Convex Optimization*, 2004, §11.3).
The barrier's degree is ``n G + 2 G`` (``G`` groups), so the last centred point is within
``(n G + 2 G) / t`` of the optimum.

Why not an interior-point library: the program is small in variables (``G d``) but has a dense
data term, and the Hessian of the barrier has a structure a sparse solver does not see: the data
term's ``t F^T F`` (formed once, ``n (G d)^2`` flops), plus per group ``X^T diag(1/m^2) X``
(``n d^2``) and a rank-one second-order-cone term. One Newton step is one dense Cholesky of size
``G d`` after eliminating ``s``. Clarabel takes 15 s on the 23-pattern support of the n=1000,
d=20 benchmark; this takes about a second.

The result is strictly feasible; the caller certifies it over *all* patterns
(:func:`convexnet.solvers.first_order._exact_check`), so nothing here is trusted.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve

__all__ = ["barrier_on_support"]

_DEBUG = False


def barrier_on_support(
    X: np.ndarray,
    y: np.ndarray,
    D: np.ndarray,
    alpha: float,
    start: np.ndarray,
    *,
    rel_gap: float = 1e-8,
    mu: float = 10.0,
    max_newton: int = 300,
    t0: float | None = None,
):
    """Barrier solve over the patterns ``D`` (``n x k`` 0/1 masks): groups ``V_i`` and ``W_i``.

    ``start`` (``d x 2k``, ``[V, W]``) must be strictly inside every cone
    (``S_i X start > 0``), e.g. the patterns' generators. Stops when the barrier's bound on the
    suboptimality is at most ``rel_gap`` times the objective. ``t0`` is the first barrier
    parameter (default ``degree / |f(start)|``); a start near a central point of a related
    program (a warm start) may take a larger one. Returns ``(Z, info)`` with ``Z`` of
    shape ``(d, 2k)`` (``info["multipliers"]``, ``n x 2k``: the cone rows' multipliers), or
    ``None`` when the start is not strictly feasible or Newton's method
    fails.

    The loss sees only ``a_i = v_i - w_i``: with ``K = F^T F`` (``F = [D_i X]_i``, ``n x k d``)
    and the barrier's per-group blocks ``B_v``, ``B_w``, the Newton system reduces to
    ``(C^{-1} + t K) da = C^{-1} (B_v^{-1} r_v - B_w^{-1} r_w)`` with
    ``C = B_v^{-1} + B_w^{-1}`` block diagonal: one Cholesky of size ``k d`` per step.
    """
    n, d = X.shape
    k = D.shape[1]
    Df = np.asarray(D, dtype=float)
    S1 = 2.0 * Df - 1.0
    S = np.concatenate([S1, S1], axis=1)
    G = 2 * k
    z = np.array(start, dtype=float, copy=True)
    if k == 0 or not np.all(S * (X @ z) > 0):
        return None
    F = (Df[:, :, None] * X[:, None, :]).reshape(n, k * d)
    K = F.T @ F
    upper = np.triu_indices(d)
    XX = X[:, upper[0]] * X[:, upper[1]]  # rows: the upper triangle of x_j x_j^T
    Fty = F.T @ y
    yy = float(y @ y)
    norms = np.linalg.norm(z, axis=0)

    def objective(z, s):
        a = (z[:, :k] - z[:, k:]).T.reshape(-1)
        return 0.5 * float(a @ K @ a) - float(Fty @ a) + 0.5 * yy + alpha * float(s.sum())

    degree = n * G + 2 * G
    s = 2.0 * norms + 1e-3 * max(float(norms.max()), 1e-300)
    f = objective(z, s)
    t = degree / max(abs(f), 1e-300) if t0 is None else float(t0)
    # Each s_q at its centre given z_q: argmin t alpha s - log(s^2 - r^2) is
    # s = (1 + sqrt(1 + (t alpha r)^2)) / (t alpha), just above r = ||z_q|| when t alpha r >> 1.
    s = np.maximum((1.0 + np.sqrt(1.0 + (t * alpha * norms) ** 2)) / (t * alpha), 1e-300)
    newton = 0
    eye = np.eye(d)
    while True:
        # Centre: Newton's method on phi(z, s) = t f + barrier.
        previous = np.inf
        for _ in range(60):
            newton += 1
            if newton > max_newton:
                return None
            m = S * (X @ z)  # (n, G)
            u = s * s - np.sum(z * z, axis=0)
            a = (z[:, :k] - z[:, k:]).T.reshape(-1)
            ga = t * (K @ a - Fty).reshape(k, d).T  # (d, k)
            gz = np.concatenate([ga, -ga], axis=1)
            gz -= X.T @ (S / m)
            gz += 2.0 * z / u
            gs = t * alpha - 2.0 * s / u
            W = 1.0 / (m * m)  # (n, G)
            # X^T diag(W_q) X for every group: one product over the upper triangles.
            B = np.empty((G, d, d))
            B[:, upper[0], upper[1]] = B[:, upper[1], upper[0]] = W.T @ XX
            hss = -2.0 / u + 4.0 * s * s / (u * u)  # > 0 inside the cone
            hzs = -4.0 * s * z / u**2  # (d, G)
            B += (2.0 / u)[:, None, None] * eye
            B += (4.0 / u**2)[:, None, None] * np.einsum("dg,eg->gde", z, z)
            B -= np.einsum("dg,eg->gde", hzs, hzs) / hss[:, None, None]  # s eliminated
            r = -(gz - hzs * (gs / hss))  # (d, G)
            # Only E = B_v + B_w is inverted: C^{-1} = B_v E^{-1} B_w, C^{-1} B_v^{-1} = B_w E^{-1}
            # (and C^{-1} B_w^{-1} = B_v E^{-1}), then B_v dv + B_w dw = r_v + r_w gives dw.
            Bv, Bw = B[:k], B[k:]
            try:
                E = Bv + Bw
                EBw = np.linalg.solve(E, Bw)  # (k, d, d)
                Cinv = np.matmul(Bv, EBw)
                Cinv = 0.5 * (Cinv + np.transpose(Cinv, (0, 2, 1)))
                Er = np.linalg.solve(E, np.stack([r[:, :k].T, r[:, k:].T], axis=2))  # (k, d, 2)
                rhs = np.einsum("gde,ge->gd", Bw, Er[:, :, 0]) - np.einsum(
                    "gde,ge->gd", Bv, Er[:, :, 1]
                )
                H = t * K
                for i in range(k):
                    H[i * d : (i + 1) * d, i * d : (i + 1) * d] += Cinv[i]
                da = _regularised_solve(H, rhs.reshape(-1)).reshape(k, d)  # (k, d)
                rest = r[:, :k].T + r[:, k:].T - np.einsum("gde,ge->gd", Bv, da)
                dw = np.linalg.solve(E, rest[:, :, None])[:, :, 0]
            except (LinAlgError, np.linalg.LinAlgError):
                return None
            dz = np.concatenate([(dw + da).T, dw.T], axis=1)
            ds = (-gs - np.sum(hzs * dz, axis=0)) / hss
            decrement = -(float(np.sum(gz * dz)) + float(gs @ ds))
            if decrement <= 1e-10:
                if decrement < -1e-8 * max(abs(float(np.sum(gz * gz))), 1.0):
                    return None  # not a descent direction: the system is too ill-conditioned
                break
            # Self-concordance: a Newton decrement below one keeps the full step feasible and
            # converges quadratically; the Armijo test, whose values grow like t, is only
            # needed (and only reliable) far from the centre.
            # The cone margins move linearly: one product X dz serves every trial step.
            dm = S * (X @ dz)
            step = (m, dm, z, dz, s, ds)
            eta = 1.0
            if decrement > 0.25:
                phi = t * objective(z, s) + _barrier_along(step, 0.0)
                while eta > 1e-12:
                    zn, sn = z + eta * dz, s + eta * ds
                    b = _barrier_along(step, eta)
                    if np.isfinite(b) and t * objective(zn, sn) + b <= phi - 0.25 * eta * decrement:
                        break
                    eta *= 0.5
                else:
                    break
            else:  # a rounding-perturbed step may still leave the domain: halve it back in
                while not np.isfinite(_barrier_along(step, eta, logs=False)):
                    eta *= 0.5
                    if eta < 1e-12:
                        return None
                zn, sn = z + eta * dz, s + eta * ds
            z, s = zn, sn
            # Centred enough, or at the rounding floor (no more quadratic convergence).
            if decrement <= 1e-6 or (decrement < 1e-2 and decrement > 0.5 * previous):
                break
            previous = decrement
        f = objective(z, s)
        if _DEBUG:
            print(
                f"[barrier] t {t:.3e} newton {newton} f {f:.12g} eta {eta:.2e} dec {decrement:.2e}"
            )
        if degree / t <= rel_gap * max(abs(f), 1e-300):
            # Central-path multipliers of the cone rows: X^T (M_q lam + S_q mu_q) = alpha z_q / s_q
            # at an exact centre, so the certificate's multiplier bound is within alpha.
            mult = 1.0 / (t * (S * (X @ z)))
            return z, {"newton_steps": newton, "t": t, "objective": f, "multipliers": mult}
        t *= mu


def _barrier_along(step: tuple, eta: float, logs: bool = True) -> float:
    """The log barrier at ``(z + eta dz, s + eta ds)`` (``inf`` outside its domain), from the
    margins ``m`` and their change ``dm = S X dz``; ``logs=False`` tests the domain only."""
    m, dm, z, dz, s, ds = step
    mt = m + eta * dm
    st = s + eta * ds
    ut = st * st - np.sum((z + eta * dz) ** 2, axis=0)
    if np.any(mt <= 0) or np.any(ut <= 0) or np.any(st <= 0):
        return np.inf
    return -float(np.sum(np.log(mt))) - float(np.sum(np.log(ut))) if logs else 0.0


def _regularised_solve(H: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``H^{-1} b`` by Cholesky; when rounding has made ``H`` numerically indefinite (barrier
    weights ``1 / m^2`` of near-active rows reach 1e16 and more), by Cholesky of
    ``H + delta I`` with ``delta`` from ``1e-12`` of the largest diagonal entry up: a direction of
    descent still, which the line search and the next centring step correct."""
    try:
        return cho_solve(cho_factor(H), b)
    except (LinAlgError, np.linalg.LinAlgError):
        pass
    top = max(float(np.max(np.abs(np.diag(H)))), 1e-300)
    eye = np.eye(H.shape[0])
    for power in range(-12, -3, 2):
        try:
            return cho_solve(cho_factor(H + top * 10.0**power * eye), b)
        except (LinAlgError, np.linalg.LinAlgError):
            continue
    raise LinAlgError("the barrier's Newton system is not positive definite")
