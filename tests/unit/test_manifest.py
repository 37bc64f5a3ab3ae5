"""The build manifest: every rule, every message, and odd YAML."""

from __future__ import annotations

import pytest

from domain.errors import ValidationError
from domain.manifest import (
    INVALID_DRIVER,
    REQUIRED,
    Manifest,
    Passthrough,
    Source,
    slugify,
)

GOOD = """
namespace: djinn/sub@alice
driver:
  type: docker
  image: golang
  workspace: /go/src
env:
- LDFLAGS=-s -w
- EMPTY=
objects:
- data.tar => /opt/data.tar
- config.json
sources:
- https://github.com/djinn-ci/djinn.git v1.0 => src
- https://example.com/repo
stages:
- setup
- make
allow_failures:
- make
jobs:
- stage: setup
  commands:
  - cd src
- stage: make
  name: Build Binary!
  commands:
  - ./make.sh
  artifacts:
  - bin/djinn
  - bin/server => server-binary
- stage: make
  commands: [true]
"""


def problems(text: str | None, enabled: tuple[str, ...] | None = None) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        Manifest.parse(text, enabled)
    assert list(caught.value.fields) == ["manifest"]
    return caught.value.fields["manifest"]


def test_a_complete_manifest_parses_into_its_parts() -> None:
    manifest = Manifest.parse(GOOD, ("docker", "os"))

    assert manifest.text == GOOD
    assert manifest.namespace == "djinn/sub@alice"
    assert manifest.driver_type == "docker"
    assert dict(manifest.driver) == {"type": "docker", "image": "golang", "workspace": "/go/src"}
    assert manifest.env == (("LDFLAGS", "-s -w"), ("EMPTY", ""))
    assert manifest.objects == (
        Passthrough("data.tar", "/opt/data.tar"),
        Passthrough("config.json", "config.json"),
    )
    assert manifest.sources == (
        Source("https://github.com/djinn-ci/djinn.git", "v1.0", "src"),
        Source("https://example.com/repo", "", "repo"),
    )
    assert manifest.stages == ("setup", "make")
    assert manifest.allow_failures == ("make",)
    assert [job.name for job in manifest.jobs] == ["setup.1", "build-binary", "make.2"]
    assert manifest.jobs[1].artifacts == (
        Passthrough("bin/djinn", "djinn"),
        Passthrough("bin/server", "server-binary"),
    )
    assert manifest.jobs[2].commands == ("true",)


@pytest.mark.parametrize("text", [None, "", "   \n", "# only a comment\n", "~"])
def test_missing_or_empty_manifest_is_required(text: str | None) -> None:
    assert problems(text) == [REQUIRED]


@pytest.mark.parametrize("kind", ["", "kubernetes", "Docker"])
def test_unknown_driver_type_is_invalid(kind: str) -> None:
    assert problems(f"driver:\n  type: '{kind}'\n") == [INVALID_DRIVER]


def test_driver_is_required() -> None:
    assert problems("stages: [a]\n") == ["Build manifest, driver is required"]


@pytest.mark.parametrize(
    ("driver", "missing"),
    [
        ("type: docker", ["image"]),
        ("type: qemu", ["image"]),
        ("type: ssh", ["address"]),
    ],
)
def test_each_driver_requires_its_keys(driver: str, missing: list[str]) -> None:
    kind = driver.split()[1]

    found = problems(f"driver:\n  {driver}\n")

    assert found == [f"Build manifest, driver {kind} requires {key}" for key in missing]


def test_os_driver_needs_no_keys() -> None:
    assert Manifest.parse("driver:\n  type: os\n").driver_type == "os"


def test_docker_workspace_is_optional() -> None:
    manifest = Manifest.parse("driver:\n  type: docker\n  image: busybox\n")

    assert dict(manifest.driver) == {"type": "docker", "image": "busybox"}


def test_a_driver_not_enabled_on_the_server_is_refused() -> None:
    assert problems("driver:\n  type: os\n", ("docker",)) == [
        "Build manifest, driver os is not enabled on this server"
    ]


def test_driver_scalars_become_strings() -> None:
    manifest = Manifest.parse("driver:\n  type: qemu\n  image: 1.0\n")

    assert dict(manifest.driver)["image"] == "1.0"


def test_every_problem_is_reported_together() -> None:
    text = """
driver:
  type: docker
env:
- NOEQUALS
- 1BAD=x
stages: [build]
allow_failures: [deploy]
jobs:
- stage: test
  commands: [make]
- stage: build
  commands: make
extra: 1
"""
    assert problems(text) == [
        "Build manifest, driver docker requires image",
        'Build manifest, env item 1 must be KEY=value with a valid key, not "NOEQUALS"',
        'Build manifest, env item 2 must be KEY=value with a valid key, not "1BAD=x"',
        'Build manifest, allow_failures stage "deploy" is not in stages',
        'Build manifest, job 1 has stage "test" that is not in stages',
        "Build manifest, job 2 commands must be a list of strings",
        'Build manifest, unknown field "extra"',
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("driver: docker\n", "Build manifest, driver must be a mapping"),
        ("driver: {type: os}\nstages: build\n", "Build manifest, stages must be a list of strings"),
        ("driver: {type: os}\nenv: [[A]]\n", "Build manifest, env must be a list of strings"),
        ("driver: {type: os}\njobs: {}\n", "Build manifest, jobs must be a list of jobs"),
        ("driver: {type: os}\njobs: [3]\n", "Build manifest, job 1 must be a mapping"),
        ("driver: {type: os}\nnamespace: [a]\n", "Build manifest, namespace must be a string"),
        ("driver: {type: [os]}\n", "Build manifest, driver values must be strings"),
    ],
)
def test_wrong_types_are_clear_messages(text: str, message: str) -> None:
    assert problems(text) == [message]


@pytest.mark.parametrize(
    "text",
    ["- a\n- b\n", "just a string", "42", "[1, 2]", "1: a\n"],
)
def test_a_non_mapping_document_is_refused(text: str) -> None:
    assert problems(text) == ["Build manifest, must be a mapping of fields"]


@pytest.mark.parametrize(
    "text",
    [
        "driver: {type: os\n",
        "driver:\n  type: os\n bad indent: 1\n",
        "\x00\x01\x02\xff binary",
        "key: !!python/object:os.system 'ls'\n",
        "a: *undefined\n",
    ],
)
def test_unparsable_yaml_is_a_field_error_not_a_crash(text: str) -> None:
    (message,) = problems(text)

    assert message.startswith("Build manifest, invalid YAML")


def test_yaml_error_names_the_line() -> None:
    (message,) = problems("driver:\n  type: os\n  image: [\n")

    assert "line" in message


def test_anchors_and_aliases_are_allowed() -> None:
    text = """
base: &cmds
  - make
driver: {type: os}
stages: [a]
jobs:
- stage: a
  commands: *cmds
"""
    assert problems(text) == ['Build manifest, unknown field "base"']

    manifest = Manifest.parse(text.replace("base:", "env:").replace("- make", "- A=1"))
    assert manifest.jobs[0].commands == ("A=1",)


def test_an_alias_bomb_is_refused_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    text = (
        "\n".join(lines) + "\ndriver: {type: os}\nstages: [s]\njobs:\n- stage: s\n  commands: *a8\n"
    )

    found = problems(text)

    assert "Build manifest, job 1 commands must be a list of strings" in found


def test_a_huge_manifest_is_refused() -> None:
    text = "driver: {type: os}\nenv:\n" + "- A=" + "x" * 300_000 + "\n"

    assert problems(text) == ["Build manifest, cannot be longer than 262144 characters"]


def test_unnamed_jobs_count_within_consecutive_runs_of_their_stage() -> None:
    text = """
driver: {type: os}
stages: [a, b]
jobs:
- {stage: a}
- {stage: a}
- {stage: b}
- {stage: a}
"""
    assert [job.name for job in Manifest.parse(text).jobs] == ["a.1", "a.2", "b.1", "a.1"]


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("  Build Binary!  ", "build-binary"),
        ("a__b--c", "a-b-c"),
        ("v1.2 release", "v1.2-release"),
        ("ünïcode", "n-code"),
        ("---", ""),
    ],
)
def test_job_names_are_slugified_like_djinn(name: str, slug: str) -> None:
    assert slugify(name) == slug


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://x/y/repo.git", Source("https://x/y/repo.git", "", "repo")),
        ("https://x/y/repo main", Source("https://x/y/repo", "main", "repo")),
        ("https://x/y/repo => dir", Source("https://x/y/repo", "", "dir")),
        ("https://x/y/repo/ dev => d", Source("https://x/y/repo/", "dev", "d")),
    ],
)
def test_source_notation(text: str, expected: Source) -> None:
    assert Source.parse(text) == expected
