"""Benchmarks (not tests): `uv run python -m bench <name>`; see bench/__main__.py."""
