"""The common small call (arrays already as the library reads them, a plain separable kernel,
a scalar scale) takes a shorter route through gradients(): it must return exactly what the
general route returns, raise the same errors, and match the formulas."""

import numpy as np
import pytest

import implicitem as ie
from implicitem import ImplicitEMError, core

FIELDS = ("energies", "logZ", "resp", "x", "mu", "scale", "nu", "delta", "chol", "logw",
          "logprior", "tau", "energies_grad")
PLAIN = ("gaussian", "laplace", "logistic", "exponential")


def tiny(dtype, seed=0, n=1, d=4, k=3):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)).astype(dtype), rng.normal(size=(k, d)).astype(dtype),
            rng.normal(size=k).astype(dtype))


def general(x, mu, **kw):
    """The same call through the general route: a NumPy scalar scale is not a Python float."""
    kw["scale"] = np.float64(kw.get("scale", 1.0))
    return ie.gradients(x, mu, **kw)


def assert_identical(a, b):
    for name in FIELDS:
        u, v = getattr(a, name), getattr(b, name)
        if u is None or v is None:
            assert u is None and v is None, name
        elif isinstance(u, float) or isinstance(v, float):
            assert type(u) is float and type(v) is float, name
            assert np.float64(u).tobytes() == np.float64(v).tobytes(), name
        else:
            assert u.dtype == v.dtype and u.shape == v.shape, name
            assert u.tobytes() == v.tobytes(), name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel", PLAIN)
@pytest.mark.parametrize("with_logw", [True, False])
@pytest.mark.parametrize("normalized", [False, True])
def test_short_route_equals_general_route(dtype, kernel, with_logw, normalized):
    x, mu, logw = tiny(dtype, seed=3, n=2)
    kw = dict(kernel=kernel, scale=0.7, tau=1.3, normalized=normalized,
              logw=logw if with_logw else None)
    try:
        expected = general(x, mu, **kw)
    except ImplicitEMError as error:  # a kernel without a normaliser: the same error both ways
        with pytest.raises(ImplicitEMError) as caught:
            ie.gradients(x, mu, **kw)
        assert str(caught.value) == str(error) and caught.value.status == error.status
        return
    assert_identical(ie.gradients(x, mu, **kw), expected)
    # and the call did take the short route
    assert core._plain_gradients(x, mu, kernel, 0.7, kw["logw"], 1.3, normalized) is not None


def test_w5_call_against_the_formulas():
    # KERNELS.md: d_k = sum_i u^2/2, u = x_i - mu_ki (scale 1); a_k = logw_k - d_k;
    # logZ = log sum_k e^a_k; r = e^(a - logZ); objective logZ.
    x = np.array([[0.3, -1.2, 0.7, 2.0]])
    mu = np.array([0.0, -1.0, 0.5, 1.5, 1.0, 1.0, -0.5, 0.0, -2.0, 0.3, 0.9, 1.1]).reshape(3, 4)
    logw = np.array([-1.0, -1.2, -1.1])
    g = ie.gradients(x, mu, kernel="gaussian", logw=logw)
    diff = x - mu                                   # (K, D)
    d = 0.5 * (diff ** 2).sum(axis=1)
    a = logw - d
    log_z = np.log(np.exp(a).sum())
    r = np.exp(a - log_z)
    np.testing.assert_allclose(g.energies, d[None], rtol=1e-14)
    np.testing.assert_allclose(g.logZ, [log_z], rtol=1e-14)
    np.testing.assert_allclose(g.resp, r[None], rtol=1e-14)
    np.testing.assert_allclose(g.x, -(r[:, None] * diff).sum(axis=0)[None], rtol=1e-13)
    np.testing.assert_allclose(g.mu, r[:, None] * diff, rtol=1e-13)
    np.testing.assert_allclose(g.logw, r, rtol=1e-14)
    np.testing.assert_allclose(g.energies_grad, -r[None], rtol=1e-14)
    assert g.scale == pytest.approx((r * (diff ** 2).sum(axis=1)).sum(), rel=1e-13)
    assert g.tau == pytest.approx((r * d).sum(), rel=1e-13)
    assert g.nu is None and g.delta is None and g.chol is None and g.logprior is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_errors_both_ways(dtype):
    x, mu, logw = tiny(dtype)
    bad_x = x.copy()
    bad_x[0, 2] = np.nan
    cases = [
        (dict(x=bad_x, mu=mu), "x[0, 2] is NaN"),
        (dict(x=x, mu=mu, scale=-1.0), "scale[0] = -1 must be > 0"),
        (dict(x=x, mu=mu, tau=0.0), "tau = 0 must be > 0"),
        (dict(x=x, mu=mu, logw=np.full(3, np.inf, dtype)), "logw[0] is inf"),
    ]
    for kw, fragment in cases:
        with pytest.raises(ImplicitEMError) as short:
            ie.gradients(kernel="gaussian", **kw)
        with pytest.raises(ImplicitEMError) as long:
            general(kernel="gaussian", **kw)
        assert fragment in str(short.value)
        assert str(short.value) == str(long.value)
        assert short.value.status == long.value.status


def test_calls_the_short_route_does_not_take():
    x, mu, logw = tiny(np.float64)
    reference = general(x, mu, kernel="gaussian", logw=logw)
    # Fortran order, a float32 logw with float64 arrays, a list, a 1-D logw of the wrong size:
    # each goes the general way with its own checks and results.
    assert_identical(ie.gradients(np.asfortranarray(x), np.asfortranarray(mu), logw=logw),
                     reference)
    assert_identical(ie.gradients(x, mu, logw=list(logw)), reference)
    with pytest.raises(ImplicitEMError, match="logw: dtype float32 does not match"):
        ie.gradients(x, mu, logw=logw.astype(np.float32))
    with pytest.raises(ImplicitEMError, match=r"logw: expected shape \(K,\) = \(3,\); got \(2,\)"):
        ie.gradients(x, mu, logw=logw[:2])
    with pytest.raises(ImplicitEMError, match=r"mu: expected shape \(K, D\) = \(\?, 4\)"):
        ie.gradients(x, mu[:, :3])
    # A kernel with a shape parameter still needs it.
    with pytest.raises(ImplicitEMError, match="nu: required by the student_t kernel"):
        ie.gradients(x, mu, kernel="student_t")


def test_results_are_fresh_arrays():
    x, mu, logw = tiny(np.float64)
    first = ie.gradients(x, mu, logw=logw)
    second = ie.gradients(x, mu, logw=logw)
    for name in ("energies", "logZ", "resp", "x", "mu", "logw", "energies_grad"):
        a, b = getattr(first, name), getattr(second, name)
        assert a is not b and not np.shares_memory(a, b), name
        assert a.flags.c_contiguous and a.flags.writeable, name
    first.mu[...] = 0
    assert np.any(second.mu != 0)
    assert type(first.scale) is float and type(first.tau) is float


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_results_do_not_alias_each_other(dtype):
    x, mu, logw = tiny(dtype, seed=2, n=3)
    g = ie.gradients(x, mu, logw=logw)
    arrays = ("energies", "logZ", "resp", "x", "mu", "logw", "energies_grad")
    before = {name: getattr(g, name).copy() for name in arrays}
    for name in arrays:
        getattr(g, name)[...] = 1e30  # a value no result holds
        for other in arrays:
            if other != name:
                assert getattr(g, other).tobytes() == before[other].tobytes(), (name, other)
                assert not np.shares_memory(getattr(g, name), getattr(g, other)), (name, other)
        before[name] = getattr(g, name).copy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 5, core._SHORT_ROUTE_ROWS, core._SHORT_ROUTE_ROWS + 1, 700])
def test_short_route_up_to_its_row_limit(dtype, n):
    x, mu, logw = tiny(dtype, seed=4, n=n)
    kw = dict(kernel="laplace", scale=0.9, tau=1.1, logw=logw)
    try:
        expected = general(x, mu, **kw)
    except ImplicitEMError as error:  # whatever the general route says of N = 0, both say it
        with pytest.raises(ImplicitEMError) as caught:
            ie.gradients(x, mu, **kw)
        assert str(caught.value) == str(error)
        return
    assert_identical(ie.gradients(x, mu, **kw), expected)
    short = core._plain_gradients(x, mu, "laplace", 0.9, logw, 1.1, False)
    assert (short is not None) == (n <= core._SHORT_ROUTE_ROWS)


def test_plans_follow_the_shapes():
    # Plans are cached per shape and kernel: calls of other shapes after one another each get
    # their own results, and a full cache starts again.
    for round_ in range(2):
        for n in range(1, 6):
            for k in (1, 2, 5):
                x, mu, logw = tiny(np.float64, seed=n * 7 + k, n=n, d=3, k=k)
                assert_identical(ie.gradients(x, mu, kernel="gaussian", logw=logw),
                                 general(x, mu, kernel="gaussian", logw=logw))
    for index in range(core._SHORT_PLANS_KEPT + 3):
        x, mu, _ = tiny(np.float64, seed=1, n=1, d=1 + index % 40, k=1 + index // 40)
        assert core._plain_gradients(x, mu, "gaussian", 1.0, None, 1.0, False) is not None
    assert len(core._SHORT_PLANS[np.dtype(np.float64)]) <= core._SHORT_PLANS_KEPT


def test_kernel_given_as_enum_or_unhashable():
    x, mu, logw = tiny(np.float64)
    expected = general(x, mu, kernel="logistic", logw=logw)
    assert_identical(ie.gradients(x, mu, kernel=ie.Kernel.LOGISTIC, logw=logw), expected)
    assert_identical(ie.gradients(x, mu, kernel=3, logw=logw), expected)
    with pytest.raises(ImplicitEMError, match="kernel: unknown kernel"):
        ie.gradients(x, mu, kernel=["gaussian"], logw=logw)


def test_calls_that_alternate_dtype_kernel_and_shape():
    # The last call's plan is reused only by a call of the same dtype, kernel and shapes:
    # calls alternating between them each get their own results.
    built = "".join(["gau", "ssian"])  # equal to "gaussian", another object
    calls = []
    for dtype in (np.float64, np.float32):
        for kernel in ("gaussian", "laplace", ie.Kernel.GAUSSIAN, built):
            for n in (1, 2):
                calls.append((dtype, kernel, n))
    expected = []
    for dtype, kernel, n in calls:
        x, mu, logw = tiny(dtype, seed=n, n=n)
        expected.append(general(x, mu, kernel=kernel, logw=logw, tau=0.8, scale=1.2))
    for round_ in range(2):
        for (dtype, kernel, n), want in zip(calls, expected):
            x, mu, logw = tiny(dtype, seed=n, n=n)
            assert_identical(ie.gradients(x, mu, kernel=kernel, logw=logw, tau=0.8, scale=1.2),
                             want)
        calls, expected = calls[::-1], expected[::-1]


def test_bad_inputs_after_a_planned_call_of_the_same_shapes():
    # A call whose plan is already the last one still checks dtype, order and normalized.
    x, mu, logw = tiny(np.float64)
    ie.gradients(x, mu, logw=logw)
    with pytest.raises(ImplicitEMError, match="mu: dtype float32 does not match"):
        ie.gradients(x, mu.astype(np.float32), logw=logw)
    assert_identical(ie.gradients(x, np.asfortranarray(mu), logw=logw),
                     general(x, mu, logw=logw))
    assert_identical(ie.gradients(x, mu, logw=logw, normalized=1),
                     general(x, mu, logw=logw, normalized=True))
