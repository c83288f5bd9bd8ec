"""Three-layer parallel ReLU networks ([001]; SPEC.md §3) against independent computations.

The instance ``default_rng(0)``, ``n=6``, ``d=2``, ``alpha=0.05`` reproduces the first row of
SPEC.md §3.9 (two-layer optimum 1.6301590751, three-layer 1.1937393389 over densely sampled
second-layer patterns, so an upper bound on the exact value computed here).
"""

import cvxpy as cp
import numpy as np
import pytest

from convexnet.certificates import SCOPE_THREE_REGULARISER, block_kappa
from convexnet.losses import CrossEntropyLoss, LogisticLoss, SquaredLoss
from convexnet.networks import ThreeLayerNetwork
from convexnet.patterns import enumerate_patterns, sample_patterns
from convexnet.programs import three_layer as tl
from convexnet.programs.three_layer import (
    ThreeLayerProgram,
    build_blocks,
    estimate_size,
    second_layer_patterns,
)
from convexnet.solvers.conic import solve_three_layer_conic
from convexnet.three_layer import (
    initial_solver_tol,
    prune_three_layer,
    recover_three_layer,
    train_three_layer,
    two_layer_comparison,
)


def _spec_instance(seed=0, n=6):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 2)), rng.normal(size=n)


@pytest.fixture(scope="module")
def exact_fit():
    X, y = _spec_instance(0)
    fit = train_three_layer(
        X,
        y,
        SquaredLoss(),
        0.05,
        enumerate_patterns(X),
        width=2,
        second_layer_patterns="enumerate",
        tol=1e-5,
    )
    return X, y, fit


def _reference_value(X, y, blocks, alpha, loss):
    """The lifted program written block by block, member by member (SPEC.md §3.3)."""
    n, d = X.shape
    out, pen, cons = 0, 0, []
    for b in range(blocks.n_blocks):
        idx = np.flatnonzero(blocks.member_block == b)
        D2 = blocks.D2[:, b].astype(float)
        for sigma in (1.0, -1.0):
            h = 0
            for a in idx:
                v = cp.Variable(d)
                D1 = blocks.D1[:, blocks.member_pattern[a]].astype(float)
                s = blocks.member_sign[a]
                cons.append(cp.multiply(s * (2 * D1 - 1), X @ v) >= 0)
                h = h + cp.multiply(D1, X @ v)
                pen = pen + cp.norm(v)
            if len(idx) > 1:
                cons.append(cp.multiply(2 * D2 - 1, h) >= 0)
            out = out + sigma * cp.multiply(D2, h)
    prob = cp.Problem(cp.Minimize(loss.cvxpy_expression(out, y) + alpha * pen), cons)
    prob.solve(solver="CLARABEL")
    return prob.value


@pytest.mark.parametrize("loss_name", ["squared", "logistic"])
def test_program_matches_blockwise_reference(loss_name):
    X, y = _spec_instance(1, n=5)
    loss = SquaredLoss() if loss_name == "squared" else LogisticLoss()
    y = y if loss_name == "squared" else np.sign(y)
    blocks = build_blocks(
        X, sample_patterns(X, 6, random_state=0), 2, second_layer=2, max_blocks=12, random_state=0
    )
    prog = ThreeLayerProgram(X, y, blocks, loss, 0.1)
    sol = solve_three_layer_conic(prog, tol=1e-9)
    assert sol.status == "optimal"
    ref = _reference_value(X, y, blocks, 0.1, loss)
    assert sol.objective == pytest.approx(ref, rel=1e-6)
    assert prog.constraint_violation(sol.V, sol.W) < 1e-7


def test_spec_instance_recovery_pruning_and_certificate(exact_fit):
    X, y, fit = exact_fit
    assert fit.program.blocks.is_complete
    # SPEC §3.9 row 1 is an optimum over sampled second-layer patterns: an upper bound
    assert fit.convex_objective <= 1.1937393389 + 1e-8
    assert fit.convex_objective == pytest.approx(1.1937393389, rel=1e-6)
    # the recovered, pruned R1 network attains the convex optimum
    assert fit.objective == pytest.approx(fit.convex_objective, rel=1e-6)
    assert fit.network.n_subnetworks <= X.shape[0] + 1
    a, _, _ = fit.network.layer_norms()
    assert np.all(a <= 1 + 1e-9)
    # R3 rebalancing: same function, same value (SPEC §3.2)
    r3 = fit.network.rebalanced("R3")
    assert np.allclose(r3.predict(X), fit.network.predict(X), atol=1e-10)
    assert r3.objective(X, y, SquaredLoss(), 0.05, "R3") == pytest.approx(fit.objective, rel=1e-9)
    cert = fit.certificate
    assert cert.dual <= cert.primal + 1e-12
    assert cert.relative_gap < 1e-5
    assert cert.is_global and "width <= 2" in cert.scope
    assert "R1 or R3" in cert.scope and "not plain weight decay" in cert.scope
    assert cert.global_dual <= cert.dual + 1e-12
    # the two-layer program over the same patterns (SPEC §3.9: 1.6301590751) is worse
    two = two_layer_comparison(fit)
    assert two.objective == pytest.approx(1.6301590751, rel=1e-6)
    assert fit.objective < two.objective


def test_unpruned_recovery_equals_program_and_pruning_keeps_it(exact_fit):
    X, y, fit = exact_fit
    prog = fit.program
    full = recover_three_layer(prog, fit.solution.V, fit.solution.W)
    assert full.n_subnetworks > X.shape[0] + 1  # interior-point solutions are dense
    assert np.allclose(full.predict(X), prog.predict(fit.solution.V, fit.solution.W), atol=1e-7)
    value = full.objective(X, y, SquaredLoss(), 0.05, "R1")
    assert value == pytest.approx(prog.objective(fit.solution.V, fit.solution.W), rel=1e-7)
    pruned = prune_three_layer(full, X)
    assert pruned.n_subnetworks <= X.shape[0] + 1
    assert pruned.objective(X, y, SquaredLoss(), 0.05, "R1") == pytest.approx(value, rel=1e-8)


def test_width_one_is_the_two_layer_program():
    X, y = _spec_instance(2)
    fit = train_three_layer(X, y, SquaredLoss(), 0.05, enumerate_patterns(X), width=1, tol=1e-6)
    assert fit.program.blocks.n_mixed == 0 and fit.program.blocks.is_complete
    two = two_layer_comparison(fit, tol=1e-6)
    assert fit.objective == pytest.approx(two.objective, rel=1e-6)


@pytest.mark.parametrize("width", [2, 3])
@pytest.mark.parametrize("loss_name", ["logistic", "cross_entropy"])
def test_three_layer_never_worse_than_two_layer(width, loss_name):
    rng = np.random.default_rng(3)
    X = np.hstack([rng.normal(size=(8, 2)), np.ones((8, 1))])
    if loss_name == "logistic":
        Y, loss = np.where(rng.normal(size=(8, 1)) > 0, 1.0, -1.0), LogisticLoss()
    else:
        Y, loss = np.eye(3)[rng.integers(3, size=8)], CrossEntropyLoss()
    pats = sample_patterns(X, 5, random_state=0)
    fit = train_three_layer(
        X,
        Y,
        loss,
        0.2,
        pats,
        width=width,
        second_layer_patterns=3,
        max_blocks=40,
        random_state=0,
        tol=1e-5,
    )
    two = two_layer_comparison(fit, tol=1e-6)
    assert fit.objective <= two.objective * (1 + 1e-5)
    assert fit.objective == pytest.approx(fit.convex_objective, rel=1e-5)
    assert fit.certificate.dual <= fit.objective
    assert not fit.certificate.is_global
    assert fit.certificate.scope.endswith(SCOPE_THREE_REGULARISER)
    assert fit.program.blocks.block_sizes().max() <= width


def test_second_layer_enumeration_contains_every_sampled_pattern():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(5, 2))
    pats = enumerate_patterns(X)
    D1 = pats.D
    i, j = 1, 4
    members = ((i, 1.0), (j, -1.0))
    D2, n_lp = second_layer_patterns(X, D1, members)
    assert n_lp > 0
    exact = {tuple(c) for c in D2.T}
    # brute force: dense random feasible h = (X u)_+ - t (X w)_+ with u in K_i, w in K_j
    U = rng.normal(size=(2, 40000))
    in_i = np.all((X @ U >= 0) == D1[:, [i]], axis=0)
    in_j = np.all((X @ U >= 0) == D1[:, [j]], axis=0)
    Ui, Uj = U[:, in_i][:, :200], U[:, in_j][:, :200]
    seen = set()
    for t in np.exp(rng.normal(scale=2, size=20)):
        H = np.maximum(X @ Ui, 0)[:, :, None] - t * np.maximum(X @ Uj, 0)[:, None, :]
        seen |= {tuple(c) for c in (H.reshape(5, -1) >= 0).T}
    assert seen <= exact
    # every pattern of an open region of H_S (strict signs on the rows h can reach) is sampled;
    # the others are realised only on the boundary (some reachable h_k = 0) and are harmless
    from scipy.optimize import linprog

    live = D1[:, i] | D1[:, j]
    A = np.vstack([-(2 * D1[:, [i]] - 1.0) * X, (2 * D1[:, [j]] - 1.0) * X])
    A = np.hstack([A[:5], np.zeros((5, 2))]), np.hstack([np.zeros((5, 2)), A[5:]])
    Hm = np.hstack([D1[:, [i]] * X, D1[:, [j]] * X])
    for pattern in exact:
        sg = np.where(np.array(pattern), -1.0, 1.0)[live]
        res = linprog(
            np.zeros(4),
            A_ub=np.vstack([sg[:, None] * Hm[live], *A]),
            b_ub=np.concatenate([-np.ones(live.sum()), np.zeros(10)]),
            bounds=[(None, None)] * 4,
            method="highs",
        )
        if res.status == 0:
            assert pattern in seen


def test_block_kappa_is_the_block_socp_value():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(6, 2))
    D1 = enumerate_patterns(X).D
    members = ((0, 1.0), (3, -1.0))
    D2s, _ = second_layer_patterns(X, D1, members)
    D2 = D2s[:, np.argmin(np.abs(D2s.sum(axis=0) - 3))]
    lam = rng.normal(size=6)
    n, d = X.shape
    best = 0.0
    for sigma in (1.0, -1.0):
        vs = [cp.Variable(d) for _ in members]
        h = sum(cp.multiply(D1[:, i].astype(float), X @ v) for (i, _), v in zip(members, vs))
        cons = [cp.multiply(s * (2 * D1[:, i] - 1.0), X @ v) >= 0 for (i, s), v in zip(members, vs)]
        cons += [cp.multiply(2 * D2 - 1.0, h) >= 0, sum(cp.norm(v) for v in vs) <= 1]
        prob = cp.Problem(cp.Maximize(sigma * lam @ cp.multiply(D2.astype(float), h)), cons)
        prob.solve(solver="CLARABEL")
        best = max(best, prob.value)
    rho = block_kappa(X, D1, members, D2, lam)
    assert best > 1e-3
    assert rho >= best - 1e-9
    assert rho == pytest.approx(best, rel=1e-6, abs=1e-9)


def test_nonconvex_training_never_beats_the_certified_optimum(exact_fit):
    pytest.importorskip("torch")
    from convexnet.baselines import train_three_layer_nonconvex

    X, y, fit = exact_fit
    bound = fit.certificate.dual
    runs = [
        ("R1", "adam", 1e-2),
        ("R3", "adam", 1e-2),
        ("R1", "sgd", 1e-2),
        ("R3", "lbfgs", 1.0),
    ]
    for reg, opt, lr in runs:
        res = train_three_layer_nonconvex(
            X,
            y,
            n_subnetworks=8,
            width=2,
            alpha=0.05,
            regularizer=reg,
            optimizer=opt,
            lr=lr,
            max_iter=300,
            n_starts=4,
            random_state=1,
        )
        assert np.all(np.isfinite(res.objectives))
        assert res.objectives.min() >= bound - 1e-9, (reg, opt)
    # plain weight decay is a different objective: here its optimum is far below p_cvx
    wd = train_three_layer_nonconvex(
        X,
        y,
        n_subnetworks=8,
        width=2,
        alpha=0.05,
        regularizer="WD",
        optimizer="lbfgs",
        max_iter=300,
        n_starts=4,
        random_state=1,
    )
    assert wd.best_objective < fit.objective - 0.1


def test_scs_starts_loose_and_is_tightened_by_the_certified_gap():
    assert initial_solver_tol("CLARABEL", 1e-2) == 1e-8
    assert initial_solver_tol("SCS", 1e-2) == pytest.approx(1e-4)
    assert initial_solver_tol("SCS", 1e-6) == pytest.approx(1e-8)
    X, y = _spec_instance(0)
    pats = enumerate_patterns(X)
    for tol in (1e-2, 1e-5):
        fit = train_three_layer(
            X,
            y,
            SquaredLoss(),
            0.05,
            pats,
            second_layer_patterns=4,
            solver="SCS",
            tol=tol,
            max_iter=500,
            random_state=0,
        )
        # the status is the certified gap's, whatever tolerance SCS was given
        assert fit.solution.solver == "SCS"
        assert (fit.status == "optimal") == (fit.certificate.relative_gap <= tol)
        assert fit.certificate.dual <= fit.objective + 1e-12


def test_size_is_computed_before_building_and_refused(monkeypatch):
    X, y = _spec_instance(0)
    pats = enumerate_patterns(X)
    est = estimate_size(6, 2, 1, pats.without_zero_pattern().n_patterns, 2, second_layer=4)
    blocks = build_blocks(X, pats, 2, second_layer=4, random_state=0)
    prog = ThreeLayerProgram(X, y, blocks, SquaredLoss(), 0.1)
    assert prog.n_variables <= est.n_variables
    assert prog.memory_estimate() <= est.memory_bytes
    assert "variables" in prog.describe()
    monkeypatch.setattr(tl, "physical_memory", lambda: 1 << 20)
    with pytest.raises(MemoryError, match="activation_patterns=<small int>") as err:
        build_blocks(X, pats, 3, second_layer=4)
    for fix in ("would need about", "GiB", "smaller width", "second_layer_patterns", "max_blocks"):
        assert fix in str(err.value)
    # a prebuilt block set is checked too, before the solver sees it
    with pytest.raises(MemoryError, match="more than half"):
        train_three_layer(X, y, SquaredLoss(), 0.1, blocks=blocks)


def test_bad_inputs_name_the_argument():
    X, _ = _spec_instance(0)
    pats = sample_patterns(X, 4, random_state=0)
    with pytest.raises(ValueError, match="width"):
        build_blocks(X, pats, 0)
    with pytest.raises(TypeError, match="width"):
        build_blocks(X, pats, 1.5)
    with pytest.raises(ValueError, match="second_layer_patterns"):
        build_blocks(X, pats, 2, second_layer="all")
    with pytest.raises(ValueError, match="regularizer"):
        ThreeLayerNetwork(np.zeros((1, 2, 2)), np.zeros((1, 2)), np.zeros((1, 1))).penalty("L2")
