"""A marketplace process of its own, for tests that drive it from outside (CLI, browser)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(data: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment of a marketplace process with its own data dir and SQLite database."""
    env = {
        **os.environ,
        "LUMBUNG_DATA_DIR": str(data),
        "LUMBUNG_PORT": str(port),
        "DATABASE_URL": f"sqlite:///{data / 'lumbung.sqlite'}",
        "LUMBUNG_SEARCH_INDEX": str(data / "search.sqlite"),
        **extra,
    }
    env.pop("LUMBUNG_MAX_BUNDLE_BYTES", None)
    env.pop("LUMBUNG_RUN_JOBS", None)  # the live server runs provisioning jobs
    return env


def start_server(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start `marketplace serve` and wait until it answers /healthz."""
    url = f"http://127.0.0.1:{env['LUMBUNG_PORT']}"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "marketplace.cli", "serve"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    pytest.fail(f"the server did not start: {log_path.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A marketplace process of its own (own data dir, SQLite) on a free port."""
    data = tmp_path_factory.mktemp("cli-server")
    env = server_env(data, free_port())
    process = start_server(env, data / "server.log")
    url = f"http://127.0.0.1:{env['LUMBUNG_PORT']}"
    yield {"url": url, **{k: env[k] for k in ("LUMBUNG_DATA_DIR", "DATABASE_URL", "LUMBUNG_SEARCH_INDEX")}}
    process.terminate()
    process.wait(timeout=10)


def cli(server: dict[str, str], *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **{k: v for k, v in server.items() if k != "url"}}
    env.pop("LUMBUNG_MAX_BUNDLE_BYTES", None)
    return subprocess.run(
        [sys.executable, "-m", "marketplace.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        input=input,
        timeout=120,
    )


