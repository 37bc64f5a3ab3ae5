"""Objects over HTTP: uploads (raw and multipart), limits, validation, access, downloads."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from infrastructure.bootstrap import Marid
from infrastructure.settings import Settings
from tests.conftest import Users
from tests.helpers import (
    BASE,
    BOUNDARY,
    DENIED,
    Auth,
    Client,
    add_collaborator,
    assert_not_found,
    create_ns,
    names,
    stored_files,
    token,
)

NAME_RULE = r"Name does not match ^[a-zA-Z0-9\._\-]+$"
LIMIT = 5 * 1024 * 1024
TOO_LARGE = {"file": ["file too large, cannot exceed 5 MB"]}
CONTENT = b"hello, objects\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def raw(
    client: Client,
    auth: Auth,
    content: bytes = CONTENT,
    content_type: str | None = "application/octet-stream",
    **params: str,
) -> Any:
    headers = {**auth, **({"Content-Type": content_type} if content_type else {})}
    return client.post("/api/objects", params=params, content=content, headers=headers)


def form(
    client: Client,
    auth: Auth,
    content: bytes = CONTENT,
    content_type: str | None = "text/plain",
    **fields: str,
) -> Any:
    """A multipart upload: the fields, then the file part (with no Content-Type if None)."""
    parts = [(f'name="{k}"', None, v.encode()) for k, v in fields.items()]
    parts.append(('name="file"; filename="data"', content_type, content))
    headers = {**auth, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    return client.post("/api/objects", content=multipart(parts), headers=headers)


def multipart(parts: list[tuple[str, str | None, bytes]]) -> bytes:
    """A multipart/form-data body of (disposition parameters, content type, content) parts."""
    body = b""
    for disposition, content_type, content in parts:
        body += f"--{BOUNDARY}\r\nContent-Disposition: form-data; {disposition}\r\n".encode()
        if content_type:
            body += f"Content-Type: {content_type}\r\n".encode()
        body += b"\r\n" + content + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


def create(client: Client, auth: Auth, name: str = "data", **params: str) -> dict[str, Any]:
    response = raw(client, auth, name=name, **params)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def object_rows(marid: Marid) -> int:
    with marid.datastore.transaction(commit=False) as curs:
        curs.execute("SELECT count(*) AS n FROM objects")
        row = curs.fetchone()
    assert row is not None
    return int(row["n"])


# --- uploading ---------------------------------------------------------------------------


def test_raw_upload_records_size_digests_and_declared_type(
    client: Client, alice: Auth, settings: Settings
) -> None:
    response = raw(client, alice, name="data.txt")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "data.txt"
    assert body["type"] == "application/octet-stream"
    assert body["size"] == len(CONTENT)
    assert body["md5"] == hashlib.md5(CONTENT).hexdigest()  # noqa: S324  # the API's digest
    assert body["sha256"] == hashlib.sha256(CONTENT).hexdigest()
    assert body["url"] == f"{BASE}/objects/{body['id']}"
    assert body["builds_url"] == f"{BASE}/objects/{body['id']}/builds"
    assert body["namespace_id"] is None
    assert body["namespace"] is None
    assert body["author"]["username"] == body["user"]["username"] == "alice"
    assert body["created_at"].endswith("Z")
    assert stored_files(settings) == [settings.data_dir / "blobs" / "objects" / str(body["id"])]


def test_multipart_upload_records_the_file_part_and_its_type(client: Client, alice: Auth) -> None:
    response = form(client, alice, name="notes", content_type="text/markdown")

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["name"], body["type"], body["size"]) == ("notes", "text/markdown", len(CONTENT))
    assert body["sha256"] == hashlib.sha256(CONTENT).hexdigest()


def test_multipart_fields_may_follow_the_file_part(client: Client, alice: Auth) -> None:
    body = multipart(
        [
            ('name="file"; filename="f"', None, CONTENT),
            ('name="name"', None, b"late"),
            ('name="namespace"', None, b"proj"),
        ]
    )
    headers = {**alice, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}

    response = client.post("/api/objects", content=body, headers=headers)

    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["name"], created["size"]) == ("late", len(CONTENT))
    assert created["namespace"]["path"] == "proj"


def test_httpx_multipart_form_is_accepted(client: Client, alice: Auth) -> None:
    files = {"file": ("data.bin", CONTENT, "application/x-thing")}

    response = client.post("/api/objects", data={"name": "x"}, files=files, headers=alice)

    assert response.status_code == 201, response.text
    assert response.json()["type"] == "application/x-thing"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (CONTENT, "text/plain; charset=utf-8"),
        ("héllo wörld".encode(), "text/plain; charset=utf-8"),
        (PNG, "image/png"),
        (b"%PDF-1.7\n" + bytes(100), "application/pdf"),
        (b"\x00\x01\x02\xff" * 10, "application/octet-stream"),
    ],
)
def test_type_is_sniffed_when_the_upload_declares_none(
    client: Client, alice: Auth, content: bytes, expected: str
) -> None:
    as_raw = raw(client, alice, content, content_type=None, name="raw")
    as_form = form(client, alice, content, content_type=None, name="form")

    assert (as_raw.status_code, as_form.status_code) == (201, 201), as_raw.text + as_form.text
    assert as_raw.json()["type"] == as_form.json()["type"] == expected


def test_upload_at_the_limit_is_stored_past_the_json_body_limit(
    client: Client, alice: Auth
) -> None:
    content = b"x" * LIMIT

    as_raw = raw(client, alice, content, name="raw")
    as_form = form(client, alice, content, name="form")

    assert (as_raw.status_code, as_form.status_code) == (201, 201), as_raw.text + as_form.text
    assert as_raw.json()["size"] == as_form.json()["size"] == LIMIT


@pytest.mark.parametrize("send", [raw, form])
def test_upload_over_the_limit_is_refused_and_nothing_kept(
    client: Client, alice: Auth, marid: Marid, settings: Settings, send: Any
) -> None:
    response = send(client, alice, b"x" * (LIMIT + 1), name="big")

    assert response.status_code == 400
    assert response.json() == TOO_LARGE
    assert stored_files(settings) == []
    assert object_rows(marid) == 0


def test_json_body_carries_no_file(client: Client, alice: Auth) -> None:
    response = client.post("/api/objects", json={"name": "data"}, headers=alice)

    assert response.status_code == 400
    assert response.json() == {"file": ["File field required"]}


# --- validation --------------------------------------------------------------------------


def test_every_failed_rule_is_reported_together(
    client: Client, alice: Auth, settings: Settings
) -> None:
    no_name = raw(client, alice, b"")
    bad_name = form(client, alice, name="no spaces/here", namespace="bad ref!")
    no_file_part = multipart([('name="name"', None, b"data")])
    multipart_type = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    missing_file = client.post("/api/objects", content=no_file_part, headers=alice | multipart_type)

    assert no_name.status_code == bad_name.status_code == missing_file.status_code == 400
    assert no_name.json() == {"name": ["Name field required"], "file": ["File field required"]}
    assert bad_name.json() == {
        "name": [NAME_RULE],
        "namespace": ["bad ref!: namespace: name can only contain letters and numbers"],
    }
    assert missing_file.json() == {"file": ["File field required"]}
    assert stored_files(settings) == []


def test_name_is_unique_per_owner_and_per_namespace(client: Client, alice: Auth) -> None:
    create(client, alice, "data")
    create(client, alice, "data", namespace="proj")

    again = raw(client, alice, name="data")
    again_in_ns = form(client, alice, name="data", namespace="proj")

    assert again.status_code == again_in_ns.status_code == 400
    assert again.json() == again_in_ns.json() == {"name": ["Name already exists"]}


def test_refused_upload_keeps_nothing(
    client: Client, alice: Auth, marid: Marid, settings: Settings
) -> None:
    create(client, alice, "data")

    response = form(client, alice, b"y" * 100_000, name="data")

    assert response.json() == {"name": ["Name already exists"]}
    assert len(stored_files(settings)) == 1
    assert object_rows(marid) == 1


def test_concurrent_uploads_of_one_name_have_one_winner(
    client: Client, alice: Auth, settings: Settings
) -> None:
    racers = 4
    barrier = threading.Barrier(racers)

    def attempt(n: int) -> Any:
        barrier.wait(timeout=10)
        return raw(client, alice, f"racer {n}".encode(), name="race")

    with ThreadPoolExecutor(racers) as pool:
        responses = list(pool.map(attempt, range(racers)))

    assert sorted(r.status_code for r in responses) == [201] + [400] * (racers - 1)
    losers = [r.json() for r in responses if r.status_code == 400]
    assert losers == [{"name": ["Name already exists"]}] * (racers - 1)
    assert names(client.get("/api/objects", headers=alice)) == ["race"]
    assert len(stored_files(settings)) == 1


# --- namespaces --------------------------------------------------------------------------


def test_upload_creates_the_callers_missing_namespaces(client: Client, alice: Auth) -> None:
    response = raw(client, alice, name="data", namespace="proj/sub")

    assert response.status_code == 201, response.text
    assert response.json()["namespace"]["path"] == "proj/sub"
    assert client.get("/api/n/alice/proj/sub", headers=alice).status_code == 200


def test_another_users_namespace_needs_collaboration(
    client: Client, alice: Auth, bob: Auth, users: Users, marid: Marid, settings: Settings
) -> None:
    root = create_ns(client, alice, "proj", visibility="public")

    refused = raw(client, bob, name="data", namespace="proj@alice")
    bad_and_refused = raw(client, bob, name="bad name", namespace="proj@alice")
    add_collaborator(marid, root["id"], marid.app.user_id_for("bob") or 0)
    accepted = form(client, bob, name="data", namespace="proj@alice")

    assert refused.status_code == 422
    assert refused.json() == DENIED
    assert bad_and_refused.status_code == 400
    assert bad_and_refused.json() == {"name": [NAME_RULE]}
    assert accepted.status_code == 201, accepted.text
    created = accepted.json()
    assert (created["user"]["username"], created["author"]["username"]) == ("alice", "bob")
    assert len(stored_files(settings)) == 1


def test_namespace_lists_its_objects_with_its_read_rules(
    client: Client, alice: Auth, bob: Auth
) -> None:
    create_ns(client, alice, "pub", visibility="public")
    create_ns(client, alice, "priv")
    create(client, alice, "b", namespace="pub")
    create(client, alice, "a", namespace="pub")
    create(client, alice, "secret", namespace="priv")

    public = client.get("/api/n/alice/pub/-/objects")
    private_to_bob = client.get("/api/n/alice/priv/-/objects", headers=bob)
    private_to_alice = client.get("/api/n/alice/priv/-/objects", headers=alice)

    assert names(public) == ["a", "b"]
    assert public.headers["x-total-count"] == "2"
    assert_not_found(private_to_bob)
    assert names(private_to_alice) == ["secret"]


def test_deleting_a_namespace_detaches_its_objects(client: Client, alice: Auth) -> None:
    obj = create(client, alice, "data", namespace="proj")

    deleted = client.delete("/api/n/alice/proj", headers=alice)
    after = client.get(f"/api/objects/{obj['id']}", headers=alice)

    assert deleted.status_code == 204
    assert after.status_code == 200
    assert after.json()["namespace_id"] is None
    assert names(client.get("/api/objects", headers=alice)) == ["data"]


# --- reading and listing -----------------------------------------------------------------


def test_list_shows_own_and_collaborated_objects_by_name(
    client: Client, alice: Auth, bob: Auth, marid: Marid
) -> None:
    root = create_ns(client, alice, "shared")
    create(client, alice, "zeta")
    create(client, alice, "alpha", namespace="shared")
    create(client, bob, "bobs")
    add_collaborator(marid, root["id"], marid.app.user_id_for("bob") or 0)

    alices = client.get("/api/objects", headers=alice)
    bobs = client.get("/api/objects", headers=bob)
    searched = client.get("/api/objects", params={"search": "ALP"}, headers=bob)
    paged = client.get("/api/objects", params={"per_page": 1, "page": 2}, headers=alice)

    assert names(alices) == ["alpha", "zeta"]
    assert names(bobs) == ["alpha", "bobs"]
    assert names(searched) == ["alpha"]
    assert names(paged) == ["zeta"]
    assert paged.headers["x-total-count"] == "2"
    assert 'rel="prev"' in paged.headers["link"]


def test_object_reads_follow_namespace_visibility(client: Client, alice: Auth, bob: Auth) -> None:
    create_ns(client, alice, "pub", visibility="public")
    create_ns(client, alice, "inner", visibility="internal")
    personal = create(client, alice, "personal")
    public = create(client, alice, "public", namespace="pub")
    internal = create(client, alice, "internal", namespace="inner")

    def status(obj: dict[str, Any], auth: Auth) -> int:
        return int(client.get(f"/api/objects/{obj['id']}", headers=auth).status_code)

    assert [status(personal, h) for h in ({}, bob, alice)] == [404, 404, 200]
    assert [status(public, h) for h in ({}, bob, alice)] == [200, 200, 200]
    assert [status(internal, h) for h in ({}, bob, alice)] == [404, 200, 200]
    assert_not_found(client.get("/api/objects/999", headers=alice))


def test_get_returns_the_object_as_created(client: Client, alice: Auth) -> None:
    created = create(client, alice)

    response = client.get(f"/api/objects/{created['id']}", headers=alice)

    assert response.status_code == 200
    assert response.json() == created


# --- downloading -------------------------------------------------------------------------


@pytest.mark.parametrize("accept", ["image/png", "application/octet-stream"])
def test_accept_of_the_type_or_octet_stream_downloads_the_content(
    client: Client, alice: Auth, accept: str
) -> None:
    obj = raw(client, alice, PNG, content_type=None, name="pic").json()

    response = client.get(f"/api/objects/{obj['id']}", headers={**alice, "Accept": accept})

    assert response.status_code == 200
    assert response.content == PNG
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-length"] == str(len(PNG))
    assert response.headers["accept-ranges"] == "bytes"


def test_text_download_keeps_its_stored_type(client: Client, alice: Auth) -> None:
    obj = raw(client, alice, content_type=None, name="notes").json()
    accept = {**alice, "Accept": "text/plain; charset=utf-8"}

    response = client.get(f"/api/objects/{obj['id']}", headers=accept)

    assert response.content == CONTENT
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_other_accept_values_get_the_json_object(client: Client, alice: Auth) -> None:
    obj = raw(client, alice, PNG, content_type=None, name="pic").json()

    answers = [
        client.get(f"/api/objects/{obj['id']}", headers={**alice, "Accept": accept})
        for accept in ("*/*", "application/json", "image/*")
    ]

    assert [a.json()["id"] for a in answers] == [obj["id"]] * 3


@pytest.mark.parametrize(
    ("ranges", "start", "end"),
    [("bytes=0-3", 0, 3), ("bytes=10-", 10, len(PNG) - 1), ("bytes=-5", len(PNG) - 5, None)],
)
def test_a_byte_range_is_partial_content(
    client: Client, alice: Auth, ranges: str, start: int, end: int | None
) -> None:
    obj = raw(client, alice, PNG, name="pic").json()
    headers = {**alice, "Accept": "application/octet-stream", "Range": ranges}

    response = client.get(f"/api/objects/{obj['id']}", headers=headers)

    last = len(PNG) - 1 if end is None else end
    assert response.status_code == 206
    assert response.content == PNG[start : last + 1]
    assert response.headers["content-range"] == f"bytes {start}-{last}/{len(PNG)}"
    assert response.headers["content-length"] == str(last - start + 1)


def test_a_range_past_the_end_is_not_satisfiable(client: Client, alice: Auth) -> None:
    obj = raw(client, alice, PNG, name="pic").json()
    headers = {**alice, "Accept": "application/octet-stream", "Range": "bytes=9999-"}

    response = client.get(f"/api/objects/{obj['id']}", headers=headers)

    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(PNG)}"


def test_several_ranges_get_the_whole_content(client: Client, alice: Auth) -> None:
    obj = raw(client, alice, PNG, name="pic").json()
    headers = {**alice, "Accept": "application/octet-stream", "Range": "bytes=0-1,4-5"}

    response = client.get(f"/api/objects/{obj['id']}", headers=headers)

    assert response.status_code == 200
    assert response.content == PNG


def test_anonymous_caller_downloads_from_a_public_namespace(client: Client, alice: Auth) -> None:
    create_ns(client, alice, "pub", visibility="public")
    obj = create(client, alice, "data", namespace="pub")

    response = client.get(f"/api/objects/{obj['id']}", headers={"Accept": obj["type"]})

    assert response.status_code == 200
    assert response.content == CONTENT


# --- deleting ----------------------------------------------------------------------------


def test_delete_removes_the_content_and_frees_the_name(
    client: Client, alice: Auth, marid: Marid, settings: Settings
) -> None:
    obj = create(client, alice, "data")

    deleted = client.delete(f"/api/objects/{obj['id']}", headers=alice)

    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_not_found(client.get(f"/api/objects/{obj['id']}", headers=alice))
    assert stored_files(settings) == []
    assert object_rows(marid) == 0
    assert raw(client, alice, name="data").status_code == 201


def test_only_writers_delete(client: Client, alice: Auth, bob: Auth) -> None:
    create_ns(client, alice, "pub", visibility="public")
    personal = create(client, alice, "personal")
    public = create(client, alice, "public", namespace="pub")

    hidden = client.delete(f"/api/objects/{personal['id']}", headers=bob)
    readable = client.delete(f"/api/objects/{public['id']}", headers=bob)

    assert_not_found(hidden)
    assert_not_found(readable)
    assert client.get(f"/api/objects/{public['id']}", headers=alice).status_code == 200
    assert client.get(f"/api/objects/{personal['id']}", headers=alice).status_code == 200


def test_collaborator_deletes_in_the_tree(
    client: Client, alice: Auth, bob: Auth, marid: Marid
) -> None:
    root = create_ns(client, alice, "proj")
    obj = create(client, alice, "data", namespace="proj")
    add_collaborator(marid, root["id"], marid.app.user_id_for("bob") or 0)

    response = client.delete(f"/api/objects/{obj['id']}", headers=bob)

    assert response.status_code == 204


# --- authentication and scopes -----------------------------------------------------------


def test_writes_and_the_list_need_a_token(client: Client, alice: Auth) -> None:
    obj = create(client, alice)

    answers = [
        raw(client, {}, name="data"),
        client.get("/api/objects"),
        client.delete(f"/api/objects/{obj['id']}"),
    ]

    assert [a.status_code for a in answers] == [401, 401, 401]
    assert all(a.json() == {"message": "Unauthorized"} for a in answers)


def test_scopes_are_checked_before_the_upload_is_read(
    client: Client, users: Users, marid: Marid, settings: Settings
) -> None:
    user_id, _ = users.create("carol")
    read_only = token(marid, user_id, "object:read")
    write_only = token(marid, user_id, "object:write")

    upload = raw(client, read_only, b"x" * (LIMIT + 1), name="")
    listing = client.get("/api/objects", headers=write_only)
    obj = create(client, write_only)
    reading = client.get(f"/api/objects/{obj['id']}", headers=write_only)
    deleting = client.delete(f"/api/objects/{obj['id']}", headers=read_only)

    assert [upload.status_code, listing.status_code, reading.status_code] == [403, 403, 403]
    assert deleting.status_code == 403
    assert upload.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="object:write"'
    )
    assert deleting.headers["www-authenticate"].endswith('scope="object:delete"')
    assert len(stored_files(settings)) == 1


# --- interrupted uploads -----------------------------------------------------------------


def call_interrupted(
    client: Client, auth: Auth, query: bytes, content_type: bytes, body: bytes
) -> list[Any]:
    """Send part of a body straight to the ASGI app, then disconnect; the messages sent back."""
    messages = [
        {"type": "http.request", "body": body[:1024], "more_body": True},
        {"type": "http.request", "body": body[1024:2048], "more_body": True},
        {"type": "http.disconnect"},
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/objects",
        "raw_path": b"/api/objects",
        "query_string": query,
        "root_path": "",
        "headers": [
            (b"host", b"testserver.local"),
            (b"authorization", auth["Authorization"].encode()),
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver.local", 80),
    }
    sent: list[Any] = []

    async def receive() -> Any:
        return messages.pop(0) if len(messages) > 1 else messages[0]

    async def send(message: Any) -> None:
        sent.append(message)

    async def call() -> None:
        await client.app(scope, receive, send)

    client.blocking_portal.call(call)
    return sent


def test_interrupted_raw_upload_leaves_nothing(
    client: Client, alice: Auth, marid: Marid, settings: Settings
) -> None:
    before = marid.app.recorder.max_notification_id()

    sent = call_interrupted(
        client, alice, b"name=data", b"application/octet-stream", b"x" * 100_000
    )

    assert sent[0]["status"] == 400
    assert b"Upload interrupted" in sent[1]["body"]
    assert stored_files(settings) == []
    assert marid.app.recorder.max_notification_id() == before
    assert raw(client, alice, name="data").status_code == 201


def test_interrupted_multipart_upload_leaves_nothing(
    client: Client, alice: Auth, marid: Marid, settings: Settings
) -> None:
    before = marid.app.recorder.max_notification_id()
    body = (
        b'--bnd\r\nContent-Disposition: form-data; name="name"\r\n\r\ndata\r\n'
        b'--bnd\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n'
        + b"x" * 100_000
        + b"\r\n--bnd--\r\n"
    )

    sent = call_interrupted(client, alice, b"", b"multipart/form-data; boundary=bnd", body)

    assert sent[0]["status"] == 400
    assert b"Upload interrupted" in sent[1]["body"]
    assert stored_files(settings) == []
    assert marid.app.recorder.max_notification_id() == before
