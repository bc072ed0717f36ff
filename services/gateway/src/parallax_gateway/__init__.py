"""The WebSocket gateway: the only front door; clients never see NATS."""
