"""Dual-feasible points, lower bounds and duality gaps (SPEC.md §1.5).

The dual of two-layer ReLU training with weight decay is ([PE20]; SPEC.md §1.5)::

    d* = max_lam  -loss*(-lam)   s.t.  kappa(lam) := max_{||u|| <= 1} |lam^T (X u)_+| <= alpha

(one constraint per output column for decoupled vector outputs). Weak duality gives
``J(theta) >= -loss*(-lam)`` for every network ``theta`` and every feasible ``lam``. A certificate:

1. takes the predictions ``yhat`` of a network and ``lam = -grad loss(yhat)``;
2. computes a bound ``kbar >= kappa(lam)``, per pattern
   ``kappa_i^+- = ||Proj_{K_i}(+- X^T D_i lam)||`` (exact, cone ``K_i``), or
   ``||X^T D_i lam||`` (gated), or the coarse pattern-free bound
   ``max(sum_i (lam_i)_+ ||x_i||, sum_i (lam_i)_- ||x_i||)``;
3. rescales ``lam_bar = lam * min(1, alpha / kbar)``, which stays feasible, and reports the gap
   ``J(theta) - (-loss*(-lam_bar)) >= 0``.

With ``c > 1`` outputs the programs are decoupled (each neuron feeds one output) and the dual has
one constraint per column; a network with vector output weights ``a_j in R^c`` needs
``max_u ||Lam^T (X u)_+|| <= alpha`` instead, which ``sqrt(sum_k kappa_k^2)`` bounds
(``coupled_dual``).

The lower bound holds against every network of any width when ``kbar`` bounds ``kappa`` over all
of ``R^d`` (patterns enumerated completely, the coarse bound, or the proven Lagrangian relaxation
of :mod:`convexnet.relaxation`, reported as ``proven_dual``); with sampled patterns ``dual`` holds
only against networks whose neurons use the given patterns. Every certificate says which.

For the minimum-norm interpolation problem the dual is ``max lam^T y s.t. kappa(lam) <= 1`` and
``lam / kbar`` is feasible for any ``lam``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

__all__ = [
    "Certificate",
    "cone_projection",
    "cone_projection_norm",
    "relu_kappa",
    "refined_kappa",
    "gated_kappa",
    "coarse_kappa",
    "certify_two_layer",
    "prove_certificate",
    "certify_three_layer",
    "block_kappa",
    "three_layer_kappa",
    "SCOPE_ALL",
    "SCOPE_PATTERNS",
]

SCOPE_ALL = "all networks of any width"
SCOPE_PATTERNS = "networks whose neurons use the given activation patterns"
SCOPE_ALL_GATED = "all gated networks of any width and any gates"
SCOPE_PATTERNS_GATED = "gated networks with the given gates"
SCOPE_DECOUPLED = " whose neurons each feed one output (decoupled)"
SCOPE_THREE_PREFIX = "all three-layer parallel networks"
SCOPE_THREE_ALL = (
    SCOPE_THREE_PREFIX + " of first-layer width <= {width}, any number of sub-networks"
)
SCOPE_THREE_BLOCKS = (
    "three-layer networks whose sub-networks use the given blocks (first- and second-layer "
    "activation patterns)"
)
# SPEC §3.2: the bound is on the R1/R3 objective; plain weight decay on the same weights is a
# different (not convexifiable) objective whose optimum can lie below it.
SCOPE_THREE_REGULARISER = (
    ", trained with the R1 or R3 regulariser (not plain weight decay, whose optimum can lie "
    "below this bound)"
)


@dataclass(frozen=True)
class Certificate:
    """A checked lower bound on the training objective.

    Attributes
    ----------
    primal : float
        Objective ``J`` of the network being certified.
    dual : float
        ``-loss*(-lam_bar)`` at a dual point checked to be feasible: a lower bound on ``J`` over
        every network in ``scope``.
    gap, relative_gap : float
        ``primal - dual`` and ``gap / max(|primal|, tiny)``.
    scope : str
        Which networks the bound holds against.
    kappa : float
        The bound ``kbar`` on the dual constraint of the unscaled dual point.
    method : str
        ``"exact"`` (cones), ``"gated"`` or ``"coarse"``.
    global_dual : float
        A pattern-free lower bound valid against every ReLU network of any width (vector output
        weights included), always: the dual point rescaled by the smaller of the coarse bound
        and, when computed, the proven bound (root-sum-square over outputs, or the exact bound
        when the patterns are complete). For a gated certificate it is the ReLU bound (the
        coarse formula is not valid for gated networks); ``proven_dual`` is the gated one.
    proven_dual : float or None
        ``-loss*(-lam bar)`` with ``lam`` rescaled by ``min(1, alpha / proven_kappa)``, where
        ``proven_kappa`` is a *proven* pattern-free bound on ``kappa(lam)``
        (:func:`convexnet.relaxation.kappa_upper_bound`): a lower bound on ``J`` over networks
        of any width and any activation patterns (any gates for a gated certificate; decoupled
        with several outputs, like ``dual``). Equals ``dual`` when the patterns are complete;
        ``None`` when it was not computed (``certify_two_layer(proven=False)``).
    proven_gap, proven_relative_gap : float or None
        ``primal - proven_dual`` and ``proven_gap / max(|primal|, tiny)``.
    proven_kappa : float or None
        The proven bound on ``kappa`` of the unscaled dual point (largest column), like ``kappa``.
    proven_method : str or None
        Which bound gave ``proven_kappa`` (``"exact (complete patterns)"``, ``"lagrangian"``,
        ``"split"``, ``"coarse"``).
    coupled_dual : float
        With several outputs the trained networks are decoupled (each neuron feeds one output)
        and ``dual`` holds against those. ``coupled_dual`` rescales the same dual point by
        ``alpha / sqrt(sum_k kappa_k^2)`` and holds against networks whose neurons feed every
        output (``a_j in R^c``), over the same patterns; it equals ``dual`` for one output.
    dual_point : ndarray
        ``lam_bar``, shape (n, c).
    residual : float
        Interpolation form only: ``max |f(X) - Y|`` of the certified network (0 otherwise). The
        bound holds against exact interpolants, so for a network that interpolates only to
        ``residual`` the gap is exact up to ``||lam_bar||_1 * residual`` and can be slightly
        negative.
    """

    primal: float
    dual: float
    gap: float
    relative_gap: float
    scope: str
    kappa: float
    method: str
    global_dual: float
    dual_point: np.ndarray
    residual: float = 0.0
    coupled_dual: float = -np.inf
    proven_dual: float | None = None
    proven_gap: float | None = None
    proven_relative_gap: float | None = None
    proven_kappa: float | None = None
    proven_method: str | None = None

    @property
    def is_global(self) -> bool:
        """Whether the bound covers every activation pattern, i.e. no pattern restriction.

        For two-layer certificates: every network of any width. For three-layer certificates:
        every parallel network of first-layer width ``<= m1`` (any number of sub-networks) under
        the R1/R3 regularisers, not wider first layers; ``scope`` states which.
        """
        return self.scope.startswith((SCOPE_ALL, SCOPE_ALL_GATED, SCOPE_THREE_PREFIX))

    def summary(self) -> str:
        text = (
            f"objective {self.primal:.10g}, dual bound {self.dual:.10g}, gap {self.gap:.3g} "
            f"(relative {self.relative_gap:.3g}), valid against {self.scope}"
        )
        if self.proven_dual is not None and not self.is_global:
            text += (
                f"; proven bound {self.proven_dual:.10g}, gap {self.proven_gap:.3g} "
                f"(relative {self.proven_relative_gap:.3g}) against any width and any patterns"
            )
        return text


def cone_projection(A: np.ndarray, z: np.ndarray, *, max_rounds: int = 30) -> tuple:
    """``Proj_K(z)`` for ``K = {u : A u >= 0}`` by NNLS over a growing working set of rows.

    Moreau: ``Proj_K(z) = z + A^T nu`` with ``nu = argmin_{nu >= 0} ||z + A^T nu||``. At most
    ``d`` rows carry a multiplier (in general position), so the NNLS runs on the most violated
    rows first (by distance to their hyperplane, a chunk of ``max(4 d, 64)``) and adds the rows
    its result still violates, until none does. Then ``u = z + A_r^T nu_r`` is in ``K``,
    ``u - z`` is in the polar cone and ``nu_r^T A_r u = 0`` (NNLS optimality): the KKT conditions
    of the projection onto ``K`` itself. Returns ``(u, nu, exact)`` with ``nu`` over all rows
    (zero off the working set); ``exact`` is False when ``max_rounds`` passed without a feasible
    ``u`` (``||u||`` still bounds ``||Proj_K(z)||`` from above: fewer rows, a larger cone).
    """
    n, d = A.shape
    z = np.asarray(z, dtype=float)
    nu = np.zeros(n)
    margins = A @ z
    scale = max(float(np.abs(margins).max(initial=0.0)), 1e-300)
    if margins.min(initial=0.0) >= -1e-12 * scale:  # z is in K (up to rounding)
        return z.copy(), nu, True
    row_norms = np.maximum(np.linalg.norm(A, axis=1), 1e-300)
    chunk = max(4 * d, 64)

    def most_violated(candidates, values):
        order = np.argsort(values[candidates] / row_norms[candidates])
        return candidates[order[:chunk]]

    rows = most_violated(np.flatnonzero(margins <= 1e-8 * scale), margins)
    for attempt in range(max_rounds):
        Ar = A[rows]
        nu_r, _ = nnls(Ar.T, -z, maxiter=50 * rows.size + 100)
        u = z + Ar.T @ nu_r
        values = A @ u
        bad = np.flatnonzero(values < -1e-12 * scale)
        if bad.size == 0:
            nu[rows] = nu_r
            return u, nu, True
        if attempt == max_rounds - 1:
            break
        rows = np.union1d(rows, most_violated(bad, values))
    nu[rows] = nu_r
    return u, nu, False


def cone_projection_norm(A: np.ndarray, z: np.ndarray) -> float:
    """``||Proj_K(z)||`` for the polyhedral cone ``K = {u : A u >= 0}``.

    By Moreau's decomposition ``z = Proj_K(z) + Proj_{K°}(z)`` with the polar cone
    ``K° = {-A^T mu : mu >= 0}``; the polar part solves the non-negative least-squares problem
    ``min_{mu >= 0} ||A^T mu + z||``. Equals ``max_{u in K, ||u|| <= 1} z^T u``. Solved over a
    working set of rows (:func:`cone_projection`), then over all rows if that did not settle.
    """
    if not np.any(z):
        return 0.0
    try:
        u, _, exact = cone_projection(A, z)
        if exact:
            return float(np.linalg.norm(u))
        bound = float(np.linalg.norm(u))
        mu, _ = nnls(A.T, -z, maxiter=50 * A.shape[0] + 100)
    except RuntimeError:  # NNLS iteration limit: ||z|| is a valid (gated) upper bound
        return float(np.linalg.norm(z))
    # Any mu >= 0 gives ||z + A^T mu|| >= ||Proj_K(z)||, so an inexact NNLS errs on the safe side.
    return min(bound, float(np.linalg.norm(z + A.T @ mu)))


def pattern_kappa(X: np.ndarray, d: np.ndarray, Z: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Per output column ``k``, ``max_+- ||Proj_K(+- Z_k)||`` for the cone of one pattern.

    ``K = {u : (2 d_i - 1) x_i^T u >= 0}`` for the pattern ``d`` (0/1 per sample) and
    ``Z = X^T diag(d) lam`` of shape (n_features, c). A column with ``||Z_k|| <= floor[k]`` keeps
    ``||Z_k||``: the projection is never longer, so that value bounds it and is at most
    ``floor[k]``.
    """
    A = (2.0 * d - 1.0)[:, None] * X
    out = np.linalg.norm(Z, axis=0)
    for k in np.flatnonzero(out > floor):
        out[k] = max(cone_projection_norm(A, sign * Z[:, k]) for sign in (1.0, -1.0))
    return out


def pattern_gradients(X: np.ndarray, D: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """``X^T D_i lam_k`` for every pattern ``i`` and output column ``k``, shape (P, d, c)."""
    lam = lam.reshape(X.shape[0], -1)
    # One product per column (3x faster than the three-operand einsum at n = 10000, P = 2000).
    return np.stack([(D * lam[:, [k]]).T @ X for k in range(lam.shape[1])], axis=2)


def relu_kappa(X: np.ndarray, D: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Per output column, ``max_i max_+- ||Proj_{K_i}(+- X^T D_i lam_k)||`` over the patterns D.

    With a complete set of patterns this is exactly ``kappa(lam_k)``; otherwise it is the dual
    constraint of the program restricted to these patterns.
    """
    lam = lam.reshape(X.shape[0], -1)
    out = np.zeros(lam.shape[1])
    Df = D.astype(float)
    for i in range(D.shape[1]):
        Z = X.T @ (Df[:, i][:, None] * lam)  # (d, c)
        # Columns whose ||Z_k|| cannot beat the running maximum skip their projections.
        out = np.maximum(out, pattern_kappa(X, Df[:, i], Z, out))
    return out


def multiplier_kappa(X: np.ndarray, D: np.ndarray, lam: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Per output column, ``max_{i,+-} ||X^T (+- D_i lam + S_i mu_i^+-)||`` for any ``mu >= 0``.

    ``S_i = 2 D_i - I``; ``mu`` has shape ``(n, c, 2P)`` (first ``P`` for ``+``, last for ``-``).
    An upper bound on the exact per-pattern constraint, tight at the optimal multipliers.
    """
    lam = lam.reshape(X.shape[0], -1)
    Df = D.astype(float)
    M = np.concatenate([Df, -Df], axis=1)
    S = np.concatenate([2 * Df - 1, 2 * Df - 1], axis=1)
    G = lam[:, :, None] * M[:, None, :] + S[:, None, :] * np.maximum(mu, 0.0)
    n, c, Q = G.shape
    K = np.linalg.norm((X.T @ G.reshape(n, c * Q)).reshape(-1, c, Q), axis=0)
    return K.max(axis=1) if Q else np.zeros(c)


def refined_kappa(
    X: np.ndarray, D: np.ndarray, lam: np.ndarray, mu: np.ndarray, alpha: float
) -> np.ndarray:
    """Per output column, a bound on the exact constraint that is exact where it matters.

    Per group ``(i, +-)`` and column ``k`` the smaller of the multiplier bound
    ``||X^T (+- D_i lam_k + S_i mu_ik^+-)||`` (:func:`multiplier_kappa`, weak duality on the
    cone) and the gated norm ``||X^T D_i lam_k||`` (``mu = 0``); the exact projection
    ``||Proj_{K_i}(+- X^T D_i lam_k)||`` replaces it only where it exceeds both ``alpha`` and the
    running maximum. Each group's value bounds its exact constraint from above, so the maximum
    is a valid ``kappa`` over the patterns; it equals :func:`relu_kappa` whenever that exceeds
    ``alpha``, at the cost of the few projections of the groups near or above ``alpha``.
    """
    lam = lam.reshape(X.shape[0], -1)
    Df = D.astype(float)
    M = np.concatenate([Df, -Df], axis=1)
    S = np.concatenate([2 * Df - 1, 2 * Df - 1], axis=1)
    n, c, P = lam.shape[0], lam.shape[1], D.shape[1]
    G = lam[:, :, None] * M[:, None, :]
    gated = np.linalg.norm((X.T @ G.reshape(n, -1)).reshape(-1, c, 2 * P), axis=0)
    G = G + S[:, None, :] * np.maximum(mu, 0.0)
    bound = np.linalg.norm((X.T @ G.reshape(n, -1)).reshape(-1, c, 2 * P), axis=0)
    bound = np.minimum(bound, gated)  # (c, 2P)
    out = np.zeros(c)
    for k in range(c):
        above = np.flatnonzero(bound[k] > alpha)
        out[k] = bound[k][bound[k] <= alpha].max(initial=0.0)
        for q in above[np.argsort(-bound[k, above])]:
            if bound[k, q] <= out[k]:
                break
            A = S[:, q][:, None] * X
            g = X.T @ (M[:, q] * lam[:, k])
            out[k] = max(out[k], cone_projection_norm(A, g))
    return out


def gated_kappa(X: np.ndarray, D: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Per output column, ``max_i ||X^T D_i lam_k||`` (the gated dual constraint)."""
    lam = lam.reshape(X.shape[0], -1)
    G = pattern_gradients(X, D, lam)
    return np.linalg.norm(G, axis=1).max(axis=0) if D.shape[1] else np.zeros(lam.shape[1])


def coarse_kappa(X: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Pattern-free bound ``max(sum (lam)_+ ||x_i||, sum (lam)_- ||x_i||) >= kappa(lam)``.

    Valid for ReLU networks: ``lam^T (X u)_+ <= sum_i (lam_i)_+ (x_i^T u)_+ <= sum (lam)_+ ||x_i||``
    for unit ``u``. Not for gated networks over all gates, where one gate can collect both signs
    (``X = I_2``, ``lam = (1, -1)``: gated constraint ``sqrt 2``); there
    ``sum |lam_i| ||x_i||`` is the coarse bound (:func:`convexnet.relaxation.kappa_upper_bound`).
    """
    lam = lam.reshape(X.shape[0], -1)
    r = np.linalg.norm(X, axis=1)[:, None]
    return np.maximum((np.maximum(lam, 0) * r).sum(0), (np.maximum(-lam, 0) * r).sum(0))


def _scale(kbar: float, alpha: float) -> float:
    return 1.0 if kbar <= alpha else alpha / kbar


def certify_two_layer(
    X: np.ndarray,
    Y: np.ndarray,
    D: np.ndarray,
    loss,
    alpha: float,
    predictions: np.ndarray,
    primal: float,
    *,
    gated: bool = False,
    complete: bool = False,
    interpolate: bool = False,
    equality_dual: np.ndarray | None = None,
    cone_multipliers: np.ndarray | None = None,
    proven: bool = False,
    proven_max_time: float | None = None,
) -> Certificate:
    """Certify a two-layer network whose outputs on X are ``predictions`` and objective ``primal``.

    ``dual`` and ``gap`` hold over the patterns ``D`` (all networks when ``complete``). With
    ``proven`` the certificate also carries ``proven_dual`` (equal to ``dual`` when ``complete``,
    where the exact bound is already global; otherwise the relaxation is run): the same
    dual point rescaled by the proven pattern-free bound of
    :func:`convexnet.relaxation.kappa_upper_bound` (its parameter search limited to
    ``proven_max_time`` seconds), a lower bound on ``J`` over networks of any width and any
    patterns. It costs about a second at ``n = 1000, d = 20`` and tens of seconds at
    ``n = 10000, d = 50``, so solver loops leave it off and the trainers add it once at the end.

    The dual point is ``-grad loss(predictions)`` (or the solver's equality multiplier for the
    interpolation form); its feasibility is *checked* per pattern, never assumed.

    ``cone_multipliers`` (shape ``(n, c, 2P)``, non-negative, e.g. from the augmented Lagrangian)
    give the cheap exact-program bound ``kappa_i^+- <= ||X^T (+- D_i lam + S_i mu_i^+-)||``
    (weak duality on the cone); the per-pattern projections are then computed only for the
    groups whose bound exceeds ``alpha`` (:func:`refined_kappa`), and the smaller of the two
    bounds is kept.
    """
    Y2 = Y.reshape(X.shape[0], -1)
    if interpolate:
        if equality_dual is None:
            raise ValueError("the interpolation certificate needs the equality multipliers.")
        lam = equality_dual.reshape(Y2.shape)
        lam = lam if float(np.sum(lam * Y2)) >= 0 else -lam
    else:
        lam = loss.dual_point(predictions.reshape(Y2.shape), Y2)
    if gated:
        kappa = gated_kappa(X, D, lam)
        method = "gated"
    elif cone_multipliers is not None:
        kappa = multiplier_kappa(X, D, lam, cone_multipliers)
        method = "exact (cone multipliers)"
        if float(kappa.max(initial=0.0)) > alpha:
            kappa = np.minimum(kappa, refined_kappa(X, D, lam, cone_multipliers, alpha))
            method = "exact"
    else:
        kappa = relu_kappa(X, D, lam)
        method = "exact"
    # Decoupled networks (each neuron feeds one output): one constraint per column, so the
    # largest column value bounds them all. Coupled networks (a_j in R^c) need
    # max_u ||Lam^T (X u)_+|| <= alpha, and ||Lam^T (X u)_+||^2 = sum_k (Lam_k^T (X u)_+)^2
    # <= sum_k kappa_k^2, so the root-sum-square is a valid bound for them.
    kbar = float(kappa.max(initial=0.0))
    kbar_coupled = float(np.sqrt(np.sum(kappa**2)))
    kcoarse = float(np.sqrt(np.sum(coarse_kappa(X, lam) ** 2)))
    residual = 0.0
    if interpolate:
        residual = float(np.max(np.abs(predictions.reshape(Y2.shape) - Y2)))
        linear = float(np.sum(lam * Y2))

        def bound(k):
            return linear / k if k > 0 else -np.inf

        lam_bar = lam / kbar if kbar > 0 else lam
    else:

        def bound(k):
            return loss.dual_value(lam * _scale(k, alpha), Y2)

        lam_bar = lam * _scale(kbar, alpha)
    dual, coupled_dual, global_dual = bound(kbar), bound(kbar_coupled), bound(kcoarse)
    c = Y2.shape[1]
    if gated:
        scope = SCOPE_ALL_GATED if complete else SCOPE_PATTERNS_GATED
    else:
        scope = SCOPE_ALL if complete else SCOPE_PATTERNS
    if c > 1:
        scope += SCOPE_DECOUPLED
    gap = float(primal - dual)
    cert = Certificate(
        primal=float(primal),
        dual=dual,
        gap=gap,
        relative_gap=gap / max(abs(float(primal)), 1e-300),
        scope=scope,
        kappa=kbar,
        method=method,
        global_dual=global_dual,
        dual_point=lam_bar,
        residual=residual,
        coupled_dual=coupled_dual,
    )
    if proven:
        cert = prove_certificate(
            cert,
            X,
            Y2,
            loss,
            alpha,
            gated=gated,
            complete=complete,
            interpolate=interpolate,
            max_time=proven_max_time,
        )
    return cert


def prove_certificate(
    certificate: Certificate,
    X: np.ndarray,
    Y: np.ndarray,
    loss,
    alpha: float,
    *,
    gated: bool = False,
    complete: bool = False,
    interpolate: bool = False,
    max_time: float | None = None,
) -> Certificate:
    """Add the proven pattern-free bound to a two-layer certificate (``proven_*`` fields).

    The certificate's dual point ``lam_bar`` is rescaled by ``min(1, alpha / kbar)`` (by
    ``1 / kbar`` for the interpolation form), where ``kbar >= kappa(lam_bar)`` is the proven bound
    of :func:`convexnet.relaxation.kappa_upper_bound` (over all gates when ``gated``); the rescaled
    point is feasible for networks of any width and any patterns, so its dual value bounds ``J``
    over all of them (decoupled with several outputs). With ``complete`` patterns the exact bound
    is already global and ``proven_dual = dual``. ``global_dual`` (a ReLU bound with vector output
    weights) becomes the better of its coarse value and the root-sum-square of the proven bound.
    Costs only the relaxation, not the per-pattern bounds again.
    """
    from dataclasses import replace

    Y2 = Y.reshape(X.shape[0], -1)
    lam = certificate.dual_point
    if interpolate:
        linear = float(np.sum(lam * Y2))

        def bound(k):
            return linear / k if k > 0 else -np.inf

    else:

        def bound(k):
            return loss.dual_value(lam * _scale(k, alpha), Y2)

    if complete:
        pdual, pkappa, method = certificate.dual, certificate.kappa, "exact (complete patterns)"
        coupled = certificate.coupled_dual if not gated else -np.inf
    else:
        from convexnet.relaxation import kappa_upper_bound

        kb = kappa_upper_bound(X, lam, gated=gated, max_time=max_time)
        pkappa, method = float(kb.value.max()), kb.method
        pdual = bound(pkappa)
        coupled = bound(float(np.sqrt(np.sum(kb.value**2)))) if not gated else -np.inf
        # Report it for the unscaled dual point, like ``kappa`` (kappa is positively homogeneous).
        k0 = certificate.kappa
        s = (1.0 / k0 if k0 > 0 else 1.0) if interpolate else _scale(k0, alpha)
        pkappa = pkappa / s
    pgap = float(certificate.primal - pdual)
    return replace(
        certificate,
        global_dual=max(certificate.global_dual, coupled),
        proven_dual=pdual,
        proven_gap=pgap,
        proven_relative_gap=pgap / max(abs(certificate.primal), 1e-300),
        proven_kappa=pkappa,
        proven_method=method,
    )


# ----------------------------------------------------------------------------------------
# Three-layer parallel networks ([001]; SPEC.md §3.5)
# ----------------------------------------------------------------------------------------

_RHO_PROBLEMS: dict = {}


def _rho_problem(m: int, n: int, d: int):
    """CVXPY problem ``min_{mu >= 0} max_j ||q_j + P_j mu_j + Q_j mu_c||`` with parameters.

    Compiled once per block size ``m`` (DPP), then re-solved with new parameter values.
    """
    import cvxpy as cp

    key = (m, n, d)
    if key not in _RHO_PROBLEMS:
        q = [cp.Parameter(d) for _ in range(m)]
        P = [cp.Parameter((d, n)) for _ in range(m)]
        Q = [cp.Parameter((d, n)) for _ in range(m)]
        mu = [cp.Variable(n, nonneg=True) for _ in range(m + 1)]
        t = cp.Variable()
        cons = [cp.norm(q[j] + P[j] @ mu[j] + Q[j] @ mu[m], 2) <= t for j in range(m)]
        _RHO_PROBLEMS[key] = (cp.Problem(cp.Minimize(t), cons), q, P, Q, mu)
    return _RHO_PROBLEMS[key]


def block_kappa(X: np.ndarray, D1: np.ndarray, members, D2: np.ndarray, lam: np.ndarray) -> float:
    """A rigorous upper bound on ``max_sigma rho_b^sigma(lam)`` for one block (SPEC.md §3.5).

    ``rho_b^sigma(lam) = max { sigma lam^T D2 sum_j D1_j X v_j : v feasible for b,
    sum_j ||v_j|| <= 1 }``. For multipliers ``mu >= 0`` of the cone rows
    ``s_j (2 D1_j - I) X v_j >= 0`` and the coupling rows ``(2 D2 - I) sum_j D1_j X v_j >= 0``,
    weak duality gives ``rho <= max_j ||sigma X^T D1_j D2 lam + s_j X^T (2 D1_j - I) mu_j
    + X^T D1_j (2 D2 - I) mu_c||``; the minimising ``mu`` is found by an SOCP (equality holds at
    its optimum), and the bound is then evaluated in NumPy at the solver's ``mu`` clipped to
    ``mu >= 0``, so an inexact solve errs on the safe side.
    """
    import cvxpy as cp

    n, d = X.shape
    m = len(members)
    D2f = D2.astype(float)
    q0, Ps, Qs = [], [], []
    for i, s in members:
        Dj = D1[:, i].astype(float)
        q0.append(X.T @ (Dj * D2f * lam))
        Ps.append(s * X.T * (2.0 * Dj - 1.0)[None, :])
        Qs.append(X.T * (Dj * (2.0 * D2f - 1.0))[None, :])
    if max(np.linalg.norm(v) for v in q0) == 0:
        return 0.0
    prob, q, P, Q, mu = _rho_problem(m, n, d)
    best = 0.0
    for sigma in (1.0, -1.0):
        for j in range(m):
            q[j].value = sigma * q0[j]
            P[j].value = Ps[j]
            Q[j].value = Qs[j]
        bound = max(np.linalg.norm(v) for v in q0)  # mu = 0 (the cheap bound)
        try:
            prob.solve(solver="CLARABEL")
            if mu[0].value is not None:
                mus = [np.maximum(u.value, 0.0) for u in mu]
                val = max(
                    np.linalg.norm(sigma * q0[j] + Ps[j] @ mus[j] + Qs[j] @ mus[m])
                    for j in range(m)
                )
                bound = min(bound, float(val))
        except cp.SolverError:
            pass
        best = max(best, bound)
    return best


def three_layer_kappa(X: np.ndarray, blocks, lam: np.ndarray) -> np.ndarray:
    """Per output column, ``max_b rho_b(lam_k)`` over a block set (rigorous upper bounds).

    Singles ``{(i, +)}`` with ``D2 = I`` are the two-layer atoms (:func:`relu_kappa`). For a mixed
    block the cheap bound ``max_j ||X^T D1_j D2 lam||`` is tried first; the SOCP of
    :func:`block_kappa` is solved only where the cheap bound exceeds the largest value so far.
    """
    lam = lam.reshape(X.shape[0], -1)
    singles = ~blocks.mixed
    pats = np.unique(blocks.member_pattern[np.isin(blocks.member_block, np.flatnonzero(singles))])
    out = relu_kappa(X, blocks.D1[:, pats], lam) if pats.size else np.zeros(lam.shape[1])
    mixed = np.flatnonzero(blocks.mixed)
    if not mixed.size:
        return out
    members_of = [[] for _ in range(blocks.n_blocks)]
    for a in range(blocks.n_members):
        members_of[blocks.member_block[a]].append(
            (int(blocks.member_pattern[a]), float(blocks.member_sign[a]))
        )
    D1f = blocks.D1.astype(float)
    for k in range(lam.shape[1]):
        L2 = blocks.D2[:, mixed] * lam[:, k][:, None]  # (n, B_mixed)
        cheap = np.zeros(mixed.size)
        for t, b in enumerate(mixed):
            cheap[t] = max(np.linalg.norm(X.T @ (D1f[:, i] * L2[:, t])) for i, _ in members_of[b])
        for t in np.argsort(-cheap):
            if cheap[t] <= out[k]:
                break
            b = mixed[t]
            # Dropping the coupling rows separates the members: rho_b <= max_j, sigma of
            # ||Proj_{K_j}(sigma X^T D1_j D2 lam)|| over each member's signed cone (NNLS).
            mid = 0.0
            for i, s in members_of[b]:
                A = s * (2.0 * D1f[:, i] - 1.0)[:, None] * X
                z = X.T @ (D1f[:, i] * L2[:, t])
                mid = max(mid, cone_projection_norm(A, z), cone_projection_norm(A, -z))
            if mid <= out[k]:
                continue
            out[k] = max(
                out[k], block_kappa(X, blocks.D1, members_of[b], blocks.D2[:, b], lam[:, k])
            )
    return out


def certify_three_layer(
    X: np.ndarray,
    Y: np.ndarray,
    blocks,
    loss,
    alpha: float,
    predictions: np.ndarray,
    primal: float,
) -> Certificate:
    """Certify a three-layer parallel network with outputs ``predictions`` and objective ``primal``.

    Dual point ``lam = -grad loss(predictions)``, rescaled by ``min(1, alpha / kbar)`` with
    ``kbar`` a rigorous bound on ``max_b rho_b(lam)`` over the block set (SPEC.md §3.5). The bound
    holds against every three-layer parallel network of width ``<= m1`` when the block set is
    complete (first-layer patterns enumerated, every mixed signed set present, second-layer
    patterns enumerated exactly), otherwise against networks using the given blocks. The coarse,
    pattern-free bound (``global_dual``) holds against every three-layer parallel network of any
    width: ``sigma lam^T (h)_+ <= sum_i (sigma lam_i)_+ ||x_i|| sum_j ||z_j||``. Every bound is on
    the R1/R3 objective (SPEC §3.2); plain weight decay on the same weights can go below it.
    """
    Y2 = Y.reshape(X.shape[0], -1)
    lam = loss.dual_point(predictions.reshape(Y2.shape), Y2)
    kappa = three_layer_kappa(X, blocks, lam)
    kbar = float(kappa.max(initial=0.0))
    kbar_coupled = float(np.sqrt(np.sum(kappa**2)))
    kcoarse = float(np.sqrt(np.sum(coarse_kappa(X, lam) ** 2)))

    def bound(k):
        return loss.dual_value(lam * _scale(k, alpha), Y2)

    scope = SCOPE_THREE_ALL.format(width=blocks.width) if blocks.is_complete else SCOPE_THREE_BLOCKS
    if Y2.shape[1] > 1:
        scope += " whose sub-networks each feed one output (decoupled)"
    scope += SCOPE_THREE_REGULARISER
    dual = bound(kbar)
    gap = float(primal - dual)
    return Certificate(
        primal=float(primal),
        dual=dual,
        gap=gap,
        relative_gap=gap / max(abs(float(primal)), 1e-300),
        scope=scope,
        kappa=kbar,
        method="exact",
        global_dual=bound(kcoarse),
        dual_point=lam * _scale(kbar, alpha),
        coupled_dual=bound(kbar_coupled),
    )
