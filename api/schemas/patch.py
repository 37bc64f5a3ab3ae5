"""The shape every PATCH body shares."""

from __future__ import annotations

import msgspec


class Patch(msgspec.Struct):
    """A PATCH body as Djinn's own client sends it: every field, the unchanged ones empty.

    An empty string is taken as absent, so it keeps the current value (CONTRACT.md,
    "Updates and unknown fields"); a create-only field sent empty is therefore ignored.
    """

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            if getattr(self, name) == "":
                setattr(self, name, None)
