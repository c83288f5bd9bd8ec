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
from cross_over import program  # the same planted data (benchmarks/ is on sys.path)

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
    spec = f"sq:{args.n}:{args.d}:{args.patterns}"
    prog = program(spec, args.frac, gated=args.kind == "g")
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
