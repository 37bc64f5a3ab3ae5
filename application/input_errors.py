"""Field errors the input already had before a use case ran (wrongly typed JSON fields).

The API records them for the request being handled; a use case then runs on the rest of
the input so that its own rule failures are reported together with them. While they
stand, the application refuses every save (`CoreApplication.save`), so a request with a
bad field never changes anything, whatever the use case does with the fields left.

A context variable: each request runs in its own context (and a handler's thread gets a
copy of it), so the errors of one request never reach another.
"""

from __future__ import annotations

from contextvars import ContextVar

_input_errors: ContextVar[dict[str, list[str]] | None] = ContextVar("input_errors", default=None)


def set_input_errors(errors: dict[str, list[str]]) -> None:
    _input_errors.set(errors or None)


def current_input_errors() -> dict[str, list[str]]:
    found = _input_errors.get()
    return dict(found) if found else {}
