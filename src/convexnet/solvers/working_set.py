"""Dense log-barrier solver for the exact ReLU program over a small working set of patterns.

Solves, for each output column ``k`` (decoupled outputs, SPEC.md §1.7) and the patterns
``D_1..D_P`` of a working set (SPEC.md §1.3),

    min_{v, w, s}  loss( sum_i D_i X (v_i - w_i), y_k ) + alpha sum_i (s_i^v + s_i^w)
    s.t.           (2 D_i - I) X v_i >= 0,  (2 D_i - I) X w_i >= 0,
                   ||v_i|| <= s_i^v,  ||w_i|| <= s_i^w

for the squared loss ``||p - y||^2 / 2`` and the logistic loss ``sum log(1 + exp(-y p))``, by the
primal log-barrier (path-following) method: Newton's method on
``t f(z, s) - sum log(S_i X z_i) - sum log(s_i^2 - ||z_i||^2)`` for ``t = t0, mu t0, ...``
(Boyd and Vandenberghe, *Convex Optimization*, 2004, §11.3). The barrier's degree is
``2 P (n + 2)``, so the last centred point is within ``2 P (n + 2) / t`` of the optimum.

It generalises :func:`convexnet.solvers.barrier.barrier_on_support` (squared loss, constant
data Hessian ``K = F^T F``) to a loss with per-sample curvature ``h``: the data term's Hessian
is ``K_t = F^T diag(h) F`` (``F = [D_i X]_i``, ``n x P d``), re-formed at every Newton step for
the logistic loss. With ``a_i = v_i - w_i`` and the barrier's per-group blocks ``B_v``, ``B_w``
(``s`` eliminated), one Newton step is one Cholesky of size ``P d``:
``(C^{-1} + t K_t) da = C^{-1} (B_v^{-1} r_v - B_w^{-1} r_w)`` with ``C = B_v^{-1} + B_w^{-1}``.

The working sets of column generation (:mod:`convexnet.growth`) are small (tens of patterns)
but the program has ``2 P n`` cone rows; Clarabel spends a minute on them at ``n = 1000``,
``d = 20`` (and much longer with the exponential cones of the logistic loss). Nothing computed
here is trusted: the caller certifies the result (:func:`convexnet.certificates.certify_two_layer`
over the working set, with the central-path multipliers returned here as the cheap bound) and
falls back to the conic solvers when the solve fails or its certified gap is above ``tol``.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve

from convexnet.losses import get_loss
from convexnet.programs.two_layer import TwoLayerProgram, TwoLayerSolution

__all__ = [
    "BARRIER_LOSSES",
    "BarrierFailure",
    "barrier_applies",
    "barrier_columns",
    "barrier_two_layer",
    "solve_two_layer_barrier",
]

_DEBUG = False
#: Path-following parameters: ``t`` grows by ``BARRIER_MU`` per centring, which stops at a
#: Newton decrement (squared) of ``CENTRING_TOL``. The barrier's degree is ``2 P (n + 2)``, in
#: the tens of thousands: short steps of ``t`` need far fewer Newton steps in all than the
#: textbook ``mu = 10`` (on a 38-pattern working set at n = 1000, d = 21: about 300 against
#: 1000 to reach 1e-8).
BARRIER_MU = 2.0
CENTRING_TOL = 0.05
#: Losses the barrier handles (the cross-entropy couples the outputs).
BARRIER_LOSSES = ("squared", "logistic")
#: Largest ``P d`` (size of the Newton system per output column) the barrier accepts.
BARRIER_MAX_BLOCK = 4000
#: Largest ``n P d`` (the dense ``F``) the barrier accepts.
BARRIER_MAX_DENSE = 4e7


class BarrierFailure(RuntimeError):
    """The barrier method could not produce a solution (the message says why)."""


def barrier_applies(program: TwoLayerProgram) -> bool:
    """Whether :func:`solve_two_layer_barrier` handles ``program``: exact (coned), regularised,
    squared or logistic loss, and a Newton system small enough to factor densely."""
    if program.gated or program.interpolate or program.loss.name not in BARRIER_LOSSES:
        return False
    if not np.isfinite(program.alpha) or program.alpha <= 0 or program.n_patterns == 0:
        return False
    block = program.n_patterns * program.n_features
    return block <= BARRIER_MAX_BLOCK and program.n_samples * block <= BARRIER_MAX_DENSE


def _spd_inverse(B: np.ndarray) -> np.ndarray:
    """Inverses of the symmetric positive (semi)definite blocks ``B`` (``(G, d, d)``).

    By Cholesky factors, or where one fails by eigendecomposition with the eigenvalues clipped
    at ``1e-15`` of each block's largest:
    near the end of the path the rows at a face of their cone weigh ``1e18`` and more, and
    ``X^T diag(w) X`` is then singular in floating point.
    """
    B = 0.5 * (B + np.transpose(B, (0, 2, 1)))
    try:  # the common case, about 5x cheaper than the eigendecomposition
        Li = np.linalg.inv(np.linalg.cholesky(B))
        if np.all(np.isfinite(Li)):
            return np.matmul(np.transpose(Li, (0, 2, 1)), Li)
    except np.linalg.LinAlgError:
        pass
    w, Q = np.linalg.eigh(B)
    w = np.maximum(w, 1e-15 * np.maximum(w.max(axis=1, keepdims=True), 1e-300))
    return np.matmul(Q / w[:, None, :], np.transpose(Q, (0, 2, 1)))


def _block_preconditioned_factor(H: np.ndarray, Cinv: np.ndarray):
    """A solver of ``(H + blkdiag(Cinv)) x = rhs`` for PSD ``H`` (``k d x k d``) and PD blocks
    ``Cinv``.

    With ``Cinv_i = L_i L_i^T`` the system is solved as ``(I + L^{-1} H L^{-T}) y = L^{-1} rhs``,
    ``da = L^{-T} y``: the scaled matrix has every eigenvalue at least one, so its Cholesky
    factorisation stays positive definite in floating point even where ``H`` is singular
    (``K = F^T F`` of complementary patterns ``D_g + D_{-g} = I``) and the blocks of groups
    shrinking to zero are ``1e16`` times larger than the rest near the end of the path.
    """
    k, d, _ = Cinv.shape
    try:
        L = np.linalg.cholesky(Cinv)
    except np.linalg.LinAlgError:  # roundoff in a block of condition ~1e16: clip its spectrum
        w, Q = np.linalg.eigh(Cinv)
        w = np.maximum(w, 1e-14 * np.maximum(w.max(axis=1, keepdims=True), 1e-300))
        L = np.linalg.cholesky(np.matmul(Q * w[:, None, :], np.transpose(Q, (0, 2, 1))))
    Li = np.linalg.inv(L)  # (k, d, d), lower triangular
    A = np.matmul(Li, H.reshape(k, d, k * d))  # L^{-1} H, block rows
    A = np.matmul(Li, A.reshape(k, d, k, d).transpose(2, 3, 0, 1).reshape(k, d, k * d))
    A = A.reshape(k, d, k, d).transpose(2, 3, 0, 1).reshape(k * d, k * d)  # L^{-1} H L^{-T}
    A = 0.5 * (A + A.T)
    A[np.diag_indices_from(A)] += 1.0
    factor = cho_factor(A, check_finite=False)

    def solve(rhs):
        b = np.einsum("gde,ge->gd", Li, rhs).reshape(-1)
        y = cho_solve(factor, b).reshape(k, d)
        return np.einsum("ged,ge->gd", Li, y)

    return solve


def _block_preconditioned_solve(H: np.ndarray, Cinv: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``(H + blkdiag(Cinv))^{-1} rhs`` by :func:`_block_preconditioned_factor`."""
    return _block_preconditioned_factor(H, Cinv)(rhs)


def _newton_factor(H: np.ndarray, Cinv: np.ndarray):
    """A solver of ``(H + blkdiag(Cinv)) x = rhs`` (``rhs`` of shape ``(k, d)``), factored once.

    One Cholesky of the sum; where rounding has made it indefinite (or its solution is not
    finite), :func:`_block_preconditioned_factor` (about 1.5x the cost); where that fails too
    (``H`` at 1e16 and more against blocks below its rounding), Cholesky of the sum plus
    ``delta I``, ``delta`` from ``1e-12`` of its largest diagonal entry up: still a descent
    direction, which the line search and the next centring step correct."""
    k, d, _ = Cinv.shape
    A = H.copy()
    for i in range(k):
        A[i * d : (i + 1) * d, i * d : (i + 1) * d] += Cinv[i]

    def plain(factor):
        return lambda rhs: cho_solve(factor, rhs.reshape(-1)).reshape(k, d)

    try:
        solve = plain(cho_factor(A, check_finite=False))
        probe = solve(np.ones((k, d)))
        if np.all(np.isfinite(probe)):
            return solve
    except (LinAlgError, np.linalg.LinAlgError, ValueError):
        pass
    try:
        return _block_preconditioned_factor(H, Cinv)
    except (LinAlgError, np.linalg.LinAlgError, ValueError):
        pass
    top = max(float(np.max(np.abs(np.diag(A)))), 1e-300)
    eye = np.eye(k * d)
    for power in range(-12, -3, 2):
        try:
            return plain(cho_factor(A + top * 10.0**power * eye))
        except (LinAlgError, np.linalg.LinAlgError):
            continue
    raise LinAlgError("the barrier's Newton system is not positive definite")


def _newton_solve(H: np.ndarray, Cinv: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``(H + blkdiag(Cinv))^{-1} rhs`` by :func:`_newton_factor`."""
    return _newton_factor(H, Cinv)(rhs)


def _group_newton(B: np.ndarray, H: np.ndarray, k: int):
    """A solver of the barrier's Newton system in ``z = [V, W]`` (``d x 2k``), ``s`` eliminated.

    ``B`` (``(2k, d, d)``) holds each group's barrier Hessian and ``H`` (``k d x k d``) the data
    term's Hessian in ``a = v - w``. With ``C = B_v^{-1} + B_w^{-1}`` the step in ``a`` solves
    ``(C^{-1} + H) da = C^{-1} (B_v^{-1} r_v - B_w^{-1} r_w)`` and ``dw = (B_v + B_w)^{-1}
    (r_v + r_w - B_v da)``. Returns ``solve(r) -> dz`` for a right-hand side ``r`` (``d x 2k``),
    every solve reusing one factorisation.
    """
    Bv, Bw = B[:k], B[k:]
    # C^{-1} = (B_v^{-1} + B_w^{-1})^{-1}: the sum of inverses is dominated by the smaller
    # block's inverse, so it keeps its accuracy when one block is huge.
    Bvi, Bwi = _spd_inverse(Bv), _spd_inverse(Bw)
    Cinv = _spd_inverse(Bvi + Bwi)
    Ei = _spd_inverse(Bv + Bw)
    solve_a = _newton_factor(H, Cinv)

    def solve(r):
        rhs = np.einsum(
            "gde,ge->gd",
            Cinv,
            np.einsum("gde,ge->gd", Bvi, r[:, :k].T) - np.einsum("gde,ge->gd", Bwi, r[:, k:].T),
        )
        da = solve_a(rhs)
        rest = r[:, :k].T + r[:, k:].T - np.einsum("gde,ge->gd", Bv, da)
        dw = np.einsum("gde,ge->gd", Ei, rest)
        return np.concatenate([(dw + da).T, dw.T], axis=1)

    return solve


def _soc_terms(z: np.ndarray, s: np.ndarray, eye: np.ndarray):
    """The second-order cones' barrier ``-log(s^2 - ||z||^2)`` per group: its gradients
    ``(gz, gs)``, the ``z``-block of its Hessian with ``s`` eliminated (``(G, d, d)``) in the
    stable form ``(2/u) (I - P) + 2/(s^2 + ||z||^2) P`` (``P`` the projector on ``z``; the
    textbook expression cancels to roundoff as ``u -> 0``), and ``hss``, ``hzs``."""
    zz = np.sum(z * z, axis=0)
    u = s * s - zz
    hss = 2.0 * (s * s + zz) / (u * u)
    hzs = -4.0 * s * z / u**2
    unit = z / np.sqrt(np.maximum(zz, 1e-300))
    block = (2.0 / u)[:, None, None] * eye + (2.0 / (s * s + zz) - 2.0 / u)[
        :, None, None
    ] * np.einsum("dg,eg->gde", unit, unit)
    return 2.0 * z / u, -2.0 * s / u, block, hss, hzs


def barrier_two_layer(
    X: np.ndarray,
    y: np.ndarray,
    D: np.ndarray,
    alpha: float,
    start: np.ndarray,
    *,
    loss: str = "squared",
    rel_gap: float = 1e-8,
    mu: float = BARRIER_MU,
    max_newton: int = 1000,
    max_centring: int = 200,
    centring_tol: float = CENTRING_TOL,
    deadline: float | None = None,
):
    """Barrier solve of one output column over the patterns ``D`` (``n x P`` 0/1 masks).

    ``start`` (``d x 2P``, ``[V, W]``) must be strictly inside every cone
    (``(2 D_i - I) X start_i > 0``), e.g. the patterns' generators. Stops when the barrier's
    bound ``2 P (n + 2) / t`` on the suboptimality is at most ``rel_gap`` times the objective
    (a bound at exact centres; the centring here is inexact, ``CENTRING_TOL``, so the bound is
    indicative and the caller's certificate decides).
    Returns ``(Z, info)`` with ``Z`` of shape ``(d, 2P)`` and ``info["multipliers"]``
    (``n x 2P``, the cone rows' central-path multipliers ``1 / (t S_i X z_i)``). Raises
    :class:`BarrierFailure` when the start is not strictly feasible, Newton's method fails, or
    ``max_newton`` steps or the ``deadline`` (a ``time.perf_counter()`` value) pass.
    """
    n, d = X.shape
    k = D.shape[1]
    Df = np.asarray(D, dtype=float)
    S1 = 2.0 * Df - 1.0
    S = np.concatenate([S1, S1], axis=1)
    G = 2 * k
    z = np.array(start, dtype=float, copy=True)
    if k == 0 or z.shape != (d, G) or not np.all(S * (X @ z) > 0) or not np.all(np.isfinite(z)):
        raise BarrierFailure("the start is not strictly inside every cone")
    if loss not in BARRIER_LOSSES:
        raise ValueError(f"the barrier handles the losses {BARRIER_LOSSES}, got {loss!r}.")
    datafit = get_loss(loss)
    y = np.asarray(y, dtype=float)

    def value(p):
        return datafit.value(p, y)

    F = (Df[:, :, None] * X[:, None, :]).reshape(n, k * d)
    K = F.T @ F if loss == "squared" else None
    upper = np.triu_indices(d)
    XX = X[:, upper[0]] * X[:, upper[1]]  # rows: the upper triangle of x_j x_j^T
    norms = np.linalg.norm(z, axis=0)
    s = 2.0 * norms + 1e-3 * max(float(norms.max()), 1e-300)

    def predictions(z):
        return F @ (z[:, :k] - z[:, k:]).T.reshape(-1)

    def objective(z, s):
        return value(predictions(z)) + alpha * float(s.sum())

    degree = n * G + 2 * G
    f = objective(z, s)
    t = degree / max(abs(f), 1e-300)
    newton = 0
    eye = np.eye(d)
    while True:
        previous = np.inf
        for _ in range(max_centring):  # centre: Newton's method on phi = t f + barrier
            newton += 1
            if newton > max_newton or (deadline is not None and time.perf_counter() > deadline):
                raise BarrierFailure(
                    f"no convergence within {max_newton} Newton steps or the time limit (t={t:.3g})"
                )
            m = S * (X @ z)  # (n, G)
            pred = predictions(z)
            grad = datafit.gradient(pred, y)
            ga = t * (F.T @ grad).reshape(k, d).T  # (d, k)
            gz = np.concatenate([ga, -ga], axis=1)
            gz -= X.T @ (S / m)
            soc_gz, soc_gs, soc_block, hss, hzs = _soc_terms(z, s, eye)
            gz += soc_gz
            gs = t * alpha + soc_gs
            W = 1.0 / (m * m)
            # X^T diag(W_q) X for every group: one product over the upper triangles.
            B = np.empty((G, d, d))
            B[:, upper[0], upper[1]] = B[:, upper[1], upper[0]] = W.T @ XX
            B += soc_block
            try:
                if K is not None:
                    H = t * K
                else:
                    Fh = F * np.sqrt(t * datafit.curvature(pred, y))[:, None]
                    H = Fh.T @ Fh
                dz = _group_newton(B, H, k)(-(gz - hzs * (gs / hss)))
            except (LinAlgError, np.linalg.LinAlgError, ValueError) as exc:
                raise BarrierFailure(f"Newton system not positive definite (t={t:.3g})") from exc
            da = (dz[:, :k] - dz[:, k:]).T
            ds = (-gs - np.sum(hzs * dz, axis=0)) / hss
            decrement = -(float(np.sum(gz * dz)) + float(gs @ ds))
            if not np.isfinite(decrement):
                raise BarrierFailure(f"non-finite Newton decrement (t={t:.3g})")
            if decrement <= 1e-10:
                if decrement < -1e-8 * max(abs(float(np.sum(gz * gz))), 1.0):
                    raise BarrierFailure(
                        f"not a descent direction: ill-conditioned system (t={t:.3g})"
                    )
                break
            # Armijo backtracking far from the centre; near it (decrement < 1/4) the full
            # step, shortened only to stay inside the domain (the Armijo test's values grow
            # like t and are unreliable there).
            # The cone margins move linearly: one product X dz serves every trial step.
            # So do the predictions: one product F (dv - dw).
            step = (m, S * (X @ dz), z, dz, s, ds)
            dpred = F @ da.reshape(-1)
            eta = 1.0
            if decrement > 0.25:
                phi = t * (value(pred) + alpha * float(s.sum())) + _barrier_along(step, 0.0)
                while eta > 1e-12:
                    zn, sn = z + eta * dz, s + eta * ds
                    b = _barrier_along(step, eta)
                    f_eta = value(pred + eta * dpred) + alpha * float(sn.sum())
                    if np.isfinite(b) and t * f_eta + b <= phi - 0.25 * eta * decrement:
                        break
                    eta *= 0.5
                else:
                    break
            else:
                while not np.isfinite(_barrier_along(step, eta, logs=False)):
                    eta *= 0.5
                    if eta < 1e-12:
                        raise BarrierFailure(
                            f"no feasible step along the Newton direction (t={t:.3g})"
                        )
                zn, sn = z + eta * dz, s + eta * ds
            z, s = zn, sn
            if decrement <= centring_tol or (decrement < 1e-2 and decrement > 0.5 * previous):
                break
            previous = decrement
        f = objective(z, s)
        if _DEBUG:
            print(
                f"[barrier] t {t:.3e} newton {newton} f {f:.12g} eta {eta:.2e} dec {decrement:.2e}"
            )
        if degree / t <= rel_gap * max(abs(f), 1e-300):
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


def central_generators(
    X: np.ndarray, D: np.ndarray, generators: np.ndarray, steps: int = 30
) -> np.ndarray:
    """Unit generators near the analytic centres of the patterns' cones.

    For each pattern ``i``, damped Newton steps on
    ``-sum_j log(s_j x_j^T g / ||x_j||) - n log(1 - ||g||^2)`` (``s = 2 D_i - 1``) from its
    generator: the same pattern with rows far from ``g``'s hyperplane, so that the barrier does
    not start against a face (generators from hyperplanes through data points, or neurons, have
    relative margins down to ``1e-8``). A generator not strictly inside its cone is returned as
    it is (the barrier then refuses it); the result is normalised.
    """
    n, d = X.shape
    rn = np.linalg.norm(X, axis=1)
    keep = rn > 0
    Xn = X[keep] / rn[keep, None]
    S = 2.0 * np.asarray(D, dtype=float)[keep] - 1.0  # (n', P)
    G = np.array(generators, dtype=float, copy=True)
    G = G / np.maximum(np.linalg.norm(G, axis=0), 1e-300)
    ok = np.all(S * (Xn @ G) > 0, axis=0)
    if not ok.any():
        return G
    idx = np.flatnonzero(ok)
    g = 0.5 * G[:, idx]
    Sg = S[:, idx]
    XX = (Xn[:, :, None] * Xn[:, None, :]).reshape(-1, d * d)
    weight = float(Xn.shape[0])
    eye = np.eye(d)

    def phi(g):
        m = Sg * (Xn @ g)
        u = 1.0 - np.sum(g * g, axis=0)
        bad = np.any(m <= 0, axis=0) | (u <= 0)
        val = -np.sum(np.log(np.where(m > 0, m, 1.0)), axis=0) - weight * np.log(
            np.where(u > 0, u, 1.0)
        )
        return np.where(bad, np.inf, val)

    for _ in range(steps):
        m = Sg * (Xn @ g)
        u = 1.0 - np.sum(g * g, axis=0)
        grad = -Xn.T @ (Sg / m) + weight * 2.0 * g / u
        H = (((1.0 / m**2).T @ XX).reshape(-1, d, d)) + (weight * 2.0 / u)[:, None, None] * eye
        H += (weight * 4.0 / u**2)[:, None, None] * np.einsum("dg,eg->gde", g, g)
        try:
            step = -np.linalg.solve(H, grad.T[:, :, None])[:, :, 0].T
        except np.linalg.LinAlgError:
            break
        dec = -np.sum(grad * step, axis=0)
        if np.all(dec < 1e-6):
            break
        eta = np.ones(g.shape[1])
        base = phi(g)
        for _ in range(40):
            trial = phi(g + eta * step)
            fine = trial <= base - 0.25 * eta * dec
            if fine.all():
                break
            eta = np.where(fine, eta, 0.5 * eta)
        g = np.where(np.isfinite(phi(g + eta * step))[None, :], g + eta * step, g)
    g = g / np.linalg.norm(g, axis=0)
    same = np.all(Sg * (Xn @ g) > 0, axis=0)
    G[:, idx[same]] = g[:, same]
    return G


def barrier_columns(
    X: np.ndarray,
    Y: np.ndarray,
    D: np.ndarray,
    gen: np.ndarray,
    alpha: float,
    loss: str,
    scales,
    **options,
) -> tuple:
    """:func:`barrier_two_layer` for every output column of ``Y`` (decoupled, SPEC.md §1.7).

    Column ``k`` starts every group at ``scales[k] * gen`` (``gen``: unit generators strictly
    inside their cones, e.g. from :func:`central_generators`); ``options`` go to
    :func:`barrier_two_layer`, whose :class:`BarrierFailure` propagates. Returns ``Z``
    (``d x c x 2P``, ``[V, W]`` per column), the central-path multipliers (``n x c x 2P``) and
    the number of Newton steps in all.
    """
    (n, d), c, P = X.shape, Y.shape[1], D.shape[1]
    Z = np.zeros((d, c, 2 * P))
    mult = np.zeros((n, c, 2 * P))
    steps = 0
    for col in range(c):
        start = scales[col] * np.concatenate([gen, gen], axis=1)
        try:
            Z[:, col, :], info = barrier_two_layer(
                X, Y[:, col], D, float(alpha), start, loss=loss, **options
            )
        except BarrierFailure as exc:
            raise BarrierFailure(f"column {col}: {exc}") from exc
        mult[:, col, :] = info["multipliers"]
        steps += info["newton_steps"]
    return Z, mult, steps


def _start_scale(program: TwoLayerProgram, col: int, gen: np.ndarray, warm) -> float:
    """The common norm of the starting groups: the warm start's median active group norm, else
    the norm at which one group alone would fit ``y``'s scale."""
    if warm is not None and warm.W is not None and warm.V.shape[0] == program.n_patterns:
        norms = np.r_[
            np.linalg.norm(warm.V[:, :, col], axis=1), np.linalg.norm(warm.W[:, :, col], axis=1)
        ]
        # Active groups only: an interior-point solution's zero groups are tiny, not zero.
        active = norms > 1e-3 * float(norms.max(initial=0.0))
        if np.any(active) and norms.max() > 0:
            return float(np.median(norms[active]))
    image = np.abs(program.X @ gen) * program.D
    reach = float(np.linalg.norm(image, axis=0).max(initial=0.0))
    target = float(np.linalg.norm(program.Y[:, col]))
    if reach <= 0 or target <= 0:
        return 1.0
    return target / (reach * program.n_patterns)


def solve_two_layer_barrier(
    program: TwoLayerProgram,
    *,
    tol: float = 1e-8,
    warm_start: TwoLayerSolution | None = None,
    max_newton: int = 1000,
    time_limit: float | None = None,
) -> TwoLayerSolution:
    """Solve the exact program over ``program``'s patterns by :func:`barrier_two_layer`.

    Every group starts at its pattern's generator (strictly inside the cone; a pattern whose
    generator is not is a failure), scaled to the warm start's typical group norm when one is
    given. ``tol`` is the barrier's relative suboptimality bound. Returns a
    :class:`TwoLayerSolution` with ``solver="barrier"`` and ``info["multipliers"]``
    (``n x c x 2P``), or status ``"failed"`` (with the reason in ``info``) when
    :func:`barrier_applies` is false or any column's solve fails.
    """
    start_time = time.perf_counter()

    def failed(reason):
        return TwoLayerSolution(
            V=program.zeros(),
            W=program.zeros(),
            status="failed",
            objective=float("nan"),
            solve_time=time.perf_counter() - start_time,
            solver="barrier",
            info={"reason": reason},
        )

    if not barrier_applies(program):
        return failed("the barrier handles exact regularised squared/logistic programs only")
    P = program.n_patterns
    gen = central_generators(program.X, program.D, program.generators)
    scales = [_start_scale(program, col, gen, warm_start) for col in range(program.n_outputs)]
    deadline = None if time_limit is None else start_time + time_limit
    try:
        Z, mult, steps = barrier_columns(
            program.X,
            program.Y,
            program.D,
            gen,
            program.alpha,
            program.loss.name,
            scales,
            rel_gap=tol,
            max_newton=max_newton,
            deadline=deadline,
        )
    except (BarrierFailure, FloatingPointError, OverflowError, MemoryError) as exc:
        return failed(str(exc))
    V = np.transpose(Z[:, :, :P], (2, 0, 1))
    W = np.transpose(Z[:, :, P:], (2, 0, 1))
    return TwoLayerSolution(
        V=V,
        W=W,
        status="optimal",
        objective=program.objective(V, W),
        solve_time=time.perf_counter() - start_time,
        solver="barrier",
        iterations=steps,
        info={"multipliers": mult},
    )
