"""Objects without a database: the aggregate, its rules, the use cases on the in-memory store,
type sniffing, and the streaming upload helpers on a blob store in a temporary directory."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
from litestar.exceptions import ClientException, HTTPException, InternalServerException

from api.blob_responses import byte_range
from api.upload_body import HEAD_SIZE, Upload, UploadStart, format_size
from api.uploads import discard_on_error, receive_upload
from application.app import MaridApplication
from application.objects import StoredContent
from application.ports import BlobInfo
from domain.errors import Errors, NamespacePermissionError, NotFoundError, ValidationError
from domain.objects import Object, blob_key, sniff_type, validate_object
from infrastructure.blobs import FileBlobStore
from tests.unit.conftest import ORIGIN, RacingApp, register

CONTENT = b"some content\n"
NAME_RULE = r"Name does not match ^[a-zA-Z0-9\._\-]+$"


def stored(content: bytes = CONTENT, content_type: str = "text/plain") -> StoredContent:
    info = BlobInfo(
        size=len(content),
        md5=hashlib.md5(content, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(content).hexdigest(),
    )
    return StoredContent(content_type, info)


def create(
    app: MaridApplication, caller: int, name: str | None, namespace: str | None = None
) -> int:
    object_id = app.prepare_object(caller, name, namespace, ORIGIN)
    return app.create_object(object_id, caller, name, namespace, stored(), ORIGIN).value


def refusal(app: MaridApplication, caller: int, name: str | None, **kwargs: Any) -> Any:
    with pytest.raises(ValidationError) as caught:
        app.create_object(
            None, caller, name, kwargs.get("namespace"), kwargs.get("content"), ORIGIN
        )
    return caught.value.fields


# --- the aggregate and its rules ---------------------------------------------------------


def test_object_records_its_content_and_is_deleted_once() -> None:
    obj = Object(
        public_id=7,
        owner_id=1,
        author_id=2,
        namespace_id=None,
        name="data",
        content_type="text/plain",
        size=3,
        md5="m",
        sha256="s",
        origin=ORIGIN,
    )

    obj.delete(ORIGIN)
    obj.delete(ORIGIN)

    events = obj.collect_events()
    assert [type(e) for e in events] == [Object.Created, Object.Deleted]
    assert obj.id == Object.create_id(7)
    assert obj.blob_key == blob_key(7) == "objects/7"
    assert obj.deleted


@pytest.mark.parametrize(
    ("name", "has_file", "content_type", "expected"),
    [
        ("data.tar.gz", True, "application/x-gzip", {}),
        (None, False, None, {"name": ["Name field required"], "file": ["File field required"]}),
        ("no/slash", True, None, {"name": [NAME_RULE]}),
        ("trailing-newline\n", True, None, {"name": [NAME_RULE]}),
        ("ok", True, "x" * 256, {"type": ["Type cannot be longer than 255 characters in length"]}),
        ("ok", True, "text/\x00", {"type": ["Type can only contain printable ASCII characters"]}),
    ],
)
def test_object_fields_are_validated_together(
    name: str | None, has_file: bool, content_type: str | None, expected: dict[str, list[str]]
) -> None:
    errors = Errors()

    validate_object(errors, name, has_file, content_type)

    assert errors.fields == expected


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n....", "image/png"),
        (b"\xff\xd8\xff\xe0", "image/jpeg"),
        (b"GIF89a...", "image/gif"),
        (b"%PDF-1.4", "application/pdf"),
        (b"PK\x03\x04rest", "application/zip"),
        (b"\x1f\x8b\x08\x00", "application/x-gzip"),
        (b"QFI\xfb\x00\x00\x00\x03", "application/x-qemu-disk"),
        (b"plain text\r\n\twith tabs", "text/plain; charset=utf-8"),
        ("naïve".encode() + "€".encode()[:2], "text/plain; charset=utf-8"),  # cut mid-character
        (b"\xc3\x28 invalid utf-8", "application/octet-stream"),
        (b"text with a \x00 NUL", "application/octet-stream"),
        (b"", "application/octet-stream"),
    ],
)
def test_type_is_sniffed_from_the_first_bytes(head: bytes, expected: str) -> None:
    assert sniff_type(head) == expected


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1 KB"),
        (1536, "1 KB"),
        (5 * 1024 * 1024, "5 MB"),
        (5 * 1024 * 1024 - 1, "4 MB"),
        (3 * 1024**3 + 5, "3 GB"),
        (2 * 1024**6, "2048 PB"),
    ],
)
def test_sizes_are_whole_units_rounded_down(size: int, text: str) -> None:
    assert format_size(size) == text


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", (0, 9)),
        ("bytes=5-", (5, 99)),
        ("bytes=90-200", (90, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=-500", (0, 99)),
        ("bytes=0-1,5-6", None),
        ("bytes=9-3", None),
        ("items=0-9", None),
        ("bytes=x-", None),
        ("bytes=-", None),
    ],
)
def test_one_byte_range_is_honoured_and_others_ignored(
    header: str | None, expected: tuple[int, int] | None
) -> None:
    assert byte_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=500-600", "bytes=-0"])
def test_a_range_past_the_end_is_unsatisfiable(header: str) -> None:
    with pytest.raises(HTTPException) as caught:
        byte_range(header, 100)

    assert caught.value.status_code == 416
    assert caught.value.headers == {"Content-Range": "bytes */100"}


# --- use cases ---------------------------------------------------------------------------


def test_object_is_created_with_its_content(app: MaridApplication) -> None:
    alice = register(app, "alice")

    object_id = create(app, alice, "data", "proj")

    obj = app.load(Object.create_id(object_id), Object)
    assert obj is not None
    ns = app.find_namespace(alice, "proj")
    assert ns is not None
    assert (obj.name, obj.owner_id, obj.author_id, obj.namespace_id) == (
        "data",
        alice,
        alice,
        ns.public_id,
    )
    assert (obj.content_type, obj.size, obj.sha256) == (
        "text/plain",
        len(CONTENT),
        hashlib.sha256(CONTENT).hexdigest(),
    )


def test_missing_content_and_bad_fields_are_reported_together(app: MaridApplication) -> None:
    alice = register(app, "alice")

    fields = refusal(app, alice, "bad name", namespace="bad ref!")

    assert fields == {
        "name": [NAME_RULE],
        "file": ["File field required"],
        "namespace": ["bad ref!: namespace: name can only contain letters and numbers"],
    }


def test_name_is_taken_per_owner_and_freed_by_delete(app: MaridApplication) -> None:
    alice = register(app, "alice")
    first = create(app, alice, "data")
    create(app, alice, "data", "proj")

    taken = refusal(app, alice, "data", content=stored())
    app.delete_object(first, alice, ORIGIN)
    again = create(app, alice, "data")

    assert taken == {"name": ["Name already exists"]}
    assert again != first


def test_prepare_refuses_before_an_id_is_allocated(app: MaridApplication) -> None:
    alice = register(app, "alice")
    create(app, alice, "data")
    next_before = app.ids.next_id("object")

    with pytest.raises(ValidationError) as caught:
        app.prepare_object(alice, "data", None, ORIGIN)

    assert caught.value.fields == {"name": ["Name already exists"]}
    assert app.ids.next_id("object") == next_before + 1


def test_prepare_leaves_to_later_fields_what_they_may_change(app: MaridApplication) -> None:
    alice = register(app, "alice")
    create(app, alice, "data")

    no_name_yet = app.prepare_object(alice, None, None, ORIGIN, partial=True)
    no_namespace_yet = app.prepare_object(alice, "data", None, ORIGIN, partial=True)
    with pytest.raises(ValidationError) as caught:
        app.prepare_object(alice, "bad name", None, ORIGIN, partial=True)

    assert no_name_yet != no_namespace_yet
    assert caught.value.fields == {"name": [NAME_RULE]}


def test_another_users_namespace_is_refused_after_field_errors(app: MaridApplication) -> None:
    alice = register(app, "alice")
    bob = register(app, "bob")
    create(app, alice, "data", "proj")

    with pytest.raises(NamespacePermissionError):
        app.prepare_object(bob, "data", "proj@alice", ORIGIN)
    with pytest.raises(ValidationError) as caught:
        app.prepare_object(bob, "bad name", "proj@alice", ORIGIN)

    assert caught.value.fields == {"name": [NAME_RULE]}


def test_only_writers_delete_and_deleted_objects_are_gone(app: MaridApplication) -> None:
    alice = register(app, "alice")
    bob = register(app, "bob")
    object_id = create(app, alice, "data")

    with pytest.raises(NotFoundError):
        app.delete_object(object_id, bob, ORIGIN)
    key = app.delete_object(object_id, alice, ORIGIN).value
    with pytest.raises(NotFoundError):
        app.delete_object(object_id, alice, ORIGIN)

    assert key == blob_key(object_id)


def test_concurrent_creates_of_one_name_leave_exactly_one_winner(racing: RacingApp) -> None:
    alice = register(racing, "alice")
    winner: list[int] = []
    racing.competitors.append(lambda: winner.append(create(racing, alice, "data")))

    with pytest.raises(ValidationError) as caught:
        create(racing, alice, "data")

    assert caught.value.fields == {"name": ["Name already exists"]}
    assert len(winner) == 1


# --- streaming uploads -------------------------------------------------------------------


class FakeQuery:
    def __init__(self, items: list[tuple[str, str]]) -> None:
        self.items = items

    def multi_items(self) -> list[tuple[str, str]]:
        return self.items


class FakeRequest:
    """What `receive_upload` reads of a request: headers, query, and a body in chunks."""

    def __init__(
        self,
        chunks: list[bytes],
        content_type: str | None,
        query: list[tuple[str, str]] | None = None,
        disconnect: bool = False,
    ) -> None:
        self.headers = {"content-type": content_type} if content_type else {}
        self.query_params = FakeQuery(query or [])
        self.chunks = chunks
        self.disconnect = disconnect
        self.read = 0

    async def stream(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.read += len(chunk)
            yield chunk
        if self.disconnect:  # what Litestar raises when the client leaves mid-body
            raise InternalServerException("client disconnected prematurely")
        yield b""


class Recorder:
    """A `begin` callback that records what it was shown and hands out keys."""

    def __init__(self, refuse: bool = False) -> None:
        self.starts: list[UploadStart] = []
        self.refuse = refuse

    def __call__(self, start: UploadStart) -> str:
        self.starts.append(start)
        if self.refuse:
            raise ValidationError({"name": ["Name already exists"]})
        return f"objects/{len(self.starts)}"


def form_body(parts: list[tuple[str, bytes]], boundary: str = "bnd") -> bytes:
    body = b""
    for disposition, content in parts:
        body += f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n\r\n".encode()
        body += content + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def files_in(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


async def receive(request: FakeRequest, store: FileBlobStore, begin: Any, limit: int) -> Upload:
    return await receive_upload(
        cast(Any, request), store, begin, limit=limit, json_fields=("name", "namespace")
    )


async def test_multipart_is_parsed_in_any_chunking(tmp_path: Path) -> None:
    content = bytes(range(256)) * 20
    body = form_body(
        [('name="name"', b"data"), ('name="file"; filename="f"', content), ('name="x"', b"1")]
    )
    store, begin = FileBlobStore(tmp_path), Recorder()

    uploads = [
        await receive(
            FakeRequest(split(body, size), "multipart/form-data; boundary=bnd"),
            store,
            begin,
            10_000,
        )
        for size in (1, 7, 1000, len(body))
    ]

    assert [u.blob.size if u.blob else None for u in uploads] == [len(content)] * 4
    assert [u.fields for u in uploads] == [{"name": "data", "x": "1"}] * 4
    assert [s.fields for s in begin.starts] == [{"name": "data"}] * 4
    assert all(not s.final and s.head == content[:HEAD_SIZE] for s in begin.starts)
    with store.open("objects/1") as f:
        assert f.read() == content


async def test_raw_body_is_stored_with_query_fields_and_declared_type(tmp_path: Path) -> None:
    store, begin = FileBlobStore(tmp_path), Recorder()
    request = FakeRequest([CONTENT[:3], CONTENT[3:]], "x/y", [("name", "a"), ("name", "b")])

    upload = await receive(request, store, begin, 100)

    assert (upload.fields, upload.content_type, upload.key) == ({"name": "a"}, "x/y", "objects/1")
    assert upload.blob == BlobInfo(
        len(CONTENT),
        hashlib.md5(CONTENT, usedforsecurity=False).hexdigest(),
        hashlib.sha256(CONTENT).hexdigest(),
    )
    assert begin.starts[0].final


async def test_empty_body_is_no_file_and_nothing_begins(tmp_path: Path) -> None:
    store, begin = FileBlobStore(tmp_path), Recorder()

    upload = await receive(FakeRequest([], None, [("name", "a")]), store, begin, 100)

    assert (upload.key, upload.blob, upload.head) == (None, None, b"")
    assert begin.starts == []


async def test_refusal_at_begin_stores_nothing_and_drains_the_body(tmp_path: Path) -> None:
    store, begin = FileBlobStore(tmp_path), Recorder(refuse=True)
    request = FakeRequest(split(b"x" * 10_000, 1000), "application/octet-stream")

    with pytest.raises(ValidationError):
        await receive(request, store, begin, 100_000)

    assert files_in(tmp_path) == []
    assert request.read == 10_000


@pytest.mark.parametrize("multipart", [False, True])
async def test_content_over_the_limit_stores_nothing(tmp_path: Path, multipart: bool) -> None:
    content = b"x" * 2049
    body = form_body([('name="file"', content)]) if multipart else content
    content_type = "multipart/form-data; boundary=bnd" if multipart else None
    store = FileBlobStore(tmp_path)

    with pytest.raises(ValidationError) as caught:
        await receive(FakeRequest(split(body, 100), content_type), store, Recorder(), 2048)

    assert caught.value.fields == {"file": ["file too large, cannot exceed 2 KB"]}
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("multipart", [False, True])
async def test_client_leaving_mid_file_leaves_nothing(tmp_path: Path, multipart: bool) -> None:
    body = form_body([('name="file"', b"y" * 5000)]) if multipart else b"y" * 5000
    content_type = "multipart/form-data; boundary=bnd" if multipart else None
    request = FakeRequest(split(body[:3000], 500), content_type, disconnect=True)
    store = FileBlobStore(tmp_path)

    with pytest.raises(ClientException) as caught:
        await receive(request, store, Recorder(), 100_000)

    assert "interrupted" in caught.value.detail
    assert files_in(tmp_path) == []


async def test_stored_file_is_deleted_when_a_later_part_fails(tmp_path: Path) -> None:
    complete_file_part = form_body([('name="file"', CONTENT)]).removesuffix(b"--bnd--\r\n")
    body = complete_file_part + b'--bnd\r\nContent-Disposition: form-data; name="x"\r\n\r\ncut'
    store, begin = FileBlobStore(tmp_path), Recorder()
    request = FakeRequest([body], "multipart/form-data; boundary=bnd")

    with pytest.raises(ClientException):
        await receive(request, store, begin, 100)

    assert len(begin.starts) == 1
    assert files_in(tmp_path) == []


async def test_oversized_text_field_is_refused(tmp_path: Path) -> None:
    body = form_body([('name="name"', b"n" * 20_000), ('name="file"', CONTENT)])
    store = FileBlobStore(tmp_path)

    with pytest.raises(ValidationError) as caught:
        await receive(
            FakeRequest([body], "multipart/form-data; boundary=bnd"), store, Recorder(), 100
        )

    assert caught.value.fields == {"name": ["Name is too long"]}


async def test_json_and_urlencoded_bodies_carry_fields_only(tmp_path: Path) -> None:
    store, begin = FileBlobStore(tmp_path), Recorder()

    as_json = await receive(FakeRequest([b'{"name": "a"}'], "application/json"), store, begin, 9)
    as_form = await receive(
        FakeRequest([b"name=b&name=c"], "application/x-www-form-urlencoded"), store, begin, 9
    )

    assert (as_json.fields, as_json.key) == ({"name": "a"}, None)
    assert (as_form.fields, as_form.key) == ({"name": "b"}, None)
    assert begin.starts == []


def test_discard_on_error_deletes_the_blob_only_on_failure(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    info = store.put("objects/1", iter([CONTENT]))
    upload = Upload({}, None, CONTENT, "objects/1", info)

    with discard_on_error(store, upload):
        pass
    kept = files_in(tmp_path)
    with pytest.raises(RuntimeError), discard_on_error(store, upload):
        raise RuntimeError("save failed")

    assert kept == [tmp_path / "objects" / "1"]
    assert files_in(tmp_path) == []
