"""The marid application: every use case, on one event-sourced application."""

from __future__ import annotations

from application.builds import BuildCases
from application.crons import CronCases
from application.execution import ExecutionCases
from application.images import ImageCases
from application.invites import InviteCases
from application.keys import KeyCases
from application.objects import ObjectCases
from application.users import UserCases
from application.variables import VariableCases
from application.webhooks import WebhookCases


class MaridApplication(
    UserCases,
    VariableCases,
    KeyCases,
    ImageCases,
    ObjectCases,
    CronCases,
    BuildCases,
    InviteCases,
    ExecutionCases,
    WebhookCases,
):
    """One application, so that a resource and its index aggregates save atomically."""

    # eventsourcing names an application after its class unless told: tables `marid_*`.
    name = "Marid"
