"""
pytest runs the same trial TestCases as C{trial tests}.  trial runs them in
C{_trial_temp/}, where C{TestCase.mktemp()} paths land; do the same under
pytest so no test writes into the checkout.
"""
from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _runInTemporaryFolder(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    previous = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("trial_temp"))
    yield
    os.chdir(previous)
