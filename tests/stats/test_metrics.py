"""Prometheus metrics for operators: only with the metrics token, figures from the database."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from prometheus_client.parser import text_string_to_metric_families

from catalog.tables import App
from marketplace.settings import get_settings
from provisioning.tables import AdoptionEvent, Installation, ProvisionJob
from tests.conftest import _app_client, make_tenant

pytestmark = pytest.mark.db
TOKEN = "metrics-token-for-the-tests-0123456789"


async def _fleet() -> None:
    now = datetime.now(timezone.utc)
    tenant = await make_tenant("kab-metrik", "Kabupaten Metrik", "Jawa Barat")
    app = App(slug="app-metrik", name="App", category="lainnya", publisher=tenant.id, created_at=now, updated_at=now)
    await app.save()
    states = [("running", "running"), ("running", "running"), ("stopped", "stopped"), ("removed", "removed")]
    for desired, observed in states:
        inst = Installation(tenant=tenant.id, app=app.id, desired_state=desired, observed_state=observed, created_at=now)
        await inst.save()
        await AdoptionEvent(kind="adopted", tenant=tenant.id, app=app.id, installation=inst.id, to_version="1.0.0",
                            created_at=now).save()
    jobs = [("provision", "succeeded", 3), ("provision", "succeeded", 45), ("provision", "failed", 700), ("stop", "queued", None)]
    for kind, state, seconds in jobs:
        await ProvisionJob(installation=inst.id, kind=kind, state=state, created_at=now,
                           finished_at=now + timedelta(seconds=seconds) if seconds is not None else None).save()


async def test_metrics_are_off_without_a_token_setting(client) -> None:
    assert (await client.get("/metrics")).status_code == 404


async def test_metrics_need_the_token_and_report_the_fleet(db) -> None:
    await _fleet()
    async for client in _app_client(dataclasses.replace(get_settings(), metrics_token=TOKEN)):
        assert (await client.get("/metrics", follow_redirects=False)).status_code == 401
        assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
        response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples
        }
        assert samples[("lumbung_installations", (("desired_state", "running"), ("observed_state", "running")))] == 2
        assert samples[("lumbung_installations", (("desired_state", "removed"), ("observed_state", "removed")))] == 1
        assert samples[("lumbung_jobs", (("kind", "provision"), ("state", "succeeded")))] == 2
        assert samples[("lumbung_jobs", (("kind", "stop"), ("state", "queued")))] == 1
        ok = (("kind", "provision"), ("state", "succeeded"))
        assert samples[("lumbung_job_duration_seconds_count", ok)] == 2
        assert samples[("lumbung_job_duration_seconds_bucket", (*ok[:1], ("le", "5.0"), ok[1]))] == 1
        assert samples[("lumbung_job_duration_seconds_bucket", (*ok[:1], ("le", "60.0"), ok[1]))] == 2
        assert abs(samples[("lumbung_job_duration_seconds_sum", ok)] - 48) < 0.01
        failed = (("kind", "provision"), ("le", "600.0"), ("state", "failed"))
        assert samples[("lumbung_job_duration_seconds_bucket", failed)] == 0
        assert samples[("lumbung_adoption_events", (("kind", "adopted"),))] == 4
