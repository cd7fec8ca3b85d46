"""The learned kernel through a Python callback: it agrees with given energies, sees every
row of x in order, and an exception raised inside it comes back out unchanged, with nothing
written to the outputs."""

import ctypes

import numpy as np
import pytest

import implicitem as ie
from implicitem import core
from implicitem._loader import library

CENTRES = np.array([[0.0, 1.0], [1.0, -1.0], [-2.0, 0.5]])


def gaussian_energies(rows):
    return ((rows[:, None, :] - CENTRES[None]) ** 2).sum(axis=2) / 2


class Boom(RuntimeError):
    pass


def energy_fn_that_raises(rows):
    raise Boom(f"no energies for {len(rows)} rows")


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_energy_fn_agrees_with_energies(dtype):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 2)).astype(dtype)
    logw = rng.normal(size=3).astype(dtype)
    g_r = rng.normal(size=(50, 3)).astype(dtype)
    given = ie.gradients(kernel="learned", energies=gaussian_energies(x).astype(dtype), logw=logw,
                         tau=0.7, gR=g_r)
    called = ie.gradients(x, kernel="learned", energy_fn=gaussian_energies, logw=logw, tau=0.7,
                          gR=g_r)
    rtol = 1e-14 if dtype == np.float64 else 1e-6
    for name in ("energies", "logZ", "resp", "logw", "tau", "energies_grad"):
        np.testing.assert_allclose(getattr(called, name), getattr(given, name), rtol=rtol,
                                   atol=rtol, err_msg=name)
    assert called.x is None and called.mu is None and called.resp.dtype == dtype
    # The gaussian kernel computes the same energies from x and the centres.
    gaussian = ie.forward(x, CENTRES.astype(dtype), kernel="gaussian", logw=logw, tau=0.7)
    np.testing.assert_allclose(called.resp, gaussian.resp, rtol=100 * rtol, atol=100 * rtol)


def test_energy_fn_sees_every_row_in_order_and_n_components_can_be_given():
    x = np.arange(2000 * 2, dtype=np.float64).reshape(2000, 2) / 1000
    seen = []

    def record(rows):
        seen.append(rows.copy())
        return gaussian_energies(rows)

    r = ie.forward(x, kernel="learned", energy_fn=record, n_components=3)
    np.testing.assert_array_equal(np.concatenate(seen), x)
    np.testing.assert_allclose(r.energies, gaussian_energies(x), rtol=1e-15)


def test_exception_inside_energy_fn_is_reraised_with_its_traceback():
    x = np.zeros((5, 2))
    with pytest.raises(Boom, match="no energies for") as caught:
        ie.forward(x, kernel="learned", energy_fn=energy_fn_that_raises, n_components=3)
    assert any(entry.name == "energy_fn_that_raises" for entry in caught.traceback)


def test_exception_in_a_later_block_is_reraised():
    x = np.zeros((100_000, 2))
    blocks = []
    ie.forward(x, kernel="learned", n_components=3,
               energy_fn=lambda rows: blocks.append(len(rows)) or gaussian_energies(rows))
    if len(blocks) < 2:
        pytest.skip(f"the library filled {len(x)} rows in one block")
    calls = []

    def fails_second_time(rows):
        calls.append(len(rows))
        if len(calls) == 2:
            raise KeyError("second block")
        return gaussian_energies(rows)

    with pytest.raises(KeyError, match="second block"):
        ie.gradients(x, kernel="learned", energy_fn=fails_second_time, n_components=3)
    assert len(calls) == 2, "the library stops calling after the first failure"


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_a_failing_callback_writes_no_output(dtype):
    problem = core._Problem(np.ones((4, 2), dtype), None, "learned", None, None, None, None, None,
                            1.0, False, None, None, energy_fn_that_raises, 3, {})
    suffix = "f32" if dtype == np.float32 else "f64"
    sentinel = dtype(7.0)
    outputs = [np.full(shape, sentinel) for shape in ((4, 3), (4,), (4, 3))]
    status = getattr(library, f"ie_forward_{suffix}")(
        ctypes.byref(problem.struct), *(problem.ptr(o) for o in outputs))
    assert status == ie.Status.ERR_CALLBACK
    assert isinstance(problem.callback.error, Boom)
    for output in outputs:
        assert np.all(output == sentinel)

    problem.callback.error = None
    grads = (ie._prototypes.GradsF32 if dtype == np.float32 else ie._prototypes.GradsF64)()
    getattr(library, f"ie_grads_init_{suffix}")(ctypes.byref(grads))
    gradient_outputs = {"logw": np.full(3, sentinel), "tau": np.full(1, sentinel),
                        "energies": np.full((4, 3), sentinel)}
    for name, array in gradient_outputs.items():
        setattr(grads, name, problem.ptr(array))
    status = getattr(library, f"ie_gradients_{suffix}")(
        ctypes.byref(problem.struct), None, None, *(problem.ptr(o) for o in outputs),
        ctypes.byref(grads))
    assert status == ie.Status.ERR_CALLBACK
    for output in outputs + list(gradient_outputs.values()):
        assert np.all(output == sentinel)


def test_energy_fn_of_the_wrong_shape_or_with_nan_is_an_error():
    x = np.zeros((4, 2))
    with pytest.raises(ie.ImplicitEMError, match="energy_fn") as caught:
        ie.forward(x, kernel="learned", energy_fn=lambda rows: np.zeros((len(rows), 2)),
                   n_components=3)
    assert caught.value.status == ie.Status.ERR_CALLBACK
    with pytest.raises(ie.ImplicitEMError) as caught:
        ie.forward(x, kernel="learned", energy_fn=lambda rows: np.full((len(rows), 3), np.nan),
                   n_components=3)
    assert caught.value.status in (ie.Status.ERR_CALLBACK, ie.Status.ERR_NONFINITE_INPUT)


def test_energy_fn_needs_the_number_of_components():
    with pytest.raises(ie.ImplicitEMError, match="n_components"):
        ie.forward(np.zeros((4, 2)), kernel="learned", energy_fn=gaussian_energies)
    r = ie.forward(np.zeros((4, 2)), kernel="learned", energy_fn=gaussian_energies,
                   logw=np.zeros(3))
    assert r.resp.shape == (4, 3)
