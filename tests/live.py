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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A marketplace process of its own (own data dir, SQLite) on a free port."""
    data = tmp_path_factory.mktemp("cli-server")
    port = free_port()
    env = {
        **os.environ,
        "LUMBUNG_DATA_DIR": str(data),
        "LUMBUNG_PORT": str(port),
        "DATABASE_URL": f"sqlite:///{data / 'lumbung.sqlite'}",
        "LUMBUNG_SEARCH_INDEX": str(data / "search.sqlite"),
    }
    env.pop("LUMBUNG_MAX_BUNDLE_BYTES", None)
    env.pop("LUMBUNG_RUN_JOBS", None)  # the live server runs provisioning jobs
    log = (data / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "marketplace.cli", "serve"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail(f"the server did not start: {(data / 'server.log').read_text()[-2000:]}")
    yield {"url": url, **{k: env[k] for k in ("LUMBUNG_DATA_DIR", "DATABASE_URL", "LUMBUNG_SEARCH_INDEX")}}
    process.terminate()
    process.wait(timeout=10)
    log.close()


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


