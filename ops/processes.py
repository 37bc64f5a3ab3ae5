"""The processes that run without the API: the cron scheduler, a build worker, webhook
delivery. Any number of each may run against one database."""

from __future__ import annotations

import argparse
from dataclasses import replace

from infrastructure.settings import Settings
from ops.arguments import UsageError
from ops.wiring import long_running, run_until_signal


def cmd_scheduler(settings: Settings, args: argparse.Namespace) -> None:
    """The cron scheduler alone (no API); safe beside other schedulers."""
    marid = long_running(replace(settings, run_scheduler=True))
    run_until_signal(marid, marid.start, "cron scheduler started; Ctrl-C stops it")


def cmd_worker(settings: Settings, args: argparse.Namespace) -> None:
    """A build worker alone (no API); any number may run against one database."""
    from infrastructure.drivers import IMPLEMENTED, describe
    from infrastructure.worker import WorkerConfig, default_name

    drivers = tuple(args.driver or (d for d in settings.drivers if d in IMPLEMENTED))
    for name in drivers:
        if name not in IMPLEMENTED:
            raise UsageError(f"no such driver: {name} (one of {', '.join(IMPLEMENTED)})")
    if not drivers:
        raise UsageError(
            f"MARID_DRIVERS enables no driver a worker runs ({', '.join(IMPLEMENTED)})"
        )
    config = WorkerConfig(
        name=args.name or default_name(),
        parallelism=args.parallelism or settings.worker_parallelism,
        timeout=args.timeout or settings.worker_timeout,
        lease=args.lease or settings.worker_lease,
        user_quota=settings.user_quota,
    )
    marid = long_running(settings)

    def start() -> None:
        marid.start_worker(config, drivers)
        for line in describe(settings, drivers):
            print(f"    {line}", flush=True)

    started = f"worker {config.name} running {', '.join(drivers)} builds; Ctrl-C stops it"
    run_until_signal(marid, start, started)


def cmd_webhooks(settings: Settings, args: argparse.Namespace) -> None:
    """The webhook dispatcher and senders without the API; safe beside other processes
    (one dispatcher leads, senders share the outbox)."""
    from api.webhook_payloads import WebhookPayloads

    marid = long_running(replace(settings, run_webhooks=True))

    def start() -> None:
        marid.webhook_dispatcher.install(WebhookPayloads(marid))
        marid.start()

    run_until_signal(marid, start, "webhook delivery started; Ctrl-C stops it")
