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
from convexnet.certificates import Certificate, certify_two_layer, prove_certificate
from convexnet.growth import GROWN_METHOD
from convexnet.networks import TwoLayerNetwork, recover_two_layer
from convexnet.programs.two_layer import TwoLayerProgram, TwoLayerSolution
from convexnet.solvers.conic import resolve_solver, solve_two_layer_conic
from convexnet.solvers.first_order import (
    FIRST_ORDER_METHODS,
    first_order_memory,
    solve_two_layer_first_order,
)
from convexnet.solvers.working_set import (
    BARRIER_LOSSES,
    barrier_applies,
    barrier_handles,
    barrier_max_patterns,
    solve_two_layer_barrier,
)

__all__ = [
    "TwoLayerFit",
    "train_two_layer",
    "choose_patterns",
    "grows_patterns",
    "available_memory",
    "solve_until_certified",
]

#: ``activation_patterns="auto"`` enumerates when the Cover bound is at most this many patterns.
AUTO_ENUMERATION_LIMIT = 512
#: ``activation_patterns="sample"`` draws this many Gaussian gates.
DEFAULT_N_SAMPLES = 100
PATTERN_MODES = ("auto", "grow", "enumerate", "sample")
#: ``solver="auto"`` switches to the first-order solvers when ``n * n_variables`` exceeds these.
#: Gated: below 2e5 Clarabel takes about a second or less, above it FISTA wins by 10x-300x
#: (docs/benchmarks.md). Exact with the cross-entropy (polished by Clarabel): the augmented
#: Lagrangian is only about as fast as Clarabel at ``n * n_variables ~ 4e6``, so "auto" keeps
#: Clarabel up to 1e7, beyond which Clarabel's time and memory grow fastest.
AUTO_FIRST_ORDER_GATED = 2e5
AUTO_FIRST_ORDER_EXACT = 1e7
#: Exact programs with the squared or logistic loss, whose augmented Lagrangian is polished by
#: the dense barrier: above 1e5 it wins by 2x-15x and more (squared 0.32 s against Clarabel's
#: 1.2 s at 2e5, 3.7 s against 54 s at 2e6; logistic 0.34 s against 0.78 s and 1.7 s against
#: 21 s; docs/solvers.md); below, both take a fraction of a second.
AUTO_FIRST_ORDER_EXACT_BARRIER = 1e5
#: The barrier's first tolerance is ``tol`` times this (the conic solvers': ``min(1e-8,
#: tol / 100)``), tightened by 100 while the certified gap stays above ``tol``. At ``tol`` 1e-4
#: (growth's loose rounds) its 1e-5 goes to the primal-dual method (working_set.PD_ALONE_TOL);
#: at 1e-6 the barrier's 1e-7 certified 1.6e-7 to 2e-7 on planted regression (n = 1000, d = 20,
#: 65-70 patterns) with 10% fewer Newton steps than 1e-8.
BARRIER_FIRST_TOL = 0.1
#: ... and keeps a primal-dual path that stalls at a gap of at most this fraction of ``tol``
#: without the barrier's hand-off (``accept_tol`` of ``solve_two_layer_barrier``). The
#: certified gap of such an iterate was up to 3x its own gap: accepted at ``tol`` (1e-6),
#: three working sets of planted regression (n = 1000, d = 51) certified 1.4e-6 to 2.9e-6 and
#: were solved again to 1e-9 (136-204 Newton steps each).
BARRIER_ACCEPT_FRACTION = 0.2


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


def _enumeration_is_small(X: np.ndarray) -> bool:
    """Whether "auto" enumerates: Cover bound at most ``AUTO_ENUMERATION_LIMIT`` and, beyond
    rank 3, at most about 20000 LPs (a few seconds)."""
    rank = int(np.linalg.matrix_rank(X)) if X.size else 0
    bound = _patterns.count_bound(X.shape[0], rank)
    too_slow = rank > 3 and 2 * X.shape[0] * bound.cover > 20_000
    return not (bound.cover > AUTO_ENUMERATION_LIMIT or too_slow)


def _check_pattern_parameter(activation_patterns) -> None:
    if isinstance(activation_patterns, bool):
        raise TypeError(
            "activation_patterns must be 'auto', 'grow', 'enumerate', 'sample' or an int."
        )
    if isinstance(activation_patterns, int | np.integer):
        if activation_patterns < 1:
            raise ValueError(
                f"activation_patterns must be a positive number of samples, "
                f"got {activation_patterns}."
            )
        return
    if activation_patterns not in PATTERN_MODES:
        raise ValueError(
            "activation_patterns must be 'auto', 'grow', 'enumerate', 'sample' or a positive "
            f"int, got {activation_patterns!r}."
        )


def grows_patterns(X: np.ndarray, activation_patterns) -> bool:
    """Whether ``activation_patterns`` asks for column generation (:mod:`convexnet.growth`).

    ``"grow"`` always; ``"auto"`` when enumeration is not small (see :func:`choose_patterns`).
    """
    _check_pattern_parameter(activation_patterns)
    if activation_patterns == "grow":
        return True
    return activation_patterns == "auto" and not _enumeration_is_small(X)


def choose_patterns(X: np.ndarray, activation_patterns, random_state) -> object:
    """A fixed set of activation patterns for ``X`` from ``activation_patterns``.

    ``"enumerate"``: every pattern (exact; refused with a message when too many).
    ``"sample"`` or an int ``k``: ``k`` Gaussian gates (100 for ``"sample"``), de-duplicated.
    ``"auto"``: enumerate when the Cover bound on the count is at most
    ``AUTO_ENUMERATION_LIMIT`` (and, beyond rank 3, when the LP enumeration is short). Beyond
    that the estimators grow the patterns (:func:`grows_patterns`); this function, used where
    one fixed set is needed (the alpha grid), then samples ``DEFAULT_N_SAMPLES``, as for
    ``"grow"``.
    """
    _check_pattern_parameter(activation_patterns)
    if isinstance(activation_patterns, int | np.integer):
        return _patterns.sample_patterns(X, int(activation_patterns), random_state=random_state)
    if activation_patterns in ("sample", "grow") or (
        activation_patterns == "auto" and not _enumeration_is_small(X)
    ):
        return _patterns.sample_patterns(X, DEFAULT_N_SAMPLES, random_state=random_state)
    return _patterns.enumerate_patterns(X)


def resolve_two_layer_solver(
    solver, program: TwoLayerProgram, *, working_set: bool = False
) -> list[str]:
    """The solvers to try, in order, for ``solver`` on ``program``.

    ``"auto"``: with ``working_set`` (the working sets of column generation,
    :mod:`convexnet.growth`) the dense barrier, then Clarabel and SCS, when the barrier applies
    (exact regularised program, squared or logistic loss, Newton system of at most
    ``BARRIER_MAX_BLOCK``): on planted regression, n = 1000, d = 20, growth took 108 s so, and
    over 9 minutes with the augmented Lagrangian. Otherwise the first-order solver
    (``"fista"`` for gated programs, ``"auglag"`` for exact ones) when ``n * n_variables``
    exceeds ``AUTO_FIRST_ORDER_*`` and the program is regularised, else Clarabel then SCS.
    ``"barrier"``: the dense barrier of
    :mod:`convexnet.solvers.working_set` (exact regularised program, squared or logistic loss),
    then Clarabel and SCS if it fails or its certified gap stays above ``tol``.
    ``"fista"``/``"auglag"``: the first-order solvers (FISTA needs a program without cones).
    Any other name: that CVXPY solver.
    """
    if not isinstance(solver, str):
        raise TypeError(f"solver must be a string, got {type(solver).__name__}.")
    name = solver.lower()
    if name == "auto":
        size = program.n_samples * program.n_variables
        if working_set and barrier_applies(program):
            return ["barrier", "CLARABEL", "SCS"]
        limit = AUTO_FIRST_ORDER_GATED if program.gated else AUTO_FIRST_ORDER_EXACT
        if not program.gated and program.loss.name in BARRIER_LOSSES:
            limit = AUTO_FIRST_ORDER_EXACT_BARRIER
        if not program.interpolate and size > limit:
            return ["fista" if program.gated else "auglag"]
        return ["CLARABEL", "SCS"]
    if name == "barrier":
        if not barrier_handles(program.gated, program.interpolate, program.loss.name):
            raise ValueError(
                "solver='barrier' handles the regularised exact ReLU program with the "
                f"{' or '.join(BARRIER_LOSSES)} loss only; use solver='auto' or 'CLARABEL'."
            )
        return ["barrier", "CLARABEL", "SCS"]
    if name in FIRST_ORDER_METHODS:
        if program.interpolate:
            raise ValueError(
                f"solver={solver!r} solves the regularised programs only; the minimum-norm "
                "interpolation form needs a conic solver (solver='CLARABEL')."
            )
        if name == "fista" and not program.gated:
            raise ValueError(
                "solver='fista' handles the gated program only (no cone constraints); use "
                "solver='auglag' for the exact ReLU program."
            )
        return ["fista" if program.gated else "auglag"]
    return [resolve_solver(solver)]


def growth_pattern_budget(
    solver, n_samples: int, n_features: int, loss_name: str, *, gated: bool
) -> int | None:
    """The most patterns a growth working set may hold and still go to the dense barrier
    (:func:`resolve_two_layer_solver` with ``working_set``): ``barrier_max_patterns`` when
    ``solver`` is ``"auto"`` or ``"barrier"`` and the barrier handles the program's kind, else
    ``None`` (no limit).

    Past it the working sets go to the augmented Lagrangian, whose tight solves (polished by
    the same barrier on their support, several times) were far slower: planted
    classification, n = 1000, d = 50, 159 s for 81 patterns where the barrier took 36 s for 71;
    planted regression, n = 10000, d = 50, one tight solve of 83 patterns ran for over 23
    minutes (its loose solves took 2 s, the barrier's 70-190 s).
    """
    routed = isinstance(solver, str) and solver.lower() in ("auto", "barrier")
    if not routed or not barrier_handles(gated, False, loss_name):
        return None
    return barrier_max_patterns(n_samples, n_features)


def _check_memory(program: TwoLayerProgram, method: str, device=None, dtype="float64") -> None:
    if method in FIRST_ORDER_METHODS:
        itemsize = 4 if dtype == "float32" else 8
        need = first_order_memory(
            program.n_samples,
            program.n_features,
            program.n_outputs,
            program.n_patterns,
            program.gated,
            itemsize,
        )
        what = "the first-order solver"
    else:
        need = program.memory_estimate()
        what = "the conic program"
    have, where = available_memory(), "this machine's"
    if device is not None and str(device).startswith("cuda"):
        import torch

        have, where = torch.cuda.mem_get_info(torch.device(device))[1], "the GPU's"
    if need > 0.5 * have:
        raise MemoryError(
            f"{what} would need about {need / 2**30:.1f} GiB "
            f"({program.n_patterns} patterns x {program.n_samples} samples x "
            f"{program.n_features} features), more than half of {where} "
            f"{have / 2**30:.1f} GiB. Use fewer patterns (activation_patterns=<int>), "
            "fewer samples or features, dtype='float32', or gated=True."
        )


def _recover_and_certify(program, solution, patterns, interpolate, solution_dual=False):
    """The network of ``solution`` and its certificate: its own objective against a dual bound.

    The dual point is ``-grad loss`` at the network's outputs. With ``solution_dual`` (the
    first-order solvers, which stop on their own certificate and are not re-solved), also at
    the solution's convex-model outputs where the two differ (``recover_two_layer`` drops atoms
    below ``drop_tol``): any dual point bounds ``J`` from below once rescaled feasible, so the
    higher bound is kept. Dropping atoms of relative size 1e-7 moved the outputs of a
    300-sample program by 3e-9 and cost the network's own dual point a relative 6e-7. The conic
    path instead re-solves tighter until the network's own dual point certifies, which pattern
    growth relies on: it prices with that point.
    """
    network = recover_two_layer(program, solution.V, solution.W)
    X, Y = program.X, program.Y
    if interpolate:
        objective = network.penalty()
    else:
        objective = network.objective(X, Y, program.loss, program.alpha)

    def certify(predictions):
        return certify_two_layer(
            X,
            Y,
            program.D,
            program.loss,
            program.alpha,
            predictions,
            objective,
            gated=program.gated,
            complete=patterns.is_complete,
            interpolate=interpolate,
            equality_dual=solution.equality_dual,
            cone_multipliers=solution.info.get("multipliers"),
        )

    own = network.predict(X).reshape(program.Y.shape)
    certificate = certify(own)
    if solution_dual and not interpolate and certificate.relative_gap > 1e-12:
        convex = program.predict(solution.V, solution.W).reshape(own.shape)
        if not np.array_equal(convex, own):
            other = certify(convex)
            if other.dual > certificate.dual:
                certificate = other
    return solution, network, certificate, float(objective)


def solve_until_certified(
    candidates: list[str],
    solve,
    certify,
    *,
    tol: float,
    initial_tol,
    verbose: bool = False,
    stacklevel: int = 3,
):
    """Run conic solvers in turn, tightening each until the *certified* gap is within ``tol``.

    ``solve(name, solver_tol)`` returns a solution, ``certify(solution)`` the tuple
    ``(solution, network, certificate, objective)``; ``initial_tol(name)`` is each solver's first
    tolerance, divided by 100 (down to 1e-12) while the certified gap exceeds ``tol`` and the
    solver reports "optimal". The best certified attempt is kept; the next candidate is tried
    only while it is above ``tol``. Returns ``(best, status)``: status ``"optimal"`` when the
    certified relative gap is at most ``tol``, else ``"inaccurate"`` with a ConvergenceWarning.
    """
    best, failures = None, []
    for name in candidates:
        solver_tol = initial_tol(name)
        while True:
            solution = solve(name, solver_tol)
            if solution.status in ("infeasible", "unbounded", "failed"):
                failures.append(f"{name}: {solution.status} {solution.info}")
                break
            attempt = certify(solution)
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
    # ``stacklevel`` counts from the trainer that called us: two frames up from _status.
    return best, _status(best[0], best[2], tol, stacklevel + 2)


def prove_fit_certificate(program: TwoLayerProgram, certificate: Certificate, complete: bool):
    """``certificate`` with the proven pattern-free bound of :mod:`convexnet.relaxation` added."""
    return prove_certificate(
        certificate,
        program.X,
        program.Y,
        program.loss,
        program.alpha,
        gated=program.gated,
        complete=complete,
        interpolate=program.interpolate,
    )


def _status(solution, certificate: Certificate, tol: float, stacklevel: int) -> str:
    """``"optimal"`` if the certified relative gap is within ``tol``, else warn: "inaccurate"."""
    if certificate.relative_gap <= tol:
        return "optimal"
    if solution.status == "optimal":
        advice = (
            "the solver met its own tolerance, but the certificate of the recovered network "
            "is looser (rounding in its dual point, tiny neurons dropped); another solver "
            "(solver=...) may close it"
        )
    else:
        advice = "increase max_iter or loosen tol"
    warnings.warn(
        f"convexnet: the {solution.solver} solver stopped with status '{solution.status}' "
        f"and a certified relative duality gap of {certificate.relative_gap:.2e} "
        f"(tol={tol:g}); {advice}.",
        ConvergenceWarning,
        stacklevel=stacklevel,
    )
    return "inaccurate"


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
    max_iter: int | None = None,
    verbose: bool = False,
    device: str | None = None,
    dtype: str = "float64",
    warm_start: TwoLayerSolution | None = None,
    prove: bool = True,
) -> TwoLayerFit:
    """Solve the two-layer program over ``patterns``, recover the network and certify it.

    ``tol`` is the target *relative duality gap*. The conic solver starts at the tolerance
    ``min(1e-8, tol / 100)`` and is tightened (down to ``1e-12``) while the certified gap exceeds
    ``tol``. ``solver="auto"`` tries Clarabel, then SCS if Clarabel fails or stays above ``tol``
    (Clarabel can stall on the exponential cones of the cross-entropy); the best certified
    solution is kept and ``solution.solver`` says which solver produced it. The first-order SCS
    gets ``100 * max_iter`` iterations. The returned status is ``"optimal"`` when the certified
    relative gap is at most ``tol``; otherwise ``"inaccurate"`` with a :class:`ConvergenceWarning`.

    Above a size (see :func:`resolve_two_layer_solver`) ``"auto"`` uses the matrix-free
    first-order solvers of :mod:`convexnet.solvers.first_order` instead, on ``device`` (``None``
    for NumPy, ``"cpu"``/``"cuda"`` for PyTorch) in ``dtype``, warm-started from ``warm_start``.
    ``max_iter=None`` takes each solver's default (200 interior-point, 10000 first-order steps).

    ``solver="barrier"``, and ``"auto"`` on the working sets of column generation
    (``patterns.method == "grown"``, :mod:`convexnet.growth`), try the dense log-barrier method
    of :mod:`convexnet.solvers.working_set` first (exact regularised program, squared or
    logistic loss; its first tolerance as above, its start scaled to ``warm_start``'s group
    norms; on that first attempt a primal-dual path that stalls within
    ``BARRIER_ACCEPT_FRACTION * tol`` is kept without the barrier's hand-off), certify its
    result exactly like the conic solvers' and fall back to Clarabel then SCS if it fails or
    stays above ``tol``.
    """
    program = TwoLayerProgram(
        X, Y, patterns.D, patterns.generators, loss, alpha, gated=gated, interpolate=interpolate
    )
    working_set = getattr(patterns, "method", None) == GROWN_METHOD
    candidates = resolve_two_layer_solver(solver, program, working_set=working_set)
    if device is not None and candidates[0] not in FIRST_ORDER_METHODS:
        raise ValueError(
            f"device={device!r} needs a first-order solver (solver='fista' or 'auglag'); the "
            f"conic solver {candidates[0]} runs on the CPU only."
        )
    _check_memory(program, candidates[0], device, dtype)
    if verbose:
        print(f"[convexnet] {program.describe()}")
    if candidates[0] in FIRST_ORDER_METHODS:
        solution = solve_two_layer_first_order(
            program,
            tol=tol,
            max_iter=max_iter,
            device=device,
            dtype=dtype,
            warm_start=warm_start,
            verbose=verbose,
        )
        best = _recover_and_certify(program, solution, patterns, interpolate, solution_dual=True)
        status = _status(solution, best[2], tol, stacklevel=4)
    else:
        conic_iter = 200 if max_iter is None else max_iter

        barrier_first_tol = tol * BARRIER_FIRST_TOL

        def solve(name, solver_tol):
            if name == "barrier":
                # The first attempt keeps a primal-dual path that stalls within a fraction of
                # ``tol`` (the certificate decides); a re-solve, at a tighter ``solver_tol``,
                # follows the path to it.
                first = solver_tol == barrier_first_tol
                accept = tol * BARRIER_ACCEPT_FRACTION if first else None
                solution = solve_two_layer_barrier(
                    program, tol=solver_tol, warm_start=warm_start, accept_tol=accept
                )
                if verbose:
                    print(
                        f"[convexnet] barrier: {solution.status} in {solution.solve_time:.2f} s "
                        f"({solution.iterations} Newton steps) {solution.info.get('reason', '')}"
                    )
                return solution
            return solve_two_layer_conic(
                program,
                solver=name,
                tol=solver_tol,
                max_iter=100 * conic_iter if name == "SCS" else conic_iter,
                verbose=verbose,
            )

        best, status = solve_until_certified(
            candidates,
            solve,
            lambda solution: _recover_and_certify(program, solution, patterns, interpolate),
            tol=tol,
            initial_tol=lambda name: (
                barrier_first_tol if name == "barrier" else min(1e-8, tol * 1e-2)
            ),
            verbose=verbose,
        )
    solution, network, certificate, objective = best
    if prove:  # once, at the end: the proven pattern-free bound (SPEC §1.5; relaxation)
        certificate = prove_fit_certificate(program, certificate, patterns.is_complete)
    return TwoLayerFit(
        network=network,
        certificate=certificate,
        solution=solution,
        program=program,
        patterns=patterns,
        objective=float(objective),
        status=status,
    )
