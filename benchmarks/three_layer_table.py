"""Convex three-layer vs convex two-layer vs non-convex training of both (SPEC.md §5.3, E001-2).

Bundled scikit-learn data (or a CSV with --csv FILE --target COLUMN): standardise, PCA to 2
components, ones column for the bias, ``n_train`` training rows (the rest, up to 200, test).
Objectives are sums (SPEC §0.4): squared loss for regression, logistic for binary labels; the
three-layer objective is R1 (SPEC §3.2), the two-layer one weight decay. Writes a Markdown table.

    PYTHONPATH=src python benchmarks/three_layer_table.py --out docs/three_layer_table.md
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn import datasets
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from convexnet.baselines import train_three_layer_nonconvex, train_two_layer_nonconvex
from convexnet.losses import LogisticLoss, SquaredLoss
from convexnet.patterns import sample_patterns
from convexnet.three_layer import train_three_layer, two_layer_comparison


def load(name, csv=None, target=None):
    if csv:
        data = np.genfromtxt(csv, delimiter=",", names=True)
        y = data[target]
        X = np.column_stack([data[c] for c in data.dtype.names if c != target])
        if len(np.unique(y)) > 2:
            return X, y, True
        return X, (y == y.max()).astype(float), False  # two labels, any values: 0/1
    if name == "diabetes":
        X, y = datasets.load_diabetes(return_X_y=True)
        return X, y, True
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    return X, (y == y.max()).astype(float), False  # one-vs-rest on the last class


def score(pred, y, regression):
    if regression:
        return 1.0 - np.sum((pred - y) ** 2) / np.sum((y - y.mean()) ** 2)
    return float(np.mean(np.sign(pred) == y))


def run(name, X, y, regression, n_train, alpha, seed):
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(y))
    tr, te = idx[:n_train], idx[n_train : n_train + 200]
    Z = PCA(2).fit_transform(StandardScaler().fit_transform(X))
    Z = np.hstack([Z, np.ones((len(Z), 1))])
    if regression:
        t = (y - y[tr].mean()) / y[tr].std()
        loss, lname = SquaredLoss(), "squared"
    else:
        t = 2.0 * y - 1.0
        loss, lname = LogisticLoss(), "logistic"
    Xtr, Xte, ytr, yte = Z[tr], Z[te], t[tr], t[te]
    rows = []
    pats = sample_patterns(Xtr, 8, random_state=seed)
    start = time.perf_counter()
    fit = train_three_layer(
        Xtr,
        ytr,
        loss,
        alpha,
        pats,
        width=2,
        second_layer_patterns=4,
        max_blocks=120,
        random_state=seed,
        tol=1e-6,
    )
    t3 = time.perf_counter() - start
    net = fit.network
    rows.append(
        (
            "convex three-layer (m1=2)",
            fit.objective,
            fit.certificate.dual,
            score(net.predict(Xtr)[:, 0], ytr, regression),
            score(net.predict(Xte)[:, 0], yte, regression),
            t3,
        )
    )
    start = time.perf_counter()
    two = two_layer_comparison(fit, tol=1e-6)
    t2 = time.perf_counter() - start
    rows.append(
        (
            "convex two-layer",
            two.objective,
            two.certificate.dual,
            score(two.network.predict(Xtr)[:, 0], ytr, regression),
            score(two.network.predict(Xte)[:, 0], yte, regression),
            t2,
        )
    )
    start = time.perf_counter()
    nc3 = train_three_layer_nonconvex(
        Xtr,
        ytr,
        n_subnetworks=8,
        width=2,
        alpha=alpha,
        loss=lname,
        regularizer="R1",
        optimizer="adam",
        n_starts=5,
        max_iter=1000,
        random_state=seed,
    )
    rows.append(
        (
            "non-convex three-layer R1, Adam, 5 starts, K=8",
            nc3.best_objective,
            None,
            score(nc3.best.predict(Xtr)[:, 0], ytr, regression),
            score(nc3.best.predict(Xte)[:, 0], yte, regression),
            time.perf_counter() - start,
        )
    )
    start = time.perf_counter()
    nc2 = train_two_layer_nonconvex(
        Xtr, ytr, width=16, alpha=alpha, loss=lname, n_starts=5, max_iter=1000, random_state=seed
    )
    rows.append(
        (
            "non-convex two-layer, L-BFGS, 5 starts, m=16",
            nc2.best_objective,
            None,
            score(nc2.best.predict(Xtr)[:, 0], ytr, regression),
            score(nc2.best.predict(Xte)[:, 0], yte, regression),
            time.perf_counter() - start,
        )
    )
    metric = "R^2" if regression else "accuracy"
    lines = [
        f"\n**{name}** ({n_train} train / {len(te)} test rows, PCA 2 + bias, "
        f"alpha={alpha:g}, {metric}; convex programs over the same 8 sampled first-layer "
        f"draws, {fit.program.n_blocks} three-layer blocks)\n",
        "| model | objective | dual bound | train | test | time (s) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        dual = "—" if r[2] is None else f"{r[2]:.6f}"
        lines.append(f"| {r[0]} | {r[1]:.6f} | {dual} | {r[3]:.3f} | {r[4]:.3f} | {r[5]:.1f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", default="diabetes,breast_cancer,wine")
    parser.add_argument("--csv")
    parser.add_argument("--target")
    parser.add_argument("--n-train", type=int, default=30)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out")
    args = parser.parse_args()
    parts = [
        "Command: `PYTHONPATH=src python benchmarks/three_layer_table.py "
        f"--n-train {args.n_train} --alpha {args.alpha:g} --seed {args.seed}`"
    ]
    sources = (
        [(args.csv, *load(None, args.csv, args.target))]
        if args.csv
        else [(n, *load(n)) for n in args.datasets.split(",")]
    )
    for name, X, y, regression in sources:
        parts.append(run(name, X, y, regression, args.n_train, args.alpha, args.seed))
    text = "\n".join(parts) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
