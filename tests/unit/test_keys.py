"""SSH keys: checking private keys, the aggregate, and its use cases on the in-memory store.

Test keys are generated here with `cryptography`, in OpenSSH and PEM formats.
"""

from __future__ import annotations

import base64
import os
import struct
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from application.app import MaridApplication
from domain.errors import Errors, NamespacePermissionError, NotFoundError, ValidationError
from domain.keys import SshKey, clean_key, key_problem, validate_key
from domain.origin import Origin
from tests.unit.conftest import (
    ORIGIN,
    POPO,
    RacingApp,
    add_collaborator,
    event_count,
    events_after,
    register,
)

NO_KEY = "ssh: no key found"
PROTECTED = "ssh: this private key is passphrase protected"

# --- test keys -----------------------------------------------------------------------------

_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # generated once: slow


def rsa_key(fmt: PrivateFormat = PrivateFormat.TraditionalOpenSSL) -> str:
    return _RSA.private_bytes(Encoding.PEM, fmt, NoEncryption()).decode()


def ed25519_key(fmt: PrivateFormat = PrivateFormat.OpenSSH) -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(Encoding.PEM, fmt, NoEncryption()).decode()


def ec_key(fmt: PrivateFormat = PrivateFormat.TraditionalOpenSSL) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(Encoding.PEM, fmt, NoEncryption()).decode()


def encrypted_pem_key(fmt: PrivateFormat = PrivateFormat.TraditionalOpenSSL) -> str:
    return _RSA.private_bytes(Encoding.PEM, fmt, BestAvailableEncryption(b"secret")).decode()


def encrypted_openssh_key() -> str:
    """An OpenSSH key sealed with a passphrase (aes256-ctr, bcrypt KDF), built by hand.

    `cryptography` writes this format only with the optional `bcrypt` package; reading it
    stops at the missing passphrase, so random bytes stand in for the ciphertext.
    """
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    blob = base64.b64decode(public.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).split()[1])

    def string(data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + data

    kdf_options = string(os.urandom(16)) + struct.pack(">I", 16)
    body = (
        b"openssh-key-v1\0"
        + string(b"aes256-ctr")
        + string(b"bcrypt")
        + string(kdf_options)
        + struct.pack(">I", 1)
        + string(blob)
        + string(os.urandom(160))
    )
    encoded = base64.b64encode(body).decode()
    lines = [encoded[i : i + 70] for i in range(0, len(encoded), 70)]
    return "\n".join(
        ["-----BEGIN OPENSSH PRIVATE KEY-----", *lines, "-----END OPENSSH PRIVATE KEY-----", ""]
    )


def truncated(text: str, keep_lines: int) -> str:
    """The first lines of a key's body, with its END line kept."""
    lines = text.strip().splitlines()
    return "\n".join([*lines[:keep_lines], lines[-1]]) + "\n"


def public_key_pem() -> str:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


# --- checking a private key ----------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: rsa_key(PrivateFormat.TraditionalOpenSSL),
        lambda: rsa_key(PrivateFormat.PKCS8),
        lambda: rsa_key(PrivateFormat.OpenSSH),
        lambda: ed25519_key(PrivateFormat.OpenSSH),
        lambda: ed25519_key(PrivateFormat.PKCS8),
        lambda: ec_key(PrivateFormat.TraditionalOpenSSL),
        lambda: ec_key(PrivateFormat.OpenSSH),
    ],
    ids=[
        "rsa-pem",
        "rsa-pkcs8",
        "rsa-openssh",
        "ed25519-openssh",
        "ed25519-pkcs8",
        "ec-pem",
        "ec-openssh",
    ],
)
def test_unencrypted_private_keys_are_accepted(make: Any) -> None:
    text = make()

    problem = key_problem(text)

    assert problem is None


def test_text_around_the_key_block_is_ignored() -> None:
    text = "my deploy key:\n" + ed25519_key() + "\nssh-ed25519 AAAA... me@host\n"

    problem = key_problem(text)

    assert problem is None


def test_windows_line_endings_are_removed_from_the_key() -> None:
    text = ed25519_key().replace("\n", "\r\n")

    cleaned = clean_key(text)

    assert cleaned is not None
    assert "\r" not in cleaned
    assert key_problem(cleaned) is None


@pytest.mark.parametrize(
    "make",
    [
        lambda: encrypted_pem_key(PrivateFormat.TraditionalOpenSSL),
        lambda: encrypted_pem_key(PrivateFormat.PKCS8),
        encrypted_openssh_key,
    ],
    ids=["pem", "pkcs8", "openssh"],
)
def test_passphrase_protected_keys_are_refused_with_the_reason(make: Any) -> None:
    text = make()

    problem = key_problem(text)

    assert problem == PROTECTED


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n",
        "not a key at all",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx me@host",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n",
    ],
    ids=["empty", "blank", "garbage", "public-key-line", "no-end-line"],
)
def test_text_without_a_complete_key_block_is_no_key_found(text: str) -> None:
    problem = key_problem(text)

    assert problem == NO_KEY


def test_truncated_openssh_key_is_an_invalid_format() -> None:
    text = truncated(ed25519_key(), 3)

    problem = key_problem(text)

    assert problem == "ssh: invalid openssh private key format"


def test_truncated_pem_key_is_malformed() -> None:
    text = truncated(rsa_key(), 10)

    problem = key_problem(text)

    assert problem == "ssh: malformed private key"


def test_garbage_inside_a_key_block_is_malformed() -> None:
    text = "-----BEGIN RSA PRIVATE KEY-----\nnot base64 @@@\n-----END RSA PRIVATE KEY-----\n"

    problem = key_problem(text)

    assert problem == "ssh: malformed private key"


def test_other_pem_blocks_are_unsupported_key_types() -> None:
    problem = key_problem(public_key_pem())

    assert problem == 'ssh: unsupported key type "PUBLIC KEY"'


def test_private_keys_ssh_cannot_use_are_refused() -> None:
    key = x25519.X25519PrivateKey.generate()
    text = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()

    problem = key_problem(text)

    assert problem == "ssh: unsupported key type X25519PrivateKey"


@pytest.mark.parametrize("make", [ed25519_key, rsa_key], ids=["openssh", "pem"])
def test_every_prefix_of_a_key_is_refused_with_a_reason(make: Any) -> None:
    text = make()

    problems = {key_problem(text[:end]) for end in range(len(text) - 1)}

    assert None not in problems
    assert all(isinstance(p, str) and p.startswith("ssh: ") for p in problems)


def test_only_the_first_key_block_counts() -> None:
    text = "-----BEGIN OPENSSH PRIVATE KEY-----\nunfinished\n" + ed25519_key()

    problem = key_problem(text)

    assert problem == "ssh: invalid openssh private key format"


def test_unterminated_first_block_is_no_key_found_even_before_a_key() -> None:
    text = "-----BEGIN RSA PRIVATE KEY-----\nunfinished\n" + ed25519_key()

    problem = key_problem(text)

    assert problem == NO_KEY


def test_text_of_many_begin_lines_is_checked_in_linear_time() -> None:
    # Matching every BEGIN line against a later END line took minutes on this text.
    text = "-----BEGIN A-----\n" * 60_000
    started = time.monotonic()

    problem = key_problem(text)

    assert problem == NO_KEY
    assert time.monotonic() - started < 2.0


def test_empty_key_is_both_missing_and_not_a_key() -> None:
    errors = Errors()

    validate_key(errors, "deploy", "")

    assert errors.fields == {"key": ["Key field required", f"Key {NO_KEY}"]}


def test_missing_name_and_bad_key_are_reported_together() -> None:
    errors = Errors()

    validate_key(errors, "  ", encrypted_pem_key())

    assert errors.fields == {"name": ["Name field required"], "key": [f"Key {PROTECTED}"]}


# --- the aggregate -------------------------------------------------------------------------


def new_key(config: str = "Host x") -> SshKey:
    return SshKey(
        public_id=1,
        owner_id=1,
        author_id=1,
        namespace_id=None,
        name="deploy",
        key="sealed",
        config=config,
        origin=ORIGIN,
    )


def test_update_without_config_keeps_it_and_records_the_update() -> None:
    ssh_key = new_key()

    ssh_key.update(None, ORIGIN)

    events = ssh_key.collect_events()
    assert isinstance(events[-1], SshKey.Updated)
    assert ssh_key.config == "Host x"


def test_deleted_key_cannot_be_updated() -> None:
    ssh_key = new_key()
    ssh_key.delete(ORIGIN)

    with pytest.raises(NotFoundError):
        ssh_key.update("Host y", ORIGIN)


# --- use cases -----------------------------------------------------------------------------


class ReversingBox:
    """A SecretBox fake: sealed text is reversed behind a prefix, never the clear text."""

    def seal(self, plaintext: str) -> str:
        return "sealed:" + plaintext[::-1]

    def open(self, sealed: str) -> str:
        return sealed.removeprefix("sealed:")[::-1]


@pytest.fixture
def app() -> MaridApplication:
    return MaridApplication(POPO, secrets=ReversingBox())


def create(
    app: MaridApplication,
    caller: int,
    name: str | None = "deploy",
    key: str | None = None,
    config: str | None = None,
    namespace: str | None = None,
) -> int:
    text = ed25519_key() if key is None else key
    return app.create_key(caller, name, text, config, namespace, ORIGIN).value


def field_errors(call: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        call()
    return caught.value.fields


def loaded(app: MaridApplication, key_id: int) -> SshKey:
    return app.live_key(key_id)


def test_private_key_is_sealed_before_it_reaches_the_event(app: MaridApplication) -> None:
    alice = register(app, "alice")
    text = ed25519_key()
    secret_line = text.splitlines()[2]
    before = event_count(app)

    key_id = create(app, alice, key=text.replace("\n", "\r\n"))

    created = [e for e in events_after(app, before) if isinstance(e, SshKey.Created)]
    assert len(created) == 1
    assert secret_line not in repr(vars(created[0]))
    assert app.secrets.open(loaded(app, key_id).key) == text


def test_key_without_namespace_belongs_to_its_creator(app: MaridApplication) -> None:
    alice = register(app, "alice")

    key_id = create(app, alice, config="Host github.com")

    ssh_key = loaded(app, key_id)
    assert (ssh_key.owner_id, ssh_key.author_id, ssh_key.namespace_id) == (alice, alice, None)
    assert (ssh_key.name, ssh_key.config) == ("deploy", "Host github.com")


def test_name_is_unique_per_owner(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    create(app, alice)
    create(app, bob)

    fields = field_errors(lambda: create(app, alice))

    assert fields == {"name": ["Name already exists"]}


def test_name_is_unique_per_namespace(app: MaridApplication) -> None:
    alice = register(app, "alice")
    create(app, alice)
    create(app, alice, namespace="proj")
    create(app, alice, namespace="proj/sub")

    fields = field_errors(lambda: create(app, alice, namespace="proj"))

    assert fields == {"name": ["Name already exists"]}


def test_every_failed_rule_is_reported_together(app: MaridApplication) -> None:
    alice = register(app, "alice")

    fields = field_errors(lambda: create(app, alice, name="", key="junk", namespace="a b"))

    assert fields == {
        "name": ["Name field required"],
        "key": [f"Key {NO_KEY}"],
        "namespace": ["a b: namespace: name can only contain letters and numbers"],
    }


def test_field_errors_come_before_a_namespace_refusal(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    create(app, alice, name="other", namespace="proj")

    fields = field_errors(lambda: create(app, bob, key="", namespace="proj@alice"))

    assert fields == {"key": ["Key field required", f"Key {NO_KEY}"]}


def test_creating_in_another_users_namespace_is_refused(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    create(app, alice, name="other", namespace="proj")

    with pytest.raises(NamespacePermissionError):
        create(app, bob, namespace="proj@alice")


def test_collaborators_key_belongs_to_the_namespace_owner(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    create(app, alice, name="other", namespace="proj")
    root = app.find_namespace(alice, "proj")
    assert root is not None
    add_collaborator(app, root.public_id, bob)

    key_id = create(app, bob, namespace="proj@alice")

    ssh_key = loaded(app, key_id)
    assert (ssh_key.owner_id, ssh_key.author_id, ssh_key.namespace_id) == (
        alice,
        bob,
        root.public_id,
    )


def test_failed_create_leaves_no_namespace_behind(app: MaridApplication) -> None:
    alice = register(app, "alice")

    field_errors(lambda: create(app, alice, key="junk", namespace="fresh"))

    assert app.find_namespace(alice, "fresh") is None


def test_update_changes_only_the_config(app: MaridApplication) -> None:
    alice = register(app, "alice")
    key_id = create(app, alice, config="Host a", namespace="proj")
    sealed = loaded(app, key_id).key

    app.update_key(key_id, alice, "Host b", ORIGIN, name="deploy", namespace="proj")

    ssh_key = loaded(app, key_id)
    assert (ssh_key.name, ssh_key.config, ssh_key.key) == ("deploy", "Host b", sealed)


def test_update_without_config_keeps_the_config(app: MaridApplication) -> None:
    alice = register(app, "alice")
    key_id = create(app, alice, config="Host a")

    app.update_key(key_id, alice, None, ORIGIN)

    assert loaded(app, key_id).config == "Host a"


def test_update_with_an_empty_config_clears_it(app: MaridApplication) -> None:
    alice = register(app, "alice")
    key_id = create(app, alice, config="Host a")

    app.update_key(key_id, alice, "", ORIGIN)

    assert loaded(app, key_id).config == ""


def test_update_refuses_another_name_or_namespace(app: MaridApplication) -> None:
    alice = register(app, "alice")
    key_id = create(app, alice, namespace="proj")
    create(app, alice, name="other", namespace="elsewhere")

    fields = field_errors(
        lambda: app.update_key(key_id, alice, "x", ORIGIN, name="renamed", namespace="elsewhere")
    )

    assert fields == {
        "name": ["Name cannot be changed"],
        "namespace": ["Namespace cannot be changed"],
    }
    assert loaded(app, key_id).config == ""


@pytest.mark.parametrize(
    ("namespace", "expected"),
    [
        ("", "Namespace cannot be changed"),
        ("nope", "Namespace cannot be changed"),
        ("proj@nobody", "Namespace cannot be changed"),
        ("a b", "a b: namespace: name can only contain letters and numbers"),
    ],
)
def test_update_names_the_namespace_field_when_it_differs(
    app: MaridApplication, namespace: str, expected: str
) -> None:
    alice = register(app, "alice")
    key_id = create(app, alice, namespace="proj")

    fields = field_errors(lambda: app.update_key(key_id, alice, None, ORIGIN, namespace=namespace))

    assert fields == {"namespace": [expected]}


def test_collaborator_names_the_namespace_with_its_owner(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    key_id = create(app, alice, namespace="proj")
    root = app.find_namespace(alice, "proj")
    assert root is not None
    add_collaborator(app, root.public_id, bob)

    app.update_key(key_id, bob, "Host b", ORIGIN, namespace="proj@alice")

    assert loaded(app, key_id).config == "Host b"


def test_reader_without_write_access_cannot_update_or_delete(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    key_id = create(app, alice, namespace="proj")
    root = app.find_namespace(alice, "proj")
    assert root is not None
    app.update_namespace(root.public_id, alice, None, "public", ORIGIN)

    with pytest.raises(NotFoundError):
        app.update_key(key_id, bob, "Host b", ORIGIN)
    with pytest.raises(NotFoundError):  # the write check comes before the field checks
        app.update_key(key_id, bob, "Host b", ORIGIN, name="renamed")
    with pytest.raises(NotFoundError):
        app.delete_key(key_id, bob, ORIGIN)

    assert loaded(app, key_id).config == ""  # still there, unchanged


def test_delete_frees_the_name(app: MaridApplication) -> None:
    alice = register(app, "alice")
    key_id = create(app, alice, namespace="proj")

    app.delete_key(key_id, alice, ORIGIN)

    with pytest.raises(NotFoundError):
        app.live_key(key_id)
    assert create(app, alice, namespace="proj") != key_id


def test_deleted_key_is_not_found(app: MaridApplication) -> None:
    alice = register(app, "alice")
    key_id = create(app, alice)
    app.delete_key(key_id, alice, ORIGIN)

    with pytest.raises(NotFoundError):
        app.update_key(key_id, alice, "x", ORIGIN)
    with pytest.raises(NotFoundError):
        app.delete_key(key_id, alice, ORIGIN)


def test_detached_key_stays_with_its_owner_alone(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    key_id = create(app, alice, namespace="proj")
    root = app.find_namespace(alice, "proj")
    assert root is not None
    add_collaborator(app, root.public_id, bob)
    app.delete_namespace(root.public_id, alice, ORIGIN)

    with pytest.raises(NotFoundError):
        app.update_key(key_id, bob, "x", ORIGIN)
    assert loaded(app, key_id).config == ""
    app.update_key(key_id, alice, "Host a", ORIGIN, namespace="")

    assert loaded(app, key_id).config == "Host a"


def test_concurrent_creates_of_one_name_leave_exactly_one_winner() -> None:
    racing = RacingApp()
    racing.secrets = ReversingBox()
    alice = register(racing, "alice")
    winner: list[int] = []
    racing.competitors.append(lambda: winner.append(create(racing, alice)))

    fields = field_errors(lambda: create(racing, alice))

    assert fields == {"name": ["Name already exists"]}
    assert len(winner) == 1
    assert loaded(racing, winner[0]).name == "deploy"


def test_events_record_who_acted(app: MaridApplication) -> None:
    alice = register(app, "alice")
    before = event_count(app)
    acting = Origin.user(alice, "req-9")

    key_id = app.create_key(alice, "deploy", ed25519_key(), None, None, acting).value
    app.update_key(key_id, alice, "x", acting)
    app.delete_key(key_id, alice, acting)

    key_events = [e for e in events_after(app, before) if isinstance(e, SshKey.Event)]
    assert [type(e).__name__ for e in key_events] == ["Created", "Updated", "Deleted"]
    assert {getattr(e, "origin", None) for e in key_events} == {acting}
