"""Per-user storage quotas: the bytes of objects, images and build artifacts one user
may keep (`MARID_USER_QUOTA`).

Whose bytes they are: the owner's, the user a resource or build belongs to, which is the
namespace's owner for anything in a namespace (a collaborator's upload counts for the
owner who invited them), as Djinn counts usage per user: the one who pays for the
namespace's storage is the one who owns it.

Usage is read from the read models (`projections/usage.py`: sums over indexed rows), so
a check costs one query. It is a check, not a reservation: two uploads of one owner that
run at once both see the usage before either, and may together pass the quota by up to
the size of one of them (so by at most `MARID_IMAGE_MAX_SIZE` per concurrent upload, and
a build's artifacts by what one job collects). That is the bound accepted: a quota is to
stop a user from filling the disk, not to count the last byte, and a reservation would
need a lock per user on every upload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from domain.errors import ValidationError

UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def size_text(size: int) -> str:
    """A size in words, base 1024, with one decimal when it is not whole: `10 GiB`,
    `19.5 GiB`, `512 B`."""
    value, unit = float(size), 0
    while value >= 1024 and unit < len(UNITS) - 1:
        value /= 1024
        unit += 1
    text = f"{value:.1f}".removesuffix(".0")
    return f"{text} {UNITS[unit]}"


class StorageUsage(Protocol):
    """Bytes an owner keeps in objects, images and collected artifacts."""

    def used(self, owner_id: int) -> int: ...


class NoUsage:
    def used(self, owner_id: int) -> int:
        return 0


@dataclass(frozen=True)
class Room:
    """An owner's quota and what they use of it."""

    limit: int
    used: int

    @property
    def left(self) -> int:
        return max(self.limit - self.used, 0)

    def refusal(self) -> str:
        return (
            f"Storage quota of {size_text(self.limit)} exceeded "
            f"({size_text(self.used)} already used)"
        )


@dataclass(frozen=True)
class Quota:
    """The quota per user (None: none) and where usage is read."""

    limit: int | None
    usage: StorageUsage

    def room(self, owner_id: int) -> Room | None:
        """The owner's room, or None when there is no quota."""
        if self.limit is None:
            return None
        return Room(self.limit, self.usage.used(owner_id))

    def check(self, owner_id: int, size: int, field: str = "file") -> None:
        """Raise a field error when `size` more bytes do not fit in the owner's quota."""
        room = self.room(owner_id)
        if room is not None and size > room.left:
            raise ValidationError({field: [room.refusal()]})


NO_QUOTA = Quota(None, NoUsage())
