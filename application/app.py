"""The marid application: every use case, on one event-sourced application."""

from __future__ import annotations

from application.users import UserCases
from application.variables import VariableCases


class MaridApplication(UserCases, VariableCases):
    """One application, so that a resource and its index aggregates save atomically."""

    # eventsourcing names an application after its class unless told: tables `marid_*`.
    name = "Marid"
