"""The separable kernels' vector backward takes rows in groups (pairs, or fours in the AVX-512
copy). A row far enough out takes the scalar loop and leaves its place in the group to the next
row, and the pass's last group is filled with rows that add exact zeros. Through the shipped
library (its AVX-512 copy where the CPU has one), for N = 1..9 with a far row at each position
and none: every row's outputs have the bits of a one-row call, and its share of the parameter
gradients has the bits of the whole batch weighted on that row alone."""

import numpy as np
import pytest

import implicitem as ie
from cases import SEPARABLE, SHAPE_PARAMETERS

PER_ROW = ("energies", "logZ", "resp", "x", "energies_grad")
SUMMED = ("mu", "scale", "logw", "nu", "delta")


@pytest.fixture
def one_thread():
    previous = ie.get_num_threads()
    ie.set_num_threads(1)
    yield
    ie.set_num_threads(previous)


def problem(kernel, dtype, n, far):
    """D = 3, K = 9: a whole float64 vector of components and a padded one (float32: one)."""
    rng = np.random.default_rng([n, n if far is None else far, SEPARABLE.index(kernel)])
    x = rng.normal(0.0, 1.5, (n, 3))
    if far is not None:
        x[far] = np.finfo(dtype).max / 4
        x[far, 1] = -x[far, 1]
    return dict(x=x.astype(dtype), mu=rng.normal(0.0, 1.0, (9, 3)).astype(dtype),
                scale=rng.uniform(0.6, 1.5, (9, 3)).astype(dtype),
                logw=rng.normal(0.0, 0.5, 9).astype(dtype), kernel=kernel,
                **SHAPE_PARAMETERS.get(kernel, {}))


def same_bits(a, b, what):
    if a is None or b is None:
        assert a is None and b is None, what
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.tobytes() == b.tobytes(), f"{what}: {a} vs {b}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kernel", [k for k in SEPARABLE])
def test_every_row_has_the_bits_of_a_one_row_call(kernel, dtype, one_thread):
    for n in range(1, 10):
        for far in [None, *range(n)]:
            batch = problem(kernel, dtype, n, far)
            everything = ie.gradients(**batch)
            for row in range(n):
                what = f"{kernel} n={n} far={far} row {row}"
                alone = ie.gradients(**{**batch, "x": batch["x"][row:row + 1]})
                for name in PER_ROW:
                    same_bits(getattr(alone, name)[0], getattr(everything, name)[row],
                              f"{what} {name}")
                weights = np.zeros(n, dtype)
                weights[row] = 1
                embedded = ie.gradients(**batch, gL=weights)
                for name in SUMMED:
                    same_bits(getattr(alone, name), getattr(embedded, name), f"{what} {name}")
