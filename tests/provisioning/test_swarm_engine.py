"""SwarmEngine against the real Docker engine on a one-node swarm: services that answer
at their URL, tenants on separate overlay networks, the hardening defaults in the service
spec and on its task containers, idempotence, stop/start/remove, health failures, and the
Reconciler running unchanged on top.

The engine joins a swarm only for this module when it was in none (and leaves it at the
end). Every object is made for this run only (unique app slug, tenant slugs and
installation ids) and removed at the end, so the tests never touch anything else.
"""

from __future__ import annotations

import asyncio
import secrets
import tarfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from catalog.bundles import pack_directory
from catalog.manifest import MANIFEST_FILENAME, Manifest, load_manifest
from catalog.tables import App, AppVersion
from catalog.versions import parse_version
from provisioning.engine import (
    LABEL_APP,
    LABEL_INSTALLATION,
    LABEL_MANAGED,
    LABEL_TENANT,
    ContainerSpec,
    container_name,
    container_spec,
    network_name,
    owned_labels,
    volume_name,
)
from provisioning.errors import (
    ContainerNotFound,
    EngineUnavailable,
    ProvisioningError,
    UnhealthyError,
)
from provisioning.reconciler import Reconciler
from provisioning.swarm import SwarmEngine
from provisioning.tables import Installation, ProvisionJob
from tests.conftest import make_tenant, need
from tests.provisioning.test_docker_engine import docker_available, docker_client

pytestmark = pytest.mark.docker

BUSYBOX = Path("/bin/busybox")
SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "apps" / "aduan-warga"
RUN = secrets.token_hex(3)
APP = f"aduan-warga-s{RUN}"  # an app slug of this run only, so its image is ours to remove
TENANT_A, TENANT_B = f"test-{RUN}-a", f"test-{RUN}-b"
BASE_ID = 800_000_000 + secrets.randbelow(
    90_000_000
)  # installation ids nobody else uses
SERVICE_ID_LABEL = "com.docker.swarm.service.id"
FIGURES: dict[str, float] = {}


def _latest(app_dir: Path) -> Path:
    return max(
        (p for p in app_dir.iterdir() if p.is_dir()),
        key=lambda p: parse_version(p.name),
    )


def _env(manifest: Manifest) -> dict[str, str]:
    env = {v.name: v.default for v in manifest.env if v.default is not None}
    env.update({v.name: secrets.token_urlsafe(16) for v in manifest.env if v.generate})
    env["NAMA_PEMDA"] = "Pemerintah Kabupaten Paser"
    return env


def _ours(labels: dict[str, str] | None) -> bool:
    return (labels or {}).get(LABEL_TENANT, "").startswith(f"test-{RUN}-")


def _cleanup(client: Any) -> None:
    """Remove every labelled object this run made: services (waiting for their task
    containers to go), networks, volumes and the app's image."""
    import docker

    managed = {"label": [f"{LABEL_MANAGED}=true"]}
    services = [
        s
        for s in client.services.list(filters=managed)
        if _ours(s.attrs["Spec"].get("Labels"))
    ]
    for service in services:
        try:
            service.remove()
        except docker.errors.NotFound:
            pass
    deadline = time.monotonic() + 60
    for service in services:
        tasks = {"label": [f"{SERVICE_ID_LABEL}={service.id}"]}
        while (
            client.containers.list(all=True, filters=tasks)
            and time.monotonic() < deadline
        ):
            time.sleep(0.2)
        for container in client.containers.list(all=True, filters=tasks):
            container.remove(force=True, v=True)
    for network in client.networks.list(filters=managed):
        if _ours(network.attrs.get("Labels")):
            network.remove()
    for volume in client.volumes.list(filters=managed):
        if _ours(volume.attrs.get("Labels")):
            # Task containers of services removed by the tests themselves may linger.
            for container in client.containers.list(all=True, filters={"volume": volume.name}):
                try:
                    container.remove(force=True)
                except docker.errors.NotFound:
                    pass
            volume.remove(force=True)
    for image in client.images.list(filters={"label": [f"{LABEL_APP}={APP}"]}):
        try:
            client.images.remove(image.id, force=True)
        except docker.errors.NotFound:
            pass


@pytest.fixture(scope="module")
def client() -> Any:
    need(docker_available, "no Docker engine answers")
    need(BUSYBOX.is_file(), f"{BUSYBOX} is missing (apt-get install busybox-static)")
    return docker_client


@pytest.fixture(scope="module")
def swarm(client: Any) -> Iterator[str]:
    """The id of this node in a swarm; the engine joins a new one-node swarm when it is in
    none, and leaves it again at the end. Yields after cleaning up what the module made.
    """
    import docker

    info = client.info().get("Swarm") or {}
    initialised = False
    had_gwbridge = bool(client.networks.list(names=["docker_gwbridge"]))
    if info.get("LocalNodeState") == "inactive":
        try:
            client.swarm.init(advertise_addr="127.0.0.1")
        except docker.errors.APIError as exc:
            need(
                False,
                f"this Docker engine cannot start a swarm: {exc.explanation or exc}",
            )
        initialised = True
        info = client.info().get("Swarm") or {}
    need(
        info.get("LocalNodeState") == "active" and bool(info.get("ControlAvailable")),
        "the Docker engine is in a swarm but not a manager",
    )
    try:
        yield info["NodeID"]
    finally:
        _cleanup(client)
        if initialised:
            client.swarm.leave(force=True)
            if not had_gwbridge:
                for network in client.networks.list(names=["docker_gwbridge"]):
                    try:
                        network.remove()
                    except docker.errors.APIError:
                        pass


@pytest.fixture(scope="module")
async def engine(swarm: str) -> AsyncIterator[SwarmEngine]:
    engine = SwarmEngine()
    yield engine
    await engine.close()


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    return load_manifest((_latest(SAMPLE) / MANIFEST_FILENAME).read_bytes())


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "aduan-warga.tar.gz"
    pack_directory(_latest(SAMPLE), out, extra_files={"bin/busybox": BUSYBOX})
    return out


@pytest.fixture(scope="module")
async def image(engine: SwarmEngine, manifest: Manifest, bundle: Path) -> str:
    """The one image of this module, built from the packed sample bundle (DockerEngine's
    ensure_image, inherited)."""
    started = time.monotonic()
    image_id = await engine.ensure_image(APP, manifest.version, bundle)
    FIGURES["image build (s)"] = time.monotonic() - started
    assert image_id.startswith("sha256:")
    return image_id


def _spec(
    installation: int, tenant: str, manifest: Manifest, image: str, **changes: Any
) -> ContainerSpec:
    spec = container_spec(
        BASE_ID + installation, tenant, manifest, image, _env(manifest)
    )
    return replace(spec, app_slug=APP, **changes)


@pytest.fixture(scope="module")
async def tenants(
    engine: SwarmEngine, manifest: Manifest, image: str
) -> dict[str, Any]:
    """Tenant A and tenant B each run the app as a service, healthy."""
    out = {}
    for n, tenant in ((1, TENANT_A), (2, TENANT_B)):
        spec = _spec(n, tenant, manifest, image)
        started = time.monotonic()
        running = await engine.run(spec)
        await engine.wait_healthy(
            spec.installation_id,
            spec.health_path,
            timeout=spec.health_timeout,
            interval=0.1,
        )
        FIGURES[f"run to healthy, tenant {tenant[-1].upper()} (s)"] = (
            time.monotonic() - started
        )
        out[tenant] = (spec, running)
    return out


async def _task_container(
    engine: SwarmEngine, client: Any, installation_id: int
) -> Any:
    attrs = await engine.inspect(installation_id)
    assert attrs is not None and attrs["Container"] is not None, attrs
    return client.containers.get(attrs["Container"]["Id"])


def _fetch(container: Any, ip: str) -> str:
    """GET /healthz on ip:8080 from inside `container`, with a 2 s timeout; the raw answer.

    busybox nc, not wget: the static busybox of Debian 12 (1.35.0) segfaults in wget
    (exit 139) even on the host. The address is an argument ($0), not part of the script.
    """
    script = 'printf "GET /healthz HTTP/1.0\\r\\n\\r\\n" | nc -w 2 "$0" 8080'
    result = container.exec_run(["/bin/busybox", "sh", "-c", script, ip])
    return result.output.decode(errors="replace")


def _addresses(container: Any) -> list[str]:
    """Every IPv4 address of the container but loopback (its overlay and docker_gwbridge ones)."""
    result = container.exec_run(["/bin/busybox", "ip", "-4", "-o", "addr"])
    out = []
    for line in result.output.decode().splitlines():
        fields = line.split()
        address = fields[fields.index("inet") + 1].split("/")[0]
        if not address.startswith("127."):
            out.append(address)
    return out


# --------------------------------------------------------------------------- 1. services


async def test_an_app_runs_as_a_service_and_answers_at_its_url(
    engine: SwarmEngine, client: Any, tenants: dict[str, Any]
) -> None:
    for tenant in (TENANT_A, TENANT_B):
        spec, running = tenants[tenant]
        service = client.services.get(running.container_id)
        assert service.name == running.name == container_name(spec.installation_id)
        assert service.attrs["Spec"]["Mode"] == {"Replicated": {"Replicas": 1}}
        assert running.url == f"http://127.0.0.1:{running.host_port}/"
        assert 20000 <= running.host_port <= 29999
        async with httpx.AsyncClient(timeout=5, trust_env=False) as http:
            assert (await http.get(running.url + "healthz")).text.strip() == "ok"
            info = (await http.get(running.url + "cgi-bin/info")).text
        assert "Pemerintah Kabupaten Paser" in info  # the environment reached the app
        assert not client.containers.list(
            all=True, filters={"name": f"^/{running.name}$"}
        ), "no plain container"
    assert tenants[TENANT_A][1].host_port != tenants[TENANT_B][1].host_port


# --------------------------------------------------------------------------- 2. tenants


async def test_two_tenants_are_on_separate_overlay_networks_and_cannot_reach_each_other(
    engine: SwarmEngine, client: Any, tenants: dict[str, Any]
) -> None:
    (spec_a, _), (spec_b, _) = tenants[TENANT_A], tenants[TENANT_B]
    net_a, net_b = client.networks.get(network_name(TENANT_A)), client.networks.get(
        network_name(TENANT_B)
    )
    for network, tenant in ((net_a, TENANT_A), (net_b, TENANT_B)):
        assert (
            network.attrs["Driver"] == "overlay" and network.attrs["Scope"] == "swarm"
        )
        assert (
            network.attrs["Attachable"] is False and network.attrs["Internal"] is False
        )
        assert network.attrs["Labels"] == {**owned_labels(), LABEL_TENANT: tenant}
    subnets = [n.attrs["IPAM"]["Config"][0]["Subnet"] for n in (net_a, net_b)]
    assert subnets[0] != subnets[1] and all(
        s.endswith("/24") and s.startswith("10.") for s in subnets
    )
    service_a = (await engine.inspect(spec_a.installation_id))["Spec"]
    assert [n["Target"] for n in service_a["TaskTemplate"]["Networks"]] == [net_a.id]

    a = await _task_container(engine, client, spec_a.installation_id)
    b = await _task_container(engine, client, spec_b.installation_id)
    overlay_a = a.attrs["NetworkSettings"]["Networks"][network_name(TENANT_A)][
        "IPAddress"
    ]
    overlay_b = b.attrs["NetworkSettings"]["Networks"][network_name(TENANT_B)][
        "IPAddress"
    ]
    assert set(a.attrs["NetworkSettings"]["Networks"]) == {network_name(TENANT_A)}
    addresses_a, addresses_b = _addresses(a), _addresses(b)
    assert overlay_a in addresses_a and overlay_b in addresses_b
    assert len(addresses_b) == 2  # the overlay and docker_gwbridge (egress)

    assert "200 OK" in _fetch(a, overlay_a), "A reaches itself"
    assert "200 OK" in _fetch(b, overlay_b), "B reaches itself"
    probes = [(a, ip) for ip in addresses_b] + [(b, ip) for ip in addresses_a]
    answers = await asyncio.gather(
        *(asyncio.to_thread(_fetch, c, ip) for c, ip in probes)
    )
    for (source, ip), answer in zip(probes, answers, strict=True):
        assert "200 OK" not in answer, f"{source.name} reached {ip}: {answer}"

    owned = {o["name"]: o for o in await engine.list_owned()}
    assert {
        container_name(spec_a.installation_id),
        network_name(TENANT_A),
        spec_a.volumes["/data"],
    } <= set(owned)
    assert owned[container_name(spec_a.installation_id)]["kind"] == "container"
    assert owned[container_name(spec_a.installation_id)]["status"] == "running"
    assert not any(
        name.startswith(container_name(spec_a.installation_id) + ".") for name in owned
    ), "no task containers"


async def test_a_bridge_network_left_by_the_docker_engine_is_refused(
    engine: SwarmEngine, client: Any
) -> None:
    tenant = f"test-{RUN}-c"
    client.networks.create(
        network_name(tenant),
        driver="bridge",
        labels={LABEL_MANAGED: "true", LABEL_TENANT: tenant},
    )
    with pytest.raises(ProvisioningError, match="not a swarm overlay"):
        await engine.ensure_network(tenant)


async def test_an_unreachable_engine_is_reported_as_such(swarm: str) -> None:
    """The Reconciler relies on list_owned raising EngineUnavailable."""
    import docker

    unreachable = SwarmEngine(
        client=docker.DockerClient(
            base_url="tcp://127.0.0.1:9", version="1.41", timeout=2
        )
    )
    with pytest.raises(EngineUnavailable):
        await unreachable.list_owned()
    with pytest.raises(EngineUnavailable):
        await unreachable.stop(BASE_ID + 9)
    await unreachable.close()


# --------------------------------------------------------------------------- 3. hardening


async def test_the_service_carries_every_hardening_default_swarm_can_express(
    engine: SwarmEngine,
    client: Any,
    swarm: str,
    manifest: Manifest,
    tenants: dict[str, Any],
) -> None:
    spec, running = tenants[TENANT_A]
    attrs = await engine.inspect(spec.installation_id)
    labels = {
        **owned_labels(),
        LABEL_TENANT: TENANT_A,
        LABEL_APP: APP,
        "org.lumbung.version": manifest.version,
        LABEL_INSTALLATION: str(spec.installation_id),
    }
    task = attrs["Spec"]["TaskTemplate"]
    container_spec_ = task["ContainerSpec"]

    assert attrs["Spec"]["Labels"] == labels
    assert container_spec_["Labels"] == labels
    assert container_spec_["CapabilityDrop"] == ["ALL"] and not container_spec_.get(
        "CapabilityAdd"
    )
    assert container_spec_["ReadOnly"] is True and container_spec_["Init"] is True
    assert "User" not in container_spec_, "the image's own user"
    assert container_spec_["StopGracePeriod"] == 10 * 10**9
    assert sorted((m["Type"], m["Target"]) for m in container_spec_["Mounts"]) == [
        ("tmpfs", "/tmp"),
        ("volume", "/data"),
    ]
    volume = next(m for m in container_spec_["Mounts"] if m["Type"] == "volume")
    assert volume["Source"] == volume_name(spec.installation_id, "/data")
    tmpfs = next(m for m in container_spec_["Mounts"] if m["Type"] == "tmpfs")
    assert tmpfs["TmpfsOptions"]["SizeBytes"] == 64 * 1024**2
    assert task["Resources"]["Limits"] == {
        "MemoryBytes": manifest.resources.memory,
        "NanoCPUs": int(manifest.resources.cpu * 1e9),
        "Pids": manifest.resources.pids,
    }
    assert (
        task["RestartPolicy"]["Condition"] == "any"
        and task["RestartPolicy"]["Delay"] == 5 * 10**9
    )
    assert task["LogDriver"] == {
        "Name": "json-file",
        "Options": {"max-size": "10m", "max-file": "3"},
    }
    assert task["Placement"]["Constraints"] == [f"node.id=={swarm}"]
    assert attrs["Spec"]["EndpointSpec"] == {
        "Mode": "dnsrr",
        "Ports": [
            {
                "Protocol": "tcp",
                "TargetPort": 8080,
                "PublishedPort": running.host_port,
                "PublishMode": "host",
            }
        ],
    }
    assert attrs["State"] == {"Status": "running", "Running": True, "Replicas": 1}

    # What the node's engine made of it: the task container.
    container = attrs["Container"]
    host = container["HostConfig"]
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert host["ReadonlyRootfs"] is True and host["Init"] is True
    assert host["Memory"] == manifest.resources.memory
    assert host["NanoCpus"] == int(manifest.resources.cpu * 1e9)
    assert host["PidsLimit"] == manifest.resources.pids
    assert host["Privileged"] is False and not host["Devices"] and not host["Binds"]
    assert (
        host["PidMode"] == "" and host["UTSMode"] == "" and host["IpcMode"] == "private"
    )
    assert host["PortBindings"] == {
        "8080/tcp": [{"HostIp": "", "HostPort": str(running.host_port)}]
    }
    assert {m["Type"] for m in container["Mounts"]} == {"volume", "tmpfs"}
    assert container["Config"]["User"] == "65534:65534"
    assert container["Config"]["Labels"].items() >= labels.items()

    task_container = client.containers.get(container["Id"])
    mounts = task_container.exec_run(
        ["/bin/busybox", "cat", "/proc/mounts"]
    ).output.decode()
    tmp = next(line for line in mounts.splitlines() if line.split()[1] == "/tmp")
    assert {"noexec", "nosuid", "nodev"} <= set(tmp.split()[3].split(","))
    wrote = task_container.exec_run(
        [
            "/bin/busybox",
            "sh",
            "-c",
            "echo a > /data/probe && echo b > /tmp/probe && cat /data/probe /tmp/probe",
        ]
    )
    assert wrote.exit_code == 0 and wrote.output.decode().split() == ["a", "b"]
    assert (
        task_container.exec_run(
            ["/bin/busybox", "sh", "-c", "echo x > /www/probe"]
        ).exit_code
        != 0
    ), "read-only root"


# --------------------------------------------------------------------------- 4. lifecycle


async def _status(engine: SwarmEngine, installation_id: int) -> str | None:
    for owned in await engine.list_owned():
        if owned["kind"] == "container" and owned["name"] == container_name(
            installation_id
        ):
            return owned["status"]
    return None


async def test_run_is_idempotent_and_stop_start_remove_work(
    engine: SwarmEngine,
    client: Any,
    manifest: Manifest,
    image: str,
    tmp_path: Path,
) -> None:
    spec = _spec(4, TENANT_A, manifest, image)
    name = container_name(spec.installation_id)

    first = await engine.run(spec)
    second = await engine.run(spec)
    assert second == first
    assert [
        s.id for s in client.services.list(filters={"name": name}) if s.name == name
    ] == [first.container_id]
    await engine.wait_healthy(
        spec.installation_id, spec.health_path, timeout=10, interval=0.1
    )
    assert await _status(engine, spec.installation_id) == "running"
    assert await engine.address(spec.installation_id) == first.url

    # The PID limit holds inside the task (the stop below ends the sleepers).
    task = await _task_container(engine, client, spec.installation_id)
    script = "echo kept > /data/probe; for i in $(seq 1 200); do sleep 30 & done"
    bomb = task.exec_run(["/bin/busybox", "sh", "-c", script])
    output = bomb.output.decode(errors="replace")
    assert "can't fork" in output or "Resource temporarily unavailable" in output
    assert len(task.top()["Processes"]) <= manifest.resources.pids

    started = time.monotonic()
    await engine.stop(spec.installation_id)
    FIGURES["stop (s)"] = time.monotonic() - started
    stopped = await engine.inspect(spec.installation_id)
    assert stopped["State"] == {"Status": "exited", "Running": False, "Replicas": 0}
    assert not client.containers.list(
        filters={"label": [f"{SERVICE_ID_LABEL}={first.container_id}"]}
    ), "no task runs"
    assert await _status(engine, spec.installation_id) == "exited"
    assert await engine.address(spec.installation_id) == ""
    await engine.stop(spec.installation_id)  # stopping a stopped service is fine

    # DockerEngine's snapshot (a never-started helper container) works on the node.
    archive = tmp_path / "snapshot.tar"
    assert await engine.snapshot(spec.installation_id, image, ["/data"], archive) > 0
    with tarfile.open(archive) as tar:
        assert tar.extractfile("data/probe").read() == b"kept\n"

    started = time.monotonic()
    await engine.start(spec.installation_id)
    await engine.start(spec.installation_id)  # so is starting a running one
    await engine.wait_healthy(
        spec.installation_id, spec.health_path, timeout=10, interval=0.1
    )
    FIGURES["start to healthy (s)"] = time.monotonic() - started
    assert (await engine.inspect(spec.installation_id))["State"]["Running"] is True
    assert await _status(engine, spec.installation_id) == "running"
    assert await engine.address(spec.installation_id) == first.url

    # run on a stopped service scales it up: the same service, port and URL.
    await engine.stop(spec.installation_id)
    assert await engine.run(spec) == first
    await engine.wait_healthy(
        spec.installation_id, spec.health_path, timeout=10, interval=0.1
    )
    assert "response:200" in await engine.logs(spec.installation_id, 5)

    started = time.monotonic()
    await engine.remove_container(spec.installation_id)
    FIGURES["remove (s)"] = time.monotonic() - started
    await engine.remove_container(spec.installation_id)
    assert await engine.inspect(spec.installation_id) is None
    assert await engine.logs(spec.installation_id) == ""
    assert await _status(engine, spec.installation_id) is None
    assert not client.containers.list(
        all=True, filters={"label": [f"{SERVICE_ID_LABEL}={first.container_id}"]}
    )
    await engine.stop(spec.installation_id)  # gone is fine
    with pytest.raises(ContainerNotFound):
        await engine.start(spec.installation_id)
    with pytest.raises(ContainerNotFound):
        await engine.wait_healthy(
            spec.installation_id, "/healthz", timeout=1, interval=0.1
        )
    assert client.volumes.get(spec.volumes["/data"])  # the data outlives the service
    await engine.remove_volumes(spec.installation_id)
    await engine.remove_volumes(spec.installation_id)
    assert not client.volumes.list(filters={"name": spec.volumes["/data"]})


# --------------------------------------------------------------------------- 5. health


async def test_an_app_that_never_becomes_healthy_raises_with_its_logs(
    engine: SwarmEngine, manifest: Manifest, image: str
) -> None:
    spec = _spec(5, TENANT_B, manifest, image, health_path="/nope")
    await engine.run(spec)

    started = time.monotonic()
    with pytest.raises(UnhealthyError) as caught:
        await engine.wait_healthy(
            spec.installation_id, spec.health_path, timeout=3, interval=0.2
        )
    elapsed = time.monotonic() - started

    assert elapsed < 6
    assert "/nope" in str(caught.value) and "HTTP 404" in str(caught.value)
    assert (
        "response:404" in caught.value.log_tail
    ), caught.value.log_tail  # httpd -v logs each request


async def test_a_crashing_app_fails_fast_with_its_tasks_error_and_logs(
    engine: SwarmEngine, manifest: Manifest, image: str
) -> None:
    """The manifest's command replaces the image's CMD (as with DockerEngine): httpd gets a
    document root that does not exist and exits 1 at once, again after every restart."""
    spec = _spec(6, TENANT_B, manifest, image, command=("-h", "/nonexistent"))
    await engine.run(spec)

    started = time.monotonic()
    with pytest.raises(UnhealthyError) as caught:
        await engine.wait_healthy(
            spec.installation_id, spec.health_path, timeout=30, interval=0.2
        )
    elapsed = time.monotonic() - started
    FIGURES["crash detected (s)"] = elapsed

    assert elapsed < 10, "failed fast, not at the timeout"
    assert "non-zero exit (1)" in str(caught.value), str(caught.value)
    assert (
        "can't change directory to '/nonexistent'" in caught.value.log_tail
    ), caught.value.log_tail
    assert await _status(engine, spec.installation_id) in ("restarting", "running")


# --------------------------------------------------------------------------- 6. reconciler


@pytest.mark.db
async def test_the_reconciler_works_unchanged_on_swarm(
    db: None, engine: SwarmEngine, client: Any, manifest: Manifest, image: str
) -> None:
    tenant = await make_tenant(
        TENANT_A, "Pemerintah Kabupaten Uji", "Kalimantan Timur", kind="kabupaten"
    )
    app = App(
        slug=APP, name="Aduan Warga", category="pengaduan-publik", publisher=tenant
    )
    await app.save()
    version = AppVersion(
        app=app,
        version=manifest.version,
        major=1,
        minor=2,
        patch=0,
        bundle_sha256="0" * 64,
    )
    await version.save()
    spec = _spec(7, TENANT_A, manifest, image)
    installation_id = spec.installation_id
    running = await engine.run(spec)
    await Installation.insert(
        Installation(
            id=installation_id,
            tenant=tenant,
            app=app,
            version=version,
            desired_state="running",
            observed_state="running",
            url=running.url,
        )
    )
    await engine.wait_healthy(
        spec.installation_id, spec.health_path, timeout=10, interval=0.1
    )
    name = container_name(installation_id)
    reconciler = Reconciler(engine)
    assert not (await reconciler.run_once()).changed

    # Scaled to zero behind Lumbung's back: scaled up again.
    client.services.get(name).scale(0)
    report = await reconciler.run_once()
    assert report.started == [installation_id]
    assert (
        client.services.get(name).attrs["Spec"]["Mode"]["Replicated"]["Replicas"] == 1
    )
    await engine.wait_healthy(
        installation_id, spec.health_path, timeout=10, interval=0.1
    )

    # Running while it should be stopped: stopped.
    await Installation.update({Installation.desired_state: "stopped"}).where(
        Installation.id == installation_id
    )
    report = await reconciler.run_once()
    assert report.stopped == [installation_id]
    assert (await engine.inspect(installation_id))["State"]["Running"] is False
    assert not (await reconciler.run_once()).changed

    # Removed behind Lumbung's back while it should run: a restore job, queued once.
    await Installation.update({Installation.desired_state: "running"}).where(
        Installation.id == installation_id
    )
    client.services.get(name).remove()
    report = await reconciler.run_once()
    assert report.restore_jobs == [installation_id]
    assert not (await reconciler.run_once()).changed
    assert await ProvisionJob.count().where(ProvisionJob.kind == "restore") == 1

    # A service no installation owns is reported as an orphan (not removed here: the
    # engine is shared, and other runs' objects are orphans of this database too).
    orphan = _spec(8, TENANT_A, manifest, image)
    await engine.run(orphan)
    report = await reconciler.run_once()
    assert f"container {container_name(orphan.installation_id)}" in report.orphans


def test_zz_report_figures() -> None:
    """Not a check: prints the timings with -s."""
    print({k: round(v, 2) for k, v in FIGURES.items()})
