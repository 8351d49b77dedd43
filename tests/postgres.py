"""The `postgres` fixture: a throwaway PostgreSQL cluster (flows/bench/postgres.py) for the tests of the
scale-out path. A test module takes it with `pytest_plugins = ["tests.postgres"]`."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from flows.bench.postgres import Postgres, PostgresMissingError, cluster


def _missing(message: str) -> None:
    """Skip on a developer's machine; fail under CI, where the Makefile installs PostgreSQL."""
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL cluster for the test module, with a database per test made by `create_database`."""
    try:
        with cluster() as pg:
            yield pg
    except PostgresMissingError as e:
        _missing(str(e))
