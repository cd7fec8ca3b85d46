"""``Mixture``: fitting a mixture by implicit EM, with scikit-learn's estimator conventions.

The constructor keeps its arguments as given; ``fit`` validates them, calls ``ie_fit_f64``
and sets the fitted attributes (names ending in ``_``). Fitting computes in float64 (the
library's fit is float64 only); float32 input is converted up, never down.
"""

from __future__ import annotations

import ctypes
import inspect
import warnings
from typing import Any, Callable, Dict, Iterable, Optional, Union

import numpy as np

from ._errors import ImplicitEMError, check_status
from ._loader import library as _lib
from ._prototypes import (FIT_PROGRESS_FN, ComponentStatus, FitOptionsF64, FitResultF64, Init,
                          Kernel, Learn, ScaleShape, Status)
from .core import _kernel, forward

_SEPARABLE = {Kernel.GAUSSIAN, Kernel.LAPLACE, Kernel.LOGISTIC, Kernel.STUDENT_T,
              Kernel.HUBER, Kernel.PSEUDO_HUBER, Kernel.EXPONENTIAL}
_HAS_SHAPE = {Kernel.STUDENT_T: "nu", Kernel.HUBER: "delta", Kernel.PSEUDO_HUBER: "delta"}

_SCALE_SHAPES = {
    "shared": ScaleShape.SHARED,
    "per_component": ScaleShape.PER_COMPONENT, "per-component": ScaleShape.PER_COMPONENT,
    "per_dimension": ScaleShape.PER_DIMENSION, "per-dimension": ScaleShape.PER_DIMENSION,
    "per_dim": ScaleShape.PER_DIMENSION, "per-dim": ScaleShape.PER_DIMENSION,
}
_LEARN = {"means": Learn.MEANS, "weights": Learn.WEIGHTS, "scales": Learn.SCALES,
          "shape": Learn.SHAPE, "chol": Learn.CHOL}
_INITS = {"k-means++": Init.KMEANS_PP, "kmeans++": Init.KMEANS_PP, "random": Init.RANDOM}


class ConvergenceWarning(UserWarning):
    """A fit stopped at ``max_iter`` before the tolerance (its result is still valid)."""


def _error(status: Status, message: str) -> ImplicitEMError:
    return ImplicitEMError(int(status), message)


def _pointer(array: Optional[np.ndarray]) -> Any:
    return None if array is None else array.ctypes.data_as(ctypes.POINTER(ctypes.c_double))


class Mixture:
    """A mixture of ``n_components`` kernels fitted by implicit EM (docs/KERNELS.md).

    Parameters
    ----------
    n_components : number of components K.
    kernel : "gaussian", "laplace", "logistic", "student_t", "huber", "pseudo_huber",
        "exponential", "cosine" or "mahalanobis".
    scale_shape : "shared", "per_component" or "per_dimension" ("per-dim"): kernels 1-7.
    nu, delta : the shape of student_t (nu) and huber / pseudo_huber (delta); fixed, or the
        start when ``learn`` includes "shape". Default 1.
    tau : temperature (mahalanobis: tau = 2 gives the usual Gaussian with precision L Lᵀ).
    normalized : None (on for every kernel but logistic), True or False.
    learn : None (means, weights, and scales / Cholesky factors when normalised) or a
        collection of "means", "weights", "scales", "shape", "chol".
    max_iter, tol : iterations per restart; stop when an iteration gains less than ``tol``
        in mean log-likelihood.
    n_init : restarts, the best kept.
    init : "k-means++" or "random" (seeded by ``random_state``); given ``means_init`` wins.
    means_init, weights_init, scales_init, precisions_cholesky_init : starting parameters.
    random_state : an int seed (None means 0: fits are deterministic).
    min_scale : floor on scales (0: 1e-3 times the data's RMS standard deviation).
    warm_start : start each ``fit`` from the previous fit's parameters.

    Fitted attributes: ``means_`` (K, D), ``scales_`` (as the scale shape: (), (K,) or (K, D);
    None for cosine and mahalanobis), ``weights_`` (K,), ``precisions_cholesky_`` (K, D, D;
    mahalanobis), ``nu_``, ``delta_``, ``n_iter_``, ``converged_``, ``lower_bound_`` (the final
    mean log-likelihood), ``history_`` (mean log-likelihood before the first iteration and
    after each), ``component_status_`` (0 ok, 1 collapsed, 2 emptied), ``n_features_in_``.
    """

    def __init__(self, n_components: int = 1, *, kernel: Union[str, int] = "gaussian",
                 scale_shape: str = "per_component", nu: Optional[float] = None,
                 delta: Optional[float] = None, tau: float = 1.0,
                 normalized: Optional[bool] = None, learn: Optional[Iterable[str]] = None,
                 max_iter: int = 200, tol: float = 1e-6, n_init: int = 1,
                 init: str = "k-means++", means_init: Any = None, weights_init: Any = None,
                 scales_init: Any = None, precisions_cholesky_init: Any = None,
                 random_state: Optional[int] = None, min_scale: float = 0.0,
                 warm_start: bool = False) -> None:
        self.n_components = n_components
        self.kernel = kernel
        self.scale_shape = scale_shape
        self.nu = nu
        self.delta = delta
        self.tau = tau
        self.normalized = normalized
        self.learn = learn
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.init = init
        self.means_init = means_init
        self.weights_init = weights_init
        self.scales_init = scales_init
        self.precisions_cholesky_init = precisions_cholesky_init
        self.random_state = random_state
        self.min_scale = min_scale
        self.warm_start = warm_start

    # ------------------------------------------------------------------ parameters

    @classmethod
    def _param_names(cls) -> list:
        signature = inspect.signature(cls.__init__)
        return [name for name in signature.parameters if name != "self"]

    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        """The constructor's arguments, as given."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> "Mixture":
        """Set constructor arguments by name; returns self."""
        valid = set(self._param_names())
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"set_params: {name!r} is not a parameter of Mixture; "
                                 f"expected one of {', '.join(sorted(valid))}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = inspect.signature(type(self).__init__).parameters
        changed = [f"{name}={getattr(self, name)!r}" for name in self._param_names()
                   if not _same(getattr(self, name), defaults[name].default)]
        return f"Mixture({', '.join(changed)})"

    # ------------------------------------------------------------------ fitting

    def _resolved(self) -> Dict[str, Any]:
        """The constructor's arguments checked and turned into the C options' values."""
        kernel = _kernel(self.kernel)
        if kernel == Kernel.LEARNED:
            raise _error(Status.ERR_UNSUPPORTED,
                         "kernel: learned has no parameters to fit; use kernels 1-9")
        shape_name = str(self.scale_shape).strip().lower()
        if shape_name not in _SCALE_SHAPES:
            raise _error(Status.ERR_BAD_ENUM,
                         f"scale_shape: unknown {self.scale_shape!r}; expected shared, "
                         f"per_component or per_dimension")
        normalized = (kernel != Kernel.LOGISTIC) if self.normalized is None else bool(self.normalized)
        if self.learn is None:
            learn = Learn.MEANS | Learn.WEIGHTS
            if normalized:
                learn |= Learn.SCALES | Learn.CHOL
            learn_bits = 0
        else:
            names = [self.learn] if isinstance(self.learn, str) else list(self.learn)
            learn = 0
            for name in names:
                if name not in _LEARN:
                    raise _error(Status.ERR_BAD_ENUM,
                                 f"learn: unknown parameter {name!r}; expected some of "
                                 f"{', '.join(_LEARN)}")
                learn |= _LEARN[name]
            if learn == 0:
                raise _error(Status.ERR_BAD_PARAMETER, "learn: empty; name at least one parameter")
            learn_bits = learn
        # What the kernel actually has (bits it has no parameter for are ignored).
        if kernel not in _SEPARABLE:
            learn &= ~Learn.SCALES
        if kernel != Kernel.MAHALANOBIS:
            learn &= ~Learn.CHOL
        if kernel not in _HAS_SHAPE:
            learn &= ~Learn.SHAPE
        if isinstance(self.init, str):
            if self.init not in _INITS:
                raise _error(Status.ERR_BAD_ENUM,
                             f"init: unknown {self.init!r}; expected 'k-means++' or 'random' "
                             f"(or give means_init)")
        else:
            raise _error(Status.ERR_BAD_ENUM, f"init: {self.init!r} is not 'k-means++' or 'random'")
        seed = 0 if self.random_state is None else int(self.random_state)
        if seed < 0:
            raise _error(Status.ERR_BAD_PARAMETER, f"random_state: {seed}, must be >= 0")
        return dict(kernel=kernel, scale_shape=_SCALE_SHAPES[shape_name], normalized=normalized,
                    learn=learn, learn_bits=learn_bits, seed=seed,
                    nu=1.0 if self.nu is None else float(self.nu),
                    delta=1.0 if self.delta is None else float(self.delta))

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None,
            progress: Optional[Callable[[int, int, float], Any]] = None) -> "Mixture":
        """Fit to the rows of ``X`` (N, D); ``sample_weight`` (N,) optional.

        ``progress(restart, iteration, mean_log_likelihood)`` is called after every iteration;
        an exception raised inside it stops the fit and is re-raised. Returns self.
        """
        r = self._resolved()
        kernel = r["kernel"]
        X = self._check_X(X, fitting=True)
        n, d = X.shape
        k = int(self.n_components)
        if k < 1:
            raise _error(Status.ERR_BAD_SIZE, f"n_components: {k}, must be >= 1")
        if k > n:
            raise _error(Status.ERR_BAD_SIZE,
                         f"n_components: {k} components but X has only {n} rows")
        weights = None
        if sample_weight is not None:
            weights = np.ascontiguousarray(sample_weight, dtype=np.float64)
            if weights.shape != (n,):
                raise _error(Status.ERR_BAD_SIZE,
                             f"sample_weight: expected shape (N,) = ({n},); got {weights.shape}")

        scale_count = {ScaleShape.SHARED: 1, ScaleShape.PER_COMPONENT: k,
                       ScaleShape.PER_DIMENSION: k * d}[r["scale_shape"]]
        init = _INITS[self.init]
        starts: Dict[str, Optional[np.ndarray]] = dict(mu=None, scale=None, chol=None, logw=None)
        if self.warm_start and hasattr(self, "means_") and self.means_.shape == (k, d):
            starts = dict(mu=self.means_, logw=self._logw_, chol=self.precisions_cholesky_,
                          scale=None if self.scales_ is None else np.asarray(self.scales_))
            init = Init.GIVEN
        else:
            if self.means_init is not None:
                starts["mu"] = self.means_init
                init = Init.GIVEN
            if self.weights_init is not None:
                w0 = np.asarray(self.weights_init, dtype=np.float64)
                with np.errstate(divide="ignore"):
                    starts["logw"] = np.log(w0)
            starts["scale"] = self.scales_init
            starts["chol"] = self.precisions_cholesky_init
        shapes = dict(mu=(k * d, "means_init", f"({k}, {d})"),
                      scale=(scale_count, "scales_init", f"{scale_count} values"),
                      chol=(k * d * d, "precisions_cholesky_init", f"({k}, {d}, {d})"),
                      logw=(k, "weights_init", f"({k},)"))
        arrays: Dict[str, Optional[np.ndarray]] = {}
        for key, value in starts.items():
            if value is None or (key == "scale" and kernel not in _SEPARABLE) or \
                    (key == "chol" and kernel != Kernel.MAHALANOBIS):
                arrays[key] = None
                continue
            array = np.ascontiguousarray(value, dtype=np.float64).reshape(-1)
            count, name, wanted = shapes[key]
            if array.size != count:
                raise _error(Status.ERR_BAD_SIZE,
                             f"{name}: expected {wanted}; got {np.shape(value)}")
            arrays[key] = array

        options = FitOptionsF64()
        check_status(_lib.ie_fit_options_init_f64(ctypes.byref(options)), _lib)
        options.kernel = int(kernel)
        options.scale_shape = int(r["scale_shape"])
        options.k = k
        options.nu = r["nu"]
        options.delta = r["delta"]
        options.tau = float(self.tau)
        options.normalized = int(r["normalized"])
        options.learn = int(r["learn_bits"])
        options.max_iter = int(self.max_iter)
        options.tol = float(self.tol)
        options.n_init = int(self.n_init)
        options.init = int(init)
        options.seed = r["seed"]
        options.min_scale = float(self.min_scale)
        options.init_mu = _pointer(arrays["mu"])
        options.init_scale = _pointer(arrays["scale"])
        options.init_chol = _pointer(arrays["chol"])
        options.init_logw = _pointer(arrays["logw"])

        raised: list = []
        callback = None
        if progress is not None:
            def _progress(_user: Any, restart: int, iteration: int, value: float) -> int:
                try:
                    progress(int(restart), int(iteration), float(value))
                    return 0
                except BaseException as error:  # re-raised below, after the C call returns
                    raised.append(error)
                    return 1
            callback = FIT_PROGRESS_FN(_progress)
            options.progress = callback

        mu = np.empty((k, d))
        scale = np.empty(scale_count) if kernel in _SEPARABLE else None
        chol = np.empty((k, d, d)) if kernel == Kernel.MAHALANOBIS else None
        logw = np.empty(k)
        nu = np.empty(1)
        delta = np.empty(1)
        history = np.empty(int(self.max_iter) + 1)
        status_out = np.empty(k, dtype=np.int32)
        result = FitResultF64()
        check_status(_lib.ie_fit_result_init_f64(ctypes.byref(result)), _lib)
        result.mu, result.scale, result.chol = _pointer(mu), _pointer(scale), _pointer(chol)
        result.logw, result.nu, result.delta = _pointer(logw), _pointer(nu), _pointer(delta)
        result.history = _pointer(history)
        result.component_status = status_out.ctypes.data_as(ctypes.POINTER(ctypes.c_int32))

        status = _lib.ie_fit_f64(ctypes.byref(options), n, d, _pointer(X), _pointer(weights),
                                 ctypes.byref(result))
        if raised:
            raise raised[0]
        if status != Status.ERR_DID_NOT_CONVERGE:
            check_status(status, _lib)
        else:
            warnings.warn(f"Mixture: the best restart stopped at max_iter = {self.max_iter} "
                          f"before the tolerance tol = {self.tol}", ConvergenceWarning,
                          stacklevel=2)

        self._kernel_ = kernel
        self._normalized_ = r["normalized"]
        self._learn_ = r["learn"]
        self._scale_shape_ = r["scale_shape"]
        self.n_features_in_ = d
        self.means_ = mu
        self._logw_ = logw
        self.weights_ = np.exp(logw)
        if scale is None:
            self.scales_ = None
        elif r["scale_shape"] == ScaleShape.SHARED:
            self.scales_ = scale.reshape(())
        elif r["scale_shape"] == ScaleShape.PER_DIMENSION:
            self.scales_ = scale.reshape(k, d)
        else:
            self.scales_ = scale
        self.precisions_cholesky_ = chol
        self.nu_ = float(nu[0]) if kernel == Kernel.STUDENT_T else None
        self.delta_ = float(delta[0]) if kernel in (Kernel.HUBER, Kernel.PSEUDO_HUBER) else None
        self.n_iter_ = int(result.n_iter)
        self.converged_ = bool(result.converged)
        self.lower_bound_ = float(result.mean_log_likelihood)
        self.history_ = history[: int(result.n_history)].copy()
        self.component_status_ = status_out.copy()
        self.best_restart_ = int(result.best_restart)
        self.min_scale_ = float(result.min_scale)
        return self

    # ------------------------------------------------------------------ using a fit

    def _check_fitted(self) -> None:
        if not hasattr(self, "means_"):
            raise AttributeError("This Mixture is not fitted yet: call fit(X) first")

    def _check_X(self, X: Any, fitting: bool = False) -> np.ndarray:
        try:
            array = np.ascontiguousarray(X, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise _error(Status.ERR_BAD_PARAMETER,
                         f"X: cannot be read as a float64 array ({error})") from None
        if array.ndim != 2:
            raise _error(Status.ERR_BAD_SIZE, f"X: expected shape (N, D); got {array.shape}")
        if array.shape[0] < 1 or array.shape[1] < 1:
            raise _error(Status.ERR_BAD_SIZE, f"X: expected at least one row and one column; "
                                              f"got {array.shape}")
        if not fitting:
            self._check_fitted()
            if array.shape[1] != self.n_features_in_:
                raise _error(Status.ERR_BAD_SIZE,
                             f"X: {array.shape[1]} columns, but the mixture was fitted on "
                             f"{self.n_features_in_}")
        return array

    def _forward(self, X: Any) -> Any:
        X = self._check_X(X)
        kernel = self._kernel_
        scale = None
        if kernel in _SEPARABLE:
            scale = float(self.scales_) if np.ndim(self.scales_) == 0 else self.scales_
        return forward(X, self.means_, kernel=kernel.name.lower(),
                       scale=1.0 if scale is None else scale,
                       nu=self.nu_ if kernel == Kernel.STUDENT_T else None,
                       delta=self.delta_ if kernel in (Kernel.HUBER, Kernel.PSEUDO_HUBER) else None,
                       chol=self.precisions_cholesky_, logw=self._logw_, tau=float(self.tau),
                       normalized=self._normalized_)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Responsibilities r_nk (N, K)."""
        return self._forward(X).resp

    def predict(self, X: Any) -> np.ndarray:
        """The component of largest responsibility for each row (N,)."""
        return np.argmax(self.predict_proba(X), axis=1)

    def score_samples(self, X: Any) -> np.ndarray:
        """Per-row log-likelihood L_n = log sum_k w_k exp(-d_nk/tau - c_k) (N,)."""
        return self._forward(X).logZ

    def score(self, X: Any, y: Any = None) -> float:
        """Mean per-row log-likelihood."""
        return float(np.mean(self.score_samples(X)))

    def _n_parameters(self) -> int:
        self._check_fitted()
        k, d = self.means_.shape
        learn, kernel = self._learn_, self._kernel_
        count = 0
        if learn & Learn.MEANS:
            count += k * (d - 1) if kernel == Kernel.COSINE else k * d
        if learn & Learn.WEIGHTS:
            count += k - 1
        if learn & Learn.SCALES and self.scales_ is not None:
            count += int(np.size(self.scales_))
        if learn & Learn.CHOL:
            count += k * d * (d + 1) // 2
        if learn & Learn.SHAPE:
            count += 1
        return count

    def bic(self, X: Any) -> float:
        """Bayesian information criterion: -2 sum_n L_n + p log N (lower is better)."""
        X = self._check_X(X)
        return float(-2 * self.score(X) * X.shape[0] + self._n_parameters() * np.log(X.shape[0]))

    def aic(self, X: Any) -> float:
        """Akaike information criterion: -2 sum_n L_n + 2p (lower is better)."""
        X = self._check_X(X)
        return float(-2 * self.score(X) * X.shape[0] + 2 * self._n_parameters())


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a is b or a == b)
    except (ValueError, TypeError):
        return False


__all__ = ["Mixture", "ConvergenceWarning", "ComponentStatus"]
