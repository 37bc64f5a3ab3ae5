"""The domain layer: aggregates, value objects and domain errors. Pure: stdlib and eventsourcing.domain."""
