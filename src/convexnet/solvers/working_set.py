"""Dense interior-point solvers for the exact ReLU program over a small working set of patterns.

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

The data term's Hessian
is ``K_t = F^T diag(h) F`` (``F = [D_i X]_i``, ``n x P d``), re-formed at every Newton step for
the logistic loss. With ``a_i = v_i - w_i`` and the barrier's per-group blocks ``B_v``, ``B_w``
(``s`` eliminated), one Newton step is one Cholesky of size ``P d``:
``(C^{-1} + t K_t) da = C^{-1} (B_v^{-1} r_v - B_w^{-1} r_w)`` with ``C = B_v^{-1} + B_w^{-1}``.

:func:`primal_dual_two_layer` solves the same program by Mehrotra's primal-dual
predictor-corrector with Nesterov-Todd scaling of both cone kinds, from the barrier's first
centred point: 20-40 iterations where the barrier's path takes 90-200 Newton steps, each
iteration one factorisation of the same block form (``(d + 1)``-blocks). Its steps stall near
relative gaps of 1e-8 (earlier on large or nearly all-active sets), where it hands the path to
the barrier. :func:`barrier_columns` chooses between them by the number of cone rows.

The working sets of column generation (:mod:`convexnet.growth`) are small (tens of patterns)
but the program has ``2 P n`` cone rows; Clarabel spends a minute on them at ``n = 1000``,
``d = 20`` (and much longer with the exponential cones of the logistic loss). Nothing computed
here is trusted: the caller certifies the result (:func:`convexnet.certificates.certify_two_layer`
over the working set, with the central-path multipliers returned here as the cheap bound) and
falls back to the conic solvers when the solve fails or its certified gap is above ``tol``.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve

from convexnet.losses import get_loss
from convexnet.patterns import _normalise_rows
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
#: Refinement steps of each primal-dual Newton solve against the unreduced system, at most:
#: they stop once the relative residual is at most ``PD_REFINE_TOL`` or fails to halve. The
#: plain solve is at 1e-13 to 1e-12 for most of the path (one step is then a waste); near its
#: end, where the cones' Hessians span 1e16 and more, it starts at 1e-4 to 1e-2 and needs all.
PD_REFINE = 6
PD_REFINE_TOL = 1e-11
#: The relative gap at which the primal-dual method hands the path to the barrier, and its
#: iteration limit (see primal_dual_two_layer).
PD_HANDOFF_GAP = 1e-8
PD_MAX_ITER = 60
#: The primal-dual method stops when five steps did not halve its gap only below this relative
#: gap (where the cones' cancellation stalls it); above, it goes on (at most ``PD_MAX_ITER``
#: steps): on a working set of planted classification (n = 1000, d = 21, 86 patterns) its
#: steps were 0.03-0.6 long near 1e-2, it stopped there, and the barrier's hand-off from that
#: point crawled 350 Newton steps (33.6 s) to a point certified at 8.8e-4; going on, it reached
#: 1e-5 in 35 iterations (45 Newton steps with its first centring, 7.3-7.5 s).
PD_SLOW_BELOW = 1e-4
#: A primal-dual path that ends above this relative gap is not handed to the barrier: the
#: barrier restarts from the start (the same set: 17.7 s with the restart, certified 5.8e-6).
PD_RESTART_GAP = 1e-3
#: The primal-dual method's start is first rescaled along its ray to the first centring's
#: stationary scale (:func:`_ray_central_scale`), and its Newton systems eliminate each group's
#: ``s`` before factoring (:func:`_cone_eliminated`). Exact cross-over cases (squared and
#: logistic, n = 500-1000, d = 10-20, 100 patterns; interleaved runs, one BLAS thread): 3-8%
#: and 0-4% faster; ``False`` restores the earlier method (kept for such comparisons).
PD_RAY_SCALE = True
PD_ELIMINATE_S = True
#: Newton steps per centring after the hand-off: from the primal-dual iterate, the last
#: centrings near t ~ 1e12 can crawl (200 steps at n = 10000), and the path's bound already
#: holds there.
PD_HANDOFF_CENTRING = 30
#: Cone rows ``2 n P`` up to which ``method="auto"`` takes the primal-dual method. Measured
#: (exact polish, d = 10-20): 1.2-2.5x faster than the barrier at n = 500-1000 (up to 7.6e4
#: rows); at n = 10000 and 63 patterns (1.3e6 rows) it stalls near a gap of 2e-7 and, with the
#: barrier's hand-off, took 14.7 s against the barrier's 10.4 s.
PD_MAX_ROWS = 2e5
#: ``solve_two_layer_barrier(method="auto")`` takes the primal-dual method (without the
#: barrier's hand-off) for relative gaps of at least this, the barrier below. On a working set
#: of pattern growth (planted regression, n = 1000, d = 20, 63 patterns) the
#: primal-dual method reached 1e-5 in 35 Newton steps (3.3 s), where the barrier needed 490
#: steps for 1e-6 and 732 for 1e-8; it stalls near 5e-6 there, and its hand-off to the barrier
#: then crawls (146 steps for 1e-6, 236 for 1e-7, with centrings cut short at
#: PD_HANDOFF_CENTRING steps, so that the path's bound is not reliable), hence the barrier
#: for tighter gaps.
PD_ALONE_TOL = 1e-5
#: ... except on working sets of at least this many columns of ``X`` (features and the
#: intercept), where tight solves also take the primal-dual method and its hand-off: there the
#: barrier's Newton systems (``P d`` up to 4000) dominate its cost, and the primal-dual path
#: usually needs far fewer of them. Along growth's tight working sets (solved both ways, one
#: BLAS thread, 2026-11-28): planted regression n = 1000, d = 51, 35-41 patterns, 58-95 Newton
#: steps against 159-197 (59.8 s against 122.8 s in all); planted classification, d = 51, 75
#: and 56 patterns, 227 steps against 179 (114 s against 93 s) and 46 against 250 (17 s against
#: 65 s). At d = 11-31 the barrier kept the lead: planted regression, d = 21, 8.6 s against
#: 11.9 s; planted classification, d = 21, 99.5 s against 188 s (three of 20 primal-dual paths
#: stalled near 1e-5 and crawled 450-580 steps); diabetes and breast cancer about even. Near
#: the threshold it is a toss-up: planted regression at 31 and 41 columns, 26.7 s against
#: 30.8 s and 33.8 s against 32.0 s (each path has sets where it stalls and crawls).
PD_TIGHT_MIN_COLUMNS = 40
#: Row screening (:func:`_screened_barrier`): each group keeps at first the
#: ``SCREEN_ROWS_PER_FEATURE * d`` cone rows nearest its start's hyperplane and as many nearest
#: the warm start's group, and the rows its solution violates are added for up to
#: ``SCREEN_ROUNDS`` solves before the barrier takes every row. On a working set of pattern
#: growth (planted regression, n = 10000, d = 21, 47 patterns, 9.4e5 cone rows) the barrier over
#: every row took 1500 Newton steps (105 s) to certify 6e-7; over 9.7e3 screened rows it
#: certified 2.9e-7 in 124 steps (10 s), none violated (n = 1000: 2.4 s against 11.8 s).
SCREEN_ROWS_PER_FEATURE = 5
SCREEN_ROUNDS = 4
#: Logistic loss: the barrier forms ``F^T diag(h) F`` (``n (P d)^2`` flops) only when the
#: conjugate gradients preconditioned with the last one took ``PCG_REFRESH`` steps or more (or
#: did not reach ``PCG_TOL`` within ``PCG_MAX_ITER``); each of their steps costs ``4 n P d``.
PCG_TOL = 1e-10
PCG_MAX_ITER = 25
PCG_REFRESH = 8


class BarrierFailure(RuntimeError):
    """The barrier method could not produce a solution (the message says why)."""


def barrier_handles(gated: bool, interpolate: bool, loss_name: str) -> bool:
    """Whether the barrier solves programs of this kind: exact (coned), regularised, squared or
    logistic loss (their size aside, :func:`barrier_applies`)."""
    return not gated and not interpolate and loss_name in BARRIER_LOSSES


def barrier_applies(program: TwoLayerProgram) -> bool:
    """Whether :func:`solve_two_layer_barrier` handles ``program``: exact (coned), regularised,
    squared or logistic loss, and a Newton system small enough to factor densely."""
    if not barrier_handles(program.gated, program.interpolate, program.loss.name):
        return False
    if not np.isfinite(program.alpha) or program.alpha <= 0 or program.n_patterns == 0:
        return False
    block = program.n_patterns * program.n_features
    return block <= BARRIER_MAX_BLOCK and program.n_samples * block <= BARRIER_MAX_DENSE


def barrier_max_patterns(n_samples: int, n_features: int) -> int:
    """The most patterns for which :func:`barrier_applies` holds on ``n_samples x n_features``
    data (``BARRIER_MAX_BLOCK`` and ``BARRIER_MAX_DENSE``)."""
    block = min(BARRIER_MAX_BLOCK, BARRIER_MAX_DENSE / max(n_samples, 1))
    return int(block // max(n_features, 1))


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
        y = cho_solve(factor, b, check_finite=False).reshape(k, d)
        return np.einsum("ged,ge->gd", Li, y)

    return solve


def _newton_factor(H: np.ndarray, Cinv: np.ndarray):
    """A solver of ``(H + blkdiag(Cinv)) x = rhs`` (``rhs`` of shape ``(k, d)``), factored once.

    One Cholesky of the sum; where rounding has made it indefinite (or its solution is not
    finite), :func:`_block_preconditioned_factor` (about 1.5x the cost); where that fails too
    (``H`` at 1e16 and more against blocks below its rounding), Cholesky of the sum plus
    ``delta I``, ``delta`` from ``1e-12`` of its largest diagonal entry up: still a descent
    direction, which the line search and the next centring step correct."""
    k, d, _ = Cinv.shape

    def assembled():
        A = H.copy()
        for i in range(k):
            A[i * d : (i + 1) * d, i * d : (i + 1) * d] += Cinv[i]
        return A

    def plain(factor):
        return lambda rhs: cho_solve(factor, rhs.reshape(-1), check_finite=False).reshape(k, d)

    A = assembled()
    top = max(float(np.max(np.abs(np.diag(A)))), 1e-300)
    try:
        # A is this function's own copy: LAPACK factors its transpose (Fortran order, the
        # same memory) in place; its lower triangle is A's upper one, the one read before.
        factor = cho_factor(A.T, lower=True, check_finite=False, overwrite_a=True)
        # A non-finite pivot means a failed factorisation. (A solve that still overflows
        # is left to the callers, which check their Newton steps for finiteness.)
        if np.all(np.isfinite(np.diag(factor[0]))):
            return plain(factor)
    except (LinAlgError, np.linalg.LinAlgError, ValueError):
        pass
    try:
        return _block_preconditioned_factor(H, Cinv)
    except (LinAlgError, np.linalg.LinAlgError, ValueError):
        pass
    eye = np.eye(k * d)
    for power in range(-12, -3, 2):
        try:
            return plain(cho_factor(assembled() + top * 10.0**power * eye, check_finite=False))
        except (LinAlgError, np.linalg.LinAlgError):
            continue
    raise LinAlgError("the barrier's Newton system is not positive definite")


def _pcg(apply, rhs: np.ndarray, precondition, tol: float, max_iter: int):
    """Preconditioned conjugate gradients for ``apply(x) = rhs`` (``x`` shaped like ``rhs``).

    Returns ``(x, iterations, converged)``; converged when ``||r|| <= tol ||rhs||``.
    """
    x = precondition(rhs)
    r = rhs - apply(x)
    scale = max(float(np.linalg.norm(rhs)), 1e-300)
    zr = precondition(r)
    p = zr
    rz = float(np.sum(r * zr))
    for it in range(max_iter + 1):
        if np.linalg.norm(r) <= tol * scale:
            return x, it, True
        if it == max_iter:
            break
        q = apply(p)
        curv = float(np.sum(p * q))
        if not curv > 0:
            break
        step = rz / curv
        x = x + step * p
        r = r - step * q
        zr = precondition(r)
        rz, rz_old = float(np.sum(r * zr)), rz
        p = zr + (rz / rz_old) * p
    return x, max_iter, False


def _group_newton(B: np.ndarray, H: np.ndarray, k: int, exact=None, report: dict | None = None):
    """A solver of the barrier's Newton system in ``z = [V, W]`` (``d x 2k``), ``s`` eliminated.

    ``B`` (``(2k, d, d)``) holds each group's barrier Hessian and ``H`` (``k d x k d``) the data
    term's Hessian in ``a = v - w``. With ``C = B_v^{-1} + B_w^{-1}`` the step in ``a`` solves
    ``(C^{-1} + H) da = C^{-1} (B_v^{-1} r_v - B_w^{-1} r_w)`` and ``dw = (B_v + B_w)^{-1}
    (r_v + r_w - B_v da)``. Returns ``solve(r) -> dz`` for a right-hand side ``r`` (``d x 2k``),
    every solve reusing one factorisation.

    With ``exact`` (the data Hessian as an operator on flat ``a``-steps, ``H`` then an
    approximation of it, e.g. an earlier step's) the system in ``a`` is solved by
    conjugate gradients preconditioned with the factorisation of ``C^{-1} + H`` (:func:`_pcg`,
    relative residual ``PCG_TOL``, at most ``PCG_MAX_ITER`` steps); ``report`` receives its
    ``iterations`` and whether it ``converged``.
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
        if exact is None:
            da = solve_a(rhs)
        else:

            def apply(x):
                return np.einsum("gde,ge->gd", Cinv, x) + exact(x.reshape(-1)).reshape(k, -1)

            da, iterations, converged = _pcg(apply, rhs, solve_a, PCG_TOL, PCG_MAX_ITER)
            if report is not None:
                report.update(iterations=iterations, converged=converged)
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


def _soc_det(x: np.ndarray) -> np.ndarray:
    """``x_0^2 - ||x_1||^2`` for each column of ``x`` (second-order-cone points, ``t`` first)."""
    return x[0] * x[0] - np.sum(x[1:] * x[1:], axis=0)


def _jordan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The Jordan product ``(a^T b, a_0 b_1 + b_0 a_1)`` of each column pair."""
    return np.vstack([np.sum(a * b, axis=0), a[0] * b[1:] + b[0] * a[1:]])


def _jordan_solve(lam: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``u`` with ``lam o u = v`` (``lam`` inside the cone), column by column."""
    u0 = (lam[0] * v[0] - np.sum(lam[1:] * v[1:], axis=0)) / _soc_det(lam)
    return np.vstack([u0, (v[1:] - u0 * lam[1:]) / lam[0]])


def _nt_scaling(x: np.ndarray, y: np.ndarray):
    """Nesterov-Todd scaling of primal ``x`` and dual ``y`` (``(e, G)``, inside the cone).

    ``W = beta (2 v v^T - J)`` with ``W x = W^{-1} y`` (Vandenberghe, *The CVXOPT linear and
    quadratic cone program solvers*, 2010, §4.3): ``xb = x / sqrt(det x)``, ``yb`` likewise,
    ``gamma = sqrt((1 + xb^T yb) / 2)``, ``wb = (yb + J xb) / (2 gamma)``,
    ``v = (wb + e_0) / sqrt(2 (wb_0 + 1))``, ``beta = (det y / det x)^(1/4)``.
    Returns ``W``, ``W^{-1}`` (``(G, e, e)``) and the scaled point ``W x`` (``(e, G)``);
    raises ``FloatingPointError`` when a column of ``x`` or ``y`` is not strictly inside.
    """
    e = x.shape[0]
    J = np.diag(np.r_[1.0, -np.ones(e - 1)])
    dx, dy = _soc_det(x), _soc_det(y)
    if not (np.all(dx > 0) and np.all(dy > 0) and np.all(x[0] > 0) and np.all(y[0] > 0)):
        # A point on or past its cone's boundary by rounding: no scaling exists (the caller
        # stops the primal-dual method there), and no NaN or RuntimeWarning should follow.
        raise FloatingPointError("a second-order-cone point left its cone by rounding")
    xb, yb = x / np.sqrt(dx), y / np.sqrt(dy)
    gamma = np.sqrt((1.0 + np.sum(xb * yb, axis=0)) / 2.0)
    wb = yb.copy()
    wb[0] += xb[0]
    wb[1:] -= xb[1:]
    wb /= 2.0 * gamma
    v = wb.copy()
    v[0] += 1.0
    v /= np.sqrt(2.0 * (wb[0] + 1.0))
    beta = (dy / dx) ** 0.25
    W = beta[:, None, None] * (2.0 * np.einsum("ig,jg->gij", v, v) - J)
    Jv = v.copy()
    Jv[1:] *= -1.0
    Winv = (1.0 / beta)[:, None, None] * (2.0 * np.einsum("ig,jg->gij", Jv, Jv) - J)
    return W, Winv, np.einsum("gij,jg->ig", W, x)


def _cone_step(x: np.ndarray, dx: np.ndarray) -> float:
    """The largest ``eta`` keeping every column of ``x + eta dx`` inside the second-order cone
    (``inf`` where none leaves it): the smallest positive root of ``det(x + eta dx)``."""
    a, c = _soc_det(dx), _soc_det(x)
    b = 2.0 * (x[0] * dx[0] - np.sum(x[1:] * dx[1:], axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        disc = np.sqrt(np.maximum(b * b - 4.0 * a * c, 0.0))
        r1 = np.where(a != 0, (-b - disc) / (2.0 * a), np.where(b < 0, -c / b, np.inf))
        r2 = np.where(a != 0, (-b + disc) / (2.0 * a), np.inf)
        apex = np.where(dx[0] < 0, -x[0] / dx[0], np.inf)
    roots = np.stack([r1, r2, apex])
    roots = np.where((roots > 0) & np.isfinite(roots), roots, np.inf)
    return float(roots.min(initial=np.inf))


def _orthant_step(x: np.ndarray, dx: np.ndarray) -> float:
    """The largest ``eta`` keeping ``x + eta dx > 0`` (``inf`` where no entry decreases)."""
    neg = dx < 0
    return float(np.min(-x[neg] / dx[neg])) if np.any(neg) else np.inf


def _predictions(F: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``F a`` with ``a_i = v_i - w_i`` for ``z = [V, W]`` (``d x 2P``): the column's output."""
    k = z.shape[1] // 2
    return F @ (z[:, :k] - z[:, k:]).T.reshape(-1)


class _Column(NamedTuple):
    """The fixed data of one output column's interior-point solve (:func:`_column_data`)."""

    S: np.ndarray  # the cone rows' signs [2D - 1, 2D - 1], n x 2P
    datafit: object
    y: np.ndarray
    F: np.ndarray  # [D_i X]_i, n x P d
    K: np.ndarray | None  # F^T F for the squared loss
    upper: tuple  # upper-triangle indices of a d x d block
    XX: np.ndarray  # rows: the upper triangles of x_j x_j^T


def _column_data(X: np.ndarray, y: np.ndarray, D: np.ndarray, loss: str) -> _Column:
    """The fixed data of one output column's solve, computed once per column and shared by the
    primal-dual method and the barrier that starts and finishes its path. Raises
    ``ValueError`` for a loss the solvers do not handle."""
    if loss not in BARRIER_LOSSES:
        raise ValueError(f"the barrier handles the losses {BARRIER_LOSSES}, got {loss!r}.")
    n, d = X.shape
    k = D.shape[1]
    Df = np.asarray(D, dtype=float)
    S1 = 2.0 * Df - 1.0
    F = (Df[:, :, None] * X[:, None, :]).reshape(n, k * d)
    upper = np.triu_indices(d)
    return _Column(
        S=np.concatenate([S1, S1], axis=1),
        datafit=get_loss(loss),
        y=np.asarray(y, dtype=float),
        F=F,
        K=F.T @ F if loss == "squared" else None,
        upper=upper,
        XX=X[:, upper[0]] * X[:, upper[1]],
    )


def barrier_two_layer(
    X: np.ndarray,
    y: np.ndarray,
    D: np.ndarray,
    alpha: float,
    start: np.ndarray,
    *,
    loss: str = "squared",
    screen: bool = False,
    directions: np.ndarray | None = None,
    rel_gap: float = 1e-8,
    mu: float = BARRIER_MU,
    max_newton: int = 1000,
    max_centring: int = 200,
    centring_tol: float = CENTRING_TOL,
    deadline: float | None = None,
    s_start: np.ndarray | None = None,
    t_start: float | None = None,
):
    """Barrier solve of one output column over the patterns ``D`` (``n x P`` 0/1 masks).

    ``start`` (``d x 2P``, ``[V, W]``) must be strictly inside every cone
    (``(2 D_i - I) X start_i > 0``), e.g. the patterns' generators. Stops when the barrier's
    bound ``2 P (n + 2) / t`` on the suboptimality is at most ``rel_gap`` times the objective
    (a bound at exact centres; the centring here is inexact, ``CENTRING_TOL``, so the bound is
    indicative and the caller's certificate decides).
    Returns ``(Z, info)`` with ``Z`` of shape ``(d, 2P)`` and ``info["multipliers"]``
    (``n x 2P``, the cone rows' central-path multipliers ``1 / (t S_i X z_i)``). When
    ``max_newton`` steps or the ``deadline`` (a ``time.perf_counter()`` value) pass after the
    first centring, it returns its last iterate with ``info["stopped"]`` saying so (the point is
    strictly feasible, for the kept rows only with ``screen``; the caller's certificate says
    how good it is). Raises
    :class:`BarrierFailure` when the start is not strictly feasible, Newton's method fails, or
    the limit comes within the first centring.
    ``s_start`` (the cones' bounds, above ``||start_g||``) and ``t_start`` continue a path from
    a point near it (the primal-dual method's hand-off); by default ``s`` starts at twice the
    group norms and ``t`` at ``2 P (n + 2) / f``.

    ``screen=True`` solves over screened cone rows first (:func:`_screened_barrier`, which
    ``directions``, ``d x 2P`` like ``start``, e.g. a warm start, helps choose).
    """
    column = _column_data(X, y, D, loss)
    options = dict(
        rel_gap=rel_gap,
        mu=mu,
        max_newton=max_newton,
        max_centring=max_centring,
        centring_tol=centring_tol,
        deadline=deadline,
    )
    if screen:
        if s_start is not None or t_start is not None:
            raise ValueError("screen=True restarts its paths from start: no s_start or t_start.")
        return _screened_barrier(X, column, alpha, start, directions, **options)
    return _barrier_path(X, column, alpha, start, s_start=s_start, t_start=t_start, **options)


def _start_s(norms: np.ndarray) -> np.ndarray:
    """The group cones' ``s`` at a start whose groups have these ``norms``: twice each norm
    plus ``1e-3`` of the largest, strictly inside ``s > ||z||``."""
    return 2.0 * norms + 1e-3 * max(float(norms.max(initial=0.0)), 1e-300)


def _barrier_path(
    X: np.ndarray,
    column: _Column,
    alpha: float,
    start: np.ndarray,
    *,
    rel_gap: float,
    mu: float = BARRIER_MU,
    max_newton: int = 1000,
    max_centring: int = 200,
    centring_tol: float = CENTRING_TOL,
    deadline: float | None = None,
    s_start: np.ndarray | None = None,
    t_start: float | None = None,
    rows: np.ndarray | None = None,
):
    """:func:`barrier_two_layer` on a column's precomputed data (same arguments and returns).

    ``rows`` (``n x 2P`` booleans, default all) keeps only those cone rows: the barrier then
    solves the relaxation without the others (:func:`_screened_barrier`); their margins are
    held at one, their multipliers returned as zero.
    """
    S, datafit, y, F, K, upper, XX = column
    n, d = X.shape
    G = S.shape[1]
    k = G // 2
    z = np.array(start, dtype=float, copy=True)
    kept = 1.0 if rows is None else rows.astype(float)

    def on_rows(v, fill):
        """``S X v`` on the kept rows, ``fill`` on the others (margins 1, steps 0)."""
        return S * (X @ v) if rows is None else np.where(rows, S * (X @ v), fill)

    margins = on_rows(z, 1.0) if z.shape == (d, G) else None
    if k == 0 or margins is None or not np.all(np.isfinite(z)) or not np.all(margins > 0):
        raise BarrierFailure("the start is not strictly inside every cone")

    def value(p):
        return datafit.value(p, y)

    norms = np.linalg.norm(z, axis=0)
    s = _start_s(norms)
    if s_start is not None:
        s = np.array(s_start, dtype=float, copy=True)
        if s.shape != (G,) or not np.all(s * s - norms * norms > 0) or not np.all(s > 0):
            raise BarrierFailure("s_start is not strictly inside the group cones")

    def objective(z, s):
        return value(_predictions(F, z)) + alpha * float(s.sum())

    degree = (n * G if rows is None else int(rows.sum())) + 2 * G
    f = objective(z, s)
    t = degree / max(abs(f), 1e-300) if t_start is None else float(t_start)
    newton = 0
    centred = None  # t of the last completed centring
    stale = None  # logistic: [F^T diag(h) F at the last step that formed it, CG iterations since]
    eye = np.eye(d)
    while True:
        previous = np.inf
        for _ in range(max_centring):  # centre: Newton's method on phi = t f + barrier
            newton += 1
            if newton > max_newton or (deadline is not None and time.perf_counter() > deadline):
                limit = f"{max_newton} Newton steps or the time limit passed (t={t:.3g})"
                if centred is None:
                    raise BarrierFailure(f"no convergence: {limit}")
                return z, {
                    "newton_steps": newton - 1,
                    "t": t,
                    "objective": objective(z, s),
                    "multipliers": kept / (t * margins),
                    "stopped": f"stopped short of the asked gap: {limit}",
                }
            m = margins  # S X z, (n, G)
            pred = _predictions(F, z)
            grad = datafit.gradient(pred, y)
            ga = t * (F.T @ grad).reshape(k, d).T  # (d, k)
            gz = np.concatenate([ga, -ga], axis=1)
            gz -= X.T @ (S * kept / m)
            soc_gz, soc_gs, soc_block, hss, hzs = _soc_terms(z, s, eye)
            gz += soc_gz
            gs = t * alpha + soc_gs
            W = kept / (m * m)
            # X^T diag(W_q) X for every group: one product over the upper triangles.
            B = np.empty((G, d, d))
            B[:, upper[0], upper[1]] = B[:, upper[1], upper[0]] = W.T @ XX
            B += soc_block
            rhs = -(gz - hzs * (gs / hss))
            try:
                if K is not None:
                    dz = _group_newton(B, t * K, k)(rhs)
                else:
                    h = datafit.curvature(pred, y)
                    dz = None
                    if stale is not None and stale[1] < PCG_REFRESH:
                        # Newton's system with the data Hessian of this step as an operator,
                        # by conjugate gradients preconditioned with the last formed one.
                        def exact(x, th=t * h):
                            return F.T @ (th * (F @ x))

                        report = {}
                        dz = _group_newton(B, t * stale[0], k, exact=exact, report=report)(rhs)
                        if report["converged"]:
                            stale[1] = report["iterations"]
                        else:
                            dz = None
                    if dz is None:
                        Fh = F * np.sqrt(h)[:, None]
                        stale = [Fh.T @ Fh, 0]
                        dz = _group_newton(B, t * stale[0], k)(rhs)
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
            step = (m, on_rows(dz, 0.0), z, dz, s, ds)
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
            # The margins m + eta dm were tested; recomputed from the new point they can round
            # to zero or below, and s^2 - ||z||^2 can underflow when squared (both seen at
            # n = 100000): shorten the step until the next Newton step's terms are finite.
            margins = on_rows(zn, 1.0)
            while not _strictly_inside(margins, zn, sn):
                eta *= 0.5
                if eta < 1e-12:
                    raise BarrierFailure(f"the cone margins round to zero (t={t:.3g})")
                zn, sn = z + eta * dz, s + eta * ds
                margins = on_rows(zn, 1.0)
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
            mult = kept / (t * margins)
            return z, {"newton_steps": newton, "t": t, "objective": f, "multipliers": mult}
        centred = t
        t *= mu


def _nearest_rows(Xn: np.ndarray, U: np.ndarray, count: int) -> np.ndarray:
    """Booleans ``n x G``: per column ``u`` of ``U``, the ``count`` rows of ``Xn`` (unit rows)
    nearest ``u``'s hyperplane, i.e. with the smallest ``|x_j^T u| / ||u||``."""
    rel = np.abs(Xn @ (U / np.maximum(np.linalg.norm(U, axis=0), 1e-300)))
    nearest = np.argpartition(rel, count - 1, axis=0)[:count]
    rows = np.zeros(rel.shape, dtype=bool)
    rows[nearest, np.arange(U.shape[1])[None, :]] = True
    return rows


def _active_groups(Z: np.ndarray) -> np.ndarray:
    """The columns (groups) of ``Z`` above ``1e-3`` of the largest norm: an interior-point
    solution's zero groups are tiny, not zero."""
    norms = np.linalg.norm(Z, axis=0)
    return norms > 1e-3 * float(norms.max(initial=0.0))


def _active_or(Z: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """``Z``'s active groups (:func:`_active_groups`), ``fallback``'s elsewhere: the
    directions whose hyperplanes screening looks near."""
    return np.where(_active_groups(Z)[None, :], Z, fallback)


def _screened_barrier(
    X: np.ndarray,
    column: _Column,
    alpha: float,
    start: np.ndarray,
    directions: np.ndarray | None,
    *,
    rel_gap: float,
    max_newton: int = 1000,
    **options,
):
    """:func:`_barrier_path` over a screened subset of the cone rows, grown until no other
    row is violated.

    The program without some cone rows is a relaxation: where its solution satisfies every
    row, it solves the full program. Each group keeps the ``SCREEN_ROWS_PER_FEATURE * d`` rows
    nearest the hyperplane of its start and as many nearest ``directions``' group (where that
    group is active); after each solve the rows the solution violates are added, with the rows
    nearest its own active groups, and the path restarts from ``start`` (strictly inside every
    row). After ``SCREEN_ROUNDS`` solves with violated rows the barrier takes every row. A path
    stopped at ``max_newton`` (shared by all solves) or the deadline is returned as it is, with
    whatever rows it violates: the caller certifies the network that it gives.

    Why it pays: the rows far from every hyperplane the path visits barely move the solution,
    but they set the barrier's degree (``2 P n`` with all rows), and the centrings of a path
    with a million rows took 100 and more Newton steps each (module constants).
    Returns ``(Z, info)`` like :func:`barrier_two_layer`, with ``info["screened_rows"]`` and
    ``info["screen_rounds"]``.
    """
    n, d = X.shape
    count = SCREEN_ROWS_PER_FEATURE * d
    if 2 * count >= n:
        return _barrier_path(
            X, column, alpha, start, rel_gap=rel_gap, max_newton=max_newton, **options
        )
    Xn, _ = _normalise_rows(X)
    rows = _nearest_rows(Xn, start, count)
    if directions is not None and directions.shape == start.shape:
        rows |= _nearest_rows(Xn, _active_or(directions, start), count)
    steps = 0
    for round_ in range(1, SCREEN_ROUNDS + 1):
        z, info = _barrier_path(
            X,
            column,
            alpha,
            start,
            rel_gap=rel_gap,
            max_newton=max_newton - steps,
            rows=rows,
            **options,
        )
        steps += info["newton_steps"]
        violated = (column.S * (X @ z) < 0) & ~rows
        if _DEBUG:
            print(
                f"[screen] round {round_}: {int(rows.sum())} rows, {int(violated.sum())} violated"
            )
        if "stopped" in info or not violated.any():
            screened = {"screened_rows": int(rows.sum()), "screen_rounds": round_}
            return z, {**info, "newton_steps": steps, **screened}
        rows |= violated | _nearest_rows(Xn, _active_or(z, start), count)
    z, info = _barrier_path(
        X, column, alpha, start, rel_gap=rel_gap, max_newton=max_newton - steps, **options
    )
    screened = {"screened_rows": n * rows.shape[1], "screen_rounds": SCREEN_ROUNDS + 1}
    return z, {**info, "newton_steps": steps + info["newton_steps"], **screened}


def _refined_solve(solve, apply, rhs: np.ndarray, steps: int = PD_REFINE) -> np.ndarray:
    """``solve(rhs)`` refined against the exact operator ``apply``: at most ``steps``
    corrections ``x += solve(rhs - apply(x))``, stopping once the relative residual is at most
    ``PD_REFINE_TOL`` or a correction did not halve it."""
    x = solve(rhs)
    scale, previous = max(float(np.linalg.norm(rhs)), 1e-300), np.inf
    for _ in range(steps):
        residual = rhs - apply(x)
        size = float(np.linalg.norm(residual)) / scale
        if size <= PD_REFINE_TOL or size > 0.5 * previous:
            break
        x, previous = x + solve(residual), size
    return x


class _PrimalDualNewton:
    """One primal-dual iteration's Newton system (:func:`primal_dual_two_layer`), factored."""

    def __init__(self, X, S, B, H, H_data, solve, W, lam, m, r_z, r_s):
        self.X, self.S, self.B, self.H, self.H_data = X, S, B, H, H_data
        self.solve, self.W, self.lam, self.m, self.r_z, self.r_s = solve, W, lam, m, r_z, r_s

    def apply(self, step: np.ndarray) -> np.ndarray:
        """The unreduced system's matrix times ``step`` (``(d + 1, 2k)``, ``(z, s)`` blocks)."""
        k, e = self.B.shape[0] // 2, self.B.shape[1]
        out = np.einsum("gij,jg->ig", self.B, step)
        a = (self.H @ (step[:, :k] - step[:, k:]).T.reshape(-1)).reshape(k, e).T
        out[:, :k] += a
        out[:, k:] -= a
        return out

    def direction(self, target_rows: np.ndarray, target_cones: np.ndarray):
        """The step for the scaled complementarity targets: the linearised stationarity with
        ``dlam = sqrt(lam/m) t_rows - (lam/m) dm`` and ``dy = W t_cones - W^2 dx`` eliminated.
        Returns ``dz, ds, dm, dlam`` and the group cones' primal and dual steps (``t`` first);
        the dual step comes from the linearised stationarity itself."""
        X, S, lam, m, r_z, r_s = self.X, self.S, self.lam, self.m, self.r_z, self.r_s
        d, G = r_z.shape
        k = G // 2
        W_t = np.einsum("gij,jg->ig", self.W, target_cones)  # (s, z) order
        rhs = np.vstack(
            [-r_z + X.T @ (S * (np.sqrt(lam / m) * target_rows)) + W_t[1:], (W_t[0] - r_s)[None]]
        )
        step = _refined_solve(self.solve, self.apply, rhs)
        dz, ds = step[:d], step[d]
        dm = S * (X @ dz)
        dlam = np.sqrt(lam / m) * target_rows - (lam / m) * dm
        da = (self.H_data @ (dz[:, :k] - dz[:, k:]).T.reshape(-1)).reshape(k, d).T
        dzeta = r_z + np.concatenate([da, -da], axis=1) - X.T @ (S * dlam)
        return dz, ds, dm, dlam, np.vstack([ds, dz]), np.vstack([r_s, dzeta])


def _ray_central_scale(X: np.ndarray, column: _Column, alpha: float, start: np.ndarray):
    """``(c, t)``: the first centring's ``t`` and the scale at which ``c * start`` is central
    along its ray there.

    ``t = degree / f(start)``, :func:`_barrier_path`'s own first ``t``. On the ray
    ``c -> (c z, c s)`` the barrier ``-sum log(c m) - sum log(c^2 u)`` changes by
    ``-degree / c``, so ``phi = t f + barrier`` is stationary where ``t c f'(c) = degree``,
    ``f'(c) = <grad datafit(c pred), pred> + alpha sum s``; ``c f'(c)`` is 0 at ``c = 0`` and
    grows without bound, and bisection in ``log c`` finds a root. Without it the first
    centring spends its first Newton steps rescaling the start (``z`` doubling in each while
    the decrement stays near the degree: 15 steps of the screening polish of squared
    (500, 20, 100), 9 with it). ``c = 1`` where no root lies in ``[1e-6, 1e6]``.
    """
    S, datafit, y, F = column.S, column.datafit, column.y, column.F
    n, G = S.shape
    cost = alpha * float(_start_s(np.linalg.norm(start, axis=0)).sum())
    pred = _predictions(F, start)
    degree = n * G + 2 * G
    t = degree / max(abs(datafit.value(pred, y) + cost), 1e-300)

    def excess(log_c):
        c = np.exp(log_c)
        return t * c * (float(np.sum(datafit.gradient(c * pred, y) * pred)) + cost) - degree

    lo, hi = -6.0 * np.log(10.0), 6.0 * np.log(10.0)
    if not (excess(lo) < 0 < excess(hi)):
        return 1.0, t
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        if excess(mid) < 0:
            lo = mid
        else:
            hi = mid
    return float(np.exp(0.5 * (lo + hi))), t


def primal_dual_two_layer(
    X: np.ndarray,
    y: np.ndarray,
    D: np.ndarray,
    alpha: float,
    start: np.ndarray,
    *,
    loss: str = "squared",
    rel_gap: float = 1e-8,
    accept_gap: float | None = None,
    deadline: float | None = None,
    **barrier_options,
):
    """The program of :func:`barrier_two_layer` by a primal-dual interior-point method.

    Primal ``z = [V, W]`` (``d x 2P``) with the cone rows ``m = S X z >= 0`` and the group
    cones ``(s_g, z_g)``; dual the rows' multipliers ``lam >= 0`` and the cones' ``(omega_g,
    zeta_g)``, with stationarity ``grad_z f - X^T (S lam) - zeta = 0`` and ``alpha - omega = 0``.
    Mehrotra's predictor-corrector (Nocedal and Wright, *Numerical Optimization*, 2006, Alg.
    16.4; centring ``sigma = (gap_aff / gap)^3``) on the Nesterov-Todd scaled complementarity
    of both cone kinds (rows: ``lam / m``; group cones: :func:`_nt_scaling`), so each iteration
    factors one Newton system of :func:`_group_newton`'s form with ``(d + 1)``-blocks (``s``
    kept) and solves it twice, each solve refined against the unreduced system
    (``PD_REFINE`` steps). The dual step of the group cones comes from the linearised
    stationarity, which keeps the dual residual at roundoff. Steps are 0.99 of the longest
    that stays inside every cone.

    It starts at the barrier's first centred point (with its implied duals) and runs until the
    duality gap ``lam^T m + sum_g (s, z)_g^T (omega, zeta)_g`` is at most
    ``max(rel_gap, PD_HANDOFF_GAP)`` times the objective, two steps in a row were shorter than
    0.1, five steps did not halve the gap (counted only below ``PD_SLOW_BELOW``), a Newton
    system failed, or ``PD_MAX_ITER`` steps passed. Near 1e-8 and below (earlier on large or
    nearly all-active sets) the cones' determinants lose their digits to cancellation and its
    steps stall; where the gap is then above ``rel_gap``, :func:`barrier_two_layer` continues
    the path from the last iterate at ``t = 1 / mu`` (``barrier_options`` go to it), unless the
    gap is at most ``accept_gap`` (the iterate is returned as it is, ``info["short_of"]`` says
    why it stopped: the caller's certificate decides) or above ``PD_RESTART_GAP`` (it raises
    :class:`BarrierFailure` with ``newton_steps`` set, and :func:`barrier_columns` restarts the
    barrier from the start). Returns ``(Z, info)`` like :func:`barrier_two_layer`
    (``info["multipliers"]`` is ``lam`` when no hand-off was needed, ``info["handoff"]`` the
    relative gap at the hand-off otherwise); raises :class:`BarrierFailure` when the start is
    not strictly inside or the barrier fails.
    """
    column = _column_data(X, y, D, loss)
    S, datafit, y, F = column.S, column.datafit, column.y, column.F
    n, d = X.shape
    G = S.shape[1]
    k = G // 2
    # Start on the central path: the barrier's first centring, at t0 = degree / f, with its
    # implied duals lam = 1 / (t m), omega = alpha, zeta = -alpha z / s (s centred for z).
    t_first = None
    if PD_RAY_SCALE:
        scale, t_first = _ray_central_scale(X, column, alpha, start)
        start = scale * start
    z, first = _barrier_path(
        X, column, alpha, start, rel_gap=np.inf, deadline=deadline, t_start=t_first
    )
    t0 = first["t"]
    s = (1.0 + np.sqrt(1.0 + (t0 * alpha) ** 2 * np.sum(z * z, axis=0))) / (t0 * alpha)
    m = S * (X @ z)
    omega = np.full(G, float(alpha))
    zeta = -alpha * z / s
    lam = first["multipliers"]
    degree = n * G + G
    centring = first["newton_steps"]

    stalled, history, reason = 0, [], "iteration limit"
    for it in range(PD_MAX_ITER + 1):
        pred = _predictions(F, z)
        f = datafit.value(pred, y) + alpha * float(s.sum())
        ga = (F.T @ datafit.gradient(pred, y)).reshape(k, d).T
        r_z = np.concatenate([ga, -ga], axis=1) - X.T @ (S * lam) - zeta
        r_s = alpha - omega
        xc, yc = np.vstack([s, z]), np.vstack([omega, zeta])
        gap = float(np.sum(lam * m)) + float(np.sum(xc * yc))
        scale = max(abs(f), 1e-300)
        history.append(gap)
        if gap <= max(rel_gap, PD_HANDOFF_GAP) * scale:
            reason = "gap reached"
            break
        slow = len(history) > 5 and gap > 0.5 * history[-6] and gap <= PD_SLOW_BELOW * scale
        if stalled >= 2 or slow:
            reason = "short steps"
            break
        if it == PD_MAX_ITER or (deadline is not None and time.perf_counter() > deadline):
            break
        try:
            step = _primal_dual_step(X, column, pred, xc, yc, gap, m, lam, r_z, r_s)
        except (LinAlgError, np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
            reason = f"Newton system failed: {exc}"
            break
        eta, (dz, ds, dlam, dyc), sigma = step
        zn = z + eta * dz
        mn = S * (X @ zn)
        lamn = lam + eta * dlam
        if not (np.all(np.isfinite(zn)) and np.all(mn > 0) and np.all(lamn > 0)):
            reason = "a step left the cones by rounding"
            break
        stalled = stalled + 1 if eta < 0.1 else 0
        if _DEBUG:
            print(f"[pd] it {it} f {f:.12g} gap {gap / scale:.2e} sigma {sigma:.1e} eta {eta:.2e}")
        z, s, m, lam = zn, s + eta * ds, mn, lamn
        omega, zeta = omega + eta * dyc[0], zeta + eta * dyc[1:]
    steps = centring + len(history) - 1
    if gap <= max(rel_gap, accept_gap or 0.0) * scale:
        info = {"newton_steps": steps, "objective": f, "multipliers": lam, "gap": gap / scale}
        return z, info if gap <= rel_gap * scale else {**info, "short_of": reason}
    if gap > PD_RESTART_GAP * scale:
        failure = BarrierFailure(
            f"the primal-dual path stopped at relative gap {gap / scale:.1e} ({reason})"
        )
        failure.newton_steps = steps
        raise failure
    # Hand-off: the barrier continues the path from here, at t = 1 / mu.
    if _DEBUG:
        print(f"[pd] hands off to the barrier at gap {gap / scale:.2e} ({reason})")
    z, info = _barrier_path(
        X,
        column,
        alpha,
        z,
        rel_gap=rel_gap,
        deadline=deadline,
        s_start=_inside_group_cones(s, z),
        t_start=degree / gap,
        **{"max_centring": PD_HANDOFF_CENTRING, **barrier_options},
    )
    return z, {**info, "newton_steps": steps + info["newton_steps"], "handoff": gap / scale}


def _inside_group_cones(s: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``s`` raised to ``(1 + 1e-10) ||z_g||`` plus ``1e-14`` of the largest entry where it is
    below: the primal-dual steps keep ``s > ||z||`` in exact arithmetic, but a group that is
    shrinking to zero can end a hair past its boundary in floating point, and the barrier's
    hand-off needs a strictly interior start (planted regression, n = 1000, d = 51, 40
    patterns: without this it restarted the barrier from scratch, 25.6 s against 11.9 s)."""
    norms = np.linalg.norm(z, axis=0)
    floor = 1e-14 * max(float(s.max(initial=0.0)), float(norms.max(initial=0.0)), 1e-150)
    return np.maximum(s, norms * (1.0 + 1e-10) + floor)


def _primal_dual_step(X, column: _Column, pred, xc, yc, gap, m, lam, r_z, r_s):
    """One Mehrotra predictor-corrector step of :func:`primal_dual_two_layer` from the rows'
    margins ``m`` and multipliers ``lam``, the group cones' primal ``xc = (s, z)`` and dual
    ``yc = (omega, zeta)`` (``t`` first), their duality ``gap`` and the residuals.

    Returns ``(eta, (dz, ds, dlam, dy_cones), sigma)``: the step length (0.99 of the longest
    inside every cone), the direction and the centring parameter.
    """
    S, datafit, y, F, K, upper, XX = column
    d, G = r_z.shape
    k = G // 2
    e = d + 1
    inside = (np.arange(k)[:, None] * e + np.arange(d)[None, :]).reshape(-1)  # z in (z, s)
    order = np.r_[np.arange(1, e), 0]  # cone coordinates (s, z) -> Newton blocks (z, s)
    mu = gap / (m.size + G)
    W, Winv, scaled = _nt_scaling(xc, yc)
    B = np.zeros((G, e, e))
    B[:, upper[0], upper[1]] = B[:, upper[1], upper[0]] = (lam / m).T @ XX
    B += np.matmul(W, W)[:, order][:, :, order]  # W^2 maps a cone's primal step to its dual's
    if K is not None:
        H_data = K
    else:
        Fh = F * np.sqrt(datafit.curvature(pred, y))[:, None]
        H_data = Fh.T @ Fh
    H = np.zeros((k * e, k * e))
    H[np.ix_(inside, inside)] = H_data
    solve = _cone_eliminated(B, H_data, k) if PD_ELIMINATE_S else _group_newton(B, H, k)
    newton = _PrimalDualNewton(X, S, B, H, H_data, solve, W, lam, m, r_z, r_s)

    def longest(dm, dlam, dxc, dyc):
        return min(
            _orthant_step(m, dm),
            _orthant_step(lam, dlam),
            _cone_step(xc, dxc),
            _cone_step(yc, dyc),
        )

    rows_point = np.sqrt(lam * m)
    dz, ds, dm, dlam, dxc, dyc = newton.direction(-rows_point, -scaled)
    eta = min(1.0, longest(dm, dlam, dxc, dyc))
    gap_aff = float(np.sum((m + eta * dm) * (lam + eta * dlam)))
    gap_aff += float(np.sum((xc + eta * dxc) * (yc + eta * dyc)))
    sigma = min(max(gap_aff / gap, 0.0), 1.0) ** 3
    target_rows = (sigma * mu - lam * m - dlam * dm) / rows_point
    centre = np.zeros_like(scaled)
    centre[0] = sigma * mu
    corr = _jordan(np.einsum("gij,jg->ig", Winv, dyc), np.einsum("gij,jg->ig", W, dxc))
    target_cones = _jordan_solve(scaled, centre - _jordan(scaled, scaled) - corr)
    dz, ds, dm, dlam, dxc, dyc = newton.direction(target_rows, target_cones)
    if not (np.all(np.isfinite(dz)) and np.all(np.isfinite(dlam)) and np.all(np.isfinite(dyc))):
        raise FloatingPointError("non-finite Newton step")
    eta = min(1.0, 0.99 * longest(dm, dlam, dxc, dyc))
    return eta, (dz, ds, dlam, dyc), sigma


def _cone_eliminated(B: np.ndarray, H_data: np.ndarray, k: int):
    """:func:`_group_newton`'s solver for ``(d + 1)``-blocks ``(z, s)`` with each group's ``s``
    eliminated first: ``s`` enters only its own block (the data term acts on ``z``), so
    ``ds = (r_s - B_sz dz) / B_ss`` and ``dz`` solves the ``d``-block system with
    ``B_zz - B_zs B_sz / B_ss``, whose factorisation costs ``(d / (d + 1))^3`` of the full one."""
    d = B.shape[1] - 1
    b_zs, b_ss = B[:, :d, d], B[:, d, d]
    reduced = B[:, :d, :d] - b_zs[:, :, None] * (B[:, d, :d] / b_ss[:, None])[:, None, :]
    solve_z = _group_newton(reduced, H_data, k)

    def solve(r):
        rs = r[d]
        dz = solve_z(r[:d] - b_zs.T * (rs / b_ss))
        ds = (rs - np.einsum("gd,dg->g", B[:, d, :d], dz)) / b_ss
        return np.vstack([dz, ds[None]])

    return solve


def _strictly_inside(margins: np.ndarray, z: np.ndarray, s: np.ndarray) -> bool:
    """Whether the barrier's terms at ``(z, s)`` are finite: every cone margin positive, and
    each group's ``u = s^2 - ||z||^2`` positive with ``u^2`` not underflowing to zero."""
    u = s * s - np.sum(z * z, axis=0)
    return bool(np.all(margins > 0) and np.all(s > 0) and np.all(u * u > 0) and np.all(u > 0))


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
    method: str = "auto",
    screen: bool = True,
    directions: list | None = None,
    accept_gap: float | None = None,
    **options,
) -> tuple:
    """The interior-point solve of every output column of ``Y`` (decoupled, SPEC.md §1.7).

    Column ``k`` starts every group at ``scales[k] * gen`` (``gen``: unit generators strictly
    inside their cones, e.g. from :func:`central_generators`). ``method="primal-dual"`` runs
    :func:`primal_dual_two_layer` and, where it fails, :func:`barrier_two_layer` from the same
    start; ``"barrier"`` runs the latter only; ``"auto"`` the former up to ``PD_MAX_ROWS``
    cone rows (``2 n P``), the latter above. The barrier screens the cone rows
    (:func:`_screened_barrier`; ``screen=False`` keeps them all), helped by
    ``directions[k]`` (``d x 2P``, e.g. a warm start's ``[V, W]``, or ``None``) for column
    ``k``, and ``accept_gap`` goes to the primal-dual method. ``options`` go to both; the
    barrier's :class:`BarrierFailure` propagates. Returns ``Z`` (``d x c x 2P``, ``[V, W]``
    per column), the cone rows' multipliers (``n x c x 2P``), the number of Newton steps in
    all (an abandoned primal-dual path's included), and the
    messages of the columns whose path stopped at ``max_newton`` or the deadline (``[]`` when
    every column reached ``rel_gap``).
    """
    if method not in ("auto", "primal-dual", "barrier"):
        raise ValueError(f"method must be 'auto', 'primal-dual' or 'barrier', got {method!r}.")
    (n, d), c, P = X.shape, Y.shape[1], D.shape[1]
    if method == "auto":
        method = "primal-dual" if 2 * n * P <= PD_MAX_ROWS else "barrier"
    Z = np.zeros((d, c, 2 * P))
    mult = np.zeros((n, c, 2 * P))
    steps, stopped = 0, []
    for col in range(c):
        start = scales[col] * np.concatenate([gen, gen], axis=1)
        args = (X, Y[:, col], D, float(alpha), start)
        info = None
        if method == "primal-dual":
            try:
                Z[:, col, :], info = primal_dual_two_layer(
                    *args, loss=loss, accept_gap=accept_gap, **options
                )
            except (BarrierFailure, FloatingPointError, OverflowError) as exc:
                steps += getattr(exc, "newton_steps", 0)
                if _DEBUG:
                    print(f"[pd] column {col} falls back to the barrier: {exc}")
        if info is None:
            guide = None if directions is None else directions[col]
            try:
                Z[:, col, :], info = barrier_two_layer(
                    *args, loss=loss, screen=screen, directions=guide, **options
                )
            except BarrierFailure as exc:
                raise BarrierFailure(f"column {col}: {exc}") from exc
        mult[:, col, :] = info["multipliers"]
        steps += info["newton_steps"]
        if "stopped" in info:
            stopped.append(f"column {col}: {info['stopped']}")
    return Z, mult, steps, stopped


def _start_scale(program: TwoLayerProgram, col: int, gen: np.ndarray, guide) -> float:
    """The common norm of the starting groups: the median norm of the active groups of
    ``guide`` (the warm start's ``[V, W]`` of column ``col``, or ``None``), else the norm at
    which one group alone would fit ``y``'s scale."""
    if guide is not None:
        active = _active_groups(guide)
        if np.any(active):
            return float(np.median(np.linalg.norm(guide, axis=0)[active]))
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
    method: str = "auto",
    screen: bool = True,
    accept_tol: float | None = None,
) -> TwoLayerSolution:
    """Solve the exact program over ``program``'s patterns by :func:`barrier_columns`.

    ``method="auto"`` takes the primal-dual method when ``tol >= PD_ALONE_TOL`` (the loose
    rounds of pattern growth) on up to ``PD_MAX_ROWS`` cone rows (above, the screened barrier
    was faster: 7.0 s against 11.5 s to 1e-5 at n = 10000, d = 21, 41 patterns) and the
    barrier below: on growth's working sets (many nearly
    equal patterns) the primal-dual method stalled at relative gaps of 1e-6 to 7e-6 on
    every set tried (planted regression, n = 1000, d = 20; 38-63 patterns), and the barrier's
    hand-off from there crawled, but it reached 1e-5 about 10x sooner than the barrier. With
    ``PD_TIGHT_MIN_COLUMNS`` columns of ``X`` or more the primal-dual method (and its hand-off)
    takes the tight gaps too, on up to ``PD_MAX_ROWS`` rows. ``"primal-dual"`` and
    ``"barrier"`` force one (:func:`barrier_columns`). The barrier screens the cone rows
    (``screen``; :func:`_screened_barrier`), near the warm start's groups too. A primal-dual
    path that stalls at a relative gap of at most ``accept_tol`` is returned without the
    barrier's hand-off, with status ``"optimal"`` (:func:`primal_dual_two_layer`'s
    ``accept_gap``; the trainer passes ``BARRIER_ACCEPT_FRACTION`` of its target gap on its
    first attempt and certifies the result).

    Every group starts at its pattern's generator (strictly inside the cone; a pattern whose
    generator is not is a failure), scaled to the warm start's typical group norm when one is
    given. ``tol`` is the relative gap asked of the interior-point method (the primal-dual
    method stops near 1e-8 at the smallest, the barrier fallback at ``tol``). Returns a
    :class:`TwoLayerSolution` with ``solver="barrier"`` and ``info["multipliers"]``
    (``n x c x 2P``); status ``"inaccurate"`` (reason in ``info``) when a column's path
    stopped at ``max_newton`` or ``time_limit`` short of ``tol`` (its iterate is returned for
    the caller to certify: strictly inside the kept cone rows, and inside all of them when
    ``screen=False``), ``"failed"`` when :func:`barrier_applies` is false
    or any column's solve fails.
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
    directions = [None] * program.n_outputs
    if warm_start is not None and warm_start.W is not None and warm_start.V.shape[0] == P:
        directions = [
            np.concatenate([warm_start.V[:, :, col].T, warm_start.W[:, :, col].T], axis=1)
            for col in range(program.n_outputs)
        ]
    scales = [_start_scale(program, col, gen, directions[col]) for col in range(program.n_outputs)]
    deadline = None if time_limit is None else start_time + time_limit
    if method == "auto" and tol < PD_ALONE_TOL and program.X.shape[1] < PD_TIGHT_MIN_COLUMNS:
        method = "barrier"
    try:
        Z, mult, steps, stopped = barrier_columns(
            program.X,
            program.Y,
            program.D,
            gen,
            program.alpha,
            program.loss.name,
            scales,
            method=method,
            screen=screen,
            directions=directions,
            rel_gap=tol,
            accept_gap=accept_tol,
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
        status="inaccurate" if stopped else "optimal",
        objective=program.objective(V, W),
        solve_time=time.perf_counter() - start_time,
        solver="barrier",
        iterations=steps,
        info={"multipliers": mult, **({"reason": "; ".join(stopped)} if stopped else {})},
    )
