"""The build manifest: a YAML document, validated into a value object.

YAML is the manifest's own format, so the domain parses it (safe loading only). Every
problem is reported under `manifest`, in the style of Djinn's messages. Just over 300
lines: one rule per manifest field, each beside its message; splitting them would scatter
the one format.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import yaml

from domain.errors import ValidationError

# The keys each driver requires. Djinn also requires docker's `workspace`; marid defaults
# it to /workspace, so that `driver: {type: docker, image: ...}` is enough.
DRIVER_KEYS: dict[str, tuple[str, ...]] = {
    "docker": ("image",),
    "qemu": ("image",),
    "ssh": ("address",),
    "os": (),
}
MAX_LENGTH = 256 * 1024
PREFIX = "Build manifest, "
REQUIRED = "Build manifest is required"
INVALID_DRIVER = "Build manifest, invalid driver specified"
LIST_FIELDS = ("env", "objects", "sources", "stages", "allow_failures")
KNOWN_FIELDS = ("namespace", "driver", "jobs", *LIST_FIELDS)
ENV_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SLUG_DROP_RE = re.compile(r"[^a-zA-Z0-9.]")


@dataclass(frozen=True)
class Passthrough:
    """`source => destination`; the destination defaults to the source's basename."""

    source: str
    destination: str

    @classmethod
    def parse(cls, text: str) -> Passthrough:
        source, arrow, destination = text.partition("=>")
        source, destination = source.strip(), destination.strip()
        if not arrow or not destination:
            destination = source.rstrip("/").rsplit("/", 1)[-1]
        return cls(source, destination)


@dataclass(frozen=True)
class Source:
    """A git repository to clone: `url [ref] [=> dir]`."""

    url: str
    ref: str
    dir: str

    @classmethod
    def parse(cls, text: str) -> Source:
        spec, arrow, directory = text.partition("=>")
        parts = spec.split()
        url = parts[0] if parts else ""
        ref = parts[1] if len(parts) > 1 else ""
        directory = directory.strip() if arrow else ""
        if not directory:
            last = url.rstrip("/").rsplit("/", 1)[-1]
            directory = last.removesuffix(".git")
        return cls(url, ref, directory)


@dataclass(frozen=True)
class JobSpec:
    stage: str
    name: str
    commands: tuple[str, ...]
    artifacts: tuple[Passthrough, ...]


@dataclass(frozen=True)
class Manifest:
    """A validated manifest; `text` is exactly what was submitted."""

    text: str
    namespace: str | None
    driver: tuple[tuple[str, str], ...]
    env: tuple[tuple[str, str], ...]
    objects: tuple[Passthrough, ...]
    sources: tuple[Source, ...]
    stages: tuple[str, ...]
    allow_failures: tuple[str, ...]
    jobs: tuple[JobSpec, ...]

    @property
    def driver_type(self) -> str:
        return dict(self.driver)["type"]

    @classmethod
    def parse(cls, text: str | None, enabled_drivers: Collection[str] | None = None) -> Manifest:
        """Validate `text`; raise ValidationError with every problem under `manifest`."""
        problems = _Problems()
        if text is None or not text.strip():
            raise ValidationError({"manifest": [REQUIRED]})
        if len(text) > MAX_LENGTH:
            raise ValidationError(
                {"manifest": [f"{PREFIX}cannot be longer than {MAX_LENGTH} characters"]}
            )
        data = _load(text)
        namespace = _optional_string(data, "namespace", problems)
        driver = _driver(data.get("driver"), enabled_drivers, problems)
        lists = {name: _string_list(data, name, problems) for name in LIST_FIELDS}
        env = _env(lists["env"], problems)
        stages = tuple(lists["stages"])
        for stage in lists["allow_failures"]:
            if stage not in stages:
                problems.add(f'allow_failures stage "{stage}" is not in stages')
        jobs = _jobs(data.get("jobs"), stages, problems)
        for unknown in sorted(set(data) - set(KNOWN_FIELDS)):
            problems.add(f'unknown field "{unknown}"')
        problems.raise_if_any()
        return cls(
            text=text,
            namespace=namespace,
            driver=driver,
            env=env,
            objects=tuple(Passthrough.parse(o) for o in lists["objects"]),
            sources=tuple(Source.parse(s) for s in lists["sources"]),
            stages=stages,
            allow_failures=tuple(lists["allow_failures"]),
            jobs=jobs,
        )


class _Problems:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, problem: str) -> None:
        self.messages.append(PREFIX + problem)

    def raise_if_any(self) -> None:
        if self.messages:
            raise ValidationError({"manifest": self.messages})


def is_blank(text: str | None) -> bool:
    """Whether a manifest says nothing: empty, or a document whose fields are all empty.

    Djinn's own client sends a cron's unchanged manifest as the zero value of its manifest
    type (`namespace: ""`, `driver: {}`, `env: []`, ...): such a text keeps the manifest.
    """
    if text is None or not text.strip():
        return True
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, RecursionError):
        return False
    return data is None or (isinstance(data, dict) and all(_empty(v) for v in data.values()))


def _empty(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_empty(v) for v in value.values())
    if isinstance(value, list):
        return all(_empty(v) for v in value)
    return value in (None, "", False, 0)


def _load(text: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise ValidationError({"manifest": [f"{PREFIX}invalid YAML: {problem}{where}"]}) from None
    except (ValueError, RecursionError):  # e.g. out-of-range dates, absurd nesting
        raise ValidationError({"manifest": [f"{PREFIX}invalid YAML"]}) from None
    if data is None:
        raise ValidationError({"manifest": [REQUIRED]})
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise ValidationError({"manifest": [f"{PREFIX}must be a mapping of fields"]})
    return data


def _scalar(value: Any) -> str | None:
    """A YAML scalar as text (`1.0` -> "1.0"); None for lists, maps and nulls."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def _optional_string(data: dict[str, Any], name: str, problems: _Problems) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    text = _scalar(value)
    if text is None:
        problems.add(f"{name} must be a string")
    return text


def _string_list(data: dict[str, Any], name: str, problems: _Problems) -> list[str]:
    value = data.get(name)
    if value is None:
        return []
    items = [_scalar(v) for v in value] if isinstance(value, list) else None
    if items is None or any(item is None for item in items):
        problems.add(f"{name} must be a list of strings")
        return []
    return [item for item in items if item is not None]


def _driver(
    value: Any, enabled: Collection[str] | None, problems: _Problems
) -> tuple[tuple[str, str], ...]:
    if value is None:
        problems.add("driver is required")
        return ()
    if not isinstance(value, dict):
        problems.add("driver must be a mapping")
        return ()
    driver = {str(k): _scalar(v) for k, v in value.items()}
    if any(v is None for v in driver.values()):
        problems.add("driver values must be strings")
        return ()
    kind = driver.get("type") or ""
    if kind not in DRIVER_KEYS:
        problems.messages.append(INVALID_DRIVER)
        return ()
    for key in DRIVER_KEYS[kind]:
        if not driver.get(key):
            problems.add(f"driver {kind} requires {key}")
    if enabled is not None and kind not in enabled:
        problems.add(f"driver {kind} is not enabled on this server")
    return tuple(sorted((k, v) for k, v in driver.items() if v is not None))


def _env(items: list[str], problems: _Problems) -> tuple[tuple[str, str], ...]:
    env = []
    for position, item in enumerate(items, start=1):
        key, sep, value = item.partition("=")
        if not sep or not ENV_KEY_RE.fullmatch(key):
            problems.add(f'env item {position} must be KEY=value with a valid key, not "{item}"')
            continue
        env.append((key, value))
    return tuple(env)


def _jobs(value: Any, stages: tuple[str, ...], problems: _Problems) -> tuple[JobSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.add("jobs must be a list of jobs")
        return ()
    jobs: list[JobSpec] = []
    counts: dict[str, int] = {}
    previous_stage = None
    for position, job in enumerate(value, start=1):
        if not isinstance(job, dict):
            problems.add(f"job {position} must be a mapping")
            continue
        stage = _scalar(job.get("stage")) or ""
        if stage not in stages:
            problems.add(f'job {position} has stage "{stage}" that is not in stages')
        commands = _string_list(job, "commands", _Scoped(problems, f"job {position} "))
        artifacts = _string_list(job, "artifacts", _Scoped(problems, f"job {position} "))
        counts[stage] = counts.get(stage, 0) + 1 if stage == previous_stage else 1
        previous_stage = stage
        name = _scalar(job.get("name")) or f"{stage}.{counts[stage]}"
        jobs.append(
            JobSpec(
                stage=stage,
                name=slugify(name),
                commands=tuple(commands),
                artifacts=tuple(Passthrough.parse(a) for a in artifacts),
            )
        )
    return tuple(jobs)


class _Scoped(_Problems):
    """Problems about one job, prefixed with which job."""

    def __init__(self, parent: _Problems, scope: str) -> None:
        super().__init__()
        self.parent = parent
        self.scope = scope

    def add(self, problem: str) -> None:
        self.parent.add(self.scope + problem)


def slugify(name: str) -> str:
    """Djinn's job names: anything but letters, digits and dots becomes `-`, lowercased."""
    slug = SLUG_DROP_RE.sub("-", name.strip())
    slug = re.sub(r"-+", "-", slug).strip("-")
    return slug.lower()
