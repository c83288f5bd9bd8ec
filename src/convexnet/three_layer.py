"""Three-layer parallel ReLU networks trained as one convex program ([001]; SPEC.md §3).

Pipeline: first-layer patterns -> blocks (signed pattern sets with second-layer patterns) ->
lifted group-lasso program -> conic solver -> recovery of the sub-networks -> Caratheodory pruning
-> certificate (dual bound, gap, scope).

The non-convex problem solved (SPEC.md §3.2, regulariser R1; R3 has the same optimum)::

    min  loss(sum_k ((X W1_k)_+ w2_k)_+ w3_k, Y) + (alpha / 2) sum_k (||w2_k||^2 + ||w3_k||^2)
    s.t. ||W1_k||_F <= 1

equals the convex program of :mod:`convexnet.programs.three_layer` when the block set is complete
and ``K >= n + 1`` sub-networks are allowed. Plain weight decay on all three layers (WD) is a
different, non-convexifiable objective (SPEC.md §3.2, §6 item 3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convexnet.certificates import Certificate, certify_three_layer
from convexnet.networks import ThreeLayerNetwork, caratheodory_prune
from convexnet.programs.three_layer import (
    BlockSet,
    ThreeLayerProgram,
    ThreeLayerSolution,
    build_blocks,
    check_size,
)
from convexnet.solvers.conic import resolve_solver, solve_three_layer_conic
from convexnet.training import solve_until_certified

__all__ = [
    "ThreeLayerFit",
    "train_three_layer",
    "recover_three_layer",
    "prune_three_layer",
    "two_layer_comparison",
]


@dataclass
class ThreeLayerFit:
    """Everything a three-layer fit produced."""

    network: ThreeLayerNetwork
    certificate: Certificate
    solution: ThreeLayerSolution
    program: ThreeLayerProgram
    patterns: object
    objective: float
    convex_objective: float
    status: str


def recover_three_layer(
    program: ThreeLayerProgram,
    V: np.ndarray,
    W: np.ndarray,
    *,
    drop_tol: float = 1e-7,
) -> ThreeLayerNetwork:
    """Sub-networks from a solution of the lifted program (SPEC.md §3.7), in the R1 form.

    For each output ``k``, output sign ``sigma`` and block ``b`` with
    ``S_b = sum_j ||v_bj|| > drop_tol * max``: ``z_j = s_bj v_bj``,
    ``w1_j = z_j / sqrt(||z_j|| S_b)``, ``w2_j = s_bj sqrt(||z_j||)``, ``w3 = sigma sqrt(S_b)`` on
    output ``k``. Then ``||W1_k||_F = 1``, ``(||w2||^2 + w3^2) / 2 = S_b`` and the sub-network's
    output is ``sigma D2_b sum_j D1_{i_bj} X v_bj``: the network's R1 (and R3) objective equals
    the program's. Sub-networks have ``m1`` columns, unused ones zero.
    """
    blocks = program.blocks
    A, d, c = V.shape
    m1 = blocks.width
    S_all = [
        np.bincount(blocks.member_block, np.linalg.norm(Z, axis=1)[:, k], blocks.n_blocks)
        for Z in (V, W)
        for k in range(c)
    ]
    scale = max((float(s.max(initial=0.0)) for s in S_all), default=0.0)
    W1s, w2s, w3s = [], [], []
    for sigma, Z in ((1.0, V), (-1.0, W)):
        norms = np.linalg.norm(Z, axis=1)  # (A, c)
        for k in range(c):
            S = np.bincount(blocks.member_block, norms[:, k], blocks.n_blocks)
            for b in np.flatnonzero(S > drop_tol * max(scale, 1e-300)):
                W1 = np.zeros((d, m1))
                w2 = np.zeros(m1)
                for col, a in enumerate(np.flatnonzero(blocks.member_block == b)):
                    r = norms[a, k]
                    if r == 0:
                        continue
                    s = blocks.member_sign[a]
                    z = s * Z[a, :, k]
                    W1[:, col] = z / np.sqrt(r * S[b])
                    w2[col] = s * np.sqrt(r)
                w3 = np.zeros(c)
                w3[k] = sigma * np.sqrt(S[b])
                W1s.append(W1)
                w2s.append(w2)
                w3s.append(w3)
    if not W1s:
        return ThreeLayerNetwork(np.zeros((0, d, m1)), np.zeros((0, m1)), np.zeros((0, c)))
    return ThreeLayerNetwork(np.array(W1s), np.array(w2s), np.array(w3s))


def prune_three_layer(
    network: ThreeLayerNetwork, X: np.ndarray, max_subnetworks: int | None = None
) -> ThreeLayerNetwork:
    """Caratheodory pruning to at most ``n + 1`` sub-networks per output (SPEC.md §3.7, §1.6).

    Atoms are the sub-networks' own outputs on ``X`` with costs ``a_k b_k c_k`` (the R1/R3 cost
    of a balanced sub-network, ``S_b`` after recovery); scaling atom ``k`` by ``theta_k >= 0``
    multiplies ``w2_k`` and ``w3_k`` by ``sqrt(theta_k)``, which keeps every cone and the first
    layer's norm. Output and total cost are unchanged; at most ``max_subnetworks`` (default
    ``n + 1``) remain per output.
    """
    net = network.rebalanced("R1")
    limit = X.shape[0] + 1 if max_subnetworks is None else max_subnetworks
    if net.n_subnetworks == 0:
        return net
    out_of = np.argmax(np.abs(net.w3), axis=1)
    outputs = net.subnetwork_outputs(X)
    a, b, c = net.layer_norms()
    costs = a * b * c
    theta = np.ones(net.n_subnetworks)
    for k in range(net.w3.shape[1]):
        idx = np.flatnonzero(out_of == k)
        if idx.size > limit:
            G = outputs[:, idx, k]
            theta[idx] = caratheodory_prune(G, costs[idx], limit)
    keep = theta > 0
    root = np.sqrt(theta[keep])
    return ThreeLayerNetwork(
        net.W1[keep], net.w2[keep] * root[:, None], net.w3[keep] * root[:, None]
    )


def _recover_and_certify(program: ThreeLayerProgram, solution: ThreeLayerSolution, prune: bool):
    network = recover_three_layer(program, solution.V, solution.W)
    if prune:
        network = prune_three_layer(network, program.X)
    X, Y = program.X, program.Y
    objective = network.objective(X, Y, program.loss, program.alpha, "R1")
    certificate = certify_three_layer(
        X, Y, program.blocks, program.loss, program.alpha, network.predict(X), objective
    )
    return solution, network, certificate, float(objective)


def initial_solver_tol(name: str, tol: float) -> float:
    """The conic solver's first tolerance for a target relative gap ``tol``.

    Interior-point solvers reach ``1e-8`` in a few more iterations, so they start at
    ``min(1e-8, tol / 100)``. SCS (first order) pays for every digit, up to ``100 * max_iter``
    iterations (minutes on a few hundred samples), so it starts at ``min(1e-4, tol / 100)``. Either
    is tightened while the *certified* gap exceeds ``tol``, so the status is unaffected.
    """
    return min(1e-4 if name == "SCS" else 1e-8, tol * 1e-2)


def train_three_layer(
    X: np.ndarray,
    Y: np.ndarray,
    loss,
    alpha: float,
    patterns=None,
    *,
    width: int = 2,
    blocks: BlockSet | None = None,
    second_layer_patterns: str | int = "sample",
    max_blocks: int | None = None,
    prune: bool = True,
    solver: str = "auto",
    tol: float = 1e-6,
    max_iter: int = 200,
    random_state=None,
    verbose: bool = False,
) -> ThreeLayerFit:
    """Solve the three-layer program, recover and prune the sub-networks, certify the result.

    ``X`` already holds the ones column of a bias; ``Y`` is in the loss's form (``+-1`` for the
    logistic loss, one-hot for cross-entropy). Either first-layer ``patterns``
    (:class:`~convexnet.patterns.ActivationPatterns`) with ``width``, ``second_layer_patterns``
    and ``max_blocks`` (see :func:`~convexnet.programs.three_layer.build_blocks`), or a prebuilt
    ``blocks``. The program's size is computed and checked against the machine's memory before
    it is built (``MemoryError`` past half of it).

    ``tol`` is the target relative duality gap; the solver loop is that of the two-layer
    pipeline (Clarabel, tightened, then SCS under ``solver="auto"``), except that SCS starts at
    the looser tolerance of :func:`initial_solver_tol`. ``status`` is ``"optimal"``
    when the certified relative gap is at most ``tol``, else ``"inaccurate"`` with a
    :class:`ConvergenceWarning`.
    """
    Y = np.asarray(Y, dtype=float)
    Y = Y[:, None] if Y.ndim == 1 else Y
    if blocks is None:
        if patterns is None:
            raise ValueError("train_three_layer needs patterns or blocks.")
        blocks = build_blocks(
            X,
            patterns,
            width,
            second_layer=second_layer_patterns,
            max_blocks=max_blocks,
            n_outputs=Y.shape[1],
            random_state=random_state,
        )
    program = ThreeLayerProgram(X, Y, blocks, loss, alpha)
    check_size(program.size())
    if verbose:
        print(f"[convexnet] {program.describe()}")
    if isinstance(solver, str) and solver.lower() == "auto":
        candidates = ["CLARABEL", "SCS"]
    else:
        candidates = [resolve_solver(solver)]
    best, status = solve_until_certified(
        candidates,
        lambda name, solver_tol: solve_three_layer_conic(
            program,
            solver=name,
            tol=solver_tol,
            max_iter=100 * max_iter if name == "SCS" else max_iter,
            verbose=verbose,
        ),
        lambda solution: _recover_and_certify(program, solution, prune),
        tol=tol,
        initial_tol=lambda name: initial_solver_tol(name, tol),
        verbose=verbose,
        stacklevel=2,
    )
    solution, network, certificate, objective = best
    return ThreeLayerFit(
        network=network,
        certificate=certificate,
        solution=solution,
        program=program,
        patterns=patterns,
        objective=float(objective),
        convex_objective=float(solution.objective),
        status=status,
    )


def two_layer_comparison(fit: ThreeLayerFit, **kwargs):
    """The two-layer program over the same first-layer patterns, data, loss and ``alpha``.

    Returns the :class:`~convexnet.training.TwoLayerFit`. Its singles are blocks of the
    three-layer program (SPEC.md §3.4 item 2), so ``fit.objective <= two_layer.objective`` up to
    solver tolerance.
    """
    from convexnet.patterns import ActivationPatterns
    from convexnet.training import train_two_layer

    b = fit.program.blocks
    patterns = ActivationPatterns(b.D1, b.generators, b.first_layer_complete, "three-layer")
    p = fit.program
    return train_two_layer(p.X, p.Y, p.loss, p.alpha, patterns, **kwargs)
