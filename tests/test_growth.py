"""Column generation over activation patterns (convexnet.growth; issue 6).

The grown programs are checked against independent computations: the program over every
enumerated pattern (a global optimum), per-pattern cone projections for the oracle's violators,
and multi-start non-convex training, which must never go below the proven dual bound.
"""

import numpy as np
import pytest

from convexnet import ConvexReLUClassifier, ConvexReLURegressor, enumerate_patterns
from convexnet.certificates import relu_kappa
from convexnet.growth import (
    BUDGET_REASON,
    MAX_ROUNDS,
    MIN_NEW_PER_ROUND,
    _trim_to_budget,
    _within_budget,
    grow_patterns,
    hyperplane_generators,
    price_patterns,
    seed_patterns,
)
from convexnet.losses import get_loss
from convexnet.training import train_two_layer


def _teacher(seed, n, d):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((d, 3))
    y = np.maximum(X @ W, 0) @ np.array([1.0, -1.0, 0.5]) + 0.1 * rng.standard_normal(n)
    return X, y


def _augment(X):
    return np.hstack([X, np.ones((len(X), 1))])


@pytest.mark.parametrize("gated", [False, True])
def test_grown_patterns_reach_the_enumerated_optimum(gated):
    X, y = _teacher(0, 30, 2)  # with the bias column: rank 3, every pattern enumerable
    full = ConvexReLURegressor(alpha=0.3, gated=gated, activation_patterns="enumerate").fit(X, y)
    grown = ConvexReLURegressor(
        alpha=0.3, gated=gated, activation_patterns="grow", random_state=0
    ).fit(X, y)
    assert full.patterns_complete_ and not grown.patterns_complete_
    assert grown.growth_["converged"]
    assert grown.n_patterns_ < full.n_patterns_
    # The grown optimum is the global one (the enumerated program's), to the solver tolerance.
    assert grown.objective_ == pytest.approx(full.objective_, rel=1e-5)
    assert grown.objective_ >= full.dual_objective_ - 1e-9
    assert "no violating pattern" in grown.certificate_.scope


def test_grown_classifier_reaches_the_enumerated_optimum():
    X, y = _teacher(1, 30, 2)
    labels = (y > np.median(y)).astype(int)
    full = ConvexReLUClassifier(alpha=0.5, activation_patterns="enumerate").fit(X, labels)
    grown = ConvexReLUClassifier(alpha=0.5, activation_patterns="grow", random_state=0)
    grown.fit(X, labels)
    assert grown.objective_ == pytest.approx(full.objective_, rel=1e-5)


def test_oracle_finds_no_violator_at_the_global_optimum_and_only_true_ones_elsewhere():
    X, y = _teacher(2, 25, 2)
    Xa, Y, loss, alpha = _augment(X), y[:, None], get_loss("squared"), 0.3
    everything = enumerate_patterns(Xa)
    best = train_two_layer(Xa, Y, loss, alpha, everything, prove=False)
    lam = loss.dual_point(best.network.predict(Xa), Y)
    none = price_patterns(Xa, lam, alpha, everything.subset(np.arange(3)), random_state=0)
    assert none.patterns.n_patterns == 0  # kappa(lam) <= alpha over every pattern
    # From a poor pattern set the oracle finds violators, and each one truly violates.
    few = everything.subset(np.arange(0, everything.n_patterns, 7))
    poor = train_two_layer(Xa, Y, loss, alpha, few, prove=False)
    lam = loss.dual_point(poor.network.predict(Xa), Y)
    found = price_patterns(Xa, lam, alpha, few, random_state=0)
    assert found.patterns.n_patterns > 0
    for j in range(found.patterns.n_patterns):
        kappa = relu_kappa(Xa, found.patterns.D[:, [j]], lam)[0]
        assert kappa == pytest.approx(found.values[j], rel=1e-9)
        assert kappa > alpha
    # No violator is already in the working set.
    known = {col.tobytes() for col in few.D.T}
    assert all(col.tobytes() not in known for col in found.patterns.D.T)


def test_growth_never_increases_the_objective_and_beats_sampling():
    X, y = _teacher(3, 120, 5)
    Xa, Y, loss, alpha = _augment(X), y[:, None], get_loss("squared"), 1.0
    g = grow_patterns(
        Xa,
        Y,
        loss,
        alpha,
        lambda pats, warm, tol: train_two_layer(Xa, Y, loss, alpha, pats, tol=tol, prove=False),
        random_state=0,
    )
    objectives = [h["objective"] for h in g.history]
    assert all(b <= a * (1 + 1e-4) for a, b in zip(objectives, objectives[1:], strict=False))
    sampled = ConvexReLURegressor(alpha=alpha, activation_patterns=100, random_state=0)
    assert g.fit.objective < sampled.fit(X, y).objective_


def test_proven_bound_is_never_beaten_by_nonconvex_training():
    torch = pytest.importorskip("torch")
    from convexnet import train_two_layer_nonconvex

    X, y = _teacher(4, 100, 4)
    model = ConvexReLURegressor(alpha=1.0, activation_patterns="grow", tol=1e-5, random_state=0)
    model.fit(X, y)
    assert model.growth_["converged"]
    Xa = _augment(X)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small products: threads only add start-up time
    try:
        results = [
            train_two_layer_nonconvex(
                Xa, y[:, None], width=width, alpha=1.0, n_starts=4, max_iter=500
            )
            for width in (4, model.n_neurons_)
        ]
    finally:
        torch.set_num_threads(threads)
    for nc in results:
        assert nc.objectives.min() >= model.proven_dual_objective_ - 1e-9
        # The grown network is at least as good as the best non-convex start (1e-3 relative).
        assert model.objective_ <= nc.best_objective * (1 + 1e-3)


def test_seeds_come_from_three_sources_and_are_distinct():
    X, y = _teacher(5, 60, 4)
    Xa = _augment(X)
    rng = np.random.default_rng(0)
    G = hyperplane_generators(Xa, 10, rng)
    assert G.shape == (Xa.shape[1], 20)
    # Each gate is (nearly) orthogonal to d - 1 data rows: a hyperplane through data points.
    closest = np.sort(np.abs(Xa @ G) / np.linalg.norm(Xa, axis=1)[:, None], axis=0)
    assert np.all(closest[Xa.shape[1] - 2] < 1e-5)
    pool, warm, info = seed_patterns(Xa, y[:, None], get_loss("squared"), 1.0, random_state=0)
    assert info["gaussian"] > 0 and info["hyperplanes"] > 0
    assert pool.n_patterns == len({col.tobytes() for col in pool.D.T})
    if warm is not None:
        assert info["warm_start"] == warm.n_patterns > 0
        keys = {col.tobytes() for col in pool.D.T}
        assert all(col.tobytes() in keys for col in warm.D.T)


def test_seeding_without_pytorch_says_so(monkeypatch):
    import convexnet.growth as growth

    monkeypatch.setattr(growth, "warm_start_generators", lambda *a, **k: None)
    X, y = _teacher(6, 40, 3)
    pool, warm, info = seed_patterns(_augment(X), y, get_loss("squared"), 1.0, random_state=0)
    assert warm is None and "skipped" in info["warm_start"]


def test_early_stop_is_reported():
    X, y = _teacher(7, 80, 5)
    Xa, Y, loss = _augment(X), y[:, None], get_loss("squared")
    g = grow_patterns(
        Xa,
        Y,
        loss,
        0.3,
        lambda pats, warm, tol: train_two_layer(Xa, Y, loss, 0.3, pats, tol=tol, prove=False),
        max_rounds=1,
        random_state=0,
    )
    assert g.reason == "max_rounds reached" and not g.converged and g.rounds == 1
    assert g.patterns.n_patterns == g.fit.program.n_patterns


def test_bad_pattern_mode_is_refused():
    X, y = _teacher(8, 20, 2)
    with pytest.raises(ValueError, match="grow"):
        ConvexReLURegressor(activation_patterns="grown").fit(X, y)


def test_switch_to_the_tight_phase_reuses_a_loose_solve_already_within_tol():
    X, y = _teacher(4, 40, 2)
    Xa, loss = _augment(X), get_loss("squared")
    calls = []

    def solve(patterns, warm, tol):
        calls.append(tol)
        return train_two_layer(Xa, y, loss, 0.3, patterns, tol=tol, prove=False)

    growth = grow_patterns(Xa, y, loss, 0.3, solve, tol=1e-6, random_state=0)
    history = growth.history
    assert len(calls) == sum(h["solved"] for h in history)
    for before, after in zip(history, history[1:]):
        if not after["solved"]:  # a reused solve: the loose phase ended within tol
            assert not before["final_phase"] and before["added"] == 0
            assert before["relative_gap"] <= 1e-6 and after["final_phase"]
    assert growth.converged and growth.fit.certificate.relative_gap <= 1e-6
    elapsed = [h["elapsed"] for h in history]  # seeding and earlier rounds, then the solve
    seconds = np.cumsum([0.0] + [h["seconds"] for h in history])
    assert all(b >= a for a, b in zip(elapsed, elapsed[1:]))
    solved = [h["solved"] for h in history]  # a reused solve keeps its time
    assert all(e >= done for e, done, s in zip(elapsed, seconds, solved) if s)
    seeds = growth.seeds  # the seeding (warm start included) ends before the first solve
    assert seeds.get("warm_start_time", 0.0) <= seeds["elapsed"] <= elapsed[0]


def test_the_tight_phase_starts_from_the_loose_solution_s_active_patterns():
    # The first tight solve drops the loose solution's inactive groups (they are scored again
    # every round with the dropped patterns) and growth still reaches the enumerated optimum.
    X, y = _teacher(0, 40, 2)
    Xa, Y, loss, alpha = _augment(X), y[:, None], get_loss("squared"), 0.3
    full = train_two_layer(Xa, Y, loss, alpha, enumerate_patterns(Xa), tol=1e-8, prove=False)

    def solve(patterns, warm, tol):
        return train_two_layer(Xa, Y, loss, alpha, patterns, tol=tol, prove=False)

    growth = grow_patterns(Xa, Y, loss, alpha, solve, tol=1e-6, random_state=0)
    switch = [
        (a, b)
        for a, b in zip(growth.history, growth.history[1:])
        if b["final_phase"] and not a["final_phase"]
    ]
    assert len(switch) == 1
    loose, tight = switch[0]
    assert tight["solved"] and loose["active"] < loose["patterns"]
    assert tight["patterns"] == loose["active"]
    assert growth.converged
    assert growth.fit.objective == pytest.approx(full.objective, rel=1e-6)


def _poor_dual_point(n, step):
    """Enumerable data, its patterns, every ``step``-th of them, and the dual point there."""
    X, y = _teacher(2, n, 2)
    Xa, Y, loss, alpha = _augment(X), y[:, None], get_loss("squared"), 0.3
    everything = enumerate_patterns(Xa)
    few = everything.subset(np.arange(0, everything.n_patterns, step))
    poor = train_two_layer(Xa, Y, loss, alpha, few, prove=False)
    return Xa, Y, loss, alpha, everything, few, loss.dual_point(poor.network.predict(Xa), Y)


def test_dropped_patterns_are_recalled_exactly_when_they_violate():
    from convexnet.growth import _recall

    Xa, Y, loss, alpha, everything, few, lam = _poor_dual_point(25, 7)
    dropped = everything.subset(np.arange(1, everything.n_patterns, 3))
    floor = alpha * (1 + 1e-5)
    recalled, rest, best = _recall(Xa, lam, floor, dropped, gated=False)
    kappa = np.array([relu_kappa(Xa, dropped.D[:, [j]], lam)[0] for j in range(dropped.n_patterns)])
    assert 0 < recalled.n_patterns < dropped.n_patterns
    assert recalled.n_patterns + rest.n_patterns == dropped.n_patterns
    violating = {col.tobytes() for col in dropped.D[:, kappa > floor].T}
    assert {col.tobytes() for col in recalled.D.T} == violating
    assert best == pytest.approx(kappa.max(), rel=1e-9)
    none, same, _ = _recall(Xa, lam, floor, None, gated=False)
    assert none.n_patterns == 0 and same is None


def test_probe_offers_only_new_patterns_that_truly_violate():
    pytest.importorskip("torch")
    from convexnet.growth import _probe

    Xa, Y, loss, alpha, everything, few, lam = _poor_dual_point(40, 9)
    floor = alpha * (1 + 1e-5)
    found, best = _probe(Xa, Y, loss, alpha, lam, few, floor, False, 16, 0, 25)
    assert found.n_patterns > 0
    known = {col.tobytes() for col in few.D.T}
    for j in range(found.n_patterns):
        assert found.D[:, j].tobytes() not in known
        assert relu_kappa(Xa, found.D[:, [j]], lam)[0] > floor
    assert best >= (1 - 1e-12) * max(
        relu_kappa(Xa, found.D[:, [j]], lam)[0] for j in range(found.n_patterns)
    )
    # at the global optimum nothing violates
    full = train_two_layer(Xa, Y, loss, alpha, everything, prove=False)
    lam = loss.dual_point(full.network.predict(Xa), Y)
    none, _ = _probe(Xa, Y, loss, alpha, lam, few, floor, False, 16, 0, 25)
    assert none.n_patterns == 0


def test_direction_values_and_pattern_gradients_match_loops():
    """The blocked and per-column products equal the definitions, sample by sample."""
    from convexnet.certificates import pattern_gradients
    from convexnet.growth import DIRECTION_BLOCK, _direction_values

    rng = np.random.default_rng(11)
    X = rng.standard_normal((40, 3))
    lam = rng.standard_normal((40, 2))
    U = rng.standard_normal((3, DIRECTION_BLOCK + 7))  # more than one block
    expected = [
        max(abs(sum(lam[j, k] * max(X[j] @ U[:, m], 0.0) for j in range(40))) for k in range(2))
        for m in range(U.shape[1])
    ]
    assert np.allclose(_direction_values(X, U, lam), expected, rtol=1e-12, atol=1e-12)
    assert _direction_values(X, U[:, :0], lam).shape == (0,)
    D = rng.random((40, 5)) < 0.5
    Z = pattern_gradients(X, D, lam)
    for i in range(5):
        for k in range(2):
            ref = sum(D[j, i] * lam[j, k] * X[j] for j in range(40))
            assert np.allclose(Z[i, :, k], ref, rtol=1e-12, atol=1e-12)


def test_a_pattern_budget_bounds_the_working_sets_and_keeps_the_enumerated_optimum():
    X, y = _teacher(0, 30, 2)  # every pattern enumerable, as in the first test
    Xa, Y, loss, alpha = _augment(X), y[:, None], get_loss("squared"), 0.3
    full = train_two_layer(Xa, Y, loss, alpha, enumerate_patterns(Xa), prove=False)

    def solve(pats, warm, tol):
        return train_two_layer(Xa, Y, loss, alpha, pats, tol=tol, prove=False)

    grown = {}
    for limit in (None, 10, 8):  # no warm start: the pricing oracle finds every pattern
        grown[limit] = grow_patterns(
            Xa, Y, loss, alpha, solve, max_patterns=limit, warm_start=False, random_state=0
        )
    for limit in (10, 8):  # strictly, every round; new patterns replace the smallest groups
        assert all(h["patterns"] <= limit for h in grown[limit].history)
        assert any(h["trimmed"] > 0 for h in grown[limit].history)
    assert max(h["patterns"] for h in grown[None].history) > 10
    g = grown[10]
    assert g.converged  # smaller rounds, the same global optimum
    assert g.fit.objective == pytest.approx(full.objective, rel=1e-5)
    # 8 patterns are too few for this optimum: the working sets cycle and growth says so,
    # returning its best round, never below the optimum over every pattern.
    g = grown[8]
    assert not g.converged and g.reason == BUDGET_REASON
    assert len(g.history) < MAX_ROUNDS
    assert g.fit.objective == min(h["objective"] for h in g.history)
    assert g.fit.objective > full.objective * (1 + 1e-3)
    assert g.patterns.n_patterns <= 8


def test_trim_to_budget_drops_the_smallest_kept_groups_only():
    keep = np.array([True, True, False, True, True])
    norms = np.array([5.0, 1.0, 0.0, 3.0, 2.0])
    assert _trim_to_budget(keep, norms, 2, None) is keep
    assert _trim_to_budget(keep, norms, 2, 6) is keep
    assert _trim_to_budget(keep, norms, 2, 4).tolist() == [True, False, False, True, False]
    assert _within_budget(10, 4, 6) == MIN_NEW_PER_ROUND  # room for 2, at least 5 join
    assert _within_budget(10, 4, 3) == 3  # never more than the budget itself
    assert _within_budget(2, 0, None) == 2


def test_first_working_set_is_at_least_as_good_as_the_warm_start_network():
    # The warm start's patterns are in the first working set, and its network maps to a point
    # of that program with an objective no larger (alpha ||w1|| |w2| <= alpha/2 (w1^2 + w2^2)).
    pytest.importorskip("torch")
    X, y = _teacher(4, 80, 4)
    cases = (((y > np.median(y)).astype(int), ConvexReLUClassifier), (y, ConvexReLURegressor))
    for labels, Est in cases:  # Adam's warm start (logistic loss), then L-BFGS's (squared)
        model = Est(alpha=0.5, activation_patterns="grow", random_state=0).fit(X, labels)
        seeds, first = model.growth_["seeds"], model.growth_["history"][0]
        assert first["objective"] <= seeds["warm_start_objective"] * (1 + 1e-4)
        assert model.objective_ <= first["objective"] * (1 + 1e-4)


@pytest.mark.parametrize(
    "kwargs, task, limited",
    [
        ({}, "regression", True),
        ({}, "classification", True),
        ({"gated": True}, "regression", False),
        ({"solver": "CLARABEL"}, "regression", False),
    ],
)
def test_estimators_budget_growth_to_the_barrier_only_when_it_solves_the_working_sets(
    kwargs, task, limited, monkeypatch
):
    import convexnet.estimators as estimators
    from convexnet.solvers.working_set import barrier_max_patterns

    seen = {}

    def spy(*args, **kw):
        seen.update(kw)
        return grow_patterns(*args, **kw)

    monkeypatch.setattr(estimators, "grow_patterns", spy)
    X, y = _teacher(5, 40, 3)
    Est, target = ConvexReLURegressor, y
    if task == "classification":
        Est, target = ConvexReLUClassifier, (y > np.median(y)).astype(int)
    Est(alpha=0.5, activation_patterns="grow", random_state=0, **kwargs).fit(X, target)
    assert seen["max_patterns"] == (barrier_max_patterns(40, 4) if limited else None)


def test_gated_ascent_finds_larger_gated_values_than_the_relu_ascent():
    """Against enumeration: the largest gated value ``||X^T D lam||`` over every pattern of
    40 points in the plane (with an intercept) bounds both searches, and the gated ascent,
    which moves the gate apart from the weight, gets closer to it than the fixed-point ascent
    of ``lam^T (X u)_+`` from the same starts."""
    from convexnet.certificates import pattern_gradients
    from convexnet.growth import _ascent, _gated_ascent
    from convexnet.patterns import patterns_from_generators

    def best_gated(X, lam, G):
        pats = patterns_from_generators(X, G, method="test")
        return float(np.linalg.norm(pattern_gradients(X, pats.D, lam[:, None]), axis=1).max())

    plain, gated = [], []
    for seed in range(12):
        rng = np.random.default_rng(seed)
        X = np.hstack([rng.standard_normal((40, 2)), np.ones((40, 1))])
        lam = rng.standard_normal(40)
        top = best_gated(X, lam, enumerate_patterns(X).generators)
        U = rng.standard_normal((3, 16))
        a = max(best_gated(X, s * lam, _ascent(X, s * lam, U, 15)) for s in (1, -1))
        g = max(best_gated(X, s * lam, _gated_ascent(X, s * lam, U)) for s in (1, -1))
        assert max(a, g) <= top * (1 + 1e-12)
        plain.append(a / top)
        gated.append(g / top)
    assert all(g >= p - 1e-12 for g, p in zip(gated, plain))
    assert np.mean(gated) >= np.mean(plain) + 0.05
