"""Qualification workers as real processes (``garimpo worker``), for tests that kill one.

Each process gets the test's settings through environment variables, so it
reads the same database, Redis queue namespace, var folder (and with it the
personal data key) as the test's own container.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from entrypoints.settings import Settings

GARIMPO = Path(sys.executable).parent / "garimpo"


def worker_environment(
    settings: Settings, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    assert settings.database_url and settings.redis_url
    env = {
        key: value
        for key, value in os.environ.items()
        if key in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV"}
    }
    env.update(
        {
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "GARIMPO_VAR_DIR": str(settings.var_dir),
            "QUEUE_NAMESPACE": settings.queue_namespace,
            "QUALIFICATION_TICK_SECONDS": str(settings.qualification_tick_seconds),
            "QUALIFICATION_LEASE_SECONDS": str(settings.qualification_lease_seconds),
            "WORKER_THREADS": str(settings.worker_threads),
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
            "API_CNAES_URL": "",
        }
    )
    env.update(extra or {})
    return env


class WorkerProcess:
    """One ``garimpo worker`` process; its output goes to a log file for the failure report."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [str(GARIMPO), "worker"],
            env=dict(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
        )

    def kill(self) -> None:
        """Kill without warning, as a crash or an OOM kill would."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if not self._log.closed:
            self._log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")
