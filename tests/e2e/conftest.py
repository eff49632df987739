"""Fixtures of the end-to-end tests beyond ``tests/conftest.py``: a township tree."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.helpers import Tree


@pytest.fixture
def tree(federation) -> Iterator[Tree]:
    t = Tree(federation)
    t.start()
    try:
        yield t
    finally:
        t.stop()


