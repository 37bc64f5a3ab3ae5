"""Scopes in words, for the consent page and the token forms, and scopes from forms."""

from __future__ import annotations

from dataclasses import dataclass

from domain.scopes import PERMISSIONS, RESOURCES, ScopeError, Scopes

NOUNS = {
    "build": "builds",
    "cron": "cron schedules",
    "image": "images",
    "invite": "invitations",
    "key": "SSH keys",
    "namespace": "namespaces",
    "object": "objects",
    "variable": "variables",
    "webhook": "webhooks",
}
VERBS = {"read": "Read", "write": "Create and change", "delete": "Delete"}
# Where the general sentence would mislead.
SENTENCES = {
    ("build", "write"): "Submit builds and tag them",
    ("build", "delete"): "Kill builds and delete their tags",
    ("invite", "write"): "Send and accept invitations",
    ("invite", "delete"): "Withdraw and decline invitations",
}


def in_words(resource: str, permission: str) -> str:
    """`build`, `read` -> "Read your builds"."""
    sentence = SENTENCES.get((resource, permission))
    return sentence or f"{VERBS[permission]} your {NOUNS[resource]}"


def described(scopes: Scopes) -> list[str]:
    """Every grant of `scopes` in words, in the order of the scope syntax."""
    return [
        in_words(resource, permission)
        for resource in RESOURCES
        for permission in PERMISSIONS
        if scopes.has(resource, permission)
    ]


@dataclass(frozen=True)
class Choice:
    """One checkbox of the scope grid."""

    value: str
    words: str
    permission: str


def grid() -> list[tuple[str, list[Choice]]]:
    """The scope checkboxes, a row per resource."""
    return [
        (
            NOUNS[resource][:1].upper() + NOUNS[resource][1:],  # "SSH keys", not "Ssh keys"
            [Choice(f"{resource}:{p}", in_words(resource, p), p) for p in PERMISSIONS],
        )
        for resource in RESOURCES
    ]


def chosen(values: list[str]) -> Scopes:
    """The scopes of repeated `scope` form values (`build:read`, or `build:read,write`).

    Raises ScopeError for an unknown resource or permission; none chosen is no scope.
    """
    items = [v.strip() for v in values if v.strip()]
    if not items:
        return Scopes.none()
    return Scopes.parse(" ".join(items))


def scope_error(values: list[str]) -> str | None:
    """Why the chosen scope values are not scopes, or None."""
    try:
        chosen(values)
    except ScopeError as exc:
        return str(exc)
    return None
