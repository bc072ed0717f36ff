"""The domain implementation: event-sourced aggregates (eventsourcing) per context."""
