"""Use cases for objects. Their content is streamed to a blob store by the caller: these
check the fields before it is, and record the object once it is stored."""

from __future__ import annotations

from dataclasses import dataclass

from application.core import Outcome
from application.ports import BlobInfo
from application.resources import ResourceCases, parse_ref
from domain.errors import Errors, NotFoundError
from domain.identity import aggregate_id
from domain.objects import Object, validate_name, validate_object
from domain.origin import Origin


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
                ref, caller_id, origin, errors, "object", None if unsure_where else name
            )
        return self.ids.next_id("object")

    def create_object(
        self,
        object_id: int | None,
        caller_id: int,
        name: str | None,
        namespace: str | None,
        content: StoredContent | None,
        origin: Origin,
    ) -> Outcome[int]:
        """Record an object whose content is stored (None when no file was sent).

        `object_id` is the id `prepare_object` gave, or None when there is no content.
        """

        def command() -> Outcome[int]:
            errors = Errors()
            content_type = None if content is None else content.content_type
            validate_object(errors, name, content is not None, content_type)
            ref = parse_ref(namespace, errors)
            placement = self.place_checked(ref, caller_id, origin, errors, "object", name)
            assert name is not None  # checked by validate_object
            assert content is not None
            new_id = object_id if object_id is not None else self.ids.next_id("object")
            index = self.claim_name("object", placement, name, new_id, origin)
            obj = Object(
                public_id=new_id,
                owner_id=placement.owner_id,
                author_id=caller_id,
                namespace_id=placement.namespace_id,
                name=name,
                content_type=content.content_type,
                size=content.blob.size,
                md5=content.blob.md5,
                sha256=content.blob.sha256,
                origin=origin,
            )
            return Outcome(new_id, self.save(obj, index, *placement.pending))

        return self.run(command)

    def delete_object(self, object_id: int, caller_id: int, origin: Origin) -> Outcome[str]:
        """Delete an object and free its name; the blob key, for the caller to delete."""

        def command() -> Outcome[str]:
            obj = self.load(aggregate_id("object", object_id), Object)
            if obj is None or obj.deleted:
                raise NotFoundError("object")
            self.require_write("object", obj.owner_id, obj.namespace_id, caller_id)
            obj.delete(origin)
            index = self.release_name(
                "object", obj.owner_id, obj.namespace_id, obj.name, object_id, origin
            )
            return Outcome(obj.blob_key, self.save(obj, index))

        return self.run(command)
