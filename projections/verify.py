"""Compare a rebuilt (shadow) read model with the live one, table by table.

A rebuild must never silently replace a right read model with a wrong one, so before a
swap both are compared as of one log position: row count and an md5 of every row per table.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import Cursor
from psycopg.rows import DictRow

from projections.base import View

# Columns whose values may legitimately differ between a live and a rebuilt read model,
# by logical table: values taken at projection time rather than from the events (a
# now(), a sequence). There are none today: every timestamp a projection writes is the
# event's own (`event.timestamp`, `event.at`), every id comes from the events, and no
# table has a DEFAULT that differs per run (`users.admin DEFAULT false` is a constant).
# A column added here is left out of the checksum of both sides.
UNVERIFIED_COLUMNS: dict[str, frozenset[str]] = {}


@dataclass(frozen=True)
class TableCheck:
    """One table's row count and checksum in the live and in the rebuilt read model."""

    table: str
    live_rows: int
    rebuilt_rows: int
    live_md5: str
    rebuilt_md5: str

    @property
    def equal(self) -> bool:
        return (self.live_rows, self.live_md5) == (self.rebuilt_rows, self.rebuilt_md5)

    def describe(self) -> str:
        return (
            f"{self.table}: live {self.live_rows} rows (md5 {self.live_md5}), "
            f"rebuilt {self.rebuilt_rows} rows (md5 {self.rebuilt_md5})"
        )


@dataclass(frozen=True)
class Verification:
    """The comparison of a whole read model at notification `position`."""

    name: str
    position: int
    applied: int  # events replayed into the shadow tables
    tables: tuple[TableCheck, ...]

    @property
    def equal(self) -> bool:
        return all(check.equal for check in self.tables)

    @property
    def mismatches(self) -> list[TableCheck]:
        return [check for check in self.tables if not check.equal]

    def report(self) -> list[str]:
        """`name: N tables equal at notification P`, or a line per differing table."""
        if self.equal:
            return [f"{self.name}: {len(self.tables)} tables equal at notification {self.position}"]
        return [
            f"{self.name}: differs from a rebuild at notification {self.position}",
            *(f"  {check.describe()}" for check in self.mismatches),
        ]


class VerificationError(RuntimeError):
    """Raised when a rebuilt read model differs from the live one and the swap is refused."""

    def __init__(self, verification: Verification) -> None:
        super().__init__("\n".join(verification.report()))
        self.verification = verification


def checksum_sql(view: View, table: str) -> str:
    """A query for the row count and md5 of one physical table of `view`.

    Each row is hashed as jsonb (keys sorted, so the order of columns does not matter)
    without its unverified columns, the rows sorted by that text: a total order that
    both sides share whatever the column types.
    """
    skip = ", ".join(f"'{column}'" for column in sorted(UNVERIFIED_COLUMNS.get(table, ())))
    row = f"(to_jsonb(r) - ARRAY[{skip}]::text[])::text"
    return (
        f"SELECT count(*) AS n, md5(coalesce(string_agg({row}, E'\\n' ORDER BY {row}), '')) "
        f"AS md5 FROM {view.t(table)} AS r"
    )


def compare(
    curs: Cursor[DictRow], live: View, shadow: View, position: int, applied: int
) -> Verification:
    """Compare every table of `live` with `shadow`; the caller holds both still (the swap
    lock keeps the live runner out, and nothing else writes the shadow)."""
    checks = []
    for table in live.tables:
        curs.execute(
            f"SELECT l.n AS live_n, l.md5 AS live_md5, s.n AS shadow_n, s.md5 AS shadow_md5 "
            f"FROM ({checksum_sql(live, table)}) AS l, ({checksum_sql(shadow, table)}) AS s"
        )
        row = curs.fetchone()
        assert row is not None  # an aggregate without GROUP BY returns one row
        checks.append(
            TableCheck(
                table, int(row["live_n"]), int(row["shadow_n"]), row["live_md5"], row["shadow_md5"]
            )
        )
    return Verification(live.projection_name, position, applied, tuple(checks))
