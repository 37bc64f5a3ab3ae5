"""Domain errors. The API maps each class to one HTTP answer in `api/errors.py`."""

from __future__ import annotations


class DomainError(Exception):
    """Raised when a command breaks a rule of the domain."""


class ValidationError(DomainError):
    """Raised when input fields break rules; carries every failed rule, keyed by field."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in fields.items()))
        self.fields = fields


class RuleError(DomainError):
    """Raised when a request is refused for a reason that is not about one field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(DomainError):
    """Raised when a resource does not exist or the caller may not see it."""

    def __init__(self, what: str = "resource") -> None:
        super().__init__(f"{what} not found")
        self.what = what


class NamespacePermissionError(DomainError):
    """Raised when the caller can see a namespace but may not do this in it."""

    def __init__(self, message: str = "Namespace permission denied") -> None:
        super().__init__(message)
        self.message = message


class ConflictError(DomainError):
    """Raised when concurrent writers kept colliding on the same aggregate."""

    def __init__(self, message: str = "Conflicting concurrent update, try again") -> None:
        super().__init__(message)
        self.message = message


class Errors:
    """Collects failed rules per field, so that every failure is reported together."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.fields.setdefault(field, []).append(message)

    def extend(self, field: str, messages: list[str]) -> None:
        for message in messages:
            self.add(field, message)

    def __bool__(self) -> bool:
        return bool(self.fields)

    def raise_if_any(self) -> None:
        if self.fields:
            raise ValidationError(self.fields)
