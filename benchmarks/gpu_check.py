"""GPU check of the first-order solvers (run by hand on a CUDA machine; results in docs/solvers.md).

1. Correctness: the same program solved on NumPy (CPU) and on a CUDA tensor agrees.
2. Scale: gated and exact programs at n = 100000 on the GPU (float64 and float32), with the time,
   the iterations, the certified relative gap and the peak GPU memory; and the time of the same
   number of iterations on the CPU (NumPy, all cores) for the ratio.

    python benchmarks/gpu_check.py --out results.json
    python benchmarks/gpu_check.py --programs exact --d 10 --skip-cpu --out exact.json

Results are written after every case, so a run cut by a time limit keeps what it finished.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from convexnet.losses import get_loss
from convexnet.patterns import sample_patterns
from convexnet.programs.two_layer import TwoLayerProgram
from convexnet.solvers.first_order import solve_two_layer_first_order


def planted(n: int, d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.standard_normal((n, d)), np.ones((n, 1))])
    W = rng.standard_normal((d + 1, 5))
    y = np.maximum(X @ W, 0) @ rng.standard_normal(5) + 0.1 * rng.standard_normal(n)
    return X, y[:, None]


def program(n, d, P, gated, frac=0.3, seed=0):
    X, Y = planted(n, d, seed)
    pat = sample_patterns(X, P, random_state=seed)
    Df = pat.D.astype(float)
    alpha_max = float(np.linalg.norm(X.T @ (Df * Y), axis=0).max())
    return TwoLayerProgram(
        X, Y, pat.D, pat.generators, get_loss("squared"), frac * alpha_max, gated=gated
    )


def run(prog, device, dtype, max_iter, tol=1e-6):
    import torch

    if device and device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    sol = solve_two_layer_first_order(prog, tol=tol, max_iter=max_iter, device=device, dtype=dtype)
    if device and device.startswith("cuda"):
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t
    peak = torch.cuda.max_memory_allocated() if device and device.startswith("cuda") else None
    return {
        "n": prog.n_samples,
        "d": prog.n_features,
        "P": prog.n_patterns,
        "gated": prog.gated,
        "device": device or "numpy",
        "dtype": dtype,
        "time_s": round(elapsed, 3),
        "iterations": sol.iterations,
        "status": sol.status,
        "objective": sol.info["primal"],
        "relative_gap": sol.info["relative_gap"],
        "active_fraction": float(np.mean(np.linalg.norm(sol.V, axis=1)[:, 0] > 0)),
        "peak_gpu_GiB": None if peak is None else round(peak / 2**30, 2),
    }


def main() -> None:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="gpu_check.json")
    parser.add_argument("--max-iter", type=int, default=3000)
    parser.add_argument("--programs", default="gated,exact", help="gated, exact or both")
    parser.add_argument("--d", type=int, default=50, help="features of the n = 100000 cases")
    parser.add_argument("--patterns", default="100,1000", help="pattern counts at n = 100000")
    parser.add_argument("--skip-check", action="store_true", help="no small CPU-vs-CUDA check")
    parser.add_argument("--skip-cpu", action="store_true", help="no capped CPU comparison")
    parser.add_argument("--float32", action="store_true", help="also run float32 at scale")
    args = parser.parse_args()
    info = {
        "gpu": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    programs = [p.strip() for p in args.programs.split(",")]
    results = []

    def record(row):
        results.append(row)
        print(row, flush=True)
        with open(args.out, "w") as fh:
            json.dump({"machine": info, "results": results}, fh, indent=1, default=float)

    # 1. correctness, small
    if not args.skip_check:
        for gated in [p == "gated" for p in programs]:
            prog = program(2000, 10, 50, gated)
            a = run(prog, None, "float64", 20000)
            b = run(prog, "cuda", "float64", 20000)
            rel = abs(a["objective"] - b["objective"]) / abs(a["objective"])
            record({"check": "cpu_vs_cuda", "gated": gated, "rel_diff": rel, "cpu": a, "cuda": b})
    # 2. scale
    for gated in [p == "gated" for p in programs]:
        for P in [int(p) for p in args.patterns.split(",")]:
            prog = program(100_000, args.d, P, gated)
            for dtype in ("float64", "float32") if args.float32 else ("float64",):
                tol = 1e-6 if dtype == "float64" else 1e-4
                record(run(prog, "cuda", dtype, args.max_iter, tol=tol))
            if not args.skip_cpu:
                iters = max(results[-1]["iterations"], 1)
                c = run(prog, None, "float64", min(iters, 200))
                c["note"] = "CPU NumPy, same program, capped at 200 iterations"
                record(c)


if __name__ == "__main__":
    main()
