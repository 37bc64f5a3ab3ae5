"""schemathesis against the app in-process: every answer conforms to `/api/schema/openapi.json`.

Bounded and seeded (derandomized): a few cases per operation, each sent by a signed-in
owner, an anonymous caller or a token without the route's scope, with random path values
and with the values of resources that exist, so that success bodies are checked too.
Reads run first, deletes last.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import MaridAPI, create_app
from infrastructure.bootstrap import Marid
from infrastructure.settings import Settings
from tests.conftest import Client, Users
from tests.helpers import Auth

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Routes of the API and the operations endpoints (the web pages are not in the document).
COVERED = ("/api", "/version", "/healthz", "/readyz", "/metrics")
METHOD_ORDER = {"GET": 0, "POST": 1, "PATCH": 2, "PUT": 2, "DELETE": 3}
RANDOM_EXAMPLES = 2
PINNED_EXAMPLES = 3
NEGATIVE_EXAMPLES = 2
MANIFEST = "driver: {type: os}\nstages: [test]\njobs:\n- stage: test\n  commands: [true]\n"
BUILD_MANIFEST = "namespace: proj\n" + MANIFEST + "  artifacts: [out.txt]\n"
QCOW2 = b"QFI\xfb" + bytes(508)
# Path parameters named alike mean different things on different routes.
NAMES = {"/jobs/": "create-driver", "/artifacts/": "out.txt", "/tags/": "v1"}


def ed25519_key() -> str:
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        .decode()
    )


def created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def path_values(client: Client, users: Users) -> dict[str, Any]:
    """One of everything, in alice's public namespace `proj`: the path values that find them."""
    _, alice = users.create("alice")
    users.create("bob")
    post = client.post
    created(post("/api/namespaces", json={"name": "proj", "visibility": "public"}, headers=alice))
    variable = created(
        post(
            "/api/variables", json={"key": "ONE", "value": "1", "namespace": "proj"}, headers=alice
        )
    )
    key = created(
        post(
            "/api/keys",
            json={"name": "deploy", "key": ed25519_key(), "namespace": "proj"},
            headers=alice,
        )
    )
    obj = created(
        post(
            "/api/objects",
            params={"name": "data", "namespace": "proj"},
            content=b"hello",
            headers=alice,
        )
    )
    cron = created(
        post(
            "/api/cron",
            json={"name": "nightly", "manifest": MANIFEST, "namespace": "proj"},
            headers=alice,
        )
    )
    image = created(
        post(
            "/api/images",
            params={"name": "disk", "namespace": "proj"},
            content=QCOW2,
            headers=alice,
        )
    )
    hook = {"payload_url": "https://93.184.215.14/hook"}
    webhook = created(post("/api/n/alice/proj/-/webhooks", json=hook, headers=alice))
    build = created(post("/api/builds", json={"manifest": BUILD_MANIFEST}, headers=alice))
    created(post(f"/api/b/alice/{build['number']}/tags", json=["v1"], headers=alice))
    invite = created(post("/api/n/alice/proj/-/invites", json={"handle": "bob"}, headers=alice))
    return {
        "user": "alice",
        "path": "proj",
        "number": build["number"],
        "variable_id": variable["id"],
        "key_id": key["id"],
        "object_id": obj["id"],
        "image_id": image["id"],
        "webhook_id": str(webhook["id"]),
        "cron_id": cron["id"],
        "invite_id": invite["id"],
        "handle": "bob",
        "_alice": alice,
    }


@pytest.fixture
def app(settings: Settings, marid: Marid) -> Iterator[MaridAPI]:
    """An app of its own: schemathesis runs its lifespan (ended after the test)."""
    yield create_app(settings, marid=marid)
    shutdown_lifespans()


# schemathesis's strategies draw from the `random` module, which Hypothesis warns about.
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
def test_every_answer_conforms_to_the_document(
    app: MaridAPI, path_values: dict[str, Any], users: Users
) -> None:
    schema = schemathesis.openapi.from_asgi("/api/schema/openapi.json", app)
    alice: Auth = path_values.pop("_alice")
    _, reader = users.create("reader", "namespace:read")  # lacks every other scope
    callers = st.sampled_from([alice, alice, {}, reader])
    operations = [r.ok() for r in schema.get_all_operations()]
    operations = [o for o in operations if o.path.startswith(COVERED)]
    operations.sort(key=lambda o: (METHOD_ORDER[o.method.upper()], o.path))
    failures: list[str] = []
    sent = 0
    for operation in operations:
        names = {p.name for p in operation.path_parameters}
        pinned = {k: v for k, v in path_values.items() if k in names}
        for part, name in NAMES.items():
            if "name" in names and part in operation.path:
                pinned["name"] = name
        sent += send(operation.as_strategy(), RANDOM_EXAMPLES, callers, failures)
        if pinned:
            found = operation.as_strategy(path_parameters=pinned)
            sent += send(found, PINNED_EXAMPLES, callers, failures)
        # Invalid query parameters, headers and bodies, to resources that exist.
        invalid = operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=pinned or None)
        with contextlib.suppress(Unsatisfiable):  # all its inputs are strings: none is invalid
            sent += send(invalid, NEGATIVE_EXAMPLES, callers, failures)

    assert sent >= 300, sent
    assert not failures, "\n\n".join(failures)


def send(strategy: Any, examples: int, callers: Any, failures: list[str]) -> int:
    """Send `examples` cases (seeded), each by one of `callers`; failures are collected."""
    sent = 0

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy, caller=callers)
    def check(case: Any, caller: Auth) -> None:
        nonlocal sent
        sent += 1
        response = case.call(headers=caller)
        try:
            case.validate_response(response, checks=CHECKS, headers=caller)
        except FailureGroup as group:
            failures.append(f"{case.operation.label}: {group}")

    check()
    return sent


def test_a_page_number_too_large_for_an_offset_is_the_last_page(
    client: Client, users: Users
) -> None:
    """Found by schemathesis: `?page=` past a bigint's offset was a 500."""
    _, alice = users.create("alice")
    created(client.post("/api/namespaces", json={"name": "proj"}, headers=alice))

    response = client.get("/api/namespaces", params={"page": 10**20}, headers=alice)

    assert response.status_code == 200, response.text
    assert [n["name"] for n in response.json()] == ["proj"]
