"""An application for the account and OAuth unit tests: cheap argon2id, a real cipher, a
clock the test moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from application.app import MaridApplication
from infrastructure.cipher import AesGcmBox
from infrastructure.passwords import Argon2Passwords
from tests.unit.conftest import ORIGIN, POPO

PASSWORD = "correct horse battery"
ADDRESS = "192.0.2.7"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def account_app(clock: Clock) -> MaridApplication:
    app = MaridApplication(
        POPO, clock=clock, secrets=AesGcmBox(b"unit-test-key-material-32-bytes!")
    )
    app.passwords = Argon2Passwords.cheap()
    return app


def user_with_password(app: MaridApplication, username: str, password: str = PASSWORD) -> int:
    email = f"{username}@example.com"
    return app.register_user(username, email, ORIGIN, password=password).value
