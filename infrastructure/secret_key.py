"""The server's secret key: MARID_SECRET_KEY, or generated once into the data directory."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def load_secret_key(configured: str | None, data_dir: Path) -> bytes:
    """32 bytes of key material for secrets at rest and signing."""
    if configured:
        return configured.encode()
    path = data_dir / "secret-key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()
