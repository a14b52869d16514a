"""Drift between the database and the engine, put right by the reconciler (real engine)."""

from __future__ import annotations

from typing import Any

import docker
import pytest

from provisioning.engine import LABEL_INSTALLATION, LABEL_TENANT, DockerEngine, container_name, owned_labels
from provisioning.jobs import JobRunner
from provisioning.reconciler import Reconciler
from provisioning.tables import Installation, ProvisionJob
from tests.conftest import principal
from tests.provisioning.test_adopt import CONFIG, RUN, _user, engine_available, quiet_setup  # noqa: F401  (fixtures)
from tests.provisioning.test_docker_engine import docker_client

pytestmark = [pytest.mark.docker, pytest.mark.db]


async def run_queued(runner: JobRunner) -> None:
    while (job_id := await runner.claim_next()) is not None:
        await runner.run(job_id)


async def adopted(client: Any, setup: dict[str, Any], engine: DockerEngine) -> tuple[int, JobRunner]:
    state = client.app.state
    adoption = await state.provisioning.adopt(
        await principal(await _user("op-paser")), setup["paser"].slug, "aduan-warga", "1.2.0", CONFIG
    )
    runner = JobRunner(engine, state.catalog.store, state.provisioning.cipher)
    await run_queued(runner)
    return adoption.installation_id, runner


async def test_drift_is_put_right_and_a_second_pass_changes_nothing(client, quiet_setup):  # noqa: F811
    async with DockerEngine() as engine:
        installation, runner = await adopted(client, quiet_setup, engine)
        reconciler = Reconciler(engine)
        assert not (await reconciler.run_once()).changed

        # Stopped behind Lumbung's back: started again.
        name = container_name(installation)
        docker_client.containers.get(name).stop(timeout=1)
        report = await reconciler.run_once()
        assert report.started == [installation]
        assert docker_client.containers.get(name).status == "running"

        # Removed behind Lumbung's back: a restore job rebuilds it, with the data volume kept.
        docker_client.containers.get(name).remove(force=True)
        report = await reconciler.run_once()
        assert report.restore_jobs == [installation]
        assert not (await reconciler.run_once()).changed  # the queued job is not doubled
        await run_queued(runner)
        assert docker_client.containers.get(name).status == "running"
        row = await Installation.select(Installation.observed_state).where(Installation.id == installation).first()
        assert row["observed_state"] == "running"
        assert await ProvisionJob.count().where(ProvisionJob.kind == "restore") == 1

        # An object with Lumbung's labels that no installation owns.
        orphan = docker_client.volumes.create(
            name=f"{container_name(999999)}-data-{RUN}",
            labels={**owned_labels(), LABEL_INSTALLATION: "999999", LABEL_TENANT: f"ghost-{RUN}"},
        )
        report = await reconciler.run_once()
        assert report.orphans == [f"volume {orphan.name}"] and report.removed_orphans == []
        report = await Reconciler(engine, remove_orphans=True).run_once()
        assert report.removed_orphans == [f"volume {orphan.name}"]
        with pytest.raises(docker.errors.NotFound):
            docker_client.volumes.get(orphan.name)

        second = await reconciler.run_once()
        assert not second.changed and second.orphans == []


async def test_an_unreachable_engine_makes_installations_unknown_then_converges(client, quiet_setup):  # noqa: F811
    async with DockerEngine() as engine:
        installation, _ = await adopted(client, quiet_setup, engine)
    unreachable = DockerEngine(client=docker.DockerClient(base_url="tcp://127.0.0.1:9", version="1.41", timeout=2))
    report = await Reconciler(unreachable).run_once()
    assert not report.engine_available and report.unknown == [installation]
    row = await Installation.select(Installation.observed_state).where(Installation.id == installation).first()
    assert row["observed_state"] == "unknown"
    await unreachable.close()

    async with DockerEngine() as engine:  # the engine is back
        report = await Reconciler(engine).run_once()
    assert report.engine_available and not report.changed
    row = await Installation.select(Installation.observed_state).where(Installation.id == installation).first()
    assert row["observed_state"] == "running"
