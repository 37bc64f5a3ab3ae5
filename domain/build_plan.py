"""What a build runs, fixed at submit time from its manifest: stages, jobs, artifact keys."""

from __future__ import annotations

from typing import Any

from domain.manifest import Manifest


def artifact_blob_key(build_id: int, artifact_id: int) -> str:
    """Where a collected artifact's content is stored."""
    return f"artifacts/{build_id}/{artifact_id}"


def plan(manifest: Manifest, number: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The stages and jobs a build runs: the setup stage first, then the manifest's.

    Setup has `create-driver` and one `clone.<i>` per source. Jobs carry their artifact
    placeholders; ids are assigned by the caller.
    """
    setup = f"setup - #{number}"
    stages = [{"name": setup, "can_fail": False}]
    stages += [{"name": s, "can_fail": s in manifest.allow_failures} for s in manifest.stages]
    jobs: list[dict[str, Any]] = [
        {"stage": setup, "name": "create-driver", "commands": [], "artifacts": []}
    ]
    for i, source in enumerate(manifest.sources):
        commands = [f"mkdir -p {source.dir}", f"git clone -q {source.url} {source.dir}"]
        commands += [f"cd {source.dir}"]
        if source.ref:
            commands.append(f"git checkout -q {source.ref}")
        jobs.append({"stage": setup, "name": f"clone.{i}", "commands": commands, "artifacts": []})
    for job in manifest.jobs:
        artifacts = [{"source": a.source, "name": a.destination} for a in job.artifacts]
        jobs.append(
            {
                "stage": job.stage,
                "name": job.name,
                "commands": list(job.commands),
                "artifacts": artifacts,
            }
        )
    return stages, jobs
