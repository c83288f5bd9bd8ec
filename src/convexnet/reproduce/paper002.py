"""Paper [002] (Wang, Ergen & Pilanci, *Parallel Deep Neural Networks Have Zero Duality Gap*):
the experiments E002-1..5 of SPEC.md §5.1.

The paper is theoretical: its only numerical content is Figure 3 (stairs of the duality gap, on
an unknown instance) and the qualitative Table 1. We reproduce them as numbers on documented
instances: closed forms of the library, checked against non-convex training of the same networks
(``convexnet.baselines.train_deep_relu_nonconvex``, L-BFGS with an augmented Lagrangian for the
interpolation constraint), and against SPEC's [checked] values.
"""

from __future__ import annotations

import numpy as np

from convexnet.deep_linear import gap_stairs, parallel_min_norm, standard_min_norm
from convexnet.reproduce.common import (
    Settings,
    data_with_sigma,
    have_torch,
    rank_one_training,
    timed,
)
from convexnet.reproduce.report import Figure, Section, Table, compare, comparison_table

__all__ = ["PAPER", "run"]

PAPER = "Parallel Deep Neural Networks Have Zero Duality Gap (Wang, Ergen, Pilanci, ICLR 2023)"

STAIRS_SIGMA = (1.32727, 1.17969, 0.77326)  # SPEC §2.8 [checked]
STAIRS_T1 = (3.28022, 5.63512, 9.71918, 16.79086, 16.79086)  # SPEC §5.1 E002-1
STAIRS_OPT = (4.0207, 4.99231, 6.20857, 7.72626, 7.72626)  # SPEC §2.8; l = 4 equals l = 3 by (78)
STANDARD_SIGMA = (2.1833, 0.5574, 0.4253)  # SPEC §2.5 [checked] table
STANDARD_TABLE = {  # L: (P, D, t*, P(1), D(1))
    3: (4.388713, 3.234202, 1.710499, 5.004594, 3.166021),
    4: (5.752687, 3.558663, 1.695979, 8.273352, 3.166021),
}
PARALLEL_SIGMA = (1.27012, 0.74473, 0.26923)  # SPEC §2.7 [checked]
PARALLEL_NUCLEAR = 2.284077
PARALLEL_WD = {3: 3.617061, 4: 5.017695}
RANK_ONE_TABLE = {  # SPEC §4.2 [checked]: (gamma+, gamma-): (P_ReLU, D_ReLU, parallel (22))
    (1.0, 0.5): (1.057317, 1.057317, 0.591794),
    (1.0, 0.0): (0.806884, 0.806884, 0.394530),
    (1.0, -0.7): (1.443010, 1.149327, 0.670700),
    (1.0, -1.0): (1.613768, 1.280848, 0.789059),
}
# [002] Table 1, row "this paper" (SPEC §5.1); "✗" for standard ReLU L = 3 excepts rank-one data.
TABLE1_MARKS = {
    ("standard", "linear"): "✓ (read: gap characterised, SPEC §6.16)",
    ("parallel", "linear"): "✓ (zero gap)",
    ("standard", "ReLU"): "✓ at L = 2; ✗ at L ≥ 3 (Thm. 5: zero gap for rank-one data)",
    ("parallel", "ReLU"): "✓ (zero gap, Thm. 6)",
}


def _train_linear(X, Y, widths, n_branches, regularization, n_starts, seed):
    from convexnet.baselines import train_deep_relu_nonconvex

    return train_deep_relu_nonconvex(
        X,
        Y,
        widths,
        n_branches=n_branches,
        regularization=regularization,
        activation="linear",
        n_starts=n_starts,
        random_state=seed,
    )


def _nonconvex_note(res) -> str:
    n = int(res.feasible.sum())
    if n == 0:
        return f"no feasible start of {len(res.feasible)} (residual ≥ {res.residuals.min():.1e})"
    worst = float(res.residuals[res.feasible].max())
    return f"best of {n}/{len(res.feasible)} feasible starts (residual ≤ {worst:.1e})"


def best_feasible(res) -> float:
    """Best objective over the feasible starts (``nan`` if none is feasible)."""
    return float(res.best_objective) if res.feasible.any() else float("nan")


def stairs(s: Settings) -> Section:
    """E002-1: the stairs ``P^(l)`` of [002] App. D / Figure 3 (SPEC §2.8)."""
    info: dict = {}
    with timed(info):
        X, Y, _ = data_with_sigma(STAIRS_SIGMA, n=5, d=7)
        L = 5
        at1 = gap_stairs(X, Y, L, t=1.0, plot=False)
        opt = gap_stairs(X, Y, L, plot=False)
        rows = []
        for l in range(L):
            rows.append(compare(f"P^({l})(t=1)", at1.values[l], STAIRS_T1[l], "Prop. 9 (78)"))
        for l in range(L):
            rows.append(compare(f"P^({l}), optimised t", opt.values[l], STAIRS_OPT[l], ""))
        std = prl = None
        if have_torch():
            n = s.pick(1, 4)
            std = _train_linear(X, Y, [4] * (L - 1), 1, "weight_decay", n, s.seed)
            prl = _train_linear(X, Y, [4] * (L - 1), 5, "lth_power", n, s.seed)
            rows.append(
                compare(
                    "non-convex standard (5), WD = top stair (optimised t)",
                    best_feasible(std),
                    STAIRS_OPT[-1],
                    _nonconvex_note(std),
                )
            )
            rows.append(
                compare(
                    "non-convex parallel (14), K = 5 = bottom stair (t=1) = ||Z||_*",
                    best_feasible(prl),
                    STAIRS_T1[0],
                    _nonconvex_note(prl),
                )
            )
    table = comparison_table(
        "e002_1_stairs",
        "Stairs of the duality gap, L = 5, σ(Z) = (1.32727, 1.17969, 0.77326)",
        rows,
        note=f"Strictly decreasing from primal to dual: {at1.strictly_decreasing}. "
        f"[!] The paper's zero-gap hypothesis ('singular values equal') holds: "
        f"{at1.zero_gap_paper_condition}; ours ('rank Z ≤ 1') holds: "
        f"{at1.zero_gap_rank_condition}. The numbers follow the rank condition (SPEC §6.1).",
    )
    levels = list(range(L))
    fig_rows = [[l, at1.values[l], opt.values[l], STAIRS_T1[l], STAIRS_OPT[l]] for l in levels]

    def draw(fig):
        ax = fig.subplots()
        ax.step(levels, at1.values, where="mid", color="C0")
        ax.plot(levels, at1.values, "o", color="C0", label="P^(l)(t=1), closed form (78)")
        ax.step(levels, opt.values, where="mid", color="C1")
        ax.plot(levels, opt.values, "s", color="C1", label="P^(l), optimised t")
        ax.plot(levels, STAIRS_T1, "x", color="k", label="SPEC values")
        if std is not None:
            ax.plot([L - 1], [std.best_objective], "v", ms=10, mfc="none", color="C1",
                    label="non-convex standard (5), WD")  # fmt: skip
            ax.plot([0], [prl.best_objective], "^", ms=10, mfc="none", color="C0",
                    label="non-convex parallel (14)")  # fmt: skip
        ax.set_xticks(levels)
        ax.set_xlabel("l (number of shared layers)")
        ax.set_ylabel("P^(l)")
        ax.set_title("[002] App. D stairs, L = 5", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)

    figure = Figure(
        "e002_1_stairs",
        "Stairs P^(0) = D (parallel) < ... < P^(L-2) = P^(L-1) = P (standard), at t = 1 and "
        "after optimising t; triangles: non-convex training of the two ends.",
        draw,
        ["l", "P_t1", "P_optimised_t", "spec_P_t1", "spec_P_optimised_t"],
        fig_rows,
    )
    return Section(
        "E002-1",
        "Stairs of the duality gap ([002] App. D, Figure 3)",
        "Partial duals P^(l) of the standard deep linear network (5): l shared layers, the rest "
        "parallel ((77), Prop. 8); closed form (78) `gap_stairs`. The paper's instance is "
        "unknown (SPEC §6.6); SPEC's documented instance is used (X 5x7, Y 5x3, L = 5). "
        "The two ends are also trained non-convexly: the standard network with weight decay "
        "reaches the top stair, the parallel network with the L-th power regulariser the "
        "bottom one.",
        [table],
        [figure],
        info["seconds"],
    )


def table1(s: Settings) -> Section:
    """E002-2 (with E002-3's ReLU/linear rows): [002] Table 1 as measured gaps."""
    from convexnet.reproduce.gap_vs_depth import format_table, gap_vs_depth, plot_gap_vs_depth

    info: dict = {}
    with timed(info):
        depths = s.pick((2, 3, 4), (2, 3, 4, 5, 6))
        rows = gap_vs_depth(depths)
        cells = []
        for r in rows:
            g_lo, g_up = r.relu_std_gap
            relu_std = (
                [r.relu_std_primal_upper, r.relu_std_dual, g_up, "exact"]
                if r.relu_std_exact
                else [
                    f"{r.relu_std_primal_lower:.6f}..{r.relu_std_primal_upper:.6f}",
                    r.relu_std_dual,
                    f"{g_lo:.6f}..{g_up:.6f}",
                    "proven bounds (SPEC §6.9)",
                ]
            )
            cells.append(
                ["standard", "linear", r.depth, r.lin_std_primal, r.lin_std_dual,
                 r.lin_std_gap, "exact", TABLE1_MARKS[("standard", "linear")]]
            )  # fmt: skip
            cells.append(
                ["parallel", "linear", r.depth, r.lin_prl_primal, r.lin_prl_dual,
                 r.lin_prl_gap, "exact", TABLE1_MARKS[("parallel", "linear")]]
            )  # fmt: skip
            cells.append(
                ["standard", "ReLU", r.depth, *relu_std, TABLE1_MARKS[("standard", "ReLU")]]
            )
            cells.append(
                ["parallel", "ReLU", r.depth, r.relu_prl_primal, r.relu_prl_bound,
                 r.relu_prl_gap, f"column generation, {r.relu_prl_label} bound",
                 TABLE1_MARKS[("parallel", "ReLU")]]
            )  # fmt: skip
            cells.append(
                ["standard, same-sign y", "ReLU", r.depth, float("nan"), float("nan"),
                 r.relu_same_sign_gap, "exact", "zero gap (Thm. 5)"]
            )  # fmt: skip
    table = Table(
        "e002_2_table1",
        "[002] Table 1 as measured duality gaps P − D",
        ["architecture", "activation", "L", "P", "D", "gap", "how", "paper's Table 1"],
        cells,
        note="ReLU: rank-one X (n = 8, d = 3, ||a|| = 2.534664), y = c+ − c− (mixed signs) "
        "unless 'same-sign'; linear: X 5x8, Y 5x3, seed 1. Standard ReLU with mixed signs has a "
        "strict gap at every L ≥ 3, against [002] Thm. 5 ([!] SPEC §6.2); the same-sign rows "
        "have zero gap, as the sign condition predicts. Standard linear L ≥ 3: strict gap, "
        "so the paper's ✓ can only mean 'characterised'. Parallel: zero gap (linear: closed "
        "form; ReLU: column generation, primal and bound agree to the printed gap).\n\n"
        "Plain-text form:\n\n" + format_table(rows),
    )
    fig_rows = [
        [r.depth, r.relu_std_primal_lower, r.relu_std_primal_upper, r.relu_std_dual,
         r.relu_same_sign_gap, r.relu_prl_primal, r.relu_prl_bound, r.lin_std_primal,
         r.lin_std_dual, r.lin_prl_primal]
        for r in rows
    ]  # fmt: skip
    figure = Figure(
        "e002_2_gap_vs_depth",
        "Values and duality gaps against depth, standard vs parallel, ReLU (rank-one data) and "
        "linear.",
        lambda fig: plot_gap_vs_depth(fig, rows),
        ["L", "relu_std_P_lower", "relu_std_P_upper", "relu_std_D", "relu_same_sign_gap",
         "relu_prl_cg_primal", "relu_prl_cg_bound", "lin_std_P", "lin_std_D", "lin_prl_P"],
        fig_rows,
        size=(12, 4.2),
        tight=False,
    )  # fmt: skip
    return Section(
        "E002-2",
        "Table 1: duality gap per architecture, depth and activation",
        "One instance per cell, computed by the library: `standard_min_norm`, "
        "`parallel_min_norm` (linear, closed forms), `rank_one_min_norm` (standard ReLU, closed "
        "form or proven bounds) and `parallel_deep_relu` (parallel ReLU, column generation). "
        "The code is `convexnet.reproduce.gap_vs_depth` (also `experiments/"
        "deep_relu_gap_vs_depth.py`, `docs/deep_relu.md` §5).",
        [table],
        [figure],
        info["seconds"],
    )


def linear_depth(s: Settings) -> Section:
    """E002-3: ``P_lin`` and ``D_lin`` for ``L = 2..10``, SPEC §2.5's table, non-convex checks."""
    from convexnet.reproduce.gap_vs_depth import linear_instance

    info: dict = {}
    with timed(info):
        X, Y = linear_instance()
        Ls = list(range(2, 11))
        res = {L: standard_min_norm(X, Y, L) for L in Ls}
        checked = s.pick((2, 3), (2, 3, 4))
        n = s.pick(1, 4)
        trained = {}
        if have_torch():
            for L in checked:
                trained[L] = _train_linear(X, Y, [4] * (L - 1), 1, "weight_decay", n, s.seed)
        rows = []
        for L in Ls:
            r = res[L]
            nc = best_feasible(trained[L]) if L in trained else float("nan")
            rows.append([L, r.primal_value, r.dual_value, r.gap, r.t_star, nc, nc - r.primal_value])
        Xs, Ys, _ = data_with_sigma(STANDARD_SIGMA)
        comp = []
        for L, (P, D, ts, P1, D1) in STANDARD_TABLE.items():
            r = standard_min_norm(Xs, Ys, L)
            comp += [
                compare(f"L={L}: P_lin (5)", r.primal_value, P),
                compare(f"L={L}: D_lin", r.dual_value, D),
                compare(f"L={L}: t*", r.t_star, ts),
                compare(f"L={L}: P_lin(1)", r.primal_at(1.0), P1),
                compare(f"L={L}: D_lin(1)", r.dual_at(1.0), D1),
            ]
        eq = standard_min_norm(*data_with_sigma([1.0, 1.0])[:2], 3)
        comp += [
            compare("σ(Z) = (1, 1), L = 3: P_lin", eq.primal_value, 3.0, "SPEC §2.5 [!]"),
            compare("σ(Z) = (1, 1), L = 3: D_lin", eq.dual_value, 2.381102,
                    "the paper's condition says zero gap; the gap is not zero"),
        ]  # fmt: skip
    t1 = Table(
        "e002_3_gap_vs_depth_linear",
        "Standard deep linear network (5): primal, dual and gap against depth",
        ["L", "P_lin", "D_lin", "gap", "t*", "non-convex best", "non-convex − P"],
        rows,
        note="Closed forms (10)–(11) optimised over t; non-convex: weight decay, widths 4, "
        "interpolation by augmented Lagrangian (blank where not run). The gap grows with L.",
    )
    t2 = comparison_table(
        "e002_3_spec_table",
        "SPEC §2.5 [checked] table (σ(Z) = (2.1833, 0.5574, 0.4253)) and the equal-σ [!]",
        comp,
    )

    def draw(fig):
        ax = fig.subplots()
        ax.plot(Ls, [r[1] for r in rows], "o-", label="P_lin (standard)")
        ax.plot(Ls, [r[2] for r in rows], "s--", label="D_lin (= parallel bi-dual)")
        ax.plot(Ls, [r[5] for r in rows], "v", ms=10, mfc="none", label="non-convex training")
        ax.set_xlabel("depth L")
        ax.set_ylabel("value")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)

    figure = Figure(
        "e002_3_gap_vs_depth_linear",
        "Primal and dual of the standard deep linear network against depth.",
        draw,
        ["L", "P_lin", "D_lin", "gap", "t_star", "nonconvex_best"],
        [r[:6] for r in rows],
    )
    return Section(
        "E002-3",
        "Gap against depth (deep linear)",
        "Linear instance of E002-2 (X 5x8, Y 5x3, seed 1), L = 2..10, and SPEC §2.5's table.",
        [t1, t2],
        [figure],
        info["seconds"],
    )


def nuclear(s: Settings) -> Section:
    """E002-4: (14) against the nuclear norm, (12) against (5) (SPEC §2.7)."""
    import cvxpy as cp

    info: dict = {}
    with timed(info):
        X, Y, _ = data_with_sigma(PARALLEL_SIGMA)
        W = cp.Variable((X.shape[1], Y.shape[1]))
        prob = cp.Problem(cp.Minimize(cp.normNuc(W)), [X @ W == Y])
        prob.solve(solver=cp.CLARABEL)
        rows = [
            compare("(14) closed form = ||X⁺Y||_*", parallel_min_norm(X, Y, 3).primal_value,
                    PARALLEL_NUCLEAR, "Thm. 4"),
            compare("min ||W||_* s.t. XW = Y (CVXPY)", float(prob.value), PARALLEL_NUCLEAR,
                    f"status {prob.status}"),
        ]  # fmt: skip
        for L, ref in PARALLEL_WD.items():
            wd = parallel_min_norm(X, Y, L, regularization="weight_decay", n_branches=6)
            rows.append(compare(f"(12) weight decay, L={L}", wd.primal_value, ref))
            rows.append(
                compare(
                    f"(5) standard, L={L}", standard_min_norm(X, Y, L).primal_value, ref,
                    "(12) = (5): plain weight decay does not close the gap",
                )
            )  # fmt: skip
        if have_torch():
            n = s.pick(1, 4)
            for L in s.pick((3,), (3, 4)):
                p = _train_linear(X, Y, [4] * (L - 1), 6, "lth_power", n, s.seed)
                rows.append(
                    compare(f"non-convex (14), K=6, L={L}", best_feasible(p), PARALLEL_NUCLEAR,
                            _nonconvex_note(p))
                )  # fmt: skip
                w = _train_linear(X, Y, [4] * (L - 1), 6, "weight_decay", n, s.seed)
                rows.append(
                    compare(f"non-convex (12), K=6, L={L}", best_feasible(w), PARALLEL_WD[L],
                            _nonconvex_note(w))
                )  # fmt: skip
    return Section(
        "E002-4",
        "Parallel networks: (14) against the nuclear norm, (12) against (5)",
        "SPEC §2.7 instance, σ(Z) = (1.27012, 0.74473, 0.26923). With the L-th power "
        "regulariser (constant 1/L, SPEC §6.4) the parallel network's value is the nuclear norm "
        "(zero gap); with plain weight decay it is the standard network's value.",
        [comparison_table("e002_4_parallel", "Parallel deep linear networks", rows)],
        [],
        info["seconds"],
    )


def rank_one(s: Settings) -> Section:
    """E002-5: the rank-one ReLU table of SPEC §4.2 ([002] Thm. 5, the [!] of SPEC §6.2)."""
    from convexnet.deep_relu import rank_one_min_norm
    from convexnet.reproduce.gap_vs_depth import relu_instance

    info: dict = {}
    with timed(info):
        rows, fig_rows = [], []
        n = s.pick(6, 20)
        for gamma, (P, D, par) in RANK_ONE_TABLE.items():
            X, y = relu_instance(gamma)
            r = rank_one_min_norm(X, y, depth=3)
            g = f"({gamma[0]:g}, {gamma[1]:g})"
            rows += [
                compare(f"{g}: P_ReLU", r.primal_value, P),
                compare(f"{g}: D_ReLU", r.dual_value, D),
                compare(f"{g}: parallel (22)", r.parallel_value, par),
            ]
            nc = float("nan")
            if have_torch():
                res, _ = rank_one_training(gamma, 3, n, s.seed + 1)
                nc = best_feasible(res)
                rows.append(compare(f"{g}: best non-convex (WD)", nc, P, _nonconvex_note(res)))
            fig_rows.append([gamma[0], gamma[1], r.primal_value, r.dual_value, r.parallel_value,
                             nc, P, D])  # fmt: skip
    labels = [f"({a:g},{b:g})" for a, b, *_ in fig_rows]

    def draw(fig):
        ax = fig.subplots()
        x = np.arange(len(fig_rows))
        arr = np.array([r[2:6] for r in fig_rows], dtype=float)
        ax.bar(x - 0.3, arr[:, 0], 0.2, label="P_ReLU (standard)")
        ax.bar(x - 0.1, arr[:, 1], 0.2, label="D_ReLU")
        ax.bar(x + 0.1, arr[:, 2], 0.2, label="parallel (22)")
        ax.plot(x - 0.3, arr[:, 3], "kv", label="best non-convex")
        ax.set_xticks(x)
        ax.set_xticklabels(labels)
        ax.set_xlabel("target (γ+, γ−)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")

    figure = Figure(
        "e002_5_rank_one",
        "Rank-one data, L = 3: the gap P − D is zero for same-sign targets and strict for mixed "
        "signs.",
        draw,
        ["gamma_plus", "gamma_minus", "P", "D", "parallel", "nonconvex_best", "spec_P", "spec_D"],
        fig_rows,
    )
    return Section(
        "E002-5",
        "Rank-one ReLU data (SPEC §4.2 table)",
        "X = c aᵀ (n = 8, d = 3, ||a|| = 2.534664), y = γ+ c+ + γ− c−, weight decay on all "
        "layers, L = 3, widths 4. [!] [002] Thm. 5 claims strong duality for all rank-one data; "
        "the numbers show a strict gap exactly when γ+γ− < 0 (SPEC §6.2), and non-convex "
        "training reaches P, never D. (The non-convex runs are shared with E000-4, which times "
        "them when both papers run.)",
        [comparison_table("e002_5_rank_one", "Rank-one ReLU, L = 3", rows)],
        [figure],
        info["seconds"],
    )


def run(s: Settings) -> list[Section]:
    """All experiments of [002] (SPEC §5.1), in order."""
    return [stairs(s), table1(s), linear_depth(s), nuclear(s), rank_one(s)]
