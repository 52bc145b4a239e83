"""Conversions between the text ids of the domain and PostgreSQL's uuid values."""

from __future__ import annotations

import uuid


def parse_uuid(value: str) -> uuid.UUID | None:
    """Parse an id that came from outside; None when it is not a UUID, so it matches no row."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def optional_uuid(value: str | None) -> uuid.UUID | None:
    """Convert an optional id the code already holds; a malformed one raises ValueError."""
    return uuid.UUID(value) if value else None


def optional_text(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None
