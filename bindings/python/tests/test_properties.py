"""Properties that hold for any input (hypothesis): responsibilities are a distribution,
invariant to a shift of every logit and equivariant under a permutation of the components;
a shared scale's gradient is the sum of the gradients of the scales it stands for."""

import numpy as np
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import implicitem as ie
import reference as ref

SETTINGS = settings(max_examples=40, deadline=None)
finite = st.floats(-4.0, 4.0, allow_nan=False, allow_infinity=False)


@st.composite
def problems(draw, kernels=ref.KERNELS, dtypes=(np.float64, np.float32)):
    """A random problem: the kernel, sizes, data, parameters and a log-prior with masks."""
    kernel = draw(st.sampled_from(kernels))
    dtype = draw(st.sampled_from(dtypes))
    n, k, d = draw(st.integers(1, 7)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    problem = {"kernel": kernel}
    if kernel == "learned":
        problem["energies"] = draw(hnp.arrays(dtype, (n, k), elements=st.floats(0.0, 20.0, width=32)))
    else:
        problem["x"] = draw(hnp.arrays(dtype, (n, d), elements=finite.map(lambda v: round(v, 3))))
        problem["mu"] = draw(hnp.arrays(dtype, (k, d), elements=finite.map(lambda v: round(v, 3))))
    if kernel in ref.SEPARABLE:
        problem["scale"] = draw(hnp.arrays(dtype, draw(st.sampled_from([(), (k,), (k, d)])),
                                           elements=st.floats(0.5, 3.0, width=32)))
        if problem["scale"].ndim == 0:
            problem["scale"] = float(problem["scale"])
    if kernel == "student_t":
        problem["nu"] = draw(st.floats(0.5, 10.0))
    if kernel in ("huber", "pseudo_huber"):
        problem["delta"] = draw(st.floats(0.2, 3.0))
    if kernel == "mahalanobis":
        seed = draw(st.integers(0, 2 ** 32 - 1))
        rng = np.random.default_rng(seed)
        chol = np.tril(rng.normal(0, 0.5, (k, d, d)), -1)
        chol[:, np.arange(d), np.arange(d)] = rng.uniform(0.3, 2.0, (k, d))
        problem["chol"] = chol.astype(dtype)
    problem["logw"] = draw(hnp.arrays(dtype, (k,), elements=st.floats(-3.0, 3.0, width=32)))
    mask = draw(hnp.arrays(bool, (n, k)))
    prior = draw(hnp.arrays(dtype, (n, k), elements=st.floats(-2.0, 2.0, width=32)))
    problem["logprior"] = np.where(mask, -np.inf, prior).astype(dtype)
    problem["tau"] = draw(st.floats(0.3, 3.0))
    problem["normalized"] = (kernel in ref.NORMALIZABLE and draw(st.booleans())
                             and not (kernel == "student_t" and problem["tau"] >= 2))
    return problem


def tolerance(problem):
    return 1e-12 if _dtype(problem) == np.float64 else 1e-5


def _dtype(problem):
    return (problem.get("x") if "x" in problem else problem["energies"]).dtype


@SETTINGS
@given(problems())
def test_responsibilities_are_a_distribution_and_masked_rows_are_zero(problem):
    r = ie.forward(**problem)
    masked = np.all(np.isneginf(problem["logprior"]), axis=1)
    assert not np.isnan(r.resp).any() and not np.isnan(r.logZ).any()
    assert np.all(r.resp >= 0)
    np.testing.assert_allclose(r.resp.sum(axis=1), np.where(masked, 0.0, 1.0),
                               atol=tolerance(problem) * r.resp.shape[1] * 10)
    assert np.all(np.isneginf(r.logZ) == masked)
    assert np.all(r.resp[np.isneginf(problem["logprior"])] == 0)


@SETTINGS
@given(problems(), st.floats(-30.0, 30.0))
def test_shifting_every_logit_leaves_responsibilities_unchanged(problem, shift):
    shift = float(np.asarray(shift, dtype=_dtype(problem)))  # exactly representable
    base = ie.forward(**problem)
    moved = ie.forward(**{**problem, "logw": problem["logw"] + np.asarray(shift, _dtype(problem))})
    # Adding the shift rounds each logit afresh, so R moves by about eps * |logit|.
    largest_energy = np.max(np.abs(base.energies), initial=0.0) / problem["tau"]
    size = 1.0 + abs(shift) + float(np.max(np.abs(problem["logw"]))) + float(largest_energy)
    np.testing.assert_allclose(moved.resp, base.resp, atol=tolerance(problem) * size * 10)
    finite_rows = np.isfinite(base.logZ)
    np.testing.assert_allclose(moved.logZ[finite_rows], base.logZ[finite_rows] + shift,
                               rtol=tolerance(problem) * 10, atol=tolerance(problem) * size * 10)


@SETTINGS
@given(problems(), st.randoms(use_true_random=False))
def test_permuting_components_permutes_responsibilities(problem, random):
    k = problem["logw"].shape[0]
    order = list(range(k))
    random.shuffle(order)
    permuted = dict(problem)
    for name in ("mu", "chol", "logw"):
        if name in problem:
            permuted[name] = problem[name][order]
    if "scale" in problem and np.ndim(problem["scale"]) > 0:
        permuted["scale"] = problem["scale"][order]
    for name in ("logprior", "energies"):
        if name in problem:
            permuted[name] = problem[name][:, order]
    base, other = ie.forward(**problem), ie.forward(**permuted)
    atol = tolerance(problem) * 10
    np.testing.assert_allclose(other.resp, base.resp[:, order], atol=atol)
    np.testing.assert_allclose(other.energies, base.energies[:, order],
                               rtol=atol, atol=atol * max(1.0, float(np.max(np.abs(base.energies)))))


@SETTINGS
@given(problems(kernels=ref.SEPARABLE, dtypes=(np.float64,)), st.floats(0.5, 3.0))
def test_shared_scale_gradient_is_the_sum_of_the_scales_it_stands_for(problem, scale):
    k, d = problem["logw"].shape[0], problem["mu"].shape[1]
    grads = {}
    for shape in ((), (k,), (k, d)):
        given_scale = scale if shape == () else np.full(shape, scale)
        grads[shape] = ie.gradients(**{**problem, "scale": given_scale}).scale
    size = 1.0 + float(np.sum(np.abs(grads[(k, d)])))
    np.testing.assert_allclose(grads[()], np.sum(grads[(k,)]), rtol=1e-10, atol=1e-12 * size)
    np.testing.assert_allclose(grads[(k,)], np.sum(grads[(k, d)], axis=1), rtol=1e-10,
                               atol=1e-12 * size)
