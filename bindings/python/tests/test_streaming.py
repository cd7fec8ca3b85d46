"""Per-row outputs of 8 MiB and more (R and the energies' gradient) go out with non-temporal
stores, a 64-byte line at a time (one store in the AVX-512 copy, four in the AVX2 one), each
row's partial lines joined with the next row's, on CPUs where that pays (not AMD's Zen 3 and 4)
or where IMPLICITEM_STREAMING=1 asks for it. Through the shipped library, with streaming asked for
and refused: the outputs have the bits of the same rows in calls too small to stream, on one thread
and on two, the values of the softmax written plainly, and the same bits either way."""

import numpy as np
import pytest
from scipy.special import logsumexp

import implicitem as ie

STREAMED_BYTES = 8 << 20
SLICE = 997  # rows per small call: 997 * K values stay far below the streaming size


@pytest.fixture(autouse=True, params=["1", "0"], ids=["streamed", "not streamed"])
def streaming(request, monkeypatch):
    monkeypatch.setenv("IMPLICITEM_STREAMING", request.param)
    return request.param


@pytest.fixture
def threads():
    previous = ie.get_num_threads()
    yield ie.set_num_threads
    ie.set_num_threads(previous)


def rows_to_stream(k, dtype):
    return STREAMED_BYTES // (k * np.dtype(dtype).itemsize) + 3


def check_slices(full, call, n, k):
    """Every field of `full` against calls on slices of SLICE rows, bit for bit."""
    for first in range(0, n, SLICE):
        part = call(slice(first, min(first + SLICE, n)))
        rows = slice(first, min(first + SLICE, n))
        for name in ("logZ", "resp", "energies_grad"):
            np.testing.assert_array_equal(getattr(part, name), getattr(full, name)[rows],
                                          err_msg=f"{name}, rows from {first}")


# K = 64: rows of whole lines; K = 37 and 40: rows that end inside a line (joined with the next).
@pytest.mark.parametrize("dtype,k", [(np.float64, 64), (np.float64, 37), (np.float32, 40)])
def test_learned_streamed_outputs(dtype, k, threads):
    n = rows_to_stream(k, dtype)
    rng = np.random.default_rng(k)
    energies = rng.uniform(0, 6, (n, k)).astype(dtype)
    logw = rng.uniform(-2, 0, k).astype(dtype)

    def call(rows=slice(None)):
        return ie.gradients(energies=energies[rows], kernel="learned", logw=logw)

    threads(1)
    one = call()
    threads(2)
    two = call()
    for name in ("logZ", "resp", "energies_grad", "logw"):
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name), err_msg=name)
    check_slices(two, call, n, k)

    a = logw.astype(np.float64) - energies.astype(np.float64)
    log_z = logsumexp(a, axis=1)
    resp = np.exp(a - log_z[:, None])
    # logZ may be near 0: its error is bounded by that of the logits, a few ulps of |a| <= 8.
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(two.logZ, log_z, rtol=tol, atol=32 * np.finfo(dtype).eps * 8)
    np.testing.assert_allclose(two.resp, resp, rtol=tol, atol=1e-30)
    np.testing.assert_allclose(two.energies_grad, -resp, rtol=tol, atol=1e-30)
    np.testing.assert_allclose(two.logw, resp.sum(axis=0), rtol=tol * 100)


def test_gaussian_streamed_responsibilities(threads):
    """The vector model's rows through the stream: K = 36 float64."""
    k, d = 36, 3
    n = rows_to_stream(k, np.float64)
    rng = np.random.default_rng(7)
    x = rng.normal(0, 2, (n, d))
    mu = rng.normal(0, 2, (k, d))

    def call(rows=slice(None)):
        return ie.gradients(x[rows], mu, kernel="gaussian", scale=1.0)

    threads(2)
    full = call()
    check_slices(full, call, n, k)
    a = -0.5 * ((x[:, None, :] - mu[None]) ** 2).sum(-1)
    log_z = logsumexp(a, axis=1)
    # Logits reach about -60 here; logZ may be near 0 (absolute error a few ulps of |a|).
    np.testing.assert_allclose(full.logZ, log_z, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(full.resp, np.exp(a - log_z[:, None]), rtol=1e-11, atol=1e-300)


@pytest.mark.parametrize("dtype,k", [(np.float64, 37), (np.float32, 40)])
def test_streaming_changes_no_bit(dtype, k, monkeypatch):
    n = rows_to_stream(k, dtype)
    rng = np.random.default_rng(k + 1)
    energies = rng.uniform(0, 6, (n, k)).astype(dtype)
    logw = rng.uniform(-2, 0, k).astype(dtype)
    results = {}
    for value in ("1", "0", "unset"):
        if value == "unset":
            monkeypatch.delenv("IMPLICITEM_STREAMING", raising=False)
        else:
            monkeypatch.setenv("IMPLICITEM_STREAMING", value)
        results[value] = ie.gradients(energies=energies, kernel="learned", logw=logw)
    for name in ("logZ", "resp", "energies_grad", "logw"):
        for value in ("0", "unset"):
            np.testing.assert_array_equal(getattr(results[value], name), getattr(results["1"], name),
                                          err_msg=f"{name}: IMPLICITEM_STREAMING={value}")
