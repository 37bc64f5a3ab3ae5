"""Builds on the qemu driver through the API, in real VMs booted from the test image
(`tests/qemu_support.py`). A boot takes ~20 s under TCG, so each test boots few VMs and
checks much in each."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import timedelta

import pytest

from infrastructure.bootstrap import Marid
from infrastructure.drivers.qemu_vm import probe_kvm
from infrastructure.settings import Settings
from infrastructure.worker import Worker, WorkerConfig
from tests.helpers import Auth, Client
from tests.qemu_support import BootImage, boot_image
from tests.worker_support import finished, jobs, manifest, submit, until

SECRET = "s3cr3t-value-for-masking"
BOOT = 150.0  # seconds a build may take to end, boots included


@pytest.fixture(scope="session")
def image() -> BootImage:
    return boot_image()


@pytest.fixture
def settings(settings: Settings, image: BootImage) -> Settings:
    return dataclasses.replace(
        settings,
        drivers=("os", "qemu"),
        qemu_images=image.base_dir,
        qemu_key=str(image.key),
        qemu_memory=256 * 1024**2,
        qemu_boot_timeout=120.0,
    )


def start_worker(marid: Marid, parallelism: int = 1) -> Worker:
    config = WorkerConfig(
        name="qemu-test",
        parallelism=parallelism,
        timeout=timedelta(seconds=240),
        lease=timedelta(seconds=10),
        sweep_interval=0.3,
    )
    return marid.start_worker(config, ("qemu",))


def qemu(image: str = "test") -> dict[str, str]:
    return {"type": "qemu", "image": image, "arch": "x86_64"}


def setup_output(client: Client, auth: Auth, number: int) -> str:
    return str(jobs(client, auth, number)["create-driver"]["output"])


def nothing_left(settings: Settings) -> None:
    """Every build's directory (overlay, image link, qemu's messages) is gone."""
    work = settings.data_dir / "qemu"
    assert not work.exists() or not any(work.iterdir())


def test_a_build_runs_its_stages_in_a_vm(
    client: Client, alice: Auth, marid: Marid, settings: Settings, image: BootImage
) -> None:
    before = hashlib.sha256(image.qcow2.read_bytes()).hexdigest()
    headers = {**alice, "Content-Type": "application/octet-stream"}
    upload = client.post(
        "/api/objects", params={"name": "data"}, content=b"an object\n", headers=headers
    )
    assert upload.status_code == 201, upload.text
    variable = {"key": "TOKEN", "value": SECRET, "mask": True}
    assert client.post("/api/variables", json=variable, headers=alice).status_code == 201
    start_worker(marid)
    text = manifest(
        [
            {
                "stage": "make",
                "name": "make",
                "commands": ["cat data.txt", "echo token=$TOKEN", "uname -m > arch.txt", "id -u"],
                "artifacts": ["arch.txt", "missing.txt"],
            },
            {"stage": "flaky", "name": "flaky", "commands": ["exit 3"]},
            {"stage": "final", "name": "final", "commands": ["echo failing", "false"]},
            {"stage": "never", "name": "never", "commands": ["echo never"]},
        ],
        driver=qemu(),
        objects=["data => data.txt"],
        allow_failures=["flaky"],
    )

    submit(client, alice, text)
    got = finished(client, alice, 1, timeout=BOOT)

    by_name = jobs(client, alice, 1)
    setup = setup_output(client, alice, 1)
    assert got["status"] == "failed", got["output"]
    assert "Running with qemu driver..." in setup
    assert "Booting image test (x86_64, " in setup
    assert ("Using TCG" in setup) is (not probe_kvm())
    assert "Logged in to the VM as root" in setup
    assert "Placed object data at " in setup
    make = by_name["make"]["output"]
    assert "an object\n" in make
    assert "token=xxxxxx\n" in make
    assert SECRET not in got["output"] + make
    assert "+ id -u\n0\nArtifact missing.txt not found" in make
    assert (by_name["make"]["status"], by_name["flaky"]["status"]) == (
        "passed",
        "passed_with_failures",
    )
    assert by_name["final"]["status"] == "failed"
    assert "Running job never" not in got["output"]  # after a failed stage, nothing runs
    assert by_name["final"]["output"].endswith("+ false\n")
    arch = client.get(
        "/api/b/alice/1/artifacts/arch.txt", headers={**alice, "Accept": "application/octet-stream"}
    )
    assert arch.content == b"x86_64\n"
    assert hashlib.sha256(image.qcow2.read_bytes()).hexdigest() == before
    nothing_left(settings)


def test_a_kill_ends_the_vm_and_an_unknown_image_fails_the_build(
    client: Client, alice: Auth, marid: Marid, settings: Settings
) -> None:
    start_worker(marid)
    submit(
        client, alice, manifest([{"stage": "s", "commands": ["echo nope"]}], driver=qemu("nope"))
    )
    submit(
        client,
        alice,
        manifest([{"stage": "s", "name": "long", "commands": ["sleep 600"]}], driver=qemu()),
    )

    unknown = finished(client, alice, 1, timeout=BOOT)
    assert unknown["status"] == "failed"
    assert "couldn't find image nope" in setup_output(client, alice, 1)
    until(lambda: jobs(client, alice, 2)["long"]["status"] == "running", BOOT, "the job to run")
    assert client.delete("/api/b/alice/2", headers=alice).status_code == 204
    killed = finished(client, alice, 2, timeout=30)
    assert killed["status"] == "killed"
    nothing_left(settings)


def test_a_vm_that_does_not_answer_in_time_fails_the_build(
    client: Client, alice: Auth, marid: Marid, settings: Settings
) -> None:
    marid.settings = dataclasses.replace(settings, qemu_boot_timeout=1.0)
    start_worker(marid)
    submit(client, alice, manifest([{"stage": "s", "commands": ["true"]}], driver=qemu()))

    got = finished(client, alice, 1, timeout=60)

    assert got["status"] == "failed"
    assert "the VM did not answer on SSH within 1s" in setup_output(client, alice, 1)
    nothing_left(settings)


def test_an_uploaded_image_runs_two_builds_at_once(
    client: Client, alice: Auth, marid: Marid, settings: Settings, image: BootImage
) -> None:
    headers = {**alice, "Content-Type": "application/x-qemu-disk"}
    params = {"name": "mine", "namespace": "proj"}
    upload = client.post(
        "/api/images", params=params, content=image.qcow2.read_bytes(), headers=headers
    )
    assert upload.status_code == 201, upload.text
    start_worker(marid, parallelism=2)
    job = {"stage": "s", "name": "wait", "commands": ["sleep 4", "echo done"]}
    for _ in range(2):
        submit(client, alice, manifest([job], driver=qemu("mine"), namespace="proj"))
    # Outside the namespace, the name is unknown (the base images have no `mine`).
    submit(client, alice, manifest([job], driver=qemu("mine")))

    ends = [finished(client, alice, n, timeout=2 * BOOT) for n in (1, 2, 3)]

    assert [e["status"] for e in ends] == ["passed", "passed", "failed"]
    assert "couldn't find image mine" in setup_output(client, alice, 3)
    ports = {
        setup_output(client, alice, n).split("SSH on 127.0.0.1:")[1].split(")")[0] for n in (1, 2)
    }
    assert len(ports) == 2
    first, second = (jobs(client, alice, n)["wait"] for n in (1, 2))
    assert first["started_at"] < second["finished_at"]
    assert second["started_at"] < first["finished_at"]
    nothing_left(settings)
