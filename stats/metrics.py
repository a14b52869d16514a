"""Prometheus metrics for operators at `/metrics`.

Read from the database at each scrape, so every marketplace process reports the same
figures (jobs run in several processes on PostgreSQL): installations by desired and
observed state, jobs by kind and outcome, the duration of finished jobs (from request to
outcome) as a histogram, and adoption events by kind.

Access: only with `Authorization: Bearer <LUMBUNG_METRICS_TOKEN>`; without that setting
`/metrics` answers 404, as if it did not exist.
"""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric

from marketplace.db import engine
from marketplace.errors import AuthenticationRequired, NotFound
from marketplace.settings import Settings
from provisioning.tables import AdoptionEvent

BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class _Figures:
    """A collector holding figures read just before the scrape."""

    def __init__(self, families: list[Metric]):
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def _duration_sql(dialect: str) -> str:
    if dialect == "sqlite":
        return "(julianday(finished_at) - julianday(created_at)) * 86400.0"
    return "EXTRACT(EPOCH FROM (finished_at - created_at))"


async def collect() -> list[Metric]:
    """The metric families, read from the database now."""
    raw = AdoptionEvent.raw
    installations = GaugeMetricFamily(
        "lumbung_installations", "Installations by desired and observed state", labels=["desired_state", "observed_state"]
    )
    for row in await raw(
        "SELECT desired_state, observed_state, COUNT(*) AS n FROM installation GROUP BY desired_state, observed_state"
    ):
        installations.add_metric([row["desired_state"], row["observed_state"]], int(row["n"]))

    jobs = GaugeMetricFamily("lumbung_jobs", "Provisioning jobs by kind and state (outcome)", labels=["kind", "state"])
    for row in await raw("SELECT kind, state, COUNT(*) AS n FROM provision_job GROUP BY kind, state"):
        jobs.add_metric([row["kind"], row["state"]], int(row["n"]))

    durations = HistogramMetricFamily(
        "lumbung_job_duration_seconds", "Time from a job's request to its outcome, for finished jobs",
        labels=["kind", "state"],
    )
    seconds = _duration_sql(engine().engine_type)
    buckets = ", ".join(f"SUM(CASE WHEN d <= {b} THEN 1 ELSE 0 END) AS b{i}" for i, b in enumerate(BUCKETS))
    for row in await raw(
        f"SELECT kind, state, COUNT(*) AS n, SUM(d) AS total, {buckets} FROM (SELECT kind, state, {seconds} AS d "
        "FROM provision_job WHERE finished_at IS NOT NULL AND state IN ('succeeded', 'failed')) j GROUP BY kind, state"
    ):
        counts = [(str(b), int(row[f"b{i}"] or 0)) for i, b in enumerate(BUCKETS)]
        durations.add_metric([row["kind"], row["state"]], [*counts, ("+Inf", int(row["n"]))], float(row["total"] or 0))

    events = GaugeMetricFamily("lumbung_adoption_events", "Adoption events recorded, by kind", labels=["kind"])
    for row in await raw("SELECT kind, COUNT(*) AS n FROM adoption_event GROUP BY kind"):
        events.add_metric([row["kind"]], int(row["n"]))
    return [installations, jobs, durations, events]


def _authorised(request: Request[Any, Any, Any], token: str) -> bool:
    kind, _, secret = request.headers.get("authorization", "").partition(" ")
    return kind.lower() == "bearer" and hmac.compare_digest(secret.strip().encode(), token.encode())


class MetricsController(Controller):
    path = "/metrics"
    include_in_schema = False

    # The guard lets everyone through; the operators' token is checked here.
    @get("/", opt={"access": "public"})
    async def metrics(self, request: Request, settings: NamedDependency[Settings]) -> Response[bytes]:
        if not settings.metrics_token:
            raise NotFound("not found")
        if not _authorised(request, settings.metrics_token):
            raise AuthenticationRequired("send the metrics token: Authorization: Bearer ...")
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Figures(await collect()))  # type: ignore[arg-type]
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
