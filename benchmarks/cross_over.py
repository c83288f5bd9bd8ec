"""Exact ReLU cross-over against Clarabel: mid-sized programs where Clarabel takes over 10 s.

    OPENBLAS_NUM_THREADS=1 python benchmarks/cross_over.py [--repeat 2] [--cases sq:500:20:100 ...]

Per case ``loss:n:d:P`` (``sq`` squared, ``lg`` logistic): the planted data of
``benchmarks/growth.py`` (``X ~ N(0, I)``, ``n x d``, seed 0; a 3-neuron ReLU teacher
``relu(X W) [1, -1, 0.5]`` plus noise 0.1; the logistic labels, +-1, split it at its median).
``P`` Gaussian patterns (seed 0), ``alpha = 0.1 max_i ||X^T D_i lam0||`` with
``lam0 = -grad loss(0)``. The same exact program is solved by
:func:`convexnet.solvers.first_order.solve_two_layer_first_order` at ``tol=1e-6`` (the best of
``--repeat`` runs, each certified) and by Clarabel through CVXPY at ``tol`` 1e-6, the issue's
"time to a relative gap of 1e-6", and at 1e-8 (CVXPY's compilation included in both). Printed
as a markdown table: times, ratios, Clarabel's status and its objective relative to our
certified one.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from growth import planted  # the same planted teacher (benchmarks/ is on sys.path)

from convexnet.losses import get_loss
from convexnet.patterns import sample_patterns
from convexnet.programs.two_layer import TwoLayerProgram
from convexnet.solvers.conic import solve_two_layer_conic
from convexnet.solvers.first_order import solve_two_layer_first_order

CASES = [
    "sq:500:10:50",
    "sq:500:20:100",
    "sq:1000:10:100",
    "lg:500:10:50",
    "lg:500:20:100",
    "lg:1000:10:100",
]


def program(spec: str, frac: float = 0.1, gated: bool = False) -> TwoLayerProgram:
    """The planted program of ``spec`` (``loss:n:d:P``), ``alpha = frac * alpha_max``."""
    kind, n, d, P = spec.split(":")
    n, d, P = int(n), int(d), int(P)
    X, y = planted(n, d, "regression" if kind == "sq" else "classification")
    loss = get_loss("squared" if kind == "sq" else "logistic")
    Y = (y if kind == "sq" else 2.0 * y - 1.0)[:, None]
    pat = sample_patterns(X, P, random_state=0)
    lam0 = -loss.gradient(np.zeros_like(Y), Y)
    alpha = frac * float(np.linalg.norm(X.T @ (pat.D * lam0), axis=0).max())
    return TwoLayerProgram(X, Y, pat.D, pat.generators, loss, alpha, gated=gated)


def run(spec: str, repeat: int) -> dict:
    prog = program(spec)
    times, sol = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        sol = solve_two_layer_first_order(prog, tol=1e-6)
        times.append(time.perf_counter() - t)
    row = {"spec": spec, "ours": min(times), "status": sol.status}
    row["gap"], row["primal"] = sol.info["relative_gap"], sol.info["primal"]
    for tol in (1e-6, 1e-8):
        t = time.perf_counter()
        ref = solve_two_layer_conic(prog, solver="CLARABEL", tol=tol, max_iter=200)
        elapsed = time.perf_counter() - t
        rel = (ref.objective - row["primal"]) / abs(row["primal"])
        row[tol] = (elapsed, ref.status, rel)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", nargs="+", default=CASES)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    print(
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
        f"load {os.getloadavg()[0]:.2f}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    print(
        "| case | ours s | status, certified gap | Clarabel 1e-6 s | ratio | status, objective "
        "vs ours | Clarabel 1e-8 s | ratio | status, objective vs ours |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for spec in args.cases:
        r = run(spec, args.repeat)
        cells = [spec, f"{r['ours']:.2f}", f"{r['status']}, {r['gap']:.1e}"]
        for tol in (1e-6, 1e-8):
            elapsed, status, rel = r[tol]
            cells += [f"{elapsed:.2f}", f"{elapsed / r['ours']:.1f}x", f"{status}, {rel:+.1e}"]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
