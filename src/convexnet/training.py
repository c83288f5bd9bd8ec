"""The two-layer pipeline: patterns -> convex program -> solver -> certificate -> network weights.

:func:`train_two_layer` is what the estimators call; it works on validated arrays (the ones column
of a bias already appended) and returns everything a caller may want to report.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from convexnet import patterns as _patterns
from convexnet._validation import physical_memory
from convexnet.certificates import Certificate, certify_two_layer
from convexnet.networks import TwoLayerNetwork, recover_two_layer
from convexnet.programs.two_layer import TwoLayerProgram, TwoLayerSolution
from convexnet.solvers.conic import resolve_solver, solve_two_layer_conic

__all__ = ["TwoLayerFit", "train_two_layer", "choose_patterns", "available_memory"]

#: ``activation_patterns="auto"`` enumerates when the Cover bound is at most this many patterns.
AUTO_ENUMERATION_LIMIT = 512
#: ``activation_patterns="sample"`` draws this many Gaussian gates.
DEFAULT_N_SAMPLES = 100


@dataclass
class TwoLayerFit:
    """Everything a two-layer fit produced."""

    network: TwoLayerNetwork
    certificate: Certificate
    solution: TwoLayerSolution
    program: TwoLayerProgram
    patterns: object
    objective: float
    status: str


def available_memory() -> int:
    """Bytes of physical memory on this machine (a conservative 4 GiB if unknown)."""
    return physical_memory() or 4 * 2**30


def choose_patterns(X: np.ndarray, activation_patterns, random_state) -> object:
    """Activation patterns for ``X`` from the estimators' ``activation_patterns`` parameter.

    ``"enumerate"``: every pattern (exact; refused with a message when too many).
    ``"sample"`` or an int ``k``: ``k`` Gaussian gates (100 for ``"sample"``), de-duplicated.
    ``"auto"``: enumerate when the Cover bound on the count is at most
    ``AUTO_ENUMERATION_LIMIT`` (and, beyond rank 3, when the LP enumeration is short), otherwise
    sample ``DEFAULT_N_SAMPLES``.
    """
    if isinstance(activation_patterns, bool):
        raise TypeError("activation_patterns must be 'auto', 'enumerate', 'sample' or an int.")
    if isinstance(activation_patterns, int | np.integer):
        if activation_patterns < 1:
            raise ValueError(
                f"activation_patterns must be a positive number of samples, "
                f"got {activation_patterns}."
            )
        return _patterns.sample_patterns(X, int(activation_patterns), random_state=random_state)
    if activation_patterns not in ("auto", "enumerate", "sample"):
        raise ValueError(
            "activation_patterns must be 'auto', 'enumerate', 'sample' or a positive int, "
            f"got {activation_patterns!r}."
        )
    if activation_patterns == "sample":
        return _patterns.sample_patterns(X, DEFAULT_N_SAMPLES, random_state=random_state)
    if activation_patterns == "auto":
        rank = int(np.linalg.matrix_rank(X)) if X.size else 0
        bound = _patterns.count_bound(X.shape[0], rank)
        # Beyond rank 3 enumeration solves about 2 n P small LPs: keep "auto" to a few seconds.
        too_slow = rank > 3 and 2 * X.shape[0] * bound.cover > 20_000
        if bound.cover > AUTO_ENUMERATION_LIMIT or too_slow:
            return _patterns.sample_patterns(X, DEFAULT_N_SAMPLES, random_state=random_state)
    return _patterns.enumerate_patterns(X)


def _check_memory(program: TwoLayerProgram) -> None:
    need = program.memory_estimate()
    have = available_memory()
    if need > 0.5 * have:
        raise MemoryError(
            f"the conic program would need about {need / 2**30:.1f} GiB "
            f"({program.n_patterns} patterns x {program.n_samples} samples x "
            f"{program.n_features} features), more than half of this machine's "
            f"{have / 2**30:.1f} GiB. Use fewer patterns (activation_patterns=<int>), "
            "fewer samples or features, or gated=True."
        )


def _recover_and_certify(program, solution, patterns, interpolate):
    network = recover_two_layer(program, solution.V, solution.W)
    X, Y = program.X, program.Y
    if interpolate:
        objective = network.penalty()
    else:
        objective = network.objective(X, Y, program.loss, program.alpha)
    certificate = certify_two_layer(
        X,
        Y,
        program.D,
        program.loss,
        program.alpha,
        network.predict(X),
        objective,
        gated=program.gated,
        complete=patterns.is_complete,
        interpolate=interpolate,
        equality_dual=solution.equality_dual,
    )
    return solution, network, certificate, float(objective)


def train_two_layer(
    X: np.ndarray,
    Y: np.ndarray,
    loss,
    alpha: float,
    patterns,
    *,
    gated: bool = False,
    interpolate: bool = False,
    solver: str = "auto",
    tol: float = 1e-6,
    max_iter: int = 200,
    verbose: bool = False,
) -> TwoLayerFit:
    """Solve the two-layer program over ``patterns``, recover the network and certify it.

    ``tol`` is the target *relative duality gap*. The conic solver starts at the tolerance
    ``min(1e-8, tol / 100)`` and is tightened (down to ``1e-12``) while the certified gap exceeds
    ``tol``. ``solver="auto"`` tries Clarabel, then SCS if Clarabel fails or stays above ``tol``
    (Clarabel can stall on the exponential cones of the cross-entropy); the best certified
    solution is kept and ``solution.solver`` says which solver produced it. The first-order SCS
    gets ``100 * max_iter`` iterations. The returned status is ``"optimal"`` when the certified
    relative gap is at most ``tol``; otherwise ``"inaccurate"`` with a :class:`ConvergenceWarning`.
    """
    program = TwoLayerProgram(
        X, Y, patterns.D, patterns.generators, loss, alpha, gated=gated, interpolate=interpolate
    )
    _check_memory(program)
    if verbose:
        print(f"[convexnet] {program.describe()}")
    if isinstance(solver, str) and solver.lower() == "auto":
        candidates = ["CLARABEL", "SCS"]
    else:
        candidates = [resolve_solver(solver)]
    best, failures = None, []
    for name in candidates:
        solver_tol = min(1e-8, tol * 1e-2)
        while True:
            solution = solve_two_layer_conic(
                program,
                solver=name,
                tol=solver_tol,
                max_iter=100 * max_iter if name == "SCS" else max_iter,
                verbose=verbose,
            )
            if solution.status in ("infeasible", "unbounded", "failed"):
                failures.append(f"{name}: {solution.status} {solution.info}")
                break
            attempt = _recover_and_certify(program, solution, patterns, interpolate)
            if best is None or attempt[2].relative_gap < best[2].relative_gap:
                best = attempt
            if attempt[2].relative_gap <= tol or solver_tol <= 1e-12:
                break
            if solution.status != "optimal":  # hit max_iter: a tighter tol cannot help
                break
            solver_tol = max(solver_tol * 1e-2, 1e-12)
            if verbose:
                gap = attempt[2].relative_gap
                print(f"[convexnet] gap {gap:.2e} > tol; re-solving at solver tol {solver_tol:g}")
        if best is not None and best[2].relative_gap <= tol:
            break
    if best is None:
        raise RuntimeError(
            "no solver produced a solution (" + "; ".join(failures) + "); try another solver "
            "(solver=...), a larger alpha or fewer patterns."
        )
    solution, network, certificate, objective = best
    status = "optimal" if certificate.relative_gap <= tol else "inaccurate"
    if status != "optimal":
        warnings.warn(
            f"convexnet: the {solution.solver} solver stopped with status '{solution.status}' "
            f"and a certified relative duality gap of {certificate.relative_gap:.2e} "
            f"(tol={tol:g}); increase max_iter or loosen tol.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return TwoLayerFit(
        network=network,
        certificate=certificate,
        solution=solution,
        program=program,
        patterns=patterns,
        objective=float(objective),
        status=status,
    )
