"""Simulated users that drive the stack through real WebSocket connections."""
