"""DeepLinearRegressor follows the scikit-learn estimator contract."""

import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from convexnet.deep_linear import DeepLinearRegressor


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
