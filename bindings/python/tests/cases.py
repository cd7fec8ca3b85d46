"""Seeded problem instances shared by the tests: one per kernel, scale shape and variant.

Each case is a dict of keyword arguments accepted by both ``implicitem.gradients`` and
``reference.compute``. Parameters are drawn well inside their domains so that values are of
order one and no input sits on a kink of a non-smooth kernel.
"""

from __future__ import annotations

import numpy as np

from reference import KERNELS, NORMALIZABLE, SEPARABLE

SCALE_SHAPES = ("shared", "per_component", "per_dimension")
SHAPE_PARAMETERS = {"student_t": {"nu": 2.5}, "huber": {"delta": 0.9},
                    "pseudo_huber": {"delta": 1.2}}


def configurations():
    """(kernel, scale_shape, normalized) for every supported combination."""
    for kernel in KERNELS:
        shapes = SCALE_SHAPES if kernel in SEPARABLE else (None,)
        for shape in shapes:
            for normalized in ((False, True) if kernel in NORMALIZABLE else (False,)):
                yield kernel, shape, normalized


def make_case(kernel, scale_shape=None, normalized=False, full=True, dtype=np.float64,
              seed=0, n=6, k=3, d=3):
    """Keyword arguments for one problem. `full` adds logw, logprior (with a masked entry
    and a fully masked row), tau != 1 and upstream gradients gL, gR."""
    rng = np.random.default_rng([seed, KERNELS.index(kernel), int(normalized), int(full)])
    case = {"kernel": kernel, "normalized": normalized}
    x = rng.normal(0.0, 1.5, (n, d))
    mu = rng.normal(0.0, 1.0, (k, d))
    if kernel == "learned":
        case["energies"] = rng.uniform(0.0, 3.0, (n, k))
    else:
        case["x"], case["mu"] = x, mu
    if kernel in SEPARABLE:
        low, high = (2.0, 4.0) if kernel == "exponential" else (0.6, 1.5)
        case["scale"] = {"shared": float(rng.uniform(low, high)),
                         "per_component": rng.uniform(low, high, k),
                         "per_dimension": rng.uniform(low, high, (k, d))}[scale_shape]
    case.update(SHAPE_PARAMETERS.get(kernel, {}))
    if kernel == "mahalanobis":
        chol = np.tril(rng.normal(0.0, 0.3, (k, d, d)), -1)
        chol[:, np.arange(d), np.arange(d)] = rng.uniform(0.5, 1.5, (k, d))
        chol += np.triu(rng.normal(0.0, 5.0, (k, d, d)), 1)  # the upper triangle is ignored
        case["chol"] = chol
    if full:
        case["logw"] = rng.normal(0.0, 0.5, k)
        logprior = rng.normal(0.0, 0.5, (n, k))
        logprior[0, 1] = -np.inf
        logprior[n - 1, :] = -np.inf
        case["logprior"] = logprior
        case["tau"] = 0.8
        case["gL"] = rng.normal(1.0, 0.5, n)
        case["gR"] = rng.normal(0.0, 1.0, (n, k))
    for name, value in case.items():
        if isinstance(value, np.ndarray):
            case[name] = value.astype(dtype)
    return case


def split(case):
    """(problem keyword arguments, gL, gR)."""
    problem = {k: v for k, v in case.items() if k not in ("gL", "gR")}
    return problem, case.get("gL"), case.get("gR")


def case_id(kernel, scale_shape, normalized):
    return "-".join([kernel] + ([scale_shape] if scale_shape else [])
                    + (["normalized"] if normalized else []))


def assert_close(actual, expected, rtol, name):
    """|actual - expected| <= rtol*|expected| + rtol*max(1, max|expected|), entry by entry,
    with infinities required at the same places.

    The absolute part is scaled to the array's magnitude because every entry is a sum of
    terms of about that magnitude: rounding error follows the terms, not the sum, so an entry
    that cancels to near zero can only be held to the array's scale."""
    assert (actual is None) == (expected is None), f"{name}: {actual!r} vs {expected!r}"
    if expected is None:
        return
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape} vs {expected.shape}"
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(actual[~finite], expected[~finite], err_msg=name)
    magnitude = max(1.0, float(np.max(np.abs(expected[finite]), initial=0.0)))
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=rtol,
                               atol=rtol * magnitude, err_msg=name)


def central_differences(evaluate, problem, name, relative_step=1e-6):
    """The central-difference gradient of evaluate(problem) with respect to problem[name],
    entry by entry (0 for -inf entries and for the ignored upper triangle of chol)."""
    base = np.array(problem[name], dtype=np.float64)
    numeric = np.zeros(base.shape)
    for index in np.ndindex(base.shape):
        if not np.isfinite(base[index]) or (name == "chol" and index[-1] > index[-2]):
            continue
        h = relative_step * max(1.0, abs(base[index]))
        values = []
        for sign in (1, -1):
            changed = base.copy()
            changed[index] += sign * h
            values.append(evaluate({**problem, name: changed if base.ndim else float(changed)}))
        numeric[index] = (values[0] - values[1]) / (2 * h)
    return numeric


#: Every differentiable input a case may hold, and the name of its gradient.
PARAMETERS = {"x": "x", "mu": "mu", "scale": "scale", "nu": "nu", "delta": "delta",
              "chol": "chol", "logw": "logw", "logprior": "logprior", "tau": "tau",
              "energies": "energies_grad"}
