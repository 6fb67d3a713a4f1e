"""The examples in the API's docstrings run as written."""

import doctest

import chipplan.api


def test_api_docstring_examples_run():
    res = doctest.testmod(chipplan.api, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.attempted >= 15 and res.failed == 0
