"""DSA keys are judged as Djinn's parser judges them, without touching deprecated code.

Go's `x/crypto/ssh.ParseRawPrivateKey` accepts a PEM `DSA PRIVATE KEY` and refuses DSA in
PKCS #8 and OpenSSH containers. `cryptography` deprecates DSA: loading or naming it warns,
which the test suite turns into an error, so these tests also prove nothing deprecated is
reached. The fixtures were made with OpenSSH's `ssh-keygen -t dsa` and OpenSSL.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest

from domain.key_formats import dotted_oid, openssh_header, pem_body
from domain.keys import key_problem

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def pem(kind: str, der: bytes) -> str:
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN {kind}-----\n{body}-----END {kind}-----\n"


def test_a_pem_dsa_key_is_accepted_as_djinn_does() -> None:
    problem = key_problem(fixture("dsa-traditional.pem"))

    assert problem is None


def test_bytes_after_a_pem_dsa_key_are_garbage() -> None:
    der = pem_body(fixture("dsa-traditional.pem").encode())

    problem = key_problem(pem("DSA PRIVATE KEY", der + b"\x02\x01\x00"))

    assert problem == "ssh: garbage after DSA key"


@pytest.mark.parametrize(
    "der",
    [
        b"\x02\x01\x00",  # an INTEGER, not a SEQUENCE
        b"\x30\x06\x02\x01\x00\x02\x01\x01",  # two of the six integers
        b"\x30\x12" + b"\x02\x01\x00" * 5 + b"\x04\x01\x00",  # an OCTET STRING among them
        b"\x30\x7f\x02\x01",  # a length past the end
    ],
    ids=["not-a-sequence", "too-few", "wrong-type", "truncated"],
)
def test_malformed_pem_dsa_keys_say_why(der: bytes) -> None:
    problem = key_problem(pem("DSA PRIVATE KEY", der))

    assert problem is not None
    assert problem.startswith("ssh: failed to parse DSA key")


def test_an_encrypted_pem_dsa_key_is_passphrase_protected() -> None:
    problem = key_problem(fixture("dsa-encrypted.pem"))

    assert problem == "ssh: this private key is passphrase protected"


def test_a_pkcs8_dsa_key_is_refused_as_go_refuses_it() -> None:
    problem = key_problem(fixture("dsa-pkcs8.pem"))

    assert problem == (
        "x509: PKCS#8 wrapping contained private key with unknown algorithm: 1.2.840.10040.4.1"
    )


def test_an_openssh_dsa_key_is_an_unhandled_key_type() -> None:
    problem = key_problem(fixture("dsa-openssh.key"))

    assert problem == "ssh: unhandled key type"


def test_the_openssh_header_names_cipher_and_key_type() -> None:
    body = pem_body(fixture("dsa-openssh.key").encode())

    header = openssh_header(body)

    assert header == ("none", "ssh-dss")


def test_a_truncated_openssh_header_is_unreadable() -> None:
    body = pem_body(fixture("dsa-openssh.key").encode())

    assert openssh_header(body[:30]) is None
    assert key_problem(pem("OPENSSH PRIVATE KEY", body[:30])) == (
        "ssh: invalid openssh private key format"
    )


def test_object_identifiers_are_written_dotted() -> None:
    assert dotted_oid(bytes.fromhex("2a8648ce380401")) == "1.2.840.10040.4.1"
    assert dotted_oid(bytes.fromhex("2b6570")) == "1.3.101.112"


def test_importing_keys_raises_no_warning() -> None:
    """The CLI prints nothing before its own output, even with the newest `cryptography`."""
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", "import domain.keys"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0
    assert result.stderr == ""
