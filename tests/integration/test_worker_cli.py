"""`marid worker` arguments and the worker settings: bad values are one line and exit 2."""

from __future__ import annotations

from datetime import timedelta

import pytest

from infrastructure.settings import Settings, SettingsError, parse_duration
from ops.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--timeout", "soon"], "argument --timeout: not a duration like 30m, 90s or 1h: 'soon'"),
        (["--timeout", "30"], "argument --timeout: not a duration like 30m, 90s or 1h: '30'"),
        (["--lease", "0s"], "argument --lease: duration must be positive: '0s'"),
        (["--parallelism", "0"], "argument --parallelism: must be at least 1, not 0"),
        (["--parallelism", "two"], "argument --parallelism: not a whole number: 'two'"),
        (["--driver", "lxc"], "no such driver: lxc (one of os, ssh, docker, qemu)"),
    ],
)
def test_bad_worker_arguments_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["worker", *argv])

    assert exited.value.code == 2
    assert capsys.readouterr().err == f"marid: error: {message}\n"


def test_a_worker_needs_a_driver_it_implements(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARID_DRIVERS", "qemu-x86_64")

    with pytest.raises(SystemExit) as exited:
        main(["worker"])

    assert exited.value.code == 2
    assert "MARID_DRIVERS enables no driver a worker runs (os, ssh, docker, qemu)" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("90s", 90), ("1h", 3600), ("1h30m", 5400), ("1.5s", 1.5), ("250ms", 0.25)],
)
def test_durations_read_like_djinns(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_worker_settings_have_defaults_and_read_the_environment() -> None:
    default = Settings.from_env({})
    configured = Settings.from_env(
        {
            "MARID_RUN_WORKER": "false",
            "MARID_WORKER_PARALLELISM": "5",
            "MARID_WORKER_TIMEOUT": "1h",
            "MARID_WORKER_LEASE": "10s",
            "MARID_SSH_USER": "ci",
            "MARID_SSH_KEY": "/etc/marid/id_ed25519",
            "MARID_SSH_KNOWN_HOSTS": "/etc/marid/known_hosts",
            "MARID_SSH_HOST_KEY_POLICY": "accept-new",
        }
    )

    assert (default.run_worker, default.worker_parallelism) == (True, 2)
    assert (default.worker_timeout, default.worker_lease) == (
        timedelta(minutes=30),
        timedelta(seconds=30),
    )
    assert (default.ssh_user, default.ssh_key, default.ssh_host_key_policy) == (
        "root",
        None,
        "reject",
    )
    assert configured.run_worker is False
    assert configured.worker_parallelism == 5
    assert configured.worker_timeout == timedelta(hours=1)
    assert configured.worker_lease == timedelta(seconds=10)
    assert (configured.ssh_user, configured.ssh_key) == ("ci", "/etc/marid/id_ed25519")
    assert configured.ssh_known_hosts == "/etc/marid/known_hosts"
    assert configured.ssh_host_key_policy == "accept-new"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("MARID_WORKER_TIMEOUT", "forever"),
        ("MARID_WORKER_LEASE", "-1s"),
        ("MARID_WORKER_PARALLELISM", "0"),
        ("MARID_SSH_HOST_KEY_POLICY", "trust-me"),
    ],
)
def test_bad_worker_settings_are_refused(key: str, value: str) -> None:
    with pytest.raises(SettingsError, match=key):
        Settings.from_env({key: value})


@pytest.mark.parametrize(("answers", "drivers"), [(True, ("os", "docker")), (False, ("os",))])
def test_drivers_default_to_os_plus_docker_when_a_docker_daemon_answers(
    answers: bool, drivers: tuple[str, ...]
) -> None:
    settings = Settings.from_env({}, lambda env: answers, qemu_installed=lambda: False)
    assert settings.drivers == drivers
    assert Settings.from_env({}, lambda env: answers, lambda: True).drivers == (*drivers, "qemu")
    assert Settings.from_env({"MARID_DRIVERS": "ssh"}, docker_answers=lambda env: True).drivers == (
        "ssh",
    )


def test_docker_limits_have_defaults_and_read_the_environment() -> None:
    default = Settings.from_env({}, docker_answers=lambda env: False)
    configured = Settings.from_env(
        {
            "MARID_DOCKER_MEMORY": "512m",
            "MARID_DOCKER_CPUS": "1.5",
            "MARID_DOCKER_PIDS": "100",
            "MARID_DOCKER_NETWORK": "none",
        },
        docker_answers=lambda env: False,
    )
    unlimited = Settings.from_env(
        {"MARID_DOCKER_MEMORY": "0", "MARID_DOCKER_CPUS": "0", "MARID_DOCKER_PIDS": "0"},
        docker_answers=lambda env: False,
    )

    assert (default.docker_memory, default.docker_cpus, default.docker_pids) == (
        2 << 30,
        None,
        1024,
    )
    assert default.docker_network is None  # Docker's default bridge
    assert (configured.docker_memory, configured.docker_cpus) == (512 << 20, 1.5)
    assert (configured.docker_pids, configured.docker_network) == (100, "none")
    assert (unlimited.docker_memory, unlimited.docker_cpus, unlimited.docker_pids) == (None,) * 3


@pytest.mark.parametrize(
    ("key", "value"),
    [("MARID_DOCKER_MEMORY", "lots"), ("MARID_DOCKER_CPUS", "-1"), ("MARID_DOCKER_PIDS", "x")],
)
def test_bad_docker_settings_are_refused(key: str, value: str) -> None:
    with pytest.raises(SettingsError, match=key):
        Settings.from_env({key: value, "MARID_DRIVERS": "os"})
