"""Token scopes in Djinn's syntax: space-separated `resource:perm[,perm]` items."""

from __future__ import annotations

from dataclasses import dataclass

RESOURCES = (
    "build",
    "cron",
    "image",
    "invite",
    "key",
    "namespace",
    "object",
    "variable",
    "webhook",
)
PERMISSIONS = ("read", "write", "delete")


class ScopeError(ValueError):
    """Raised when a scope string names an unknown resource or permission."""


@dataclass(frozen=True)
class Scopes:
    """A set of (resource, permission) grants."""

    grants: frozenset[tuple[str, str]]

    @classmethod
    def all(cls) -> Scopes:
        return cls(frozenset((r, p) for r in RESOURCES for p in PERMISSIONS))

    @classmethod
    def none(cls) -> Scopes:
        return cls(frozenset())

    @classmethod
    def parse(cls, text: str) -> Scopes:
        """Parse `build:read,write namespace:read`; repeated resources are OR-ed together."""
        items = text.split()
        if not items:
            raise ScopeError("scope cannot be empty")
        grants: set[tuple[str, str]] = set()
        for item in items:
            resource, sep, perms = item.partition(":")
            if resource not in RESOURCES:
                raise ScopeError(f"unknown resource: {resource}")
            if not sep or not perms:
                raise ScopeError(f"missing permission for resource: {resource}")
            for perm in perms.split(","):
                if perm not in PERMISSIONS:
                    raise ScopeError(f"unknown permission: {perm}")
                grants.add((resource, perm))
        return cls(frozenset(grants))

    def has(self, resource: str, permission: str) -> bool:
        return (resource, permission) in self.grants

    def __str__(self) -> str:
        items = []
        for resource in RESOURCES:
            perms = [p for p in PERMISSIONS if (resource, p) in self.grants]
            if perms:
                items.append(f"{resource}:{','.join(perms)}")
        return " ".join(items)
