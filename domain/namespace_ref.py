"""A namespace reference `path[@owner]`, as used in manifests and resource forms."""

from __future__ import annotations

from dataclasses import dataclass

from domain.namespaces import MAX_DEPTH, NAME_RE
from domain.users import USERNAME_RE

SEGMENT_MAX = 32


class NamespaceRefError(ValueError):
    """Raised when a namespace reference cannot be parsed; the text is the user-facing message."""


@dataclass(frozen=True)
class NamespaceRef:
    """`path` (segments joined by `/`) and, when given, the owner's username."""

    path: str
    owner: str | None = None

    @classmethod
    def parse(cls, text: str) -> NamespaceRef:
        """Parse `proj/sub@alice`; digits are allowed in names (unlike Djinn's parser)."""
        ref = text.strip()
        path, at, owner = ref.partition("@")
        path = path.strip("/")
        if not path:
            raise NamespaceRefError(f"{ref}: invalid namespace path")
        segments = path.split("/")
        if any(not NAME_RE.fullmatch(segment) for segment in segments):
            raise NamespaceRefError(f"{ref}: namespace: name can only contain letters and numbers")
        if any(len(segment) > SEGMENT_MAX for segment in segments):
            raise NamespaceRefError(
                f"{ref}: namespace: name cannot be longer than {SEGMENT_MAX} characters in length"
            )
        if len(segments) > MAX_DEPTH:
            raise NamespaceRefError(f"{ref}: namespace: cannot exceed depth of {MAX_DEPTH}")
        if at and (not owner or not USERNAME_RE.fullmatch(owner)):
            raise NamespaceRefError(f"{ref}: namespace: invalid owner")
        return cls(path=path, owner=owner or None)

    @property
    def segments(self) -> list[str]:
        return self.path.split("/")

    def __str__(self) -> str:
        return f"{self.path}@{self.owner}" if self.owner else self.path
