"""The ``convexnet`` command.

``convexnet fit`` trains a two-layer ReLU network to a certified optimum on a dataset bundled
with scikit-learn (diabetes regression by default) or on a CSV file, and prints the patterns,
objective, dual bound, gap, scores and time. ``convexnet reproduce [000|001|002|all]`` redoes
the papers' numerical experiments and writes a report (``convexnet.reproduce``,
``docs/reproduce.md``).
"""

from __future__ import annotations

import argparse
import csv
import sys
import threading
import time
import warnings
from contextlib import contextmanager

import numpy as np

__all__ = ["main"]

BUNDLED = ("diabetes", "breast_cancer", "iris", "wine")


@contextmanager
def progress(message: str, stream=None, delay: float = 2.0):
    """Show ``message`` with the elapsed time while the block runs longer than ``delay`` s."""
    stream = stream or sys.stderr
    done = threading.Event()
    start = time.perf_counter()
    tty = hasattr(stream, "isatty") and stream.isatty()

    def spin():
        frames = "|/-\\"
        k = 0
        if done.wait(delay):
            return
        if not tty:
            stream.write(f"[convexnet] {message} (still running after {delay:.0f} s)\n")
            stream.flush()
            return
        while not done.wait(0.2):
            elapsed = time.perf_counter() - start
            stream.write(f"\r{frames[k % 4]} {message} {elapsed:6.1f} s")
            stream.flush()
            k += 1

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        if tty and time.perf_counter() - start > delay:
            stream.write("\r" + " " * (len(message) + 12) + "\r")
            stream.flush()


def _load_bundled(name: str):
    from sklearn import datasets

    loader = getattr(datasets, f"load_{name}")
    data = loader()
    task = "regression" if name == "diabetes" else "classification"
    return data.data, data.target, task, f"scikit-learn {name}"


def _load_csv(path: str, target: str):
    try:
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise SystemExit(f"convexnet: cannot read --data {path!r}: {exc}") from exc
    if len(rows) < 2:
        raise SystemExit(f"convexnet: --data {path!r} needs a header row and at least one row.")
    header, body = rows[0], [r for r in rows[1:] if r]
    if target not in header:
        raise SystemExit(f"convexnet: --target {target!r} is not a column of {path}: {header}")
    t = header.index(target)
    y_raw = [r[t] for r in body]
    X = []
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise SystemExit(
                f"convexnet: {path} line {line} has {len(row)} fields, not {len(header)}."
            )
        feats = [v for j, v in enumerate(row) if j != t]
        try:
            X.append([float(v) for v in feats])
        except ValueError as exc:
            raise SystemExit(
                f"convexnet: {path} line {line}: feature columns must be numeric ({exc})."
            ) from exc
    X = np.asarray(X, dtype=float)
    try:
        y = np.asarray([float(v) for v in y_raw])
        distinct = np.unique(y)
        integer = np.all(distinct == np.round(distinct))
        task = "classification" if integer and len(distinct) <= 10 else "regression"
    except ValueError:
        y = np.asarray(y_raw)
        task = "classification"
    return X, y, task, path


def _parse_patterns(value: str):
    if value in ("auto", "grow", "enumerate", "sample"):
        return value
    try:
        k = int(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            "--patterns must be auto, grow, enumerate, sample or a number of samples"
        ) from exc
    if k < 1:
        raise argparse.ArgumentTypeError("--patterns must be a positive number of samples")
    return k


def _fit(args) -> int:
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from convexnet import ConvexReLUClassifier, ConvexReLURegressor
    from convexnet.estimators_three_layer import (
        ConvexThreeLayerClassifier,
        ConvexThreeLayerRegressor,
    )

    if args.data:
        if not args.target:
            raise SystemExit("convexnet: --data needs --target COLUMN.")
        X, y, task, source = _load_csv(args.data, args.target)
    else:
        X, y, task, source = _load_bundled(args.dataset)
    if args.task != "auto":
        task = args.task
    stratify = y if task == "classification" else None
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=args.test_size, random_state=args.seed, stratify=stratify
    )
    params = dict(
        alpha=args.alpha,
        activation_patterns=args.patterns,
        solver=args.solver,
        tol=args.tol,
        random_state=args.seed,
    )
    three = args.model == "three-layer"
    if three:
        if args.gated:
            raise SystemExit("convexnet: --gated is not available with --model three-layer.")
        if args.width < 1:
            raise SystemExit(f"convexnet: --width must be at least 1, got {args.width}.")
        params.update(width=args.width)
        classifier, regressor = ConvexThreeLayerClassifier, ConvexThreeLayerRegressor
    else:
        params.update(gated=args.gated)
        classifier, regressor = ConvexReLUClassifier, ConvexReLURegressor
    if task == "classification":
        model = classifier(**params)
        pipe = make_pipeline(StandardScaler(), model)
    else:
        model = regressor(**params)
        pipe = make_pipeline(
            StandardScaler(),
            TransformedTargetRegressor(regressor=model, transformer=StandardScaler()),
        )
    kind = "gated ReLU" if args.gated else "ReLU"
    print(f"data        {source}: {X.shape[0]} samples, {X.shape[1]} features, {task}")
    print(f"split       {len(y_tr)} train / {len(y_te)} test (seed {args.seed}), standardised")
    if three:
        print(
            f"model       three-layer parallel ReLU network, width m1={args.width}, "
            f"alpha={args.alpha:g}, regulariser R1, objective as sums"
        )
    else:
        print(f"model       two-layer {kind} network, alpha={args.alpha:g}, objective as sums")
    if args.threads < 0:
        raise SystemExit(f"convexnet: --threads must be 0 or more, got {args.threads}.")
    from threadpoolctl import threadpool_limits

    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with (
            threadpool_limits(limits=args.threads or None),
            progress("solving the convex program"),
        ):
            pipe.fit(X_tr, y_tr)
    elapsed = time.perf_counter() - start
    fitted = pipe[-1] if task == "classification" else pipe[-1].regressor_
    cert = fitted.certificate_
    complete = "all patterns (enumerated)" if fitted.patterns_complete_ else "sampled"
    if three:
        complete = "complete" if fitted.patterns_complete_ else "sampled"
        print(
            f"patterns    {fitted.n_patterns_} first-layer patterns, {fitted.n_blocks_} blocks "
            f"({complete})"
        )
        print(f"subnetworks {fitted.n_subnetworks_} (width {args.width})")
    else:
        if fitted.growth_ is not None:
            g = fitted.growth_
            complete = (
                f"grown in {g['rounds']} rounds from {g['seeds']['pool']} seeds: {g['reason']}"
            )
        print(f"patterns    {fitted.n_patterns_} activation patterns, {complete}")
        print(f"neurons     {fitted.n_neurons_}")
    print(f"objective   {fitted.objective_:.10g}")
    print(f"dual bound  {fitted.dual_objective_:.10g}")
    print(f"gap         {fitted.duality_gap_:.3g} (relative {fitted.relative_duality_gap_:.3g})")
    print(f"certified   against {cert.scope}")
    if not three and fitted.network_.W2.shape[1] > 1:
        print(
            f"{'':12}bound for networks whose neurons feed every output: {cert.coupled_dual:.10g}"
        )
    if not cert.is_global:
        anynet = "any three-layer parallel network (R1/R3)" if three else "any network"
        print(f"            pattern-free bound valid for {anynet}: {cert.global_dual:.10g}")
        if cert.proven_dual is not None:
            print(
                f"proven      {cert.proven_dual:.10g}, gap {cert.proven_gap:.3g} (relative "
                f"{cert.proven_relative_gap:.3g}) over any width and any patterns "
                f"({cert.proven_method} bound on kappa)"
            )
    print(f"status      {fitted.status_}")
    metric = "accuracy" if task == "classification" else "R^2"
    print(f"train {metric:<5} {pipe.score(X_tr, y_tr):.4f}")
    print(f"test {metric:<6} {pipe.score(X_te, y_te):.4f}")
    print(f"time        {elapsed:.2f} s")
    for w in caught:
        print(f"warning     {w.message}", file=sys.stderr)
    return 0


def _reproduce(args) -> int:
    from convexnet.reproduce import PAPERS, reproduce

    papers = sorted(PAPERS) if args.paper == "all" else [args.paper]

    def log(message: str) -> None:
        print(f"[convexnet] {message}", file=sys.stderr, flush=True)

    try:
        path = reproduce(
            papers, args.out, quick=args.quick, seed=args.seed, online=args.online, log=log
        )
    except OSError as exc:
        raise SystemExit(f"convexnet: {exc}") from exc
    print(f"report      {path}")
    print(f"tables      {path.parent / 'tables'}")
    print(f"figures     {path.parent / 'figures'} (PNG and CSV)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convexnet", description="Neural networks trained to a certified global optimum."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser(
        "fit",
        help="train a two-layer ReLU network and print its certificate",
        description="Train a two-layer ReLU network through its convex reformulation. With no "
        "arguments: scikit-learn's diabetes data, 75/25 split.",
    )
    fit.add_argument("--dataset", choices=BUNDLED, default="diabetes", help="bundled dataset")
    fit.add_argument("--data", metavar="FILE.csv", help="a CSV file with a header row")
    fit.add_argument("--target", metavar="COLUMN", help="target column of --data")
    fit.add_argument("--task", choices=("auto", "regression", "classification"), default="auto")
    fit.add_argument("--model", choices=("two-layer", "three-layer"), default="two-layer")
    fit.add_argument(
        "--width", type=int, default=2, help="three-layer: first-layer neurons per sub-network"
    )
    fit.add_argument("--alpha", type=float, default=10.0, help="weight decay (sum scaling)")
    fit.add_argument(
        "--patterns",
        type=_parse_patterns,
        default="auto",
        help="auto (enumerate if few, else grow), grow, enumerate, sample or a number of "
        "sampled patterns",
    )
    fit.add_argument("--gated", action="store_true", help="gated ReLU instead of ReLU")
    fit.add_argument("--solver", default="auto", help="auto or an installed CVXPY solver")
    fit.add_argument("--tol", type=float, default=1e-6, help="target relative duality gap")
    fit.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS threads while fitting (default 1: on the small dense systems of the default "
        "job, one thread took 38 s and two 69 s on a 2-core machine); 0 leaves the default",
    )
    fit.add_argument("--test-size", type=float, default=0.25)
    fit.add_argument("--seed", type=int, default=0)
    fit.set_defaults(func=_fit)
    rep = sub.add_parser(
        "reproduce",
        help="redo the papers' numerical experiments and write a report",
        description="Redo the numerical experiments of the papers (SPEC.md §5) with the library: "
        "000 = Convex Duality of Deep Neural Networks, 001 = Global Optimality Beyond Two "
        "Layers, 002 = Parallel Deep Neural Networks Have Zero Duality Gap. Writes report.md, "
        "tables/*.csv and figures/*.png + *.csv under --out.",
    )
    rep.add_argument("paper", choices=("000", "001", "002", "all"), help="which paper")
    rep.add_argument("--quick", action="store_true", help="small variant (under 5 minutes)")
    rep.add_argument("--out", default="reproduce_out", help="output folder (created)")
    rep.add_argument("--seed", type=int, default=0, help="seed of the training runs")
    rep.add_argument(
        "--online", action="store_true", help="let [001]'s loaders try to download the data"
    )
    rep.set_defaults(func=_reproduce)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, MemoryError, RuntimeError) as exc:
        print(f"convexnet: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
