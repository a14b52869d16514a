"""The Docker side of provisioning: images, tenant networks, volumes and hardened containers.

`ProvisioningEngine` is the interface provisioning jobs use; `DockerEngine` implements it
with the `docker` SDK. Every SDK call runs on a dedicated thread pool so the event loop is
never blocked, and every object carries Lumbung's labels so it can be found again
(`list_owned`) and is never confused with anything else on the host.

Names are deterministic, so every operation is idempotent and a job that is retried after
a crash finds what the previous attempt created. Their prefix is the instance name
(LUMBUNG_INSTANCE, default "lumbung"), which every object also carries as a label, so
several marketplaces can share one engine and never see each other's objects:

    container  lumbung-i{installation_id}
    network    lumbung-t-{tenant_slug}
    volume     lumbung-i{installation_id}-{sanitised container path}
    image      lumbung/{app_slug}:{version}          ('+' of build metadata becomes '_')

Hardening of every container (see `DockerEngine._create_kwargs`): all capabilities dropped
and only allowlisted ones added back, no-new-privileges, read-only root filesystem with
tmpfs (noexec,nosuid,nodev, sized) for the manifest's writable paths, named volumes only,
docker-init as PID 1,
memory (without extra swap), CPU and PID limits, never privileged, no devices, no host
namespaces, the image's own user, bounded logs, restart unless-stopped, and the app port
published on LUMBUNG_PUBLISH_ADDRESS (127.0.0.1 by default) on a random host port.

Tenant isolation: each tenant gets its own bridge network. Docker installs iptables rules
(DOCKER-ISOLATION-STAGE-1/2) that drop traffic between different bridge networks, so
tenants cannot reach each other, while containers of one tenant can (enable_icc=true on
that tenant's bridge only). The network is not `internal`, so apps can reach the outside.

Subnets: Docker's default address pools (172.17-31.0.0/16 and 192.168.0.0/16 in /20s) hold
only about 30 bridge networks; creating network 32 fails with "could not find an available,
non-overlapping IPv4 address pool". So each tenant network gets an explicit /24 from
LUMBUNG_NETWORK_POOL (default 10.128.0.0/9: 32768 networks of 253 containers each), the
first /24 not overlapping any existing Docker network's subnet.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import ipaddress
import os
import re
import tarfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar

import httpx

from catalog.manifest import CAPABILITY_ALLOWLIST, Manifest
from provisioning.errors import (
    ContainerNotFound,
    EngineUnavailable,
    ImageBuildError,
    ProvisioningError,
    UnhealthyError,
)

T = TypeVar("T")

LABEL_MANAGED = "org.lumbung.managed"
LABEL_TENANT = "org.lumbung.tenant"
LABEL_APP = "org.lumbung.app"
LABEL_VERSION = "org.lumbung.version"
LABEL_INSTALLATION = "org.lumbung.installation"
LABEL_PATH = (
    "org.lumbung.path"  # on volumes: the container path the volume is mounted at
)
LABEL_INSTANCE = "org.lumbung.instance"  # which marketplace made the object
LABEL_HELPER = "org.lumbung.data-helper"
LABEL_BUNDLE = "org.lumbung.bundle"  # on images: the sha256 of the bundle they come from  # a never-started container that copies volume data

DEFAULT_INSTANCE = "lumbung"
DEFAULT_NETWORK_POOL = "10.128.0.0/9"
DEFAULT_PUBLISH_ADDRESS = "127.0.0.1"
TMPFS_SIZE = 64 * 1024 * 1024
BUILD_MEMORY = 2 * 1024**3
LOG_TAIL_LINES = 40

_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_INSTANCE_RE = re.compile(r"^[a-z][a-z0-9-]{0,18}[a-z0-9]$")
_VOLUME_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]")
_INTERMEDIATE_RE = re.compile(r"^ ---> ([0-9a-f]{12,64})\s*$")


# --------------------------------------------------------------------------- names


def instance_name() -> str:
    """This marketplace's name on the engine (LUMBUNG_INSTANCE, default "lumbung"): the
    prefix of every object name and the value of the org.lumbung.instance label, so that
    several marketplaces (production and staging, say) can share one engine without
    touching each other's objects."""
    name = os.environ.get("LUMBUNG_INSTANCE") or DEFAULT_INSTANCE
    if not _INSTANCE_RE.fullmatch(name):
        raise ProvisioningError(
            f"LUMBUNG_INSTANCE must be 2-20 lowercase letters, digits and dashes, starting with a letter; got {name!r}."
        )
    return name


def owned_labels() -> dict[str, str]:
    """The labels every object this marketplace makes carries."""
    return {LABEL_MANAGED: "true", LABEL_INSTANCE: instance_name()}


def is_ours(labels: dict[str, str] | None) -> bool:
    """Whether an object with these labels was made by this marketplace. Objects made
    before the instance label existed belong to the default instance."""
    labels = labels or {}
    return labels.get(LABEL_MANAGED) == "true" and labels.get(LABEL_INSTANCE, DEFAULT_INSTANCE) == instance_name()


def container_name(installation_id: int) -> str:
    return f"{instance_name()}-i{int(installation_id)}"


def network_name(tenant_slug: str) -> str:
    return f"{instance_name()}-t-{_checked_slug(tenant_slug, 'tenant')}"


def image_tag(app_slug: str, version: str) -> str:
    """`{instance}/{app}:{version}`; a Docker tag allows [A-Za-z0-9_.-], so '+' becomes '_'."""
    tag = re.sub(r"[^A-Za-z0-9_.-]", "_", version.replace("+", "_"))[:128]
    return f"{instance_name()}/{_checked_slug(app_slug, 'app')}:{tag}"


def volume_name(installation_id: int, path: str) -> str:
    """`lumbung-i{id}-{path}` with '/' as '-'; when that is ambiguous ('-' or other
    characters in the path) a short hash of the path keeps two paths from colliding."""
    plain = path.strip("/").replace("/", "-")
    clean = _VOLUME_NAME_CHARS.sub("_", plain)
    if clean != plain or "-" in path.strip("/") or not clean:
        clean = f"{clean}-{hashlib.sha256(path.encode()).hexdigest()[:8]}"
    return f"{instance_name()}-i{int(installation_id)}-{clean}"[:200]


def _checked_slug(value: str, what: str) -> str:
    if not isinstance(value, str) or not _SLUG_RE.fullmatch(value):
        raise ProvisioningError(f"The {what} name {value!r} is not a valid slug.")
    return value


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class ContainerSpec:
    """Everything Docker needs to run one installation; built from a Manifest."""

    installation_id: int
    tenant_slug: str
    app_slug: str
    version: str
    image: str  # image id or tag
    port: int  # container port
    env: dict[str, str]
    volumes: dict[str, str]  # container path -> volume name
    writable_paths: tuple[str, ...]  # become tmpfs mounts
    memory_bytes: int
    cpu: float
    pids: int
    capabilities: tuple[str, ...]  # allowlisted ones to add back
    command: tuple[str, ...] | None
    health_path: str
    health_interval: float
    health_timeout: float


@dataclass(frozen=True)
class RunningContainer:
    installation_id: int
    container_id: str
    name: str
    address: str  # the host address the port is published on
    host_port: int
    url: str  # http://{address}:{host_port}/


def container_spec(
    installation_id: int,
    tenant_slug: str,
    manifest: Manifest,
    image: str,
    env: dict[str, str],
) -> ContainerSpec:
    """The spec for running `manifest`'s app as `installation_id`; `env` is the resolved
    configuration (defaults, generated secrets and the adopter's values)."""
    check = manifest.container.health_check
    return ContainerSpec(
        installation_id=installation_id,
        tenant_slug=tenant_slug,
        app_slug=manifest.slug,
        version=manifest.version,
        image=image,
        port=manifest.container.port,
        env=dict(env),
        volumes={
            v.path: volume_name(installation_id, v.path) for v in manifest.volumes
        },
        writable_paths=tuple(manifest.writable_paths),
        memory_bytes=manifest.resources.memory,
        cpu=manifest.resources.cpu,
        pids=manifest.resources.pids,
        capabilities=tuple(manifest.capabilities),
        command=tuple(manifest.container.command)
        if manifest.container.command
        else None,
        health_path=check.path,
        health_interval=check.interval_seconds,
        health_timeout=check.timeout_seconds,
    )


# --------------------------------------------------------------------------- interface


class ProvisioningEngine(Protocol):
    """What provisioning jobs need from a container engine. Every method is idempotent."""

    async def ensure_image(
        self,
        app_slug: str,
        version: str,
        bundle_path: Path,
        progress: Callable[[str], None] | None = None,
        bundle_sha256: str | None = None,
    ) -> str: ...
    async def ensure_network(self, tenant_slug: str) -> str: ...
    async def ensure_volume(
        self, installation_id: int, tenant_slug: str, path: str
    ) -> str: ...
    async def run(self, spec: ContainerSpec, *, prepared: bool = False) -> RunningContainer: ...
    async def wait_healthy(
        self, installation_id: int, path: str, *, timeout: float, interval: float
    ) -> None: ...
    async def stop(self, installation_id: int) -> None: ...
    async def start(self, installation_id: int) -> None: ...
    async def remove_container(self, installation_id: int) -> None: ...
    async def remove_network(self, tenant_slug: str) -> None: ...
    async def remove_volumes(self, installation_id: int) -> None: ...
    async def logs(self, installation_id: int, tail: int = 100) -> str: ...
    async def snapshot(
        self, installation_id: int, image: str, paths: Sequence[str], dest: Path
    ) -> int: ...
    async def restore(
        self, installation_id: int, tenant_slug: str, image: str, paths: Sequence[str], src: Path
    ) -> None: ...
    async def inspect(self, installation_id: int) -> dict | None: ...
    async def address(self, installation_id: int) -> str: ...
    async def list_owned(self) -> list[dict]: ...


# --------------------------------------------------------------------------- Docker


def _status(exc: Exception) -> int | None:
    return getattr(exc, "status_code", None)


class DockerEngine(ProvisioningEngine):
    """`ProvisioningEngine` on a Docker engine reached through DOCKER_HOST (or the default socket)."""

    def __init__(
        self,
        *,
        client: Any = None,
        network_pool: str | None = None,
        publish_address: str | None = None,
        max_workers: int = 8,
        timeout: int = 120,
        build_network: str = "none",
    ) -> None:
        self._client = client
        self._timeout = timeout
        self._pool = ipaddress.ip_network(
            network_pool
            or os.environ.get("LUMBUNG_NETWORK_POOL")
            or DEFAULT_NETWORK_POOL
        )
        if self._pool.version != 4 or self._pool.prefixlen > 24:
            raise ValueError(
                "LUMBUNG_NETWORK_POOL must be an IPv4 network of /24 or larger"
            )
        self.publish_address = (
            publish_address
            or os.environ.get("LUMBUNG_PUBLISH_ADDRESS")
            or DEFAULT_PUBLISH_ADDRESS
        )
        ipaddress.ip_address(
            self.publish_address
        )  # refuse a host name or garbage early
        self._build_network = build_network
        self._executor = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="lumbung-docker"
        )
        self._locks: dict[str, asyncio.Lock] = {}
        self._client_lock = threading.Lock()

    # -- plumbing ------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The one SDK client (created on first use, in a worker thread)."""
        with self._client_lock:
            if self._client is None:
                import docker

                try:
                    self._client = docker.from_env(timeout=self._timeout)
                except docker.errors.DockerException as exc:
                    raise EngineUnavailable(str(exc)) from exc
            return self._client

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking SDK call on the engine's thread pool, mapping "cannot reach the
        engine" to EngineUnavailable."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor, functools.partial(fn, *args, **kwargs)
            )
        except ProvisioningError:
            raise
        except Exception as exc:
            if _is_unreachable(exc):
                raise EngineUnavailable(f"{type(exc).__name__}: {exc}") from exc
            import docker

            if isinstance(exc, docker.errors.DockerException):
                detail = getattr(exc, "explanation", None) or str(exc)
                raise ProvisioningError(
                    f"The container engine refused the request: {detail}"
                ) from exc
            raise

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    async def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._client is not None:
            self._client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- images --------------------------------------------------------------------------

    async def ensure_image(
        self,
        app_slug: str,
        version: str,
        bundle_path: Path,
        progress: Callable[[str], None] | None = None,
        bundle_sha256: str | None = None,
    ) -> str:
        """Build (Dockerfile bundle) or load (image.tar bundle) the image of app+version
        once; an existing image with the same labels, made from the same bundle, is
        reused. Returns the image id."""
        tag = image_tag(app_slug, version)
        loop = asyncio.get_running_loop()

        def report(line: str) -> None:
            if progress is not None:
                loop.call_soon_threadsafe(progress, line)

        digest = bundle_sha256 or await loop.run_in_executor(self._executor, _sha256_of, Path(bundle_path))
        async with self._lock(f"image:{tag}"):
            existing = await self._call(self._find_image, app_slug, version, tag, digest)
            if existing:
                report(
                    f"Using the existing image {existing[:19]} for {app_slug} {version}."
                )
                return existing
            kind = await self._call(_bundle_kind, Path(bundle_path))
            labels = {
                **owned_labels(),
                LABEL_APP: app_slug,
                LABEL_VERSION: version,
                LABEL_BUNDLE: digest,
            }
            if kind == "dockerfile":
                return await self._call(
                    self._build, Path(bundle_path), tag, labels, report
                )
            return await self._call(self._load, Path(bundle_path), tag, labels, report)

    def _find_image(self, app_slug: str, version: str, tag: str, digest: str) -> str | None:
        """The image carrying both our tag and our labels. Labels alone are not trusted:
        an intermediate image of a publisher's multi-stage Dockerfile could carry forged
        org.lumbung labels, but only our own build puts the tag on an image (load refuses
        tagged archives and archives with org.lumbung labels)."""
        images = self.client.images.list(
            name=tag.split(":", 1)[0],
            filters={
                "label": [
                    f"{LABEL_MANAGED}=true",
                    f"{LABEL_INSTANCE}={instance_name()}",
                    f"{LABEL_APP}={app_slug}",
                    f"{LABEL_VERSION}={version}",
                    f"{LABEL_BUNDLE}={digest}",
                ]
            },
        )
        for image in images:
            if tag in image.tags:
                return image.id
        return None

    def _build(
        self,
        bundle: Path,
        tag: str,
        labels: dict[str, str],
        report: Callable[[str], None],
        *,
        dockerfile_context: bytes | None = None,
    ) -> str:
        """Build from the bundle (a gzip tar whose root holds the Dockerfile) or from an
        in-memory context; on failure remove what the build left and raise ImageBuildError."""
        tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        layers: list[str] = []
        image_id = None
        error = None
        try:
            with (
                io.BytesIO(dockerfile_context)
                if dockerfile_context is not None
                else open(bundle, "rb")
            ) as source:
                stream = self.client.api.build(
                    fileobj=source,
                    custom_context=True,
                    encoding=None if dockerfile_context is not None else "gzip",
                    tag=tag,
                    labels=labels,
                    rm=True,
                    forcerm=True,
                    pull=False,
                    network_mode=self._build_network,
                    container_limits={"memory": BUILD_MEMORY, "memswap": BUILD_MEMORY},
                    decode=True,
                )
                for chunk in stream:
                    if "stream" in chunk:
                        for line in str(chunk["stream"]).splitlines():
                            if match := _INTERMEDIATE_RE.match(line):
                                layers.append(match.group(1))
                            if line.strip():
                                tail.append(line.rstrip())
                                report(line.rstrip())
                    if (
                        "aux" in chunk
                        and isinstance(chunk["aux"], dict)
                        and "ID" in chunk["aux"]
                    ):
                        image_id = chunk["aux"]["ID"]
                    if "error" in chunk or "errorDetail" in chunk:
                        error = str(
                            chunk.get("error")
                            or chunk["errorDetail"].get("message", "")
                        ).strip()
                        tail.append(error)
                        report(error)
        except Exception as exc:
            if _is_unreachable(exc):
                raise
            error = f"{type(exc).__name__}: {exc}"
            tail.append(error)
        if error is None and image_id is None:
            error = "the build ended without producing an image"
        if error is not None:
            self._discard_build(tag, layers)
            raise ImageBuildError(
                f"The app image could not be built: {error}", "\n".join(tail)
            )
        return image_id

    def _discard_build(self, tag: str, layers: list[str]) -> None:
        """Remove the tag and the intermediate images of a failed build. Layers shared with
        other images are refused by the engine (409) and so stay."""
        import docker

        try:
            self.client.images.remove(tag, noprune=False)
        except docker.errors.APIError:
            pass
        for layer in reversed(layers):
            try:
                self.client.images.remove(layer, noprune=False)
            except docker.errors.APIError:
                pass

    def _load(
        self,
        bundle: Path,
        tag: str,
        labels: dict[str, str],
        report: Callable[[str], None],
    ) -> str:
        """Load image.tar, then label and tag it with a one-line build `FROM <loaded id>`
        (an image's labels cannot be changed in place). An archive that carries tags is
        refused before loading: loading would silently re-point those tags (say debian:12,
        or another app's lumbung/... tag) at the publisher's image."""
        import docker

        report("Loading image.tar from the bundle.")
        try:
            with tarfile.open(bundle, "r:*") as outer:
                member = next(
                    (
                        m
                        for m in outer.getmembers()
                        if m.name.removeprefix("./") == "image.tar" and m.isfile()
                    ),
                    None,
                )
                if member is None:
                    raise ImageBuildError("The bundle has no image.tar.")
                archive = outer.extractfile(member)
                tags, config_ids = _archive_info(archive)
                if tags:
                    raise ImageBuildError(
                        "image.tar carries image tags ("
                        + ", ".join(sorted(tags)[:5])
                        + "); loading it would "
                        "replace those images on the server. Save the image by its id instead: "
                        "docker save $(docker image inspect -f '{{.Id}}' IMAGE) -o image.tar"
                    )
                existed = {i for i in config_ids if self._image_exists(i)}
                archive.seek(0)
                loaded = self.client.images.load(archive)
        except ImageBuildError:
            raise
        except (
            docker.errors.APIError,
            docker.errors.ImageLoadError,
            tarfile.TarError,
            OSError,
            ValueError,
        ) as exc:
            if _is_unreachable(exc):
                raise
            raise ImageBuildError(
                f"The app image in image.tar could not be loaded: {exc}", str(exc)
            ) from exc
        new = [
            image for image in loaded if image.id not in existed
        ]  # only these may be removed again
        forged = sorted(
            {
                k
                for image in new
                for k in (image.labels or {})
                if k.startswith("org.lumbung.")
            }
        )
        if forged:
            for image in new:
                self._remove_image_quietly(image.id)
            raise ImageBuildError(
                f"image.tar may not set Lumbung's own labels ({', '.join(forged)})."
            )
        if len(loaded) != 1:
            for image in new:
                self._remove_image_quietly(image.id)
            raise ImageBuildError(
                f"image.tar must hold exactly one image; it holds {len(loaded)}."
            )
        base = loaded[0]
        report(f"Loaded {base.id[:19]}; labelling it as {tag}.")
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as tar:
            dockerfile = f"FROM {base.id}\n".encode()
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(dockerfile)
            tar.addfile(info, io.BytesIO(dockerfile))
        try:
            # The loaded image stays, untagged, as the parent of the labelled one.
            return self._build(
                bundle, tag, labels, report, dockerfile_context=context.getvalue()
            )
        except ImageBuildError:
            if base.id not in existed:
                self._remove_image_quietly(base.id)
            raise

    def _image_exists(self, image_id: str) -> bool:
        import docker

        try:
            self.client.images.get(image_id)
            return True
        except docker.errors.ImageNotFound:
            return False

    def _remove_image_quietly(self, image: str) -> None:
        import docker

        try:
            self.client.images.remove(image, noprune=False)
        except docker.errors.APIError:
            pass

    # -- networks ------------------------------------------------------------------------

    async def ensure_network(self, tenant_slug: str) -> str:
        """The tenant's bridge network (created with the next free /24); returns its id."""
        name = network_name(tenant_slug)
        async with self._lock(
            "networks"
        ):  # one subnet allocation at a time in this process
            return await self._call(self._ensure_network, tenant_slug, name)

    def _ensure_network(self, tenant_slug: str, name: str) -> str:
        import docker

        existing = self._network_by_name(name)
        if existing is not None:
            return self._accept_network(existing, tenant_slug)
        last: Exception | None = None
        for _ in range(5):  # another process may take the same /24 between list and create
            subnet = self._free_subnet()
            ipam = docker.types.IPAMConfig(
                pool_configs=[
                    docker.types.IPAMPool(
                        subnet=str(subnet), gateway=str(subnet.network_address + 1)
                    )
                ]
            )
            try:
                network = self.client.networks.create(
                    name,
                    internal=False,
                    check_duplicate=True,
                    ipam=ipam,
                    labels={**owned_labels(), LABEL_TENANT: tenant_slug},
                    **self._network_options(),
                )
                return network.id
            except docker.errors.APIError as exc:
                if _status(exc) == 503:  # the engine cannot serve it now (e.g. no swarm leader)
                    raise
                last = exc
                existing = self._network_by_name(name)
                if existing is not None:
                    return self._accept_network(existing, tenant_slug)
                if "overlap" not in str(exc).lower():
                    raise ProvisioningError(
                        f"The network for tenant {tenant_slug} could not be created: {exc.explanation or exc}"
                    ) from exc
        raise ProvisioningError(
            f"The network for tenant {tenant_slug} could not be created: {last}"
        )

    def _network_options(self) -> dict[str, Any]:
        """How a tenant network is made: a bridge whose containers reach each other."""
        return {"driver": "bridge", "options": {"com.docker.network.bridge.enable_icc": "true"}}

    def _accept_network(self, network: Any, tenant_slug: str) -> str:
        """The id of an existing tenant network, once it is found fit for use."""
        return network.id

    def _network_by_name(self, name: str) -> Any | None:
        """The network called exactly `name`. One lookup: the engine resolves a full id, an
        exact name, then an id prefix, so the name is checked on what it returns."""
        import docker

        try:
            network = self.client.networks.get(name)
        except docker.errors.NotFound:
            return None
        return network if network.name == name else None

    def _free_subnet(self) -> ipaddress.IPv4Network:
        used = []
        for network in self.client.networks.list():
            for config in (network.attrs.get("IPAM") or {}).get("Config") or []:
                try:
                    subnet = ipaddress.ip_network(
                        config.get("Subnet", ""), strict=False
                    )
                except ValueError:
                    continue
                if subnet.version == 4 and subnet.overlaps(self._pool):
                    used.append(subnet)
        used.sort(key=lambda s: int(s.network_address))
        start = int(self._pool.network_address)
        end = int(self._pool.broadcast_address)
        for subnet in used:
            first, last = int(subnet.network_address), int(subnet.broadcast_address)
            if last < start:
                continue
            if first >= start + 256:
                break
            start = ((last + 1 + 255) // 256) * 256
        if start + 255 > end:
            raise ProvisioningError(
                f"No free /24 is left in the network pool {self._pool}; set LUMBUNG_NETWORK_POOL to a larger range."
            )
        return ipaddress.ip_network(f"{ipaddress.ip_address(start)}/24")

    async def remove_network(self, tenant_slug: str) -> None:
        """Remove the tenant's network; a network that is already gone is fine. Raises
        ProvisioningError while containers are still attached."""
        name = network_name(tenant_slug)

        def remove() -> None:
            import docker

            network = self._network_by_name(name)
            if network is None:
                return
            try:
                network.remove()
            except docker.errors.APIError as exc:
                if _status(exc) in (404, 409):
                    return
                raise ProvisioningError(
                    f"The network of tenant {tenant_slug} could not be removed: {exc.explanation or exc}"
                ) from exc

        await self._call(remove)

    # -- volumes -------------------------------------------------------------------------

    async def ensure_volume(
        self, installation_id: int, tenant_slug: str, path: str
    ) -> str:
        """The named volume for `path` of the installation; returns its name."""
        name = volume_name(installation_id, path)
        _checked_slug(tenant_slug, "tenant")
        labels = {
            **owned_labels(),
            LABEL_TENANT: tenant_slug,
            LABEL_INSTALLATION: str(installation_id),
            LABEL_PATH: path,
        }

        def ensure() -> str:
            import docker

            try:
                volume = self.client.volumes.get(name)
            except docker.errors.NotFound:
                volume = self.client.volumes.create(
                    name=name, driver="local", labels=labels
                )
            found = volume.attrs.get("Labels") or {}
            if not is_ours(found) or any(
                found.get(k) != labels[k] for k in (LABEL_TENANT, LABEL_INSTALLATION)
            ):
                raise ProvisioningError(
                    f"A volume named {name} exists but does not belong to this installation."
                )
            return volume.name

        return await self._call(ensure)

    async def remove_volumes(self, installation_id: int) -> None:
        """Delete the installation's volumes and their data. A volume still used by a
        container raises ProvisioningError (remove the container first)."""

        def remove() -> None:
            import docker

            volumes = self.client.volumes.list(
                filters={
                    "label": [
                        f"{LABEL_MANAGED}=true",
                        f"{LABEL_INSTALLATION}={int(installation_id)}",
                    ]
                }
            )
            for volume in volumes:
                if not is_ours(volume.attrs.get("Labels")):
                    continue  # another marketplace's installation with the same id
                try:
                    volume.remove()
                except docker.errors.NotFound:
                    continue
                except docker.errors.APIError as exc:
                    raise ProvisioningError(
                        f"The volume {volume.name} could not be removed: {exc.explanation or exc}"
                    ) from exc

        await self._call(remove)

    # -- containers ----------------------------------------------------------------------

    async def run(self, spec: ContainerSpec, *, prepared: bool = False) -> RunningContainer:
        """Create and start the installation's hardened container (with its network and
        volumes; `prepared`: the caller has just made sure of both). Idempotent: an existing
        container for the installation is started if needed and returned, never a second
        one. A failed start leaves no container."""
        self._check_spec(spec)
        async with self._lock(f"container:{spec.installation_id}"):
            existing = await self._call(self._get_container, spec.installation_id)
            if existing is None and not prepared:
                await self.ensure_network(spec.tenant_slug)
                for path in spec.volumes:
                    await self.ensure_volume(
                        spec.installation_id, spec.tenant_slug, path
                    )
            return await self._call(self._run, spec, existing)

    def _check_spec(self, spec: ContainerSpec) -> None:
        _checked_slug(spec.tenant_slug, "tenant")
        _checked_slug(spec.app_slug, "app")
        outside = sorted(set(spec.capabilities) - CAPABILITY_ALLOWLIST)
        if outside:
            raise ProvisioningError(
                f"Capabilities outside the allowlist were requested: {', '.join(outside)}."
            )
        for path, name in spec.volumes.items():
            if name != volume_name(spec.installation_id, path):
                raise ProvisioningError(
                    f"Only the installation's own named volumes can be mounted; {name!r} at {path} is refused."
                )
        if not 1 <= spec.port <= 65535:
            raise ProvisioningError(
                f"The container port {spec.port} is not a TCP port."
            )
        for key in spec.env:
            if not isinstance(key, str) or not key or "=" in key or "\x00" in key:
                raise ProvisioningError(
                    f"The environment variable name {key!r} is not usable."
                )

    def _get_container(self, installation_id: int) -> Any | None:
        import docker

        try:
            return self.client.containers.get(container_name(installation_id))
        except docker.errors.NotFound:
            return None

    def _create_kwargs(self, spec: ContainerSpec) -> dict[str, Any]:
        """The container's configuration: every value is an SDK argument, none passes a shell."""
        import docker

        tmpfs_size = min(TMPFS_SIZE, spec.memory_bytes)
        return {
            "image": spec.image,
            "command": list(spec.command) if spec.command else None,
            "name": container_name(spec.installation_id),
            "environment": dict(spec.env),
            "labels": {
                **owned_labels(),
                LABEL_TENANT: spec.tenant_slug,
                LABEL_APP: spec.app_slug,
                LABEL_VERSION: spec.version,
                LABEL_INSTALLATION: str(spec.installation_id),
            },
            "network": network_name(spec.tenant_slug),
            "ports": {f"{spec.port}/tcp": (self.publish_address, None)},
            "mounts": [
                docker.types.Mount(
                    target=path, source=name, type="volume", read_only=False
                )
                for path, name in spec.volumes.items()
            ],
            "tmpfs": {
                path: f"rw,noexec,nosuid,nodev,size={tmpfs_size}"
                for path in spec.writable_paths
            },
            "read_only": True,
            "mem_limit": spec.memory_bytes,
            "memswap_limit": spec.memory_bytes,  # no swap beyond the memory limit
            "nano_cpus": int(spec.cpu * 1e9),
            "pids_limit": spec.pids,
            "cap_drop": ["ALL"],
            "cap_add": list(spec.capabilities) or None,
            "security_opt": ["no-new-privileges:true"],
            "privileged": False,
            "ipc_mode": "private",
            # docker-init as PID 1: forwards SIGTERM (an app as PID 1 gets no default signal
            # handlers, so `stop` would wait for SIGKILL) and reaps zombies.
            "init": True,
            "restart_policy": {"Name": "unless-stopped"},
            "log_config": docker.types.LogConfig(
                type="json-file", config={"max-size": "10m", "max-file": "3"}
            ),
            "detach": True,
        }

    def _run(self, spec: ContainerSpec, existing: Any | None) -> RunningContainer:
        import docker

        container = existing
        if container is None:
            try:
                container = self.client.containers.create(**self._create_kwargs(spec))
            except docker.errors.APIError as exc:
                if _status(exc) == 409:  # created by another process meanwhile
                    container = self._get_container(spec.installation_id)
                if container is None:
                    raise ProvisioningError(
                        f"The container for installation {spec.installation_id} could not be created: "
                        f"{exc.explanation or exc}"
                    ) from exc
            else:
                try:
                    container.start()
                except docker.errors.APIError as exc:
                    self._force_remove(container)
                    raise ProvisioningError(
                        f"The container for installation {spec.installation_id} could not be started: "
                        f"{exc.explanation or exc}"
                    ) from exc
        container.reload()
        if container.status not in ("running", "restarting"):
            container.start()
        return self._running(spec.installation_id, container, spec.port)

    def _running(
        self, installation_id: int, container: Any, port: int | None = None
    ) -> RunningContainer:
        host_port = self._host_port(container, port)
        return RunningContainer(
            installation_id=installation_id,
            container_id=container.id,
            name=container.name,
            address=self.publish_address,
            host_port=host_port,
            url=f"http://{self.publish_address}:{host_port}/",
        )

    def _host_port(
        self, container: Any, port: int | None = None, wait: float = 10.0
    ) -> int:
        deadline = time.monotonic() + wait
        while True:
            ports = container.attrs.get("NetworkSettings", {}).get("Ports") or {}
            for key, bindings in ports.items():
                if (port is None or key == f"{port}/tcp") and bindings:
                    for binding in bindings:
                        if binding.get("HostIp") in (
                            self.publish_address,
                            "",
                            None,
                        ) and binding.get("HostPort"):
                            return int(binding["HostPort"])
            if time.monotonic() > deadline:
                raise ProvisioningError(
                    f"The container {container.name} has no published port."
                )
            time.sleep(0.1)
            container.reload()

    def _force_remove(self, container: Any) -> None:
        import docker

        try:
            container.remove(force=True, v=True)
        except docker.errors.APIError:
            pass

    async def wait_healthy(
        self, installation_id: int, path: str, *, timeout: float, interval: float
    ) -> None:
        """Poll http://{address}:{host port}{path} until it answers 2xx. Raises
        UnhealthyError (with the container's last log lines) when the time is up or the
        container stops."""
        started = time.monotonic()
        deadline = started + timeout
        last = "no answer yet"
        # Most apps answer within a fraction of a second: poll every 20 ms for the first
        # two seconds, then back off to the manifest's interval. The container's state is
        # read on the first poll and then every few polls (to notice an app that exited).
        pause = min(0.02, interval)
        host_port: int | None = None
        polls = 0
        # trust_env=False: a proxy from the environment must not answer for the app.
        async with httpx.AsyncClient(
            timeout=max(0.5, min(interval * 2, 5.0)),
            follow_redirects=False,
            trust_env=False,
        ) as http:
            while True:
                if host_port is None or polls % 10 == 0:
                    state = await self._call(self._state_and_port, installation_id)
                    if state is None:
                        raise ContainerNotFound(
                            f"Installation {installation_id} has no container."
                        )
                    status, host_port = state
                    if status in ("exited", "dead"):
                        raise UnhealthyError(
                            f"The app stopped before answering its health check ({status}).",
                            await self.logs(installation_id, LOG_TAIL_LINES),
                        )
                polls += 1
                if host_port is not None:
                    url = f"http://{self.publish_address}:{host_port}{path}"
                    try:
                        response = await http.get(url)
                        if 200 <= response.status_code < 300:
                            return
                        last = f"HTTP {response.status_code}"
                    except httpx.HTTPError as exc:
                        last = type(exc).__name__
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise UnhealthyError(
                        f"The app did not pass its health check {path} within {timeout:g} seconds (last result: {last}).",
                        await self.logs(installation_id, LOG_TAIL_LINES),
                    )
                await asyncio.sleep(min(pause, remaining))
                if time.monotonic() - started > 2:
                    pause = min(max(pause, 0.05) * 2, interval)

    def _state_and_port(self, installation_id: int) -> tuple[str, int | None] | None:
        container = self._get_container(installation_id)
        if container is None:
            return None
        try:
            port = self._host_port(container, wait=0)
        except ProvisioningError:
            port = None
        return container.status, port

    async def stop(self, installation_id: int, timeout: int = 10) -> None:
        """Stop the container (it stays stopped across engine restarts); gone is fine."""

        def stop() -> None:
            import docker

            try:
                self.client.api.stop(container_name(installation_id), timeout=timeout)
            except docker.errors.APIError as exc:
                if _status(exc) not in (404, 409):
                    raise ProvisioningError(
                        f"The app could not be stopped: {exc.explanation or exc}"
                    ) from exc

        await self._call(stop)

    async def start(self, installation_id: int) -> None:
        """Start the stopped container; a running one is fine. ContainerNotFound if there is none."""

        def start() -> None:
            import docker

            try:
                self.client.api.start(container_name(installation_id))
            except docker.errors.NotFound as exc:
                raise ContainerNotFound(
                    f"Installation {installation_id} has no container to start."
                ) from exc
            except docker.errors.APIError as exc:
                raise ProvisioningError(
                    f"The app could not be started: {exc.explanation or exc}"
                ) from exc

        await self._call(start)

    async def remove_container(self, installation_id: int) -> None:
        """Remove the container (its volumes stay); a container already gone is fine."""

        def remove() -> None:
            import docker

            try:
                self.client.api.remove_container(
                    container_name(installation_id), force=True, v=True
                )
            except docker.errors.APIError as exc:
                if _status(exc) not in (404, 409):
                    raise ProvisioningError(
                        f"The app's container could not be removed: {exc.explanation or exc}"
                    ) from exc

        await self._call(remove)

    async def logs(self, installation_id: int, tail: int = 100) -> str:
        """The container's last `tail` log lines (stdout and stderr); "" when it is missing."""

        def logs() -> str:
            import docker

            try:
                raw = self.client.api.logs(
                    container_name(installation_id),
                    stdout=True,
                    stderr=True,
                    tail=int(tail),
                )
            except docker.errors.NotFound:
                return ""
            return raw.decode("utf-8", errors="replace")

        return await self._call(logs)

    async def address(self, installation_id: int) -> str:
        """The URL the installation's app answers at now; "" without a running container."""

        def address() -> str:
            container = self._get_container(installation_id)
            return "" if container is None else self._url_of(container)

        return await self._call(address)

    async def inspect(self, installation_id: int) -> dict | None:
        """`docker inspect` of the installation's container; None when it is missing."""

        def inspect() -> dict | None:
            container = self._get_container(installation_id)
            return None if container is None else container.attrs

        return await self._call(inspect)

    def _url_of(self, container: Any) -> str:
        """The address the container's port is published at now ("" when it has none); a
        random host port can change when the engine restarts the container."""
        try:
            return f"http://{self.publish_address}:{self._host_port(container, wait=0)}/"
        except ProvisioningError:
            return ""

    async def list_owned(self) -> list[dict]:
        """Every container, network and volume carrying Lumbung's labels, as
        {"kind", "id", "name", "labels", "status"} dicts; containers also carry "url"."""

        def owned() -> list[dict]:
            label = {"label": [f"{LABEL_MANAGED}=true"]}
            out: list[dict] = []
            for c in self.client.containers.list(all=True, filters=label):
                if not is_ours(c.labels) or LABEL_HELPER in (c.labels or {}):
                    continue
                out.append(
                    {
                        "kind": "container",
                        "id": c.id,
                        "name": c.name,
                        "labels": c.labels,
                        "status": c.status,
                        "url": self._url_of(c),
                    }
                )
            for n in self.client.networks.list(filters=label):
                if not is_ours(n.attrs.get("Labels")):
                    continue
                out.append(
                    {
                        "kind": "network",
                        "id": n.id,
                        "name": n.name,
                        "labels": n.attrs.get("Labels") or {},
                        "status": None,
                    }
                )
            for v in self.client.volumes.list(filters=label):
                if not is_ours(v.attrs.get("Labels")):
                    continue
                out.append(
                    {
                        "kind": "volume",
                        "id": v.name,
                        "name": v.name,
                        "labels": v.attrs.get("Labels") or {},
                        "status": None,
                    }
                )
            return out

        return await self._call(owned)


    # -- data: snapshots, restores and exports -------------------------------------------

    def _helper(self, installation_id: int, image: str, paths: Sequence[str], *, no_copy: bool) -> Any:
        """A container that is created but never started, with the installation's volumes
        mounted: the engine copies files in and out of stopped containers, so this works for
        any image, even one without a shell. Its root filesystem is writable because the
        engine refuses archives on read-only ones; it never runs, so nothing can use that.
        It has no installation label, so the reconciler never takes it for the app."""
        import docker

        name = f"{container_name(installation_id)}-data"
        try:
            self.client.api.remove_container(name, force=True)
        except docker.errors.NotFound:
            pass
        return self.client.containers.create(
            image,
            entrypoint=["/never-started"],  # the engine wants a command even for this one
            name=name,
            network_mode="none",
            labels={**owned_labels(), LABEL_HELPER: str(int(installation_id))},
            mounts=[
                docker.types.Mount(target=path, source=volume_name(installation_id, path), type="volume", no_copy=no_copy)
                for path in paths
            ],
        )

    def _volume_exists(self, name: str) -> bool:
        import docker

        try:
            self.client.volumes.get(name)
            return True
        except docker.errors.NotFound:
            return False

    async def snapshot(self, installation_id: int, image: str, paths: Sequence[str], dest: Path) -> int:
        """Write the contents of the installation's volumes (mounted at `paths`) to the tar
        archive `dest`, with member names as absolute container paths without the leading
        '/' (`data/app.db`). Stop the app first for a consistent copy. The file appears
        whole or not at all. Returns its size in bytes."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(dest.name + ".partial")

        def snapshot() -> int:
            import docker

            present = [p for p in paths if self._volume_exists(volume_name(installation_id, p))]
            if not present:
                raise ProvisioningError(f"Installation {installation_id} has no data volumes to copy.")
            helper = self._helper(installation_id, image, present, no_copy=True)
            try:
                with open(partial, "wb") as raw, tarfile.open(fileobj=raw, mode="w|") as out:
                    for path in present:
                        try:
                            stream, _stat = helper.get_archive(path)
                        except docker.errors.NotFound:
                            continue
                        _copy_archive(stream, out, prefix=path.strip("/").rpartition("/")[0])
                os.replace(partial, dest)
                return dest.stat().st_size
            finally:
                partial.unlink(missing_ok=True)
                self._force_remove(helper)

        return await self._call(snapshot)

    async def restore(self, installation_id: int, tenant_slug: str, image: str, paths: Sequence[str], src: Path) -> None:
        """Replace the contents of the installation's volumes with the snapshot `src`: the
        volumes are emptied (removed and created again) and then filled. The app's
        container must be removed first."""
        await self.remove_volumes(installation_id)
        for path in paths:
            await self.ensure_volume(installation_id, tenant_slug, path)

        def restore() -> None:
            helper = self._helper(installation_id, image, paths, no_copy=True)
            try:
                with open(src, "rb") as data:
                    if not helper.put_archive("/", data):
                        raise ProvisioningError(f"The snapshot {src.name} could not be restored.")
            finally:
                self._force_remove(helper)

        await self._call(restore)


# --------------------------------------------------------------------------- helpers


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _bundle_kind(bundle: Path) -> str:
    """ "dockerfile" or "image", from the names at the root of the (already inspected) bundle."""
    try:
        with tarfile.open(bundle, "r|*") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if name == "Dockerfile":
                    return "dockerfile"
                if name == "image.tar":
                    return "image"
    except (tarfile.TarError, OSError) as exc:
        raise ImageBuildError(f"The bundle could not be read: {exc}") from exc
    raise ImageBuildError(
        "The bundle has neither a Dockerfile nor image.tar at its root."
    )


def _archive_info(archive: Any) -> tuple[set[str], set[str]]:
    """The repository tags a `docker save` archive would apply when loaded (manifest.json
    RepoTags and the legacy `repositories` file), and the ids of the images it holds."""
    import json

    tags: set[str] = set()
    ids: set[str] = set()
    with tarfile.open(fileobj=archive, mode="r|") as tar:
        for member in tar:
            name = member.name.removeprefix("./")
            if (
                name not in ("manifest.json", "repositories")
                or not member.isfile()
                or member.size > 4 * 1024**2
            ):
                continue
            data = json.loads(tar.extractfile(member).read() or b"null")
            if name == "manifest.json":
                for entry in data or []:
                    tags.update(entry.get("RepoTags") or [])
                    config = str(entry.get("Config") or "")
                    digest = config.rsplit("/", 1)[-1].removesuffix(".json")
                    if re.fullmatch(r"[0-9a-f]{64}", digest):
                        ids.add(f"sha256:{digest}")
            else:
                for repo, by_tag in (data or {}).items():
                    tags.update(f"{repo}:{t}" for t in by_tag or {})
    return tags, ids


def _is_unreachable(exc: BaseException) -> bool:
    """Whether `exc` means the engine did not answer (as opposed to refusing a request)."""
    import docker
    import requests

    if isinstance(exc, EngineUnavailable):
        return True
    if isinstance(exc, docker.errors.APIError):
        return False
    if isinstance(
        exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)
    ):
        return True
    if isinstance(
        exc, docker.errors.DockerException
    ) and "Error while fetching server API version" in str(exc):
        return True
    return isinstance(exc, (ConnectionError, TimeoutError)) and not isinstance(
        exc, ProvisioningError
    )


class _ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks (the engine's archive stream)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


def _copy_archive(chunks: Iterable[bytes], out: tarfile.TarFile, *, prefix: str) -> None:
    """Copy every member of the tar stream `chunks` into `out`, with `prefix/` put in front
    of member names (and of hard-link targets), streaming file contents."""
    with tarfile.open(fileobj=io.BufferedReader(_ChunkReader(chunks), 1024 * 1024), mode="r|") as tar:
        for member in tar:
            if prefix:
                member.name = f"{prefix}/{member.name}"
                if member.islnk():
                    member.linkname = f"{prefix}/{member.linkname}"
            out.addfile(member, tar.extractfile(member) if member.isreg() else None)
