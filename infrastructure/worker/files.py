"""Files into and out of a build's driver: its objects and SSH keys in, its artifacts out.

A file that cannot be placed or collected is reported in the build's log; it never fails
the build by itself.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from application.execution import RunJob
from application.ports import BlobInfo, BlobStore
from application.quotas import Room, size_text
from domain.builds import artifact_blob_key
from infrastructure.blobs import BlobTooLargeError
from infrastructure.drivers import Driver, DriverError

KEY_DIR = "/root/.ssh"  # where the build snapshot says keys go (Djinn's location)
SSH_OPTIONS = ("StrictHostKeyChecking no", "UserKnownHostsFile /dev/null")

Say = Callable[[str], None]


def place_objects(
    driver: Driver, objects: list[dict[str, Any]], blobs: BlobStore, say: Say
) -> None:
    """Place each object at its destination."""
    for obj in objects:
        name, destination = obj["name"], obj["destination"]
        try:
            with blobs.open(obj["blob"]) as data:
                driver.put_file(destination, data)
            say(f"Placed object {name} at {driver.resolve(destination)}")
        except FileNotFoundError:
            say(f"Failed to place object {name} at {destination}: its file is gone")
        except (DriverError, OSError) as exc:
            say(f"Failed to place object {name} at {destination}: {exc}")


def install_keys(driver: Driver, keys: list[dict[str, Any]], say: Say) -> None:
    """Keys go to `<build HOME>/.ssh` (mode 0600) with an ssh config that uses them."""
    if not keys:
        return
    key_dir = f"{driver.home}/.ssh"
    config = [*SSH_OPTIONS]
    host_blocks = []
    for key in keys:
        path = f"{key_dir}/{key['name']}"
        text = key["key"] if key["key"].endswith("\n") else key["key"] + "\n"
        try:
            driver.put_file(path, io.BytesIO(text.encode()), 0o600)
        except (DriverError, OSError) as exc:
            say(f"Failed to install key {key['name']}: {exc}")
            continue
        say(f"Installed key {key['name']} at {path}")
        config.append(f"IdentityFile {path}")
        if key["config"].strip():
            host_blocks.append(key["config"].replace(KEY_DIR, key_dir).rstrip("\n"))
    text = "\n".join([*config, *host_blocks]) + "\n"
    try:
        driver.put_file(f"{key_dir}/config", io.BytesIO(text.encode()), 0o600)
    except (DriverError, OSError) as exc:
        say(f"Failed to write ssh config: {exc}")


def collect_artifacts(
    driver: Driver,
    build_id: int,
    job: RunJob,
    blobs: BlobStore,
    record: Callable[[int, BlobInfo | None], None],
    say: Say,
    announce: Say,
    room: Room | None = None,
) -> None:
    """Store the job's artifacts and `record` each (None: not collected); what went wrong is
    said in the job's output, what was collected is `announce`d in the build's log.

    With a quota (`room`: the build owner's), the artifacts that fit are kept, in order,
    and each one that does not is said in the output and not collected."""
    for artifact in job.artifacts:
        source, key = artifact["source"], artifact_blob_key(build_id, artifact["id"])
        try:
            with driver.get_file(source) as chunks:
                info = blobs.put(key, chunks, None if room is None else room.left)
        except BlobTooLargeError:
            assert room is not None  # the only limit here
            say(
                f"Artifact {source} not kept: it does not fit in the owner's storage quota of "
                f"{size_text(room.limit)} ({size_text(room.used)} used, "
                f"{size_text(room.left)} left)"
            )
            record(artifact["id"], None)
            continue
        except (FileNotFoundError, NotADirectoryError):
            say(f"Artifact {source} not found, not collected")
            record(artifact["id"], None)
            continue
        except (DriverError, OSError) as exc:
            say(f"Artifact {source} not collected: {exc}")
            record(artifact["id"], None)
            continue
        record(artifact["id"], info)
        if room is not None:
            room = Room(room.limit, room.used + info.size)
        announce(f"Collected artifact {source} as {artifact['name']} ({info.size} bytes)")
