"""Deep linear networks in closed form: exact optima, duality gaps, parallel networks.

Everything here follows SPEC.md §2 ("Deep linear networks") and the papers

* [000] Ergen & Pilanci, *Convex Duality of Deep Neural Networks* (arXiv:2002.09773);
* [002] Wang, Ergen & Pilanci, *Parallel Deep Neural Networks Have Zero Duality Gap* (ICLR 2023).

Notation: ``X`` is ``(n, d)``, ``Y`` is ``(n, C)`` (or ``(n,)``), ``Z = X^+ Y`` is the minimum-norm
solution of ``X W = Y`` and ``sigma_i`` are its singular values. ``L = depth`` counts weight
layers. Weight decay (WD) is ``(1/2) sum_l ||W_l||_F^2``; the parallel "L-th power" regulariser
is ``(1/L) sum_{j,l} ||W_{l,j}||_F^L`` (constant ``1/L``, SPEC §2.7 (b); any other constant
``kappa`` multiplies every value by ``kappa * L``).

The minimum-norm problems are solved exactly (no iterative solver): every result has
``status == "exact"``. Regularised training lives in
:mod:`convexnet.closed_form.deep_linear_estimator`.

**[!] When is the duality gap zero (SPEC §2.5, §6.1)?** [002] Theorem 3 states
"``P_lin(t) = D_lin(t)`` iff the singular values of ``X^+ Y`` are equal". The closed forms
(10)-(11) give ``P(t) - D(t) = t^(2-L) (||Z||_{S_{2/L}} - ||Z||_*)``, which for ``L >= 3`` is zero
iff ``rank Z <= 1``. Both conditions are computed (``zero_gap_paper_condition``,
``zero_gap_rank_condition``); the numbers (e.g. ``sigma = (1, 1)``, ``L = 3``: ``P = 3``,
``D = 2.381102``) support the rank condition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from convexnet._validation import (
    as_matrix,
    as_targets,
    check_choice,
    check_positive,
    check_positive_int,
)

__all__ = [
    "AlignmentReport",
    "FactorizationResult",
    "GapStairsResult",
    "ParallelMinNormResult",
    "StandardMinNormResult",
    "check_rank_one_aligned",
    "factorize",
    "gap_stairs",
    "min_norm_solution",
    "network_output",
    "parallel_min_norm",
    "parallel_output",
    "parallel_regularizer",
    "schatten_norm",
    "standard_min_norm",
]

#: relative tolerance (w.r.t. sigma_1) below which a singular value counts as zero
RANK_RTOL = 1e-9
#: relative tolerance for "all non-zero singular values are equal" (the paper's condition)
EQUAL_RTOL = 1e-8
#: relative residual ``||X Z - Y|| / (||Y|| + ||X||_2 ||Z||)`` above which ``Y`` is not in range X
RANGE_RTOL = 1e-8


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def check_depth(depth) -> int:
    """``depth`` must be an integer ``>= 2`` (number of weight layers ``L``)."""
    return check_positive_int(depth, "depth", minimum=2)


def _validate_xy(X, Y) -> tuple[np.ndarray, np.ndarray, bool]:
    """Return ``X`` (n, d), ``Y`` as (n, C) and whether ``Y`` was 1-D."""
    X = as_matrix(X, "X")
    Y = as_targets(Y, X.shape[0], "Y")
    was_1d = Y.ndim == 1
    if was_1d:
        Y = Y[:, None]
    return X, Y, was_1d


def _svd_rank(A: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Thin SVD ``A = U diag(s) Vt`` truncated to the numerical rank."""
    U, s, Vt = np.linalg.svd(A, full_matrices=False)
    if s.size == 0 or s[0] == 0.0:
        return U[:, :0], s[:0], Vt[:0], 0
    r = int(np.sum(s > RANK_RTOL * s[0]))
    return U[:, :r], s[:r], Vt[:r], r


def schatten_norm(A, p: float) -> float:
    """``||A||_{S_p} = (sum_i sigma_i(A)^p)^(1/p)``; a quasi-norm for ``p < 1`` ([002] Def. 1).

    Singular values below ``RANK_RTOL * sigma_1`` are treated as zero (they would otherwise
    dominate ``sum sigma^p`` through round-off when ``p`` is small).
    """
    A = as_matrix(np.atleast_2d(np.asarray(A, dtype=object)), "A")
    p = check_positive(p, "p")
    _, s, _, _ = _svd_rank(np.atleast_2d(A))
    if s.size == 0:
        return 0.0
    return float(np.sum(s**p) ** (1.0 / p))


def min_norm_solution(X, Y) -> np.ndarray:
    """``Z = X^+ Y``, the minimum-norm solution of ``X W = Y``; error if ``Y`` is not in range X.

    Every minimum-norm (interpolation) problem of SPEC §2 assumes ``X X^+ Y = Y`` (SPEC §0.3).
    """
    X, Y, was_1d = _validate_xy(X, Y)
    Z = _min_norm(X, Y)
    return Z[:, 0] if was_1d else Z


def _min_norm(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    Z = np.linalg.pinv(X) @ Y
    resid = np.linalg.norm(X @ Z - Y)
    # Relative to the sizes involved (never to 1): a tiny Y outside range X is still refused.
    scale = np.linalg.norm(Y) + np.linalg.norm(X, 2) * np.linalg.norm(Z)
    if resid > RANGE_RTOL * scale:
        raise ValueError(
            "Y is not in the range of X (relative residual of X X^+ Y - Y is "
            f"{resid / max(scale, 1e-300):.2e}): the minimum-norm (interpolation) "
            "problem is infeasible. Use DeepLinearRegressor for the regularised problem."
        )
    return Z


def network_output(X, weights: Sequence[np.ndarray]) -> np.ndarray:
    """``X W_1 W_2 ... W_L`` for a standard network (SPEC §2.1, [002] (3))."""
    out = as_matrix(X, "X")
    for l, W in enumerate(weights, start=1):
        W = as_matrix(W, f"weights[{l - 1}]")
        if W.shape[0] != out.shape[1]:
            raise ValueError(
                f"weights[{l - 1}] has {W.shape[0]} rows but layer {l} receives "
                f"{out.shape[1]} features."
            )
        out = out @ W
    return out


def parallel_output(X, branches: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
    """``sum_j X W_{1,j} ... W_{L,j}`` for a parallel network (SPEC §2.1, [002] (4))."""
    return sum(network_output(X, b) for b in branches)


def _pad(A: np.ndarray, rows: int, cols: int) -> np.ndarray:
    out = np.zeros((rows, cols))
    out[: A.shape[0], : A.shape[1]] = A
    return out


def _balanced(
    U: np.ndarray, s: np.ndarray, Vt: np.ndarray, depth: int, width: int | None
) -> list[np.ndarray]:
    """Balanced factors (8) of ``U diag(s) Vt`` with ``V_l = [I_r; 0]`` (SPEC §2.4)."""
    r = s.size
    m = max(r, 1) if width is None else width
    root = np.diag(s ** (1.0 / depth))
    d, C = U.shape[0], Vt.shape[1]
    if depth == 1:  # pragma: no cover - depth >= 2 is enforced by callers
        return [U @ np.diag(s) @ Vt]
    layers = [_pad(U @ root, d, m)]
    layers += [_pad(root, m, m) for _ in range(depth - 2)]
    layers.append(_pad(root @ Vt, m, C))
    return layers


def _check_width(width, r: int) -> int | None:
    if width is None:
        return None
    width = check_positive_int(width, "hidden_width")
    if width < r:
        raise ValueError(f"hidden_width must be at least rank {r} of the end-to-end matrix.")
    return width


# --------------------------------------------------------------------------------------------
# factorisation lemma
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FactorizationResult:
    """Minimum WD factorisation of a matrix (SPEC §2.4, [002] Prop. 2 = Prop. 7, (7)-(8)).

    ``value = min {(1/2) sum_l ||W_l||_F^2 : W_1 ... W_L = W} = (L/2) sum_i sigma_i^(2/L)``.
    """

    value: float
    weights: list[np.ndarray]
    singular_values: np.ndarray
    rank: int
    depth: int
    status: str = "exact"


def factorize(W, depth: int, hidden_width: int | None = None) -> FactorizationResult:
    """Balanced factorisation (8) of ``W`` into ``depth`` layers, with its WD cost (7).

    Solves ``min (1/2) sum_{l=1}^L ||W_l||_F^2  s.t.  W_1 ... W_L = W`` exactly: the value is
    ``(L/2) ||W||_{S_{2/L}}^{2/L}`` ([002] Prop. 2, eq. (7); SPEC §2.4, with the ``1/2``), attained
    by ``W_1 = U S^(1/L) V_1^T, W_l = V_{l-1} S^(1/L) V_l^T, W_L = V_{L-1} S^(1/L) V^T`` (8).
    Hidden widths are ``rank W`` (or ``hidden_width``, zero-padded). For a vector ``W`` (scalar
    output, [000]) every factor is rank one and aligned with its neighbours (SPEC §2.3).
    """
    depth = check_depth(depth)
    # a vector W of shape (d,) (scalar output) is treated as (d, 1)
    A = as_matrix(np.atleast_2d(W).T if np.ndim(W) == 1 else W, "W")
    U, s, Vt, r = _svd_rank(A)
    width = _check_width(hidden_width, r)
    layers = _balanced(U, s, Vt, depth, width)
    value = 0.5 * depth * float(np.sum(s ** (2.0 / depth)))
    return FactorizationResult(value, layers, s, r, depth)


# --------------------------------------------------------------------------------------------
# standard networks, minimum norm
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class StandardMinNormResult:
    """Minimum-norm standard deep linear network (5) and its dual ([002] §3.1; SPEC §2.5).

    Attributes
    ----------
    primal_value : ``P_lin = min (1/2) sum_l ||W_l||_F^2 s.t. X W_1...W_L = Y
        = (L/2) ||Z||_{S_{2/L}}^{2/L}`` ([002] (5), (57)).
    dual_value : ``D_lin = min_t (L-2)/2 t^2 + D_lin(t) = (L/2) ||Z||_*^{2/L}`` ((11), optimised t).
    gap : ``primal_value - dual_value >= 0``; zero iff ``L = 2`` or ``rank Z <= 1``.
    t_star, t_dual : ``||Z||_{S_{2/L}}^{1/L}`` and ``||Z||_*^{1/L}``, the optimal scales of P and D.
    weights : balanced factors of ``Z`` (8); ``||W_l||_F^2 = t_star^2``, product ``= Z``.
    zero_gap_paper_condition : [002] Thm. 3 as printed: all non-zero ``sigma_i(Z)`` equal.
    zero_gap_rank_condition : ours (SPEC §2.5 [!]): ``L == 2`` or ``rank Z <= 1``.
    """

    primal_value: float
    dual_value: float
    gap: float
    t_star: float
    t_dual: float
    weights: list[np.ndarray]
    Z: np.ndarray
    singular_values: np.ndarray
    rank: int
    depth: int
    zero_gap_paper_condition: bool
    zero_gap_rank_condition: bool
    status: str = "exact"
    _X_pinv: np.ndarray = field(default=None, repr=False)

    @property
    def zero_gap(self) -> bool:
        """Whether the computed gap is zero (relative to ``primal_value``, 1e-9)."""
        return bool(self.gap <= 1e-9 * max(1.0, abs(self.primal_value)))

    def _check_t(self, t) -> float:
        return check_positive(t, "t")

    def primal_at(self, t: float) -> float:
        """``P_lin(t) = t^(2-L) ||Z||_{S_{2/L}}`` ([002] (10)): the Theta-form value at radius t."""
        t = self._check_t(t)
        return float(t ** (2 - self.depth) * _sp(self.singular_values, 2.0 / self.depth))

    def dual_at(self, t: float) -> float:
        """``D_lin(t) = t^(2-L) ||Z||_*`` ([002] (11), dual (35) with constraint (58))."""
        t = self._check_t(t)
        return float(t ** (2 - self.depth) * np.sum(self.singular_values))

    def gap_at(self, t: float) -> float:
        """``P_lin(t) - D_lin(t)``."""
        return self.primal_at(t) - self.dual_at(t)

    def weights_at(self, t: float) -> list[np.ndarray]:
        """Weights of [002] Thm. 2, eq. (9) (SPEC §2.5), optimal for ``P_lin(t)``.

        ``||W_l||_F = t`` for ``l <= L-2``, the columns of ``W_{L-1}`` are unit vectors, the
        product is ``Z`` and ``sum_j ||row_j(W_L)||_2 = P_lin(t)``.
        """
        t = self._check_t(t)
        L, s = self.depth, self.singular_values
        Z = self.Z
        U, _, Vt, r = _svd_rank(Z)
        if r == 0:
            return (
                [np.zeros((Z.shape[0], 1))]
                + [np.zeros((1, 1))] * (L - 2)
                + [np.zeros((1, Z.shape[1]))]
            )
        snorm = _sp(s, 2.0 / L)
        layers = []
        for l in range(1, L - 1):
            core = t * snorm ** (-1.0 / L) * np.diag(s ** (1.0 / L))
            layers.append(U @ core if l == 1 else core)
        layers.append(U if L == 2 else np.eye(r))
        layers.append(t ** (2 - L) * snorm ** ((L - 2) / L) * np.diag(s ** (2.0 / L)) @ Vt)
        return layers

    def dual_point_at(self, t: float) -> np.ndarray:
        """An optimal ``Lambda`` of the dual (35) at radius t: ``t^(2-L) (X^+)^T U_Z V_Z^T``."""
        t = self._check_t(t)
        U, _, Vt, _ = _svd_rank(self.Z)
        return t ** (2 - self.depth) * self._X_pinv.T @ (U @ Vt)


def _sp(s: np.ndarray, p: float) -> float:
    return float(np.sum(s**p) ** (1.0 / p)) if s.size else 0.0


def _conditions(s: np.ndarray, r: int, depth: int) -> tuple[bool, bool]:
    equal = bool(r == 0 or np.all(np.abs(s - s[0]) <= EQUAL_RTOL * s[0]))
    return (depth == 2 or equal), (depth == 2 or r <= 1)


def standard_min_norm(X, Y, depth: int, hidden_width: int | None = None) -> StandardMinNormResult:
    """Exact minimum-norm standard deep linear network, its dual and the duality gap.

    Solves [002] eq. (5) (SPEC §2.5)::

        P_lin = min_{W_1..W_L} (1/2) sum_l ||W_l||_F^2   s.t.   X W_1 ... W_L = Y
              = (L/2) ||Z||_{S_{2/L}}^{2/L},   Z = X^+ Y            ((7), (57))

    and its Lagrange dual after optimising the scale ``t`` (SPEC §2.1, §2.5, (35), (58), (11))::

        D_lin = min_t (L-2)/2 t^2 + t^(2-L) ||Z||_*  =  (L/2) ||Z||_*^{2/L}.

    ``Z`` minimises every Schatten quasi-norm over ``{W : X W = Y}`` (SPEC §2.4), so no
    whitening is needed. The returned weights are the balanced factorisation (8) of ``Z``.
    ``Y`` must lie in the range of ``X`` (``X X^+ Y = Y``), otherwise ``ValueError``.

    The gap is ``(L/2)(sum_i sigma_i^{2/L} - (sum_i sigma_i)^{2/L})``: zero iff ``L = 2`` or
    ``rank Z <= 1`` (SPEC §2.5 [!]; [002] Thm. 3 states "iff the singular values are equal").
    """
    depth = check_depth(depth)
    X, Y, _ = _validate_xy(X, Y)
    Z = _min_norm(X, Y)
    U, s, Vt, r = _svd_rank(Z)
    width = _check_width(hidden_width, r)
    L = depth
    p_val = 0.5 * L * float(np.sum(s ** (2.0 / L)))
    nuc = float(np.sum(s))
    d_val = 0.5 * L * nuc ** (2.0 / L)
    paper, ours = _conditions(s, r, L)
    return StandardMinNormResult(
        primal_value=p_val,
        dual_value=d_val,
        gap=max(p_val - d_val, 0.0),
        t_star=_sp(s, 2.0 / L) ** (1.0 / L),
        t_dual=nuc ** (1.0 / L),
        weights=_balanced(U, s, Vt, L, width),
        Z=Z,
        singular_values=s,
        rank=r,
        depth=L,
        zero_gap_paper_condition=paper,
        zero_gap_rank_condition=ours,
        _X_pinv=np.linalg.pinv(X),
    )


# --------------------------------------------------------------------------------------------
# parallel networks, minimum norm
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ParallelMinNormResult:
    """Minimum-norm parallel deep linear network ([002] §3.2; SPEC §2.7).

    Attributes
    ----------
    primal_value : ``(1/L) sum_{j,l} ||W_{l,j}||_F^L`` at the optimum = ``||Z||_*`` ("lth_power",
        (14), Thm. 4), or ``(1/2) sum_{j,l} ||W_{l,j}||_F^2 = (L/2)||Z||_{S_{2/L}}^{2/L}``
        ("weight_decay", (12)).
    dual_value : "lth_power": the value of dual (16)/(68), ``max tr(Lambda^T Y) s.t.
        ||Lambda^T X||_2 <= 1``, equal to ``||Z||_*``. "weight_decay": the certified lower bound
        ``(L/2) D_prl^{2/L} = (L/2)||Z||_*^{2/L}`` (per-branch AM-GM (62)-(63) turns (12) into
        (13), ``sum_j a_j^{2/L} >= (sum_j a_j)^{2/L}`` and (15) = (16)); the plain Lagrange dual of
        (12) is trivial (0) for ``L >= 3``, as the paper notes.
    gap : ``primal_value - dual_value``; zero for "lth_power" (Thm. 4) and for "weight_decay" only
        when ``L = 2`` or ``rank Z <= 1``.
    branches : ``K`` branches of widths ``(d, 1, ..., 1, C)``, one per singular triple of ``Z``
        (SPEC §2.7 (c)), zero branches appended up to ``n_branches``. Each is balanced.
    dual_point : an optimal ``Lambda`` of (16): ``(X^+)^T U_Z V_Z^T``.
    """

    primal_value: float
    dual_value: float
    gap: float
    branches: list[list[np.ndarray]]
    Z: np.ndarray
    singular_values: np.ndarray
    rank: int
    depth: int
    regularization: str
    dual_point: np.ndarray
    zero_gap_rank_condition: bool
    status: str = "exact"

    @property
    def zero_gap(self) -> bool:
        """Whether the computed gap is zero (relative to ``primal_value``, 1e-9)."""
        return bool(self.gap <= 1e-9 * max(1.0, abs(self.primal_value)))

    def regularizer(self, branches: Sequence[Sequence[np.ndarray]] | None = None) -> float:
        """The regulariser of this problem evaluated on ``branches`` (default: the optimum)."""
        branches = self.branches if branches is None else branches
        return parallel_regularizer(branches, self.regularization)


def parallel_regularizer(branches: Sequence[Sequence[np.ndarray]], regularization: str) -> float:
    """``(1/L) sum_{j,l} ||W_{l,j}||_F^L`` ("lth_power", (14)) or ``(1/2) sum ||W_{l,j}||_F^2``."""
    check_choice(regularization, "regularization", {"lth_power", "weight_decay"})
    total = 0.0
    for b in branches:
        L = len(b)
        norms = np.array([np.linalg.norm(W) for W in b])
        total += np.sum(norms**L) / L if regularization == "lth_power" else 0.5 * np.sum(norms**2)
    return float(total)


def _parallel_branches(
    U: np.ndarray, s: np.ndarray, Vt: np.ndarray, depth: int, n_branches: int
) -> list[list[np.ndarray]]:
    """SPEC §2.7 (c): branch i is ``sigma_i^(1/L) (u_i, 1, ..., 1, v_i^T)``."""
    d, C = U.shape[0], Vt.shape[1]
    branches = []
    for i in range(n_branches):
        root = s[i] ** (1.0 / depth) if i < s.size else 0.0
        u = U[:, i : i + 1] if i < s.size else np.zeros((d, 1))
        v = Vt[i : i + 1] if i < s.size else np.zeros((1, C))
        b = [root * u] + [np.full((1, 1), root) for _ in range(depth - 2)] + [root * v]
        branches.append(b)
    return branches


def parallel_min_norm(
    X,
    Y,
    depth: int,
    regularization: str = "lth_power",
    n_branches: int | None = None,
) -> ParallelMinNormResult:
    """Exact minimum-norm parallel deep linear network ([002] §3.2, Props. 3-4, Thm. 4).

    ``regularization="lth_power"`` solves (14) (SPEC §2.7 (b), constant ``1/L``)::

        min (1/L) sum_{j=1}^K sum_{l=1}^L ||W_{l,j}||_F^L
        s.t. sum_j X W_{1,j} ... W_{L-2,j} w_{L-1,j} w_{L,j}^T = Y       = ||X^+ Y||_*

    with zero duality gap against (16): ``max tr(Lambda^T Y) s.t. ||Lambda^T X||_2 <= 1``.
    ``regularization="weight_decay"`` solves (12), the same network with ``(1/2) sum ||.||_F^2``;
    its value is the standard one, ``(L/2)||Z||_{S_{2/L}}^{2/L}`` (SPEC §2.7 (a)): parallelism
    alone does not close the gap. ``n_branches`` (``K``, default ``rank Z``) must be ``>= rank Z``.
    """
    depth = check_depth(depth)
    regularization = check_choice(regularization, "regularization", {"lth_power", "weight_decay"})
    X, Y, _ = _validate_xy(X, Y)
    Z = _min_norm(X, Y)
    U, s, Vt, r = _svd_rank(Z)
    K = max(r, 1) if n_branches is None else check_positive_int(n_branches, "n_branches")
    if K < r:
        raise ValueError(f"n_branches must be at least rank(X^+ Y) = {r}, got {K}.")
    L = depth
    nuc = float(np.sum(s))
    if regularization == "lth_power":
        p_val, d_val = nuc, nuc
    else:
        p_val = 0.5 * L * float(np.sum(s ** (2.0 / L)))
        d_val = 0.5 * L * nuc ** (2.0 / L)
    return ParallelMinNormResult(
        primal_value=p_val,
        dual_value=d_val,
        gap=max(p_val - d_val, 0.0),
        branches=_parallel_branches(U, s, Vt, L, K),
        Z=Z,
        singular_values=s,
        rank=r,
        depth=L,
        regularization=regularization,
        dual_point=np.linalg.pinv(X).T @ (U @ Vt),
        zero_gap_rank_condition=bool(regularization == "lth_power" or L == 2 or r <= 1),
    )


# --------------------------------------------------------------------------------------------
# stairs of the duality gap
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class GapStairsResult:
    """Partial duals ``P^(l)``, ``l = 0..L-1`` ([002] App. D, (76)-(79); SPEC §2.8).

    ``values[l]`` is ``P^(l)_lin(t) = t^(2-L) ||Z||_{S_{2/(l+2)}}`` (Prop. 9, (78)) when ``t`` is
    given, and ``(L/2) ||Z||_{S_{2/(l+2)}}^{2/L}`` (the same after optimising ``t``) when
    ``t is None``; ``values[L-1] = values[L-2]`` is the primal, ``values[0]`` the dual. ``l`` is the
    number of shared (standard) layers of the network (77) whose remaining layers are parallel.
    """

    levels: np.ndarray
    values: np.ndarray
    schatten_exponents: np.ndarray
    depth: int
    t: float | None
    singular_values: np.ndarray
    rank: int
    strictly_decreasing: bool
    zero_gap_paper_condition: bool
    zero_gap_rank_condition: bool
    figure: object = field(default=None, repr=False)
    status: str = "exact"

    @property
    def primal_value(self) -> float:
        return float(self.values[-1])

    @property
    def dual_value(self) -> float:
        return float(self.values[0])

    @property
    def gap(self) -> float:
        return max(self.primal_value - self.dual_value, 0.0)

    def plot(self, ax=None):
        """Plot ``l -> P^(l)`` (as [002] Figure 3) on ``ax`` or a new Figure; return the Figure."""
        if ax is None:
            from matplotlib.figure import Figure

            fig = Figure(figsize=(4.5, 3.2))
            ax = fig.subplots()
        else:
            fig = ax.figure
        ax.step(self.levels, self.values, where="mid", color="C0")
        ax.plot(self.levels, self.values, "o", color="C0")
        ax.set_xticks(self.levels)
        ax.set_xlabel("l (number of shared layers)")
        scale = "optimised t" if self.t is None else f"t = {self.t:g}"
        ax.set_ylabel(r"$P^{(l)}_{\rm lin}$")
        ax.set_title(f"Stairs of the duality gap, L = {self.depth}, {scale}")
        ax.grid(alpha=0.3)
        return fig


def gap_stairs(X, Y, depth: int, t: float | None = None, plot: bool = True) -> GapStairsResult:
    """Stairs of the duality gap ([002] App. D, Prop. 9, (78)-(79); SPEC §2.8).

    ``P^(l)(t) = t^(2-L) ||Z||_{S_{2/(l+2)}}`` for ``l = 0..L-2`` and ``P^(L-1) = P^(L-2)``;
    with ``t=None`` each is optimised over the scale: ``(L/2)||Z||_{S_{2/(l+2)}}^{2/L}``. The
    stairs decrease strictly from the primal to the dual iff ``rank Z >= 2`` (the seed's
    hypothesis "eigenvalues not identical" is the [!] of SPEC §2.5). ``plot=True`` attaches a
    matplotlib ``Figure`` (no pyplot state) as ``figure``.
    """
    depth = check_depth(depth)
    if t is not None:
        t = check_positive(t, "t")
    X, Y, _ = _validate_xy(X, Y)
    Z = _min_norm(X, Y)
    _, s, _, r = _svd_rank(Z)
    L = depth
    levels = np.arange(L)
    exps = np.array([2.0 / (min(l, L - 2) + 2) for l in levels])
    norms = np.array([_sp(s, p) for p in exps])
    values = norms * t ** (2 - L) if t is not None else 0.5 * L * norms ** (2.0 / L)
    diffs = np.diff(values[: L - 1])
    strictly = bool(L > 2 and np.all(diffs > 1e-12 * max(1.0, values[-1])))
    paper, ours = _conditions(s, r, L)
    res = GapStairsResult(
        levels=levels,
        values=values,
        schatten_exponents=exps,
        depth=L,
        t=t,
        singular_values=s,
        rank=r,
        strictly_decreasing=strictly,
        zero_gap_paper_condition=paper,
        zero_gap_rank_condition=ours,
    )
    if plot:
        object.__setattr__(res, "figure", res.plot())
    return res


# --------------------------------------------------------------------------------------------
# scalar output: rank-one aligned layers ([000])
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class AlignmentReport:
    """Structure of a chain of layers (SPEC §2.3, [000]: rank one, aligned with the previous one).

    ``rank_ratios[l] = sigma_2(W_l)/sigma_1(W_l)`` (0 for a vector layer); ``alignments[l] =
    |<v_1(W_l), u_1(W_{l+1})>|``, right singular vector of layer ``l`` against the left one of
    ``l+1``; ``input_alignment = |<u_1(W_1), w/||w||>|`` when ``w`` was given.
    """

    rank_one: bool
    aligned: bool
    rank_ratios: np.ndarray
    alignments: np.ndarray
    input_alignment: float | None
    tol: float

    @property
    def ok(self) -> bool:
        """Rank one, aligned and (if ``w`` was given) aligned with ``w``."""
        inp = self.input_alignment is None or self.input_alignment >= 1.0 - self.tol
        return bool(self.rank_one and self.aligned and inp)


def check_rank_one_aligned(weights: Sequence, w=None, tol: float = 1e-6) -> AlignmentReport:
    """Check the [000] structure of optimal deep linear layers for scalar output (SPEC §2.3).

    "Each optimal layer weight matrix is rank-one and aligns with the previous layers": every
    ``W_l`` has ``sigma_2/sigma_1 <= tol`` and the right singular vector of ``W_l`` equals (up to
    sign, ``1 - |cos| <= tol``) the left singular vector of ``W_{l+1}``. If ``w`` (the end-to-end
    vector) is given, the first layer's left singular vector must be ``+-w/||w||``.
    """
    if isinstance(weights, np.ndarray) or len(weights) < 1:
        raise TypeError("weights must be a non-empty list of 2-D arrays.")
    tol = check_positive(tol, "tol")
    mats = []
    for i, W in enumerate(weights):
        A = np.asarray(W, dtype=float)
        if A.ndim == 1:
            A = A[:, None]
        mats.append(as_matrix(A, f"weights[{i}]"))
    for i in range(len(mats) - 1):
        if mats[i].shape[1] != mats[i + 1].shape[0]:
            raise ValueError(f"weights[{i}] and weights[{i + 1}] have incompatible shapes.")
    svds = [np.linalg.svd(A, full_matrices=False) for A in mats]
    ratios = np.array(
        [(s[1] / s[0] if s.size > 1 and s[0] > 0 else 0.0) for _, s, _ in svds], dtype=float
    )
    align = np.array(
        [abs(float(svds[i][2][0] @ svds[i + 1][0][:, 0])) for i in range(len(mats) - 1)]
    )
    inp = None
    if w is not None:
        w = np.asarray(w, dtype=float).ravel()
        if w.size != mats[0].shape[0]:
            raise ValueError("w must have as many entries as weights[0] has rows.")
        nw = np.linalg.norm(w)
        inp = float(abs(svds[0][0][:, 0] @ w) / nw) if nw > 0 else 1.0
    return AlignmentReport(
        rank_one=bool(np.all(ratios <= tol)),
        aligned=bool(np.all(align >= 1.0 - tol)),
        rank_ratios=ratios,
        alignments=align,
        input_alignment=inp,
        tol=tol,
    )
