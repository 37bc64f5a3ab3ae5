"""Use cases for SSH keys."""

from __future__ import annotations

from application.core import Outcome, command
from application.resources import ResourceCases, ResourceKind, parse_ref
from domain.errors import Errors
from domain.keys import SshKey, clean_key, validate_key
from domain.origin import Origin

NAME_FIXED = "Name cannot be changed"
NAMESPACE_FIXED = "Namespace cannot be changed"
KEYS = ResourceKind(SshKey)


class KeyCases(ResourceCases):
    @command
    def create_key(
        self,
        caller_id: int,
        name: str | None,
        key: str | None,
        config: str | None,
        namespace: str | None,
        origin: Origin,
    ) -> Outcome[int]:
        """Create a key; the private key is checked, then sealed before it reaches the event."""
        text = clean_key(key)
        errors = Errors()
        validate_key(errors, name, text)
        new = self.place_new(KEYS, namespace, name, caller_id, origin, errors)
        assert text is not None  # checked by validate_key
        ssh_key = SshKey(
            public_id=new.id,
            **new.ownership,
            name=new.name,
            key=self.secrets.seal(text),
            config=config or "",
            origin=origin,
        )
        return Outcome(new.id, self.save(ssh_key, *new.saved_with))

    @command
    def update_key(
        self,
        key_id: int,
        caller_id: int,
        config: str | None,
        origin: Origin,
        *,
        name: str | None = None,
        namespace: str | None = None,
        key: str | None = None,
    ) -> Outcome[int]:
        """Change a key's config (kept when not given); `name`, `namespace` and `key` may
        be sent but not changed.

        The API takes an empty config as not given, as Djinn does (its own client sends
        every field, the unchanged ones empty).
        """
        ssh_key = self.writable(KEYS, key_id, caller_id)
        errors = Errors()
        if name is not None and name != ssh_key.name:
            errors.add("name", NAME_FIXED)
        if key is not None and clean_key(key) != self.secrets.open(ssh_key.key):
            errors.add("key", "Key cannot be changed")
        if namespace is not None:
            self._check_same_namespace(ssh_key, namespace, caller_id, errors)
        errors.raise_if_any()
        ssh_key.update(config, origin)
        return Outcome(key_id, self.save(ssh_key))

    @command
    def delete_key(self, key_id: int, caller_id: int, origin: Origin) -> Outcome[None]:
        """Delete a key and free its name; write access needed."""
        _, recordings = self.delete_resource(KEYS, key_id, caller_id, origin)
        return Outcome(None, recordings)

    def live_key(self, key_id: int) -> SshKey:
        """A key that is not deleted, or NotFoundError."""
        return self.live(KEYS, key_id)

    def _check_same_namespace(
        self, ssh_key: SshKey, namespace: str, caller_id: int, errors: Errors
    ) -> None:
        """A sent namespace must name the key's own (none once detached); else a field error.

        `path` alone means the caller's namespace, as when creating, so a collaborator
        names the owner's with `path@owner`.
        """
        parse_errors = Errors()
        ref = parse_ref(namespace, parse_errors)
        if parse_errors:
            errors.extend("namespace", parse_errors.fields["namespace"])
            return
        current = ssh_key.namespace_id
        if current is not None and self.namespace(current) is None:
            current = None  # its namespace was deleted: the key was detached
        if ref is None:
            same = current is None
        else:
            owner_id = caller_id if ref.owner is None else self.user_id_for(ref.owner)
            found = None if owner_id is None else self.find_namespace(owner_id, ref.path)
            same = found is not None and found.public_id == current
        if not same:
            errors.add("namespace", NAMESPACE_FIXED)
