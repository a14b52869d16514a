"""DockerEngine against the real Docker engine: image build and reuse, tenant isolation,
the hardening defaults, idempotence, health checks and the PID limit.

Every object is made for this run only (unique app slug, tenant slugs and installation
ids) and removed at the end, so the tests never touch anything else on the engine.
"""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from catalog.bundles import pack_directory
from catalog.manifest import MANIFEST_FILENAME, Manifest, load_manifest
from catalog.versions import parse_version
from provisioning.engine import (
    LABEL_APP,
    LABEL_MANAGED,
    LABEL_TENANT,
    ContainerSpec,
    DockerEngine,
    container_name,
    container_spec,
    image_tag,
    instance_name,
    network_name,
    volume_name,
)
from provisioning.errors import ImageBuildError, UnhealthyError
from tests.conftest import need

pytestmark = pytest.mark.docker

BUSYBOX = Path("/bin/busybox")
SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "apps" / "aduan-warga"
RUN = secrets.token_hex(3)
APP = f"aduan-warga-t{RUN}"  # an app slug of this run only, so its image is ours to remove
TENANT_A, TENANT_B = f"test-{RUN}-a", f"test-{RUN}-b"
BASE_ID = 900_000_000 + secrets.randbelow(
    90_000_000
)  # installation ids nobody else uses
FIGURES: dict[str, float] = {}


def _docker_client() -> Any:
    try:
        import docker

        client = docker.from_env(timeout=30)
        client.ping()
        return client
    except Exception:  # noqa: BLE001 - any failure to reach the engine means "no Docker here"
        return None


docker_client = _docker_client()
docker_available = docker_client is not None


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


def _cleanup(client: Any) -> None:
    """Remove every labelled object this run made (its tenants, its app's images)."""
    import docker

    def ours(labels: dict[str, str] | None) -> bool:
        return (labels or {}).get(LABEL_TENANT, "").startswith(f"test-{RUN}-")

    managed = {"label": [f"{LABEL_MANAGED}=true"]}
    for c in client.containers.list(all=True, filters=managed):
        if ours(c.labels):
            c.remove(force=True, v=True)
    for n in client.networks.list(filters=managed):
        if ours(n.attrs.get("Labels")):
            n.remove()
    for v in client.volumes.list(filters=managed):
        if ours(v.attrs.get("Labels")):
            v.remove(force=True)
    for app in (
        f"loaded-t{RUN}",
        f"broken-t{RUN}",
        APP,
    ):  # children before their parent
        for image in client.images.list(filters={"label": [f"{LABEL_APP}={app}"]}):
            try:
                client.images.remove(image.id, force=True)
            except docker.errors.NotFound:
                pass


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    need(docker_available, "no Docker engine answers")
    need(BUSYBOX.is_file(), f"{BUSYBOX} is missing (apt-get install busybox-static)")
    yield docker_client
    _cleanup(docker_client)


@pytest.fixture(scope="module")
async def engine(client: Any) -> AsyncIterator[DockerEngine]:
    engine = DockerEngine()
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
async def image(engine: DockerEngine, manifest: Manifest, bundle: Path) -> str:
    """The one image of this module, built from the packed sample bundle."""
    lines: list[str] = []
    started = time.monotonic()
    image_id = await engine.ensure_image(APP, manifest.version, bundle, lines.append)
    FIGURES["image build (s)"] = time.monotonic() - started
    assert image_id.startswith("sha256:")
    assert any("COPY" in line for line in lines), (
        lines
    )  # it really built, and reported progress
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
    engine: DockerEngine, manifest: Manifest, image: str
) -> dict[str, Any]:
    """Tenant A and tenant B each run the app, healthy."""
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


def _ip(attrs: dict[str, Any], tenant: str) -> str:
    return attrs["NetworkSettings"]["Networks"][network_name(tenant)]["IPAddress"]


def _fetch(container: Any, ip: str) -> str:
    """GET /healthz on ip:8080 from inside `container`, with a 2 s timeout; the raw answer.

    busybox nc, not wget: the static busybox of Debian 12 (1.35.0) segfaults in wget
    (exit 139) even on the host. The address is an argument ($0), not part of the script."""
    script = 'printf "GET /healthz HTTP/1.0\\r\\n\\r\\n" | nc -w 2 "$0" 8080'
    result = container.exec_run(["/bin/busybox", "sh", "-c", script, ip])
    return result.output.decode(errors="replace")


# --------------------------------------------------------------------------- 1. images


async def test_ensure_image_builds_once_and_reuses(
    engine: DockerEngine, client: Any, manifest: Manifest, bundle: Path, image: str
) -> None:
    lines: list[str] = []
    again = await engine.ensure_image(APP, manifest.version, bundle, lines.append)
    await asyncio.sleep(0)  # progress lines are delivered through the loop

    assert again == image
    assert not any("COPY" in line for line in lines), "no build steps on reuse"
    built = client.images.get(image_tag(APP, manifest.version))
    assert built.id == image
    assert built.labels[LABEL_MANAGED] == "true" and built.labels[LABEL_APP] == APP
    assert built.labels["org.lumbung.version"] == manifest.version


async def test_another_bundle_of_the_same_version_gets_its_own_image(
    engine: DockerEngine, client: Any, manifest: Manifest, image: str, tmp_path: Path
) -> None:
    """Images are reused by bundle, not by name: another marketplace on the same engine
    (or a re-published catalog) with different contents for app+version builds anew."""
    source = tmp_path / "changed"
    shutil.copytree(_latest(SAMPLE), source)
    (source / "www" / "index.html").write_text("<p>another build</p>")
    other = tmp_path / "changed.tar.gz"
    pack_directory(source, other, extra_files={"bin/busybox": BUSYBOX})
    rebuilt = await engine.ensure_image(APP, manifest.version, other)
    assert rebuilt != image
    assert client.images.get(rebuilt).labels["org.lumbung.bundle"] != client.images.get(image).labels["org.lumbung.bundle"]
    assert await engine.ensure_image(APP, manifest.version, other) == rebuilt


async def test_a_failing_build_raises_with_its_log_and_leaves_no_image(
    engine: DockerEngine, client: Any, manifest: Manifest, tmp_path: Path
) -> None:
    source = tmp_path / "broken"
    source.mkdir()
    shutil.copy2(_latest(SAMPLE) / MANIFEST_FILENAME, source / MANIFEST_FILENAME)
    (source / "Dockerfile").write_text(
        "FROM scratch\nCOPY bin/busybox /bin/busybox\nCOPY missing-file /x\n"
    )
    broken = tmp_path / "broken.tar.gz"
    pack_directory(source, broken, extra_files={"bin/busybox": BUSYBOX})
    app = f"broken-t{RUN}"

    with pytest.raises(ImageBuildError) as caught:
        await engine.ensure_image(app, "1.0.0", broken)

    assert "could not be built" in str(caught.value)
    assert "missing-file" in caught.value.log_tail
    assert not client.images.list(name=f"{instance_name()}/{app}")
    assert not client.images.list(filters={"label": [f"{LABEL_APP}={app}"]})


def _image_bundle(client: Any, reference: str, directory: Path) -> Path:
    """A bundle of lumbung.yaml + image.tar, saved from `reference` (an id saves no tags)."""
    directory.mkdir()
    shutil.copy2(_latest(SAMPLE) / MANIFEST_FILENAME, directory / MANIFEST_FILENAME)
    with open(directory / "image.tar", "wb") as out:
        out.writelines(client.api.get_image(reference))
    bundle = directory.with_suffix(".tar.gz")
    pack_directory(directory, bundle)
    return bundle


async def test_an_image_tar_bundle_is_loaded_labelled_and_tagged(
    engine: DockerEngine, client: Any, manifest: Manifest, image: str, tmp_path: Path
) -> None:
    app = f"loaded-t{RUN}"
    context = (
        tmp_path / "plain"
    )  # an image as a publisher would save it: no Lumbung labels
    shutil.copytree(_latest(SAMPLE), context)
    (context / "bin").mkdir()
    shutil.copy2(BUSYBOX, context / "bin" / "busybox")
    plain, _ = client.images.build(path=str(context), rm=True, forcerm=True, pull=False)
    bundle = _image_bundle(client, plain.id, tmp_path / "by-id")

    loaded = await engine.ensure_image(app, "2.0.0+build.7", bundle)

    labelled = client.images.get(loaded)
    assert image_tag(app, "2.0.0+build.7") == f"{instance_name()}/{app}:2.0.0_build.7"
    assert labelled.tags == [f"{instance_name()}/{app}:2.0.0_build.7"]
    assert (
        labelled.labels[LABEL_APP] == app
        and labelled.labels["org.lumbung.version"] == "2.0.0+build.7"
    )
    assert labelled.attrs["Config"]["Entrypoint"][:2] == ["/bin/busybox", "httpd"]
    assert await engine.ensure_image(app, "2.0.0+build.7", bundle) == loaded
    assert loaded != plain.id  # the labelled child of what was loaded


async def test_an_image_tar_that_carries_tags_is_refused(
    engine: DockerEngine, client: Any, manifest: Manifest, image: str, tmp_path: Path
) -> None:
    """Loading it would re-point those tags (another app's, or a base image's) at it."""
    bundle = _image_bundle(
        client, image_tag(APP, manifest.version), tmp_path / "by-tag"
    )

    with pytest.raises(ImageBuildError, match="carries image tags"):
        await engine.ensure_image(f"broken-t{RUN}", "2.0.0", bundle)
    assert not client.images.list(name=f"{instance_name()}/broken-t{RUN}")


# --------------------------------------------------------------------------- 2. tenants


async def test_two_tenants_run_the_same_app_isolated_from_each_other(
    engine: DockerEngine, client: Any, tenants: dict[str, Any]
) -> None:
    (spec_a, run_a), (spec_b, run_b) = tenants[TENANT_A], tenants[TENANT_B]
    a = client.containers.get(run_a.container_id)
    b = client.containers.get(run_b.container_id)
    ip_a, ip_b = _ip(a.attrs, TENANT_A), _ip(b.attrs, TENANT_B)
    net_a, net_b = (
        client.networks.get(network_name(TENANT_A)),
        client.networks.get(network_name(TENANT_B)),
    )

    assert (
        run_a.container_id != run_b.container_id and run_a.host_port != run_b.host_port
    )
    assert net_a.id != net_b.id
    subnets = [n.attrs["IPAM"]["Config"][0]["Subnet"] for n in (net_a, net_b)]
    assert subnets[0] != subnets[1] and all(
        s.endswith("/24") and s.startswith("10.") for s in subnets
    )
    assert (
        spec_a.volumes["/data"]
        == volume_name(spec_a.installation_id, "/data")
        != spec_b.volumes["/data"]
    )
    assert [m["Name"] for m in a.attrs["Mounts"] if m["Type"] == "volume"] == [
        spec_a.volumes["/data"]
    ]
    assert [m["Name"] for m in b.attrs["Mounts"] if m["Type"] == "volume"] == [
        spec_b.volumes["/data"]
    ]
    async with httpx.AsyncClient(timeout=5) as http:
        for running in (run_a, run_b):
            assert running.url == f"http://127.0.0.1:{running.host_port}/"
            assert (await http.get(running.url + "healthz")).text.strip() == "ok"

    assert "200 OK" in _fetch(a, ip_a), "A reaches itself"
    assert "200 OK" in _fetch(b, ip_b), "B reaches itself"
    started = time.monotonic()
    a_to_b, b_to_a = _fetch(a, ip_b), _fetch(b, ip_a)
    assert "200 OK" not in a_to_b and "timed out" in a_to_b, (
        f"tenant A reached tenant B: {a_to_b}"
    )
    assert "200 OK" not in b_to_a and "timed out" in b_to_a, (
        f"tenant B reached tenant A: {b_to_a}"
    )
    assert time.monotonic() - started > 1.5, "dropped (timed out), not merely refused"

    owned = {o["name"] for o in await engine.list_owned()}
    assert {
        container_name(spec_a.installation_id),
        network_name(TENANT_A),
        spec_a.volumes["/data"],
    } <= owned


# --------------------------------------------------------------------------- 3. hardening


async def test_the_apps_data_volume_is_writable_and_separate_per_tenant(
    client: Any, tenants: dict[str, Any]
) -> None:
    (_, run_a), (_, run_b) = tenants[TENANT_A], tenants[TENANT_B]
    a = client.containers.get(run_a.container_id)
    b = client.containers.get(run_b.container_id)
    wrote = a.exec_run(["/bin/busybox", "sh", "-c", "echo milik-a > /data/probe && cat /data/probe"])
    assert wrote.exit_code == 0 and wrote.output.decode().strip() == "milik-a"
    seen = b.exec_run(["/bin/busybox", "cat", "/data/probe"])
    assert seen.exit_code != 0, "tenant B sees tenant A's data"
    root = a.exec_run(["/bin/busybox", "sh", "-c", "echo x > /www/probe"])
    assert root.exit_code != 0, "the root filesystem is read-only"


async def test_the_container_carries_every_hardening_default(
    engine: DockerEngine, manifest: Manifest, tenants: dict[str, Any]
) -> None:
    spec, _ = tenants[TENANT_A]
    attrs = await engine.inspect(spec.installation_id)
    host = attrs["HostConfig"]

    assert host["CapDrop"] == ["ALL"]
    assert not host["CapAdd"]
    assert host["SecurityOpt"] == ["no-new-privileges:true"]
    assert host["ReadonlyRootfs"] is True
    assert host["Memory"] == manifest.resources.memory == 64 * 1024**2
    assert host["MemorySwap"] == host["Memory"]
    assert host["NanoCpus"] == int(manifest.resources.cpu * 1e9)
    assert host["PidsLimit"] == manifest.resources.pids
    assert not host["Binds"]
    assert host["Privileged"] is False
    assert not host["Devices"]
    assert host["NetworkMode"] == network_name(TENANT_A)
    assert (
        host["PidMode"] == "" and host["IpcMode"] == "private" and host["UTSMode"] == ""
    )
    assert (
        set(host["Tmpfs"]) == {"/tmp"}
        and "noexec" in host["Tmpfs"]["/tmp"]
        and "nosuid" in host["Tmpfs"]["/tmp"]
    )
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    assert host["Init"] is True
    assert host["PortBindings"] == {
        "8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]
    }
    bound = attrs["NetworkSettings"]["Ports"]["8080/tcp"]
    assert bound and all(b["HostIp"] == "127.0.0.1" for b in bound)
    assert all(m["Type"] == "volume" for m in attrs["Mounts"])
    assert attrs["Config"]["User"] == "65534:65534", "the image's own user"
    assert (
        attrs["Config"]["Labels"].items()
        >= {
            LABEL_MANAGED: "true",
            LABEL_TENANT: TENANT_A,
            LABEL_APP: APP,
            "org.lumbung.version": manifest.version,
            "org.lumbung.installation": str(spec.installation_id),
        }.items()
    )


# --------------------------------------------------------------------------- 4. lifecycle


async def test_run_is_idempotent_and_stop_start_remove_work(
    engine: DockerEngine, client: Any, manifest: Manifest, image: str
) -> None:
    spec = _spec(4, TENANT_A, manifest, image)

    first = await engine.run(spec)
    second = await engine.run(spec)
    assert second.container_id == first.container_id
    assert (
        len(
            client.containers.list(
                all=True, filters={"name": f"^/{container_name(spec.installation_id)}$"}
            )
        )
        == 1
    )

    await engine.stop(spec.installation_id)
    assert (await engine.inspect(spec.installation_id))["State"]["Running"] is False
    await engine.stop(spec.installation_id)  # stopping a stopped container is fine
    await engine.start(spec.installation_id)
    await engine.start(spec.installation_id)  # so is starting a running one
    assert (await engine.inspect(spec.installation_id))["State"]["Running"] is True
    await engine.wait_healthy(
        spec.installation_id, spec.health_path, timeout=10, interval=0.1
    )

    await engine.remove_container(spec.installation_id)
    await engine.remove_container(spec.installation_id)
    assert await engine.inspect(spec.installation_id) is None
    assert await engine.logs(spec.installation_id) == ""
    await engine.stop(spec.installation_id)  # gone is fine
    assert client.volumes.get(spec.volumes["/data"])  # the data outlives the container
    await engine.remove_volumes(spec.installation_id)
    await engine.remove_volumes(spec.installation_id)
    assert not client.volumes.list(filters={"name": spec.volumes["/data"]})


# --------------------------------------------------------------------------- 5. health


async def test_an_app_that_never_becomes_healthy_raises_with_its_logs(
    engine: DockerEngine, manifest: Manifest, image: str
) -> None:
    spec = _spec(5, TENANT_B, manifest, image, health_path="/nope")
    await engine.run(spec)

    started = time.monotonic()
    with pytest.raises(UnhealthyError) as caught:
        await engine.wait_healthy(
            spec.installation_id, spec.health_path, timeout=2, interval=0.2
        )
    elapsed = time.monotonic() - started

    assert elapsed < 5
    assert "/nope" in str(caught.value) and "HTTP 404" in str(caught.value)
    assert "response:404" in caught.value.log_tail, (
        caught.value.log_tail
    )  # httpd -v logs each request
    await engine.remove_container(spec.installation_id)


# --------------------------------------------------------------------------- 6. pids


async def test_a_fork_bomb_hits_the_pids_limit(
    engine: DockerEngine, client: Any, manifest: Manifest, image: str
) -> None:
    spec = _spec(6, TENANT_B, manifest, image, pids=32)
    running = await engine.run(spec)
    container = client.containers.get(running.container_id)

    result = container.exec_run(
        [
            "/bin/busybox",
            "sh",
            "-c",
            "for i in $(seq 1 200); do sleep 30 & done; echo done",
        ]
    )
    output = result.output.decode(errors="replace")
    processes = len(container.top()["Processes"])

    assert "can't fork" in output or "Resource temporarily unavailable" in output, (
        output[-500:]
    )
    assert processes <= 32
    await engine.remove_container(spec.installation_id)


# --------------------------------------------------------------------------- 7. memory


async def test_a_memory_hog_is_killed_at_its_limit_and_restarted(
    engine: DockerEngine, client: Any, manifest: Manifest, image: str
) -> None:
    """The app grows past its memory limit: the kernel kills it inside its own cgroup (the
    host and other tenants keep their memory) and the restart policy brings it back."""
    limit = 32 * 1024 * 1024
    # The image holds /bin/busybox only: applets are called through it.
    hog = 'b=/bin/busybox; echo start; x=$($b head -c 100000000 /dev/zero | $b tr "\\0" a); echo survived'
    # An app whose main process is the hog: the sample image with another entrypoint.
    dockerfile = f'FROM {image}\nENTRYPOINT ["/bin/busybox", "sh", "-c", {json.dumps(hog)}]\n'
    hog_image, _ = client.images.build(fileobj=io.BytesIO(dockerfile.encode()), rm=True,
                                       labels={LABEL_MANAGED: "true", LABEL_APP: APP})
    spec = _spec(7, TENANT_B, manifest, hog_image.id, memory_bytes=limit)
    since = int(time.time()) - 1
    running = await engine.run(spec)
    container = client.containers.get(running.container_id)
    deadline = time.monotonic() + 60
    while True:
        container.reload()
        if container.attrs["RestartCount"] >= 1:
            break
        assert time.monotonic() < deadline, container.attrs["State"]
        await asyncio.sleep(0.2)
    ooms = list(client.events(since=since, until=int(time.time()) + 1, decode=True,
                              filters={"container": running.container_id, "event": "oom"}))
    assert ooms, "the kernel's OOM killer ended the app"
    assert "survived" not in container.logs().decode() and container.attrs["State"]["OOMKilled"]
    assert container.attrs["HostConfig"]["Memory"] == limit
    assert container.attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    await engine.remove_container(spec.installation_id)
    client.images.remove(hog_image.id, force=True)


# --------------------------------------------------------------------------- 8. instances


async def test_another_marketplace_on_the_same_engine_sees_none_of_our_objects(
    engine: DockerEngine, client: Any, manifest: Manifest, image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two marketplaces share one engine (production and staging, say): each sees and
    touches only its own objects, even where their installation ids are the same."""
    spec = _spec(8, TENANT_A, manifest, image)
    await engine.run(spec)
    ours = {o["name"] for o in await engine.list_owned()}
    assert container_name(spec.installation_id) in ours and network_name(TENANT_A) in ours

    monkeypatch.setenv("LUMBUNG_INSTANCE", "staging")
    assert container_name(spec.installation_id) == f"staging-i{spec.installation_id}"
    theirs = {o["name"] for o in await engine.list_owned()}
    assert not theirs & ours
    await engine.remove_volumes(spec.installation_id)  # the same id in the other marketplace
    await engine.remove_container(spec.installation_id)
    monkeypatch.undo()

    assert client.containers.get(container_name(spec.installation_id)).status == "running"
    assert client.volumes.get(volume_name(spec.installation_id, "/data"))
    await engine.remove_container(spec.installation_id)
    await engine.remove_volumes(spec.installation_id)


def test_zz_report_figures() -> None:
    """Not a check: prints the timings with -s."""
    print({k: round(v, 2) for k, v in FIGURES.items()})
