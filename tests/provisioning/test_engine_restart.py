"""The Docker engine itself stops and starts again: the marketplace keeps answering, the
installations become "unknown", and the next reconciliation after the engine is back
puts everything right (the app answers at its address, which may have moved).

The test stops the engine this machine runs (dockerd, started by scripts/docker-engine),
so it needs root; it starts the engine again whatever happens.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from provisioning.engine import DockerEngine
from provisioning.reconciler import Reconciler
from provisioning.tables import Installation
from tests.conftest import bearer, need
from tests.provisioning.test_adopt import engine_available, quiet_setup  # noqa: F401  (fixtures)
from tests.provisioning.test_docker_engine import docker_client
from tests.provisioning.test_reconciler import adopted

pytestmark = [pytest.mark.docker, pytest.mark.db, pytest.mark.slow]

START_ENGINE = Path(__file__).resolve().parents[2] / "scripts" / "docker-engine"


def dockerd_pid() -> int | None:
    found = subprocess.run(["pidof", "dockerd"], capture_output=True, text=True).stdout.split()
    return int(found[0]) if len(found) == 1 else None


def engine_answers() -> bool:
    try:
        return bool(docker_client.ping())
    except Exception:  # noqa: BLE001  (any failure: the engine does not answer)
        return False


async def wait_until(condition, timeout: float = 60) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.25)


async def test_the_engine_stops_and_comes_back_and_everything_converges(client, quiet_setup):  # noqa: F811
    need(os.geteuid() == 0 and shutil.which("dockerd") is not None, "stopping the engine needs root and dockerd")
    need(dockerd_pid() is not None, "no local dockerd process to stop (the engine runs elsewhere)")
    tenant, token = quiet_setup["paser"].slug, quiet_setup["operator"]
    async with DockerEngine() as engine:
        installation, _runner = await adopted(client, quiet_setup, engine)
        reconciler = Reconciler(engine)
        assert not (await reconciler.run_once()).changed

        os.kill(dockerd_pid(), signal.SIGTERM)
        try:
            await wait_until(lambda: dockerd_pid() is None and not engine_answers())
            report = await reconciler.run_once()
            assert not report.engine_available and report.unknown == [installation]
            row = await Installation.select(Installation.observed_state).where(Installation.id == installation).first()
            assert row["observed_state"] == "unknown"
            # The marketplace itself keeps answering, with clear errors where the engine is needed.
            listed = await client.get(f"/api/v1/tenants/{tenant}/installations", headers=bearer(token))
            assert listed.status_code == 200 and listed.json()[0]["observed_state"] == "unknown"
            logs = await client.get(f"/api/v1/installations/{installation}/logs", headers=bearer(token))
            assert logs.status_code == 503 and "not reachable" in logs.json()["message"]
            assert (await client.get("/healthz")).status_code == 200
        finally:
            subprocess.run(["bash", str(START_ENGINE)], check=True, timeout=120)
        await wait_until(engine_answers)

        # The engine's restart policy or the reconciler brings the app back; its address
        # is refreshed when the published port moved.
        deadline = time.monotonic() + 60
        while True:
            report = await reconciler.run_once()
            row = await Installation.select(Installation.observed_state, Installation.url).where(
                Installation.id == installation
            ).first()
            if report.engine_available and row["observed_state"] == "running":
                break
            assert time.monotonic() < deadline, (report, row)
            await asyncio.sleep(0.5)
        async with httpx.AsyncClient(timeout=5, trust_env=False) as http:
            for _ in range(100):
                try:
                    if (await http.get(row["url"] + "healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
            assert (await http.get(row["url"] + "healthz")).text.strip() == "ok"
        assert not (await reconciler.run_once()).changed  # converged: a second pass changes nothing
