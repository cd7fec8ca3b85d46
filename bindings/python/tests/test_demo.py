"""The main job: the demo's data set, table and figures."""

import io

import numpy as np
import pytest

from implicitem import demo


def test_dataset_is_deterministic():
    X, labels = demo.dataset()
    again, _ = demo.dataset()
    np.testing.assert_array_equal(X, again)
    assert X.shape == (3 * demo.PER_CLUSTER + demo.OUTLIERS, 2)
    assert np.sum(labels == -1) == demo.OUTLIERS
    for c in range(3):  # each cluster's sample mean is near its true centre
        assert np.linalg.norm(X[labels == c].mean(axis=0) - demo.TRUE_MEANS[c]) < 0.2


def test_match_centres_finds_the_permutation():
    truth = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    fitted = truth[[2, 0, 1]] + 0.1
    perm, distance = demo.match_centres(fitted, truth)
    np.testing.assert_allclose(fitted[list(perm)], truth + 0.1)
    assert distance == pytest.approx(np.sqrt(0.02))


def test_demo_prints_every_kernel(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    assert demo.run_demo(out_dir=str(tmp_path), plots=False, stdout=out, stderr=err) == 0
    table = [line for line in out.getvalue().splitlines() if line.startswith("| ")]
    kernels = [line.split("|")[1].strip() for line in table[2:]]
    assert kernels == ["gaussian", "laplace", "logistic", "student_t", "huber", "pseudo_huber",
                       "exponential", "cosine", "mahalanobis"]
    errors = {line.split("|")[1].strip(): float(line.split("|")[4]) for line in table[2:]}
    for robust in ("student_t", "laplace", "huber"):
        assert errors[robust] < errors["gaussian"]


def test_demo_figures(tmp_path):
    pytest.importorskip("matplotlib")
    out = io.StringIO()
    assert demo.run_demo(out_dir=str(tmp_path), plots=True, stdout=out, stderr=io.StringIO()) == 0
    for name in ("activations.png", "responsibilities.png"):
        with open(tmp_path / name, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
