"""Estimators: certified optimality against non-convex training, the sklearn contract, bad input."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from convexnet import ConvexReLUClassifier, ConvexReLURegressor, train_two_layer_nonconvex
from convexnet.losses import LogisticLoss, SquaredLoss

torch = pytest.importorskip("torch")
torch.set_num_threads(1)


def _regression(seed, n=12, d=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2 + 0.1 * rng.normal(size=n)
    return X, y


def _augment(X):
    return np.hstack([X, np.ones((len(X), 1))])


@pytest.mark.parametrize("seed", [0, 1])
def test_regressor_certified_optimum_is_never_beaten(seed):
    """Enumerated patterns: the dual bound holds against every network; L-BFGS never goes below."""
    X, y = _regression(seed)
    alpha = 0.05
    model = ConvexReLURegressor(alpha=alpha, activation_patterns="enumerate").fit(X, y)
    assert model.status_ == "optimal"
    assert model.patterns_complete_ and model.certificate_.is_global
    assert model.relative_duality_gap_ <= 1e-6
    # objective_ is J of the returned network, recomputed here from its weights.
    W1, W2 = model.coefs_
    H = np.maximum(X @ W1 + model.intercepts_[0], 0)
    J = 0.5 * np.sum((H @ W2 - y) ** 2) + alpha / 2 * (
        np.sum(W1**2) + np.sum(model.intercepts_[0] ** 2) + np.sum(W2**2)
    )
    assert J == pytest.approx(model.objective_, rel=1e-10)
    base = train_two_layer_nonconvex(
        _augment(X),
        y,
        width=max(2 * model.n_neurons_, 16),
        alpha=alpha,
        n_starts=30,
        random_state=seed,
    )
    assert base.objectives.min() >= model.dual_objective_ - 1e-9
    assert base.objectives.min() >= model.objective_ * (1 - 2e-6)
    # Some local runs do reach the optimum (the bound is not vacuous).
    assert base.objectives.min() <= model.objective_ * 1.05


def test_classifier_certified_optimum_is_never_beaten():
    X, y = make_moons(n_samples=14, noise=0.2, random_state=0)
    alpha = 0.1
    clf = ConvexReLUClassifier(alpha=alpha, activation_patterns="enumerate").fit(X, y)
    assert clf.status_ == "optimal" and clf.certificate_.is_global
    ypm = np.where(y == clf.classes_[1], 1.0, -1.0)
    base = train_two_layer_nonconvex(
        _augment(X),
        ypm,
        width=max(2 * clf.n_neurons_, 16),
        alpha=alpha,
        loss="logistic",
        n_starts=20,
    )
    assert base.objectives.min() >= clf.dual_objective_ - 1e-9
    net_J = clf.network_.objective(_augment(X), ypm, LogisticLoss(), alpha)
    assert net_J == pytest.approx(clf.objective_, rel=1e-12)


def test_gated_objective_is_below_relu_on_all_patterns():
    X, y = _regression(2)
    relu = ConvexReLURegressor(alpha=0.05, activation_patterns="enumerate").fit(X, y)
    gated = ConvexReLURegressor(alpha=0.05, activation_patterns="enumerate", gated=True).fit(X, y)
    assert gated.objective_ <= relu.objective_ + 1e-7
    assert gated.gates_ is not None
    assert "gated" in gated.certificate_.scope


def test_sampled_patterns_say_what_they_certify():
    X, y = _regression(3, n=60, d=3)
    model = ConvexReLURegressor(alpha=0.5, activation_patterns=30, random_state=0).fit(X, y)
    assert not model.patterns_complete_
    assert not model.certificate_.is_global
    assert "given activation patterns" in model.certificate_.scope
    assert model.certificate_.global_dual <= model.dual_objective_ + 1e-9
    assert model.n_patterns_ <= 30


@pytest.mark.parametrize("gated", [False, True])
def test_to_torch_reproduces_predictions(gated):
    X, y = _regression(4, n=20)
    model = ConvexReLURegressor(alpha=0.1, gated=gated, activation_patterns=20, random_state=0)
    model.fit(X, y)
    out = model.to_torch()(torch.as_tensor(X)).detach().numpy()[:, 0]
    np.testing.assert_allclose(out, model.predict(X), atol=1e-10)


def test_multiclass_and_multioutput():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 2))
    y = np.digitize(X[:, 0] + 0.3 * X[:, 1], [-0.5, 0.5])
    clf = ConvexReLUClassifier(alpha=0.5, activation_patterns=20, random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (30, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert clf.coefs_[1].shape == (clf.n_neurons_, 3)
    assert np.all(np.count_nonzero(clf.coefs_[1], axis=1) == 1)  # decoupled outputs
    assert clf.score(X, y) > 0.8
    Y = np.column_stack([X[:, 0] ** 2, np.abs(X[:, 1])])
    reg = ConvexReLURegressor(alpha=0.1, activation_patterns=20, random_state=0).fit(X, Y)
    assert reg.predict(X).shape == (30, 2)
    J = reg.network_.objective(_augment(X), Y, SquaredLoss(), 0.1)
    assert J == pytest.approx(reg.objective_)


def test_early_stop_is_reported():
    X, y = _regression(6, n=30)
    with pytest.warns(ConvergenceWarning, match="gap"):
        model = ConvexReLURegressor(alpha=0.1, solver="clarabel", max_iter=2).fit(X, y)
    assert model.status_ == "inaccurate"
    assert model.relative_duality_gap_ > model.tol


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"alpha": -1.0}, ValueError, "alpha"),
        ({"alpha": "big"}, TypeError, "alpha"),
        ({"solver": "magic"}, ValueError, "solver"),
        ({"activation_patterns": "all"}, ValueError, "activation_patterns"),
        ({"activation_patterns": 0}, ValueError, "activation_patterns"),
        ({"tol": 0.0}, ValueError, "tol"),
        ({"max_iter": 0}, ValueError, "max_iter"),
    ],
)
def test_bad_parameters(kwargs, error, match):
    X, y = _regression(7)
    with pytest.raises(error, match=match):
        ConvexReLURegressor(**kwargs).fit(X, y)


def test_bad_data():
    X, y = _regression(8)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="X"):
        ConvexReLURegressor().fit(bad, y)
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="X"):
        ConvexReLURegressor().fit(bad, y)
    with pytest.raises(ValueError, match="y"):
        ConvexReLURegressor().fit(X, np.r_[y[:-1], np.nan])
    with pytest.raises(ValueError):
        ConvexReLURegressor().fit(X, y[:-1])
    with pytest.raises(ValueError, match="sample"):
        ConvexReLURegressor().fit(np.empty((0, 2)), np.empty(0))
    with pytest.raises(TypeError, match="X"):
        ConvexReLURegressor().fit([["a", "b"]] * 12, y)
    with pytest.raises(TypeError, match="y"):
        ConvexReLURegressor().fit(X, ["a"] * 12)
    with pytest.raises(TypeError, match="X"):
        ConvexReLUClassifier().fit(np.array([["a", "b"]] * 12), np.arange(12) % 2)
    for flag in ("verbose", "fit_intercept", "gated"):
        with pytest.raises(TypeError, match=flag):
            ConvexReLURegressor(**{flag: "yes"}).fit(X, y)
    with pytest.raises(ValueError, match="one class"):
        ConvexReLUClassifier().fit(X, np.zeros(len(X)))
    model = ConvexReLURegressor(activation_patterns=10).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :1])


def test_memory_is_estimated_and_refused(monkeypatch):
    import convexnet.training as training

    monkeypatch.setattr(training, "available_memory", lambda: 1000)
    X, y = _regression(9)
    with pytest.raises(MemoryError, match="fewer patterns"):
        ConvexReLURegressor(activation_patterns=10).fit(X, y)


@parametrize_with_checks(
    [
        ConvexReLURegressor(activation_patterns=10, random_state=0),
        ConvexReLUClassifier(activation_patterns=10, random_state=0),
    ]
)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def test_auto_patterns_enumerate_small_and_grow_large():
    X, y = _regression(10, n=10, d=2)  # rank 2 without a bias column: 2n = 20 patterns
    small = ConvexReLURegressor(alpha=0.1, fit_intercept=False).fit(X, y)
    assert small.patterns_complete_ and small.n_patterns_ <= 2 * len(X)
    assert small.growth_ is None and small.certificate_kind_.startswith("global")
    X, y = _regression(11, n=80, d=3)
    large = ConvexReLURegressor(alpha=0.1, random_state=0).fit(X, y)
    assert not large.patterns_complete_
    assert large.growth_["rounds"] >= 1 and large.certificate_kind_.startswith("grown")
    assert large.proven_dual_objective_ <= large.objective_


def test_named_solver_is_used_and_reported():
    X, y = _regression(12)
    scs = ConvexReLURegressor(alpha=0.1, solver="SCS", activation_patterns="enumerate", tol=1e-4)
    scs.fit(X, y)
    ref = ConvexReLURegressor(alpha=0.1, activation_patterns="enumerate").fit(X, y)
    assert scs.solver_ == "SCS" and ref.solver_ == "CLARABEL"
    assert scs.objective_ == pytest.approx(ref.objective_, rel=1e-4)
    assert scs.dual_objective_ <= ref.objective_ + 1e-9


def test_min_norm_interpolation_through_the_pipeline():
    from convexnet import enumerate_patterns, train_two_layer

    X, y = _regression(13, n=8)
    Xa = _augment(X)
    fit = train_two_layer(Xa, y, SquaredLoss(), 0.0, enumerate_patterns(Xa), interpolate=True)
    assert fit.status == "optimal"
    np.testing.assert_allclose(fit.network.predict(Xa)[:, 0], y, atol=1e-6)
    assert fit.objective == pytest.approx(fit.network.penalty())
    cert = fit.certificate
    assert 0 < cert.residual < 1e-6
    slack = np.abs(cert.dual_point).sum() * cert.residual
    assert cert.dual <= fit.objective + slack
    # Any interpolating network costs at least the certified bound: a wider random-feature
    # interpolant (least norm output weights on fixed random neurons) is never cheaper.
    rng = np.random.default_rng(0)
    for _ in range(5):
        W1 = rng.normal(size=(Xa.shape[1], 40))
        H = np.maximum(Xa @ W1, 0)
        a = np.linalg.lstsq(H, y, rcond=None)[0]
        if np.max(np.abs(H @ a - y)) > 1e-8:
            continue
        # rebalance each neuron: min over scalings of (||w||^2 + a^2)/2 is ||w|| |a|
        cost = float(np.sum(np.linalg.norm(W1, axis=0) * np.abs(a)))
        assert cost >= fit.certificate.dual - 1e-9


def test_vector_output_bounds_against_coupled_training():
    """Y = [y, y]: coupled networks (a_j in R^2) beat the decoupled optimum, never coupled_dual."""
    X, y = _regression(14, n=10)
    Y = np.column_stack([y, y])
    alpha = 1.0
    model = ConvexReLURegressor(alpha=alpha, activation_patterns="enumerate").fit(X, Y)
    cert = model.certificate_
    assert cert.is_global and "decoupled" in cert.scope
    assert cert.coupled_dual <= cert.dual
    Xa = _augment(X)
    decoupled = train_two_layer_nonconvex(
        Xa, Y, width=16, alpha=alpha, decoupled=True, n_starts=10, random_state=1
    )
    coupled = train_two_layer_nonconvex(Xa, Y, width=16, alpha=alpha, n_starts=10, random_state=1)
    assert decoupled.objectives.min() >= cert.dual - 1e-9
    assert coupled.objectives.min() >= cert.coupled_dual - 1e-9
    assert cert.global_dual <= cert.coupled_dual + 1e-12
    # The decoupled bound does not hold for coupled networks: here they do better.
    assert coupled.objectives.min() < cert.dual
