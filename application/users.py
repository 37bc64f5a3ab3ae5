"""Use cases for users and their tokens.

A personal token's name is unique among its user's tokens (`token_name` index claims,
keyed by user and lower-cased name). Tokens made by the web pages and renames always
claim their name; the CLI's, the first-start token and tests' may share a name, as they
could before names were unique (`unique_name=False`): such a token claims its name when
it is free. Tokens issued to OAuth apps are named `client.<user id>` (Djinn's rule) and
claim no name; one token per user and app, guarded by the `app_token` index.
"""

from __future__ import annotations

from datetime import datetime

from eventsourcing.domain import Aggregate

from application.account_ports import PasswordHasher, UnconfiguredPasswords
from application.core import CoreApplication, Outcome, command
from domain.errors import Errors, NotFoundError, ValidationError
from domain.identity import aggregate_id
from domain.index import Index, KeyTakenError
from domain.origin import Origin
from domain.scopes import Scopes
from domain.tokens import NAME_TAKEN, Token, validate_token_name
from domain.users import User, validate_password, validate_registration

NAME_INDEX = "token_name"


def name_key(user_id: int, name: str) -> str:
    return f"{user_id}:{name.lower()}"


class UserCases(CoreApplication):
    _passwords: PasswordHasher | None = None

    @command
    def register_user(
        self,
        username: str,
        email: str,
        origin: Origin,
        *,
        admin: bool = False,
        password: str | None = None,
    ) -> Outcome[int]:
        """Register a user; username and email are unique (case-insensitively). An
        administrator may also read the audit log. With `password` (checked with the
        other fields) the user can sign in on the web pages."""
        errors = Errors()
        try:
            validate_registration(username, email)
        except ValidationError as invalid:
            errors.fields.update(invalid.fields)
        if password is not None:
            try:
                validate_password(password)
            except ValidationError as invalid:
                errors.fields.update(invalid.fields)
        errors.raise_if_any()
        user_id = self.ids.next_id("user")
        indexes: list[Index] = []
        for kind, key, field, message in (
            ("username", username.lower(), "username", "Username already exists"),
            ("email", email.lower(), "email", "Email already exists"),
        ):
            try:
                indexes.append(self.claim(kind, key, user_id, origin))
            except KeyTakenError:
                errors.add(field, message)
        errors.raise_if_any()
        user = User(public_id=user_id, username=username, email=email, origin=origin, admin=admin)
        if password is not None:
            user.set_password(self.passwords.hash(password), origin)
        return Outcome(user_id, self.save(user, *indexes))

    @property
    def passwords(self) -> PasswordHasher:
        """The password hasher: wired to argon2id (`infrastructure.passwords`) by bootstrap."""
        if self._passwords is None:
            self._passwords = UnconfiguredPasswords()
        return self._passwords

    @passwords.setter
    def passwords(self, passwords: PasswordHasher) -> None:
        self._passwords = passwords

    def get_user(self, user_id: int) -> User:
        return self.get(aggregate_id("user", user_id), User, "user")

    @command
    def create_token(
        self,
        user_id: int,
        name: str,
        token_hash: str,
        scopes: Scopes,
        expires_at: datetime | None,
        origin: Origin,
        *,
        app_id: int | None = None,
        unique_name: bool = False,
    ) -> Outcome[int]:
        """Record a new token for a user; only the hash of its secret is stored.

        With `unique_name` (the web pages) a name the user already gave a live personal
        token is refused: ValidationError {"name": ["Name already exists"]}.
        """
        self.get_user(user_id)
        validate_token_name(name)
        token_id = self.ids.next_id("token")
        changed: list[Aggregate] = []
        if app_id is None:
            claimed = self._claim_name(user_id, name, token_id, origin, required=unique_name)
            changed += [] if claimed is None else [claimed]
        token = Token(
            public_id=token_id,
            user_id=user_id,
            name=name,
            token_hash=token_hash,
            scopes=str(scopes),
            expires_at=expires_at,
            origin=origin,
            app_id=app_id,
        )
        return Outcome(token_id, self.save(token, *changed))

    def own_token(self, user_id: int, token_id: int) -> Token:
        """The user's live (not revoked) token; NotFoundError for anyone else's."""
        token = self.load(aggregate_id("token", token_id), Token)
        if token is None or token.revoked or token.user_id != user_id:
            raise NotFoundError("token")
        return token

    @command
    def update_token(
        self, user_id: int, token_id: int, name: str, scopes: Scopes, origin: Origin
    ) -> Outcome[None]:
        """Rename and re-scope one of the user's personal tokens (NotFoundError for
        another user's token or an app's)."""
        token = self.own_token(user_id, token_id)
        if token.app_id is not None:
            raise NotFoundError("token")
        validate_token_name(name)
        changed: list[Aggregate] = [token]
        if name.lower() != token.name.lower():
            claimed = self._claim_name(user_id, name, token_id, origin, required=True)
            changed += [] if claimed is None else [claimed]
            changed += self._release_name(user_id, token.name, token_id, origin)
        token.update(name, str(scopes), origin)
        return Outcome(None, self.save(*changed))

    @command
    def regenerate_token(
        self, user_id: int, token_id: int, new_hash: str, origin: Origin
    ) -> Outcome[None]:
        """Give one of the user's personal tokens a new value (its hash): the old value
        stops working. NotFoundError for another user's token or an app's."""
        token = self.own_token(user_id, token_id)
        if token.app_id is not None:
            raise NotFoundError("token")
        token.regenerate(new_hash, origin)
        return Outcome(None, self.save(token))

    @command
    def revoke_token(
        self, token_id: int, origin: Origin, *, user_id: int | None = None
    ) -> Outcome[None]:
        """Revoke a token and free its name. With `user_id` (the web pages), only that
        user's token: NotFoundError for anyone else's or a revoked one."""
        if user_id is not None:
            token = self.own_token(user_id, token_id)
        else:
            token = self.get(aggregate_id("token", token_id), Token, "token")
        return Outcome(None, self.save(*self.revoking(token, origin)))

    def revoking(self, token: Token, origin: Origin) -> list[Aggregate]:
        """The token revoked, with the name or app index it held released."""
        if token.revoked:
            return []
        token.revoke(origin)
        if token.app_id is None:
            return [token, *self._release_name(token.user_id, token.name, token.public_id, origin)]
        index = self.find_index("app_token", f"{token.app_id}:{token.user_id}")
        if index is not None:
            index.release(token.public_id, origin)
            return [token, index]
        return [token]

    def _claim_name(
        self, user_id: int, name: str, token_id: int, origin: Origin, *, required: bool
    ) -> Index | None:
        """Claim the token name for `token_id`, taking it over from a revoked holder; when
        another live token holds it: ValidationError if `required`, else no claim."""
        index = self.find_index(NAME_INDEX, name_key(user_id, name))
        if index is None:
            return Index(
                kind=NAME_INDEX, key=name_key(user_id, name), holder=token_id, origin=origin
            )
        holder = index.holder
        if holder is not None and holder != token_id:
            held = self.load(aggregate_id("token", holder), Token)
            if held is None or held.revoked:
                index.release(holder, origin)
        try:
            index.claim(token_id, origin)
        except KeyTakenError:
            if required:
                raise ValidationError({"name": [NAME_TAKEN]}) from None
            return None
        return index

    def _release_name(
        self, user_id: int, name: str, token_id: int, origin: Origin
    ) -> list[Aggregate]:
        index = self.find_index(NAME_INDEX, name_key(user_id, name))
        if index is None or index.holder != token_id:
            return []
        index.release(token_id, origin)
        return [index]
