"""The read side: projections of the event log into PostgreSQL tables, and their queries."""
