"""Copies the library built by `make` (../../build/lib) into a non-editable install, so the
installed package loads it from beside itself. Editable installs load the in-tree build."""

import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

LIBRARY = "libimplicitem.dylib" if sys.platform == "darwin" else "libimplicitem.so"
BUILT = Path(__file__).resolve().parent.parent.parent / "build" / "lib" / LIBRARY


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        if BUILT.exists():
            target = Path(self.build_lib) / "implicitem" / LIBRARY
            shutil.copyfile(BUILT.resolve(), target)
        else:
            print(f"implicitem: {BUILT} not found (run `make` first); the installed package "
                  f"will look for the library through IMPLICITEM_LIBRARY and the system loader",
                  file=sys.stderr)


class LibraryDistribution(Distribution):
    """A wheel that carries the shared library is platform-specific."""

    def has_ext_modules(self):
        return BUILT.exists()


setup(cmdclass={"build_py": BuildWithLibrary}, distclass=LibraryDistribution)
