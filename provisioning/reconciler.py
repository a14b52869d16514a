"""The reconciler: compares what should run (the database) with what runs (the engine).

- A container removed behind Lumbung's back is rebuilt by a "restore" job; one stopped
  behind its back is started again; one running that should be stopped is stopped.
- Objects carrying Lumbung's labels that no installation owns are reported as orphans and,
  when configured, removed. The data volumes of removed installations are kept: they wait
  out their retention.
- When the engine cannot be reached, installations become "unknown" and nothing else
  happens; the next pass after the engine returns puts everything right.
- Removed installations whose retention ended get a "purge" job (data volumes and
  snapshots deleted), and update policies are applied (upgrades a missed approval owed).

Running it twice in a row changes nothing the second time.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from provisioning.engine import LABEL_INSTALLATION, ProvisioningEngine
from provisioning.errors import EngineUnavailable
from provisioning.jobs import OPERATION_STEPS, PROVISION_STEPS, new_steps
from provisioning.tables import Installation, ProvisionJob

log = logging.getLogger("lumbung.reconciler")

# A restore is a provisioning without the quota check: the installation already counts.
RESTORE_STEPS = tuple(step for step in PROVISION_STEPS if step[0] != "resources")


@dataclass
class ReconcileReport:
    engine_available: bool = True
    restore_jobs: list[int] = field(default_factory=list)  # installation ids
    started: list[int] = field(default_factory=list)
    stopped: list[int] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # "kind name"
    removed_orphans: list[str] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)  # installations whose retention ended: purge jobs
    upgrade_jobs: list[int] = field(default_factory=list)
    moved: list[int] = field(default_factory=list)  # installations whose address changed

    @property
    def changed(self) -> bool:
        return bool(
            self.restore_jobs or self.started or self.stopped or self.removed_orphans or self.expired
            or self.upgrade_jobs or self.moved
        )


class Reconciler:
    def __init__(
        self,
        engine: ProvisioningEngine,
        *,
        remove_orphans: bool = False,
        policies: Callable[[], Awaitable[list[int]]] | None = None,
    ):
        self.engine = engine
        self.remove_orphans = remove_orphans
        self.policies = policies

    async def run_once(self) -> ReconcileReport:
        report = ReconcileReport()
        report.expired = await self._expire_retention()
        active = await Installation.select(
            Installation.id, Installation.desired_state, Installation.observed_state, Installation.url
        ).where(Installation.desired_state.is_in(["running", "stopped"]))
        try:
            owned = await self.engine.list_owned()
        except EngineUnavailable as exc:
            log.warning("the container engine is unreachable: %s", exc)
            report.engine_available = False
            ids = [i["id"] for i in active if i["observed_state"] != "unknown"]
            if ids:
                await Installation.update({Installation.observed_state: "unknown"}).where(Installation.id.is_in(ids))
            report.unknown = [i["id"] for i in active]
            return report
        # Upgrades only while the engine answers: a job that cannot reach it would fail.
        report.upgrade_jobs = await self.policies() if self.policies else []

        containers = {
            int(o["labels"][LABEL_INSTALLATION]): o
            for o in owned
            if o["kind"] == "container" and (o["labels"] or {}).get(LABEL_INSTALLATION, "").isdigit()
        }
        busy = {
            r["installation"]
            for r in await ProvisionJob.select(ProvisionJob.installation).where(
                ProvisionJob.state.is_in(["queued", "running"])
            )
        }
        for inst in active:
            if inst["id"] in busy:
                continue  # a job is working on it
            container = containers.get(inst["id"])
            await self._converge(inst, container, report)

        known = {r["id"]: r["desired_state"] for r in await Installation.select(Installation.id, Installation.desired_state)}
        for obj in owned:
            owner = (obj["labels"] or {}).get(LABEL_INSTALLATION, "")
            if not owner.isdigit():
                continue  # networks belong to tenants; images are shared
            state = known.get(int(owner))
            orphan = state is None or (obj["kind"] == "container" and state == "removed")
            if orphan:
                label = f"{obj['kind']} {obj['name']}"
                report.orphans.append(label)
                if self.remove_orphans:
                    await self._remove(obj)
                    report.removed_orphans.append(label)
        return report

    async def _expire_retention(self) -> list[int]:
        """Queue purge jobs for removed installations whose data retention has ended."""
        now = datetime.now(timezone.utc)
        due = await Installation.select(Installation.id).where(
            (Installation.desired_state == "removed") & (Installation.observed_state == "removed")
            & (Installation.retain_until.is_not_null()) & (Installation.retain_until < now)
        )
        busy = {
            r["installation"]
            for r in await ProvisionJob.select(ProvisionJob.installation).where(
                ProvisionJob.state.is_in(["queued", "running"])
            )
        }
        queued = []
        for row in due:
            if row["id"] in busy:
                continue
            await ProvisionJob(
                installation=row["id"], kind="purge", state="queued", steps=new_steps(OPERATION_STEPS["purge"]),
                created_at=now,
            ).save()
            queued.append(row["id"])
        return queued

    async def _converge(self, inst: dict[str, Any], container: dict[str, Any] | None, report: ReconcileReport) -> None:
        now = datetime.now(timezone.utc)
        if inst["desired_state"] == "running":
            if container is None:
                await ProvisionJob(
                    installation=inst["id"], kind="restore", state="queued", steps=new_steps(RESTORE_STEPS), created_at=now
                ).save()
                await Installation.update({Installation.observed_state: "restoring"}).where(Installation.id == inst["id"])
                report.restore_jobs.append(inst["id"])
                return
            if container["status"] != "running":
                await self.engine.start(inst["id"])
                report.started.append(inst["id"])
            elif container.get("url") and container["url"] != inst["url"]:
                # The engine restarted the container on another host port.
                await Installation.update({Installation.url: container["url"]}).where(Installation.id == inst["id"])
                report.moved.append(inst["id"])
            observed = "running"
        else:
            if container is not None and container["status"] == "running":
                await self.engine.stop(inst["id"])
                report.stopped.append(inst["id"])
            observed = "stopped"
        if inst["observed_state"] != observed:
            await Installation.update({Installation.observed_state: observed}).where(Installation.id == inst["id"])

    async def _remove(self, obj: dict[str, Any]) -> None:
        installation = int(obj["labels"][LABEL_INSTALLATION])
        if obj["kind"] == "container":
            await self.engine.remove_container(installation)
        elif obj["kind"] == "volume":
            await self.engine.remove_volumes(installation)
