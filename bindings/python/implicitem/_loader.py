"""The one place that finds and loads libimplicitem.

Search order (the first library that loads wins):

1. ``IMPLICITEM_LIBRARY``: a path to the library file. When set, it is the only candidate,
   so a deliberate choice never silently falls back to another copy.
2. Beside the package: ``implicitem/libimplicitem.so`` (a non-editable install copies the
   library built by ``make`` there).
3. The in-tree build: ``build/lib/libimplicitem.so`` of the source tree this package sits in
   (``bindings/python/implicitem`` -> ``../../../build/lib``).
4. The system loader: ``ctypes.util.find_library("implicitem")``, then ``libimplicitem.so.0``.

If nothing loads, the ``OSError`` lists every path tried and why each failed. The loaded
library's major version must equal the package's (``ie_version() // 10000``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from pathlib import Path
from typing import List, Tuple

from ._prototypes import declare
from ._version import LIBRARY_MAJOR, __version__

ENV_VARIABLE = "IMPLICITEM_LIBRARY"
_PACKAGE_DIR = Path(__file__).resolve().parent
_FILE_NAME = "libimplicitem.dylib" if sys.platform == "darwin" else "libimplicitem.so"
_SONAME = "libimplicitem.0.dylib" if sys.platform == "darwin" else "libimplicitem.so.0"


def candidates() -> List[str]:
    """The paths (or loader names) tried, in order."""
    override = os.environ.get(ENV_VARIABLE)
    if override:
        return [override]
    found = []
    found.append(str(_PACKAGE_DIR / _FILE_NAME))
    found.append(str(_PACKAGE_DIR.parent.parent.parent / "build" / "lib" / _FILE_NAME))
    system = ctypes.util.find_library("implicitem")
    if system:
        found.append(system)
    found.append(_SONAME)
    return found


def _is_path(candidate: str) -> bool:
    return os.sep in candidate


#: Functions of the header that the loaded library does not export (it is older).
missing_functions: List[str] = []


def load() -> Tuple[ctypes.CDLL, str]:
    """Load the first candidate that works; return the library and the path it came from."""
    tried = []
    for candidate in candidates():
        if _is_path(candidate) and not os.path.exists(candidate):
            tried.append(f"  {candidate}: no such file")
            continue
        try:
            lib = ctypes.CDLL(candidate)
        except OSError as error:
            tried.append(f"  {candidate}: {error}")
            continue
        try:
            missing_functions[:] = declare(lib)
        except AttributeError as error:
            tried.append(f"  {candidate}: not a compatible libimplicitem ({error})")
            continue
        _check_version(lib, candidate)
        return lib, candidate
    hint = (f"Build it with `make` in the source tree, or set {ENV_VARIABLE} to the path of "
            f"{_FILE_NAME}.")
    if os.environ.get(ENV_VARIABLE):
        hint = f"{ENV_VARIABLE} is set, so no other location was tried."
    raise OSError("implicitem: cannot load the libimplicitem shared library. Tried:\n"
                  + "\n".join(tried) + "\n" + hint)


def _check_version(lib: ctypes.CDLL, path: str) -> None:
    number = int(lib.ie_version())
    if number // 10000 != LIBRARY_MAJOR:
        found = lib.ie_version_string().decode("ascii", "replace")
        raise ImportError(
            f"implicitem {__version__} needs libimplicitem {LIBRARY_MAJOR}.x, but {path} is "
            f"version {found} (ie_version() = {number}); install a matching library or point "
            f"{ENV_VARIABLE} at one.")


library, library_path = load()
