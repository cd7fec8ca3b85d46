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
import struct as _struct
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Optional, Tuple, Union

import numpy as np

from ._errors import ImplicitEMError, check_status
from ._loader import library as _lib
from ._prototypes import (ENERGY_FN_F32, ENERGY_FN_F64, PROTOTYPES, GradsF32, GradsF64, Kernel,
                          ProblemF32, ProblemF64, ScaleShape, Status)

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

    energies: (N, K) d_nk; logZ: (N,) L_n; resp: (N, K) r_nk; ``None`` when left out of
    ``outputs=``.
    """

    energies: Optional[np.ndarray]
    logZ: Optional[np.ndarray]
    resp: Optional[np.ndarray]


@dataclass(frozen=True, eq=False)
class GradientResult:
    """What :func:`gradients` returns: the forward outputs and the gradient of
    ``objective = sum_n gL_n logZ_n + sum_nk gR_nk resp_nk`` with respect to each input.

    Each gradient has its input's shape; ``None`` where the kernel does not use that input
    (``logprior`` is ``None`` unless a logprior was given). ``scale`` is a Python float for a
    scalar scale; ``nu``, ``delta`` and ``tau`` are Python floats. ``energies_grad`` is
    d objective / d energies (N, K), for every kernel (the learned kernel's gradient). A field
    left out of ``outputs=`` is ``None``.
    """

    energies: Optional[np.ndarray]
    logZ: Optional[np.ndarray]
    resp: Optional[np.ndarray]
    x: Optional[np.ndarray]
    mu: Optional[np.ndarray]
    scale: Union[np.ndarray, float, None]
    nu: Optional[float]
    delta: Optional[float]
    chol: Optional[np.ndarray]
    logw: Optional[np.ndarray]
    logprior: Optional[np.ndarray]
    tau: Optional[float]
    energies_grad: Optional[np.ndarray]


@dataclass(frozen=True, eq=False)
class Stats:
    """What :func:`stats` returns: sum_r (K,), sum_rx (K, D), sum_rxx (K, D, D) or None."""

    sum_r: np.ndarray
    sum_rx: np.ndarray
    sum_rxx: Optional[np.ndarray]


# ------------------------------------------------------------------------ argument checks

_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_KERNEL_BY_NAME = {kernel.name.lower(): kernel for kernel in Kernel}
_PROBLEM_INPUTS = ("x", "mu", "scale", "chol", "logw", "logprior", "energies")
# Enum members looked up once: a per-call Kernel.X costs more than a module global.
_LEARNED, _MAHALANOBIS, _STUDENT_T = Kernel.LEARNED, Kernel.MAHALANOBIS, Kernel.STUDENT_T
_SHARED = ScaleShape.SHARED
_SHAPE_KERNELS = {Kernel.STUDENT_T: "nu", Kernel.HUBER: "delta", Kernel.PSEUDO_HUBER: "delta"}


def _error(status: Status, message: str) -> ImplicitEMError:
    return ImplicitEMError(status, message)


def _kernel(kernel: KernelLike) -> Kernel:
    if type(kernel) is str:
        known = _KERNEL_BY_NAME.get(kernel)
        if known is not None:
            return known
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


def _common_dtype(names: Tuple[str, ...], values: Tuple[Any, ...]) -> np.dtype:
    """float32 or float64, decided by the float32/float64 arrays among `values`."""
    found = {value.dtype for value in values if isinstance(value, np.ndarray)}
    if len(found) == 1:  # the common case, decided at once
        only = found.pop()
        if only is _F64 or only is _F32:
            return only
    chosen_name, chosen = "", None
    for name, value in zip(names, values):
        if not isinstance(value, np.ndarray):
            continue
        dtype = value.dtype
        if dtype is not _F64 and dtype is not _F32 and dtype not in (_F32, _F64):
            continue
        if chosen is None:
            chosen_name, chosen = name, dtype
        elif dtype != chosen:
            raise _error(Status.ERR_BAD_PARAMETER,
                         f"{name}: dtype {dtype} does not match {chosen_name} ({chosen}); pass "
                         f"every array in one precision, float32 or float64")
    return _F64 if chosen is None else (_F32 if chosen == _F32 else _F64)


def _array(name: str, value: ArrayLike, dtype: np.dtype) -> np.ndarray:
    # Already what the library reads: skip np.asarray (the common case, costly in a tiny call).
    if type(value) is np.ndarray and value.dtype is dtype and value.flags.c_contiguous:
        return value
    try:
        return np.asarray(value, dtype=dtype, order="C")  # keeps 0-d, unlike ascontiguousarray
    except (TypeError, ValueError) as error:
        raise _error(Status.ERR_BAD_PARAMETER,
                     f"{name}: cannot be read as a {dtype} array ({error})") from None


def _shaped(name: str, value: ArrayLike, dtype: np.dtype, shape: Tuple[Optional[int], ...],
            labels: str) -> np.ndarray:
    """An array of `shape` (None = any size), or an error naming `name` and `labels`."""
    array = _array(name, value, dtype)
    actual = array.shape
    ok = len(actual) == len(shape)
    if ok:
        for wanted, size in zip(shape, actual):
            if wanted is not None and wanted != size:
                ok = False
                break
    if not ok:
        wanted = ", ".join("?" if w is None else str(w) for w in shape)
        trailing = "," if len(shape) == 1 else ""
        raise _error(Status.ERR_BAD_SIZE,
                     f"{name}: expected shape {labels} = ({wanted}{trailing}); got {actual}")
    return array


def _required_float(name: str, value: Optional[float], kernel: Kernel) -> float:
    if value is None:
        raise _error(Status.ERR_BAD_PARAMETER,
                     f"{name}: required by the {kernel.name.lower()} kernel")
    return float(value)


def _pointer(array: Optional[np.ndarray], ctype: Any) -> Any:
    return None if array is None else array.ctypes.data_as(ctypes.POINTER(ctype))


# ------------------------------------------------------------------------- raw call path
# A tiny call is dominated by ctypes bookkeeping, not by the library: the array functions pass
# plain addresses to void*-declared copies of the C functions, and the structs as packed bytes
# laid out from the ctypes mirrors (whose layout test_prototypes checks against the compiler).

def _data_offset() -> Optional[int]:
    """Where an ndarray keeps its data pointer (right after the object header in CPython), or
    None when that does not hold here (then __array_interface__ is read instead)."""
    probe = np.zeros(2)
    offset = object.__basicsize__
    try:
        found = ctypes.c_void_p.from_address(id(probe) + offset).value
    except (ValueError, OSError):
        return None
    return offset if found == probe.__array_interface__["data"][0] else None


_DATA_OFFSET = _data_offset()


def _memory_words() -> Optional[memoryview]:
    """The process's memory as 8-byte words, so that an ndarray's data pointer is read as
    words[id(array) // 8 + _DATA_OFFSET // 8] (one index instead of a ctypes object per read);
    None when that does not hold here."""
    if _DATA_OFFSET is None or _DATA_OFFSET % 8 or ctypes.sizeof(ctypes.c_void_p) != 8:
        return None
    try:
        # Every address below 2**63 (the largest view a memoryview takes).
        words = memoryview((ctypes.c_uint64 * ((1 << 60) - 1)).from_address(0)).cast("B").cast("Q")
        probe = np.zeros(2)
        found = words[(id(probe) >> 3) + (_DATA_OFFSET >> 3)]
    except (ValueError, TypeError, OverflowError, MemoryError, IndexError):
        return None
    return words if found == probe.__array_interface__["data"][0] else None


_WORDS = _memory_words()
_DATA_WORD = 0 if _DATA_OFFSET is None else _DATA_OFFSET >> 3


if _WORDS is not None:
    def _address(array: Optional[np.ndarray], _words: memoryview = _WORDS,
                 _slot: int = _DATA_WORD) -> int:
        """The data address of a C-contiguous ndarray (0, NULL, for None)."""
        return 0 if array is None else _words[(id(array) >> 3) + _slot]
else:
    def _address(array: Optional[np.ndarray]) -> int:
        """The data address of a C-contiguous ndarray (0, NULL, for None)."""
        return 0 if array is None else array.__array_interface__["data"][0]


def _void_function(name: str) -> Any:
    """A second handle on `name` whose pointer arguments are void*, so addresses pass as ints."""
    argtypes, restype = PROTOTYPES[name]
    function = _lib._FuncPtr((name, _lib))
    function.argtypes = [ctypes.c_void_p if issubclass(t, (ctypes._Pointer, ctypes.Structure))
                         else t for t in argtypes]
    function.restype = restype
    return function


_RAW = {(stem, dtype): _void_function(f"{stem}_{suffix}")
        for stem in ("ie_forward", "ie_gradients", "ie_stats", "ie_log_normalizer")
        for dtype, suffix in ((_F32, "f32"), (_F64, "f64"))}


def _packer(cls: Any) -> _struct.Struct:
    """A struct.Struct with the exact layout of the ctypes Structure `cls`; pointer fields
    take addresses (None = NULL)."""
    address = "Q" if ctypes.sizeof(ctypes.c_void_p) == 8 else "I"
    fmt, at = "=", 0
    for name, ctype in cls._fields_:
        field = getattr(cls, name)
        fmt += "x" * (field.offset - at)
        kind = getattr(ctype, "_type_", None)
        if kind in ("f", "d"):
            fmt += kind
        elif isinstance(kind, str) and kind in "bBhHiIlLqQ":
            code = {1: "b", 2: "h", 4: "i", 8: "q"}[ctypes.sizeof(ctype)]
            fmt += code if kind.islower() else code.upper()
        else:  # a data or function pointer
            fmt += address
        at = field.offset + field.size
    fmt += "x" * (ctypes.sizeof(cls) - at)
    packer = _struct.Struct(fmt)
    assert packer.size == ctypes.sizeof(cls), cls
    return packer


def _struct_size(cls: Any, init: Any) -> int:
    """struct_size as the library's initialiser writes it."""
    template = cls()
    check_status(init(ctypes.byref(template)), _lib)
    return int(template.struct_size)


def _layout(cls: Any, init: Any) -> Tuple[Any, _struct.Struct, int]:
    return cls, _packer(cls), _struct_size(cls, init)


# dtype -> (ctypes struct, its packer, struct_size)
_PROBLEM = {_F32: _layout(ProblemF32, _lib.ie_problem_init_f32),
            _F64: _layout(ProblemF64, _lib.ie_problem_init_f64)}
_GRADS = {_F32: _layout(GradsF32, _lib.ie_grads_init_f32),
          _F64: _layout(GradsF64, _lib.ie_grads_init_f64)}


def _as_float32(value: float) -> float:
    """`value` as a C float (overflowing to inf as ctypes does; struct.pack would refuse it)."""
    return ctypes.c_float(value).value


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

    # Defaults as class attributes: a tiny call sets only what it has.
    callback: Optional[_EnergyCallback] = None
    scale: Optional[np.ndarray] = None
    scale_shape = _SHARED
    chol: Optional[np.ndarray] = None
    x: Optional[np.ndarray] = None
    mu: Optional[np.ndarray] = None
    energies: Optional[np.ndarray] = None

    def __init__(self, x: ArrayLike, mu: ArrayLike, kernel: KernelLike, scale: ArrayLike,
                 nu: Optional[float], delta: Optional[float], chol: ArrayLike, logw: ArrayLike,
                 tau: float, normalized: bool, energies: ArrayLike, logprior: ArrayLike,
                 energy_fn: Optional[EnergyFn], n_components: Optional[int],
                 extra: Dict[str, ArrayLike]) -> None:
        self.kernel = _kernel(kernel)
        values = (x, mu, scale, chol, logw, logprior, energies)
        dtype = (_common_dtype(_PROBLEM_INPUTS, values) if not extra
                 else _common_dtype(_PROBLEM_INPUTS + tuple(extra), values + tuple(extra.values())))
        self.dtype = dtype

        if self.kernel is _LEARNED:
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
            if energies is not None or energy_fn is not None or x is None or mu is None:
                kernel_name = self.kernel.name.lower()
                if energies is not None or energy_fn is not None:
                    raise _error(Status.ERR_BAD_PARAMETER,
                                 f"energies: energies= and energy_fn= are for the learned kernel, "
                                 f"not {kernel_name}")
                missing = "x" if x is None else "mu"
                raise _error(Status.ERR_NULL_POINTER,
                             f"{missing}: required by the {kernel_name} kernel")
            if (type(x) is np.ndarray and type(mu) is np.ndarray and x.dtype is dtype
                    and mu.dtype is dtype and x.ndim == 2 and mu.ndim == 2
                    and x.shape[1] == mu.shape[1] and x.flags.c_contiguous
                    and mu.flags.c_contiguous):
                self.x, self.mu = x, mu  # already what the library reads
            else:
                self.x = _shaped("x", x, dtype, (None, None), "(N, D)")
                self.mu = _shaped("mu", mu, dtype, (None, self.x.shape[1]), "(K, D)")
            self.n, self.d = self.x.shape
            self.k = self.mu.shape[0]

        k, d, n = self.k, self.d, self.n
        if self.kernel in _SEPARABLE:
            if scale is None or type(scale) is float:  # the common scalar: no 0-d array
                self.scale = np.array((1.0 if scale is None else scale,), dtype)
                self.scale_given_shape = ()
            else:
                self._set_scale(scale, dtype, k, d)
        self.nu = (_required_float("nu", nu, self.kernel)
                   if self.kernel is _STUDENT_T else 0.0)
        self.delta = (_required_float("delta", delta, self.kernel)
                      if _SHAPE_KERNELS.get(self.kernel) == "delta" else 0.0)
        if self.kernel is _MAHALANOBIS:
            if chol is None:
                raise _error(Status.ERR_NULL_POINTER, "chol: required by the mahalanobis kernel")
            self.chol = _shaped("chol", chol, dtype, (k, d, d), "(K, D, D)")
        self.logw = None if logw is None else _shaped("logw", logw, dtype, (k,), "(K,)")
        self.logprior = (None if logprior is None
                         else _shaped("logprior", logprior, dtype, (n, k), "(N, K)"))
        self.tau = 1.0 if tau is None else float(tau)
        self.normalized = bool(normalized)
        self.extra = extra
        self.packed = self._pack()
        self._struct: Optional[ctypes.Structure] = None

    def _set_scale(self, scale: ArrayLike, dtype: np.dtype, k: int, d: int) -> None:
        given = _array("scale", scale, dtype)
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

    def _pack(self) -> bytes:
        """The ie_problem struct as bytes, pointing at the arrays this object keeps alive."""
        _, packer, size = _PROBLEM[self.dtype]
        real = _as_float32 if self.dtype is _F32 else float
        function = (0 if self.callback is None
                    else ctypes.cast(self.callback.function, ctypes.c_void_p).value)
        # struct.pack takes no None: NULL is 0.
        x, chol, logw, logprior, energies = (self.x, self.chol, self.logw, self.logprior,
                                             self.energies)
        return packer.pack(size, self.kernel, self.scale_shape, self.n, self.k, self.d,
                           0 if x is None else _address(x), _address(self.mu),
                           _address(self.scale), 0 if chol is None else _address(chol),
                           0 if logw is None else _address(logw),
                           0 if logprior is None else _address(logprior),
                           0 if energies is None else _address(energies), function, 0,
                           real(self.nu),
                           real(self.delta), real(self.tau), 1 if self.normalized else 0)

    @property
    def ctype(self) -> Any:
        return ctypes.c_float if self.dtype is _F32 else ctypes.c_double

    @property
    def struct(self) -> ctypes.Structure:
        """The same struct as a ctypes ie_problem (for callers of the declared C functions)."""
        if self._struct is None:
            self._struct = _PROBLEM[self.dtype][0].from_buffer_copy(self.packed)
        return self._struct

    def vector(self, name: str, shape: Tuple[int, ...], labels: str) -> Optional[np.ndarray]:
        """An extra input (gL, gR, weights) checked against `shape`, or None if absent."""
        value = self.extra.get(name)
        return None if value is None else _shaped(name, value, self.dtype, shape, labels)

    def empty(self, *shape: int) -> np.ndarray:
        return np.empty(shape, dtype=self.dtype)

    def call(self, stem: str, *addresses: Optional[int]) -> None:
        """Call `stem`_f32/_f64 with the packed problem first and plain addresses (or None) after;
        re-raise an energy_fn exception."""
        status = _RAW[stem, self.dtype](self.packed, *addresses)
        if self.callback is not None and self.callback.error is not None:
            raise self.callback.error
        if status:
            check_status(status, _lib)

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


# ------------------------------------------------------------------------------ outputs

_NO_EXTRA: Dict[str, ArrayLike] = {}
_SHAPE_SLOT = {"nu": 1, "delta": 2}


def _frozen(cls: Any, fields: Dict[str, Any]) -> Any:
    """An instance of the frozen dataclass `cls` with `fields` (every field, by name), built
    without the generated __init__'s one object.__setattr__ per field."""
    result = object.__new__(cls)
    object.__setattr__(result, "__dict__", fields)
    return result

_FORWARD_OUTPUTS = ("energies", "logZ", "resp")
_GRADIENT_OUTPUTS = ("energies", "logZ", "resp", "x", "mu", "scale", "nu", "delta", "chol",
                     "logw", "logprior", "tau", "energies_grad")
_EVERY_FORWARD_OUTPUT = frozenset(_FORWARD_OUTPUTS)
_EVERY_GRADIENT_OUTPUT = frozenset(_GRADIENT_OUTPUTS)


def _requested(outputs: Any, known: Tuple[str, ...], every: frozenset) -> frozenset:
    """The output names asked for (all of `known` for None); an unknown name is an error."""
    if outputs is None:
        return every
    try:
        names = (outputs,) if isinstance(outputs, str) else tuple(outputs)
        wanted = frozenset(names)
    except TypeError:
        raise _error(Status.ERR_BAD_PARAMETER,
                     f"outputs: expected a collection of output names; got {outputs!r}") from None
    if not wanted <= every:
        unknown = next(name for name in names if name not in every)
        raise _error(Status.ERR_BAD_PARAMETER,
                     f"outputs: unknown output {unknown!r}; expected names among "
                     f"{', '.join(known)}")
    return wanted


# ------------------------------------------------------------------------------ the API

def forward(x: ArrayLike = None, mu: ArrayLike = None, *, kernel: KernelLike = "gaussian",
            scale: ArrayLike = 1.0, nu: Optional[float] = None, delta: Optional[float] = None,
            chol: ArrayLike = None, logw: ArrayLike = None, tau: float = 1.0,
            normalized: bool = False, energies: ArrayLike = None, logprior: ArrayLike = None,
            energy_fn: Optional[EnergyFn] = None, n_components: Optional[int] = None,
            outputs: Optional[Iterable[str]] = None) -> ForwardResult:
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
        outputs: the names of the results to compute, among "energies", "logZ" and "resp";
            None (the default) computes all three. The others are None in the result and the
            library skips their work. An unknown name is an error.

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
    wanted = _requested(outputs, _FORWARD_OUTPUTS, _EVERY_FORWARD_OUTPUT)
    problem = _Problem(x, mu, kernel, scale, nu, delta, chol, logw, tau, normalized, energies,
                       logprior, energy_fn, n_components, {})
    n, k, dtype = problem.n, problem.k, problem.dtype
    out_e = np.empty((n, k), dtype) if "energies" in wanted else None
    out_l = np.empty(n, dtype) if "logZ" in wanted else None
    out_r = np.empty((n, k), dtype) if "resp" in wanted else None
    problem.call("ie_forward", _address(out_e), _address(out_l), _address(out_r))
    return _frozen(ForwardResult, {"energies": out_e, "logZ": out_l, "resp": out_r})


# The common small call, with arrays already as the library reads them: a separable kernel
# without shape parameters, a scalar scale, optional logw, every output, few rows. Everything
# it returns is what the general path returns for the same arguments (the library checks the
# values); any other call goes the general way.
_ndarray = np.ndarray
_PLAIN_KERNELS = {kernel: kernel for kernel in (Kernel.GAUSSIAN, Kernel.LAPLACE, Kernel.LOGISTIC,
                                                Kernel.EXPONENTIAL)}
_PLAIN_KERNELS.update({kernel.name.lower(): kernel for kernel in _PLAIN_KERNELS})
# Rows up to which a call takes the short route. Its outputs are views into three buffers
# (grouped by shape), so one kept output keeps its group's memory alive: small by design.
_SHORT_ROUTE_ROWS = 64


def _fields_packer(cls: Any, variable: Tuple[str, ...]) -> Tuple[_struct.Struct, int]:
    """A struct.Struct that packs `cls` from its leading bytes (every field before the first
    of `variable`, given as one bytes value, of the returned length) and the `variable` fields
    in order; every other field is zero (NULL, 0, 0.0)."""
    address = "Q" if ctypes.sizeof(ctypes.c_void_p) == 8 else "I"
    start = getattr(cls, variable[0]).offset
    fmt, at = f"={start}s", start
    for name in variable:
        field = getattr(cls, name)
        ctype = dict(cls._fields_)[name]
        kind = getattr(ctype, "_type_", None)
        fmt += "x" * (field.offset - at) + (kind if kind in ("f", "d")
                                           else "i" if ctype is ctypes.c_int32 else address)
        at = field.offset + field.size
    packer = _struct.Struct(fmt + "x" * (ctypes.sizeof(cls) - at))
    assert packer.size == ctypes.sizeof(cls), cls
    return packer, start


def _address_function(name: str) -> Any:
    """A handle on ie_gradients_* for the short route: the structs pass as bytes (c_char_p
    hands over the bytes' own buffer), the arrays as plain integer addresses."""
    function = _lib._FuncPtr((name, _lib))
    function.argtypes = (ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                         ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p)
    function.restype = PROTOTYPES[name][1]
    return function


# dtype -> (function, problem packer, its leading bytes' length, grads packer, its length).
_RAW_GRADIENTS = {
    dtype: ((_address_function(f"ie_gradients_{suffix}"),)
            + _fields_packer(_PROBLEM[dtype][0], ("x", "mu", "scale", "logw", "tau", "normalized"))
            + _fields_packer(_GRADS[dtype][0], ("x", "mu", "scale", "logw", "tau", "energies")))
    for dtype, suffix in ((_F32, "f32"), (_F64, "f64"))}

# Per (x.shape, mu.shape, kernel) of a short-route call, one dict per dtype: what does not
# depend on the data (sizes, shapes, offsets, the function and the struct packers).
_SHORT_PLANS: Dict[np.dtype, Dict[Any, tuple]] = {_F32: {}, _F64: {}}
_SHORT_PLANS_KEPT = 256


def _short_plan(dtype: np.dtype, x: np.ndarray, mu: np.ndarray, kernel: Any) -> Optional[tuple]:
    """The plan of a short-route call, or None when the call is not one (then it goes the
    general way, with its own checks and errors)."""
    kern = _PLAIN_KERNELS.get(kernel)
    if kern is None or x.ndim != 2 or mu.ndim != 2:
        return None
    n, d = x.shape
    k = mu.shape[0]
    if mu.shape[1] != d or n > _SHORT_ROUTE_ROWS:
        return None
    function, problem_packer, problem_start, grads_packer, grads_start = _RAW_GRADIENTS[dtype]
    _, whole_problem, problem_size = _PROBLEM[dtype]
    _, whole_grads, grads_size = _GRADS[dtype]
    # The fields that do not change from call to call, packed once.
    problem_head = whole_problem.pack(problem_size, kern, _SHARED, n, k, d,
                                      *[0] * 9, 0.0, 0.0, 0.0, 0)[:problem_start]
    grads_head = whole_grads.pack(grads_size, *[0] * 10)[:grads_start]
    step = dtype.itemsize
    # Buffer "vectors": logZ (n) | logw gradient (k) | scale gradient, -, -, tau gradient, scale.
    # Buffer "by_component": energies, resp, energies gradient, each (n, k).
    # Buffer "by_dimension": x gradient (n, d) ; mu gradient (k, d).
    scalars = n + k
    plan = (kernel, dtype, x.shape, mu.shape, function, problem_packer, problem_head,
            grads_packer, grads_head, scalars + 5, (3, n, k), (n + k, d), (k,), scalars,
            scalars + 4, (scalars + 4) * step, scalars * step, (scalars + 3) * step, n * step,
            n * k * step, 2 * n * k * step, n * d * step, slice(n), slice(n, None),
            slice(n, scalars), _as_float32 if dtype is _F32 else None)
    plans = _SHORT_PLANS[dtype]
    if len(plans) >= _SHORT_PLANS_KEPT:
        plans.clear()
    plans[x.shape, mu.shape, kernel] = plan
    return plan


# The plan of the last short-route call: a call like it (the usual loop) skips the lookup.
_last_short_plan: tuple = (None, None)


def _plain_gradients(x: np.ndarray, mu: np.ndarray, kernel: KernelLike, scale: float,
                     logw: ArrayLike, tau: float, normalized: bool) -> Optional[GradientResult]:
    """gradients() for the common small call, or None when the call is not that one."""
    global _last_short_plan
    dtype = x.dtype
    plan = _last_short_plan
    if (plan[0] is not kernel or plan[1] is not dtype or x.shape != plan[2]
            or mu.shape != plan[3]):
        if ((dtype is not _F64 and dtype is not _F32)
                or (type(kernel) is not str and type(kernel) is not Kernel)):
            return None
        plan = (_SHORT_PLANS[dtype].get((x.shape, mu.shape, kernel))
                or _short_plan(dtype, x, mu, kernel))
        if plan is None:
            return None
        _last_short_plan = plan
    if (mu.dtype is not dtype or type(normalized) is not bool
            or not (x.flags.c_contiguous and mu.flags.c_contiguous)):
        return None
    (_, _, _, _, function, problem_packer, problem_head, grads_packer, grads_head,
     vector_count, component_shape, dimension_shape, k_shape, scalars, scale_slot,
     scale_at, scale_grad_at, tau_grad_at, logw_grad_at, resp_at, energies_grad_at,
     mu_grad_at, log_z_part, mu_grad_part, logw_grad_part, real) = plan
    words, data = _WORDS, _DATA_WORD
    if logw is None:
        logw_address = 0
    elif (type(logw) is _ndarray and logw.dtype is dtype and logw.shape == k_shape
          and logw.flags.c_contiguous):
        logw_address = words[(id(logw) >> 3) + data]
    else:
        return None
    vectors = _empty(vector_count, dtype)
    by_component = _empty(component_shape, dtype)
    by_dimension = _empty(dimension_shape, dtype)
    vectors[scale_slot] = scale
    v = words[(id(vectors) >> 3) + data]
    c = words[(id(by_component) >> 3) + data]
    m = words[(id(by_dimension) >> 3) + data]
    problem = problem_packer.pack(problem_head, words[(id(x) >> 3) + data],
                                  words[(id(mu) >> 3) + data], v + scale_at, logw_address,
                                  tau if real is None else real(tau), normalized)
    grads = grads_packer.pack(grads_head, m, m + mu_grad_at, v + scale_grad_at,
                              v + logw_grad_at, v + tau_grad_at, c + energies_grad_at)
    status = function(problem, None, None, c, v, c + resp_at, grads)
    if status:
        check_status(status, _lib)
    values = vectors.tolist()
    # A copy of a dict of every field, then the values: cheaper than a 13-key dict literal.
    fields = _NO_GRADIENTS.copy()
    fields["energies"] = by_component[0]
    fields["logZ"] = vectors[log_z_part]
    fields["resp"] = by_component[1]
    fields["x"] = by_dimension[log_z_part]
    fields["mu"] = by_dimension[mu_grad_part]
    fields["scale"] = values[scalars]
    fields["logw"] = vectors[logw_grad_part]
    fields["tau"] = values[scalars + 3]
    fields["energies_grad"] = by_component[2]
    result = _new_object(GradientResult)
    _set_attribute(result, "__dict__", fields)
    return result


_empty = np.empty
_NO_GRADIENTS = dict.fromkeys(_GRADIENT_OUTPUTS)
_new_object, _set_attribute = object.__new__, object.__setattr__


def gradients(x: ArrayLike = None, mu: ArrayLike = None, *, kernel: KernelLike = "gaussian",
              scale: ArrayLike = 1.0, nu: Optional[float] = None,
              delta: Optional[float] = None, chol: ArrayLike = None, logw: ArrayLike = None,
              tau: float = 1.0, normalized: bool = False, energies: ArrayLike = None,
              logprior: ArrayLike = None, energy_fn: Optional[EnergyFn] = None,
              n_components: Optional[int] = None, gL: ArrayLike = None,
              gR: ArrayLike = None, outputs: Optional[Iterable[str]] = None) -> GradientResult:
    """The forward outputs and the exact gradient of
    ``objective = sum_n gL_n logZ_n + sum_nk gR_nk resp_nk`` in one pass (KERNELS.md)::

        delta_nk = gL_n r_nk + r_nk (gR_nk - sum_j r_nj gR_nj)
        d/d energies_nk = -delta_nk / tau,   d/d logw_k = sum_n delta_nk
        d/d theta_k = sum_n (-delta_nk / tau) d d_nk/d theta_k - (sum_n delta_nk) d c_k/d theta_k

    The arguments are those of :func:`forward`, plus

    Args:
        gL: (N,) upstream gradient of logZ (per-sample weights); None means ones.
        gR: (N, K) upstream gradient of resp; None means zeros.
        outputs: the names of the :class:`GradientResult` fields to compute, e.g.
            ``("logZ", "resp", "mu")``; None (the default) computes every one. The others are
            None in the result, are not allocated, and the library skips their work. An
            unknown name is an error; a name the kernel has no input for stays None.

    Returns:
        A :class:`GradientResult`: ``energies``, ``logZ``, ``resp`` and the gradients ``x``,
        ``mu``, ``scale`` (shaped like the given scale; a float for a scalar), ``nu``,
        ``delta``, ``tau`` (floats), ``chol``, ``logw``, ``logprior``, ``energies_grad``;
        None where the kernel has no such input or the name is not in ``outputs``.

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
    if (_WORDS is not None and type(x) is _ndarray and type(mu) is _ndarray
            and type(scale) is float
            and type(tau) is float and outputs is None and gL is None and gR is None
            and logprior is None and energies is None and energy_fn is None):
        result = _plain_gradients(x, mu, kernel, scale, logw, tau, normalized)
        if result is not None:
            return result
    wanted = _requested(outputs, _GRADIENT_OUTPUTS, _EVERY_GRADIENT_OUTPUT)
    problem = _Problem(x, mu, kernel, scale, nu, delta, chol, logw, tau, normalized, energies,
                       logprior, energy_fn, n_components,
                       _NO_EXTRA if gL is None and gR is None else {"gL": gL, "gR": gR})
    n, k, d, kern, dtype = problem.n, problem.k, problem.d, problem.kernel, problem.dtype
    g_l = None if gL is None else problem.vector("gL", (n,), "(N,)")
    g_r = None if gR is None else problem.vector("gR", (n, k), "(N, K)")
    empty = np.empty
    every = wanted is _EVERY_GRADIENT_OUTPUT
    has_centres = kern is not _LEARNED
    scale_shape = problem.scale_given_shape if problem.scale is not None else None
    shape_name = _SHAPE_KERNELS.get(kern)

    out = {
        "energies": empty((n, k), dtype) if every or "energies" in wanted else None,
        "logZ": empty(n, dtype) if every or "logZ" in wanted else None,
        "resp": empty((n, k), dtype) if every or "resp" in wanted else None,
        "x": empty((n, d), dtype) if has_centres and (every or "x" in wanted) else None,
        "mu": empty((k, d), dtype) if has_centres and (every or "mu" in wanted) else None,
        # a shared scale's gradient is one of the scalars below
        "scale": (empty(scale_shape, dtype)
                  if scale_shape and (every or "scale" in wanted) else None),
        "nu": None, "delta": None,
        "chol": (empty((k, d, d), dtype) if kern is _MAHALANOBIS and (every or "chol" in wanted)
                 else None),
        "logw": empty(k, dtype) if every or "logw" in wanted else None,
        "logprior": (empty((n, k), dtype)
                     if problem.logprior is not None and (every or "logprior" in wanted) else None),
        "tau": None,
        "energies_grad": empty((n, k), dtype) if every or "energies_grad" in wanted else None,
    }
    # The scalar gradients land in one small array, slots 0 scale (shared), 1 nu / 2 delta, 3 tau.
    want_scale = scale_shape == () and (every or "scale" in wanted)
    want_shape = shape_name is not None and (every or shape_name in wanted)
    want_tau = every or "tau" in wanted
    scalars = empty(4, dtype) if want_scale or want_shape or want_tau else None
    base, step = _address(scalars), dtype.itemsize
    shape_slot = base + step * _SHAPE_SLOT[shape_name] if want_shape else 0

    _, packer, size = _GRADS[dtype]
    grads = packer.pack(size, _address(out["x"]), _address(out["mu"]),
                        base if want_scale else _address(out["scale"]),
                        shape_slot if shape_name == "nu" else 0,
                        shape_slot if shape_name == "delta" else 0,
                        _address(out["chol"]), _address(out["logw"]), _address(out["logprior"]),
                        base + 3 * step if want_tau else 0, _address(out["energies_grad"]))
    problem.call("ie_gradients", 0 if g_l is None else _address(g_l),
                 0 if g_r is None else _address(g_r), _address(out["energies"]),
                 _address(out["logZ"]), _address(out["resp"]), grads)

    if scalars is not None:
        values = scalars.tolist()
        if want_scale:
            out["scale"] = values[0]
        if want_shape:
            out[shape_name] = values[_SHAPE_SLOT[shape_name]]
        if want_tau:
            out["tau"] = values[3]
    return _frozen(GradientResult, out)


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
    dtype = _common_dtype(("z",), (z,))
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
    mu_array = _array("mu", mu, _common_dtype(("mu", "scale", "chol"), (mu, scale, chol)))
    if mu_array.ndim != 2:
        raise _error(Status.ERR_BAD_SIZE,
                     f"mu: expected shape (K, D) = (?, ?); got {mu_array.shape}")
    # One zero row stands in for x: the normaliser does not depend on the data.
    x = np.zeros((1, mu_array.shape[1]), dtype=mu_array.dtype)
    problem = _Problem(x, mu_array, kernel, scale, nu, delta, chol, None, tau, True, None, None,
                       None, None, {})
    out = problem.empty(problem.k)
    problem.call("ie_log_normalizer", _address(out))
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
    problem.call("ie_stats", _address(w), _address(sum_r), _address(sum_rx), _address(sum_rxx))
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
