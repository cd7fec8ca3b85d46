"""Finding the library: the search order, the error listing every path tried, and the
major-version check."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import implicitem as ie
from implicitem import _loader

PACKAGE_PARENT = str(Path(ie.__file__).resolve().parent.parent)


def run_import(env_changes):
    env = {k: v for k, v in os.environ.items() if k != _loader.ENV_VARIABLE}
    env.update(env_changes)
    env["PYTHONPATH"] = PACKAGE_PARENT
    return subprocess.run([sys.executable, "-c", "import implicitem as ie; print(ie.library_path)"],
                          capture_output=True, text=True, env=env)


def test_the_library_loads_and_reports_its_version():
    assert os.path.exists(ie.library_path)
    assert ie.core._lib.ie_version() // 10000 == _loader.LIBRARY_MAJOR
    assert ie.__version__.split(".")[0] == str(_loader.LIBRARY_MAJOR)


def test_environment_variable_is_used_and_is_the_only_candidate(tmp_path):
    result = run_import({_loader.ENV_VARIABLE: ie.library_path})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ie.library_path

    missing = str(tmp_path / "libimplicitem.so")
    result = run_import({_loader.ENV_VARIABLE: missing})
    assert result.returncode != 0
    assert missing in result.stderr and "no such file" in result.stderr
    assert "no other location was tried" in result.stderr


def test_a_file_that_is_not_the_library_is_reported(tmp_path):
    fake = tmp_path / "libimplicitem.so"
    fake.write_bytes(b"not a shared library")
    result = run_import({_loader.ENV_VARIABLE: str(fake)})
    assert result.returncode != 0 and str(fake) in result.stderr


def test_default_candidates_in_order():
    saved = os.environ.pop(_loader.ENV_VARIABLE, None)
    try:
        found = _loader.candidates()
    finally:
        if saved is not None:
            os.environ[_loader.ENV_VARIABLE] = saved
    package = Path(ie.__file__).resolve().parent
    assert found[0] == str(package / "libimplicitem.so")
    assert found[1] == str(package.parent.parent.parent / "build" / "lib" / "libimplicitem.so")
    assert found[-1] == "libimplicitem.so.0"


class FakeLibrary:
    def __init__(self, number):
        self.number = number

    def ie_version(self):
        return self.number

    def ie_version_string(self):
        return b"%d.%d.%d" % (self.number // 10000, self.number // 100 % 100, self.number % 100)


def test_a_library_of_another_major_version_is_refused():
    _loader._check_version(FakeLibrary(_loader.LIBRARY_MAJOR * 10000 + 307), "same-major")
    with pytest.raises(ImportError, match="needs libimplicitem") as caught:
        _loader._check_version(FakeLibrary((_loader.LIBRARY_MAJOR + 1) * 10000), "/x/libimplicitem.so")
    assert "/x/libimplicitem.so" in str(caught.value)
