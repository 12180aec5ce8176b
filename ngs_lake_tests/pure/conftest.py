"""Fixtures of the pure tests: nothing here starts a process or touches AWS."""

import os
import time
from collections.abc import Iterator

import pytest


@pytest.fixture
def machine_in_chicago() -> Iterator[None]:
    """The process's local time zone set to America/Chicago, so a conversion that forgets UTC
    and uses the machine's zone shows (CI machines run in UTC, where the two agree)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "America/Chicago"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()
