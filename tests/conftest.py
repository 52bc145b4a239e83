"""Shared fixtures live in tests/support/fixtures.py, loaded as a plugin by pyproject.toml."""
