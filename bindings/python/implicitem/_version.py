"""The package version: the one place it is written (pyproject.toml reads it from here)."""

__version__ = "0.1.0"

#: The library's major version this package is written against (ie_version() // 10000).
LIBRARY_MAJOR = 0
