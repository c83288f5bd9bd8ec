"""Duality gap against depth, standard vs parallel, linear and ReLU: [002] Table 1 as numbers
(SPEC §2.5, §2.7, §4.2, §4.4, §5.1 E002-2/E002-3/E002-5), plus the 1-D spline figure (§4.3).

Run: PYTHONPATH=src python experiments/deep_relu_gap_vs_depth.py [--figures DIR] [--only gap|spline]

Instances and numbers: see :mod:`convexnet.reproduce.gap_vs_depth`, which holds the code (this
script re-exports it) and docs/deep_relu.md.
"""

from __future__ import annotations

import argparse

import numpy as np

from convexnet.reproduce.gap_vs_depth import (  # noqa: F401  (re-exported for tests and users)
    A_NORM,
    DepthRow,
    draw_gap_vs_depth,
    format_table,
    gap_vs_depth,
    linear_instance,
    relu_instance,
)


def draw_spline(figdir) -> None:
    from matplotlib.figure import Figure

    from convexnet.baselines import deep_relu_forward, train_deep_relu_nonconvex
    from convexnet.deep_relu import spline_interpolation

    rng = np.random.default_rng(0)
    rng.normal(size=8), rng.normal(size=3)  # keep the stream of the original script
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--figures", default=None, help="directory for the PNG figures")
    ap.add_argument("--only", choices=("gap", "spline"), default=None)
    args = ap.parse_args(argv)
    if args.only != "spline":
        rows = gap_vs_depth()
        print(format_table(rows))
        if args.figures:
            draw_gap_vs_depth(rows, f"{args.figures}/deep_relu_gap_vs_depth.png")
    if args.figures and args.only != "gap":
        draw_spline(args.figures)


if __name__ == "__main__":
    main()
