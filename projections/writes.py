"""The writes of one transaction on a read model's tables, as both implementations do them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any


class Rows(ABC):
    """The writes of one transaction on a read model's tables (logical names), by column.

    `where` is equalities, ANDed; a tuple or frozenset value means any of its values, and
    None never matches (as in SQL). `returning` names a column whose values, one per row
    changed, the call returns.
    """

    @abstractmethod
    def insert(self, table: str, *rows: Mapping[str, Any], skip_existing: bool = False) -> None:
        """Add rows (all with the same columns); `skip_existing` skips a row whose key
        is taken instead of failing."""

    @abstractmethod
    def update(
        self, table: str, values: Mapping[str, Any], returning: str | None = None, **where: Any
    ) -> list[Any]: ...

    @abstractmethod
    def delete(self, table: str, returning: str | None = None, **where: Any) -> list[Any]: ...

    @abstractmethod
    def find(self, table: str, **where: Any) -> dict[str, Any] | None:
        """A row that matches (use a key), or None."""

    @abstractmethod
    def notify(self, channel: str, payload: str) -> None:
        """Tell listeners of `channel` once the transaction commits (live tables only)."""


Change = Callable[[Rows], object]


def is_any_of(value: Any) -> bool:
    """Whether a `where` value stands for any of its values rather than for itself."""
    return isinstance(value, (tuple, frozenset))
