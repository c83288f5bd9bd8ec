"""One-dimensional data: minimum-norm ReLU networks are linear splines (SPEC.md §4.3; [000]).

Two-layer network with unregularised biases and weight decay on the weights ([SESS19])::

    f(x) = sum_j a_j (w_j x + b_j)_+ + b_0,    cost (1/2) sum_j (w_j^2 + a_j^2)  (biases free)

Between consecutive samples the sample vector of a ReLU is affine in its knot, so some optimal
network has its knots at data points only (the "data-knot representative"); it solves

    min_{mu, mu_0} ||mu||_1  s.t.  Phi mu + mu_0 1 = y,   Phi = [(x_i - x_k)_+ | (x_k - x_i)_+]

(the limit beta -> 0 of the Lasso ``min loss + beta ||mu||_1``, SPEC §4.3). Its optimum is the
function-space cost ``R(f) = max(int |f''|, |f'(-inf) + f'(+inf)|)`` of the best interpolant. On
``[x_(1), x_(n)]`` the representative is the connect-the-dots interpolant; outside it is affine,
with the slopes the program chooses. Other minimisers exist (knots anywhere inside stretches of
one-signed curvature); this module always returns the data-knot one.

**Depth >= 3 is [uncertain]** (SPEC §4.3, §6.7): [000] states "norm regularized deep ReLU
networks yield spline interpolation", which we could not derive. ``depth >= 3`` returns a deep
network that *represents* the same spline (each neuron a path of scalar ReLUs), labelled
``status="representation"``: it is not certified minimum-norm.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from convexnet._validation import as_targets, check_nonnegative, check_positive_int

__all__ = [
    "SplineResult",
    "function_space_cost",
    "spline_interpolation",
    "spline_lasso",
]


def _as_1d(x, name: str = "x") -> np.ndarray:
    if isinstance(x, str | bytes):
        raise TypeError(f"{name} must be a numeric array, got a string.")
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must contain numbers only: {exc}") from exc
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional data, shape (n,) or (n, 1).")
    if arr.size < 2:
        raise ValueError(f"{name} needs at least 2 samples, got {arr.size}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity.")
    if np.unique(arr).size != arr.size:
        raise ValueError(f"{name} has repeated values; interpolation needs distinct samples.")
    return arr


def _as_points(x, name: str = "x") -> np.ndarray:
    """Evaluation points: any finite numbers, flattened (repeats and a single point allowed)."""
    if isinstance(x, str | bytes):
        raise TypeError(f"{name} must be a numeric array, got a string.")
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must contain numbers only: {exc}") from exc
    if arr.ndim == 2 and arr.shape[1] != 1:
        raise ValueError(f"{name} must be one-dimensional data, shape (m,) or (m, 1).")
    if arr.ndim > 2:
        raise ValueError(f"{name} must be one-dimensional data, shape (m,) or (m, 1).")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity.")
    return arr.ravel()


def _design(xs: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """``[(g_i - x_k)_+ | (x_k - g_i)_+]`` for knots ``xs`` and points ``grid``."""
    D = grid[:, None] - xs[None, :]
    return np.hstack([np.maximum(D, 0.0), np.maximum(-D, 0.0)])


def function_space_cost(knots, values, left_slope: float, right_slope: float) -> float:
    """``R(f) = max(int |f''|, |f'(-inf) + f'(+inf)|)`` of the linear spline through
    ``(knots, values)`` continued with slopes ``left_slope`` / ``right_slope`` ([SESS19])."""
    xs = np.asarray(knots, dtype=float)
    vs = np.asarray(values, dtype=float)
    slopes = np.concatenate([[left_slope], np.diff(vs) / np.diff(xs), [right_slope]])
    return float(max(np.sum(np.abs(np.diff(slopes))), abs(left_slope + right_slope)))


@dataclass(frozen=True, eq=False)
class SplineResult:
    """A minimum-cost ReLU spline network on 1-D data (SPEC §4.3).

    Attributes
    ----------
    value : ``||mu||_1``, the minimum of ``(1/2) sum_j (w_j^2 + a_j^2)`` over two-layer networks
        (interpolation) or ``loss + beta ||mu||_1`` (Lasso), biases unregularised.
    mu, intercept : coefficients of ``(x - x_k)_+`` (first ``n``) and ``(x_k - x)_+`` (last ``n``)
        on the sorted samples, and the free constant ``mu_0``.
    knots : sorted positions where the slope changes (a subset of the data).
    slopes : slopes of the spline on ``(-inf, k_1), (k_1, k_2), ..., (k_m, inf)``.
    layers : ``[(W_1, b_1), ..., (W_L, b_L)]`` of the network (``depth`` layers).
    deep_weight_decay : ``(1/2) sum_l ||W_l||_F^2`` of ``layers`` (``= value`` for depth 2).
    status : ``"optimal"`` (depth 2: certified by the LP/QP solver), ``"representation"``
        (depth >= 3: the same function, not certified minimum-norm, SPEC §4.3 [uncertain]).
    """

    x: np.ndarray
    y: np.ndarray
    value: float
    mu: np.ndarray
    intercept: float
    knots: np.ndarray
    slopes: np.ndarray
    layers: list = field(repr=False)
    depth: int
    deep_weight_decay: float
    beta: float | None
    status: str
    solver_status: str

    def predict(self, x) -> np.ndarray:
        """The network's output at ``x`` (shape (m,) or (m, 1)), by a forward pass."""
        h = _as_points(x)[:, None]
        for l, (W, b) in enumerate(self.layers):
            h = h @ W + b
            if l < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return h[:, 0]

    def spline(self, x) -> np.ndarray:
        """The spline ``Phi(x) mu + mu_0`` evaluated directly (no network)."""
        g = _as_points(x)
        return _design(self.x, g) @ self.mu + self.intercept

    def plot(self, ax=None, grid=None):
        """Data and spline on ``ax`` (or a new Figure); returns the Figure."""
        if ax is None:
            from matplotlib.figure import Figure

            fig = Figure(figsize=(5, 3.4))
            ax = fig.subplots()
        else:
            fig = ax.figure
        if grid is None:
            span = self.x[-1] - self.x[0]
            grid = np.linspace(self.x[0] - 0.2 * span, self.x[-1] + 0.2 * span, 400)
        ax.plot(grid, self.predict(grid), "k-", lw=2, label=f"min-norm spline (L={self.depth})")
        ax.plot(self.x, self.y, "o", color="C3", label="data", zorder=5)
        ax.legend(fontsize=8)
        return fig


def _network(xs, mu, mu0, depth):
    """Layers of a depth-``depth`` network computing ``Phi(x) mu + mu0`` (balanced per path)."""
    n = xs.size
    idx = np.flatnonzero(mu != 0.0)
    m = max(idx.size, 1)
    W1, b1 = np.zeros((1, m)), np.zeros(m)
    scale = np.zeros(m)
    sign = np.zeros(m)
    for j, k in enumerate(idx):
        s = abs(mu[k]) ** (1.0 / depth)
        direction = 1.0 if k < n else -1.0  # (x - x_k)_+ or (x_k - x)_+
        W1[0, j] = direction * s
        b1[j] = -direction * s * xs[k % n]
        scale[j], sign[j] = s, np.sign(mu[k])
    layers = [(W1, b1)]
    for _ in range(depth - 2):
        layers.append((np.diag(scale), np.zeros(m)))  # non-negative features pass through
    layers.append(((sign * scale)[:, None], np.array([mu0])))
    wd = 0.5 * sum(float(np.sum(W**2)) for W, _ in layers)
    return layers, wd


def _knots_and_slopes(xs, mu, tol):
    n = xs.size
    jump = mu[:n] + mu[n:]  # slope change at x_k: (x - x_k)_+ adds +mu, (x_k - x)_+ adds +mu
    keep = np.abs(jump) > tol
    knots = xs[keep]
    left = -float(np.sum(mu[n:]))
    slopes = left + np.concatenate([[0.0], np.cumsum(jump[keep])])
    return knots, slopes


def _finish(xs, ys, mu, mu0, depth, beta, value, solver_status) -> SplineResult:
    tol = 1e-9 * max(1.0, float(np.max(np.abs(mu))))
    mu = np.where(np.abs(mu) > tol, mu, 0.0)
    knots, slopes = _knots_and_slopes(xs, mu, tol)
    layers, wd = _network(xs, mu, mu0, depth)
    return SplineResult(
        x=xs,
        y=ys,
        value=float(value),
        mu=mu,
        intercept=float(mu0),
        knots=knots,
        slopes=slopes,
        layers=layers,
        depth=depth,
        deep_weight_decay=wd,
        beta=beta,
        status="optimal" if depth == 2 else "representation",
        solver_status=solver_status,
    )


def _sorted_data(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Validated 1-D inputs and single-output targets, sorted by ``x``."""
    x = _as_1d(x)
    y = as_targets(y, x.size, "y")
    if y.ndim == 2:
        if y.shape[1] != 1:
            raise ValueError(f"y must be a single output, got shape {y.shape}.")
        y = y[:, 0]
    order = np.argsort(x)
    return x[order], y[order]


def spline_interpolation(x, y, depth: int = 2) -> SplineResult:
    """Minimum-norm ReLU network interpolating 1-D data: the data-knot linear spline.

    Solves, exactly by linear programming (HiGHS), the minimum-norm problem of SPEC §4.3::

        min (1/2) sum_j (w_j^2 + a_j^2)  s.t.  sum_j a_j (w_j x_i + b_j)_+ + b_0 = y_i
          = min ||mu||_1  s.t.  Phi mu + mu_0 1 = y

    (biases ``b_j, b_0`` free). On ``[min x, max x]`` the result is the connect-the-dots
    interpolant, with knots at data points only. ``depth >= 3`` returns a deep network
    representing the same spline, *not* certified minimum-norm ([000]'s deep claim is
    [uncertain], SPEC §4.3, §6.7).
    """
    from scipy.optimize import linprog

    depth = check_positive_int(depth, "depth", minimum=2)
    xs, ys = _sorted_data(x, y)
    n = xs.size
    Phi = _design(xs, xs)
    # variables: mu_plus (2n) >= 0, mu_minus (2n) >= 0, mu_0 free
    A = np.hstack([Phi, -Phi, np.ones((n, 1))])
    cost = np.concatenate([np.ones(4 * n), [0.0]])
    bounds = [(0, None)] * (4 * n) + [(None, None)]
    res = linprog(cost, A_eq=A, b_eq=ys, bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"the spline LP failed: {res.message}")
    z = res.x
    mu = z[: 2 * n] - z[2 * n : 4 * n]
    return _finish(xs, ys, mu, z[-1], depth, None, float(np.abs(mu).sum()), "optimal")


def spline_lasso(x, y, beta: float, depth: int = 2) -> SplineResult:
    """Regularised 1-D fit: ``min (1/2)||Phi mu + mu_0 1 - y||^2 + beta ||mu||_1`` (SPEC §4.3).

    Equal to the two-layer problem ``min (1/2) sum_i (f(x_i) - y_i)^2 + (beta/2) sum_j (w_j^2 +
    a_j^2)`` with free biases (the data-knot representative, [SESS19]); solved by CVXPY/Clarabel.
    ``value`` is the objective. ``depth >= 3``: the same function as a deep network, not certified.
    """
    import cvxpy as cp

    depth = check_positive_int(depth, "depth", minimum=2)
    beta = check_nonnegative(beta, "beta")
    if beta == 0:
        raise ValueError("beta must be positive; use spline_interpolation for beta -> 0.")
    xs, ys = _sorted_data(x, y)
    Phi = _design(xs, xs)
    mu, mu0 = cp.Variable(2 * xs.size), cp.Variable()
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(Phi @ mu + mu0 - ys) + beta * cp.norm1(mu)))
    prob.solve(solver=cp.CLARABEL)
    if mu.value is None:
        raise RuntimeError(f"the spline Lasso failed: {prob.status}")
    m, m0 = np.asarray(mu.value), float(mu0.value)
    val = 0.5 * float(np.sum((Phi @ m + m0 - ys) ** 2)) + beta * float(np.abs(m).sum())
    return _finish(xs, ys, m, m0, depth, beta, val, str(prob.status))
