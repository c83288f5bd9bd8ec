"""Duality gap against depth, standard vs parallel, linear and ReLU: [002] Table 1 as numbers
(SPEC §2.5, §2.7, §4.2, §4.4, §5.1 E002-2/E002-3/E002-5).

Moved here from ``experiments/deep_relu_gap_vs_depth.py`` (which re-exports it) so that
``convexnet reproduce`` can use it; the numbers and instances are unchanged.

Instances (fixed seeds, documented in docs/deep_relu.md):

* ReLU: rank-one ``X = c a^T`` (n = 8, d = 3, ``||a|| = 2.534664``), targets
  ``y = g+ c+ + g- c-`` with ``(g+, g-) = (1, -1)`` (mixed signs) and ``(1, 0.5)`` (same sign).
  Standard network: weight decay on all layers (closed forms of ``closed_form/rank_one.py``;
  ``L >= 4`` with mixed signs only has proven bounds, SPEC §6 item 9). Parallel network: (22)
  with constant ``1/L``, solved by column generation (``programs/deep_relu.py``); its dual bound
  is exact for ``L = 2`` and *heuristic* (local oracle) for ``L >= 3`` (SPEC §6 item 8).
  ``L = 2``: both architectures coincide, solved by the exact ``L = 2`` column generation.
* Linear: a rank-one ``X`` gives a rank-one ``X^+ Y`` and hence no gap, so the linear columns use
  a generic ``X`` (5 x 8) and ``Y`` (5 x 3), seed 1. Standard (5) vs parallel (14) with the
  ``L``-th power regulariser (Thm. 4), both closed forms (``closed_form/deep_linear.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convexnet.closed_form.deep_linear import parallel_min_norm, standard_min_norm
from convexnet.deep_relu import parallel_deep_relu, rank_one_min_norm

A_NORM = 2.534664


@dataclass
class DepthRow:
    """One depth ``L``. ReLU values are for the mixed-sign target unless named ``same_``."""

    depth: int
    relu_std_primal_lower: float  # proven lower bound on P (= P when exact)
    relu_std_primal_upper: float  # P, or the block-diagonal upper bound (L >= 4, mixed)
    relu_std_dual: float
    relu_std_exact: bool
    relu_same_sign_gap: float  # standard ReLU, same-sign target (0 by the sign condition)
    relu_prl_primal: float  # column generation: value of an interpolating network (upper bound)
    relu_prl_bound: float  # column generation dual bound
    relu_prl_label: str  # "exact" (L = 2) or "heuristic"
    relu_prl_closed_form: float  # D(1) = (|g+| + |g-|) / ||a||
    lin_std_primal: float
    lin_std_dual: float
    lin_prl_primal: float
    lin_prl_dual: float

    @property
    def relu_std_gap(self) -> tuple[float, float]:
        return (
            max(self.relu_std_primal_lower - self.relu_std_dual, 0.0),
            max(self.relu_std_primal_upper - self.relu_std_dual, 0.0),
        )

    @property
    def relu_prl_gap(self) -> float:
        return self.relu_prl_primal - self.relu_prl_bound

    @property
    def lin_std_gap(self) -> float:
        return self.lin_std_primal - self.lin_std_dual

    @property
    def lin_prl_gap(self) -> float:
        return self.lin_prl_primal - self.lin_prl_dual


def relu_instance(gamma=(1.0, -1.0), seed: int = 0):
    """Rank-one ``X = c a^T`` and ``y = g+ c+ + g- c-`` (the instance of SPEC §4.2's table)."""
    rng = np.random.default_rng(seed)
    c, a = rng.normal(size=8), rng.normal(size=3)
    a *= A_NORM / np.linalg.norm(a)
    y = gamma[0] * np.maximum(c, 0) + gamma[1] * np.maximum(-c, 0)
    return np.outer(c, a), y


def linear_instance(seed: int = 1):
    """Generic ``X`` (5 x 8) and ``Y`` (5 x 3): ``rank X^+ Y = 3``, so standard gaps for L >= 3."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(5, 8)), rng.normal(size=(5, 3))


def gap_vs_depth(
    depths=(2, 3, 4, 5, 6), n_starts: int = 16, oracle_steps: int = 80
) -> list[DepthRow]:
    """Compute every number of the figure; returns a list of :class:`DepthRow`."""
    X, y = relu_instance((1.0, -1.0))
    Xs, ys = relu_instance((1.0, 0.5))
    Xl, Yl = linear_instance()
    closed = rank_one_min_norm(X, y, depth=3).parallel_value  # D(1), the same for every L
    rows = []
    for L in depths:
        p = parallel_deep_relu(X, y, depth=L, n_starts=n_starts, oracle_steps=oracle_steps)
        if L == 2:
            # Standard = parallel at L = 2 (two-layer network, no gap): P = D = D(1), the
            # (L = 2) weight-decay value (L/2) D(1)^(2/L); the exact L = 2 CG must agree.
            lo = up = du = closed
            same_gap, exact = 0.0, True
        else:
            r = rank_one_min_norm(X, y, depth=L)
            lo, up, du, exact = r.primal_lower, r.primal_upper, r.dual_value, r.status == "exact"
            same_gap = rank_one_min_norm(Xs, ys, depth=L).gap
        s, q = standard_min_norm(Xl, Yl, depth=L), parallel_min_norm(Xl, Yl, depth=L)
        rows.append(
            DepthRow(
                depth=L,
                relu_std_primal_lower=lo,
                relu_std_primal_upper=up,
                relu_std_dual=du,
                relu_std_exact=exact,
                relu_same_sign_gap=same_gap,
                relu_prl_primal=p.primal_value,
                relu_prl_bound=p.dual_bound,
                relu_prl_label=p.bound_label,
                relu_prl_closed_form=closed,
                lin_std_primal=s.primal_value,
                lin_std_dual=s.dual_value,
                lin_prl_primal=q.primal_value,
                lin_prl_dual=q.dual_value,
            )
        )
    return rows


def format_table(rows: list[DepthRow]) -> str:
    """Markdown table of the numbers in the figure."""
    head = (
        "| L | ReLU std P | ReLU std D | ReLU std gap | ReLU std gap, same-sign y "
        "| ReLU prl CG primal | ReLU prl CG bound | ReLU prl gap "
        "| lin std P | lin std D | lin std gap | lin prl P = D |\n" + "|---" * 12 + "|"
    )
    out = [head]
    for r in rows:
        g_lo, g_up = r.relu_std_gap
        if r.relu_std_exact:
            p, g = f"{r.relu_std_primal_upper:.6f}", f"{g_up:.6f}"
        else:
            p = f"{r.relu_std_primal_lower:.6f}..{r.relu_std_primal_upper:.6f} (bounds)"
            g = f"{g_lo:.6f}..{g_up:.6f} (bounds)"
        out.append(
            f"| {r.depth} | {p} | {r.relu_std_dual:.6f} | {g} | {r.relu_same_sign_gap:.1e} "
            f"| {r.relu_prl_primal:.6f} | {r.relu_prl_bound:.6f} ({r.relu_prl_label}) "
            f"| {r.relu_prl_gap:.1e} | {r.lin_std_primal:.6f} | {r.lin_std_dual:.6f} "
            f"| {r.lin_std_gap:.6f} | {r.lin_prl_primal:.6f} |"
        )
    return "\n".join(out)


def draw_gap_vs_depth(rows: list[DepthRow], path) -> None:
    """Values (left: ReLU, middle: linear) and duality gaps (right) against depth, saved."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.2))
    plot_gap_vs_depth(fig, rows)
    fig.savefig(path, dpi=80)


def plot_gap_vs_depth(fig, rows: list[DepthRow]) -> None:
    """Draw the three panels of :func:`draw_gap_vs_depth` on the matplotlib Figure ``fig``."""
    Ls = np.array([r.depth for r in rows])
    col = lambda name: np.array([getattr(r, name) for r in rows])  # noqa: E731
    ax1, ax2, ax3 = fig.subplots(1, 3)

    ex = col("relu_std_exact")
    lo, up = col("relu_std_primal_lower"), col("relu_std_primal_upper")
    ax1.plot(Ls[ex], up[ex], "o-", color="C0", label="standard P (exact)")
    if (~ex).any():
        ax1.fill_between(Ls, np.where(ex, up, lo), up, color="C0", alpha=0.2)
        ax1.errorbar(
            Ls[~ex], (lo[~ex] + up[~ex]) / 2, yerr=(up[~ex] - lo[~ex]) / 2, fmt="none",
            color="C0", capsize=3, label="standard P: proven bounds (optimum unknown)",
        )  # fmt: skip
    ax1.plot(Ls, col("relu_std_dual"), "s--", color="C0", mfc="none", label="standard D")
    ax1.plot(Ls, col("relu_prl_primal"), "o-", color="C3", label="parallel (22): CG primal")
    ax1.plot(Ls, col("relu_prl_bound"), "x--", color="C3", label="parallel: CG dual bound*")
    ax1.set_title("ReLU, rank-one X, y = c+ - c- (mixed signs)", fontsize=9)
    ax1.set_ylabel("min-norm value")

    ax2.plot(Ls, col("lin_std_primal"), "o-", color="C0", label="standard (5): P")
    ax2.plot(Ls, col("lin_std_dual"), "s--", color="C0", mfc="none", label="standard: D")
    ax2.plot(Ls, col("lin_prl_primal"), "o-", color="C3", label="parallel (14): P = D")
    ax2.set_title("linear, X 5x8, Y 5x3, rank X+Y = 3", fontsize=9)

    g = np.array([r.relu_std_gap for r in rows])
    ax3.plot(Ls[ex], g[ex, 1], "o-", color="C0", label="standard ReLU (mixed y)")
    if (~ex).any():
        ax3.errorbar(
            Ls[~ex], g[~ex].mean(1), yerr=np.ptp(g[~ex], axis=1) / 2, fmt="none", color="C0",
            capsize=3, label="standard ReLU: proven bounds",
        )  # fmt: skip
    mx = lambda name: np.abs(col(name)).max()  # noqa: E731
    ax3.plot(
        Ls, col("relu_same_sign_gap"), "v:", color="C2",
        label=f"standard ReLU, same-sign y: max |gap| {mx('relu_same_sign_gap'):.0e}",
    )  # fmt: skip
    ax3.plot(Ls, col("lin_std_gap"), "s--", color="C1", label="standard linear")
    ax3.plot(
        Ls,
        col("relu_prl_gap"),
        "x-",
        color="C3",
        label=f"parallel ReLU (CG)*: max |gap| {mx('relu_prl_gap'):.0e}",
    )
    ax3.plot(
        Ls,
        col("lin_prl_gap"),
        "d--",
        color="C4",
        mfc="none",
        label=f"parallel linear: max |gap| {mx('lin_prl_gap'):.0e}",
    )
    ax3.set_title("duality gap P - D ([002] Table 1 as numbers)", fontsize=9)
    ax3.set_ylim(top=1.45 * max(g.max(), col("lin_std_gap").max()))
    for L, gl, gu, gs in zip(Ls, g[:, 0], g[:, 1], col("lin_std_gap")):
        if L == 2:
            continue  # every gap is 0 at L = 2
        ax3.annotate(f"{gs:.3f}", (L, gs), (4, -10), textcoords="offset points", fontsize=7)
        txt = f"{gu:.3f}" if gl == gu else f"{gl:.3f}..\n{gu:.3f}"
        ax3.annotate(
            txt, (L, gu), (-4, -4), textcoords="offset points", fontsize=7, color="C0", ha="right"
        )
    ax1.annotate(
        f"parallel = D(1) = {rows[0].relu_prl_closed_form:.6f} for every L",
        (0.02, 0.1), xycoords="axes fraction", fontsize=7, color="C3",
    )  # fmt: skip
    for ax in (ax1, ax2, ax3):
        ax.set_xlabel("depth L")
        ax.set_xticks(Ls)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    fig.text(
        0.01, 0.01,
        "* L >= 3: heuristic bound (local oracle, SPEC §6 item 8); L = 2: exact. "
        "Standard ReLU L >= 4, mixed signs: only proven bounds (SPEC §6 item 9). "
        "ReLU: WD for standard, (1/L) sum ||W||^L for parallel; linear: same.",
        fontsize=7,
    )  # fmt: skip
    fig.tight_layout(rect=(0, 0.05, 1, 1))
