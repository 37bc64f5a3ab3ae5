"""One log format for the whole process: marid, uvicorn, APScheduler, eventsourcing.

Every record goes through one handler on the root logger, human-readable by default or
JSON lines (`MARID_LOG_FORMAT=json`). A record logged while a request is handled carries
that request's id, from a context variable the API sets for the request's task (and
which worker threads of a handler inherit).
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

# The id of the request being handled (None outside a request).
request_id: ContextVar[str | None] = ContextVar("marid_request_id", default=None)

# Loggers of libraries that would install handlers of their own or are too chatty at INFO.
QUIET_AT_INFO = ("apscheduler",)  # APScheduler reports every tick of the cron scheduler
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


class RequestIdFilter(logging.Filter):
    """Stamp each record with the id of the request it was logged for, if any."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


class HumanFormatter(logging.Formatter):
    """`2026-12-01 12:00:00,123 INFO marid.api [req 4f2a…]: message` (the id only in a request)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(request)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None)
        record.request = f" [request {rid}]" if rid else ""
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            entry["request_id"] = rid
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else HumanFormatter()


def configure(level: str, log_format: str, stream: TextIO | None = None) -> logging.Handler:
    """Send every logger's records through one handler on the root logger; returns it.

    Called once at process start (the CLI); replaces handlers a library put on the root.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(log_format))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_AT_INFO:
        logging.getLogger(name).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
    logging.captureWarnings(True)  # warnings go through the same format, once each
    return handler


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """uvicorn's `log_config`: its loggers keep their levels but no handlers of their own,
    so that their records (access lines included) reach the root handler, in our format."""
    loggers = {
        name: {"handlers": [], "propagate": True, "level": level} for name in UVICORN_LOGGERS
    }
    return {"version": 1, "disable_existing_loggers": False, "loggers": loggers}
