"""Accounts and sessions: login, refresh, logout, password reset, invitations, users."""

from __future__ import annotations

from typing import Protocol


class AccountRepository(Protocol):
    pass
