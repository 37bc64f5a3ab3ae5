"""Settings from the environment (`MARID_*`); tests build Settings explicitly."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
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


def _seconds(env: Mapping[str, str], key: str, default: float) -> float:
    """A positive number of seconds (fractions allowed)."""
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{key} must be a number of seconds, not {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise SettingsError(f"{key} must be a positive number of seconds, not {raw!r}")
    return value


def _flag(env: Mapping[str, str], key: str, default: bool) -> bool:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> timedelta:
    """A positive duration such as `30m`, `90s`, `1h` or `1h30m` (Djinn's worker syntax)."""
    raw = text.strip()
    parts = _DURATION_PART.findall(raw)
    if not raw or "".join(n + u for n, u in parts) != raw:
        raise ValueError(f"not a duration like 30m, 90s or 1h: {text!r}")
    seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"duration must be positive: {text!r}")
    return timedelta(seconds=seconds)


def _duration(env: Mapping[str, str], key: str, default: timedelta) -> timedelta:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return parse_duration(raw)
    except ValueError as exc:
        raise SettingsError(f"{key}: {exc}") from None


_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def _size(env: Mapping[str, str], key: str, default: int | None) -> int | None:
    """Bytes as `512m`, `2g`, `1048576` (Docker's units); 0 is None (no limit)."""
    raw = (env.get(key) or "").strip().lower()
    if not raw:
        return default
    match = re.fullmatch(r"(\d+)([bkmg]?)", raw)
    if match is None:
        raise SettingsError(f"{key} must be a size like 512m or 2g, not {raw!r}")
    value = int(match[1]) * _SIZE_UNITS[match[2]]
    return value or None


def _limit(env: Mapping[str, str], key: str, default: float | None) -> float | None:
    """A positive number, or 0 for None (no limit)."""
    raw = (env.get(key) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{key} must be a number, not {raw!r}") from None
    if value < 0 or value == float("inf") or value != value:
        raise SettingsError(f"{key} must be a positive number or 0, not {raw!r}")
    return value or None


_BLOB_URL = re.compile(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/[A-Za-z0-9._/-]*)?")


def _blob_url(env: Mapping[str, str], key: str) -> str | None:
    """A directory, or `s3://bucket/prefix` (a valid bucket name; any other scheme is refused)."""
    raw = (env.get(key) or "").strip()
    if "://" in raw and not _BLOB_URL.fullmatch(raw):
        raise SettingsError(f"{key} must be a directory or s3://bucket/prefix, not {raw!r}")
    return raw or None


def _choice(env: Mapping[str, str], key: str, choices: tuple[str, ...]) -> str:
    raw = (env.get(key) or choices[0]).strip().lower()
    if raw not in choices:
        raise SettingsError(f"{key} must be one of {', '.join(choices)}, not {raw!r}")
    return raw


def _qemu_installed() -> bool:
    return bool(shutil.which("qemu-system-x86_64") and shutil.which("qemu-img"))


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
    image_max_size: int | None = 10 * 1024**3
    # Image downloads and webhook deliveries to loopback, private or link-local addresses.
    allow_private_urls: bool = False
    run_scheduler: bool = True  # fire crons from `Marid.start()`
    # Webhooks: deliver from `Marid.start()` (where the API installs its renderer); tries
    # per delivery, the first backoff in seconds (doubling), the request timeout.
    run_webhooks: bool = True
    webhook_max_attempts: int = 8
    webhook_backoff: float = 10.0
    webhook_timeout: float = 30.0
    # Requests per client (token, else address) per minute; 0 turns limiting off.
    rate_limit: int = 1200
    # The build worker (`marid worker`, and inside `marid serve` unless run_worker is off).
    run_worker: bool = True
    worker_parallelism: int = 2  # builds run at once by one worker
    worker_timeout: timedelta = timedelta(minutes=30)  # a longer build ends `timed_out`
    worker_lease: timedelta = timedelta(seconds=30)  # a dead worker's builds rerun after it
    # The ssh driver: remote user, private key (None: agent and default keys), host keys.
    ssh_user: str = "root"
    ssh_key: str | None = None
    ssh_known_hosts: str | None = None  # None: ~/.ssh/known_hosts
    ssh_host_key_policy: str = "reject"  # or accept-new, ignore
    # The os driver: jobs of a root worker run as `os_user` (None: marid-build, created on
    # first use); a worker that is not root runs none unless `os_allow_same_user`.
    os_user: str | None = None
    os_allow_same_user: bool = False
    # The docker driver, per container: memory in bytes, CPUs, processes (None: no limit),
    # and the network mode (None: Docker's default bridge).
    docker_memory: int | None = 2 * 1024**3
    docker_cpus: float | None = None
    docker_pids: int | None = 1024
    docker_network: str | None = None
    # The qemu driver: base images (`<dir>/<arch>/<name>.qcow2`; None: only uploaded ones),
    # acceleration (auto: KVM when a probe boots under it, else TCG), CPUs and memory in
    # bytes per VM, seconds to wait for its SSH, and the private key that logs in as root.
    qemu_images: Path | None = None
    qemu_accel: str = "auto"  # or kvm, tcg
    qemu_cpus: int = 1
    qemu_memory: int = 1024**3
    qemu_boot_timeout: float = 120.0
    qemu_key: str | None = None
    # Operations: `json` for JSON-lines logs; /readyz fails while a read model lags by this
    # many events or more; /metrics asks for this bearer token when it is set.
    log_format: str = "human"
    ready_max_lag: int = 1000
    metrics_token: str | None = None
    # Web accounts: self-service registration (`MARID_REGISTRATION=open`; default closed)
    # and how long a browser session lasts.
    registration_open: bool = False
    session_lifetime: timedelta = timedelta(days=14)
    # Hostile clients: proxy headers (X-Forwarded-For) are believed only from these
    # addresses or networks; at most this many connections at once; a request's headers
    # and body must arrive within this many seconds.
    trusted_proxies: tuple[str, ...] = ()
    max_connections: int = 1000
    request_read_timeout: float = 30.0
    # `marid serve` retries an unreachable database for this many seconds, then exits.
    startup_timeout: float = 30.0
    # Bytes of objects, images and artifacts one user may keep (None: no quota).
    user_quota: int | None = 20 * 1024**3
    # Where blobs live: a directory, or s3://bucket/prefix (None: `<data dir>/blobs`).
    blob_url: str | None = None

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        docker_answers: Callable[[Mapping[str, str]], bool] | None = None,
        qemu_installed: Callable[[], bool] | None = None,
    ) -> Settings:
        """`docker_answers` tells whether a Docker daemon answers (default: ask it) and
        `qemu_installed` whether qemu is (default: look on PATH), which the default
        `MARID_DRIVERS` depends on."""
        env = os.environ if env is None else env
        drivers = tuple(d.strip() for d in env.get("MARID_DRIVERS", "").split(",") if d.strip())
        if not drivers:
            if docker_answers is None:
                from infrastructure.drivers.docker_daemon import daemon_answers

                docker_answers = daemon_answers
            drivers = ("os", "docker") if docker_answers(env) else ("os",)
            if (qemu_installed or _qemu_installed)():
                drivers = (*drivers, "qemu")
        return cls(
            database_url=env.get("MARID_DATABASE_URL") or None,
            data_dir=Path(env.get("MARID_DATA_DIR") or "var"),
            secret_key=env.get("MARID_SECRET_KEY") or None,
            api_url=(env.get("MARID_API_URL") or "").rstrip("/") or None,
            drivers=drivers,
            max_body_size=_int(env, "MARID_MAX_BODY_SIZE", DEFAULT_MAX_BODY),
            run_projections=_flag(env, "MARID_RUN_PROJECTIONS", True),
            pool_size=_int(env, "MARID_DB_POOL_SIZE", 10),
            log_level=env.get("MARID_LOG_LEVEL", "INFO").upper(),
            object_max_size=_int(env, "MARID_OBJECT_MAX_SIZE", 5 * 1024 * 1024),
            image_max_size=_size(env, "MARID_IMAGE_MAX_SIZE", 10 * 1024**3),
            allow_private_urls=_flag(env, "MARID_ALLOW_PRIVATE_URLS", False),
            run_scheduler=_flag(env, "MARID_RUN_SCHEDULER", True),
            run_webhooks=_flag(env, "MARID_RUN_WEBHOOKS", True),
            webhook_max_attempts=_int(env, "MARID_WEBHOOK_MAX_ATTEMPTS", 8),
            webhook_backoff=_seconds(env, "MARID_WEBHOOK_BACKOFF", 10.0),
            webhook_timeout=_seconds(env, "MARID_WEBHOOK_TIMEOUT", 30.0),
            rate_limit=_count(env, "MARID_RATE_LIMIT", 1200),
            run_worker=_flag(env, "MARID_RUN_WORKER", True),
            worker_parallelism=_int(env, "MARID_WORKER_PARALLELISM", 2),
            worker_timeout=_duration(env, "MARID_WORKER_TIMEOUT", timedelta(minutes=30)),
            worker_lease=_duration(env, "MARID_WORKER_LEASE", timedelta(seconds=30)),
            ssh_user=env.get("MARID_SSH_USER") or "root",
            ssh_key=env.get("MARID_SSH_KEY") or None,
            ssh_known_hosts=env.get("MARID_SSH_KNOWN_HOSTS") or None,
            ssh_host_key_policy=_choice(
                env, "MARID_SSH_HOST_KEY_POLICY", ("reject", "accept-new", "ignore")
            ),
            os_user=(env.get("MARID_OS_USER") or "").strip() or None,
            os_allow_same_user=_flag(env, "MARID_OS_ALLOW_SAME_USER", False),
            docker_memory=_size(env, "MARID_DOCKER_MEMORY", 2 * 1024**3),
            docker_cpus=_limit(env, "MARID_DOCKER_CPUS", None),
            docker_pids=_count(env, "MARID_DOCKER_PIDS", 1024) or None,
            docker_network=(env.get("MARID_DOCKER_NETWORK") or "").strip() or None,
            qemu_images=Path(env["MARID_QEMU_IMAGES"]) if env.get("MARID_QEMU_IMAGES") else None,
            qemu_accel=_choice(env, "MARID_QEMU_ACCEL", ("auto", "kvm", "tcg")),
            qemu_cpus=_int(env, "MARID_QEMU_CPUS", 1),
            qemu_memory=_size(env, "MARID_QEMU_MEMORY", 1024**3) or 1024**3,
            qemu_boot_timeout=_seconds(env, "MARID_QEMU_BOOT_TIMEOUT", 120.0),
            qemu_key=env.get("MARID_QEMU_KEY") or None,
            log_format=_choice(env, "MARID_LOG_FORMAT", ("human", "json")),
            ready_max_lag=_int(env, "MARID_READY_MAX_LAG", 1000),
            metrics_token=(env.get("MARID_METRICS_TOKEN") or "").strip() or None,
            registration_open=_choice(env, "MARID_REGISTRATION", ("closed", "open")) == "open",
            session_lifetime=_duration(env, "MARID_SESSION_LIFETIME", timedelta(days=14)),
            trusted_proxies=tuple(
                p.strip() for p in env.get("MARID_TRUSTED_PROXIES", "").split(",") if p.strip()
            ),
            max_connections=_int(env, "MARID_MAX_CONNECTIONS", 1000),
            request_read_timeout=_seconds(env, "MARID_REQUEST_READ_TIMEOUT", 30.0),
            startup_timeout=_seconds(env, "MARID_STARTUP_TIMEOUT", 30.0),
            user_quota=_size(env, "MARID_USER_QUOTA", 20 * 1024**3),
            blob_url=_blob_url(env, "MARID_BLOB_URL"),
        )
