"""The Object aggregate: a file uploaded for builds to use; its content lives in a blob store."""

from __future__ import annotations

import codecs
import re
from dataclasses import InitVar

from domain.errors import Errors
from domain.origin import Origin
from domain.resources import NamespacedResource

NAME_PATTERN = r"^[a-zA-Z0-9\._\-]+$"
NAME_RE = re.compile(NAME_PATTERN)
TYPE_MAX = 255
TYPE_RE = re.compile(r"^[\x20-\x7e]*$")  # a header value: printable ASCII
TEXT = "text/plain; charset=utf-8"
BINARY = "application/octet-stream"

# Magic numbers of the formats worth recognising, and their types.
SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b\x08", "application/x-gzip"),
    (b"QFI\xfb", "application/x-qemu-disk"),
)
# Control characters that do not occur in text (tab, newlines, form feed, escape do).
BINARY_BYTES = frozenset(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D, 0x1B}


def blob_key(object_id: int) -> str:
    """Where an object's content is stored."""
    return f"objects/{object_id}"


def sniff_type(head: bytes) -> str:
    """The content type of a file from its first bytes, for uploads that declare none.

    Known magic numbers first; then UTF-8 text without binary control characters (a
    character cut off at the end of `head` is fine); anything else is binary.
    """
    for signature, content_type in SIGNATURES:
        if head.startswith(signature):
            return content_type
    if not head or any(byte in BINARY_BYTES for byte in head):
        return BINARY
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return BINARY
    return TEXT


def validate_name(errors: Errors, name: str | None) -> None:
    if not name:
        errors.add("name", "Name field required")
    elif not NAME_RE.fullmatch(name):
        errors.add("name", f"Name does not match {NAME_PATTERN}")


def validate_object(
    errors: Errors, name: str | None, has_file: bool, content_type: str | None = None
) -> None:
    """Add every rule a new object's fields break (Djinn's messages)."""
    validate_name(errors, name)
    if not has_file:
        errors.add("file", "File field required")
    if content_type is not None:
        if len(content_type) > TYPE_MAX:
            errors.add("type", f"Type cannot be longer than {TYPE_MAX} characters in length")
        if not TYPE_RE.fullmatch(content_type):
            errors.add("type", "Type can only contain printable ASCII characters")


class Object(NamespacedResource):
    """An object: its name, where it belongs, and the type, size and digests of its content."""

    KIND = "object"

    name: str
    content_type: str
    size: int
    md5: str
    sha256: str
    origin: InitVar[Origin]

    class Created(NamespacedResource.Created):
        name: str
        content_type: str
        size: int
        md5: str
        sha256: str
        origin: Origin

    class Deleted(NamespacedResource.Deleted):
        pass

    @property
    def blob_key(self) -> str:
        return blob_key(self.public_id)
