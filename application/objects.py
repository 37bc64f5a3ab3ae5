"""Use cases for objects. Their content is streamed to a blob store by the caller: these
check the fields before it is, and record the object once it is stored."""

from __future__ import annotations

from dataclasses import dataclass

from application.core import Outcome, command
from application.ports import BlobInfo
from application.quotas import NO_QUOTA, Quota
from application.resources import ResourceCases, ResourceKind, parse_ref
from domain.errors import Errors
from domain.objects import Object, validate_name, validate_object
from domain.origin import Origin

OBJECTS = ResourceKind(Object)


@dataclass(frozen=True)
class StoredContent:
    """An object's content, already in the blob store under `blob_key(object_id)`."""

    content_type: str
    blob: BlobInfo


class ObjectCases(ResourceCases):
    def prepare_object(
        self,
        caller_id: int,
        name: str | None,
        namespace: str | None,
        origin: Origin,
        *,
        partial: bool = False,
    ) -> int:
        """Check a new object's fields before its content is stored; the id to store it under.

        `partial` means more fields may still arrive (a multipart form whose file part
        comes first): only what they cannot change is checked. Nothing at all before the
        name has arrived; without a namespace yet, not the name's uniqueness. Creating
        checks everything again.
        """
        if not partial or name is not None:
            errors = Errors()
            validate_name(errors, name)
            ref = parse_ref(namespace, errors)
            unsure_where = partial and namespace is None
            self.place_checked(
                ref, caller_id, origin, errors, OBJECTS, None if unsure_where else name
            )
        return self.ids.next_id("object")

    @command
    def create_object(
        self,
        object_id: int | None,
        caller_id: int,
        name: str | None,
        namespace: str | None,
        content: StoredContent | None,
        origin: Origin,
        quota: Quota = NO_QUOTA,
    ) -> Outcome[int]:
        """Record an object whose content is stored (None when no file was sent).

        `object_id` is the id `prepare_object` gave, or None when there is no content.
        Its size counts against its owner's `quota` (a 400 on `file` past it).
        """
        errors = Errors()
        content_type = None if content is None else content.content_type
        validate_object(errors, name, content is not None, content_type)
        new = self.place_new(OBJECTS, namespace, name, caller_id, origin, errors, object_id)
        assert content is not None  # checked by validate_object
        quota.check(new.ownership["owner_id"], content.blob.size)
        obj = Object(
            public_id=new.id,
            **new.ownership,
            name=new.name,
            content_type=content.content_type,
            size=content.blob.size,
            md5=content.blob.md5,
            sha256=content.blob.sha256,
            origin=origin,
        )
        return Outcome(new.id, self.save(obj, *new.saved_with))

    @command
    def delete_object(self, object_id: int, caller_id: int, origin: Origin) -> Outcome[str]:
        """Delete an object and free its name; the blob key, for the caller to delete."""
        obj, recordings = self.delete_resource(OBJECTS, object_id, caller_id, origin)
        return Outcome(obj.blob_key, recordings)
