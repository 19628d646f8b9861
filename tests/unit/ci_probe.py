"""Probe for tests/unit/test_ci_mode.py (not collected by itself: its name is not test_*): one skip of each kind."""

import pytest
from support import skip_outside


def test_needs_a_tool():
    pytest.skip("frobnicate is not installed (apt-get install frobnicate)")


@pytest.mark.skipif(True, reason="1,000,000 inputs only with RRASCTL_LONG=1")
def test_long():
    pass


def test_lab_outside():
    skip_outside("the lab's package archive did not answer")


def test_runs():
    assert True
