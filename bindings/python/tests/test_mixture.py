"""ie.Mixture against scikit-learn's GaussianMixture, closed forms, and the outlier test."""

import pickle
import warnings

import numpy as np
import pytest

import implicitem as ie
from implicitem.mixture import ConvergenceWarning

sklearn_mixture = pytest.importorskip("sklearn.mixture")


def clusters(seed, n=150, outliers=0, d=2):
    rng = np.random.RandomState(seed)
    means = np.array([[0.0, 0.0], [6.0, 1.0], [1.0, 7.0]])[:, :d] if d == 2 else \
        np.array([[0.0, 0.0, 0.0], [5.0, 1.0, -2.0], [-1.0, 6.0, 3.0]])
    parts = []
    for c, mean in enumerate(means):
        mixing = np.eye(d) * (0.6 + 0.3 * c) + 0.3 * np.tril(rng.standard_normal((d, d)), -1)
        parts.append(mean + rng.standard_normal((n, d)) @ mixing.T)
    if outliers:
        parts.append(rng.uniform(-25, 25, size=(outliers, d)))
    return np.concatenate(parts), means


START_MEANS = np.array([[1.0, 1.0], [4.0, 2.0], [2.0, 5.0]])
START_WEIGHTS = np.array([0.5, 0.3, 0.2])
START_VARIANCES = np.array([[4.0, 4.0], [2.25, 1.0], [1.0, 9.0]])


@pytest.mark.parametrize("iterations", [3, 80])
@pytest.mark.parametrize("covariance_type,scale_shape", [("diag", "per_dimension"),
                                                         ("spherical", "per_component")])
def test_gaussian_matches_sklearn(iterations, covariance_type, scale_shape):
    X, _ = clusters(1)
    variances = START_VARIANCES if covariance_type == "diag" else START_VARIANCES.mean(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = sklearn_mixture.GaussianMixture(
            3, covariance_type=covariance_type, reg_covar=0.0, tol=0.0, max_iter=iterations,
            means_init=START_MEANS, weights_init=START_WEIGHTS,
            precisions_init=1.0 / variances).fit(X)
        model = ie.Mixture(3, kernel="gaussian", scale_shape=scale_shape, tol=0.0,
                           max_iter=iterations, means_init=START_MEANS, weights_init=START_WEIGHTS,
                           scales_init=np.sqrt(variances), min_scale=1e-9).fit(X)
    np.testing.assert_allclose(model.means_, reference.means_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.scales_ ** 2, reference.covariances_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.weights_, reference.weights_, rtol=0, atol=1e-6)
    assert model.score(X) == pytest.approx(reference.score(X), abs=1e-6)
    np.testing.assert_allclose(model.score_samples(X), reference.score_samples(X), atol=1e-6)
    np.testing.assert_allclose(model.predict_proba(X), reference.predict_proba(X), atol=1e-6)
    assert model.bic(X) == pytest.approx(reference.bic(X), abs=1e-3)
    assert model.aic(X) == pytest.approx(reference.aic(X), abs=1e-3)


@pytest.mark.parametrize("iterations", [3, 80])
def test_mahalanobis_matches_sklearn_full(iterations):
    X, _ = clusters(2, d=3)
    start_means = np.array([[1.0, 1.0, 1.0], [4.0, 0.0, 0.0], [0.0, 4.0, 2.0]])
    rng = np.random.RandomState(5)
    precisions = []
    for _ in range(3):
        a = rng.standard_normal((3, 3))
        precisions.append(np.linalg.inv(a @ a.T + np.eye(3)))
    precisions = np.array(precisions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = sklearn_mixture.GaussianMixture(
            3, covariance_type="full", reg_covar=0.0, tol=0.0, max_iter=iterations,
            means_init=start_means, weights_init=START_WEIGHTS, precisions_init=precisions).fit(X)
        # The seed's Mahalanobis energy has no 1/2: tau = 2 makes exp(-d/tau) the Gaussian.
        model = ie.Mixture(3, kernel="mahalanobis", tau=2.0, tol=0.0, max_iter=iterations,
                           means_init=start_means, weights_init=START_WEIGHTS,
                           precisions_cholesky_init=np.linalg.cholesky(precisions),
                           min_scale=1e-9).fit(X)
    np.testing.assert_allclose(model.means_, reference.means_, rtol=0, atol=1e-6)
    L = model.precisions_cholesky_
    np.testing.assert_allclose(L @ np.transpose(L, (0, 2, 1)), reference.precisions_, rtol=1e-6, atol=1e-6)
    assert np.all(np.triu(L, 1) == 0)
    assert model.score(X) == pytest.approx(reference.score(X), abs=1e-6)
    np.testing.assert_allclose(model.predict_proba(X), reference.predict_proba(X), atol=1e-6)


def test_robust_kernels_resist_outliers():
    """10% gross outliers: the robust kernels' centres sit nearer the truth than the gaussian's."""
    X, truth = clusters(3, n=150, outliers=50)

    def centre_error(model):
        from itertools import permutations
        return min(np.mean(np.linalg.norm(model.means_[list(p)] - truth, axis=1))
                   for p in permutations(range(3)))

    def fit(kernel, **extra):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ie.Mixture(3, kernel=kernel, scale_shape="per_component", n_init=3,
                              random_state=0, **extra).fit(X)

    gaussian = centre_error(fit("gaussian"))
    for kernel, extra in [("student_t", dict(nu=1.0)), ("laplace", {}), ("huber", dict(delta=1.0))]:
        error = centre_error(fit(kernel, **extra))
        assert error < gaussian, (kernel, error, gaussian)


@pytest.mark.parametrize("kernel,extra", [
    ("gaussian", {}), ("laplace", {}), ("logistic", {}), ("student_t", dict(nu=2.0)),
    ("huber", dict(delta=1.0)), ("pseudo_huber", dict(delta=1.0)), ("exponential", {}),
    ("cosine", {}), ("mahalanobis", dict(tau=2.0)),
])
def test_every_kernel_fits_and_never_lowers_the_objective(kernel, extra):
    X, _ = clusters(4, n=80, outliers=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ie.Mixture(3, kernel=kernel, max_iter=60, random_state=1, **extra).fit(X)
    assert model.history_.shape == (model.n_iter_ + 1,)
    assert np.all(np.diff(model.history_) >= 0)
    assert model.lower_bound_ == model.history_[-1]
    # The fitted objective is what score() evaluates through ie.forward.
    assert model.score(X) == pytest.approx(model.lower_bound_, rel=1e-12, abs=1e-12)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(model.predict(X), proba.argmax(axis=1))
    assert model.weights_.sum() == pytest.approx(1.0, abs=1e-12)


def test_learns_nu_and_sample_weights_count_as_repeats():
    rng = np.random.RandomState(7)
    X = rng.standard_normal((300, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        repeated = ie.Mixture(2, kernel="student_t", nu=3.0, learn=["means", "weights", "scales", "shape"],
                              means_init=[[0.5, 0.5], [-0.5, -0.5]], max_iter=40, tol=0.0)
        a = repeated.fit(np.concatenate([X, X[:100]]))
        weighted = ie.Mixture(**repeated.get_params())
        w = np.ones(300)
        w[:100] = 2.0
        b = weighted.fit(X, sample_weight=w)
    # Weight 2 is a row counted twice: the same objective, the same iterates.
    np.testing.assert_allclose(a.means_, b.means_, atol=1e-9)
    assert a.nu_ == pytest.approx(b.nu_, abs=1e-9)
    assert a.nu_ != 3.0


def test_estimator_conventions():
    model = ie.Mixture(2, kernel="laplace", scale_shape="per-dim", random_state=3)
    params = model.get_params()
    assert params["n_components"] == 2 and params["scale_shape"] == "per-dim"
    assert model.set_params(n_components=3) is model and model.n_components == 3
    with pytest.raises(ValueError, match="not a parameter"):
        model.set_params(bogus=1)
    assert not hasattr(model, "means_")
    with pytest.raises(AttributeError, match="not fitted"):
        model.predict(np.zeros((2, 2)))
    X, _ = clusters(5, n=60)
    assert model.fit(X) is model
    for name in ("means_", "scales_", "weights_", "n_iter_", "converged_", "lower_bound_", "history_"):
        assert hasattr(model, name), name
    assert model.scales_.shape == (3, 2)
    assert model.precisions_cholesky_ is None
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict_proba(X), model.predict_proba(X))
    # Deterministic for a seed: a refit gives bitwise the same parameters.
    again = ie.Mixture(**model.get_params()).fit(X)
    np.testing.assert_array_equal(again.means_, model.means_)
    # sklearn's clone works on it (get_params / set_params are all it needs).
    from sklearn.base import clone as sk_clone
    assert sk_clone(model).get_params() == model.get_params()


def test_warm_start_continues():
    X, _ = clusters(6, n=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ie.Mixture(3, scale_shape="per_dimension", max_iter=3, tol=0.0, warm_start=True,
                           random_state=2)
        model.fit(X)
        first = model.lower_bound_
        model.fit(X)
    assert model.history_[0] == pytest.approx(first, abs=1e-12)
    assert model.lower_bound_ >= first


def test_convergence_warning_and_errors():
    X, _ = clusters(7, n=40)
    with pytest.warns(ConvergenceWarning):
        model = ie.Mixture(3, max_iter=1, tol=0.0).fit(X)
    assert not model.converged_ and model.n_iter_ == 1
    with pytest.raises(ie.ImplicitEMError, match="n_components"):
        ie.Mixture(500).fit(X)
    with pytest.raises(ie.ImplicitEMError, match="scale_shape"):
        ie.Mixture(2, scale_shape="diagonal").fit(X)
    with pytest.raises(ie.ImplicitEMError, match="normaliser"):
        ie.Mixture(2, kernel="logistic", normalized=True).fit(X)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ie.ImplicitEMError, match=r"x\[3, 1\]"):
        ie.Mixture(2).fit(bad)
    with pytest.raises(ie.ImplicitEMError, match="means_init"):
        ie.Mixture(2, means_init=np.zeros((3, 2))).fit(X)
    with pytest.raises(ie.ImplicitEMError, match="sample_weight"):
        ie.Mixture(2).fit(X, sample_weight=-np.ones(len(X)))
    with pytest.raises(ZeroDivisionError):
        ie.Mixture(2).fit(X, progress=lambda r, i, v: 1 / 0)


def test_c_abi_rejects_overlapping_buffers_and_writes_nothing():
    """ie_fit_f64 directly: an output inside x is IE_ERR_OVERLAP, and no output is touched."""
    import ctypes

    from implicitem._loader import library as lib
    from implicitem._prototypes import FitOptionsF64, FitResultF64

    X, _ = clusters(8, n=20)
    options, result = FitOptionsF64(), FitResultF64()
    assert lib.ie_fit_options_init_f64(ctypes.byref(options)) == 0
    assert lib.ie_fit_result_init_f64(ctypes.byref(result)) == 0
    assert options.struct_size == ctypes.sizeof(FitOptionsF64)
    assert result.struct_size == ctypes.sizeof(FitResultF64)
    assert (options.k, options.max_iter, options.tol, options.n_init) == (0, 200, 1e-6, 1)
    assert (options.normalized, options.init, options.scale_shape, options.tau) == (-1, 1, 2, 1.0)
    options.k = 2
    double_p = ctypes.POINTER(ctypes.c_double)
    x = np.ascontiguousarray(X)
    before = x.copy()
    logw = np.full(2, 7.0)
    result.mu = x[5:].ctypes.data_as(double_p)
    result.logw = logw.ctypes.data_as(double_p)
    status = lib.ie_fit_f64(ctypes.byref(options), x.shape[0], x.shape[1],
                            x.ctypes.data_as(double_p), None, ctypes.byref(result))
    assert status == ie.Status.ERR_OVERLAP
    assert b"result->mu overlaps x" in lib.ie_last_error_message()
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(logw, 7.0)
    options.k = 0
    status = lib.ie_fit_f64(ctypes.byref(options), x.shape[0], x.shape[1],
                            x.ctypes.data_as(double_p), None, ctypes.byref(result))
    assert status == ie.Status.ERR_BAD_SIZE


def test_same_fit_for_any_thread_count():
    X, _ = clusters(9, n=700, outliers=100)
    fits = []
    try:
        for threads in (1, 2, 4):
            ie.set_num_threads(threads)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fits.append(ie.Mixture(3, kernel="student_t", nu=2.0, n_init=2, max_iter=15,
                                       random_state=11).fit(X))
    finally:
        ie.set_num_threads(0)
    for other in fits[1:]:
        np.testing.assert_array_equal(other.means_, fits[0].means_)
        np.testing.assert_array_equal(other.scales_, fits[0].scales_)
        np.testing.assert_array_equal(other.history_, fits[0].history_)
