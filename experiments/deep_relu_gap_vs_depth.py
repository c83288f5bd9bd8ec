"""Duality gap against depth, standard vs parallel deep ReLU, on one rank-one instance
(SPEC §4.2, §5.1 E002-2/E002-5), plus the 1-D spline figure (SPEC §4.3).

Run: PYTHONPATH=src python experiments/deep_relu_gap_vs_depth.py [--figures DIR]
"""

import sys

import numpy as np

from convexnet.deep_relu import parallel_deep_relu, rank_one_min_norm, spline_interpolation


def main(figdir=None):
    rng = np.random.default_rng(0)
    c, a = rng.normal(size=8), rng.normal(size=3)
    a *= 2.534664 / np.linalg.norm(a)
    X = np.outer(c, a)
    y = np.maximum(c, 0) - np.maximum(-c, 0)  # mixed signs (1, -1)
    print("L | standard P (WD) | standard D | gap (standard) | parallel CG primal | CG bound")
    for L in (3, 4, 5):
        r = rank_one_min_norm(X, y, depth=L)
        p = parallel_deep_relu(X, y, depth=L, n_starts=16, oracle_steps=80)
        gap = f"{r.gap_lower:.6f}..{r.gap:.6f}" if r.status == "bounds" else f"{r.gap:.6f}"
        print(
            f"{L} | {r.primal_lower:.6f}..{r.primal_upper:.6f} | {r.dual_value:.6f} | {gap} | "
            f"{p.primal_value:.6f} | {p.dual_bound:.6f} ({p.bound_label})"
        )
    if figdir:
        from matplotlib.figure import Figure

        from convexnet.baselines import deep_relu_forward, train_deep_relu_nonconvex

        x = np.sort(rng.uniform(-2, 2, 7))
        yy = np.sin(2 * x)
        fig = Figure(figsize=(6, 3.5))
        ax = fig.subplots()
        s = spline_interpolation(x, yy)
        s.plot(ax=ax)
        g = np.linspace(-2.6, 2.6, 300)
        for L in (2, 3):
            res = train_deep_relu_nonconvex(
                x[:, None], yy, [20] * (L - 1), biases=True, alpha=1e-3, n_starts=3
            )
            out = deep_relu_forward(g[:, None], res.branches)[:, 0]
            ax.plot(g, out, "--", label=f"trained L={L}")
        ax.legend(fontsize=8)
        fig.savefig(f"{figdir}/deep_relu_spline.png", dpi=90)


if __name__ == "__main__":
    main(sys.argv[2] if len(sys.argv) > 2 and sys.argv[1] == "--figures" else None)
