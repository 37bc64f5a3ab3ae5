"""Settings from the environment (`MARID_*`); tests build Settings explicitly."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MAX_BODY = 1024 * 1024


class SettingsError(ValueError):
    """Raised when an environment variable holds a value marid cannot use."""


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{key} must be a whole number, not {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{key} must be positive, not {raw!r}")
    return value


def _count(env: Mapping[str, str], key: str, default: int) -> int:
    """A whole number that may be 0 (which turns the feature off)."""
    if env.get(key, "").strip() == "0":
        return 0
    return _int(env, key, default)


def _flag(env: Mapping[str, str], key: str, default: bool) -> bool:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    """Everything marid reads from its environment."""

    database_url: str | None = None
    data_dir: Path = field(default_factory=lambda: Path("var"))
    secret_key: str | None = None
    api_url: str | None = None
    drivers: tuple[str, ...] = ("os",)
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_size: int = DEFAULT_MAX_BODY
    read_wait_timeout: float = 10.0
    run_projections: bool = True
    pool_size: int = 10
    log_level: str = "INFO"
    object_max_size: int = 5 * 1024 * 1024
    image_max_size: int | None = None
    # Image downloads (and later webhooks) to loopback, private or link-local addresses.
    allow_private_urls: bool = False
    run_scheduler: bool = True  # fire crons from `Marid.start()`
    # Requests per client (token, else address) per minute; 0 turns limiting off.
    rate_limit: int = 10000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        drivers = tuple(d.strip() for d in env.get("MARID_DRIVERS", "os").split(",") if d.strip())
        return cls(
            database_url=env.get("MARID_DATABASE_URL") or None,
            data_dir=Path(env.get("MARID_DATA_DIR") or "var"),
            secret_key=env.get("MARID_SECRET_KEY") or None,
            api_url=(env.get("MARID_API_URL") or "").rstrip("/") or None,
            drivers=drivers or ("os",),
            max_body_size=_int(env, "MARID_MAX_BODY_SIZE", DEFAULT_MAX_BODY),
            run_projections=_flag(env, "MARID_RUN_PROJECTIONS", True),
            pool_size=_int(env, "MARID_DB_POOL_SIZE", 10),
            log_level=env.get("MARID_LOG_LEVEL", "INFO").upper(),
            object_max_size=_int(env, "MARID_OBJECT_MAX_SIZE", 5 * 1024 * 1024),
            image_max_size=_int(env, "MARID_IMAGE_MAX_SIZE", 0)
            if env.get("MARID_IMAGE_MAX_SIZE")
            else None,
            allow_private_urls=_flag(env, "MARID_ALLOW_PRIVATE_URLS", False),
            run_scheduler=_flag(env, "MARID_RUN_SCHEDULER", True),
            rate_limit=_count(env, "MARID_RATE_LIMIT", 10000),
        )
