"""Images over HTTP: the three input forms, validation, limits, access, downloads, deletes."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
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
    event_states,
    names,
    stored_files,
    token,
)
from tests.integration.test_image_downloads import QCOW2, FileServer

NAME_RULE = r"Name does not match ^[a-zA-Z0-9_\-]+$"
FILE_REQUIRED = {"file": ["File field required"]}
NOT_QCOW2 = ["File not a valid QCOW2 file format"]
LIMIT = 32 * 1024
IMAGE = QCOW2[:512]
QEMU_DISK = "application/x-qemu-disk"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, image_max_size=LIMIT, allow_private_urls=True)


@pytest.fixture
def server() -> Iterator[FileServer]:
    with FileServer() as running:
        yield running


def raw(client: Client, auth: Auth, content: bytes = IMAGE, **params: str) -> Any:
    headers = {**auth, "Content-Type": QEMU_DISK}
    return client.post("/api/images", params=params, content=content, headers=headers)


def sized(size: int) -> bytes:
    """A QCOW2-looking file of exactly `size` bytes."""
    return (QCOW2 * (size // len(QCOW2) + 1))[:size]


def multipart(parts: list[tuple[str, bytes]]) -> bytes:
    """A multipart/form-data body of (disposition parameters, content) parts."""
    body = b""
    for disposition, content in parts:
        body += f"--{BOUNDARY}\r\nContent-Disposition: form-data; {disposition}\r\n\r\n".encode()
        body += content + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


def form(client: Client, auth: Auth, parts: list[tuple[str, bytes]]) -> Any:
    headers = {**auth, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    return client.post("/api/images", content=multipart(parts), headers=headers)


def file_part(content: bytes = IMAGE) -> tuple[str, bytes]:
    return ('name="file"; filename="disk.qcow2"', content)


def field(name: str, value: str) -> tuple[str, bytes]:
    return (f'name="{name}"', value.encode())


def create(client: Client, auth: Auth, name: str = "alpine", **params: str) -> dict[str, Any]:
    response = raw(client, auth, name=name, **params)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def uid(marid: Marid, username: str) -> int:
    user_id = marid.app.user_id_for(username)
    assert user_id is not None
    return user_id


def fetch_file(client: Client, image_id: int, auth: Auth, accept: str = QEMU_DISK) -> Any:
    return client.get(f"/api/images/{image_id}", headers={**auth, "Accept": accept})


# --- the three forms ---------------------------------------------------------------------


def test_raw_upload_creates_a_qemu_image_without_download(
    client: Client, alice: Auth, settings: Settings
) -> None:
    response = raw(client, alice, name="alpine")

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "alpine"
    assert body["driver"] == "qemu"
    assert body["download"] is None
    assert body["namespace_id"] is None
    assert body["namespace"] is None
    assert body["url"] == f"{BASE}/images/{body['id']}"
    assert body["author"]["username"] == body["user"]["username"] == "alice"
    assert body["created_at"].endswith("Z")
    assert len(stored_files(settings)) == 1


def test_multipart_upload_places_the_image_in_a_new_namespace(client: Client, alice: Auth) -> None:
    response = form(
        client, alice, [field("name", "alpine"), field("namespace", "proj"), file_part()]
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["namespace"]["path"] == "proj"
    assert body["namespace_id"] == body["namespace"]["id"]


def test_multipart_fields_may_follow_the_file_part(client: Client, alice: Auth) -> None:
    response = form(client, alice, [file_part(), field("name", "alpine")])

    assert response.status_code == 201, response.text
    assert response.json()["name"] == "alpine"


def test_raw_upload_takes_its_namespace_from_the_query(client: Client, alice: Auth) -> None:
    body = create(client, alice, namespace="proj/sub")

    assert body["namespace"]["path"] == "proj/sub"


def test_json_with_a_url_creates_the_image_at_once_with_a_pending_download(
    client: Client, alice: Auth, marid: Marid
) -> None:
    url = "http://bob:hunter2@127.0.0.1:9/alpine.qcow2"

    response = client.post(
        "/api/images", json={"name": "alpine", "download_url": url}, headers=alice
    )

    assert response.status_code == 201, response.text
    download = response.json()["download"]
    assert download["source"] == "http://bob:xxxxx@127.0.0.1:9/alpine.qcow2"
    assert download["created_at"] == response.json()["created_at"]
    assert set(download) == {"source", "error", "created_at", "started_at", "finished_at"}
    assert "hunter2" not in response.text
    assert b"hunter2" not in event_states(marid)


def test_url_is_fetched_in_the_background_and_then_downloadable(
    client: Client, alice: Auth, marid: Marid, server: FileServer
) -> None:
    body = {"name": "alpine", "download_url": server.url("/alpine.qcow2")}
    image_id = client.post("/api/images", json=body, headers=alice).json()["id"]

    settled = marid.downloads.wait_settled(image_id, timeout=10)

    assert settled
    download = client.get(f"/api/images/{image_id}", headers=alice).json()["download"]
    assert download["error"] is None
    assert download["started_at"] is not None
    assert download["finished_at"] is not None
    assert fetch_file(client, image_id, alice).content == QCOW2


def test_failed_background_download_reports_its_error(
    client: Client, alice: Auth, marid: Marid, server: FileServer
) -> None:
    body = {"name": "alpine", "download_url": server.url("/not-qcow2")}
    image_id = client.post("/api/images", json=body, headers=alice).json()["id"]

    marid.downloads.wait_settled(image_id, timeout=10)

    download = client.get(f"/api/images/{image_id}", headers=alice).json()["download"]
    assert download["error"] == "not a valid qcow2 file"
    assert download["finished_at"] is not None
    assert_not_found(fetch_file(client, image_id, alice))


# --- validation --------------------------------------------------------------------------


def test_missing_name_and_file_are_reported_together_and_the_file_once(
    client: Client, alice: Auth
) -> None:
    response = raw(client, alice, content=b"")

    assert response.status_code == 400
    assert response.json() == {"name": ["Name field required"], **FILE_REQUIRED}


def test_json_without_a_url_always_lacks_the_file(client: Client, alice: Auth) -> None:
    response = client.post("/api/images", json={"name": "alpine"}, headers=alice)

    assert response.status_code == 400
    assert response.json() == FILE_REQUIRED


def test_raw_body_that_is_not_qcow2_is_refused_with_the_bad_name(
    client: Client, alice: Auth, settings: Settings
) -> None:
    response = raw(client, alice, content=b"\x7fELF" + b"\x00" * 100, name="bad name")

    assert response.status_code == 400
    assert response.json() == {"name": [NAME_RULE], "file": NOT_QCOW2}
    assert stored_files(settings) == []


def test_multipart_file_that_is_not_qcow2_is_refused_and_not_kept(
    client: Client, alice: Auth, settings: Settings
) -> None:
    response = form(client, alice, [file_part(b"just text"), field("name", "alpine")])

    assert response.status_code == 400
    assert response.json() == {"file": NOT_QCOW2}
    assert stored_files(settings) == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://mirror.example/a.qcow2", "Download_url invalid url scheme"),
        ("sftp://u:p@mirror.example/a.qcow2", "Download_url invalid url scheme"),
        ("alpine.qcow2", "Download_url is not a valid URL"),
        ("http://", "Download_url is not a valid URL"),
    ],
)
def test_download_url_must_be_an_http_url(
    client: Client, alice: Auth, url: str, message: str
) -> None:
    response = client.post(
        "/api/images", json={"name": "alpine", "download_url": url}, headers=alice
    )

    assert response.status_code == 400
    assert response.json() == {"download_url": [message]}


def test_json_fields_must_be_strings_and_unknown_ones_are_ignored(
    client: Client, alice: Auth
) -> None:
    unknown = client.post(
        "/api/images",
        json={"name": "a", "driver": 5, "download_url": "https://example.com/a.qcow2"},
        headers=alice,
    )
    wrong = client.post(
        "/api/images", json={"name": 5, "download_url": "ftp://example.com/a"}, headers=alice
    )
    broken = client.post(
        "/api/images", content=b"{", headers={**alice, "Content-Type": "application/json"}
    )

    assert unknown.status_code == 201, unknown.text
    assert wrong.status_code == 400
    assert wrong.json()["name"] == ["Name must be a string"]
    assert set(wrong.json()) == {"name", "download_url"}
    assert (broken.status_code, broken.json()) == (
        400,
        {"message": "Request body is not valid JSON"},
    )


def test_bad_namespace_reference_is_a_field_error(client: Client, alice: Auth) -> None:
    response = raw(client, alice, name="alpine", namespace="proj@")

    assert response.status_code == 400
    assert response.json() == {"namespace": ["proj@: namespace: invalid owner"]}


def test_name_is_unique_per_owner_and_per_namespace(
    client: Client, alice: Auth, settings: Settings
) -> None:
    create(client, alice)
    create(client, alice, namespace="proj")

    again = raw(client, alice, name="alpine")
    in_ns = raw(client, alice, name="alpine", namespace="proj")

    assert (again.status_code, again.json()) == (400, {"name": ["Name already exists"]})
    assert (in_ns.status_code, in_ns.json()) == (400, {"name": ["Name already exists"]})
    assert len(stored_files(settings)) == 2


def test_concurrent_uploads_of_one_name_have_one_winner(
    client: Client, alice: Auth, settings: Settings
) -> None:
    start = threading.Barrier(2)

    def upload(_: int) -> Any:
        start.wait(timeout=10)
        return raw(client, alice, name="alpine")

    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(upload, range(2)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 400]
    loser = next(r for r in responses if r.status_code == 400)
    assert loser.json() == {"name": ["Name already exists"]}
    assert len(stored_files(settings)) == 1


# --- size limit and interrupted uploads --------------------------------------------------


def test_upload_at_the_limit_is_stored(client: Client, alice: Auth, settings: Settings) -> None:
    response = raw(client, alice, content=sized(LIMIT), name="alpine")

    assert response.status_code == 201
    assert [p.stat().st_size for p in stored_files(settings)] == [LIMIT]


def test_upload_over_the_limit_is_refused_and_nothing_kept(
    client: Client, alice: Auth, settings: Settings
) -> None:
    response = raw(client, alice, content=sized(LIMIT + 1), name="alpine")

    assert response.status_code == 400
    assert response.json() == {"file": ["file too large, cannot exceed 32 KB"]}
    assert stored_files(settings) == []


def test_interrupted_upload_leaves_nothing(
    client: Client, alice: Auth, marid: Marid, settings: Settings
) -> None:
    before = marid.app.recorder.max_notification_id()
    messages = [
        {"type": "http.request", "body": QCOW2[:512], "more_body": True},
        {"type": "http.disconnect"},
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/images",
        "raw_path": b"/api/images",
        "query_string": b"name=alpine",
        "root_path": "",
        "headers": [
            (b"host", b"testserver.local"),
            (b"authorization", alice["Authorization"].encode()),
            (b"content-type", QEMU_DISK.encode()),
            (b"content-length", b"100000"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver.local", 80),
    }
    sent: list[Any] = []

    async def receive() -> Any:
        return messages.pop(0) if len(messages) > 1 else messages[0]

    async def send(message: Any) -> None:
        sent.append(message)

    client.blocking_portal.call(client.app, scope, receive, send)

    assert sent[0]["status"] == 400
    assert stored_files(settings) == []
    assert marid.app.recorder.max_notification_id() == before


# --- namespaces --------------------------------------------------------------------------


def test_another_users_namespace_needs_collaboration(
    client: Client, alice: Auth, bob: Auth, marid: Marid, users: Users, settings: Settings
) -> None:
    root = create_ns(client, alice, "proj")

    refused = raw(client, bob, name="alpine", namespace="proj@alice")
    bad_and_refused = raw(client, bob, name="no good", namespace="proj@alice")
    add_collaborator(marid, root["id"], uid(marid, "bob"))
    allowed = raw(client, bob, name="alpine", namespace="proj@alice")

    assert (refused.status_code, refused.json()) == (422, DENIED)
    assert (bad_and_refused.status_code, bad_and_refused.json()) == (400, {"name": [NAME_RULE]})
    assert allowed.status_code == 201
    assert allowed.json()["user"]["username"] == "alice"
    assert allowed.json()["author"]["username"] == "bob"
    assert len(stored_files(settings)) == 1


def test_namespace_lists_its_images_with_its_read_rules(
    client: Client, alice: Auth, bob: Auth
) -> None:
    create_ns(client, alice, "pub", visibility="public")
    create_ns(client, alice, "priv")
    create(client, alice, "zeta", namespace="pub")
    create(client, alice, "alpha", namespace="pub")
    create(client, alice, "hidden", namespace="priv")

    anonymous = client.get("/api/n/alice/pub/-/images")
    searched = client.get("/api/n/alice/pub/-/images", params={"search": "ZE"})
    private = client.get("/api/n/alice/priv/-/images", headers=bob)

    assert names(anonymous) == ["alpha", "zeta"]
    assert anonymous.headers["x-total-count"] == "2"
    assert names(searched) == ["zeta"]
    assert_not_found(private)


def test_deleting_a_namespace_detaches_its_images(client: Client, alice: Auth) -> None:
    image = create(client, alice, namespace="proj")

    deleted = client.delete("/api/n/alice/proj", headers=alice)

    assert deleted.status_code == 204
    after = client.get(f"/api/images/{image['id']}", headers=alice)
    assert after.status_code == 200
    assert after.json()["namespace"] is None
    assert names(client.get("/api/images", headers=alice)) == ["alpine"]


# --- lists and reads ---------------------------------------------------------------------


def test_list_shows_own_and_collaborated_images_by_name_with_paging(
    client: Client, alice: Auth, bob: Auth, marid: Marid
) -> None:
    root = create_ns(client, bob, "shared")
    create(client, bob, "bobs-own")
    create(client, bob, "in-shared", namespace="shared")
    add_collaborator(marid, root["id"], uid(marid, "alice"))
    for name in ("c", "a", "b"):
        create(client, alice, name)

    listed = client.get("/api/images", headers=alice)
    paged = client.get("/api/images", params={"per_page": 2, "page": 2}, headers=alice)
    searched = client.get("/api/images", params={"search": "SHARED"}, headers=alice)

    assert names(listed) == ["a", "b", "c", "in-shared"]
    assert names(paged) == ["c", "in-shared"]
    assert paged.headers["x-total-count"] == "4"
    assert 'rel="prev"' in paged.headers["link"]
    assert names(searched) == ["in-shared"]


def test_another_users_private_image_is_not_found(client: Client, alice: Auth, bob: Auth) -> None:
    own = create(client, alice)
    create_ns(client, alice, "priv")
    namespaced = create(client, alice, "other", namespace="priv")

    assert_not_found(client.get(f"/api/images/{own['id']}", headers=bob))
    assert_not_found(client.get(f"/api/images/{namespaced['id']}", headers=bob))
    assert_not_found(fetch_file(client, namespaced["id"], bob))
    assert_not_found(client.get(f"/api/images/{own['id']}"))
    assert names(client.get("/api/images", headers=bob)) == []


def test_public_and_internal_images_follow_namespace_visibility(
    client: Client, alice: Auth, bob: Auth
) -> None:
    create_ns(client, alice, "pub", visibility="public")
    create_ns(client, alice, "inner", visibility="internal")
    public = create(client, alice, "pub-image", namespace="pub")
    internal = create(client, alice, "inner-image", namespace="inner")

    assert client.get(f"/api/images/{public['id']}").status_code == 200
    assert fetch_file(client, public["id"], {}).content == IMAGE
    assert_not_found(client.get(f"/api/images/{internal['id']}"))
    assert client.get(f"/api/images/{internal['id']}", headers=bob).status_code == 200


def test_accept_qemu_disk_or_octet_stream_downloads_the_file(client: Client, alice: Auth) -> None:
    image = create(client, alice)

    qemu = fetch_file(client, image["id"], alice)
    octets = fetch_file(client, image["id"], alice, "application/octet-stream")
    other = fetch_file(client, image["id"], alice, "text/html")

    assert (qemu.status_code, qemu.headers["content-type"], qemu.content) == (200, QEMU_DISK, IMAGE)
    assert octets.headers["content-type"] == "application/octet-stream"
    assert octets.content == IMAGE
    assert other.json()["id"] == image["id"]


def test_a_byte_range_of_the_file_is_partial_content(client: Client, alice: Auth) -> None:
    image = create(client, alice)

    response = client.get(
        f"/api/images/{image['id']}", headers={**alice, "Accept": QEMU_DISK, "Range": "bytes=0-3"}
    )

    assert response.status_code == 206
    assert response.content == b"QFI\xfb"


def test_file_of_a_pending_download_is_not_found(client: Client, alice: Auth) -> None:
    body = {"name": "alpine", "download_url": "http://127.0.0.1:9/never.qcow2"}
    image = client.post("/api/images", json=body, headers=alice).json()

    response = fetch_file(client, image["id"], alice)

    assert_not_found(response)


# --- delete ------------------------------------------------------------------------------


def test_delete_removes_the_file_and_frees_the_name(
    client: Client, alice: Auth, settings: Settings
) -> None:
    image = create(client, alice)

    response = client.delete(f"/api/images/{image['id']}", headers=alice)

    assert response.status_code == 204
    assert stored_files(settings) == []
    assert_not_found(client.get(f"/api/images/{image['id']}", headers=alice))
    assert create(client, alice)["id"] != image["id"]


def test_only_writers_delete(client: Client, alice: Auth, bob: Auth, marid: Marid) -> None:
    root = create_ns(client, alice, "pub", visibility="public")
    image = create(client, alice, namespace="pub")
    own = create(client, alice, "own")

    reader = client.delete(f"/api/images/{image['id']}", headers=bob)
    still_there = client.get(f"/api/images/{image['id']}", headers=alice)
    stranger = client.delete(f"/api/images/{own['id']}", headers=bob)
    add_collaborator(marid, root["id"], uid(marid, "bob"))
    collaborator = client.delete(f"/api/images/{image['id']}", headers=bob)

    assert_not_found(reader)
    assert still_there.status_code == 200
    assert_not_found(stranger)
    assert client.get(f"/api/images/{own['id']}", headers=alice).status_code == 200
    assert collaborator.status_code == 204


# --- authentication and scopes -----------------------------------------------------------


def test_writes_and_the_list_need_a_token(client: Client, alice: Auth) -> None:
    image = create(client, alice)

    answers = [
        client.post("/api/images", json={"name": "x"}),
        raw(client, {}, name="x"),
        client.delete(f"/api/images/{image['id']}"),
        client.get("/api/images"),
    ]

    assert [a.status_code for a in answers] == [401, 401, 401, 401]
    assert answers[0].json() == {"message": "Unauthorized"}


def test_scopes_are_checked_before_the_upload_is_read(
    client: Client, users: Users, marid: Marid, settings: Settings
) -> None:
    user_id, full = users.create("alice")
    image = create(client, full)
    reader = token(marid, user_id, "image:read")
    writer = token(marid, user_id, "image:read,write")
    nothing = token(marid, user_id, "build:read")

    upload = raw(client, reader, content=b"not even qcow2", name="no good")
    deleting = client.delete(f"/api/images/{image['id']}", headers=writer)
    listing = client.get("/api/images", headers=nothing)
    reading = client.get(f"/api/images/{image['id']}", headers=nothing)

    assert [upload.status_code, deleting.status_code, listing.status_code] == [403, 403, 403]
    assert reading.status_code == 403
    assert upload.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="image:write"'
    )
    assert deleting.headers["www-authenticate"].endswith('scope="image:delete"')
    assert len(stored_files(settings)) == 1


def test_json_sent_as_a_form_is_read_as_json(client: Client, alice: Auth) -> None:
    """`curl -d '{...}'` declares a urlencoded form; the body is JSON all the same."""
    body = b'{"name": "alpine", "download_url": "https://example.com/alpine.qcow2"}'

    response = client.post(
        "/api/images",
        content=body,
        headers={**alice, "Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 201, response.text
    assert response.json()["name"] == "alpine"
    assert response.json()["download"]["source"] == "https://example.com/alpine.qcow2"
