"""Reference solver: the convex programs written in CVXPY and solved by a conic solver.

Clarabel (bundled with CVXPY) is the default; any installed CVXPY solver that supports the
program's cones can be named. Interior-point methods are exact but their cost grows quickly with
the program; the fast first-order solvers are a separate module.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from convexnet.programs.two_layer import TwoLayerProgram, TwoLayerSolution

__all__ = [
    "available_solvers",
    "resolve_solver",
    "solve_two_layer_conic",
    "solve_three_layer_conic",
    "map_status",
]


def available_solvers() -> list[str]:
    """Names of the conic solvers CVXPY can use here (upper case, as CVXPY spells them)."""
    import cvxpy as cp

    return sorted(cp.installed_solvers())


def resolve_solver(solver: str) -> str:
    """Map a user's solver name to a CVXPY solver name, or raise a ``ValueError``.

    ``"auto"`` and ``"clarabel"`` both mean Clarabel.
    """
    if not isinstance(solver, str):
        raise TypeError(f"solver must be a string, got {type(solver).__name__}.")
    name = "CLARABEL" if solver.lower() == "auto" else solver.upper()
    installed = available_solvers()
    if name not in installed:
        raise ValueError(
            f"solver must be 'auto' or one of the installed CVXPY solvers {installed}, "
            f"got {solver!r}."
        )
    return name


def map_status(cvxpy_status: str) -> str:
    """CVXPY's status words to ours: optimal, inaccurate, infeasible, unbounded, failed."""
    import cvxpy as cp

    if cvxpy_status == cp.OPTIMAL:
        return "optimal"
    if cvxpy_status in (cp.OPTIMAL_INACCURATE, cp.USER_LIMIT):
        return "inaccurate"
    if cvxpy_status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
        return "infeasible"
    if cvxpy_status in (cp.UNBOUNDED, cp.UNBOUNDED_INACCURATE):
        return "unbounded"
    return "failed"


def _solver_options(name: str, tol: float, max_iter: int) -> dict:
    if name == "CLARABEL":
        return {
            "tol_gap_abs": tol,
            "tol_gap_rel": tol,
            "tol_feas": tol,
            "tol_ktratio": min(1e-6, tol * 1e2),
            "max_iter": max_iter,
        }
    if name == "SCS":
        return {"eps_abs": tol, "eps_rel": tol, "max_iters": max_iter}
    if name == "ECOS":
        return {"abstol": tol, "reltol": tol, "feastol": tol, "max_iters": max_iter}
    return {}


def _solve_problem(problem, name: str, tol: float, max_iter: int, verbose: bool):
    """Solve a CVXPY problem; return ``(status, info, seconds)``, ``"failed"`` on SolverError."""
    import cvxpy as cp

    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            # CVXPY's "solution may be inaccurate": our status and certificate report it.
            warnings.simplefilter("ignore", UserWarning)
            problem.solve(solver=name, verbose=verbose, **_solver_options(name, tol, max_iter))
        status, info = map_status(problem.status), {"cvxpy_status": problem.status}
    except cp.SolverError as exc:
        status, info = "failed", {"error": str(exc)}
    return status, info, time.perf_counter() - start


def solve_two_layer_conic(
    program: TwoLayerProgram,
    solver: str = "CLARABEL",
    tol: float = 1e-8,
    max_iter: int = 200,
    verbose: bool = False,
) -> TwoLayerSolution:
    """Solve a :class:`TwoLayerProgram` with CVXPY.

    Each output column ``k`` has variables ``V_k`` (d x P) whose column ``i`` is ``V_ik``; the
    model output is ``sum(D * (X @ V_k), axis=1)`` and the cones are ``S * (X @ V_k) >= 0`` with
    ``S = 2D - 1`` (SPEC.md §1.3, §1.4).
    """
    import cvxpy as cp

    name = resolve_solver(solver)
    X, Y, D = program.X, program.Y, program.D.astype(float)
    S = 2.0 * D - 1.0
    d, P, c = program.n_features, program.n_patterns, program.n_outputs
    Vs = [cp.Variable((d, P)) for _ in range(c)]
    Ws = [] if program.gated else [cp.Variable((d, P)) for _ in range(c)]
    constraints = []
    columns, penalty = [], 0
    for k in range(c):
        XV = X @ Vs[k]
        out = cp.sum(cp.multiply(D, XV), axis=1)
        penalty = penalty + cp.sum(cp.norm(Vs[k], 2, axis=0))
        if not program.gated:
            XW = X @ Ws[k]
            out = out - cp.sum(cp.multiply(D, XW), axis=1)
            penalty = penalty + cp.sum(cp.norm(Ws[k], 2, axis=0))
            constraints += [cp.multiply(S, XV) >= 0, cp.multiply(S, XW) >= 0]
        columns.append(out)
    pred = (
        cp.vstack(columns).T if c > 1 else cp.reshape(columns[0], (program.n_samples, 1), order="F")
    )
    equality = None
    if program.interpolate:
        equality = pred == Y
        constraints.append(equality)
        objective = cp.Minimize(penalty)
    else:
        objective = cp.Minimize(program.loss.cvxpy_expression(pred, Y) + program.alpha * penalty)
    problem = cp.Problem(objective, constraints)
    status, info, elapsed = _solve_problem(problem, name, tol, max_iter, verbose)

    def _collect(vs):
        if not vs or vs[0].value is None:
            return None
        return np.stack([v.value.T for v in vs], axis=2)  # (P, d, c)

    V = _collect(Vs)
    W = _collect(Ws) if not program.gated else None
    if V is None:
        V = program.zeros()
        W = None if program.gated else program.zeros()
        if status in ("optimal", "inaccurate"):
            status = "failed"
    stats = problem.solver_stats if status != "failed" else None
    lam = None
    if equality is not None and equality.dual_value is not None:
        lam = np.asarray(equality.dual_value, dtype=float).reshape(program.n_samples, c)
    return TwoLayerSolution(
        V=V,
        W=W,
        status=status,
        objective=program.objective(V, W),
        solve_time=elapsed,
        solver=name,
        iterations=getattr(stats, "num_iters", None),
        equality_dual=lam,
        info=info,
    )


def solve_three_layer_conic(
    program,
    solver: str = "CLARABEL",
    tol: float = 1e-8,
    max_iter: int = 200,
    verbose: bool = False,
):
    """Solve a :class:`~convexnet.programs.three_layer.ThreeLayerProgram` with CVXPY.

    Per output column ``k`` and output sign, a variable ``(d, A)`` holds one column per member;
    with ``XV = X @ V``, ``M`` the members' first-layer masks, ``S1`` their signed cone matrices and
    ``B`` the (A, B) membership matrix, the block pre-activations are ``H = (M * XV) @ B``, the
    output is ``sum(D2 * H, axis=1)``, the cones ``S1 * XV >= 0`` and the coupling
    ``(2 D2 - 1) * H >= 0`` on the mixed blocks (SPEC.md §3.3).
    """
    import cvxpy as cp

    from convexnet.programs.three_layer import ThreeLayerSolution

    name = resolve_solver(solver)
    X, Y = program.X, program.Y
    blocks = program.blocks
    M = blocks.member_masks()
    S1 = blocks.member_sign[None, :] * (2.0 * M - 1.0)
    Bm = blocks.membership()
    mixed = blocks.mixed
    D2 = blocks.D2.astype(float)
    S2 = (2.0 * D2 - 1.0)[:, mixed]
    d, A, c, n = program.n_features, program.n_members, program.n_outputs, program.n_samples
    Vs = [cp.Variable((d, A)) for _ in range(c)]
    Ws = [cp.Variable((d, A)) for _ in range(c)]
    constraints, columns, penalty = [], [], 0
    for k in range(c):
        out = 0
        for sign, Z in ((1.0, Vs[k]), (-1.0, Ws[k])):
            XZ = X @ Z
            H = cp.multiply(M, XZ) @ Bm
            out = out + sign * cp.sum(cp.multiply(D2, H), axis=1)
            penalty = penalty + cp.sum(cp.norm(Z, 2, axis=0))
            constraints.append(cp.multiply(S1, XZ) >= 0)
            if mixed.any():
                constraints.append(cp.multiply(S2, H[:, np.flatnonzero(mixed)]) >= 0)
        columns.append(out)
    pred = cp.vstack(columns).T if c > 1 else cp.reshape(columns[0], (n, 1), order="F")
    objective = cp.Minimize(program.loss.cvxpy_expression(pred, Y) + program.alpha * penalty)
    problem = cp.Problem(objective, constraints)
    status, info, elapsed = _solve_problem(problem, name, tol, max_iter, verbose)

    def _collect(vs):
        if vs[0].value is None:
            return None
        return np.stack([v.value.T for v in vs], axis=2)  # (A, d, c)

    V, W = _collect(Vs), _collect(Ws)
    if V is None or W is None:
        V, W = program.zeros(), program.zeros()
        if status in ("optimal", "inaccurate"):
            status = "failed"
    stats = problem.solver_stats if status != "failed" else None
    return ThreeLayerSolution(
        V=V,
        W=W,
        status=status,
        objective=program.objective(V, W),
        solve_time=elapsed,
        solver=name,
        iterations=getattr(stats, "num_iters", None),
        info=info,
    )
