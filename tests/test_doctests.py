"""The worked examples in the package's docstrings run as checks (every module of ``src/chipplan``)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import chipplan

MODULES = sorted(m.name for m in pkgutil.walk_packages(chipplan.__path__, "chipplan.")
                 if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} docstring examples fail (run " \
                               f"python -m doctest -v on it)"


def test_the_examples_are_found():
    finder = doctest.DocTestFinder()
    found = sum(len(t.examples) for name in MODULES for t in finder.find(importlib.import_module(name)))
    assert found >= 25
