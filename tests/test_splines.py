"""One-dimensional data (SPEC.md §4.3): minimum-norm ReLU networks are data-knot linear splines."""

import cvxpy as cp
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from convexnet.baselines import deep_relu_forward, train_deep_relu_nonconvex
from convexnet.closed_form.splines import function_space_cost, spline_interpolation, spline_lasso


@pytest.fixture(autouse=True)
def _single_blas_thread():
    with threadpool_limits(limits=1):
        yield


def data(n=7, seed=0, clustered=False):
    rng = np.random.default_rng(seed)
    x = (
        rng.uniform(-2, 2, n)
        if not clustered
        else np.concatenate([rng.uniform(-2, -1.8, n // 2), rng.uniform(1, 2, n - n // 2)])
    )
    return x, np.sin(2 * x) + 0.3 * rng.normal(size=n)


def min_cost_over_outer_slopes(xs, ys):
    """min_{sL, sR} R(f) for the connect-the-dots interpolant, in CVXPY (independent of the LP)."""
    inner = np.diff(ys) / np.diff(xs)
    sL, sR = cp.Variable(), cp.Variable()
    tv = cp.abs(inner[0] - sL) + np.sum(np.abs(np.diff(inner))) + cp.abs(sR - inner[-1])
    prob = cp.Problem(cp.Minimize(cp.maximum(tv, cp.abs(sL + sR))))
    prob.solve(solver=cp.CLARABEL)
    return prob.value


@pytest.mark.parametrize("seed, clustered", [(0, False), (1, False), (2, True)])
def test_min_norm_interpolant_is_the_data_knot_spline(seed, clustered):
    x, y = data(seed=seed, clustered=clustered)
    r = spline_interpolation(x, y)
    order = np.argsort(x)
    xs, ys = x[order], y[order]
    np.testing.assert_allclose(r.predict(x), y, atol=1e-9)  # interpolates, in any order
    assert np.all(np.isin(r.knots, xs))  # knots only at data points
    grid = np.linspace(xs[0] - 1.0, xs[-1] + 1.0, 301)
    inside = (grid >= xs[0]) & (grid <= xs[-1])
    np.testing.assert_allclose(r.predict(grid)[inside], np.interp(grid[inside], xs, ys), atol=1e-9)
    np.testing.assert_allclose(r.predict(grid), r.spline(grid), atol=1e-9)
    # affine outside the hull with the reported outer slopes
    left = grid < xs[0]
    np.testing.assert_allclose(np.diff(r.predict(grid[left])) / np.diff(grid[left]), r.slopes[0])
    # the LP value is the function-space cost [SESS19], minimised over the outer slopes
    assert r.value == pytest.approx(function_space_cost(xs, ys, r.slopes[0], r.slopes[-1]))
    assert r.value == pytest.approx(min_cost_over_outer_slopes(xs, ys), rel=1e-6)
    # the two-layer network's weight decay (biases free) is the value
    assert r.status == "optimal" and r.deep_weight_decay == pytest.approx(r.value, rel=1e-12)
    assert 0.5 * sum(np.sum(W**2) for W, _ in r.layers) == pytest.approx(r.value, rel=1e-12)
    # the knots are where the slope changes
    kinks = xs[1:-1][np.abs(np.diff(np.diff(ys) / np.diff(xs))) > 1e-9]
    np.testing.assert_allclose(np.setdiff1d(kinks, r.knots), [])


@pytest.mark.parametrize("depth", [3, 4])
def test_deep_networks_represent_the_spline_but_are_not_certified(depth):
    x, y = data(seed=3)
    r = spline_interpolation(x, y, depth=depth)
    assert r.status == "representation" and len(r.layers) == depth
    grid = np.linspace(-3, 3, 201)
    np.testing.assert_allclose(r.predict(grid), r.spline(grid), atol=1e-9)
    branches = [[(W, b) for W, b in r.layers]]
    np.testing.assert_allclose(deep_relu_forward(grid[:, None], branches)[:, 0], r.predict(grid))


@pytest.mark.parametrize("beta", [0.3, 0.1])
def test_lasso_against_nonconvex_two_layer_training(beta):
    """No start of the two-layer network with free biases ends below the Lasso; the best hits it."""
    x, y = data(n=6, seed=4)
    r = spline_lasso(x, y, beta)
    res = train_deep_relu_nonconvex(
        x[:, None], y, [12], biases=True, alpha=beta, n_starts=6, random_state=0
    )
    assert np.all(res.objectives >= r.value * (1 - 1e-7))
    assert res.best_objective == pytest.approx(r.value, rel=1e-4)
    assert np.all(np.isin(r.knots, np.sort(x)))


def test_lasso_tends_to_the_interpolant():
    x, y = data(seed=5)
    r = spline_interpolation(x, y)
    for beta in (1e-2, 1e-4, 1e-7):
        lasso = spline_lasso(x, y, beta)
        assert lasso.value <= beta * r.value * (1 + 1e-7)
    assert lasso.value / 1e-7 == pytest.approx(r.value, rel=1e-4)


def test_bad_input_names_the_argument():
    x, y = data()
    with pytest.raises(ValueError, match="x has repeated"):
        spline_interpolation(np.array([0.0, 0.0, 1.0]), np.ones(3))
    with pytest.raises(ValueError, match="x must be one-dimensional"):
        spline_interpolation(np.ones((4, 2)), np.ones(4))
    with pytest.raises(TypeError, match="x"):
        spline_interpolation("abc", y)
    with pytest.raises(ValueError, match="y"):
        spline_interpolation(x, y[:-1])
    with pytest.raises(ValueError, match="depth"):
        spline_interpolation(x, y, depth=1)
    with pytest.raises(ValueError, match="beta"):
        spline_lasso(x, y, beta=-1.0)
    with pytest.raises(ValueError, match="x contains NaN"):
        spline_interpolation(np.array([0.0, np.nan]), np.ones(2))


def test_two_column_y_is_refused_by_both_fits():
    x, y = data()
    Y = np.column_stack([y, -y])
    with pytest.raises(ValueError, match="single output"):
        spline_interpolation(x, Y)
    with pytest.raises(ValueError, match="single output"):
        spline_lasso(x, Y, beta=0.1)
    # one column is fine, and equals the 1-D target
    a, b = spline_lasso(x, y[:, None], beta=0.1), spline_lasso(x, y, beta=0.1)
    assert a.value == pytest.approx(b.value, rel=1e-9)


def test_predict_checks_x():
    x, y = data()
    fit = spline_interpolation(x, y)
    for bad in ("a", ["a", "b"]):
        with pytest.raises(TypeError, match="x"):
            fit.predict(bad)
        with pytest.raises(TypeError, match="x"):
            fit.spline(bad)
    with pytest.raises(ValueError, match="x contains NaN"):
        fit.predict([0.0, np.nan])
    with pytest.raises(ValueError, match="x must be one-dimensional"):
        fit.predict(np.ones((3, 2)))
    # scalars, repeats and (m, 1) columns are valid evaluation points
    assert fit.predict(x[0]).shape == (1,)
    np.testing.assert_allclose(fit.predict(np.r_[x, x][:, None]), np.r_[y, y], atol=1e-8)
