"""Argument types the commands share, and the error for bad arguments."""

from __future__ import annotations

import argparse
from datetime import timedelta

from infrastructure.settings import parse_duration


class UsageError(Exception):
    """Raised for bad arguments: one line on stderr, exit status 2."""


def positive(text: str) -> int:
    """A whole number of at least 1 (ids, counts, limits)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def port(text: str) -> int:
    """A TCP port number, for `--port`."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 1 and 65535, not {value}")
    return value


def duration(text: str) -> timedelta:
    """`30m`, `90s`, `1h`, `1h30m`, for `--timeout` and `--lease`."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
