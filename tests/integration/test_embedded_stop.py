"""stop-embedded stops the embedded servers even after the process that started them was killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from entrypoints.embedded import EmbeddedInUse, stop_embedded_postgres, stop_embedded_redis

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Starts both embedded servers, says so, then waits to be killed.
STARTER = """
import sys, time
from pathlib import Path
from entrypoints.embedded import start_embedded_postgres, start_embedded_redis
var = Path(sys.argv[1])
start_embedded_postgres(var)
client = start_embedded_redis(var)
print("ready", flush=True)
time.sleep(600)
"""


def start_and_wait(var_dir: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(var_dir)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert process.stdout is not None
    # structlog's default output shares stdout; the marker comes after it.
    for line in process.stdout:
        if line.strip() == "ready":
            return process
    raise AssertionError("the embedded servers did not start")


@pytest.mark.slow
def test_stop_after_the_starter_was_killed(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    starter = start_and_wait(var_dir)

    with pytest.raises(EmbeddedInUse) as in_use:
        stop_embedded_postgres(var_dir)
    assert in_use.value.pids == [starter.pid]

    starter.send_signal(signal.SIGKILL)
    starter.wait(10)

    assert stop_embedded_postgres(var_dir) is True
    assert not (var_dir / "pgdata" / "postmaster.pid").exists()
    assert stop_embedded_postgres(var_dir) is False

    assert stop_embedded_redis(var_dir) is True
    deadline = time.monotonic() + 10
    while stop_embedded_redis(var_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stop_embedded_redis(var_dir) is False
