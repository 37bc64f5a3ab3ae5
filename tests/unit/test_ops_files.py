"""The deployment files under ops/: the compose file, the Dockerfile and the systemd units
run real marid commands with settings marid knows. No image registry is reachable here, so
the compose file is checked as data (and by `docker compose config` where the plugin is
installed), the units by `systemd-analyze verify` where it is installed."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from infrastructure.settings import Settings
from ops.cli import HANDLERS
from ops.parser import build_parser

ROOT = Path(__file__).resolve().parents[2]
OPS = ROOT / "ops"
UNITS = sorted((OPS / "systemd").glob("*.service"))
MARID = "/opt/marid/.venv/bin/marid"
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


class ReadKeys(dict[str, str]):
    """An environment that remembers every variable marid asked for."""

    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)


def assert_known_settings(env: Mapping[str, str]) -> None:
    """Every MARID_ variable in `env` is one marid reads, and its value is valid."""
    reading = ReadKeys(env)
    Settings.from_env(reading, docker_answers=lambda _: False, qemu_installed=lambda: False)
    unknown = {k for k in env if k.startswith("MARID_")} - reading.read
    assert not unknown, f"not marid settings: {sorted(unknown)}"


def assert_marid_command(argv: list[str]) -> None:
    """`marid ARGV` parses (a bad command or flag exits 2) and names a command marid runs."""
    args = build_parser().parse_args(argv)
    assert args.command in HANDLERS


def interpolated(value: str) -> str:
    """A compose value as docker compose would pass it, required variables made up."""

    def substitute(match: re.Match[str]) -> str:
        kind, word = match[2], match[3]
        return word if kind == "-" else "x" * 64

    return INTERPOLATION.sub(substitute, value).replace("$$", "$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((OPS / "compose.yaml").read_text())
    return loaded


def marid_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items() if s.get("image") == "marid:local"}


def test_compose_runs_two_api_nodes_a_runner_a_worker_a_scheduler_and_webhooks(
    compose: dict[str, Any],
) -> None:
    commands = {n: s["command"] for n, s in marid_services(compose).items()}

    assert sorted(commands) == ["api-1", "api-2", "projections", "scheduler", "webhooks", "worker"]
    for argv in commands.values():
        assert_marid_command(argv)
    assert commands["api-1"][:2] == ["serve", "--api-only"]
    assert commands["api-2"][:2] == ["serve", "--api-only"]
    assert commands["projections"] == ["projections", "run"]
    assert commands["worker"][0] == "worker"
    assert commands["scheduler"] == ["scheduler"]
    assert commands["webhooks"] == ["webhooks", "run"]


def test_compose_services_share_database_store_and_key(compose: dict[str, Any]) -> None:
    services = compose["services"]
    shared = ("MARID_DATABASE_URL", "MARID_BLOB_URL", "MARID_SECRET_KEY", "AWS_ENDPOINT_URL")
    first: dict[str, str] | None = None

    for name, service in marid_services(compose).items():
        env = {k: interpolated(str(v)) for k, v in service["environment"].items()}
        assert_known_settings(env)
        mine = {k: env[k] for k in (*shared, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
        first = first or mine
        assert mine == first, name
        assert set(service["depends_on"]) == {"postgres", "bucket"}, name
        assert service["volumes"] == [f"{name}:/var/lib/marid"], name  # a data dir of its own
        assert service["build"]["dockerfile"] == "ops/Dockerfile"
    assert first is not None
    bucket = first["MARID_BLOB_URL"].removeprefix("s3://").split("/")[0]
    assert f"mb --ignore-existing store/{bucket}" in services["bucket"]["entrypoint"][-1]
    assert first["AWS_ENDPOINT_URL"] == "http://minio:9000"
    assert "@postgres:5432/" in first["MARID_DATABASE_URL"]
    assert first["AWS_SECRET_ACCESS_KEY"] == interpolated(
        services["minio"]["environment"]["MINIO_ROOT_PASSWORD"]
    )


def test_compose_api_nodes_publish_the_port_they_listen_on(compose: dict[str, Any]) -> None:
    for name in ("api-1", "api-2"):
        service = compose["services"][name]
        port = service["command"][service["command"].index("--port") + 1]
        assert [p.split(":")[1] for p in service["ports"]] == [port]


def test_compose_file_is_valid_for_docker_compose_where_installed() -> None:
    docker = shutil.which("docker")
    if (
        docker is None
        or subprocess.run([docker, "compose", "version"], capture_output=True).returncode
    ):
        return  # the plugin is not installed here: the checks above stand alone
    result = subprocess.run(
        [docker, "compose", "-f", str(OPS / "compose.yaml"), "config", "--quiet"],
        capture_output=True, text=True, env={"MARID_SECRET_KEY": "x" * 64, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_dockerfile_installs_the_lock_file_and_every_package() -> None:
    text = (OPS / "Dockerfile").read_text()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    ]

    assert "--require-hashes" in text
    assert "-r requirements.lock" in text
    for package in packages:
        assert f"COPY {package} {package}\n" in text, package
    assert 'ENTRYPOINT ["marid"]' in text
    cmd = re.search(r"^CMD (\[.*\])$", text, re.MULTILINE)
    assert cmd is not None
    assert_marid_command(yaml.safe_load(cmd[1]))


def unit(path: Path) -> dict[str, dict[str, str]]:
    """A unit file's sections and keys (each key appears once in ours)."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        elif line and not line.startswith("#"):
            key, _, value = line.partition("=")
            assert key not in current, f"{path.name}: {key} twice"
            current[key] = value
    return sections


def test_units_run_marid_commands_with_known_settings() -> None:
    names = [path.name for path in UNITS]
    assert names == [
        "marid-api@.service",
        "marid-projections.service",
        "marid-scheduler.service",
        "marid-webhooks.service",
        "marid-worker.service",
    ]
    for path in UNITS:
        service = unit(path)["Service"]
        argv = shlex.split(service["ExecStart"].replace("%i", "8000"))
        assert argv[0] == MARID, path.name
        assert_marid_command(argv[1:])
        assert service["EnvironmentFile"] == "/etc/marid/marid.env"
        assert service["Restart"] == "on-failure"
        key, _, value = service["Environment"].partition("=")
        assert key == "MARID_DATA_DIR"
        assert value.startswith("/var/lib/marid/")
        assert_known_settings({key: value})


def test_units_are_hardened_except_where_builds_need_root() -> None:
    for path in UNITS:
        service = unit(path)["Service"]
        if path.name == "marid-worker.service":
            assert service["User"] == "root"  # os jobs switch to the build user
            assert service["PrivateTmp"] == "yes"
            continue
        assert (service["User"], service["Group"]) == ("marid", "marid"), path.name
        assert service["NoNewPrivileges"] == "yes"
        assert service["ProtectSystem"] == "strict"
        data_dir = service["Environment"].removeprefix("MARID_DATA_DIR=/var/lib/")
        assert data_dir.replace("%i", "8000") in service["StateDirectory"].replace("%i", "8000")


def test_example_environment_file_holds_known_settings() -> None:
    lines = (OPS / "systemd" / "marid.env.example").read_text().splitlines()
    env = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))

    assert_known_settings(env)
    assert {"MARID_DATABASE_URL", "MARID_SECRET_KEY", "MARID_BLOB_URL", "AWS_ENDPOINT_URL"} <= set(
        env
    )


def test_units_pass_systemd_analyze_verify_where_installed(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return  # not installed here: the checks above stand alone
    marid = str(Path(sys.executable).with_name("marid"))
    names = []
    for path in UNITS:  # as installed: marid where it is here, the environment file optional
        text = path.read_text().replace(MARID, marid)
        text = text.replace("EnvironmentFile=/", "EnvironmentFile=-/")
        name = path.name.replace("@.", "@8000.")
        (tmp_path / name).write_text(text)
        names.append(name)
    result = subprocess.run(
        [analyze, "verify", "--man=no", *names], cwd=tmp_path, capture_output=True, text=True
    )

    assert result.returncode == 0, result.stderr
    assert not [line for line in result.stderr.splitlines() if ".service" in line], result.stderr
