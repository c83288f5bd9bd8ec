"""DeepLinearRegressor follows the scikit-learn estimator contract."""

import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

from convexnet.deep_linear import DeepLinearRegressor


@pytest.fixture(autouse=True)
def _single_blas_thread():
    """Tiny matrices: multi-threaded BLAS only adds contention (10x slower on a busy machine)."""
    with threadpool_limits(limits=1):
        yield


@parametrize_with_checks(
    [
        DeepLinearRegressor(),
        DeepLinearRegressor(depth=4, architecture="parallel", fit_intercept=True),
    ]
)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
