"""Adapters and wiring: settings, PostgreSQL, the event store, secrets, tokens."""
