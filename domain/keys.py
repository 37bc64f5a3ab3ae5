"""The SshKey aggregate: a private key builds use, sealed at rest, with its ssh config.

A key is checked the way Djinn's server checks it (Go's `x/crypto/ssh.ParseRawPrivateKey`):
the first PEM block of the text must hold an unencrypted private key, in OpenSSH format or
as a PEM RSA, EC, DSA or PKCS #8 key. The reasons use Go's wording (`ssh: no key found`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import InitVar

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    load_pem_private_key,
    load_ssh_private_key,
)

from domain.aggregates import Assigns
from domain.errors import Errors, NotFoundError
from domain.key_formats import (
    REFUSED_PKCS8_ALGORITHMS,
    DerError,
    dsa_pem_problem,
    openssh_header,
    pem_body,
    pem_is_encrypted,
    pkcs8_algorithm,
)
from domain.origin import Origin
from domain.resources import NamespacedResource

NO_KEY = "ssh: no key found"
PROTECTED = "ssh: this private key is passphrase protected"
BAD_OPENSSH = "ssh: invalid openssh private key format"
BAD_PEM = "ssh: malformed private key"

OPENSSH = "OPENSSH PRIVATE KEY"
DSA_PEM = "DSA PRIVATE KEY"
PEM_TYPES = frozenset({"RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY"})
# A PKCS #8 key sealed with a passphrase; Go calls it an unsupported type, which tells a
# user less than the truth.
ENCRYPTED_PKCS8 = "ENCRYPTED PRIVATE KEY"
# DSA keys are recognised without loading them (see domain/key_formats.py).
SSH_KEY_TYPES = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)

# The start of the first PEM block: Go's pem.Decode finds it anywhere, and so do we.
PEM_BEGIN = re.compile(r"-----BEGIN ([^\n-]{1,64})-----\n")


def clean_key(text: str | None) -> str | None:
    """The key text as stored: carriage returns removed (Djinn's rule)."""
    return None if text is None else text.replace("\r", "")


def key_problem(text: str) -> str | None:
    """Why `text` is not a usable SSH private key, or None when it is one."""
    block_and_kind = first_pem_block(text)
    if block_and_kind is None:
        return NO_KEY
    block, kind = block_and_kind
    if kind == ENCRYPTED_PKCS8:
        return PROTECTED
    if kind not in PEM_TYPES | {OPENSSH, DSA_PEM}:
        return f'ssh: unsupported key type "{kind}"'
    if pem_is_encrypted(block):
        return PROTECTED
    try:
        body = pem_body(block)
    except DerError:
        return BAD_OPENSSH if kind == OPENSSH else BAD_PEM
    if kind == OPENSSH:
        return _openssh_problem(block, body)
    if kind == DSA_PEM:
        return dsa_pem_problem(body)
    algorithm = pkcs8_algorithm(body) if kind == "PRIVATE KEY" else None
    if algorithm in REFUSED_PKCS8_ALGORITHMS:
        return f"x509: PKCS#8 wrapping contained private key with unknown algorithm: {algorithm}"
    return _loading_problem(lambda: load_pem_private_key(block, password=None), BAD_PEM)


def _openssh_problem(block: bytes, body: bytes) -> str | None:
    """Go refuses DSA in the OpenSSH format; the others are loaded to be checked."""
    header = openssh_header(body)
    if header is None:
        return BAD_OPENSSH
    cipher, key_type = header
    if cipher != "none":
        return PROTECTED
    if key_type == "ssh-dss":
        return "ssh: unhandled key type"
    return _loading_problem(lambda: load_ssh_private_key(block, password=None), BAD_OPENSSH)


def first_pem_block(text: str) -> tuple[bytes, str] | None:
    """The first BEGIN line up to its END line, and the block's type; None without one.

    Only the first BEGIN line is tried (Go goes on to the next one when it has no END):
    trying every one would take quadratic time on text made of BEGIN lines.
    """
    begin = PEM_BEGIN.search(text)
    if begin is None:
        return None
    kind = begin.group(1)
    end_line = f"-----END {kind}-----"
    end = text.find(end_line, begin.end())
    if end < 0:
        return None
    block = text[begin.start() : end + len(end_line)] + "\n"
    return block.encode("utf-8", errors="replace"), kind


def _loading_problem(load: Callable[[], object], malformed: str) -> str | None:
    try:
        key = load()
    except TypeError:  # what cryptography raises for a key that needs a password
        return PROTECTED
    except (ValueError, UnsupportedAlgorithm):
        return malformed
    if not isinstance(key, SSH_KEY_TYPES):
        return f"ssh: unsupported key type {type(key).__name__}"
    return None


def validate_key(errors: Errors, name: str | None, key: str | None) -> None:
    """Add every rule a new key's fields break (Djinn's messages).

    An empty key is both missing and not a key, so it gets both messages, as in Djinn.
    """
    if not name or not name.strip():
        errors.add("name", "Name field required")
    if not key:
        errors.add("key", "Key field required")
    problem = key_problem(key or "")
    if problem is not None:
        errors.add("key", f"Key {problem}")


class SshKey(NamespacedResource):
    """An SSH private key; it is held sealed (never in clear in an event)."""

    KIND = "key"

    name: str
    key: str
    config: str
    origin: InitVar[Origin]

    class Created(NamespacedResource.Created):
        name: str
        key: str
        config: str
        origin: Origin

    class Updated(Assigns):
        config: str
        origin: Origin

    class Deleted(NamespacedResource.Deleted):
        pass

    def update(self, config: str | None, origin: Origin) -> None:
        """Record an update; a config not given is kept. Always moves `updated_at`."""
        if self.deleted:
            raise NotFoundError("key")
        self.trigger_event(
            self.Updated, config=self.config if config is None else config, origin=origin
        )
