"""The build worker: claims queued builds and runs them with a driver (see `runtime`)."""

from __future__ import annotations

import os
import socket

from infrastructure.worker.runtime import Worker, WorkerConfig

__all__ = ["Worker", "WorkerConfig", "default_name"]


def default_name() -> str:
    """`host:pid`: unique among the workers sharing one database."""
    return f"{socket.gethostname()}:{os.getpid()}"
