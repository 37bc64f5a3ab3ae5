"""Images: validation, redaction, uniqueness, and the claimed download lifecycle."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest

from application.app import MaridApplication
from application.images import ImageContent
from application.ports import BlobInfo
from domain.errors import Errors, NamespacePermissionError, NotFoundError, ValidationError
from domain.images import (
    DownloadClaimError,
    FileCheck,
    Image,
    is_qcow2,
    redact,
    url_problem,
    validate_image,
)
from infrastructure.public_http import refusal
from tests.unit.conftest import ORIGIN, POPO, RacingApp, events_after, register

URL = "https://mirror.example/alpine.qcow2"
BLOB = BlobInfo(size=8, md5="m", sha256="s")
UPLOAD = ImageContent(check=FileCheck.QCOW2, blob_key="images/upload-1", blob=BLOB)
LEASE = timedelta(minutes=2)
T0 = datetime(2025, 1, 1, tzinfo=UTC)


class ReversingBox:
    """A SecretBox fake: sealed text is reversed and marked, so it never reads as the secret."""

    def seal(self, plaintext: str) -> str:
        return "sealed:" + plaintext[::-1]

    def open(self, sealed: str) -> str:
        return sealed.removeprefix("sealed:")[::-1]


@pytest.fixture
def app() -> MaridApplication:
    return MaridApplication(POPO, secrets=ReversingBox())


def fields_of(name: str | None, url: str | None, file: FileCheck) -> dict[str, list[str]]:
    errors = Errors()
    validate_image(errors, name, url, file)
    return errors.fields


def create(
    app: MaridApplication,
    owner_id: int,
    name: str,
    content: ImageContent = UPLOAD,
    namespace: str | None = None,
) -> int:
    return app.create_image(owner_id, name, namespace, content, ORIGIN).value


def from_url(app: MaridApplication, owner_id: int, name: str = "alpine", url: str = URL) -> int:
    return create(app, owner_id, name, ImageContent(download_url=url))


def image(app: MaridApplication, image_id: int) -> Image:
    return app.image(image_id)


# --- validation ------------------------------------------------------------------------


def test_missing_name_and_file_are_both_reported_and_the_file_only_once() -> None:
    assert fields_of(None, None, FileCheck.MISSING) == {
        "name": ["Name field required"],
        "file": ["File field required"],
    }


@pytest.mark.parametrize("name", ["a b", "dots.not.allowed", "trailing\n", "é"])
def test_name_outside_the_pattern_is_refused(name: str) -> None:
    assert fields_of(name, None, FileCheck.QCOW2) == {
        "name": [r"Name does not match ^[a-zA-Z0-9_\-]+$"]
    }


def test_name_of_letters_digits_dashes_and_underscores_is_accepted() -> None:
    assert fields_of("Alpine_3-19", None, FileCheck.QCOW2) == {}


def test_file_that_is_not_qcow2_is_refused() -> None:
    assert fields_of("alpine", None, FileCheck.NOT_QCOW2) == {
        "file": ["File not a valid QCOW2 file format"]
    }


def test_qcow2_is_recognised_by_its_magic_bytes() -> None:
    assert is_qcow2(b"QFI\xfb\x00\x00\x00\x03")
    assert not is_qcow2(b"QFI")
    assert not is_qcow2(b"\x7fELF")


def test_download_url_replaces_the_file() -> None:
    assert fields_of("alpine", URL, FileCheck.MISSING) == {}


@pytest.mark.parametrize(
    "url", ["ftp://host/x", "sftp://u:p@host/x", "file:///etc/passwd", "//host/x"]
)
def test_download_url_must_be_http_or_https(url: str) -> None:
    assert url_problem(url) == "Download_url invalid url scheme"


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "alpine.qcow2",
        "http://",
        "https://host:99999/x",
        "http://ho st/",
        "http://h/\x00",
    ],
)
def test_text_that_is_not_a_url_is_refused_clearly(url: str) -> None:
    assert url_problem(url) == "Download_url is not a valid URL"


def test_source_redacts_the_password_and_lowercases_scheme_and_host() -> None:
    source = redact("HTTPS://Bob:hunter2@Mirror.Example:8443/Images/Alpine.qcow2?x=1")

    assert source == "https://Bob:xxxxx@mirror.example:8443/Images/Alpine.qcow2?x=1"


def test_source_without_credentials_is_unchanged() -> None:
    assert redact("http://[::1]:8080/a.qcow2") == "http://[::1]:8080/a.qcow2"


# --- create and delete -----------------------------------------------------------------


def test_uploaded_image_records_its_blob_and_has_no_download(app: MaridApplication) -> None:
    alice = register(app, "alice")

    image_id = create(app, alice, "alpine")

    found = image(app, image_id)
    assert (found.name, found.driver, found.blob_key, found.owner_id) == (
        "alpine",
        "qemu",
        "images/upload-1",
        alice,
    )
    assert not found.download_pending


def test_url_is_sealed_in_the_event_and_shown_redacted(app: MaridApplication) -> None:
    alice = register(app, "alice")
    url = "https://bob:hunter2@mirror.example/a.qcow2"

    image_id = from_url(app, alice, url=url)

    created = [e for e in events_after(app, 0) if isinstance(e, Image.Created)]
    assert [e.public_id for e in created] == [image_id]
    assert "hunter2" not in repr(created[0].__dict__)
    assert created[0].download_source == "https://bob:xxxxx@mirror.example/a.qcow2"
    assert image(app, image_id).blob_key is None
    assert image(app, image_id).download_pending


def test_url_wins_over_an_uploaded_file(app: MaridApplication) -> None:
    alice = register(app, "alice")
    content = ImageContent(download_url=URL, check=FileCheck.QCOW2, blob_key="images/x", blob=BLOB)

    image_id = create(app, alice, "alpine", content)

    assert image(app, image_id).blob_key is None


def test_name_is_unique_per_owner(app: MaridApplication) -> None:
    alice = register(app, "alice")
    create(app, alice, "alpine")

    with pytest.raises(ValidationError) as caught:
        from_url(app, alice, "alpine")

    assert caught.value.fields == {"name": ["Name already exists"]}


def test_same_name_is_free_in_another_namespace_and_for_another_owner(
    app: MaridApplication,
) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    create(app, alice, "alpine")

    in_namespace = create(app, alice, "alpine", namespace="proj")
    bobs = create(app, bob, "alpine")

    assert image(app, in_namespace).namespace_id is not None
    assert image(app, bobs).owner_id == bob


def test_every_failed_rule_is_reported_before_the_namespace_refusal(
    app: MaridApplication,
) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    create(app, alice, "other", namespace="proj")

    with pytest.raises(ValidationError) as caught:
        create(app, bob, "bad name", ImageContent(download_url="gopher://x"), "proj@alice")

    assert caught.value.fields == {
        "name": [r"Name does not match ^[a-zA-Z0-9_\-]+$"],
        "download_url": ["Download_url invalid url scheme"],
    }


def test_creating_in_another_users_namespace_is_refused(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    create(app, alice, "other", namespace="proj")

    with pytest.raises(NamespacePermissionError):
        create(app, bob, "alpine", namespace="proj@alice")


def test_delete_frees_the_name_and_returns_the_blob_to_delete(app: MaridApplication) -> None:
    alice = register(app, "alice")
    image_id = create(app, alice, "alpine")

    blob_key = app.delete_image(image_id, alice, ORIGIN).value

    assert blob_key == "images/upload-1"
    assert create(app, alice, "alpine") != image_id
    with pytest.raises(NotFoundError):
        app.image(image_id)


def test_only_a_writer_may_delete(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    image_id = create(app, alice, "alpine", namespace="proj")

    with pytest.raises(NotFoundError):
        app.delete_image(image_id, bob, ORIGIN)

    assert image(app, image_id).name == "alpine"  # still there


# --- download claims (domain) ----------------------------------------------------------


def pending(app: MaridApplication) -> Image:
    return image(app, from_url(app, register(app, "alice")))


def test_fresh_claim_keeps_other_claimants_out(app: MaridApplication) -> None:
    found = pending(app)
    found.claim_download("one", T0, LEASE, ORIGIN)

    with pytest.raises(DownloadClaimError):
        found.claim_download("two", T0 + LEASE, LEASE, ORIGIN)


def test_stale_claim_is_taken_over(app: MaridApplication) -> None:
    found = pending(app)
    found.claim_download("one", T0, LEASE, ORIGIN)

    found.claim_download("two", T0 + LEASE + timedelta(seconds=1), LEASE, ORIGIN)

    assert found.holds_claim("two")
    assert not found.holds_claim("one")


def test_progress_renews_the_claim(app: MaridApplication) -> None:
    found = pending(app)
    found.claim_download("one", T0, LEASE, ORIGIN)
    found.record_progress("one", 1024, T0 + LEASE, ORIGIN)

    with pytest.raises(DownloadClaimError):
        found.claim_download("two", T0 + LEASE + timedelta(seconds=1), LEASE, ORIGIN)


def test_a_lost_claim_cannot_finish(app: MaridApplication) -> None:
    found = pending(app)
    found.claim_download("one", T0, LEASE, ORIGIN)
    found.claim_download("two", T0 + 2 * LEASE, LEASE, ORIGIN)

    with pytest.raises(DownloadClaimError):
        found.finish_download("one", "images/k", 8, "s", T0 + 2 * LEASE, ORIGIN)


def test_finished_or_failed_downloads_are_not_claimed_again(app: MaridApplication) -> None:
    finished, failed = pending(app), image(app, from_url(app, register(app, "bob")))
    finished.claim_download("one", T0, LEASE, ORIGIN)
    finished.finish_download("one", "images/k", 8, "s", T0, ORIGIN)
    failed.claim_download("one", T0, LEASE, ORIGIN)
    failed.fail_download("one", "not a valid qcow2 file", T0, ORIGIN)

    for done in (finished, failed):
        with pytest.raises(DownloadClaimError):
            done.claim_download("two", T0 + 2 * LEASE, LEASE, ORIGIN)
    assert finished.blob_key == "images/k"
    assert failed.blob_key is None


def test_uploaded_image_has_nothing_to_claim(app: MaridApplication) -> None:
    found = image(app, create(app, register(app, "alice"), "alpine"))

    with pytest.raises(DownloadClaimError):
        found.claim_download("one", T0, LEASE, ORIGIN)


# --- download claims (use cases) -------------------------------------------------------


def test_claim_returns_the_url_in_clear(app: MaridApplication) -> None:
    image_id = from_url(app, register(app, "alice"), url="https://u:pw@mirror.example/a")

    url = app.claim_download(image_id, "one", LEASE).value

    assert url == "https://u:pw@mirror.example/a"


def test_deleted_image_cannot_be_claimed_or_finished(app: MaridApplication) -> None:
    alice = register(app, "alice")
    image_id = from_url(app, alice)
    app.claim_download(image_id, "one", LEASE)
    app.delete_image(image_id, alice, ORIGIN)

    with pytest.raises(DownloadClaimError):
        app.finish_download(image_id, "one", "images/k", BLOB)
    with pytest.raises(DownloadClaimError):
        app.claim_download(image_id, "two", LEASE)


def test_finish_records_the_blob(app: MaridApplication) -> None:
    image_id = from_url(app, register(app, "alice"))
    app.claim_download(image_id, "one", LEASE)

    app.finish_download(image_id, "one", "images/k", BLOB)

    assert image(app, image_id).blob_key == "images/k"
    assert not image(app, image_id).download_pending


def test_concurrent_claims_leave_exactly_one_claimant() -> None:
    racing = RacingApp()
    racing.secrets = ReversingBox()
    image_id = from_url(racing, register(racing, "alice"))
    won: list[str] = []
    racing.competitors.append(
        lambda: won.append(racing.claim_download(image_id, "one", LEASE).value)
    )

    with pytest.raises(DownloadClaimError):
        racing.claim_download(image_id, "two", LEASE)

    assert won == [URL]
    assert racing.image(image_id).holds_claim("one")


# --- address safety ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),  # noqa: S104  # an address under test, not a bind
        ("100.64.0.1", "non-public"),
        ("93.184.215.14", None),
        ("2606:4700::1111", None),
    ],
)
def test_only_global_addresses_are_fetched_from(address: str, reason: str | None) -> None:
    assert refusal(ipaddress.ip_address(address)) == reason
