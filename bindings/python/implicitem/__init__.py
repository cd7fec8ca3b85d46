"""implicitem: energies, log-sum-exp objectives, responsibilities and their exact gradients
for the kernels of implicit EM, over the C library libimplicitem (ctypes).

    >>> import implicitem as ie
    >>> r = ie.forward([[0.0, 0.0]], [[0.0, 0.0], [1.0, 1.0]], kernel="laplace", scale=0.5)
    >>> r.resp.shape
    (1, 2)

See docs/KERNELS.md for the mathematics and docs/API.md for the surface.
"""

import importlib.util as _importlib_util

from ._errors import ImplicitEMError
from ._loader import library_path
from ._prototypes import Kernel, ScaleShape, Status
from ._version import __version__
from .core import (ForwardResult, GradientResult, Stats, activation, forward, get_num_threads,
                   gradients, log_normalizer, set_num_threads, stats)

__all__ = [
    "__version__", "ImplicitEMError", "Kernel", "ScaleShape", "Status", "library_path",
    "forward", "gradients", "activation", "log_normalizer", "stats",
    "set_num_threads", "get_num_threads", "ForwardResult", "GradientResult", "Stats",
]

# The fitting estimator lives in its own module; import it when it is present so that a
# genuine error inside it is not hidden.
if _importlib_util.find_spec(__name__ + ".mixture") is not None:
    from .mixture import Mixture  # noqa: F401

    __all__.append("Mixture")
