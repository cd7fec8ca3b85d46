"""The library through the binding against the independent reference (reference.py), for
every kernel, scale shape, dtype and normalisation: forward, every gradient, activation,
log-normalisers and sufficient statistics."""

import numpy as np
import pytest

import implicitem as ie
import reference as ref
from cases import SHAPE_PARAMETERS, assert_close, case_id, configurations, make_case, split

# float64: the library and the reference evaluate the same closed forms in a different order,
# so they agree to a few ulps per term; 1e-10 leaves room for the special functions
# (erf, K1, E1, I_nu) that the library evaluates with its own approximations.
# float32: single-precision rounding (6e-8) amplified by sums over rows and by the softmax.
RTOL = {np.float64: 1e-10, np.float32: 1e-4}
CONFIGS = list(configurations())
IDS = [case_id(*c) for c in CONFIGS]
GRADIENTS = ("x", "mu", "scale", "nu", "delta", "chol", "logw", "logprior", "tau",
             "energies_grad")


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("full", [False, True], ids=["plain", "full"])
@pytest.mark.parametrize("kernel, scale_shape, normalized", CONFIGS, ids=IDS)
def test_forward_and_gradients_match_reference(kernel, scale_shape, normalized, full, dtype):
    case = make_case(kernel, scale_shape, normalized, full=full, dtype=dtype)
    problem, _, _ = split(case)
    expected = ref.compute(**case)
    rtol = RTOL[dtype]

    forward = ie.forward(**problem)
    grads = ie.gradients(**case)
    for result in (forward, grads):
        for name in ("energies", "logZ", "resp"):
            value = getattr(result, name)
            assert value.dtype == dtype, name
            assert_close(value, expected[name], rtol, name)
    for name in GRADIENTS:
        value = getattr(grads, name)
        assert_close(value, expected[name], rtol, name)
        if isinstance(value, np.ndarray):
            assert value.dtype == dtype, name
    # Scalars come back as Python floats; a scale's gradient in the scale's own shape.
    assert isinstance(grads.tau, float)
    for name in ("nu", "delta"):
        assert (getattr(grads, name) is None) == (name not in case)
    if kernel in ref.SEPARABLE:
        if np.ndim(case["scale"]) == 0:
            assert isinstance(grads.scale, float)
        else:
            assert grads.scale.shape == np.shape(case["scale"])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kernel, scale_shape", [(k, s) for k, s, n in CONFIGS if n],
                         ids=[f"{k}-{s}" if s else k for k, s, n in CONFIGS if n])
@pytest.mark.parametrize("tau", [0.8, 1.5])
def test_log_normalizer_matches_reference(kernel, scale_shape, tau, dtype):
    case = make_case(kernel, scale_shape, True, full=False, dtype=dtype)
    params = {name: case[name] for name in ("scale", "nu", "delta", "chol") if name in case}
    k, d = case["mu"].shape
    expected = ref.log_normalizers(kernel, k, d, tau=tau, **params)["c"]
    got = ie.log_normalizer(case["mu"], kernel=kernel, tau=tau, **params)
    assert got.dtype == dtype
    assert_close(got, expected, RTOL[dtype], "c")


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kernel", ref.SEPARABLE)
def test_activation_matches_reference(kernel, dtype):
    z = np.concatenate([np.linspace(-6, 6, 49), [-40.0, -15.0, 15.0, 40.0]]).astype(dtype)
    params = dict(m=0.7, scale=1.3, tau=0.9, **SHAPE_PARAMETERS.get(kernel, {}))
    act, dact = ie.activation(z, kernel=kernel, **params)
    assert act.dtype == dact.dtype == dtype and act.shape == z.shape
    expected_act, expected_dact = ref.activation(z, kernel, **params)
    rtol = RTOL[dtype]
    assert_close(act, expected_act, rtol, "act")
    # act′ = sech²(t)·t′ is tiny where |act| is near 1: hold each entry to its own size,
    # i.e. to sech²(t) times the size of the slopes that make t′ (not to the array's maximum).
    s, tau, m = params["scale"], params["tau"], params["m"]
    up, up_slope, _ = ref.rho(kernel, (z.astype(np.float64) + m) / s, params.get("nu"), params.get("delta"))
    down, down_slope, _ = ref.rho(kernel, (z.astype(np.float64) - m) / s, params.get("nu"), params.get("delta"))
    with np.errstate(over="ignore"):
        sech2 = 1 / np.cosh((up - down) / (2 * tau)) ** 2
    size = sech2 * (np.abs(up_slope) + np.abs(down_slope) + np.abs(up - down)) / (2 * s * tau)
    # Below the smallest normal number (1e-38 in float32) a value is not held to relative
    # accuracy: the library's e^(-2|t|) may underflow before it is multiplied by t'.
    floor = np.finfo(dtype).tiny
    np.testing.assert_array_less(np.abs(dact - expected_dact), rtol * size + floor)


def test_activation_keeps_the_shape_of_z_and_gaussian_is_tanh():
    z = np.linspace(-2, 2, 12).reshape(3, 4)
    act, dact = ie.activation(z, kernel="gaussian", m=1.5, scale=0.5, tau=2.0)
    assert act.shape == dact.shape == (3, 4)
    t = 1.5 * z / (0.5 ** 2 * 2.0)
    np.testing.assert_allclose(act, np.tanh(t), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(dact, (1 / np.cosh(t) ** 2) * 1.5 / (0.5 ** 2 * 2.0), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kernel", ["gaussian", "student_t", "cosine", "mahalanobis", "learned"])
def test_stats_match_reference(kernel, dtype):
    case = make_case(kernel, "per_component" if kernel in ref.SEPARABLE else None, False,
                     dtype=dtype)
    problem, _, _ = split(case)
    rng = np.random.default_rng(5)
    x = case["x"] if "x" in case else rng.normal(size=(len(case["energies"]), 2)).astype(dtype)
    problem["x"] = x
    weights = rng.uniform(0, 2, len(x)).astype(dtype)
    expected_r = ref.compute(**problem)["resp"]
    sum_r, sum_rx, sum_rxx = ref.stats(expected_r, x, weights)
    got = ie.stats(**problem, weights=weights, second_moment=True)
    rtol = RTOL[dtype]
    assert_close(got.sum_r, sum_r, rtol, "sum_r")
    assert_close(got.sum_rx, sum_rx, rtol, "sum_rx")
    assert_close(got.sum_rxx, sum_rxx, rtol, "sum_rxx")
    plain = ie.stats(**problem)
    assert plain.sum_rxx is None
    assert_close(plain.sum_r, ref.stats(expected_r, x)[0], rtol, "sum_r without weights")


def test_fully_masked_row_gives_minus_infinity_and_zero_gradients():
    x = np.array([[0.0, 1.0], [1.0, -1.0]])
    mu = np.array([[0.0, 0.0], [1.0, 1.0]])
    logprior = np.array([[0.0, 0.0], [-np.inf, -np.inf]])
    g = ie.gradients(x, mu, kernel="laplace", scale=0.7, logprior=logprior)
    assert g.logZ[1] == -np.inf and np.all(g.resp[1] == 0)
    assert np.all(g.x[1] == 0) and np.all(g.logprior[1] == 0) and np.all(g.energies_grad[1] == 0)
    for value in (g.energies, g.resp, g.x, g.mu, g.logw, g.logprior, g.energies_grad):
        assert not np.isnan(value).any()


def test_inputs_are_not_modified_and_noncontiguous_or_list_inputs_agree():
    case = make_case("student_t", "per_dimension", True)
    problem, g_l, g_r = split(case)
    before = {k: np.copy(v) for k, v in case.items() if isinstance(v, np.ndarray)}
    base = ie.gradients(**case)
    for name, value in before.items():
        np.testing.assert_array_equal(case[name], value, err_msg=name)
    strided = dict(problem)
    strided["x"] = np.asfortranarray(problem["x"])
    wide = np.zeros((problem["mu"].shape[0], 2 * problem["mu"].shape[1]))
    wide[:, ::2] = problem["mu"]
    strided["mu"] = wide[:, ::2]
    assert not strided["mu"].flags.c_contiguous
    strided["logprior"] = problem["logprior"].tolist()
    other = ie.gradients(**strided, gL=list(g_l), gR=g_r)
    for name in ("logZ", "resp", "x", "mu", "scale", "nu", "tau"):
        np.testing.assert_array_equal(getattr(other, name), getattr(base, name), err_msg=name)


def test_dtype_follows_the_inputs():
    x32 = np.ones((2, 2), np.float32)
    assert ie.forward(x32, [[0, 0]], kernel="gaussian").resp.dtype == np.float32
    assert ie.forward([[1, 1]], [[0, 0]], kernel="gaussian").resp.dtype == np.float64
    x_int = np.ones((2, 2), np.int32)
    assert ie.forward(x_int, x_int[:1], kernel="gaussian").logZ.dtype == np.float64
    r = ie.gradients(x32, np.zeros((1, 2), np.float32), kernel="huber", delta=1.0)
    assert r.mu.dtype == np.float32 and isinstance(r.delta, float)
    a, _ = ie.activation(np.float32([0.5]), kernel="laplace")
    assert a.dtype == np.float32


def test_threads_do_not_change_results():
    case = make_case("pseudo_huber", "per_component", True)
    original = ie.get_num_threads()
    try:
        ie.set_num_threads(1)
        one = ie.gradients(**case)
        ie.set_num_threads(2)
        two = ie.gradients(**case)
    finally:
        ie.set_num_threads(original)
    for name in ("logZ", "resp", "x", "mu", "scale", "delta", "tau"):
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name), err_msg=name)
