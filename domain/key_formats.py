"""Peeks into private-key containers without loading the key they hold.

`cryptography` deprecates DSA (and finite-field DH): loading such a key, or even naming
its class, raises a deprecation warning. Djinn's parser (Go's `x/crypto/ssh`) accepts a
PEM `DSA PRIVATE KEY` and refuses DSA everywhere else, so these keys are recognised here
from their structure instead: a DER walk for PEM and PKCS #8 blocks, the OpenSSH key
header for `OPENSSH PRIVATE KEY` blocks.
"""

from __future__ import annotations

import base64
import binascii
import struct

INTEGER, OID, SEQUENCE = 0x02, 0x06, 0x30

# PKCS #8 algorithms whose keys `cryptography` would only load with a deprecation warning
# and Go's x509.ParsePKCS8PrivateKey refuses: DSA, PKCS #3 DH and X9.42 DH.
REFUSED_PKCS8_ALGORITHMS = frozenset(
    {"1.2.840.10040.4.1", "1.2.840.113549.1.3.1", "1.2.840.10046.2.1"}
)
OPENSSH_MAGIC = b"openssh-key-v1\x00"


class DerError(ValueError):
    """Raised when bytes are not the DER the caller expected."""


def pem_body(block: bytes) -> bytes:
    """The bytes a PEM block holds: its base64 lines, without BEGIN/END and headers."""
    lines = block.decode("ascii", errors="replace").splitlines()[1:-1]
    payload = "".join(line for line in lines if ":" not in line)
    try:
        return base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise DerError("not base64") from exc


def pem_is_encrypted(block: bytes) -> bool:
    """Whether a PEM block's `Proc-Type` header says it is encrypted (RFC 1421)."""
    for line in block.decode("ascii", errors="replace").splitlines()[1:]:
        if ":" not in line:
            return False
        name, _, value = line.partition(":")
        if name.strip() == "Proc-Type" and "ENCRYPTED" in value:
            return True
    return False


def der_items(data: bytes) -> list[tuple[int, bytes]]:
    """The (tag, contents) of each DER element laid end to end in `data`."""
    items: list[tuple[int, bytes]] = []
    at = 0
    while at < len(data):
        if at + 2 > len(data):
            raise DerError("truncated element")
        tag, length = data[at], data[at + 1]
        at += 2
        if length & 0x80:
            size = length & 0x7F
            if size == 0 or size > 4 or at + size > len(data):
                raise DerError("bad length")
            length = int.from_bytes(data[at : at + size], "big")
            at += size
        if at + length > len(data):
            raise DerError("truncated element")
        items.append((tag, data[at : at + length]))
        at += length
    return items


def dsa_pem_problem(der: bytes) -> str | None:
    """Why a PEM `DSA PRIVATE KEY` is malformed (Go's wording), or None when it is one.

    The OpenSSL layout: a SEQUENCE of version, p, q, g, public and private values.
    """
    try:
        outer = der_items(der)
        if not outer or outer[0][0] != SEQUENCE:
            return "ssh: failed to parse DSA key: asn1: structure error"
        if len(outer) > 1:
            return "ssh: garbage after DSA key"
        fields = der_items(outer[0][1])
    except DerError as exc:
        return f"ssh: failed to parse DSA key: asn1: {exc}"
    if len(fields) < 6 or any(tag != INTEGER for tag, _ in fields[:6]):
        return "ssh: failed to parse DSA key: asn1: structure error"
    return None


def pkcs8_algorithm(der: bytes) -> str | None:
    """The dotted algorithm OID of a PKCS #8 PrivateKeyInfo, or None when unreadable."""
    try:
        (tag, info), *_ = der_items(der)
        fields = der_items(info) if tag == SEQUENCE else []
        if len(fields) < 2 or fields[1][0] != SEQUENCE:
            return None
        oid_tag, oid = der_items(fields[1][1])[0]
    except (DerError, ValueError, IndexError):
        return None
    return dotted_oid(oid) if oid_tag == OID and oid else None


def dotted_oid(body: bytes) -> str:
    """An OBJECT IDENTIFIER's contents in dotted form (`1.2.840.10040.4.1`)."""
    arcs: list[int] = []
    value = 0
    for byte in body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        return ""
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in [first, arcs[0] - 40 * first, *arcs[1:]])


def openssh_header(body: bytes) -> tuple[str, str] | None:
    """The cipher name and key type of an `openssh-key-v1` container; None when unreadable."""
    if not body.startswith(OPENSSH_MAGIC):
        return None
    at = len(OPENSSH_MAGIC)
    try:
        cipher, at = _ssh_string(body, at)
        _kdf, at = _ssh_string(body, at)
        _options, at = _ssh_string(body, at)
        at += 4  # the number of keys
        public, at = _ssh_string(body, at)
        key_type, _ = _ssh_string(public, 0)
    except (struct.error, DerError):
        return None
    return cipher.decode("ascii", errors="replace"), key_type.decode("ascii", errors="replace")


def _ssh_string(data: bytes, at: int) -> tuple[bytes, int]:
    (length,) = struct.unpack_from(">I", data, at)
    at += 4
    if at + length > len(data):
        raise DerError("truncated string")
    return data[at : at + length], at + length
