"""One first-order solve against Clarabel on a planted-teacher program (numbers in docs/solvers.md).

    OPENBLAS_NUM_THREADS=1 python benchmarks/exact_case.py N D P FRAC {e|g} [--clarabel] [--verbose]

Data: X ~ N(0, I) (N x D), y = a 3-neuron ReLU teacher + noise (seed 0); P Gaussian patterns;
alpha = FRAC * max_i ||X^T D_i y||. "e": exact ReLU program (augmented Lagrangian + polish),
"g": gated (FISTA). Prints wall and CPU time, status, iterations, objective, certified gap,
violation and the fraction of active patterns; with --clarabel also Clarabel's time and the
relative difference.
"""

import argparse
import time

import numpy as np

from convexnet.losses import get_loss
from convexnet.patterns import sample_patterns
from convexnet.programs.two_layer import TwoLayerProgram
from convexnet.solvers.conic import solve_two_layer_conic
from convexnet.solvers.first_order import solve_two_layer_first_order


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=int)
    parser.add_argument("d", type=int)
    parser.add_argument("patterns", type=int)
    parser.add_argument("frac", type=float)
    parser.add_argument("kind", choices=["e", "g"])
    parser.add_argument("--max-iter", type=int, default=20000)
    parser.add_argument("--clarabel", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.n, args.d))
    w = rng.standard_normal((args.d, 3))
    y = np.maximum(X @ w, 0) @ np.array([1, -1, 0.5]) + 0.1 * rng.standard_normal(args.n)
    pat = sample_patterns(X, args.patterns, random_state=0)
    D = pat.D.astype(float)
    alpha = args.frac * np.linalg.norm(X.T @ (D * y[:, None]), axis=0).max()
    prog = TwoLayerProgram(
        X, y[:, None], pat.D, pat.generators, get_loss("squared"), alpha, gated=args.kind == "g"
    )
    t, cpu = time.perf_counter(), time.process_time()
    sol = solve_two_layer_first_order(prog, tol=1e-6, verbose=args.verbose, max_iter=args.max_iter)
    elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
    active = (np.linalg.norm(sol.V, axis=1) > 0).mean()
    print(
        f"ours {elapsed:.2f}s (cpu {cpu:.2f}s) {sol.status} it={sol.iterations} "
        f"objective={sol.info['primal']:.10g} "
        f"gap={sol.info['relative_gap']:.2e} violation={sol.info['violation']:.1e} "
        f"active={active:.2f}"
    )
    if args.clarabel:
        t, cpu = time.perf_counter(), time.process_time()
        ref = solve_two_layer_conic(prog, solver="CLARABEL", tol=1e-8, max_iter=200)
        elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
        rel = (sol.info["primal"] - ref.objective) / ref.objective
        print(f"clarabel {elapsed:.2f}s (cpu {cpu:.2f}s) {ref.status} rel diff {rel:.1e}")


if __name__ == "__main__":
    main()
