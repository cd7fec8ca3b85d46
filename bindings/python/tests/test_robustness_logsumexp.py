"""The edge cases of scipy's logsumexp, softmax and log_softmax tests
(scipy/special/tests/test_logsumexp.py), as tests of logZ and R through the learned kernel.

The logits of a learned problem are a_nk = logw_k + logprior_nk - E_nk / tau, so a row of
logits `a` is given as energies E = -a (tau = 1). A -inf logit cannot be an energy (energies
must be finite): it is a -inf logprior (a mask), and scipy's weights b become logprior = log b.
The truth is scipy's own logsumexp/softmax, or the closed values written in scipy's tests."""

import math

import numpy as np
import pytest
from scipy.special import log_softmax, logsumexp, softmax

import implicitem as ie


def learned(logits, dtype=np.float64, route="energies", tau=1.0):
    """logZ and R of rows of logits (a 2-D array; -inf entries become masks)."""
    a = np.atleast_2d(np.asarray(logits, dtype=np.float64))
    masked = a == -np.inf
    finite = np.where(masked, 0.0, a)
    logprior = np.where(masked, -np.inf, 0.0).astype(dtype) if masked.any() else None
    if route == "energies":
        # E = -a·tau gives a = -E/tau.
        r = ie.forward(energies=(-finite * tau).astype(dtype), kernel="learned", tau=tau, logprior=logprior)
    elif route == "logw":
        # One row at a time: the logits as log-weights over zero energies.
        rows = [ie.forward(energies=np.zeros((1, a.shape[1]), dtype=dtype), kernel="learned",
                           logw=row.astype(dtype)) for row in a]
        return np.concatenate([x.logZ for x in rows]), np.concatenate([x.resp for x in rows])
    else:
        # The logits as log-priors over zero energies.
        r = ie.forward(energies=np.zeros(a.shape, dtype=dtype), kernel="learned", logprior=a.astype(dtype))
    return r.logZ, r.resp


ROUTES = ["energies", "logw", "logprior"]


@pytest.mark.parametrize("route", ROUTES)
def test_large_inputs(route):
    a = np.arange(200.0)
    logZ, R = learned(a[None, :], route=route)
    np.testing.assert_allclose(logZ, [logsumexp(a)], rtol=1e-14)
    np.testing.assert_allclose(R[0], softmax(a), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("route", ROUTES)
def test_large_equal_values(route):
    logZ, R = learned([[1000.0, 1000.0]], route=route)
    np.testing.assert_allclose(logZ, [1000.0 + math.log(2.0)], rtol=1e-15)
    np.testing.assert_array_equal(R, [[0.5, 0.5]])
    n = 1000
    logZ, R = learned(np.full((1, n), 10000.0), route=route)
    np.testing.assert_allclose(logZ, [10000.0 + math.log(n)], rtol=1e-15)
    np.testing.assert_allclose(R, np.full((1, n), 1.0 / n), rtol=1e-12)


def test_many_tiny_terms():
    # scipy: exp(logsumexp(log x)) == sum(x) for a million x = 1e-40.
    x = np.full(1_000_000, 1e-40)
    logx = np.log(x)
    logZ, R = learned(np.stack([logx, logx]))
    np.testing.assert_allclose(np.exp(logZ), [x.sum(), x.sum()], rtol=1e-9)
    np.testing.assert_allclose(R[0, :3], [1e-6] * 3, rtol=1e-9)


def test_all_minus_infinity_rows():
    # logsumexp([-inf]) = logsumexp([-inf, -inf]) = -inf; the row of R is 0, never NaN.
    logZ, R = learned([[-np.inf, -np.inf], [0.0, -np.inf]])
    assert logZ[0] == -np.inf and np.all(R[0] == 0)
    assert logZ[1] == 0.0 and np.array_equal(R[1], [1.0, 0.0])
    g = ie.gradients(energies=np.zeros((2, 2)), kernel="learned",
                     logprior=np.array([[-np.inf, -np.inf], [0.0, -np.inf]]))
    assert np.all(g.energies_grad[0] == 0) and np.all(g.logprior[0] == 0)
    assert not np.isnan(g.tau) and not np.isnan(g.logw).any()


@pytest.mark.parametrize("route", ["energies", "logprior"])
def test_rows_mixing_huge_and_minus_infinity(route):
    # scipy: logsumexp([[1e10, 1e-10], [-1e10, -inf]], axis=-1) = [1e10, -1e10].
    a = np.array([[1e10, 1e-10], [-1e10, -np.inf]])
    logZ, R = learned(a, route=route)
    np.testing.assert_allclose(logZ, [1e10, -1e10], rtol=1e-15)
    np.testing.assert_array_equal(R, [[1.0, 0.0], [1.0, 0.0]])


def test_weights_as_log_priors():
    # scipy's b: logsumexp(a, b=b) = log(sum(b e^a)) = logsumexp(a + log b).
    a = np.arange(200.0)
    b = np.arange(200.0, 0.0, -1.0)
    r = ie.forward(energies=-a[None, :], kernel="learned", logprior=np.log(b)[None, :])
    np.testing.assert_allclose(r.logZ, [logsumexp(a, b=b)], rtol=1e-14)
    r = ie.forward(energies=-np.array([[1000.0, 1000.0]]), kernel="learned",
                   logprior=np.log([[1.2, 1.2]]))
    np.testing.assert_allclose(r.logZ, [1000 + math.log(2 * 1.2)], rtol=1e-15)
    # b = 0 masks a term, however large: logsumexp([1, 10000], b=[1, 0]) = 1.
    with np.errstate(divide="ignore"):
        r = ie.forward(energies=-np.array([[1.0, 10000.0]]), kernel="learned",
                       logprior=np.log([[1.0, 0.0]]))
    np.testing.assert_allclose(r.logZ, [1.0], rtol=1e-15)
    np.testing.assert_array_equal(r.resp, [[1.0, 0.0]])


def test_precision_when_one_term_dominates():
    # scipy gh-18295: logsumexp([0, -40]) = logaddexp(0, -40) = log1p(e^-40) ≈ 4.25e-18,
    # which 0 + log(1 + e^-40) loses entirely.
    for route in ROUTES:
        logZ, R = learned([[0.0, -40.0]], route=route)
        np.testing.assert_allclose(logZ, [np.logaddexp(0.0, -40.0)], rtol=1e-13,
                                   err_msg=f"through {route}")
        np.testing.assert_allclose(R[0], softmax([0.0, -40.0]), rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes(dtype):
    # scipy test_dtypes_a: logsumexp([1000, 1000]) = 1000 + log 2 in the input's precision.
    logZ, R = learned([[1000.0, 1000.0]], dtype=dtype)
    assert logZ.dtype == dtype and R.dtype == dtype
    np.testing.assert_allclose(logZ, [1000.0 + math.log(2.0)], rtol=np.finfo(dtype).eps * 4)


def test_nan_and_plus_infinity_are_errors():
    # scipy returns nan for nan and inf for +inf; here a logit of nan or +inf would need a
    # non-finite energy, which is a clear error naming it.
    for bad in (np.nan, -np.inf, np.inf):
        with pytest.raises(ie.ImplicitEMError, match="energies"):
            ie.forward(energies=np.array([[0.0, bad]]), kernel="learned")
    with pytest.raises(ie.ImplicitEMError, match="logprior"):
        ie.forward(energies=np.zeros((1, 2)), kernel="learned", logprior=np.array([[0.0, np.inf]]))


class TestSoftmax:
    # scipy TestSoftmax: the same fixtures as rows of R.
    @pytest.mark.parametrize("route", ROUTES)
    def test_fixtures(self, route):
        _, R = learned([[1000.0, 0.0, 0.0, 0.0]], route=route)
        np.testing.assert_allclose(R[0], [1.0, 0.0, 0.0, 0.0], rtol=1e-13)
        _, R = learned([[1.0, 1.0]], route=route)
        np.testing.assert_allclose(R[0], [0.5, 0.5], rtol=1e-13)
        _, R = learned([[0.0, 1.0]], route=route)
        np.testing.assert_allclose(R[0], np.array([1.0, np.e]) / (1 + np.e), rtol=1e-13)
        expected = [0.03205860328008499, 0.08714431874203256, 0.23688281808991013, 0.6439142598879722]
        x = np.arange(4.0)
        _, R = learned(x[None, :], route=route)
        np.testing.assert_allclose(R[0], expected, rtol=1e-13)
        _, R = learned(x[None, :] + 100, route=route)
        np.testing.assert_allclose(R[0], expected, rtol=1e-13)

    def test_rows(self):
        _, R = learned([[1000.0, 0.0], [1000.0, 0.0]])
        np.testing.assert_allclose(R, [[1.0, 0.0], [1.0, 0.0]], rtol=1e-13)
        x = np.array([[-25.0, 0.0, 25.0, 50.0], [1.0, 325.0, 749.0, 750.0]])
        expected = np.array([[2.678636961770877e-33, 1.9287498479371314e-22, 1.3887943864771144e-11,
                              0.999999999986112],
                             [0.0, 1.9444526359919372e-185, 0.2689414213699951, 0.7310585786300048]])
        _, R = learned(x)
        np.testing.assert_allclose(R, expected, rtol=1e-13)

    def test_gradient_of_logZ_is_minus_R(self):
        # d logZ / d E = -R / tau: the softmax again, through the backward pass.
        x = np.array([[-25.0, 0.0, 25.0, 50.0], [1.0, 325.0, 749.0, 750.0]])
        for tau in (1.0, 0.5, 1e-3):
            g = ie.gradients(energies=-x * tau, kernel="learned", tau=tau)
            np.testing.assert_allclose(g.energies_grad, -softmax(x, axis=1) / tau, rtol=1e-13, atol=0)


class TestLogSoftmax:
    # scipy TestLogSoftmax: log_softmax(a) = a - logZ, checked through logZ.
    @pytest.mark.parametrize("offset", [0, 100])
    def test_translation(self, offset):
        x = np.arange(4.0) + offset
        logZ, _ = learned(x[None, :])
        expected = [-3.4401896985611953, -2.4401896985611953, -1.4401896985611953, -0.44018969856119533]
        np.testing.assert_allclose(x - logZ[0], expected, rtol=1e-13)

    def test_basic(self):
        logZ, _ = learned([[1000.0, 1.0], [1000.0, 1.0]])
        np.testing.assert_allclose(np.array([1000.0, 1.0]) - logZ[:, None], [[0.0, -999.0]] * 2, rtol=1e-13)
        np.testing.assert_allclose(np.array([1000.0, 1.0]) - logZ[0], log_softmax([1000.0, 1.0]), rtol=1e-13)


@pytest.mark.parametrize("tau", [1e-300, 1e-10, 1e10, 1e300])
def test_extreme_temperatures_stay_finite(tau):
    # The same logits at any temperature: E = -a·tau (finite for these), a = -E/tau.
    a = np.array([[-25.0, 0.0, 25.0, 50.0], [1.0, 325.0, 749.0, 750.0]])
    with np.errstate(over="ignore", under="ignore"):
        energies = -a * tau
    if not np.all(np.isfinite(energies)):
        pytest.skip("these logits times tau overflow")
    r = ie.forward(energies=energies, kernel="learned", tau=tau)
    # E/tau may round: compare against scipy on the logits the library actually sees.
    seen = -(energies / tau)
    np.testing.assert_allclose(r.logZ, logsumexp(seen, axis=1), rtol=1e-13)
    np.testing.assert_allclose(r.resp, softmax(seen, axis=1), rtol=1e-12, atol=1e-300)
