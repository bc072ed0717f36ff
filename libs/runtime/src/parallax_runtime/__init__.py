"""Shared runtime: settings, NATS connection and topology, embedded nats-server, HTTP surface."""
