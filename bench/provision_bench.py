"""Provisioning benchmark on the real Docker engine.

1. Adopt-to-healthy time of a small app (the sample `aduan-warga`, image already built)
   against a bare `docker run` of the same image to the same health check, in one run.
2. N concurrent adoptions over N tenants: all must succeed, none may share a network with
   another tenant; wall time and the marketplace process's peak memory are reported.

    .venv/bin/python bench/provision_bench.py [--rounds 5] [--tenants 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EXAMPLE = ROOT / "examples" / "apps" / "aduan-warga" / "1.2.0"
CONFIG = {"NAMA_PEMDA": "Pemerintah Kabupaten Bench", "TZ": "Asia/Jakarta"}
RUN = uuid.uuid4().hex[:6]


async def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=1, trust_env=False) as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.02)
    raise TimeoutError(url)


async def main(rounds: int, tenants: int) -> None:
    from catalog.bundles import pack_directory
    from catalog.manifest import load_manifest
    from catalog.services import Submission
    from marketplace.app import build_catalog_service
    from marketplace.db import migrate
    from marketplace.settings import get_settings
    from provisioning.config import ConfigCipher
    from provisioning.engine import DockerEngine, network_name
    from provisioning.jobs import JobRunner
    from provisioning.services import ProvisioningService
    from provisioning.tables import Installation, ProvisionJob
    from tenants import identity
    from tenants.tables import Tenant

    await migrate()
    settings = get_settings()
    catalog = build_catalog_service(settings)
    cipher = ConfigCipher(settings.secret_key)
    engine = DockerEngine()
    runner = JobRunner(engine, catalog.store, cipher)
    service = ProvisioningService(cipher)

    publisher_tenant = Tenant(slug="kota-bandung", name="Pemerintah Kota Bandung", kind="kota", publishes=True)
    await publisher_tenant.save()
    publisher = await identity.create_user("bench-publisher", "bench-password-123")
    await identity.add_membership(publisher, publisher_tenant, "admin")
    curator = await identity.create_user("bench-curator", "bench-password-123", is_curator=True)
    work = Path(tempfile.mkdtemp(prefix="lumbung-provision-bench-"))
    bundle = work / "bundle.tar.gz"
    pack_directory(EXAMPLE, bundle, extra_files={"bin/busybox": Path("/bin/busybox")})
    await catalog.submit_version(
        await identity.principal_for_user(publisher.id),
        Submission(version="1.2.0", changelog="", bundle_path=bundle, app_slug="aduan-warga"),
    )
    await catalog.approve(await identity.principal_for_user(curator.id), "aduan-warga", "1.2.0")
    manifest = load_manifest((EXAMPLE / "lumbung.yaml").read_bytes())
    image = await engine.ensure_image("aduan-warga", "1.2.0", catalog.store.path_for(
        (await catalog.version_detail(await identity.principal_for_user(curator.id), "aduan-warga", "1.2.0")).bundle_sha256
    ))

    made_tenants: list[str] = []

    async def new_operator(n: int):
        slug = f"bench-{RUN}-{n}"
        tenant = Tenant(slug=slug, name=f"Pemerintah Kabupaten Bench {n}", kind="kabupaten", max_installations=0,
                        max_memory_bytes=0)
        await tenant.save()
        made_tenants.append(slug)
        user = await identity.create_user(f"op-{RUN}-{n}", "bench-password-123")
        await identity.add_membership(user, tenant, "operator")
        return slug, await identity.principal_for_user(user.id)

    async def adopt_to_healthy(slug: str, operator) -> float:
        started = time.perf_counter()
        adoption = await service.adopt(operator, slug, "aduan-warga", "1.2.0", CONFIG)
        await ProvisionJob.update({ProvisionJob.state: "running"}).where(ProvisionJob.id == adoption.job_id)
        await runner.run(adoption.job_id)
        job = await ProvisionJob.select(ProvisionJob.state, ProvisionJob.error).where(ProvisionJob.id == adoption.job_id).first()
        if job["state"] != "succeeded":
            raise RuntimeError(f"adoption failed: {job['error']}")
        return time.perf_counter() - started

    async def remove_installations(slug: str) -> None:
        rows = await Installation.select(Installation.id).where(Installation.tenant.slug == slug)
        for row in rows:
            await engine.remove_container(row["id"])
            await engine.remove_volumes(row["id"])
        await Installation.update({Installation.desired_state: "removed"}).where(
            Installation.id.is_in([r["id"] for r in rows] or [0])
        )

    bench_network = engine.client.networks.create(f"bench-{RUN}-bare", driver="bridge",
                                                  labels={"org.lumbung.bench": RUN})

    def bare_run(isolated: bool = False) -> tuple[object, int]:
        """`docker run` of the image; `isolated`: on a user-defined bridge network with a
        fresh named volume, as tenant isolation needs, instead of the default bridge."""
        extra: dict = {}
        if isolated:
            volume = engine.client.volumes.create(labels={"org.lumbung.bench": RUN})
            extra = {"network": bench_network.name, "volumes": {volume.name: {"bind": "/data", "mode": "rw"}}}
        container = engine.client.containers.run(
            image, detach=True, read_only=True, cap_drop=["ALL"], security_opt=["no-new-privileges:true"],
            tmpfs={"/tmp": "rw,noexec,nosuid,size=16m"}, mem_limit=manifest.resources.memory,
            ports={"8080/tcp": ("127.0.0.1", None)}, environment=CONFIG, labels={"org.lumbung.bench": RUN}, **extra,
        )
        container.reload()
        return container, int(container.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"])

    try:
        bare, isolated, first, again = [], [], [], []
        repeat_slug, repeat_operator = await new_operator(10_000)
        for n in range(rounds):
            for samples, on_own_network in ((bare, False), (isolated, True)):
                started = time.perf_counter()
                container, port = await asyncio.to_thread(bare_run, on_own_network)
                await wait_http(f"http://127.0.0.1:{port}{manifest.container.health_check.path}")
                samples.append(time.perf_counter() - started)
                await asyncio.to_thread(container.remove, force=True, v=True)
            slug, operator = await new_operator(n)
            first.append(await adopt_to_healthy(slug, operator))  # a new tenant: its network is created
            again.append(await adopt_to_healthy(repeat_slug, repeat_operator))  # the tenant's network exists
            await remove_installations(repeat_slug)
        print(f"\nAdopt-to-healthy, sample app aduan-warga, image already built ({rounds} rounds each)")
        base = statistics.median(bare)
        for label, samples in (("bare docker run to /healthz", bare),
                               ("bare run, own network + volume", isolated), ("adopt, tenant's first app", first),
                               ("adopt, tenant network exists", again)):
            median = statistics.median(samples)
            print(f"  {label:30} median {median * 1000:6.0f} ms  (min {min(samples) * 1000:.0f})  ratio {median / base:.2f}")
        print(f"  adopt (network exists) against a bare run on its own network with a volume: "
              f"{statistics.median(again) / statistics.median(isolated):.2f}")
        print(f"  target 1.3x or less: first app {'met' if statistics.median(first) / base <= 1.3 else 'NOT met'}, "
              f"network exists {'met' if statistics.median(again) / base <= 1.3 else 'NOT met'}")

        operators = [await new_operator(rounds + n) for n in range(tenants)]
        started = time.perf_counter()
        results = await asyncio.gather(*(adopt_to_healthy(slug, op) for slug, op in operators), return_exceptions=True)
        wall = time.perf_counter() - started
        failures = [r for r in results if isinstance(r, Exception)]
        crossings = 0
        for c in await asyncio.to_thread(engine.client.containers.list, filters={"label": ["org.lumbung.managed=true"]}):
            tenant = (c.labels or {}).get("org.lumbung.tenant", "")
            if tenant.startswith(f"bench-{RUN}-"):
                attached = set(c.attrs["NetworkSettings"]["Networks"])
                crossings += attached != {network_name(tenant)}
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\n{tenants} concurrent adoptions over {tenants} tenants")
        print(f"  succeeded {tenants - len(failures)}/{tenants} in {wall:.1f} s; "
              f"per adoption median {statistics.median([r for r in results if not isinstance(r, Exception)]):.1f} s")
        if failures:
            print(f"  first failure: {failures[0]}")
        print(f"  containers attached to anything but their own tenant's network: {crossings}")
        print(f"  marketplace process peak memory {peak:.0f} MiB")
    finally:
        client = engine.client
        for c in client.containers.list(all=True):
            labels = c.labels or {}
            if labels.get("org.lumbung.bench") == RUN or labels.get("org.lumbung.tenant", "").startswith(f"bench-{RUN}-"):
                c.remove(force=True, v=True)
        for net in client.networks.list():
            labels = net.attrs.get("Labels") or {}
            if labels.get("org.lumbung.tenant", "").startswith(f"bench-{RUN}-") or labels.get("org.lumbung.bench") == RUN:
                net.remove()
        for vol in client.volumes.list():
            labels = vol.attrs.get("Labels") or {}
            if labels.get("org.lumbung.tenant", "").startswith(f"bench-{RUN}-") or labels.get("org.lumbung.bench") == RUN:
                vol.remove(force=True)
        await engine.close()
        await catalog.search.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tenants", type=int, default=50)
    options = parser.parse_args()
    data = tempfile.mkdtemp(prefix="lumbung-provision-bench-data-")
    os.environ["LUMBUNG_DATA_DIR"] = data
    os.environ.pop("DATABASE_URL", None)
    try:
        asyncio.run(main(options.rounds, options.tenants))
    finally:
        shutil.rmtree(data, ignore_errors=True)
