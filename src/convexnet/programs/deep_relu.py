"""Parallel deep ReLU networks of any depth by column generation ([002] §4.2; SPEC.md §4.4).

Branch feature of ``theta = (W_1, ..., W_{L-2}, w_{L-1})`` with ``||W_l||_F <= 1``,
``||w_{L-1}|| <= 1``::

    f_theta(X) = ( ... ((X W_1)_+ W_2)_+ ... W_{L-2})_+ w_{L-1} )_+          (in R^n)

Problem (22)-(23) (scalar output, constant ``1/L``; Prop. 6)::

    P_prl = min (1/L) sum_j sum_l ||W_{l,j}||_F^L  s.t.  sum_j f_j(X) w_{L,j} = y
          = min sum_j |w_{L,j}|  s.t.  ||W_{l,j}||_F <= 1,  sum_j f_{theta_j}(X) w_{L,j} = y

and its dual (24): ``D_prl = max lambda^T y  s.t.  max_theta |lambda^T f_theta(X)| <= 1``
(Theorem 6: ``P_prl = D_prl`` once there are enough branches, ``m* <= n + 1``).

Column generation: a growing set ``F`` of features; the restricted problem (an LP, solved by
CVXPY/Clarabel) gives a primal network (Theorem 7: the features active at the restricted dual
point, with their output weights) and a dual point ``lambda``; an *oracle* searches
``max_theta |lambda^T f_theta(X)|``; violated features are added. For any ``lambda``,
``lambda^T y / max_theta |lambda^T f_theta|`` is a lower bound on ``P_prl``. The oracle is

* exact for ``L = 2`` (enumeration of the activation patterns of ``X``, then a cone projection per
  pattern, :func:`convexnet.certificates.cone_projection_norm`): the bound is then proven;
* a multi-start local search (batched projected Adam in PyTorch) for ``L >= 3``: the reported
  "bound" is only as good as the search and is labelled ``"heuristic"`` (SPEC §4.4, §6.8).

The regularised variant (``alpha > 0``) solves ``min (1/2)||f(X) - y||^2 + alpha R`` with the same
machinery (a Lasso over the features; dual ``lambda^T y - ||lambda||^2/2`` under
``|lambda^T f_theta| <= alpha``).

What grows: one oracle call costs ``n_starts * steps`` forward/backward passes of
``O(n sum_l m_{l-1} m_l)``; the restricted LP has ``n`` rows and one column per kept feature
(the solution needs at most ``n + 1`` branches); the number of local optima of the oracle, hence
the starts needed for a reliable search, grows with ``d``, the widths and ``L``; exact pattern
enumeration at ``L = 2`` costs ``O(n^r)`` patterns (``r = rank X``).
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, field

import numpy as np

from convexnet._validation import (
    as_matrix,
    as_targets,
    check_nonnegative,
    check_positive,
    check_positive_int,
)

__all__ = [
    "ParallelDeepReLUResult",
    "branch_feature",
    "parallel_deep_relu",
    "parallel_network_output",
]


def branch_feature(X: np.ndarray, theta) -> np.ndarray:
    """``f_theta(X)`` for ``theta = [W_1, ..., W_{L-2}, w_{L-1}]`` (no normalisation)."""
    h = X
    for W in theta:
        h = np.maximum(h @ W, 0.0)
    return h[:, 0]


def parallel_network_output(X, branches) -> np.ndarray:
    """``sum_j f_j(X)`` for branches ``[W_1, ..., W_L]`` (ReLU after every layer but the last)."""
    X = as_matrix(X, "X")
    out = np.zeros((X.shape[0], 1))
    for layers in branches:
        h = X
        for W in layers[:-1]:
            h = np.maximum(h @ W, 0.0)
        out = out + h @ layers[-1]
    return out


@dataclass(frozen=True, eq=False)
class ParallelDeepReLUResult:
    """Column-generation solution of the parallel deep ReLU problem (22)-(24).

    Attributes
    ----------
    primal_value : objective of the returned network: ``R = (1/L) sum_{j,l} ||W_{l,j}||_F^L``
        (interpolation; an upper bound on ``P_prl`` when ``residual`` is ~0), or
        ``(1/2)||f(X) - y||^2 + alpha R`` (regularised).
    dual_bound : best ``lambda^T y / max_theta |lambda^T f_theta|`` (regularised: the scaled dual
        objective) found; a proven lower bound when ``bound_label == "exact"``.
    dual_point : the scaled dual point that gives ``dual_bound``: ``lambda / vmax``
        (interpolation; ``dual_point @ y == dual_bound``) or ``s * lambda`` with the best
        ``s in [0, min(1, alpha / vmax)]`` (regularised; ``dual_point @ y -
        ||dual_point||^2 / 2 == dual_bound``), where ``vmax`` is the largest of the oracle's value
        and ``|lambda^T f|`` over every feature generated. So ``|dual_point^T f_theta(X)| <= 1``
        (or ``alpha``) for every feature found and, when the bound is ``"exact"``, every branch.
    gap, relative_gap : ``primal_value - dual_bound`` and the same over ``|primal_value|``.
    bound_label : ``"exact"`` (``L = 2``, complete pattern enumeration) or ``"heuristic"``;
        ``"heuristic (inconsistent...)"`` when the bound exceeds the primal, proof that the
        local oracle missed the most violated branch.
    status : ``"converged"`` (the oracle found no violation above ``tol``) or ``"max_iter"``.
    max_violation : largest oracle value at the final dual point (``<= 1 + tol`` when converged;
        relative to ``alpha`` for the regularised problem).
    branches : ``[W_1, ..., W_L]`` per branch, balanced so that ``||W_{l,j}||_F^L`` is the same
        for every ``l``: ``(1/L) sum_l ||W_{l,j}||_F^L = |w_{L,j}|`` of the Theta form.
    residual : ``max |f(X) - y|`` of ``branches``.
    """

    primal_value: float
    dual_bound: float
    gap: float
    relative_gap: float
    bound_label: str
    status: str
    max_violation: float
    branches: list = field(repr=False)
    dual_point: np.ndarray = field(repr=False)
    n_features_generated: int
    n_iter: int
    residual: float
    depth: int
    alpha: float | None
    history: list = field(repr=False)
    solve_time: float

    @property
    def n_branches(self) -> int:
        return len(self.branches)

    def predict(self, X) -> np.ndarray:
        """The network's output on ``X``, shape (n,)."""
        return parallel_network_output(X, self.branches)[:, 0]

    def regularizer(self) -> float:
        """``(1/L) sum_{j,l} ||W_{l,j}||_F^L`` of ``branches`` ([002] (22))."""
        L = self.depth
        return float(sum(sum(np.linalg.norm(W) ** L for W in b) / L for b in self.branches))


# ------------------------------------------------------------------------------------- oracle
def _normalise(theta: list[np.ndarray]) -> list[np.ndarray]:
    return [W / max(np.linalg.norm(W), 1e-300) for W in theta]


def _local_oracle(X, lam, dims, n_starts, steps, warm, rng, lr=0.05):
    """Batched projected Adam on ``|lam^T f_theta(X)|`` from random and ``warm`` starts."""
    import torch

    S = n_starts + len(warm)
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    params = []
    for l in range(len(dims) - 1):
        P = torch.randn(S, dims[l], dims[l + 1], generator=gen, dtype=torch.float64)
        for s, theta in enumerate(warm):
            P[n_starts + s] = torch.as_tensor(theta[l]) + 0.05 * torch.randn(
                dims[l], dims[l + 1], generator=gen, dtype=torch.float64
            ) * torch.linalg.norm(torch.as_tensor(theta[l]))
        params.append(P.requires_grad_(True))
    sign = torch.ones(S, dtype=torch.float64)
    sign[: n_starts // 2] = -1.0
    for s, theta in enumerate(warm):
        sign[n_starts + s] = float(np.sign(lam @ branch_feature(X, theta)) or 1.0)
    Xt = torch.as_tensor(X).expand(S, *X.shape)
    lt = torch.as_tensor(lam)

    def values():
        h = Xt
        for P in params:
            W = P / torch.linalg.norm(P, dim=(1, 2), keepdim=True).clamp_min(1e-300)
            h = torch.relu(torch.bmm(h, W))
        return h[:, :, 0] @ lt

    opt = torch.optim.Adam(params, lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        v = values()
        (-(sign * v).sum()).backward()
        opt.step()
    with torch.no_grad():
        v = torch.abs(values()).numpy()
        thetas = [
            [P[s].numpy() / max(float(torch.linalg.norm(P[s])), 1e-300) for P in params]
            for s in range(S)
        ]
    return v, thetas


def _exact_oracle_l2(X, lam, patterns):
    """Per activation pattern and sign, an upper bound on ``max_{||w|| <= 1} |lam^T (X w)_+|``.

    The value of pattern ``i`` is ``||s z + A^T mu||`` (``z = X^T D_i lam``, ``A = (2 D_i - I) X``)
    at the NNLS multipliers ``mu >= 0`` (:func:`convexnet.certificates.cone_projection`): by
    Moreau's decomposition any ``mu >= 0`` gives an upper bound on ``||Proj_{K_i}(s z)||``, tight
    at the NNLS optimum; on the NNLS iteration limit ``mu = 0``,
    i.e. the gated bound ``||z||``. The maximum over patterns is therefore a valid upper bound on
    the dual constraint (complete enumeration, ``L = 2``), so the dual bound is proven. The
    normalised ``u`` is returned only as a candidate column: its feature value
    ``|lam^T (X w)_+|`` may fall short of the bound when the projection is inexact.
    """
    from convexnet.certificates import cone_projection

    vals, thetas = [], []
    Df = patterns.D.astype(float)
    for i in range(Df.shape[1]):
        A = (2.0 * Df[:, i] - 1.0)[:, None] * X
        z = X.T @ (Df[:, i] * lam)
        if not np.any(z):
            continue
        for s in (1.0, -1.0):
            try:  # (an upper bound even when not exact: fewer rows, a larger cone)
                u = cone_projection(A, s * z)[0]
            except RuntimeError:  # NNLS iteration limit: mu = 0 still gives a valid bound
                u = s * z
            nu = float(np.linalg.norm(u))
            if nu <= 0:
                continue
            vals.append(nu)
            thetas.append([(u / nu)[:, None]])
    return np.array(vals), thetas


# ------------------------------------------------------------------------- restricted master
def _master(F, y, alpha):
    """Restricted problem over the columns of ``F``: returns (w, lambda, value, status)."""
    import cvxpy as cp

    from convexnet.solvers.conic import map_status

    w = cp.Variable(F.shape[1])
    if alpha is None:
        cons = [F @ w == y]
        prob = cp.Problem(cp.Minimize(cp.norm1(w)), cons)
    else:
        prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(F @ w - y) + alpha * cp.norm1(w)))
    try:
        prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
        status = map_status(prob.status)
    except cp.SolverError:
        status = "failed"
    if w.value is None or status in ("infeasible", "unbounded", "failed"):
        return None, None, np.inf, status
    wv = np.asarray(w.value)
    if alpha is None:
        lam = np.asarray(cons[0].dual_value, dtype=float).ravel()
        if lam @ y < 0:  # CVXPY's sign convention for equality duals
            lam = -lam
    else:
        lam = y - F @ wv
    return wv, lam, float(prob.value), status


def _scaled_dual(lam, y, vmax, alpha):
    """The dual point ``s * lam`` made feasible by ``vmax >= max_theta |lam^T f_theta|``, and
    its dual objective (a lower bound on the primal when ``vmax`` bounds the true maximum).

    Interpolation: ``s = 1 / vmax``, objective ``s lam^T y``. Regularised: the best
    ``s in [0, min(1, alpha / vmax)]`` for ``s lam^T y - s^2 ||lam||^2 / 2``.
    """
    if alpha is None:
        if vmax <= 0:  # lam^T f = 0 for every feature: lam^T y > 0 would make y unreachable
            return 0.0, np.zeros_like(lam)
        return float(lam @ y) / vmax, lam / vmax
    smax = 1.0 if vmax <= 0 else min(1.0, alpha / vmax)
    ll = float(lam @ lam)
    s = smax if ll == 0 else float(np.clip((lam @ y) / ll, 0.0, smax))
    return s * float(lam @ y) - 0.5 * s * s * ll, s * lam


def _balanced_branch(theta, wL, depth):
    s = abs(wL)
    root = s ** (1.0 / depth)
    layers = [root * W for W in theta]
    layers.append(np.array([[np.sign(wL) * root]]))
    return layers


def _check_widths(widths, depth, d):
    if depth == 2:
        return [d, 1]
    if isinstance(widths, numbers.Integral) and not isinstance(widths, bool):
        widths = [widths] * (depth - 2)
    if not isinstance(widths, list | tuple | np.ndarray):
        raise TypeError(
            f"branch_widths must be an int or a sequence of depth - 2 = {depth - 2} ints, "
            f"got {type(widths).__name__}."
        )
    if len(widths) != depth - 2:
        raise ValueError(
            f"branch_widths must be an int or a sequence of depth - 2 = {depth - 2} ints."
        )
    ws = [check_positive_int(w, "branch_widths") for w in widths]
    return [d, *ws, 1]


def parallel_deep_relu(
    X,
    y,
    depth: int = 3,
    *,
    branch_widths=2,
    alpha: float | None = None,
    max_iter: int = 30,
    n_starts: int = 48,
    oracle_steps: int = 150,
    n_init_features: int | None = None,
    features_per_iter: int = 8,
    tol: float = 1e-4,
    oracle: str = "auto",
    random_state: int | None = 0,
) -> ParallelDeepReLUResult:
    """Solve the parallel deep ReLU problem (22)-(24) of [002] by column generation (SPEC §4.4).

    ``alpha=None``: minimum-norm interpolation ``min (1/L) sum_{j,l} ||W_{l,j}||_F^L s.t.
    sum_j f_j(X) w_{L,j} = y``. ``alpha > 0``: ``min (1/2)||f(X) - y||^2 + alpha * (same)``.
    Scalar output, no biases (append a ones column to ``X`` for a regularised bias).

    Each iteration solves the restricted LP (or Lasso) over the features found so far, takes its
    dual point ``lambda`` and asks the oracle for ``max_theta |lambda^T f_theta(X)|`` over
    branches with hidden widths ``branch_widths`` (``m_1..m_{L-2}``; ``L = 2`` has none). The
    primal network is rebuilt from the features with non-zero output weight (Theorem 7) and
    balanced; the dual bound is the best rescaled dual objective. ``oracle="auto"`` is exact
    pattern enumeration for ``L = 2`` and ``"local"`` (multi-start search, heuristic bound)
    otherwise. Stops when the oracle finds no violation above ``1 + tol`` or after ``max_iter``.
    """
    from convexnet.networks import caratheodory_prune
    from convexnet.patterns import enumerate_patterns

    start_time = time.perf_counter()
    depth = check_positive_int(depth, "depth", minimum=2)
    X = as_matrix(X, "X")
    y = as_targets(y, X.shape[0], "y")
    if y.ndim == 2:
        if y.shape[1] != 1:
            raise ValueError(f"y must be a single output, got shape {y.shape}.")
        y = y[:, 0]
    if alpha is not None:
        alpha = check_positive(alpha, "alpha")
    max_iter = check_positive_int(max_iter, "max_iter")
    n_starts = check_positive_int(n_starts, "n_starts", minimum=2)
    oracle_steps = check_positive_int(oracle_steps, "oracle_steps")
    features_per_iter = check_positive_int(features_per_iter, "features_per_iter")
    tol = check_nonnegative(tol, "tol")
    if oracle not in ("auto", "local", "exact"):
        raise ValueError(f"oracle must be 'auto', 'local' or 'exact', got {oracle!r}.")
    if oracle == "exact" and depth != 2:
        raise ValueError("oracle='exact' is available for depth=2 only (pattern enumeration).")
    exact = depth == 2 and oracle in ("auto", "exact")
    if not np.any(X):
        raise ValueError(
            "X is zero: every branch feature f_theta(X) vanishes, so no network fits y "
            "(and the dual bound is meaningless)."
        )
    n, d = X.shape
    dims = _check_widths(branch_widths, depth, d)
    n_init = (
        2 * n if n_init_features is None else check_positive_int(n_init_features, "n_init_features")
    )
    rng = np.random.default_rng(random_state)
    patterns = enumerate_patterns(X) if exact else None

    thetas = [
        _normalise([rng.normal(size=(dims[l], dims[l + 1])) for l in range(len(dims) - 1)])
        for _ in range(n_init)
    ]
    feats = [branch_feature(X, th) for th in thetas]
    history, duals = [], []
    best = None
    status, vmax_final = "max_iter", np.inf
    lam = np.zeros(n)
    it = 0
    for it in range(1, max_iter + 1):
        F = np.column_stack(feats)
        w, lam_new, value, mstatus = _master(F, y, alpha)
        if w is None:  # y not yet in the span of the features: add random ones
            extra = [
                _normalise([rng.normal(size=(dims[l], dims[l + 1])) for l in range(len(dims) - 1)])
                for _ in range(n)
            ]
            thetas += extra
            feats += [branch_feature(X, th) for th in extra]
            history.append({"iter": it, "master": mstatus})
            continue
        lam = lam_new
        scale = alpha if alpha is not None else 1.0
        active = np.flatnonzero(np.abs(w) > 1e-9 * max(np.abs(w).max(), 1e-300))
        if exact:
            vals, cand = _exact_oracle_l2(X, lam, patterns)
        else:
            warm = [thetas[j] for j in active[:16]]
            vals, cand = _local_oracle(X, lam, dims, n_starts, oracle_steps, warm, rng)
        restricted = float(np.max(np.abs(lam @ F))) if F.size else 0.0
        vmax = max(float(vals.max(initial=0.0)), restricted)
        lower, _ = _scaled_dual(lam, y, vmax, alpha)
        duals.append((lam, float(vals.max(initial=0.0))))
        if active.size > n + 1:  # Caratheodory (App. G): at most n + 1 branches, same f and cost
            G = F[:, active] * w[active]
            keep = caratheodory_prune(G, np.abs(w[active]), n + 1)
            w = w.copy()
            w[active] *= keep
            active = active[keep > 0]
        branches = [_balanced_branch(thetas[j], w[j], depth) for j in active]
        out = parallel_network_output(X, branches)[:, 0] if branches else np.zeros(n)
        resid = float(np.max(np.abs(out - y)))
        reg = float(np.abs(w[active]).sum())
        pval = reg if alpha is None else 0.5 * float(np.sum((out - y) ** 2)) + alpha * reg
        if best is None or pval < best[0]:
            best = (pval, branches, resid)
        history.append(
            {
                "iter": it,
                "restricted_value": value,
                "primal": pval,
                "lower": lower,
                "max_violation": vmax / scale,
                "n_features": len(feats),
            }
        )
        vmax_final = vmax / scale
        if vmax <= scale * (1.0 + tol):
            status = "converged"
            break
        order = np.argsort(-vals)
        added = 0
        for k in order:
            if vals[k] <= scale * (1.0 + tol) or added >= features_per_iter:
                break
            f = branch_feature(X, cand[k])
            if any(np.allclose(f, g, rtol=1e-8, atol=1e-10) for g in feats[-added - 1 :]):
                continue
            thetas.append(cand[k])
            feats.append(f)
            added += 1
    if best is None:
        raise RuntimeError(
            "column generation found no feasible restricted problem: y is not in the span of "
            "the generated branch features (try more n_init_features)."
        )
    pval, branches, resid = best
    # Every dual point is re-scored against all features found by the end (the oracle at an
    # early iteration may have missed branches found later), then the best bound is kept.
    F = np.column_stack(feats)
    best_lower, dual_point = -np.inf, np.zeros(n)
    for lam_k, v_k in duals:
        lower_k, point_k = _scaled_dual(lam_k, y, max(v_k, float(np.max(np.abs(lam_k @ F)))), alpha)
        if lower_k > best_lower:
            best_lower, dual_point = lower_k, point_k
    label = "exact" if exact else "heuristic"
    if best_lower > pval * (1 + 1e-7) + 1e-12:
        label = "heuristic (inconsistent: the oracle missed branches)"
    gap = max(pval - best_lower, 0.0)
    return ParallelDeepReLUResult(
        primal_value=pval,
        dual_bound=float(best_lower),
        gap=gap,
        relative_gap=gap / max(abs(pval), 1e-300),
        bound_label=label,
        status=status,
        max_violation=float(vmax_final),
        branches=branches,
        dual_point=dual_point,
        n_features_generated=len(feats),
        n_iter=it,
        residual=resid,
        depth=depth,
        alpha=alpha,
        history=history,
        solve_time=time.perf_counter() - start_time,
    )
