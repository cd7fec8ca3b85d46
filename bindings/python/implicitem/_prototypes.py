"""Every declaration of include/implicitem.h, mirrored once for ctypes.

Enums are ``IntEnum``s with the header's values; ``ProblemF32``/``ProblemF64`` and
``GradsF32``/``GradsF64`` mirror the structs field by field (same order, same types);
``PROTOTYPES`` holds the argtypes and restype of every function, each next to the C
declaration it mirrors. Keep this file in step with the header.
"""

from __future__ import annotations

import ctypes
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_double, c_float, c_int,
                    c_int32, c_int64, c_size_t, c_uint, c_void_p)
from enum import IntEnum
from typing import Dict, List, Tuple


class Status(IntEnum):
    """``ie_status``: stable numbers, never reused."""

    OK = 0
    ERR_NULL_POINTER = 1
    ERR_BAD_SIZE = 2
    ERR_BAD_PARAMETER = 3
    ERR_NONFINITE_INPUT = 4
    ERR_UNSUPPORTED = 5
    ERR_CALLBACK = 6
    ERR_OUT_OF_MEMORY = 7
    ERR_OVERLAP = 8
    ERR_BAD_ENUM = 9
    ERR_BAD_STRUCT = 10
    ERR_DID_NOT_CONVERGE = 11


class Kernel(IntEnum):
    """``ie_kernel``; the lower-case member names are the names the Python API accepts."""

    GAUSSIAN = 1
    LAPLACE = 2
    LOGISTIC = 3
    STUDENT_T = 4
    HUBER = 5
    PSEUDO_HUBER = 6
    EXPONENTIAL = 7
    COSINE = 8
    MAHALANOBIS = 9
    LEARNED = 10


class ScaleShape(IntEnum):
    """``ie_scale_shape``: how many scales a separable kernel (1-7) has."""

    SHARED = 1
    PER_COMPONENT = 2
    PER_DIMENSION = 3


# typedef int (*ie_energy_fn_f64)(void *user, const double *x_rows, int64_t rows, int64_t d,
#                                 double *energies_out);
ENERGY_FN_F64 = CFUNCTYPE(c_int, c_void_p, POINTER(c_double), c_int64, c_int64, POINTER(c_double))
# typedef int (*ie_energy_fn_f32)(void *user, const float *x_rows, int64_t rows, int64_t d,
#                                 float *energies_out);
ENERGY_FN_F32 = CFUNCTYPE(c_int, c_void_p, POINTER(c_float), c_int64, c_int64, POINTER(c_float))


def _problem_fields(real, energy_fn) -> List[Tuple[str, object]]:
    p = POINTER(real)
    return [
        ("struct_size", c_size_t),
        ("kernel", c_int32),
        ("scale_shape", c_int32),
        ("n", c_int64), ("k", c_int64), ("d", c_int64),
        ("x", p), ("mu", p), ("scale", p), ("chol", p),
        ("logw", p), ("logprior", p), ("energies", p),
        ("energy_fn", energy_fn),
        ("energy_user", c_void_p),
        ("nu", real), ("delta", real), ("tau", real),
        ("normalized", c_int32),
    ]


def _grads_fields(real) -> List[Tuple[str, object]]:
    p = POINTER(real)
    names = ("x", "mu", "scale", "nu", "delta", "chol", "logw", "logprior", "tau", "energies")
    return [("struct_size", c_size_t)] + [(name, p) for name in names]


class ProblemF64(Structure):
    """``ie_problem_f64``."""

    _fields_ = _problem_fields(c_double, ENERGY_FN_F64)


class ProblemF32(Structure):
    """``ie_problem_f32``."""

    _fields_ = _problem_fields(c_float, ENERGY_FN_F32)


class GradsF64(Structure):
    """``ie_grads_f64``."""

    _fields_ = _grads_fields(c_double)


class GradsF32(Structure):
    """``ie_grads_f32``."""

    _fields_ = _grads_fields(c_float)


_d, _f = POINTER(c_double), POINTER(c_float)

#: name -> (argtypes, restype), in the header's order.
PROTOTYPES: Dict[str, Tuple[List[object], object]] = {
    # unsigned ie_version(void);
    "ie_version": ([], c_uint),
    # const char *ie_version_string(void);
    "ie_version_string": ([], c_char_p),
    # const char *ie_status_string(ie_status status);
    "ie_status_string": ([c_int], c_char_p),
    # const char *ie_last_error_message(void);
    "ie_last_error_message": ([], c_char_p),
    # ie_status ie_problem_init_f64(ie_problem_f64 *problem);
    "ie_problem_init_f64": ([POINTER(ProblemF64)], c_int),
    # ie_status ie_problem_init_f32(ie_problem_f32 *problem);
    "ie_problem_init_f32": ([POINTER(ProblemF32)], c_int),
    # ie_status ie_grads_init_f64(ie_grads_f64 *grads);
    "ie_grads_init_f64": ([POINTER(GradsF64)], c_int),
    # ie_status ie_grads_init_f32(ie_grads_f32 *grads);
    "ie_grads_init_f32": ([POINTER(GradsF32)], c_int),
    # ie_status ie_forward_f64(const ie_problem_f64 *problem,
    #                          double *energies, double *logZ, double *resp);
    "ie_forward_f64": ([POINTER(ProblemF64), _d, _d, _d], c_int),
    # ie_status ie_forward_f32(const ie_problem_f32 *problem,
    #                          float *energies, float *logZ, float *resp);
    "ie_forward_f32": ([POINTER(ProblemF32), _f, _f, _f], c_int),
    # ie_status ie_gradients_f64(const ie_problem_f64 *problem, const double *gL, const double *gR,
    #                            double *energies, double *logZ, double *resp,
    #                            const ie_grads_f64 *grads);
    "ie_gradients_f64": ([POINTER(ProblemF64), _d, _d, _d, _d, _d, POINTER(GradsF64)], c_int),
    # ie_status ie_gradients_f32(const ie_problem_f32 *problem, const float *gL, const float *gR,
    #                            float *energies, float *logZ, float *resp,
    #                            const ie_grads_f32 *grads);
    "ie_gradients_f32": ([POINTER(ProblemF32), _f, _f, _f, _f, _f, POINTER(GradsF32)], c_int),
    # ie_status ie_stats_f64(const ie_problem_f64 *problem, const double *weights,
    #                        double *sum_r, double *sum_rx, double *sum_rxx);
    "ie_stats_f64": ([POINTER(ProblemF64), _d, _d, _d, _d], c_int),
    # ie_status ie_stats_f32(const ie_problem_f32 *problem, const float *weights,
    #                        float *sum_r, float *sum_rx, float *sum_rxx);
    "ie_stats_f32": ([POINTER(ProblemF32), _f, _f, _f, _f], c_int),
    # ie_status ie_log_normalizer_f64(const ie_problem_f64 *problem, double *c);
    "ie_log_normalizer_f64": ([POINTER(ProblemF64), _d], c_int),
    # ie_status ie_log_normalizer_f32(const ie_problem_f32 *problem, float *c);
    "ie_log_normalizer_f32": ([POINTER(ProblemF32), _f], c_int),
    # ie_status ie_activation_f64(int32_t kernel, int64_t n, const double *z, double m,
    #                             double scale, double nu, double delta, double tau,
    #                             double *act, double *dact);
    "ie_activation_f64": ([c_int32, c_int64, _d, c_double, c_double, c_double, c_double,
                           c_double, _d, _d], c_int),
    # ie_status ie_activation_f32(int32_t kernel, int64_t n, const float *z, float m,
    #                             float scale, float nu, float delta, float tau,
    #                             float *act, float *dact);
    "ie_activation_f32": ([c_int32, c_int64, _f, c_float, c_float, c_float, c_float,
                           c_float, _f, _f], c_int),
    # ie_status ie_set_num_threads(int32_t n);
    "ie_set_num_threads": ([c_int32], c_int),
    # int32_t ie_get_num_threads(void);
    "ie_get_num_threads": ([], c_int32),
}

#: The functions the array API (core.py) needs: a library without one of them is refused at
#: load. Functions declared further down load if present and fail only when called, so a
#: library older than the header still serves everything it has.
REQUIRED = frozenset(PROTOTYPES)


# ---------------------------------------------------------------------------------- fitting
# The fitting section of include/implicitem.h (float64 only).

class Learn(IntEnum):
    """``ie_learn`` bits."""

    AUTO = 0
    MEANS = 1
    WEIGHTS = 2
    SCALES = 4
    SHAPE = 8
    CHOL = 16


class Init(IntEnum):
    """``ie_init``."""

    KMEANS_PP = 1
    RANDOM = 2
    GIVEN = 3


class ComponentStatus(IntEnum):
    """``ie_component_status``."""

    OK = 0
    COLLAPSED = 1
    EMPTIED = 2


# typedef int (*ie_fit_progress_fn)(void *user, int64_t restart, int64_t iteration,
#                                   double mean_log_likelihood);
FIT_PROGRESS_FN = CFUNCTYPE(c_int, c_void_p, c_int64, c_int64, c_double)


class FitOptionsF64(Structure):
    """``ie_fit_options_f64``."""

    _fields_ = [
        ("struct_size", c_size_t),
        ("kernel", c_int32), ("scale_shape", c_int32),
        ("k", c_int64),
        ("nu", c_double), ("delta", c_double), ("tau", c_double),
        ("normalized", c_int32), ("learn", ctypes.c_uint32),
        ("max_iter", c_int64), ("tol", c_double), ("n_init", c_int64),
        ("init", c_int32), ("seed", ctypes.c_uint64),
        ("min_scale", c_double),
        ("init_mu", POINTER(c_double)), ("init_scale", POINTER(c_double)),
        ("init_chol", POINTER(c_double)), ("init_logw", POINTER(c_double)),
        ("progress", FIT_PROGRESS_FN), ("progress_user", c_void_p),
    ]


class FitResultF64(Structure):
    """``ie_fit_result_f64``."""

    _fields_ = [
        ("struct_size", c_size_t),
        ("mu", POINTER(c_double)), ("scale", POINTER(c_double)), ("chol", POINTER(c_double)),
        ("logw", POINTER(c_double)), ("nu", POINTER(c_double)), ("delta", POINTER(c_double)),
        ("history", POINTER(c_double)), ("component_status", POINTER(c_int32)),
        ("n_iter", c_int64), ("n_history", c_int64),
        ("converged", c_int32), ("best_restart", c_int32),
        ("mean_log_likelihood", c_double), ("min_scale", c_double),
    ]


PROTOTYPES.update({
    # ie_status ie_fit_options_init_f64(ie_fit_options_f64 *options);
    "ie_fit_options_init_f64": ([POINTER(FitOptionsF64)], c_int),
    # ie_status ie_fit_result_init_f64(ie_fit_result_f64 *result);
    "ie_fit_result_init_f64": ([POINTER(FitResultF64)], c_int),
    # ie_status ie_fit_f64(const ie_fit_options_f64 *options, int64_t n, int64_t d,
    #                      const double *x, const double *sample_weight,
    #                      ie_fit_result_f64 *result);
    "ie_fit_f64": ([POINTER(FitOptionsF64), c_int64, c_int64, _d, _d, POINTER(FitResultF64)],
                   c_int),
})


def declare(lib: ctypes.CDLL) -> List[str]:
    """Set argtypes and restype on ``lib`` for every function of ``PROTOTYPES`` it exports.

    Returns the names it does not export; raises ``AttributeError`` naming the first missing
    function of ``REQUIRED``.
    """
    missing = []
    for name, (argtypes, restype) in PROTOTYPES.items():
        try:
            function = getattr(lib, name)
        except AttributeError:
            if name in REQUIRED:
                raise
            missing.append(name)
            continue
        function.argtypes = argtypes
        function.restype = restype
    return missing
