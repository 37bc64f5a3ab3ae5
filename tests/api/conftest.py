"""Fixtures the API tests share: two users, each with an all-scope token."""

from __future__ import annotations

import pytest

from tests.conftest import Users
from tests.helpers import Auth


@pytest.fixture
def alice(users: Users) -> Auth:
    """alice's Authorization header (a module may override this fixture)."""
    return users.create("alice")[1]


@pytest.fixture
def bob(users: Users) -> Auth:
    """bob's Authorization header."""
    return users.create("bob")[1]
