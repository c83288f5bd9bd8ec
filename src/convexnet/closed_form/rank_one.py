"""Deep ReLU networks on rank-one data in closed form (SPEC.md §4.2; [000], [002] §4.1, Thm. 5).

Data ``X = c a^T`` (``c`` in R^n, ``a`` in R^d), scalar output, no biases. With ``c_+ = (c)_+`` and
``c_- = (-c)_+`` every standard deep ReLU network outputs a vector of ``span{c_+, c_-}`` (the
structural lemma of SPEC §4.2), so interpolation needs ``y = gamma_+ c_+ + gamma_- c_-``.

Two forms of the minimum-norm problem ([002] (17)-(18), SPEC §4.1):

* the Theta form at radius ``t``: ``P(t) = min sum_j |w_{L,j}|`` s.t. ``||W_l||_F <= t``
  (``l <= L-2``), unit columns of ``W_{L-1}`` and ``f(X) = y``; ``T := t^(L-2) ||a||``;
* weight decay on all layers: ``P = min (1/2) sum_l ||W_l||_F^2 s.t. f(X) = y
  = min_t (L-2)/2 t^2 + P(t) = (L/2) P(1)^(2/L)`` (the same for the dual ``D``).

Closed forms (SPEC §4.2, [derived; checked]):

* dual ``D(t) = (|gamma_+| + |gamma_-|) / T`` for every ``L >= 3``;
* same signs (``gamma_+ gamma_- >= 0``, in particular one-signed ``c``): ``P(t) = D(t)``;
* mixed signs, ``L = 3``: ``P(t) = (|gamma_+|^(2/3) + |gamma_-|^(2/3))^(3/2) / T > D(t)``;
* mixed signs, ``L >= 4``: only ``(..)^(2/3)``-lower and ``(|g_+|^(2/L) + |g_-|^(2/L))^(L/2) / T``
  upper bounds are known (SPEC §6.9); the result carries both, ``status == "bounds"``;
* the parallel network (22) (any depth): ``P = D = D(1)`` for any signs.

**[!] (SPEC §4.2, §6.2).** [002] Thm. 5 ("let X be rank-one; then strong duality holds") and the
abstract of [000] claim a zero gap for all rank-one data. The closed forms give a strict gap iff
``gamma_+ gamma_- < 0``. Both conditions are returned (``zero_gap_paper_condition`` is always true,
``zero_gap_sign_condition`` is ours); the numbers (e.g. ``(gamma_+, gamma_-) = (1, -1)``,
``||a|| = 2.5347``, ``L = 3``: ``P = 1.613768`` reached by non-convex training, ``D = 1.280848``)
support the sign condition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from convexnet._validation import as_matrix, as_targets, check_positive, check_positive_int

__all__ = [
    "RankOneResult",
    "rank_one_decomposition",
    "rank_one_min_norm",
    "relu_network_output",
]

#: sigma_2 / sigma_1 of X above which X is not rank one
RANK_ONE_RTOL = 1e-9
#: relative residual of y against span{c_+, c_-} above which interpolation is infeasible
SPAN_RTOL = 1e-8
#: |gamma| below this times max|gamma| counts as zero in the sign condition
SIGN_RTOL = 1e-12


def relu_network_output(X, weights) -> np.ndarray:
    """``((X W_1)_+ ... W_{L-1})_+ W_L`` for a standard ReLU network without biases ([002] (17))."""
    out = as_matrix(X, "X")
    L = len(weights)
    if L < 1:
        raise ValueError("weights must hold at least one layer.")
    for l, W in enumerate(weights):
        W = as_matrix(np.atleast_2d(W).T if np.ndim(W) == 1 else W, f"weights[{l}]")
        if W.shape[0] != out.shape[1]:
            raise ValueError(
                f"weights[{l}] has {W.shape[0]} rows but layer {l + 1} receives "
                f"{out.shape[1]} features."
            )
        out = out @ W
        if l < L - 1:
            out = np.maximum(out, 0.0)
    return out


def rank_one_decomposition(X) -> tuple[np.ndarray, np.ndarray]:
    """``(c, a)`` with ``X = c a^T``; ``ValueError`` if ``X`` is not rank one.

    ``c = sigma_1 u_1`` and ``a = v_1`` (``||a|| = 1``), signed so that the largest ``|c_i|`` is
    positive. The values of this module are invariant under ``(c, a) -> (k c, a / k)``.
    """
    X = as_matrix(X, "X")
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    if s[0] == 0.0:
        raise ValueError("X is zero; rank-one data needs X = c a^T with c, a non-zero.")
    if s.size > 1 and s[1] > RANK_ONE_RTOL * s[0]:
        raise ValueError(
            f"X must be rank one (X = c a^T); its singular values are {s[:3]} "
            f"(sigma_2/sigma_1 = {s[1] / s[0]:.2e} > {RANK_ONE_RTOL:g})."
        )
    c, a = s[0] * U[:, 0], Vt[0].copy()
    if c[np.argmax(np.abs(c))] < 0:
        c, a = -c, -a
    return c, a


@dataclass(frozen=True, eq=False)
class RankOneResult:
    """Minimum-norm standard deep ReLU network on rank-one data and its dual (SPEC §4.2).

    Values with weight decay on all layers (``(1/2) sum_l ||W_l||_F^2``, [002] (17)):

    primal_value : value of the returned ``weights``; the optimum ``P_ReLU`` when
        ``status == "exact"``, its upper bound when ``status == "bounds"`` (``L >= 4``, mixed).
    primal_lower, primal_upper : proven bounds on ``P_ReLU`` (equal when exact).
    dual_value : ``D_ReLU = (L/2) D(1)^(2/L)`` (the dual (20) after optimising ``t``).
    gap : ``primal_value - dual_value``; ``gap_lower = primal_lower - dual_value`` is proven.
    parallel_value : the optimum of the parallel network (22) (constant ``1/L``), ``= D(1)``.
    gamma_plus, gamma_minus : ``y = gamma_+ c_+ + gamma_- c_-``.
    zero_gap_paper_condition : [002] Thm. 5 / [000] as printed: always ``True`` for rank-one X.
    zero_gap_sign_condition : ours (SPEC §4.2 [!]): ``gamma_+ gamma_- >= 0``.
    weights : optimal (or upper-bound) layers ``W_1 .. W_L`` for weight decay, balanced.
    """

    c: np.ndarray
    a: np.ndarray
    gamma_plus: float
    gamma_minus: float
    depth: int
    primal_value: float
    primal_lower: float
    primal_upper: float
    dual_value: float
    gap: float
    gap_lower: float
    parallel_value: float
    zero_gap_paper_condition: bool
    zero_gap_sign_condition: bool
    weights: list[np.ndarray] = field(repr=False)
    status: str = "exact"

    @property
    def c_plus(self) -> np.ndarray:
        return np.maximum(self.c, 0.0)

    @property
    def c_minus(self) -> np.ndarray:
        return np.maximum(-self.c, 0.0)

    @property
    def zero_gap(self) -> bool:
        """Whether the proven gap is zero (relative 1e-9); ``False`` for ``status="bounds"``."""
        return bool(self.status == "exact" and self.gap <= 1e-9 * max(1.0, abs(self.primal_value)))

    # ---------------------------------------------------------------- Theta form at radius t
    def _T(self, t) -> float:
        t = check_positive(t, "t")
        return t ** (self.depth - 2) * float(np.linalg.norm(self.a))

    def _theta_constants(self) -> tuple[float, float, float]:
        """``(lower, upper, dual)`` Theta-form values times ``T``."""
        gp, gm, L = abs(self.gamma_plus), abs(self.gamma_minus), self.depth
        dual = gp + gm
        if self.zero_gap_sign_condition:
            return dual, dual, dual
        low = (gp ** (2 / 3) + gm ** (2 / 3)) ** 1.5
        up = (gp ** (2 / L) + gm ** (2 / L)) ** (L / 2)
        return low, up, dual

    def primal_at(self, t: float) -> float:
        """``P(t)`` of the Theta form (18) (its upper bound if ``status == "bounds"``)."""
        return self._theta_constants()[1] / self._T(t)

    def primal_bounds_at(self, t: float) -> tuple[float, float]:
        """Proven ``(lower, upper)`` bounds on ``P(t)``."""
        low, up, _ = self._theta_constants()
        T = self._T(t)
        return low / T, up / T

    def dual_at(self, t: float) -> float:
        """``D(t) = (|gamma_+| + |gamma_-|) / (t^(L-2) ||a||)`` (dual (20), SPEC §4.2)."""
        return self._theta_constants()[2] / self._T(t)

    def dual_point_at(self, t: float) -> np.ndarray:
        """An optimal ``lambda`` of (20): least-norm ``lambda`` with ``lambda^T c_+- = sign/T``."""
        T = self._T(t)
        M = np.column_stack([self.c_plus, self.c_minus])
        rhs = np.array([np.sign(self.gamma_plus), np.sign(self.gamma_minus)]) / T
        return np.linalg.lstsq(M.T, rhs, rcond=None)[0]

    def weights_at(self, t: float) -> list[np.ndarray]:
        """Layers optimal for the Theta form at radius ``t`` (SPEC §4.2 "Optimal weights").

        ``||W_l||_F = t`` (``l <= L-2``), unit columns of ``W_{L-1}``, ``sum |w_L| = P(t)``
        (the upper bound for ``L >= 4`` with mixed signs: block-diagonal layers).
        """
        T = self._T(t)
        t = float(t)
        L, d = self.depth, self.a.size
        A, G = self.gamma_plus, self.gamma_minus
        na = float(np.linalg.norm(self.a))
        rho0 = (self.a / na)[:, None]
        if A == 0.0 and G == 0.0:
            return [np.zeros((d, 1))] + [np.zeros((1, 1))] * (L - 2) + [np.zeros((1, 1))]
        if self.zero_gap_sign_condition:
            x = np.sqrt(abs(A) / (abs(A) + abs(G)))
            u = np.sqrt(abs(G) / (abs(A) + abs(G)))
            W1 = t * rho0 @ np.array([[x, -u]])
            out = np.array([[np.sign(A + G) * (abs(A) + abs(G)) / T]])
            if L == 3:
                return [W1, np.array([[x], [u]]), out]
            mid = [t * np.array([[x], [u]])] + [np.full((1, 1), t)] * (L - 4)
            return [W1, *mid, np.ones((1, 1)), out]
        share = abs(A) ** (2 / L) / (abs(A) ** (2 / L) + abs(G) ** (2 / L))
        p, q = t * np.sqrt(share), t * np.sqrt(1.0 - share)
        W1 = rho0 @ np.array([[p, -q]])
        mid = [np.diag([p, q])] * (L - 3)
        out = np.array([[A / (na * p ** (L - 2))], [G / (na * q ** (L - 2))]])
        return [W1, *mid, np.eye(2), out]

    def dual_extreme_points(self, t: float = 1.0) -> list[dict]:
        """The vertices ``T c_+`` and ``T c_-`` of the path-feature set: [002]'s (88).

        Each entry holds ``sign`` (``s = +1`` gives ``T c_+``), the layers ``W_1 = t s rho_0``,
        ``W_l = t`` (``2 <= l <= L-2``), ``w_{L-1} = 1`` (widths one), the ``feature`` and
        ``exposed``: whether ``lambda*`` attains the dual constraint there. Both are exposed when
        both ``gamma`` are non-zero, and then (88)'s ``s`` is undefined (SPEC §4.2).
        """
        T = self._T(t)
        t = float(t)
        rho0 = (self.a / np.linalg.norm(self.a))[:, None]
        lam = self.dual_point_at(t)
        out = []
        for s, vec in ((1.0, self.c_plus), (-1.0, self.c_minus)):
            layers = [t * s * rho0] + [np.full((1, 1), t)] * (self.depth - 3) + [np.ones((1, 1))]
            value = T * abs(float(lam @ vec))
            out.append(
                {
                    "sign": s,
                    "layers": layers,
                    "feature": T * vec,
                    "exposed": bool(abs(value - 1.0) <= 1e-9),
                }
            )
        return out


def _rebalance(layers: list[np.ndarray]) -> list[np.ndarray]:
    """Rescale neuron ``j`` of the last two layers to ``sqrt|w_{L,j}|`` each (SPEC §4.2)."""
    W, w = layers[-2].copy(), layers[-1].copy()
    for j in range(W.shape[1]):
        r = np.sqrt(abs(w[j, 0]))
        W[:, j] *= r
        w[j, 0] = np.sign(w[j, 0]) * r
    return [*layers[:-2], W, w]


def rank_one_min_norm(X, y, depth: int = 3) -> RankOneResult:
    """Minimum-norm standard deep ReLU network on rank-one data: ``P``, ``D``, gap and weights.

    Solves [002] (17) for ``X = c a^T`` and scalar ``y`` (SPEC §4.2)::

        P_ReLU = min (1/2) sum_{l=1}^L ||W_l||_F^2  s.t.  ((X W_1)_+ ... W_{L-1})_+ W_L = y

    with its dual ``D_ReLU`` (the dual (20) of the Theta form (18), optimised over ``t``). Writing
    ``C = T P(t)`` for the Theta constant, ``P_ReLU = (L/2) (C/||a||)^(2/L)``.

    The gap is zero iff ``gamma_+ gamma_- >= 0`` (SPEC §4.2, [derived; checked]); [002] Thm. 5
    and [000] state strong duality for every rank-one ``X``, which the numbers contradict (the
    [!] of SPEC §6.2: both conditions are returned). For ``L >= 4`` with mixed signs the optimum
    is not known: ``status == "bounds"``, with the proven bounds and the block-diagonal network
    attaining the upper one.

    ``ValueError`` if ``X`` is not rank one or ``y`` is not in ``span{c_+, c_-}``.
    """
    depth = check_positive_int(depth, "depth", minimum=3)
    X = as_matrix(X, "X")
    y = as_targets(y, X.shape[0], "y")
    if y.ndim == 2:
        if y.shape[1] != 1:
            raise ValueError(f"y must be a single output (scalar-output networks), got {y.shape}.")
        y = y[:, 0]
    c, a = rank_one_decomposition(X)
    cp_, cm = np.maximum(c, 0.0), np.maximum(-c, 0.0)
    M = np.column_stack([cp_, cm])
    gam = np.linalg.lstsq(M, y, rcond=None)[0]
    if not np.any(cm):
        gam[1] = 0.0
    resid = np.linalg.norm(M @ gam - y)
    if resid > SPAN_RTOL * max(np.linalg.norm(y), 1e-300) and resid > 0:
        raise ValueError(
            "y is not in span{c_+, c_-} (relative residual "
            f"{resid / max(np.linalg.norm(y), 1e-300):.2e}): no ReLU network without biases "
            "interpolates it on rank-one X = c a^T (SPEC §4.2)."
        )
    scale = float(np.max(np.abs(gam)))
    gam[np.abs(gam) <= SIGN_RTOL * scale] = 0.0
    gp, gm = float(gam[0]), float(gam[1])
    sign_ok = bool(gp * gm >= 0.0)
    L = depth
    na = float(np.linalg.norm(a))
    skeleton = RankOneResult(
        c=c,
        a=a,
        gamma_plus=gp,
        gamma_minus=gm,
        depth=L,
        primal_value=np.nan,
        primal_lower=np.nan,
        primal_upper=np.nan,
        dual_value=np.nan,
        gap=np.nan,
        gap_lower=np.nan,
        parallel_value=np.nan,
        zero_gap_paper_condition=True,
        zero_gap_sign_condition=sign_ok,
        weights=[],
    )
    low, up, dual = (v / na for v in skeleton._theta_constants())

    def wd(C: float) -> float:
        return 0.5 * L * C ** (2.0 / L)

    if up > 0:
        t_star = up ** (1.0 / L)
        weights = _rebalance(skeleton.weights_at(t_star))
    else:
        weights = skeleton.weights_at(1.0)
    exact = sign_ok or L == 3
    p_val, d_val = wd(up), wd(dual)
    return RankOneResult(
        c=c,
        a=a,
        gamma_plus=gp,
        gamma_minus=gm,
        depth=L,
        primal_value=p_val,
        primal_lower=wd(low),
        primal_upper=p_val,
        dual_value=d_val,
        gap=max(p_val - d_val, 0.0),
        gap_lower=max(wd(low) - d_val, 0.0),
        parallel_value=dual,
        zero_gap_paper_condition=True,
        zero_gap_sign_condition=sign_ok,
        weights=weights,
        status="exact" if exact else "bounds",
    )
