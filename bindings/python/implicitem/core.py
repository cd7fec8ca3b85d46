"""The user-facing functions: forward, gradients, activation, log_normalizer, stats.

The mathematics is docs/KERNELS.md. Every function takes NumPy arrays (or anything
``np.asarray`` accepts) and returns new arrays:

- dtype follows the input: float32 arrays stay float32, float64 stay float64, every other
  dtype (integers, lists, float16) is converted to float64 — unless another argument is a
  float32 or float64 array, whose precision it then follows. Mixing float32 and float64 arrays
  is an error naming the argument.
- Arrays are made C-contiguous once (no copy when they already are).
- Shapes are checked before calling the library; the error names the argument and the
  expected shape. Every error is an :class:`~implicitem.ImplicitEMError`.
- ``scale`` (kernels 1-7) decides the scale shape: a scalar is shared by every component and
  dimension, a (K,) array has one scale per component, a (K, D) array one per component and
  dimension. Gradients of the scale come back in the same shape (a Python float for a scalar).
  Gradients of ``nu``, ``delta`` and ``tau`` are Python floats.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np

from ._errors import ImplicitEMError, check_status
from ._loader import library as _lib
from ._prototypes import (ENERGY_FN_F32, ENERGY_FN_F64, GradsF32, GradsF64, Kernel, ProblemF32,
                          ProblemF64, ScaleShape, Status)

ArrayLike = Any
KernelLike = Union[str, int, Kernel]
EnergyFn = Callable[[np.ndarray], ArrayLike]

__all__ = ["forward", "gradients", "activation", "log_normalizer", "stats",
           "ForwardResult", "GradientResult", "Stats", "set_num_threads", "get_num_threads"]

_SEPARABLE = frozenset(Kernel(k) for k in range(Kernel.GAUSSIAN, Kernel.EXPONENTIAL + 1))


# --------------------------------------------------------------------------------- results

@dataclass(frozen=True, eq=False)
class ForwardResult:
    """What :func:`forward` returns.

    energies: (N, K) d_nk; logZ: (N,) L_n; resp: (N, K) r_nk.
    """

    energies: np.ndarray
    logZ: np.ndarray
    resp: np.ndarray


@dataclass(frozen=True, eq=False)
class GradientResult:
    """What :func:`gradients` returns: the forward outputs and the gradient of
    ``objective = sum_n gL_n logZ_n + sum_nk gR_nk resp_nk`` with respect to each input.

    Each gradient has its input's shape; ``None`` where the kernel does not use that input
    (``logprior`` is ``None`` unless a logprior was given). ``scale`` is a Python float for a
    scalar scale; ``nu``, ``delta`` and ``tau`` are Python floats. ``energies_grad`` is
    d objective / d energies (N, K), for every kernel (the learned kernel's gradient).
    """

    energies: np.ndarray
    logZ: np.ndarray
    resp: np.ndarray
    x: Optional[np.ndarray]
    mu: Optional[np.ndarray]
    scale: Union[np.ndarray, float, None]
    nu: Optional[float]
    delta: Optional[float]
    chol: Optional[np.ndarray]
    logw: np.ndarray
    logprior: Optional[np.ndarray]
    tau: float
    energies_grad: np.ndarray


@dataclass(frozen=True, eq=False)
class Stats:
    """What :func:`stats` returns: sum_r (K,), sum_rx (K, D), sum_rxx (K, D, D) or None."""

    sum_r: np.ndarray
    sum_rx: np.ndarray
    sum_rxx: Optional[np.ndarray]


# ------------------------------------------------------------------------ argument checks

def _error(status: Status, message: str) -> ImplicitEMError:
    return ImplicitEMError(status, message)


def _kernel(kernel: KernelLike) -> Kernel:
    if isinstance(kernel, str):
        try:
            return Kernel[kernel.strip().upper().replace("-", "_")]
        except KeyError:
            names = ", ".join(k.name.lower() for k in Kernel)
            raise _error(Status.ERR_BAD_ENUM,
                         f"kernel: unknown kernel {kernel!r}; expected one of {names}") from None
    try:
        return Kernel(int(kernel))
    except (ValueError, TypeError):
        raise _error(Status.ERR_BAD_ENUM, f"kernel: unknown kernel {kernel!r}") from None


def _common_dtype(named: List[Tuple[str, ArrayLike]]) -> np.dtype:
    """float32 or float64, decided by the float32/float64 arrays among the arguments."""
    chosen: Optional[Tuple[str, np.dtype]] = None
    for name, value in named:
        dtype = getattr(value, "dtype", None)
        if not isinstance(value, np.ndarray) or dtype not in (np.float32, np.float64):
            continue
        if chosen is None:
            chosen = (name, dtype)
        elif dtype != chosen[1]:
            raise _error(Status.ERR_BAD_PARAMETER,
                         f"{name}: dtype {dtype} does not match {chosen[0]} ({chosen[1]}); pass "
                         f"every array in one precision, float32 or float64")
    return np.dtype(np.float64) if chosen is None else np.dtype(chosen[1])


def _array(name: str, value: ArrayLike, dtype: np.dtype) -> np.ndarray:
    try:
        return np.asarray(value, dtype=dtype, order="C")  # keeps 0-d, unlike ascontiguousarray
    except (TypeError, ValueError) as error:
        raise _error(Status.ERR_BAD_PARAMETER,
                     f"{name}: cannot be read as a {dtype} array ({error})") from None


def _shaped(name: str, value: ArrayLike, dtype: np.dtype, shape: Tuple[Optional[int], ...],
            labels: str) -> np.ndarray:
    """An array of `shape` (None = any size), or an error naming `name` and `labels`."""
    array = _array(name, value, dtype)
    ok = array.ndim == len(shape) and all(w is None or w == s for w, s in zip(shape, array.shape))
    if not ok:
        wanted = ", ".join("?" if w is None else str(w) for w in shape)
        trailing = "," if len(shape) == 1 else ""
        raise _error(Status.ERR_BAD_SIZE,
                     f"{name}: expected shape {labels} = ({wanted}{trailing}); got {array.shape}")
    return array


def _required_float(name: str, value: Optional[float], kernel: Kernel) -> float:
    if value is None:
        raise _error(Status.ERR_BAD_PARAMETER,
                     f"{name}: required by the {kernel.name.lower()} kernel")
    return float(value)


def _pointer(array: Optional[np.ndarray], ctype: Any) -> Any:
    return None if array is None else array.ctypes.data_as(ctypes.POINTER(ctype))


# --------------------------------------------------------------------------- the problem

class _EnergyCallback:
    """A ctypes callback around a Python ``energy_fn``; keeps the first exception it raised."""

    def __init__(self, energy_fn: EnergyFn, k: int, dtype: np.dtype) -> None:
        self.energy_fn = energy_fn
        self.k = k
        self.dtype = dtype
        self.error: Optional[BaseException] = None
        c_type = ENERGY_FN_F32 if dtype == np.float32 else ENERGY_FN_F64
        self.function = c_type(self._call)  # kept alive by self for the whole call

    def _call(self, _user: Any, x_rows: Any, rows: int, d: int, out: Any) -> int:
        try:
            # A copy: the caller may keep the array beyond the callback.
            x = (np.ctypeslib.as_array(x_rows, shape=(rows, d)).copy() if rows * d > 0
                 else np.zeros((rows, d), dtype=self.dtype))
            energies = np.asarray(self.energy_fn(x), dtype=self.dtype)
            if energies.shape != (rows, self.k):
                raise _error(Status.ERR_CALLBACK,
                             f"energy_fn: must return shape (rows, K) = ({rows}, {self.k}); "
                             f"got {energies.shape}")
            if rows > 0:
                np.ctypeslib.as_array(out, shape=(rows, self.k))[...] = energies
            return 0
        except BaseException as error:  # re-raised by the caller after the library returns
            if self.error is None:
                self.error = error
            return 1


class _Problem:
    """A filled ie_problem struct and the arrays it points to (kept alive with it)."""

    def __init__(self, x: ArrayLike, mu: ArrayLike, kernel: KernelLike, scale: ArrayLike,
                 nu: Optional[float], delta: Optional[float], chol: ArrayLike, logw: ArrayLike,
                 tau: float, normalized: bool, energies: ArrayLike, logprior: ArrayLike,
                 energy_fn: Optional[EnergyFn], n_components: Optional[int],
                 extra: Dict[str, ArrayLike]) -> None:
        self.kernel = _kernel(kernel)
        kernel_name = self.kernel.name.lower()
        dtype = _common_dtype([("x", x), ("mu", mu), ("scale", scale), ("chol", chol),
                               ("logw", logw), ("logprior", logprior), ("energies", energies)]
                              + list(extra.items()))
        self.dtype = dtype
        self.ctype = ctypes.c_float if dtype == np.float32 else ctypes.c_double
        self.callback: Optional[_EnergyCallback] = None
        self.scale: Optional[np.ndarray] = None
        self.scale_shape = ScaleShape.SHARED
        self.chol: Optional[np.ndarray] = None
        self.x: Optional[np.ndarray] = None
        self.mu: Optional[np.ndarray] = None
        self.energies: Optional[np.ndarray] = None

        if self.kernel == Kernel.LEARNED:
            if energies is not None and energy_fn is not None:
                raise _error(Status.ERR_BAD_PARAMETER,
                             "energies: give either energies or energy_fn, not both")
            if energies is not None:
                self.energies = _shaped("energies", energies, dtype, (None, None), "(N, K)")
                self.n, self.k = self.energies.shape
                if x is not None:
                    self.x = _shaped("x", x, dtype, (self.n, None), "(N, D)")
                self.d = self.x.shape[1] if self.x is not None else 1
            elif energy_fn is not None:
                if not callable(energy_fn):
                    raise _error(Status.ERR_BAD_PARAMETER, "energy_fn: must be callable")
                if x is None:
                    raise _error(Status.ERR_NULL_POINTER,
                                 "x: required with energy_fn (the callback receives rows of x)")
                self.x = _shaped("x", x, dtype, (None, None), "(N, D)")
                self.n, self.d = self.x.shape
                self.k = self._count_components(n_components, logw, logprior)
                self.callback = _EnergyCallback(energy_fn, self.k, dtype)
            else:
                raise _error(Status.ERR_NULL_POINTER,
                             "energies: the learned kernel needs energies= (N, K) or energy_fn=")
        else:
            if energies is not None or energy_fn is not None:
                raise _error(Status.ERR_BAD_PARAMETER,
                             f"energies: energies= and energy_fn= are for the learned kernel, "
                             f"not {kernel_name}")
            if x is None:
                raise _error(Status.ERR_NULL_POINTER, f"x: required by the {kernel_name} kernel")
            if mu is None:
                raise _error(Status.ERR_NULL_POINTER, f"mu: required by the {kernel_name} kernel")
            self.x = _shaped("x", x, dtype, (None, None), "(N, D)")
            self.n, self.d = self.x.shape
            self.mu = _shaped("mu", mu, dtype, (None, self.d), "(K, D)")
            self.k = self.mu.shape[0]

        k, d, n = self.k, self.d, self.n
        if self.kernel in _SEPARABLE:
            given = _array("scale", 1.0 if scale is None else scale, dtype)
            if given.ndim == 0:
                self.scale_shape = ScaleShape.SHARED
            elif given.shape == (k,):
                self.scale_shape = ScaleShape.PER_COMPONENT
            elif given.shape == (k, d):
                self.scale_shape = ScaleShape.PER_DIMENSION
            else:
                raise _error(Status.ERR_BAD_SIZE,
                             f"scale: expected a scalar, shape (K,) = ({k},) or (K, D) = "
                             f"({k}, {d}); got {given.shape}")
            self.scale = np.ascontiguousarray(given.reshape(-1))
            self.scale_given_shape = given.shape
        self.nu = (_required_float("nu", nu, self.kernel)
                   if self.kernel == Kernel.STUDENT_T else 0.0)
        self.delta = (_required_float("delta", delta, self.kernel)
                      if self.kernel in (Kernel.HUBER, Kernel.PSEUDO_HUBER) else 0.0)
        if self.kernel == Kernel.MAHALANOBIS:
            if chol is None:
                raise _error(Status.ERR_NULL_POINTER, "chol: required by the mahalanobis kernel")
            self.chol = _shaped("chol", chol, dtype, (k, d, d), "(K, D, D)")
        self.logw = None if logw is None else _shaped("logw", logw, dtype, (k,), "(K,)")
        self.logprior = (None if logprior is None
                         else _shaped("logprior", logprior, dtype, (n, k), "(N, K)"))
        self.tau = 1.0 if tau is None else float(tau)
        self.normalized = bool(normalized)
        self.extra = extra
        self.struct = self._struct()

    def _count_components(self, n_components: Optional[int], logw: ArrayLike,
                          logprior: ArrayLike) -> int:
        if n_components is not None:
            if int(n_components) != n_components or n_components < 1:
                raise _error(Status.ERR_BAD_SIZE,
                             f"n_components: must be a positive integer; got {n_components!r}")
            return int(n_components)
        if logw is not None:
            if np.ndim(logw) != 1:
                raise _error(Status.ERR_BAD_SIZE,
                             f"logw: expected shape (K,); got {np.shape(logw)}")
            return int(np.shape(logw)[0])
        if logprior is not None and np.ndim(logprior) == 2:
            return int(np.shape(logprior)[1])
        raise _error(Status.ERR_BAD_SIZE,
                     "n_components: energy_fn needs the number of components K; pass "
                     "n_components= (or logw / logprior, whose shape gives K)")

    def _struct(self) -> ctypes.Structure:
        is32 = self.dtype == np.float32
        struct = ProblemF32() if is32 else ProblemF64()
        init = _lib.ie_problem_init_f32 if is32 else _lib.ie_problem_init_f64
        check_status(init(ctypes.byref(struct)), _lib)
        struct.kernel = int(self.kernel)
        struct.scale_shape = int(self.scale_shape)
        struct.n, struct.k, struct.d = self.n, self.k, self.d
        c = self.ctype
        struct.x = _pointer(self.x, c)
        struct.mu = _pointer(self.mu, c)
        struct.scale = _pointer(self.scale, c)
        struct.chol = _pointer(self.chol, c)
        struct.logw = _pointer(self.logw, c)
        struct.logprior = _pointer(self.logprior, c)
        struct.energies = _pointer(self.energies, c)
        if self.callback is not None:
            struct.energy_fn = self.callback.function
        struct.nu, struct.delta, struct.tau = self.nu, self.delta, self.tau
        struct.normalized = int(self.normalized)
        return struct

    def vector(self, name: str, shape: Tuple[int, ...], labels: str) -> Optional[np.ndarray]:
        """An extra input (gL, gR, weights) checked against `shape`, or None if absent."""
        value = self.extra.get(name)
        return None if value is None else _shaped(name, value, self.dtype, shape, labels)

    def empty(self, *shape: int) -> np.ndarray:
        return np.empty(shape, dtype=self.dtype)

    def function(self, stem: str) -> Callable[..., int]:
        return getattr(_lib, f"{stem}_f32" if self.dtype == np.float32 else f"{stem}_f64")

    def run(self, stem: str, *args: Any) -> None:
        """Call `stem`_f32/_f64 with the problem first; re-raise an energy_fn exception."""
        status = self.function(stem)(ctypes.byref(self.struct), *args)
        if self.callback is not None and self.callback.error is not None:
            raise self.callback.error
        check_status(status, _lib)

    def ptr(self, array: Optional[np.ndarray]) -> Any:
        return _pointer(array, self.ctype)


# ------------------------------------------------------------------------------ the API

def forward(x: ArrayLike = None, mu: ArrayLike = None, *, kernel: KernelLike = "gaussian",
            scale: ArrayLike = 1.0, nu: Optional[float] = None, delta: Optional[float] = None,
            chol: ArrayLike = None, logw: ArrayLike = None, tau: float = 1.0,
            normalized: bool = False, energies: ArrayLike = None, logprior: ArrayLike = None,
            energy_fn: Optional[EnergyFn] = None,
            n_components: Optional[int] = None) -> ForwardResult:
    """Energies, log-partitions and responsibilities (KERNELS.md)::

        a_nk = logw_k + logprior_nk - d_nk / tau - c_k
        logZ_n = log sum_k exp(a_nk),    resp_nk = exp(a_nk - logZ_n)

    with d_nk the kernel's energy of x_n against mu_k, and c_k the log-normaliser when
    ``normalized`` (0 otherwise).

    Args:
        x: (N, D) inputs (kernels 1-9; the learned kernel with ``energy_fn``).
        mu: (K, D) centres (kernels 1-9).
        kernel: "gaussian", "laplace", "logistic", "student_t", "huber", "pseudo_huber",
            "exponential", "cosine", "mahalanobis" or "learned" (or a :class:`Kernel`).
        scale: kernels 1-7: a scalar, (K,) or (K, D) scales (> 0); ignored by kernels 8-10.
        nu: Student-t shape (> 0), required by student_t.
        delta: Huber / pseudo-Huber shape (> 0), required by huber and pseudo_huber.
        chol: (K, D, D) lower Cholesky factors of the precisions (mahalanobis).
        logw: (K,) log-weights; None means 0.
        tau: temperature (> 0).
        normalized: subtract the exact log-normalisers c_k (a proper mixture likelihood).
        energies: (N, K) given energies (learned kernel).
        logprior: (N, K) log-priors added to the logits; -inf masks a component for a row.
        energy_fn: learned kernel: a callable taking an (rows, D) array of rows of x and
            returning their (rows, K) energies. An exception it raises is re-raised here.
        n_components: K for ``energy_fn`` (inferred from ``logw`` or ``logprior`` if omitted).

    Parameters the kernel does not use (``scale`` for kernels 8-10, ``nu``, ``delta``,
    ``chol`` for the others) are ignored.

    Returns:
        A :class:`ForwardResult` with ``energies`` (N, K), ``logZ`` (N,), ``resp`` (N, K).

    Raises:
        ImplicitEMError: on any bad input; the message names the argument.

    Example:
        >>> import numpy as np, implicitem as ie
        >>> r = ie.forward([[0.0], [2.0]], [[0.0], [2.0]], kernel="gaussian")
        >>> r.energies
        array([[0., 2.],
               [2., 0.]])
        >>> np.round(r.resp, 4)
        array([[0.8808, 0.1192],
               [0.1192, 0.8808]])
        >>> np.allclose(r.logZ, np.log(1 + np.exp(-2.0)))
        True
    """
    problem = _Problem(x, mu, kernel, scale, nu, delta, chol, logw, tau, normalized, energies,
                       logprior, energy_fn, n_components, {})
    n, k = problem.n, problem.k
    out_e, out_l, out_r = problem.empty(n, k), problem.empty(n), problem.empty(n, k)
    problem.run("ie_forward", problem.ptr(out_e), problem.ptr(out_l), problem.ptr(out_r))
    return ForwardResult(out_e, out_l, out_r)


def gradients(x: ArrayLike = None, mu: ArrayLike = None, *, kernel: KernelLike = "gaussian",
              scale: ArrayLike = 1.0, nu: Optional[float] = None,
              delta: Optional[float] = None, chol: ArrayLike = None, logw: ArrayLike = None,
              tau: float = 1.0, normalized: bool = False, energies: ArrayLike = None,
              logprior: ArrayLike = None, energy_fn: Optional[EnergyFn] = None,
              n_components: Optional[int] = None, gL: ArrayLike = None,
              gR: ArrayLike = None) -> GradientResult:
    """The forward outputs and the exact gradient of
    ``objective = sum_n gL_n logZ_n + sum_nk gR_nk resp_nk`` in one pass (KERNELS.md)::

        delta_nk = gL_n r_nk + r_nk (gR_nk - sum_j r_nj gR_nj)
        d/d energies_nk = -delta_nk / tau,   d/d logw_k = sum_n delta_nk
        d/d theta_k = sum_n (-delta_nk / tau) d d_nk/d theta_k - (sum_n delta_nk) d c_k/d theta_k

    The arguments are those of :func:`forward`, plus

    Args:
        gL: (N,) upstream gradient of logZ (per-sample weights); None means ones.
        gR: (N, K) upstream gradient of resp; None means zeros.

    Returns:
        A :class:`GradientResult`: ``energies``, ``logZ``, ``resp`` and the gradients ``x``,
        ``mu``, ``scale`` (shaped like the given scale; a float for a scalar), ``nu``,
        ``delta``, ``tau`` (floats), ``chol``, ``logw``, ``logprior``, ``energies_grad``;
        None where the kernel has no such input.

    Example (one gradient step of size s^2 / sum_n r_nk is the EM M-step):
        >>> import numpy as np, implicitem as ie
        >>> x = np.array([[0.0], [1.0], [5.0]]); mu = np.array([[0.5], [4.0]])
        >>> g = ie.gradients(x, mu, kernel="gaussian", scale=1.0)
        >>> step = mu + g.mu / g.resp.sum(axis=0)[:, None]
        >>> m_step = (g.resp.T @ x) / g.resp.sum(axis=0)[:, None]
        >>> bool(np.allclose(step, m_step))
        True
        >>> bool(np.allclose(g.logw, g.resp.sum(axis=0)))
        True
    """
    problem = _Problem(x, mu, kernel, scale, nu, delta, chol, logw, tau, normalized, energies,
                       logprior, energy_fn, n_components, {"gL": gL, "gR": gR})
    n, k, d, kern = problem.n, problem.k, problem.d, problem.kernel
    g_l = problem.vector("gL", (n,), "(N,)")
    g_r = problem.vector("gR", (n, k), "(N, K)")
    out_e, out_l, out_r = problem.empty(n, k), problem.empty(n), problem.empty(n, k)

    has_centres = kern != Kernel.LEARNED
    g = {
        "x": problem.empty(n, d) if has_centres else None,
        "mu": problem.empty(k, d) if has_centres else None,
        "scale": problem.empty(problem.scale.size) if problem.scale is not None else None,
        "nu": problem.empty(1) if kern == Kernel.STUDENT_T else None,
        "delta": problem.empty(1) if kern in (Kernel.HUBER, Kernel.PSEUDO_HUBER) else None,
        "chol": problem.empty(k, d, d) if kern == Kernel.MAHALANOBIS else None,
        "logw": problem.empty(k),
        "logprior": problem.empty(n, k) if problem.logprior is not None else None,
        "tau": problem.empty(1),
        "energies": problem.empty(n, k),
    }
    is32 = problem.dtype == np.float32
    grads = GradsF32() if is32 else GradsF64()
    check_status((_lib.ie_grads_init_f32 if is32 else _lib.ie_grads_init_f64)(ctypes.byref(grads)),
                 _lib)
    for name, array in g.items():
        setattr(grads, name, problem.ptr(array))
    problem.run("ie_gradients", problem.ptr(g_l), problem.ptr(g_r), problem.ptr(out_e),
                problem.ptr(out_l), problem.ptr(out_r), ctypes.byref(grads))

    def scalar(array: Optional[np.ndarray]) -> Optional[float]:
        return None if array is None else float(array[0])

    scale_grad: Union[np.ndarray, float, None] = None
    if g["scale"] is not None:
        shape = problem.scale_given_shape
        scale_grad = float(g["scale"][0]) if shape == () else g["scale"].reshape(shape)
    return GradientResult(
        energies=out_e, logZ=out_l, resp=out_r, x=g["x"], mu=g["mu"], scale=scale_grad,
        nu=scalar(g["nu"]), delta=scalar(g["delta"]), chol=g["chol"], logw=g["logw"],
        logprior=g["logprior"], tau=float(g["tau"][0]), energies_grad=g["energies"])


def activation(z: ArrayLike, *, kernel: KernelLike = "gaussian", m: float = 1.0,
               scale: float = 1.0, nu: Optional[float] = None, delta: Optional[float] = None,
               tau: float = 1.0) -> Tuple[np.ndarray, np.ndarray]:
    """The activation of the two-component signed model (centres +m and -m, equal weights,
    shared scale) and its derivative, for kernels 1-7 (KERNELS.md)::

        act(z) = r_plus(z) - r_minus(z) = tanh((d(z; -m) - d(z; +m)) / (2 tau))

    Args:
        z: points, any shape (the outputs have the same shape); dtype rules as :func:`forward`.
        kernel: one of the separable kernels 1-7.
        m, scale, tau: centre magnitude, shared scale (> 0) and temperature (> 0).
        nu, delta: shape parameters, required by student_t / huber and pseudo_huber.

    Returns:
        ``(act, dact)``: act(z) and d act / dz, arrays shaped like ``z``.

    Example (the Gaussian gives tanh(m z / (s^2 tau))):
        >>> import numpy as np, implicitem as ie
        >>> z = np.array([-1.0, 0.0, 2.0])
        >>> a, da = ie.activation(z, kernel="gaussian", m=1.0, scale=1.0)
        >>> bool(np.allclose(a, np.tanh(z)) and np.allclose(da, 1 - np.tanh(z) ** 2))
        True
    """
    kern = _kernel(kernel)
    dtype = _common_dtype([("z", z)])
    values = _array("z", z, dtype)
    flat = np.ascontiguousarray(values.reshape(-1))
    nu_value = _required_float("nu", nu, kern) if kern == Kernel.STUDENT_T else 0.0
    delta_value = (_required_float("delta", delta, kern)
                   if kern in (Kernel.HUBER, Kernel.PSEUDO_HUBER) else 0.0)
    act, dact = np.empty_like(flat), np.empty_like(flat)
    ctype = ctypes.c_float if dtype == np.float32 else ctypes.c_double
    function = _lib.ie_activation_f32 if dtype == np.float32 else _lib.ie_activation_f64
    status = function(int(kern), flat.size, _pointer(flat, ctype), float(m), float(scale),
                      nu_value, delta_value, 1.0 if tau is None else float(tau),
                      _pointer(act, ctype), _pointer(dact, ctype))
    check_status(status, _lib)
    return act.reshape(values.shape), dact.reshape(values.shape)


def log_normalizer(mu: ArrayLike, *, kernel: KernelLike = "gaussian", scale: ArrayLike = 1.0,
                   nu: Optional[float] = None, delta: Optional[float] = None,
                   chol: ArrayLike = None, tau: float = 1.0) -> np.ndarray:
    """The K log-normalisers ``c_k = log integral exp(-d(x; theta_k) / tau) dx`` that
    ``normalized=True`` subtracts from the logits (KERNELS.md, "Normalised kernels").

    For a separable kernel ``c_k = sum_i (log s_ki + log Z_rho(tau, shape))``; mahalanobis
    ``(D/2) log(pi tau) - sum_i log L_k,ii``; cosine the von Mises-Fisher normaliser.
    Logistic, learned, and student_t with tau >= 2 are not normalisable (an error).

    Args:
        mu: (K, D) centres: they give K and D.
        kernel, scale, nu, delta, chol, tau: as in :func:`forward`.

    Returns:
        A (K,) array.

    Example (a unit Gaussian in 2-D: log(2 pi)):
        >>> import numpy as np, implicitem as ie
        >>> c = ie.log_normalizer(np.zeros((1, 2)), kernel="gaussian", scale=1.0)
        >>> bool(np.allclose(c, np.log(2 * np.pi)))
        True
    """
    if _kernel(kernel) == Kernel.LEARNED:
        raise _error(Status.ERR_UNSUPPORTED, "kernel: learned energies have no log-normaliser")
    mu_array = _array("mu", mu, _common_dtype([("mu", mu), ("scale", scale), ("chol", chol)]))
    if mu_array.ndim != 2:
        raise _error(Status.ERR_BAD_SIZE,
                     f"mu: expected shape (K, D) = (?, ?); got {mu_array.shape}")
    # One zero row stands in for x: the normaliser does not depend on the data.
    x = np.zeros((1, mu_array.shape[1]), dtype=mu_array.dtype)
    problem = _Problem(x, mu_array, kernel, scale, nu, delta, chol, None, tau, True, None, None,
                       None, None, {})
    out = problem.empty(problem.k)
    problem.run("ie_log_normalizer", problem.ptr(out))
    return out


def stats(x: ArrayLike = None, mu: ArrayLike = None, *, kernel: KernelLike = "gaussian",
          scale: ArrayLike = 1.0, nu: Optional[float] = None, delta: Optional[float] = None,
          chol: ArrayLike = None, logw: ArrayLike = None, tau: float = 1.0,
          normalized: bool = False, energies: ArrayLike = None, logprior: ArrayLike = None,
          energy_fn: Optional[EnergyFn] = None, n_components: Optional[int] = None,
          weights: ArrayLike = None, second_moment: bool = False) -> Stats:
    """Responsibility-weighted sufficient statistics, summed over rows (mergeable across
    batches)::

        sum_r_k = sum_n w_n r_nk,  sum_rx_k = sum_n w_n r_nk x_n,  sum_rxx_k = sum_n w_n r_nk x_n x_n^T

    The arguments are those of :func:`forward` (``x`` is required), plus

    Args:
        weights: (N,) per-sample weights (finite, >= 0); None means ones.
        second_moment: also compute ``sum_rxx`` (K, D, D).

    Returns:
        A :class:`Stats` (``sum_rxx`` is None unless ``second_moment``).

    Example (a far-away second centre takes no responsibility):
        >>> import numpy as np, implicitem as ie
        >>> s = ie.stats([[1.0], [3.0]], [[2.0], [100.0]], kernel="gaussian")
        >>> s.sum_r, s.sum_rx.ravel()
        (array([2., 0.]), array([4., 0.]))
    """
    problem = _Problem(x, mu, kernel, scale, nu, delta, chol, logw, tau, normalized, energies,
                       logprior, energy_fn, n_components, {"weights": weights})
    if problem.x is None:
        raise _error(Status.ERR_NULL_POINTER, "x: required by stats (the statistics sum over x)")
    k, d = problem.k, problem.d
    w = problem.vector("weights", (problem.n,), "(N,)")
    sum_r, sum_rx = problem.empty(k), problem.empty(k, d)
    sum_rxx = problem.empty(k, d, d) if second_moment else None
    problem.run("ie_stats", problem.ptr(w), problem.ptr(sum_r), problem.ptr(sum_rx),
                problem.ptr(sum_rxx))
    return Stats(sum_r, sum_rx, sum_rxx)


def set_num_threads(n: int) -> None:
    """Set the number of threads the library uses (0 restores the default). Results do not
    depend on it.

    Example:
        >>> import implicitem as ie
        >>> ie.set_num_threads(1); ie.get_num_threads()
        1
        >>> ie.set_num_threads(0)
    """
    check_status(_lib.ie_set_num_threads(int(n)), _lib)


def get_num_threads() -> int:
    """The number of threads the library uses (>= 1).

    Example:
        >>> import implicitem as ie
        >>> ie.get_num_threads() >= 1
        True
    """
    return int(_lib.ie_get_num_threads())
