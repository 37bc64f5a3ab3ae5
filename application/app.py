"""The marid application: every use case, on one event-sourced application."""

from __future__ import annotations

from application.namespaces import NamespaceCases
from application.users import UserCases


class MaridApplication(UserCases, NamespaceCases):
    """One application, so that a resource and its index aggregates save atomically."""
