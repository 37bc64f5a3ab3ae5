"""The application layer: use cases over the event store, access rules, uniqueness."""
