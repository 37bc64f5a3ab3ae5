"""The shape of a read model's tables, read from the CREATE TABLE bodies views declare.

Both implementations of a view use it: the PostgreSQL one to adapt `jsonb` values, the
in-memory one to give each row every column and to refuse what PostgreSQL refuses (a NULL
in a NOT NULL column, a second row with the same key). The upgrade check compares the
declared column names with the live tables'.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

# Words that open a table constraint rather than a column in a CREATE TABLE body.
CONSTRAINT_WORDS = frozenset({"PRIMARY", "UNIQUE", "CONSTRAINT", "CHECK", "FOREIGN", "EXCLUDE"})
_DEFAULTS = {"true": True, "false": False, "null": None}
_PLAIN_COLUMNS = re.compile(r"^\(\s*\w+(\s*,\s*\w+)*\s*\)$")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    not_null: bool
    default: Any = None  # the constant of a DEFAULT clause (booleans and numbers only)


@dataclass(frozen=True)
class TableShape:
    """A table's columns in order and its keys: the primary key and unique column sets."""

    columns: tuple[Column, ...]
    keys: tuple[tuple[str, ...], ...]

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    @cached_property
    def jsonb(self) -> frozenset[str]:
        """The `jsonb` columns (their values are wrapped for psycopg)."""
        return frozenset(column.name for column in self.columns if column.type == "jsonb")


def _parts(definition: str) -> list[str]:
    """The comma-separated parts of a `(...)` body, commas inside parentheses kept."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in definition.strip()[1:-1]:
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current.append(char)
    parts.append("".join(current).strip())
    return [part for part in parts if part]


def _names(columns: str) -> tuple[str, ...]:
    """`(a, b)` as `("a", "b")`."""
    return tuple(name.strip() for name in columns.strip()[1:-1].split(","))


def _default(words: list[str]) -> Any:
    upper = [word.upper() for word in words]
    if "DEFAULT" not in upper:
        return None
    literal = words[upper.index("DEFAULT") + 1]
    if literal.lower() in _DEFAULTS:
        return _DEFAULTS[literal.lower()]
    try:
        return int(literal)
    except ValueError:
        raise ValueError(f"unsupported DEFAULT {literal}: a constant is needed") from None


def parse_table(definition: str, unique_indexes: Iterable[str] = ()) -> TableShape:
    """The shape of a table body like `(id bigint PRIMARY KEY, ...)`; `unique_indexes` are
    the column lists of its unique indexes (those on expressions or partial are left out)."""
    columns: list[Column] = []
    keys: list[tuple[str, ...]] = []
    for part in _parts(definition):
        words = part.split()
        text = " ".join(words).upper()
        if words[0].upper() in CONSTRAINT_WORDS:
            if text.startswith(("PRIMARY KEY", "UNIQUE")):
                keys.append(_names(part[part.index("(") :]))
            continue
        key = "PRIMARY KEY" in text or " UNIQUE" in text
        not_null = "NOT NULL" in text or "PRIMARY KEY" in text
        columns.append(Column(words[0], words[1].lower(), not_null, _default(words)))
        if key:
            keys.append((words[0],))
    keys += [_names(c) for c in unique_indexes if _PLAIN_COLUMNS.match(c)]  # not partial
    return TableShape(tuple(columns), tuple(dict.fromkeys(keys)))


def declared_columns(definition: str) -> list[str]:
    """The column names, in order, of a table body like `(id bigint PRIMARY KEY, ...)`."""
    return parse_table(definition).names


@cache
def table_shapes(
    tables: tuple[tuple[str, str], ...], indexes: tuple[tuple[str, str, str], ...]
) -> dict[str, TableShape]:
    """Every table's shape, from a view's `tables` and `indexes` (as item tuples)."""
    return {
        table: parse_table(
            definition,
            [columns for on, unique, columns in indexes if on == table and unique == "UNIQUE"],
        )
        for table, definition in tables
    }
