"""outputs=: a call that asks for some results computes exactly those, equal to the full call
and to the plain reference (KERNELS.md evaluated in NumPy), and leaves every other one None."""

import numpy as np
import pytest

import implicitem as ie
import reference as ref
from cases import assert_close, make_case, split

RTOL = {np.float64: 1e-10, np.float32: 1e-4}
# Requested and full calls run the same arithmetic per output; a different loop order may move
# the last bits only.
SAME = {np.float64: 1e-13, np.float32: 1e-6}

GRADIENT_FIELDS = ("energies", "logZ", "resp", "x", "mu", "scale", "nu", "delta", "chol",
                   "logw", "logprior", "tau", "energies_grad")
FORWARD_FIELDS = ("energies", "logZ", "resp")

KERNEL_CASES = [("gaussian", "shared"), ("gaussian", "per_dimension"), ("laplace", "per_component"),
                ("logistic", "shared"), ("student_t", "per_component"), ("huber", "shared"),
                ("pseudo_huber", "per_dimension"), ("exponential", "shared"), ("cosine", None),
                ("mahalanobis", None), ("learned", None)]
SUBSETS = [("logZ", "resp", "mu"), ("logZ",), ("resp",), ("mu",), ("x", "scale"),
           ("energies_grad",), ("nu", "delta", "tau"), ("chol", "logw", "logprior"),
           ("energies", "scale"), ("tau",), ()]


def full_and_reference(kernel, scale_shape, dtype, full=True):
    case = make_case(kernel, scale_shape, full=full, dtype=dtype)
    problem, g_l, g_r = split(case)
    return (problem, g_l, g_r, ie.gradients(**problem, gL=g_l, gR=g_r),
            ref.compute(**problem, gL=g_l, gR=g_r))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kernel, scale_shape", KERNEL_CASES,
                         ids=[f"{k}-{s}" if s else k for k, s in KERNEL_CASES])
def test_gradients_computes_what_is_asked_and_only_that(kernel, scale_shape, dtype):
    problem, g_l, g_r, everything, expected = full_and_reference(kernel, scale_shape, dtype)
    for subset in SUBSETS:
        got = ie.gradients(**problem, gL=g_l, gR=g_r, outputs=subset)
        for name in GRADIENT_FIELDS:
            value, whole = getattr(got, name), getattr(everything, name)
            if name not in subset or whole is None:
                assert value is None, f"{subset}: {name} was not asked for"
                continue
            assert type(value) is type(whole), name
            if isinstance(value, np.ndarray):
                assert value.dtype == dtype and value.shape == whole.shape, name
            assert_close(value, whole, SAME[dtype], f"{subset}: {name} vs the full call")
            assert_close(value, expected[name], RTOL[dtype], f"{subset}: {name} vs reference")


@pytest.mark.parametrize("kernel, scale_shape", KERNEL_CASES,
                         ids=[f"{k}-{s}" if s else k for k, s in KERNEL_CASES])
def test_every_single_output_alone(kernel, scale_shape):
    # Without logprior or upstream gradients: the defaults the library fills in itself.
    problem, g_l, g_r, everything, expected = full_and_reference(kernel, scale_shape,
                                                                np.float64, full=False)
    for name in GRADIENT_FIELDS:
        got = ie.gradients(**problem, outputs=[name])
        for other in GRADIENT_FIELDS:
            if other != name:
                assert getattr(got, other) is None, f"asked for {name}, got {other}"
        assert_close(getattr(got, name), getattr(everything, name), SAME[np.float64], name)
        assert_close(getattr(got, name), expected[name], RTOL[np.float64], name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kernel", ["gaussian", "student_t", "mahalanobis", "cosine", "learned"])
def test_forward_computes_what_is_asked_and_only_that(kernel, dtype):
    shape = "per_component" if kernel in ref.SEPARABLE else None
    problem, _, _ = split(make_case(kernel, shape, dtype=dtype))
    everything = ie.forward(**problem)
    expected = ref.compute(**problem)
    for subset in [("energies",), ("logZ",), ("resp",), ("logZ", "resp"), FORWARD_FIELDS, ()]:
        got = ie.forward(**problem, outputs=subset)
        for name in FORWARD_FIELDS:
            if name not in subset:
                assert getattr(got, name) is None, f"{subset}: {name} was not asked for"
                continue
            assert getattr(got, name).dtype == dtype
            assert_close(getattr(got, name), getattr(everything, name), SAME[dtype], name)
            assert_close(getattr(got, name), expected[name], RTOL[dtype], name)


def test_default_and_none_compute_everything():
    problem, g_l, g_r = split(make_case("student_t", "shared"))
    for result in (ie.gradients(**problem, gL=g_l, gR=g_r),
                   ie.gradients(**problem, gL=g_l, gR=g_r, outputs=None),
                   ie.gradients(**problem, gL=g_l, gR=g_r, outputs=GRADIENT_FIELDS)):
        assert all(getattr(result, name) is not None
                   for name in GRADIENT_FIELDS if name != "delta" and name != "chol")
        assert isinstance(result.scale, float) and isinstance(result.tau, float)
        assert isinstance(result.nu, float)
    assert all(value is not None for value in vars(ie.forward(**problem, outputs=None)).values())


def test_outputs_accepts_any_collection_and_a_single_name():
    x, mu = np.array([[0.0, 1.0], [2.0, -1.0]]), np.array([[0.5, 0.0], [1.0, 1.0]])
    whole = ie.gradients(x, mu)
    for outputs in ({"mu", "logZ"}, ["mu", "logZ"], ("logZ", "mu", "mu"), iter(["mu", "logZ"]),
                    frozenset({"logZ", "mu"})):
        got = ie.gradients(x, mu, outputs=outputs)
        np.testing.assert_array_equal(got.mu, whole.mu)
        np.testing.assert_array_equal(got.logZ, whole.logZ)
        assert got.resp is None and got.tau is None and got.scale is None
    only = ie.gradients(x, mu, outputs="mu")
    np.testing.assert_array_equal(only.mu, whole.mu)
    assert only.logZ is None


@pytest.mark.parametrize("function, outputs, named", [
    (ie.gradients, ("logZ", "gradient"), "'gradient'"),
    (ie.gradients, ("Mu",), "'Mu'"),
    (ie.gradients, ("logZ", 3), "3"),
    (ie.forward, ("resp", "mu"), "'mu'"),       # a gradient is no output of forward
    (ie.forward, ("energies_grad",), "'energies_grad'"),
])
def test_an_unknown_output_name_is_an_error_naming_it(function, outputs, named):
    x, mu = np.zeros((2, 2)), np.ones((3, 2))
    with pytest.raises(ie.ImplicitEMError, match=f"outputs: unknown output {named}") as caught:
        function(x, mu, outputs=outputs)
    assert caught.value.status == ie.Status.ERR_BAD_PARAMETER


def test_outputs_that_is_no_collection_is_an_error():
    with pytest.raises(ie.ImplicitEMError, match="outputs: expected a collection") as caught:
        ie.gradients(np.zeros((2, 2)), np.ones((3, 2)), outputs=7)
    assert caught.value.status == ie.Status.ERR_BAD_PARAMETER
    with pytest.raises(ie.ImplicitEMError, match="outputs: expected a collection"):
        ie.forward(np.zeros((2, 2)), np.ones((3, 2)), outputs=[["logZ"]])


def test_an_output_the_kernel_lacks_stays_none():
    # chol for a Gaussian, nu for a Huber, logprior without a logprior, x for learned energies.
    x, mu = np.zeros((2, 2)), np.ones((3, 2))
    got = ie.gradients(x, mu, kernel="huber", delta=1.0,
                       outputs=("chol", "nu", "logprior", "delta"))
    assert got.chol is None and got.nu is None and got.logprior is None
    assert isinstance(got.delta, float)
    learned = ie.gradients(energies=np.zeros((2, 3)), kernel="learned",
                           outputs=("x", "mu", "scale"))
    assert learned.x is None and learned.mu is None and learned.scale is None


def test_a_bad_input_still_fails_with_outputs_given():
    with pytest.raises(ie.ImplicitEMError, match=r"mu: expected shape \(K, D\)"):
        ie.gradients(np.zeros((2, 2)), np.ones((3, 4)), outputs=("logZ",))
    with pytest.raises(ie.ImplicitEMError, match="scale"):
        ie.gradients(np.zeros((2, 2)), np.ones((3, 2)), scale=-1.0, outputs=("mu",))


def test_energy_fn_with_outputs():
    x = np.random.default_rng(3).normal(size=(5, 2))
    mu = np.array([[0.0, 0.0], [1.0, -1.0], [-2.0, 0.5]])
    energy_fn = lambda rows: 0.5 * ((rows[:, None, :] - mu[None]) ** 2).sum(axis=2)  # noqa: E731
    whole = ie.gradients(x, kernel="learned", energy_fn=energy_fn, n_components=3)
    got = ie.gradients(x, kernel="learned", energy_fn=energy_fn, n_components=3,
                       outputs=("resp", "energies_grad"))
    assert got.logZ is None and got.energies is None and got.logw is None
    np.testing.assert_allclose(got.resp, whole.resp, rtol=1e-13)
    np.testing.assert_allclose(got.energies_grad, whole.energies_grad, rtol=1e-13, atol=1e-15)
    expected = ref.compute(energies=energy_fn(x), kernel="learned")
    assert_close(got.resp, expected["resp"], RTOL[np.float64], "resp")
