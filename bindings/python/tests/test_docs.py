"""Every docstring example in the package runs, and so does the Python example of the
repository's README.md."""

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import implicitem

README = Path(__file__).resolve().parents[3] / "README.md"
# __main__ runs the command line when imported, so it has no examples to collect.
MODULES = ["implicitem"] + [f"implicitem.{m.name}" for m in pkgutil.iter_modules(implicitem.__path__)
                            if m.name != "__main__"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_public_functions_have_examples():
    for name in ("forward", "gradients", "activation", "log_normalizer", "stats"):
        assert ">>>" in getattr(implicitem, name).__doc__, name


def readme_python_example():
    """The first ```python block under the heading "Python" of README.md, or None."""
    if not README.exists():
        return None
    section = re.search(r"^#+\s*Python\s*$(.*?)(?=^#{1,2}\s|\Z)", README.read_text(),
                        re.MULTILINE | re.DOTALL)
    if section is None:
        return None
    block = re.search(r"```python\n(.*?)```", section.group(1), re.DOTALL)
    return None if block is None else block.group(1)


def test_readme_python_example_runs(capsys):
    code = readme_python_example()
    if code is None:
        pytest.skip(f"{README} has no ```python block under a 'Python' heading yet")
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    capsys.readouterr()
