"""Every kind of bad input raises ImplicitEMError (a ValueError) with a status and a message
naming the argument, whether the binding or the library catches it."""

import numpy as np
import pytest

import implicitem as ie

S = ie.Status
X = np.array([[0.0, 1.0], [2.0, -1.0], [0.5, 0.5]])
MU = np.array([[0.0, 0.0], [1.0, 1.0]])
CHOL = np.array([np.eye(2), 2 * np.eye(2)])


def bad(**changes):
    return {"x": X, "mu": MU, "kernel": "gaussian", **changes}


# (id, keyword arguments of ie.gradients, expected status, the argument the message names)
CASES = [
    ("unknown kernel", bad(kernel="gauss"), S.ERR_BAD_ENUM, "kernel"),
    ("unknown kernel number", bad(kernel=42), S.ERR_BAD_ENUM, "kernel"),
    ("x not 2-D", bad(x=X[0]), S.ERR_BAD_SIZE, "x"),
    ("mu of the wrong width", bad(mu=np.zeros((2, 3))), S.ERR_BAD_SIZE, "mu"),
    ("scale of the wrong shape", bad(scale=np.ones(3)), S.ERR_BAD_SIZE, "scale"),
    ("scale (K, D) transposed", bad(scale=np.ones((2, 2)).T[:, :1]), S.ERR_BAD_SIZE, "scale"),
    ("logw of the wrong length", bad(logw=np.zeros(3)), S.ERR_BAD_SIZE, "logw"),
    ("logprior of the wrong shape", bad(logprior=np.zeros((2, 2))), S.ERR_BAD_SIZE, "logprior"),
    ("gL of the wrong length", bad(gL=np.ones(2)), S.ERR_BAD_SIZE, "gL"),
    ("gR of the wrong shape", bad(gR=np.ones((3, 3))), S.ERR_BAD_SIZE, "gR"),
    ("chol of the wrong shape", bad(kernel="mahalanobis", chol=np.ones((2, 2))), S.ERR_BAD_SIZE,
     "chol"),
    ("chol missing", bad(kernel="mahalanobis"), S.ERR_NULL_POINTER, "chol"),
    ("nu missing", bad(kernel="student_t"), S.ERR_BAD_PARAMETER, "nu"),
    ("delta missing", bad(kernel="huber"), S.ERR_BAD_PARAMETER, "delta"),
    ("mixed precision", bad(mu=MU.astype(np.float32)), S.ERR_BAD_PARAMETER, "mu"),
    ("energies for a geometric kernel", bad(energies=np.zeros((3, 2))), S.ERR_BAD_PARAMETER,
     "energies"),
    ("learned without energies", {"kernel": "learned", "x": X}, S.ERR_NULL_POINTER, "energies"),
    ("energies of the wrong rank", {"kernel": "learned", "energies": np.zeros(3)},
     S.ERR_BAD_SIZE, "energies"),
    ("energy_fn not callable", {"kernel": "learned", "x": X, "energy_fn": 3, "n_components": 2},
     S.ERR_BAD_PARAMETER, "energy_fn"),
    # Caught by the library.
    ("zero scale", bad(scale=0.0), S.ERR_BAD_PARAMETER, "scale"),
    ("negative per-dimension scale", bad(scale=np.array([[1.0, 1.0], [1.0, -2.0]])),
     S.ERR_BAD_PARAMETER, "scale"),
    ("infinite scale", bad(scale=np.inf), S.ERR_BAD_PARAMETER, "scale"),
    ("zero nu", bad(kernel="student_t", nu=0.0), S.ERR_BAD_PARAMETER, "nu"),
    ("negative delta", bad(kernel="pseudo_huber", delta=-1.0), S.ERR_BAD_PARAMETER, "delta"),
    ("zero tau", bad(tau=0.0), S.ERR_BAD_PARAMETER, "tau"),
    ("NaN tau", bad(tau=np.nan), S.ERR_BAD_PARAMETER, "tau"),
    ("chol diagonal not positive", bad(kernel="mahalanobis", chol=np.array([np.eye(2), -np.eye(2)])),
     S.ERR_BAD_PARAMETER, "chol"),
    ("NaN in x", bad(x=np.array([[0.0, np.nan], [1.0, 1.0]])), S.ERR_NONFINITE_INPUT, "x"),
    ("infinity in mu", bad(mu=np.array([[0.0, np.inf], [1.0, 1.0]])), S.ERR_NONFINITE_INPUT, "mu"),
    ("NaN in logw", bad(logw=np.array([0.0, np.nan])), S.ERR_NONFINITE_INPUT, "logw"),
    ("NaN in logprior", bad(logprior=np.full((3, 2), np.nan)), S.ERR_NONFINITE_INPUT, "logprior"),
    ("NaN in energies", {"kernel": "learned", "energies": np.array([[0.0, np.nan]])},
     S.ERR_NONFINITE_INPUT, "energies"),
    ("normalised logistic", bad(kernel="logistic", normalized=True), S.ERR_UNSUPPORTED, "logistic"),
    ("normalised learned", {"kernel": "learned", "energies": np.zeros((3, 2)), "normalized": True},
     S.ERR_UNSUPPORTED, "learned"),
    ("normalised student_t with tau >= 2", bad(kernel="student_t", nu=3.0, tau=2.0, normalized=True),
     S.ERR_UNSUPPORTED, "tau"),
]


# forward takes every argument but the upstream gradients.
CALLS = [(call, c) for c in CASES for call in ("forward", "gradients")
         if call == "gradients" or c[3] not in ("gL", "gR")]


@pytest.mark.parametrize("call, kwargs, status, argument", [(call, *c[1:]) for call, c in CALLS],
                         ids=[f"{call}-{c[0]}" for call, c in CALLS])
def test_bad_input_raises_an_error_naming_the_argument(call, kwargs, status, argument):
    with pytest.raises(ie.ImplicitEMError) as caught:
        getattr(ie, call)(**kwargs)
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.status == status, str(error)
    assert argument in error.message, error.message
    assert argument in str(error)


@pytest.mark.parametrize("kwargs, argument", [
    ({"kernel": "exponential", "z": [0.0], "scale": -1.0}, "scale"),
    ({"kernel": "cosine", "z": [0.0]}, "kernel"),
    ({"kernel": "student_t", "z": [0.0]}, "nu"),
    ({"kernel": "gaussian", "z": [np.nan]}, "z"),
    ({"kernel": "gaussian", "z": [1.0], "tau": -1.0}, "tau"),
])
def test_bad_activation_input(kwargs, argument):
    with pytest.raises(ie.ImplicitEMError) as caught:
        ie.activation(**kwargs)
    assert argument in caught.value.message


def test_bad_stats_and_normalizer_input():
    with pytest.raises(ie.ImplicitEMError, match="weights"):
        ie.stats(X, MU, weights=np.ones(2))
    with pytest.raises(ie.ImplicitEMError, match="weights") as caught:
        ie.stats(X, MU, weights=np.array([1.0, -1.0, 1.0]))
    assert caught.value.status == S.ERR_BAD_PARAMETER
    with pytest.raises(ie.ImplicitEMError) as caught:
        ie.log_normalizer(MU, kernel="logistic")
    assert caught.value.status == S.ERR_UNSUPPORTED
    with pytest.raises(ie.ImplicitEMError) as caught:
        ie.log_normalizer(MU, kernel="learned")
    assert caught.value.status == S.ERR_UNSUPPORTED


def test_errors_leave_the_inputs_untouched():
    x = X.copy()
    with pytest.raises(ie.ImplicitEMError):
        ie.gradients(x, MU, kernel="gaussian", tau=-1.0)
    np.testing.assert_array_equal(x, X)
