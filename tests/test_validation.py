"""Input checks name the offending argument."""

import numpy as np
import pytest

from convexnet._validation import (
    as_matrix,
    as_targets,
    check_choice,
    check_nonnegative,
    check_positive,
    check_positive_int,
)


@pytest.mark.parametrize(
    "X, error",
    [
        ([[1.0, np.nan]], ValueError),
        ([[1.0, np.inf]], ValueError),
        ([["a", "b"]], TypeError),
        ("abc", TypeError),
        (np.empty((0, 2)), ValueError),
        (np.ones(3), ValueError),
    ],
)
def test_as_matrix_errors_name_the_argument(X, error):
    with pytest.raises(error, match="data"):
        as_matrix(X, "data")


def test_as_targets():
    assert as_targets([1, 2, 3], 3).shape == (3,)
    with pytest.raises(ValueError, match="Y"):
        as_targets([1, 2], 3, "Y")
    with pytest.raises(ValueError, match="Y"):
        as_targets([1, np.nan, 2], 3, "Y")
    with pytest.raises(TypeError, match="Y"):
        as_targets(["a", "b", "c"], 3, "Y")
    with pytest.raises(ValueError, match="Y"):
        as_targets(np.ones((3, 1, 1)), 3, "Y")


def test_scalar_checks():
    assert check_nonnegative(0, "alpha") == 0.0
    with pytest.raises(ValueError, match="alpha"):
        check_nonnegative(-1, "alpha")
    with pytest.raises(TypeError, match="alpha"):
        check_nonnegative("1", "alpha")
    with pytest.raises(ValueError, match="tol"):
        check_positive(0.0, "tol")
    with pytest.raises(ValueError, match="tol"):
        check_positive(np.inf, "tol")
    with pytest.raises(TypeError, match="depth"):
        check_positive_int(2.5, "depth")
    with pytest.raises(TypeError, match="depth"):
        check_positive_int(True, "depth")
    with pytest.raises(ValueError, match="depth"):
        check_positive_int(1, "depth", minimum=2)
    with pytest.raises(ValueError, match="mode"):
        check_choice("c", "mode", {"a", "b"})


def test_check_bool_and_physical_memory():
    from convexnet._validation import check_bool, physical_memory

    assert check_bool(np.True_, "flag") is True
    with pytest.raises(TypeError, match="flag"):
        check_bool("yes", "flag")
    memory = physical_memory()
    assert memory is None or memory > 0
