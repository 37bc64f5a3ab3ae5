"""The docker driver against a real Docker daemon: builds submitted over HTTP and run by a
worker in this process, each job in a fresh container of an offline busybox image."""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from docker.errors import NotFound

from infrastructure.bootstrap import Marid
from infrastructure.drivers.base import Cancel, job_script
from infrastructure.drivers.docker import DockerDriver, DockerOptions
from infrastructure.drivers.docker_daemon import OWNER, Leftovers, connect, process_owner
from infrastructure.settings import Settings
from infrastructure.worker import Worker, WorkerConfig
from tests.conftest import Users
from tests.docker_support import ensure_image, nothing_left, ours, require_docker, running
from tests.helpers import Auth, Client
from tests.unit.test_keys import ed25519_key
from tests.worker_support import all_output, finished, job_output, jobs, manifest, submit, until

SECRET = "d0cker-s3cr3t-value"
OPTIONS = DockerOptions(memory=256 * 1024**2, pids=256, network="none")


@pytest.fixture(scope="module")
def image() -> str:
    require_docker()
    return ensure_image()


def docker(image: str, **fields: str) -> dict[str, str]:
    return {"type": "docker", "image": image, **fields}


@pytest.fixture
def settings(settings: Settings, image: str) -> Settings:
    return replace(
        settings,
        drivers=("os", "docker"),
        docker_network="none",
        docker_memory=256 * 1024**2,
        docker_pids=256,
    )


@pytest.fixture
def alice(users: Users) -> Auth:
    return users.create("alice")[1]


@pytest.fixture
def start_worker(marid: Marid) -> Callable[..., Worker]:
    def start(**config: Any) -> Worker:
        defaults: dict[str, Any] = {
            "name": "docker-test",
            "timeout": timedelta(seconds=60),
            "lease": timedelta(seconds=3),
            "sweep_interval": 0.3,
        }
        return marid.start_worker(WorkerConfig(**(defaults | config)), ("docker",))

    return start


@pytest.fixture
def worker(start_worker: Callable[..., Worker]) -> Worker:
    return start_worker()


def test_a_build_runs_job_after_job_in_containers_sharing_the_workspace(
    client: Client, alice: Auth, marid: Marid, image: str, worker: Worker
) -> None:
    assert client.post(
        "/api/variables", json={"key": "TOKEN", "value": SECRET, "mask": True}, headers=alice
    ).is_success
    upload = client.post(
        "/api/objects", params={"name": "input.txt"}, content=b"placed object\n", headers=alice
    )
    assert upload.status_code == 201, upload.text
    text = manifest(
        [
            {
                "stage": "make",
                "commands": ['echo "token $TOKEN"', "cat in/input.txt", "hostname > made.txt"],
            },
            {
                "stage": "check",
                "commands": ["pwd", "cat made.txt", 'test "$(hostname)" != "$(cat made.txt)"'],
            },
        ],
        driver=docker(image),
        objects=["input.txt => in/input.txt"],
        env=["GREETING=hello there"],
    )

    created = submit(client, alice, text)
    result = finished(client, alice, 1)

    build_log = marid.build_logs.text(created["id"], 0)
    assert result["status"] == "passed", build_log
    make = job_output(marid, created["id"], "make.1")
    assert make.startswith("+ echo 'token xxxxxx'\ntoken xxxxxx\n")
    assert "placed object\n" in make
    check = job_output(marid, created["id"], "check.1")
    assert check.startswith("+ pwd\n/workspace\n")  # the default workspace
    assert not any(SECRET in chunk for chunk in all_output(marid))
    setup = job_output(marid, created["id"], "create-driver")
    assert f"Running with docker driver, image {image}" in setup
    assert "Placed object input.txt at /workspace/in/input.txt" in setup
    assert "Pulling image" not in setup  # it is there already
    assert nothing_left()


def test_the_environment_is_the_builds_variables_over_the_images(
    client: Client, alice: Auth, marid: Marid, image: str, worker: Worker
) -> None:
    text = manifest(
        [{"stage": "s", "commands": ["set +x", "env | sort", "echo $PATH"]}],
        driver=docker(image, workspace="/src/app"),
        env=["GREETING=hello there"],
    )

    created = submit(client, alice, text)
    result = finished(client, alice, 1)

    assert result["status"] == "passed"
    output = job_output(marid, created["id"], "s.1")
    assert "GREETING=hello there\n" in output
    assert "PWD=/src/app\n" in output
    assert "MARID" not in output  # nothing of the worker's own environment
    assert "/usr/bin:" in output  # the image's PATH


def test_ssh_keys_are_installed_in_the_home_volume_with_a_config(
    client: Client, alice: Auth, marid: Marid, image: str, worker: Worker
) -> None:
    response = client.post(
        "/api/keys",
        json={"name": "deploy", "key": ed25519_key(), "config": "Host example\n  User git"},
        headers=alice,
    )
    assert response.status_code == 201, response.text
    commands = [
        "stat -c %a /root/.ssh/deploy",
        "cat /root/.ssh/config",
        'echo "$GIT_SSH_COMMAND"',
    ]

    created = submit(
        client, alice, manifest([{"stage": "s", "commands": commands}], driver=docker(image))
    )
    result = finished(client, alice, 1)

    assert result["status"] == "passed"
    output = job_output(marid, created["id"], "s.1")
    assert "\n600\n" in output
    assert "StrictHostKeyChecking no\nUserKnownHostsFile /dev/null\n" in output
    assert "IdentityFile /root/.ssh/deploy\n" in output
    assert "Host example\n  User git\n" in output
    assert "\nssh -F /root/.ssh/config\n" in output


def test_artifacts_are_copied_out_of_the_jobs_container(
    client: Client, alice: Auth, marid: Marid, image: str, worker: Worker
) -> None:
    content = "".join(f"{i}\n" for i in range(1, 5001)).encode()
    text = manifest(
        [
            {
                "stage": "s",
                "commands": [
                    "mkdir -p out && seq 1 5000 > out/all.txt",
                    "mkdir -p /opt && echo abs > /opt/abs.txt",
                ],
                "artifacts": [
                    "out/all.txt => all.txt",
                    "/opt/abs.txt",
                    "missing.txt",
                    "out => a-directory",
                ],
            }
        ],
        driver=docker(image),
    )

    created = submit(client, alice, text)
    result = finished(client, alice, 1)

    assert result["status"] == "passed"
    found = {a["name"]: a for a in client.get("/api/b/alice/1/artifacts", headers=alice).json()}
    assert found["all.txt"]["size"] == len(content)
    assert found["all.txt"]["md5"] == hashlib.md5(content).hexdigest()  # noqa: S324 - a digest field
    assert found["all.txt"]["sha256"] == hashlib.sha256(content).hexdigest()
    assert found["abs.txt"]["sha256"] == hashlib.sha256(b"abs\n").hexdigest()
    assert found["missing.txt"]["size"] is None
    assert found["a-directory"]["size"] is None
    binary = {"Accept": "application/octet-stream"}
    download = client.get("/api/b/alice/1/artifacts/all.txt", headers=alice | binary)
    assert download.content == content
    assert "Artifact missing.txt not found" in job_output(marid, created["id"], "s.1")


def test_a_failing_job_fails_the_build_and_later_jobs_never_run(
    client: Client, alice: Auth, marid: Marid, image: str, worker: Worker
) -> None:
    text = manifest(
        [
            {"stage": "a", "name": "bad", "commands": ["echo before", "exit 3", "echo after"]},
            {"stage": "b", "name": "later", "commands": ["echo never"]},
        ],
        driver=docker(image),
    )

    created = submit(client, alice, text)
    result = finished(client, alice, 1)

    assert result["status"] == "failed"
    found = jobs(client, alice, 1)
    assert (found["bad"]["status"], found["later"]["status"]) == ("failed", "failed")
    assert job_output(marid, created["id"], "bad") == "+ echo before\nbefore\n+ exit 3\n"
    assert "Job bad failed (exit status 3)" in marid.build_logs.text(created["id"], 0)
    assert nothing_left()


def test_killing_a_build_stops_its_container_within_seconds_and_leaves_nothing(
    client: Client, alice: Auth, marid: Marid, image: str, worker: Worker
) -> None:
    text = manifest(
        [{"stage": "s", "name": "long", "commands": ["echo started", "sleep 600"]}],
        driver=docker(image),
    )
    created = submit(client, alice, text)
    until(lambda: "started" in job_output(marid, created["id"], "long"), 30, "the job to start")

    asked = time.monotonic()
    response = client.delete("/api/b/alice/1", headers=alice)
    result = finished(client, alice, 1, timeout=15)
    took = time.monotonic() - asked

    assert response.status_code == 204
    assert result["status"] == "killed"
    assert took < 5, took
    assert jobs(client, alice, 1)["long"]["status"] == "killed"
    until(nothing_left, 10, "the build's containers and volumes to be removed")


def test_a_build_past_the_timeout_ends_timed_out_and_leaves_nothing(
    client: Client, alice: Auth, image: str, start_worker: Callable[..., Worker]
) -> None:
    start_worker(timeout=timedelta(seconds=4))
    slow = {"stage": "s", "name": "slow", "commands": ["sleep 600"]}
    text = manifest([slow], driver=docker(image))

    submit(client, alice, text)
    result = finished(client, alice, 1, timeout=20)

    assert result["status"] == "timed_out"
    assert jobs(client, alice, 1)["slow"]["status"] == "timed_out"
    until(nothing_left, 10, "the build's containers and volumes to be removed")


def test_a_missing_image_fails_the_build_at_create_driver_with_the_reason(
    client: Client, alice: Auth, marid: Marid, image: str, worker: Worker
) -> None:
    missing = "marid-test/no-such-image:1"
    text = manifest([{"stage": "s", "commands": ["true"]}], driver=docker(missing))

    created = submit(client, alice, text)
    result = finished(client, alice, 1, timeout=60)

    assert result["status"] == "failed"
    found = jobs(client, alice, 1)
    assert (found["create-driver"]["status"], found["s.1"]["status"]) == ("failed", "failed")
    setup = job_output(marid, created["id"], "create-driver")
    assert f"Pulling image {missing}...\n" in setup
    assert f"Failed to create driver: cannot pull image {missing}: " in setup
    assert nothing_left()


def test_files_go_into_the_volumes_and_nowhere_else(image: str) -> None:
    driver = DockerDriver({"image": image}, OPTIONS)
    driver.create(lambda _: None)
    try:
        driver.put_file("/root/.ssh/key", io.BytesIO(b"secret\n"), 0o600)
        driver.put_file("deep/er/file.txt", io.BytesIO(b"data\n"))
        with pytest.raises(Exception, match="outside the build's volumes"):
            driver.put_file("/etc/escape", io.BytesIO(b"x"))
        out: list[bytes] = []
        code = driver.run(
            job_script(["stat -c %a /root/.ssh/key", "cat deep/er/file.txt", "mkfifo pipe"]),
            {},
            out.append,
            Cancel(),
        )
        with pytest.raises(FileNotFoundError), driver.get_file("pipe"):
            pass
    finally:
        driver.destroy()

    assert code == 0
    assert b"\n600\n" in b"".join(out)
    assert b"\ndata\n" in b"".join(out)
    assert nothing_left()


def test_leftovers_of_dead_workers_are_removed_and_live_ones_kept(image: str) -> None:
    dead = process_owner().rsplit(":", 2)[0] + ":999999999:1"  # no such pid here
    client = connect(30)
    try:
        client.volumes.create(name=f"marid-test-dead-{os.getpid()}", labels={OWNER: dead})
        client.volumes.create(
            name=f"marid-test-live-{os.getpid()}", labels={OWNER: process_owner()}
        )

        Leftovers()()  # (a worker of a parallel test process may sweep them first)

        assert not ours(dead)["volumes"]
        assert [v["Name"] for v in ours()["volumes"]] == [f"marid-test-live-{os.getpid()}"]
    finally:
        for name in (f"marid-test-dead-{os.getpid()}", f"marid-test-live-{os.getpid()}"):
            with suppress(NotFound):  # the test removed it
                client.api.remove_volume(name, force=True)
        client.close()
    assert not running()


def test_an_images_entrypoint_does_not_take_the_jobs_script(image: str) -> None:
    client = connect(30)
    made = client.containers.create(image, ["true"])
    made.commit("marid-test/entrypoint", "latest", conf={"Entrypoint": ["/bin/echo", "ENTRY"]})
    made.remove()
    driver = DockerDriver({"image": "marid-test/entrypoint:latest"}, OPTIONS)
    out: list[bytes] = []
    try:
        driver.create(lambda _: None)
        code = driver.run(job_script(["echo job"]), {}, out.append, Cancel())
    finally:
        driver.destroy()
        client.images.remove("marid-test/entrypoint:latest")
        client.close()

    assert (code, b"".join(out)) == (0, b"+ echo job\njob\n")
