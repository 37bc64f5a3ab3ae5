"""The domain layer: aggregates, value objects and domain errors (stdlib and eventsourcing only)."""
