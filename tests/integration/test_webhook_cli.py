"""`marid webhooks run`: the dispatcher and senders as a process of their own, delivering
what other processes recorded (this test's marid runs no webhooks itself)."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator

import pytest

from domain.origin import Origin
from infrastructure.bootstrap import Marid
from infrastructure.settings import Settings
from tests.integration.test_cli import MARID, Cli
from tests.integration.webhook_support import Receiver, eventually, save_hook

ORIGIN = Origin.system("test")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def test_webhooks_run_delivers_and_stops_on_sigterm(
    marid: Marid, settings: Settings, receiver: Receiver
) -> None:
    assert not settings.run_webhooks  # nothing in this process delivers
    user_id = marid.settle(marid.app.register_user("alice", "alice@example.com", ORIGIN))
    ns_id = marid.settle(marid.app.create_namespace(user_id, "proj", None, "", None, ORIGIN))
    hook_id = save_hook(marid, ns_id, receiver.url())
    marid.settle(marid.app.create_variable(user_id, "K", "v", False, "proj", ORIGIN))
    env = {
        **Cli(settings).env,
        "MARID_ALLOW_PRIVATE_URLS": "1",
        "MARID_RUN_SCHEDULER": "0",
        "MARID_API_URL": "http://marid.test/api",
    }
    process = subprocess.Popen(
        [MARID, "webhooks", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        [got] = receiver.wait_for(1, timeout=60)
        eventually(lambda: marid.webhook_dispatcher.last_response(hook_id))
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)

    assert process.returncode == 0, err
    assert "webhook delivery started" in out
    assert got.json["variable"]["url"] == "http://marid.test/api/variables/1"
    assert marid.webhook_dispatcher.store.deliveries(hook_id)[0]["status"] == "delivered"


def test_webhooks_needs_an_action(cli: Cli) -> None:
    result = cli("webhooks")

    assert result.returncode == 2
    assert result.stderr.startswith("marid: error: ")


@pytest.fixture
def cli(settings: Settings) -> Cli:
    return Cli(settings)
