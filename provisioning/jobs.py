"""Provisioning jobs: persisted steps, claimed by workers, resumable after a crash.

Every step calls the engine's idempotent operations, so a job that is run again after a
restart (or by another worker) finishes the work instead of doing it twice: the
installation still ends with exactly one container. On PostgreSQL several marketplace
processes share the queue; a job is claimed with `FOR UPDATE SKIP LOCKED`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from catalog.bundles import BundleStore
from catalog.services import load_manifest_document
from marketplace.db import engine as db_engine
from provisioning.config import ConfigCipher, environment
from provisioning.engine import ProvisioningEngine, container_spec
from provisioning.errors import EngineUnavailable, ProvisioningError
from catalog.tables import AppVersion
from provisioning.tables import AdoptionEvent, Installation, ProvisionJob

log = logging.getLogger("lumbung.jobs")

PROVISION_STEPS = (
    ("resources", "Check the tenant's quota and the app's needs"),
    ("image", "Build or load the image"),
    ("network", "Create the tenant network and the data volumes"),
    ("container", "Create and start the hardened container"),
    ("health", "Wait for the health check"),
    ("publish", "Publish the address"),
)
OPERATION_STEPS: dict[str, tuple[tuple[str, str], ...]] = {
    "stop": (("stop", "Stop the container"),),
    "start": (("start", "Start the container"), ("health", "Wait for the health check")),
    "restart": (("stop", "Stop the container"), ("start", "Start the container"), ("health", "Wait for the health check")),
    "deprovision": (("remove_container", "Remove the container"), ("remove_network", "Remove the tenant network if unused")),
    "purge": (
        ("remove_container", "Remove the container"),
        ("remove_volumes", "Remove the data volumes"),
        ("remove_network", "Remove the tenant network if unused"),
    ),
}
# Changing what runs: the old container is stopped and its data copied before anything
# else changes, so a failure can bring back exactly what ran before (see JobRunner._recover).
UPGRADE_STEPS = (
    ("image", "Build or load the new version's image"),
    ("stop", "Stop the app"),
    ("snapshot", "Snapshot the data volumes"),
    ("replace", "Start the new version on the same data"),
    ("health", "Wait for the health check"),
    ("publish", "Publish the address"),
)
ROLLBACK_STEPS = (
    ("image", "Load the previous version's image"),
    ("stop", "Stop the app"),
    ("snapshot", "Snapshot the current data"),
    ("replace", "Restore the data from before the upgrade and start the previous version"),
    ("health", "Wait for the health check"),
    ("publish", "Publish the address"),
)
RECONFIGURE_STEPS = (
    ("replace", "Recreate the container with the new configuration"),
    ("health", "Wait for the health check"),
    ("publish", "Publish the address"),
)
CHANGE_STEPS = {"upgrade": UPGRADE_STEPS, "rollback": ROLLBACK_STEPS, "reconfigure": RECONFIGURE_STEPS}
# What an operation leaves: (desired state, observed state)
OPERATION_RESULT = {
    "stop": ("stopped", "stopped"),
    "start": ("running", "running"),
    "restart": ("running", "running"),
    "deprovision": ("removed", "removed"),
    "purge": ("removed", "purged"),
}
STALE_AFTER = timedelta(seconds=60)
HEARTBEAT_EVERY = 10.0
RETENTION = timedelta(days=30)


def new_steps(steps: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"key": key, "label": label, "state": "pending", "detail": ""} for key, label in steps]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class JobRunner:
    """Claims queued jobs and carries them out against a provisioning engine."""

    def __init__(
        self,
        engine: ProvisioningEngine,
        store: BundleStore,
        cipher: ConfigCipher,
        *,
        name: str | None = None,
        snapshot_dir: Path | None = None,
        retention: timedelta = RETENTION,
        stale_after: timedelta = STALE_AFTER,
    ):
        self.engine = engine
        self.store = store
        self.cipher = cipher
        self.name = name or worker_name()
        self.snapshot_dir = snapshot_dir or store.root.parent / "snapshots"
        self.retention = retention
        self.stale_after = stale_after
        self.heartbeat_every = min(HEARTBEAT_EVERY, stale_after.total_seconds() / 3)

    async def claim_next(self) -> int | None:
        db = db_engine()
        lock = " FOR UPDATE SKIP LOCKED" if db.engine_type == "postgres" else ""
        rows = await ProvisionJob.raw(
            "UPDATE provision_job SET state = 'running', claimed_by = {}, heartbeat_at = {}, attempts = attempts + 1 "
            f"WHERE id = (SELECT id FROM provision_job WHERE state = 'queued' ORDER BY id LIMIT 1{lock}) "
            "RETURNING id",
            self.name,
            _now(),
        )
        return rows[0]["id"] if rows else None

    async def requeue_stale(self) -> int:
        """Jobs whose worker stopped beating (killed, crashed) go back to the queue."""
        cutoff = _now() - self.stale_after
        stale = await ProvisionJob.select(ProvisionJob.id).where(
            (ProvisionJob.state == "running") & (ProvisionJob.heartbeat_at < cutoff)
        )
        for row in stale:
            await ProvisionJob.update({ProvisionJob.state: "queued", ProvisionJob.claimed_by: ""}).where(
                (ProvisionJob.id == row["id"]) & (ProvisionJob.state == "running")
            )
        return len(stale)

    async def work(self, stop: asyncio.Event, *, idle: float = 0.5) -> None:
        """Run jobs until `stop` is set."""
        while not stop.is_set():
            try:
                await self.requeue_stale()
                job_id = await self.claim_next()
            except Exception:  # noqa: BLE001  (a database hiccup must not end the worker)
                log.exception("claiming a job failed")
                job_id = None
            if job_id is None:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=idle)
                except TimeoutError:
                    pass
                continue
            await self.run(job_id)

    async def run(self, job_id: int) -> None:
        """Carry out a claimed job from its first unfinished step."""
        job = await ProvisionJob.objects().where(ProvisionJob.id == job_id).output(load_json=True).first()
        if job is None or job.state != "running":
            return
        context = await self._context(job)
        beat = asyncio.create_task(self._heartbeat(job_id))
        try:
            for index, step in enumerate(job.steps):
                if step["state"] == "done":
                    continue
                step["state"] = "running"
                await self._save(job, index)
                detail = await self._step(step["key"], context)
                step["state"], step["detail"] = "done", detail or ""
                await self._save(job, index + 1)
            await self._finish(job, context)
        except Exception as exc:  # noqa: BLE001  (every failure is recorded on the job)
            await self._settle(context)  # before cleaning up: nothing may be created after it
            await self._fail(job, context, exc)
        finally:
            beat.cancel()
            preparing = context.pop("preparing", None)
            if preparing is not None:
                preparing.cancel()

    @staticmethod
    async def _settle(ctx: dict[str, Any]) -> None:
        """Wait for work started ahead of its step (see "image"), whatever its outcome."""
        preparing = ctx.pop("preparing", None)
        if preparing is not None:
            await asyncio.gather(preparing, return_exceptions=True)

    async def _context(self, job: ProvisionJob) -> dict[str, Any]:
        row = await Installation.select(
            Installation.all_columns(),
            Installation.tenant.slug.as_alias("tenant_slug"),
            Installation.app.slug.as_alias("app_slug"),
            Installation.version.version.as_alias("version_string"),
            Installation.version.manifest.as_alias("manifest"),
            Installation.version.bundle_sha256.as_alias("bundle_sha256"),
        ).where(Installation.id == job.installation).output(load_json=True).first()
        manifest = load_manifest_document(row["manifest"])
        ctx: dict[str, Any] = {"installation": row, "manifest": manifest, "job": job}
        # The version the job moves to (upgrade, rollback); otherwise the installed one.
        ctx["target"] = {"id": row["version"], "version": row["version_string"], "manifest": manifest,
                         "bundle_sha256": row["bundle_sha256"]}
        if job.params.get("to_version"):
            target = await AppVersion.select(
                AppVersion.id, AppVersion.version, AppVersion.manifest, AppVersion.bundle_sha256
            ).where(AppVersion.id == job.params["to_version"]).output(load_json=True).first()
            if target is not None:
                ctx["target"] = {**target, "manifest": load_manifest_document(target["manifest"])}
        return ctx

    async def _step(self, key: str, ctx: dict[str, Any]) -> str:
        inst, manifest = ctx["installation"], ctx["manifest"]
        if key == "resources":
            return f"{manifest.resources.memory // (1024 * 1024)} MiB, {manifest.resources.cpu} CPU"
        if key == "image":
            if ctx["job"].kind == "provision":
                # The tenant network and volumes do not depend on the image: prepare them
                # meanwhile (the "network" step waits for this).
                ctx["preparing"] = asyncio.ensure_future(self._prepare(inst, manifest))
            target = ctx["target"]
            path: Path = self.store.path_for(target["bundle_sha256"])
            image = await self.engine.ensure_image(inst["app_slug"], target["version"], path, None, target["bundle_sha256"])
            ctx["image"] = image
            if ctx["job"].kind in CHANGE_STEPS:
                ctx["job"].params["image"] = image  # the installation switches only when the job succeeds
            else:
                await Installation.update({Installation.image_id: image}).where(Installation.id == inst["id"])
            return image[:19]
        if key == "snapshot":
            paths = [v.path for v in manifest.volumes]
            if not paths:
                return "no data volumes"
            job = ctx["job"]
            dest = self.snapshot_dir / f"installation-{inst['id']}" / f"job-{job.id}.tar"
            size = await self.engine.snapshot(inst["id"], inst["image_id"], paths, dest)
            job.params["snapshot"] = str(dest)
            return f"{size / 1024 / 1024:.1f} MiB"
        if key == "replace":
            return await self._replace(ctx)
        if key == "network":
            preparing = ctx.pop("preparing", None)
            await (preparing if preparing is not None else self._prepare(inst, manifest))
            ctx["prepared"] = True
            return ""
        if key == "container":
            image = ctx.get("image") or inst["image_id"]
            env = environment(inst["config"] or {}, self.cipher)
            running = await self.engine.run(
                container_spec(inst["id"], inst["tenant_slug"], manifest, image, env), prepared=ctx.get("prepared", False)
            )
            ctx["running"] = running
            await Installation.update(
                {Installation.container_id: running.container_id, Installation.url: running.url}
            ).where(Installation.id == inst["id"])
            return running.container_id[:12]
        if key == "health":
            check = ctx["target"]["manifest"].container.health_check
            await self.engine.wait_healthy(inst["id"], check.path, timeout=check.timeout_seconds, interval=check.interval_seconds)
            return check.path
        if key == "stop":
            await self.engine.stop(inst["id"])
            return ""
        if key == "start":
            await self.engine.start(inst["id"])
            url = await self.engine.address(inst["id"])  # a random host port may differ after a stop
            if url:
                await Installation.update({Installation.url: url}).where(Installation.id == inst["id"])
            return url
        if key == "remove_container":
            await self.engine.remove_container(inst["id"])
            return ""
        if key == "remove_volumes":
            await self.engine.remove_volumes(inst["id"])
            return ""
        if key == "remove_network":
            others = await Installation.count().where(
                (Installation.tenant == inst["tenant"]) & (Installation.id != inst["id"])
                & Installation.desired_state.is_in(["running", "stopped"])
            )
            if others:
                return "kept: other apps of the tenant use it"
            await self.engine.remove_network(inst["tenant_slug"])
            return "removed"
        if key == "publish":
            if ctx["job"].kind in CHANGE_STEPS:
                return ctx["job"].params.get("url", "")
            url = (await Installation.select(Installation.url).where(Installation.id == inst["id"]).first())["url"]
            await Installation.update({Installation.observed_state: "running"}).where(Installation.id == inst["id"])
            return url
        raise ValueError(f"unknown step {key}")

    async def _prepare(self, inst: dict[str, Any], manifest: Any) -> None:
        """The tenant's network and the installation's data volumes, made at the same time."""
        await asyncio.gather(
            self.engine.ensure_network(inst["tenant_slug"]),
            *(self.engine.ensure_volume(inst["id"], inst["tenant_slug"], v.path) for v in manifest.volumes),
        )

    async def _replace(self, ctx: dict[str, Any]) -> str:
        """Remove the app's container and start the target version (or configuration) on
        the installation's volumes; a rollback first restores the data snapshot it returns
        to. Safe to repeat: it always ends with exactly one container."""
        inst, job, target = ctx["installation"], ctx["job"], ctx["target"]
        manifest = target["manifest"]
        restore = job.params.get("restore")
        if restore and not Path(restore).is_file():
            raise ProvisioningError("The data snapshot to return to is missing.")
        job.params["data_changed"] = True
        await self._save(job, None)
        await self.engine.remove_container(inst["id"])
        if restore:
            paths = [v.path for v in manifest.volumes]
            await self.engine.restore(inst["id"], inst["tenant_slug"], job.params.get("image") or inst["image_id"],
                                      paths, Path(restore))
        for volume in manifest.volumes:
            await self.engine.ensure_volume(inst["id"], inst["tenant_slug"], volume.path)
        config = job.params.get("config", inst["config"]) or {}
        image = job.params.get("image") or inst["image_id"]
        running = await self.engine.run(
            container_spec(inst["id"], inst["tenant_slug"], manifest, image, environment(config, self.cipher))
        )
        job.params.update({"container_id": running.container_id, "url": running.url})
        return running.container_id[:12]

    async def _recover(self, job: ProvisionJob, ctx: dict[str, Any]) -> None:
        """After a failed upgrade, rollback or configuration change: bring back the version,
        configuration and (when the new version may have changed it) data that ran before."""
        inst, manifest = ctx["installation"], ctx["manifest"]
        step = {"key": "recover", "label": "Roll back to what ran before", "state": "running", "detail": ""}
        job.steps.append(step)
        await self._save(job, None)
        await self.engine.remove_container(inst["id"])
        snapshot = job.params.get("snapshot")
        if snapshot and job.params.get("data_changed") and Path(snapshot).is_file():
            await self.engine.restore(inst["id"], inst["tenant_slug"], inst["image_id"],
                                      [v.path for v in manifest.volumes], Path(snapshot))
        running = await self.engine.run(
            container_spec(inst["id"], inst["tenant_slug"], manifest, inst["image_id"],
                           environment(inst["config"] or {}, self.cipher))
        )
        check = manifest.container.health_check
        await self.engine.wait_healthy(inst["id"], check.path, timeout=check.timeout_seconds,
                                       interval=check.interval_seconds)
        await Installation.update(
            {Installation.container_id: running.container_id, Installation.url: running.url,
             Installation.observed_state: "running" if inst["desired_state"] == "running" else "stopped"}
        ).where(Installation.id == inst["id"])
        if inst["desired_state"] == "stopped":
            await self.engine.stop(inst["id"])
        step["state"], step["detail"] = "done", inst["version_string"]
        await self._save(job, None)

    async def _save(self, job: ProvisionJob, done: int | None) -> None:
        """Persist the job's steps and params; `done` steps set the progress (None keeps it)."""
        if done is not None:
            job.progress = int(100 * done / max(len(job.steps), 1))
        await ProvisionJob.update(
            {ProvisionJob.steps: job.steps, ProvisionJob.params: job.params, ProvisionJob.progress: job.progress,
             ProvisionJob.heartbeat_at: _now()}
        ).where(ProvisionJob.id == job.id)

    async def _heartbeat(self, job_id: int) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_every)
            await ProvisionJob.update({ProvisionJob.heartbeat_at: _now()}).where(ProvisionJob.id == job_id)

    async def _finish(self, job: ProvisionJob, ctx: dict[str, Any]) -> None:
        inst = ctx["installation"]
        await ProvisionJob.update(
            {ProvisionJob.state: "succeeded", ProvisionJob.progress: 100, ProvisionJob.finished_at: _now()}
        ).where(ProvisionJob.id == job.id)
        if job.kind == "provision":
            await AdoptionEvent(
                kind="adopted", tenant=inst["tenant"], app=inst["app"], installation=inst["id"],
                to_version=inst["version_string"], created_at=_now(),
            ).save()
        elif job.kind in CHANGE_STEPS:
            await self._switch(job, ctx)
        elif job.kind in OPERATION_RESULT:
            desired, observed = OPERATION_RESULT[job.kind]
            changes: dict[Any, Any] = {Installation.desired_state: desired, Installation.observed_state: observed}
            if desired == "removed":
                changes[Installation.removed_at] = inst["removed_at"] or _now()
                changes[Installation.url] = ""
                changes[Installation.retain_until] = (inst["removed_at"] or _now()) + self.retention
            if job.kind == "purge":
                shutil.rmtree(self.snapshot_dir / f"installation-{inst['id']}", ignore_errors=True)
                changes[Installation.snapshot] = ""
                changes[Installation.retain_until] = None
            await Installation.update(changes).where(Installation.id == inst["id"])
            if job.kind == "deprovision" or (job.kind == "purge" and inst["desired_state"] != "removed"):
                await AdoptionEvent(
                    kind="removed", tenant=inst["tenant"], app=inst["app"], installation=inst["id"],
                    from_version=inst["version_string"], created_at=_now(),
                ).save()

    async def _fail(self, job: ProvisionJob, ctx: dict[str, Any], exc: Exception) -> None:
        message = exc.message if isinstance(exc, ProvisioningError) else f"{type(exc).__name__}: {exc}"
        tail = getattr(exc, "log_tail", "") or ""
        for step in job.steps:
            if step["state"] == "running":
                step["state"], step["detail"] = "failed", message[:500]
        log.warning("job %s failed: %s", job.id, message)
        inst = ctx["installation"]
        if job.kind == "upgrade" and not isinstance(exc, EngineUnavailable):
            # Update policies do not try this version again (a person still can).
            await Installation.update({Installation.skipped_version: ctx["target"]["version"]}).where(
                Installation.id == inst["id"]
            )
        if job.kind in CHANGE_STEPS and any(
            step["key"] != "image" and step["state"] in ("done", "failed") for step in job.steps
        ):
            # The old container was stopped or replaced: bring back what ran before.
            try:
                await self._recover(job, ctx)
                taken = job.params.get("snapshot")
                if taken and taken != inst["snapshot"]:
                    Path(taken).unlink(missing_ok=True)  # what ran before is back: the copy is not needed
                if job.kind == "reconfigure":
                    message += " The previous settings are back."
                else:
                    message += f" Version {inst['version_string']} runs again as before."
                if job.kind == "upgrade":
                    await AdoptionEvent(
                        kind="rolled_back", tenant=inst["tenant"], app=inst["app"], installation=inst["id"],
                        from_version=ctx["target"]["version"], to_version=inst["version_string"], created_at=_now(),
                    ).save()
            except Exception as again:  # noqa: BLE001  (recorded on the job and the installation)
                reason = again.message if isinstance(again, ProvisioningError) else f"{type(again).__name__}: {again}"
                message += f" Bringing back version {inst['version_string']} failed too: {reason}"
                for step in job.steps:
                    if step["state"] == "running":
                        step["state"], step["detail"] = "failed", reason[:500]
                await Installation.update({Installation.observed_state: "failed"}).where(Installation.id == inst["id"])
        if job.kind != "provision":
            # An operation on a running installation failed: record it, leave the app be.
            await Installation.update({Installation.last_error: message[:2000]}).where(Installation.id == inst["id"])
            await ProvisionJob.update(
                {ProvisionJob.state: "failed", ProvisionJob.steps: job.steps, ProvisionJob.error: message[:2000],
                 ProvisionJob.log: (job.log + tail)[-20_000:], ProvisionJob.finished_at: _now()}
            ).where(ProvisionJob.id == job.id)
            return
        # Nothing is left half-created: the container and this installation's volumes go.
        for cleanup in (self.engine.remove_container, self.engine.remove_volumes):
            try:
                await cleanup(inst["id"])
            except Exception:  # noqa: BLE001  (best effort; the reconciler finds leftovers)
                log.exception("cleaning up installation %s failed", inst["id"])
        await Installation.update(
            {Installation.observed_state: "failed", Installation.desired_state: "removed",
             Installation.last_error: message[:2000], Installation.removed_at: _now()}
        ).where(Installation.id == inst["id"])
        await ProvisionJob.update(
            {ProvisionJob.state: "failed", ProvisionJob.steps: job.steps, ProvisionJob.error: message[:2000],
             ProvisionJob.log: (job.log + tail)[-20_000:], ProvisionJob.finished_at: _now()}
        ).where(ProvisionJob.id == job.id)

    async def _switch(self, job: ProvisionJob, ctx: dict[str, Any]) -> None:
        """A successful upgrade, rollback or configuration change becomes what the
        installation runs; the version left behind and its data snapshot are kept for a
        rollback (a rollback consumes the snapshot it restored)."""
        inst, target, params = ctx["installation"], ctx["target"], job.params
        changes: dict[Any, Any] = {
            Installation.container_id: params.get("container_id", inst["container_id"]),
            Installation.url: params.get("url", inst["url"]),
            Installation.observed_state: "running",
            Installation.desired_state: "running",
            Installation.last_error: "",
        }
        if "config" in params:
            changes[Installation.config] = params["config"]
        if job.kind in ("upgrade", "rollback"):
            changes.update({
                Installation.version: target["id"],
                Installation.image_id: params["image"],
                Installation.previous_version: inst["version"],
                Installation.snapshot: params.get("snapshot", ""),
                Installation.memory_bytes: target["manifest"].resources.memory,
                Installation.cpu: target["manifest"].resources.cpu,
            })
            if job.kind == "upgrade":
                changes[Installation.skipped_version] = ""
        await Installation.update(changes).where(Installation.id == inst["id"])
        if job.kind in ("upgrade", "rollback"):
            left = {inst["snapshot"], params.get("restore", "")} - {params.get("snapshot", ""), ""}
            for path in left:
                Path(path).unlink(missing_ok=True)
            await AdoptionEvent(
                kind="upgraded" if job.kind == "upgrade" else "rolled_back", tenant=inst["tenant"], app=inst["app"],
                installation=inst["id"], from_version=inst["version_string"], to_version=target["version"],
                created_at=_now(),
            ).save()
