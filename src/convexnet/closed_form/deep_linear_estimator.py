"""Regularised deep linear networks: two-layer dual and the ``DeepLinearRegressor`` estimator.

SPEC.md §2.2, §2.6, §2.7 (d); [000] (two-layer dual, strong duality) and [002] App. B, (31), and
§3.2. Losses are sums over samples (SPEC §0.4). Two programs are solved:

* nuclear norm (convex; the two-layer network, and the parallel network with the L-th power
  regulariser): ``min_W loss(X W, Y) + beta ||W||_*`` by FISTA with singular value thresholding;
  the dual ``max -loss*(-Lambda) s.t. ||X^T Lambda||_2 <= beta`` gives a certified gap;
* Schatten-2/L (standard network with weight decay, non-convex for ``L >= 3``):
  ``min_W loss(X W, Y) + (alpha L / 2) sum_i sigma_i(W)^(2/L)`` by proximal gradient with the
  exact separable prox on singular values. Exact when the loss is squared and ``X^T X = c I``
  (one prox step is the global minimiser, by von Neumann's trace inequality); otherwise a
  **local** method.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from convexnet._validation import (
    _check_real,
    as_matrix,
    as_targets,
    check_bool,
    check_choice,
    check_nonnegative,
    check_positive,
    check_positive_int,
)
from convexnet.closed_form.deep_linear import (
    _balanced,
    _parallel_branches,
    _svd_rank,
    check_depth,
)
from convexnet.losses import CrossEntropyLoss, LogisticLoss, Loss, SquaredLoss, get_loss

__all__ = [
    "DeepLinearRegressor",
    "TwoLayerLinearResult",
    "prox_schatten_power",
    "two_layer_linear",
]


# --------------------------------------------------------------------------------------------
# proximal operators
# --------------------------------------------------------------------------------------------


def prox_schatten_power(sigma, c: float, q: float) -> np.ndarray:
    """Entrywise ``argmin_{s >= 0} (1/2)(s - sigma)^2 + c s^q`` for ``0 < q <= 1`` (global).

    ``q = 1`` is soft thresholding. For ``q < 1`` the stationary points solve
    ``h(s) = s - sigma + c q s^(q-1) = 0``; ``h`` is convex on ``s > 0`` with its minimum at
    ``s_m = (c q (1 - q))^(1/(2-q))``. If ``h(s_m) > 0`` the minimiser is 0; otherwise Newton's
    method from ``s = sigma`` decreases monotonically to the largest root, which is compared with
    ``s = 0`` (SPEC §2.6, "a 1-D global search comparing s = 0 with the stationary points").
    """
    c = check_nonnegative(c, "c")
    q = _check_real(q, "q")
    if not 0.0 < q <= 1.0:
        raise ValueError(f"q must satisfy 0 < q <= 1 (the prox is global only there), got {q}.")
    sig = np.asarray(sigma, dtype=float)
    if not np.all(np.isfinite(sig)):
        raise ValueError("sigma contains NaN or infinity.")
    sig = np.maximum(sig, 0.0)
    if c <= 0:
        return sig.copy()
    if q >= 1.0:
        return np.maximum(sig - c, 0.0)
    s_m = (c * q * (1.0 - q)) ** (1.0 / (2.0 - q))
    h_m = s_m - sig + c * q * s_m ** (q - 1.0)
    has_root = h_m <= 0
    s = np.where(has_root, np.maximum(sig, s_m), 0.0)
    for _ in range(100):
        if not np.any(has_root):
            break
        ss = s[has_root]
        h = ss - sig[has_root] + c * q * ss ** (q - 1.0)
        dh = 1.0 + c * q * (q - 1.0) * ss ** (q - 2.0)
        new = np.maximum(ss - h / dh, s_m)
        done = np.all(np.abs(new - ss) <= 1e-15 * np.maximum(1.0, ss))
        s[has_root] = new
        if done:
            break
    f_root = 0.5 * (s - sig) ** 2 + c * s**q
    keep = has_root & (f_root < 0.5 * sig**2)
    return np.where(keep, s, 0.0)


def _prox_singular(V: np.ndarray, c: float, q: float) -> np.ndarray:
    U, s, Vt = np.linalg.svd(V, full_matrices=False)
    return (U * prox_schatten_power(s, c, q)) @ Vt


def _singular_values(W: np.ndarray) -> np.ndarray:
    return _svd_rank(W)[1]


# --------------------------------------------------------------------------------------------
# dual bounds
# --------------------------------------------------------------------------------------------


def _best_scaled_dual(loss: Loss, Lam: np.ndarray, Y: np.ndarray, cap: float) -> float:
    """``max_{0 <= s <= cap} -loss*(-s Lam)`` (a valid lower bound whenever cap is feasible).

    ``s -> -loss*(-s Lam)`` is concave. Exact for the squared loss (a quadratic in ``s``); for the
    other losses ``s`` is kept in ``[0, 1]`` (``Lam = -grad loss`` lies in the conjugate's domain,
    a convex set that holds 0) and maximised by a bounded scalar search; the value returned is
    the conjugate at an actual point, so it never overstates the dual.
    """
    if isinstance(loss, SquaredLoss):
        a, b = float(np.sum(Lam * Y)), float(np.sum(Lam * Lam))
        s = min(a / b, cap) if (b > 0 and a > 0) else 0.0
        return s * a - 0.5 * s * s * b
    cap = min(cap, 1.0)
    if cap <= 0:
        return loss.dual_value(0.0 * Lam, Y)

    def neg(s):
        v = loss.dual_value(s * Lam, Y)
        return -v if np.isfinite(v) else np.inf

    res = minimize_scalar(neg, bounds=(0.0, cap), method="bounded", options={"xatol": 1e-12})
    return float(-min(neg(res.x), neg(cap), neg(0.0)))


def _nuclear_dual(X: np.ndarray, Y: np.ndarray, loss: Loss, beta: float, Lam: np.ndarray):
    """Certified lower bound on ``min loss(XW, Y) + beta ||W||_*`` from the direction ``Lam``.

    Dual (SPEC §2.2): ``max -loss*(-Lambda) s.t. ||X^T Lambda||_2 <= beta``; ``Lambda = s Lam``.
    """
    g = float(np.linalg.norm(X.T @ Lam, 2)) if Lam.size else 0.0
    return _best_scaled_dual(loss, Lam, Y, beta / g if g > 0 else np.inf)


def _relaxed_dual(X, Y, loss: Loss, alpha: float, depth: int, max_iter: int) -> float:
    """Certified lower bound on ``min loss(XW, Y) + (alpha L/2) ||W||_{S_{2/L}}^{2/L}``, L >= 3.

    SPEC §2.1 (scale lemma), §2.5-2.6: the value is ``min_t k t^2 + Phi(t)``, ``k = alpha(L-2)/2``,
    with ``Phi(t) = min loss + alpha t^(2-L) ||W||_{S_{2/L}} >= Phi_cvx(t) = min loss +
    alpha t^(2-L) ||W||_*``, whose dual ``max -loss*(-Lambda) s.t. ||X^T Lambda||_2 <= alpha
    t^(2-L)`` is solved (FISTA, warm started) on a grid of ``t``. ``Phi_cvx`` is non-increasing
    in ``t``, so ``k t_i^2 + dual(t_{i+1})`` bounds the cell ``[t_i, t_{i+1}]`` from below and the
    result is rigorous. In the interpolation limit this is [002]'s
    ``D_lin = (L/2)||Z||_*^{2/L}``: a positive gap remains at the global optimum if rank >= 2.
    """
    d, C = X.shape[1], Y.shape[1]
    k = 0.5 * alpha * (depth - 2)
    zero = np.zeros((X.shape[0], C))
    f0 = loss.value(zero, Y)  # Phi_cvx(t) = f0 while W = 0 is optimal
    g0 = float(np.linalg.norm(X.T @ loss.dual_point(zero, Y), 2))
    if g0 == 0.0 or alpha == 0.0 or f0 <= 0.0:
        return f0 if alpha > 0 else _nuclear_dual(X, Y, loss, 0.0, loss.dual_point(zero, Y))
    t_lo = (alpha / g0) ** (1.0 / (depth - 2))  # beta(t) >= g0: W = 0 optimal for t <= t_lo
    t_hi = np.sqrt(f0 / k)  # k t^2 >= f0 beyond
    if t_hi <= t_lo:
        return f0
    duals: dict[float, float] = {}
    W = np.zeros((d, C))

    def solve(ts):
        nonlocal W
        for t in sorted(ts, reverse=True):  # large t = small beta first, warm started
            if t not in duals:
                beta = alpha * t ** (2.0 - depth)
                sol = _fista_nuclear(X, Y, loss, beta, min(max_iter, 500), 1e-7, W)
                duals[t], W = sol.dual, sol.W

    def cells():
        ts = np.array(sorted(duals))
        vals = k * ts[:-1] ** 2 + np.array([duals[t] for t in ts[1:]])
        return ts, vals

    solve(list(np.geomspace(t_lo, t_hi, 25)))
    for _ in range(2):  # refine around the smallest cell
        ts, vals = cells()
        i = int(np.argmin(vals))
        lo, hi = ts[max(i - 1, 0)], ts[min(i + 2, ts.size - 1)]
        solve(list(np.geomspace(lo, hi, 12)[1:-1]))
    _, vals = cells()
    return float(min(f0, np.min(vals)))


# --------------------------------------------------------------------------------------------
# solvers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Solve:
    W: np.ndarray
    primal: float
    dual: float | None
    n_iter: int
    converged: bool
    status: str


def _step(X: np.ndarray, loss: Loss) -> float:
    lip = loss.smoothness() * float(np.linalg.norm(X, 2)) ** 2
    return 1.0 / lip if lip > 0 else np.inf


def _fista_nuclear(
    X, Y, loss: Loss, beta: float, max_iter: int, tol: float, W0: np.ndarray | None = None
) -> _Solve:
    """FISTA (with adaptive restart) on ``loss(XW, Y) + beta ||W||_*``; stops on the gap."""
    d, C = X.shape[1], Y.shape[1]
    eta = _step(X, loss)

    def obj(W):
        return loss.value(X @ W, Y) + beta * float(np.sum(_singular_values(W)))

    if not np.isfinite(eta):  # X == 0: W = 0 is optimal
        W = np.zeros((d, C))
        return _Solve(W, obj(W), loss.value(X @ W, Y), 0, True, "optimal")
    W = np.zeros((d, C)) if W0 is None else W0.copy()
    V, theta, f_prev = W.copy(), 1.0, obj(W)
    dual, it, converged = -np.inf, 0, False
    for it in range(1, max_iter + 1):
        G = X.T @ loss.gradient(X @ V, Y)
        W_new = _prox_singular(V - eta * G, eta * beta, 1.0)
        f_new = obj(W_new)
        if f_new > f_prev:  # adaptive restart (O'Donoghue & Candes)
            if theta == 1.0:  # no descent even from W itself: stalled at round-off
                break
            theta, V = 1.0, W.copy()
            continue
        theta_new = 0.5 * (1 + np.sqrt(1 + 4 * theta**2))
        V = W_new + ((theta - 1) / theta_new) * (W_new - W)
        W, theta, f_prev = W_new, theta_new, f_new
        if it % 5 == 0 or it == max_iter:
            dual = max(dual, _nuclear_dual(X, Y, loss, beta, loss.dual_point(X @ W, Y)))
            if f_prev - dual <= tol * max(1.0, abs(f_prev)):
                converged = True
                break
    dual = max(dual, _nuclear_dual(X, Y, loss, beta, loss.dual_point(X @ W, Y)))
    # a stall at round-off (the restart branch above) can end the loop already certified
    converged = converged or f_prev - dual <= tol * max(1.0, abs(f_prev))
    return _Solve(W, f_prev, dual, it, converged, "optimal" if converged else "max_iter")


def _prox_grad_schatten(
    X, Y, loss: Loss, alpha: float, depth: int, W0: np.ndarray, max_iter: int, tol: float
) -> _Solve:
    """Monotone proximal gradient on ``loss(XW, Y) + (alpha L/2) sum sigma_i^(2/L)`` (local)."""
    q, cpen = 2.0 / depth, 0.5 * alpha * depth
    eta = _step(X, loss)

    def obj(W):
        return loss.value(X @ W, Y) + cpen * float(np.sum(_singular_values(W) ** q))

    W = W0.copy()
    f = obj(W)
    it, converged = 0, False
    if not np.isfinite(eta):
        return _Solve(np.zeros_like(W), obj(np.zeros_like(W)), None, 0, True, "local")
    for it in range(1, max_iter + 1):  # noqa: B007
        G = X.T @ loss.gradient(X @ W, Y)
        W_new = _prox_singular(W - eta * G, eta * cpen, q)
        f_new = obj(W_new)
        step = np.linalg.norm(W_new - W)
        W, f = W_new, f_new
        if step <= tol * max(1.0, np.linalg.norm(W)):
            converged = True
            break
    return _Solve(W, f, None, it, converged, "local" if converged else "max_iter")


def _is_scaled_orthonormal(X: np.ndarray) -> float | None:
    """``c`` if ``X^T X = c I`` (c > 0, to 1e-10 relative), else ``None``."""
    G = X.T @ X
    c = float(np.trace(G)) / G.shape[0]
    if c <= 0:
        return None
    return c if np.allclose(G, c * np.eye(G.shape[0]), rtol=0, atol=1e-10 * c) else None


# --------------------------------------------------------------------------------------------
# two-layer linear network with strong duality
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TwoLayerLinearResult:
    """Two-layer linear network = nuclear-norm program, with its dual (SPEC §2.2, [000]).

    ``primal_value = min_W loss(XW, Y) + beta ||W||_*``, which equals the WD-trained two-layer
    network ``min loss(X W_1 W_2, Y) + (beta/2)(||W_1||_F^2 + ||W_2||_F^2)``; ``dual_value`` is
    ``-loss*(-Lambda)`` at the feasible ``dual_point`` (``||X^T Lambda||_2 <= beta``); ``gap``
    certifies optimality (strong duality holds). ``weights = (W_1, W_2)`` are the balanced
    factors ``U S^(1/2), S^(1/2) V^T`` of ``W``; for scalar output ``W_1`` is rank one.
    """

    primal_value: float
    dual_value: float
    gap: float
    W: np.ndarray
    weights: list[np.ndarray]
    dual_point: np.ndarray
    n_iter: int
    status: str


def _validate_loss_targets(loss: Loss, Y: np.ndarray, name: str = "y") -> None:
    if isinstance(loss, LogisticLoss):
        if Y.shape[1] != 1 or not np.all(np.isin(Y, (-1.0, 1.0))):
            raise ValueError(f"{name} must hold labels -1/+1 (one column) for loss='logistic'.")
    elif isinstance(loss, CrossEntropyLoss):
        if Y.shape[1] < 2 or np.any(Y < 0) or not np.allclose(Y.sum(axis=1), 1.0):
            raise ValueError(
                f"{name} must be one-hot (or probability) rows with >= 2 columns for "
                "loss='cross_entropy'."
            )


def two_layer_linear(
    X, Y, beta: float, loss="squared", max_iter: int = 20000, tol: float = 1e-7
) -> TwoLayerLinearResult:
    """Solve the two-layer linear network through its convex dual ([000]; SPEC §2.2).

    ``min_{W_1, W_2} loss(X W_1 W_2, Y) + (beta/2)(||W_1||_F^2 + ||W_2||_F^2)
    = min_W loss(X W, Y) + beta ||W||_*`` (any width ``>= rank W*``), dual
    ``max -loss*(-Lambda) s.t. ||X^T Lambda||_2 <= beta``; strong duality holds. Solved by FISTA
    with a gap-based stop; warns (``ConvergenceWarning``) if ``max_iter`` is reached first.
    """
    X = as_matrix(X, "X")
    Y = as_targets(Y, X.shape[0], "Y")
    Y2 = Y[:, None] if Y.ndim == 1 else Y
    beta = check_nonnegative(beta, "beta")
    loss = get_loss(loss)
    _validate_loss_targets(loss, Y2, "Y")
    max_iter = check_positive_int(max_iter, "max_iter")
    tol = check_positive(tol, "tol")
    sol = _fista_nuclear(X, Y2, loss, beta, max_iter, tol)
    if not sol.converged:
        warnings.warn(
            f"two_layer_linear stopped at max_iter={max_iter} with gap "
            f"{sol.primal - sol.dual:.3e}.",
            ConvergenceWarning,
            stacklevel=2,
        )
    U, s, Vt, _ = _svd_rank(sol.W)
    Lam = loss.dual_point(X @ sol.W, Y2)
    g = float(np.linalg.norm(X.T @ Lam, 2))
    if g > beta:
        Lam = Lam * (beta / g)
    W = sol.W[:, 0] if Y.ndim == 1 else sol.W
    return TwoLayerLinearResult(
        primal_value=sol.primal,
        dual_value=sol.dual,
        gap=max(sol.primal - sol.dual, 0.0),
        W=W,
        weights=_balanced(U, s, Vt, 2, None),
        dual_point=Lam[:, 0] if Y.ndim == 1 else Lam,
        n_iter=sol.n_iter,
        status=sol.status,
    )


# --------------------------------------------------------------------------------------------
# estimator
# --------------------------------------------------------------------------------------------


class DeepLinearRegressor(RegressorMixin, BaseEstimator):
    """Deep linear network trained through its exact reformulation ([002] §3, App. B; [000]).

    With ``L = depth``, ``loss`` a sum over samples and ``X`` (with a ones column appended when
    ``fit_intercept=True``; the intercept is then regularised like any other row of ``W``):

    * ``architecture="standard"`` (weight decay on ``L`` layers, [002] (31), SPEC §2.6)::

          min_{W_1..W_L} loss(X W_1...W_L, Y) + (alpha/2) sum_l ||W_l||_F^2
        = min_W loss(X W, Y) + (alpha L / 2) ||W||_{S_{2/L}}^{2/L}          ([002] (7), (31))

      For ``L = 2`` this is the nuclear-norm program (convex; certified gap). For ``L >= 3`` the
      penalty is non-convex: proximal gradient with the exact prox on singular values.
      ``status_`` is ``"exact"`` when the loss is squared and ``X^T X = c I`` (whitened data: the
      prox of ``X^T Y / c`` is the global minimiser); otherwise ``"local"`` (a stationary point,
      no global certificate). ``dual_objective_`` is then the certified bound of the t-scaled
      convex dual (SPEC §2.1, §2.5); a positive ``duality_gap_`` is expected for ``L >= 3`` even
      at the global optimum (the duality gap of standard deep networks, [002] Thm. 3).
    * ``architecture="parallel"`` (L-th power regulariser, [002] (14), SPEC §2.7 (d))::

          min loss(sum_j X W_{1,j}...w_{L,j}^T, Y) + (alpha/L) sum_{j,l} ||W_{l,j}||_F^L
        = min_W loss(X W, Y) + alpha ||W||_*                    (K >= rank W* branches)

      Convex; solved by FISTA; ``duality_gap_`` certifies the optimum ([002] Thm. 4).

    Losses: ``"squared"`` (default), ``"logistic"`` (``y`` in ``{-1, +1}``) or
    ``"cross_entropy"`` (one-hot ``Y``). The estimator stays a regressor: ``predict`` returns
    the scores ``X W (+ b)`` and ``score`` is R^2 of these scores.

    Fitted attributes: ``coef_`` (end-to-end ``W``, shape ``(d,)`` or ``(d, C)``),
    ``intercept_``, ``weights_`` (standard: list of ``L`` balanced factors of the augmented
    ``[W; b]``, [002] (8); parallel: list of ``K`` branches, each a list of ``L`` matrices, SPEC
    §2.7 (c)), ``objective_``, ``dual_objective_``, ``duality_gap_``, ``status_``, ``n_iter_``,
    ``converged_``. A solver stopped by ``max_iter`` warns (``ConvergenceWarning``).
    """

    def __init__(
        self,
        depth=3,
        alpha=1.0,
        architecture="standard",
        loss="squared",
        fit_intercept=False,
        max_iter=5000,
        tol=1e-7,
    ):
        self.depth = depth
        self.alpha = alpha
        self.architecture = architecture
        self.loss = loss
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _augment(self, X: np.ndarray) -> np.ndarray:
        return np.hstack([X, np.ones((X.shape[0], 1))]) if self.fit_intercept else X

    def fit(self, X, y):
        """Fit the network; see the class docstring for the objective solved."""
        depth = check_depth(self.depth)
        alpha = check_nonnegative(self.alpha, "alpha")
        arch = check_choice(self.architecture, "architecture", {"standard", "parallel"})
        loss = get_loss(self.loss)
        max_iter = check_positive_int(self.max_iter, "max_iter")
        tol = check_positive(self.tol, "tol")
        check_bool(self.fit_intercept, "fit_intercept")
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        Y = y[:, None] if y.ndim == 1 else y
        _validate_loss_targets(loss, Y, "y")
        Xa = self._augment(X)

        if arch == "parallel" or depth == 2:
            sol = _fista_nuclear(Xa, Y, loss, alpha, max_iter, tol)
            status = "optimal" if sol.converged else "max_iter"
        else:
            sol = self._fit_standard(Xa, Y, loss, alpha, depth, max_iter, tol)
            status = sol.status
        if not sol.converged:
            warnings.warn(
                f"DeepLinearRegressor stopped at max_iter={max_iter} before reaching tol={tol}.",
                ConvergenceWarning,
                stacklevel=2,
            )
        W = sol.W
        U, s, Vt, r = _svd_rank(W)
        if arch == "parallel":
            self.weights_ = _parallel_branches(U, s, Vt, depth, max(r, 1))
        else:
            self.weights_ = _balanced(U, s, Vt, depth, None)
        coef, icpt = (W[:-1], W[-1]) if self.fit_intercept else (W, np.zeros(W.shape[1]))
        single = y.ndim == 1
        self.coef_ = coef[:, 0] if single else coef
        self.intercept_ = float(icpt[0]) if single else icpt
        self.objective_ = float(sol.primal)
        self.dual_objective_ = None if sol.dual is None else float(sol.dual)
        self.duality_gap_ = (
            None if sol.dual is None else float(max(self.objective_ - self.dual_objective_, 0.0))
        )
        self.status_ = status
        self.n_iter_ = int(sol.n_iter)
        self.converged_ = bool(sol.converged)
        self.rank_ = int(r)
        return self

    def _fit_standard(self, X, Y, loss, alpha, depth, max_iter, tol) -> _Solve:
        q, cpen = 2.0 / depth, 0.5 * alpha * depth

        def obj(W):
            return loss.value(X @ W, Y) + cpen * float(np.sum(_singular_values(W) ** q))

        c = _is_scaled_orthonormal(X) if isinstance(loss, SquaredLoss) else None
        if c is not None:  # whitened: one exact prox (SPEC §2.6 "Solving")
            W = _prox_singular(X.T @ Y / c, cpen / c, q)
            sol = _Solve(W, obj(W), None, 1, True, "exact")
        else:
            starts = [np.linalg.pinv(X) @ Y, np.zeros((X.shape[1], Y.shape[1]))]
            runs = [
                _prox_grad_schatten(X, Y, loss, alpha, depth, W0, max_iter, tol) for W0 in starts
            ]
            sol = min(runs, key=lambda r: r.primal)
        dual = _relaxed_dual(X, Y, loss, alpha, depth, max_iter)
        return _Solve(sol.W, sol.primal, dual, sol.n_iter, sol.converged, sol.status)

    def predict(self, X):
        """Scores ``X coef_ + intercept_``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X @ self.coef_ + self.intercept_
