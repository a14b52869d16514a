"""Provisioning on Docker Swarm: every installation runs as a one-replica service.

`SwarmEngine` is a `DockerEngine` (images and volumes are handled the same way, on the
engine it talks to, which must be a swarm manager) whose installations are Swarm services
instead of plain containers, and whose tenant networks are overlay networks. Names are
those of `DockerEngine`, so every operation stays idempotent:

    service    lumbung-i{installation_id}     (its task containers: lumbung-i{id}.1.{task id})
    network    lumbung-t-{tenant_slug}        overlay, swarm scope, not attachable
    volume     lumbung-i{installation_id}-{sanitised container path}

Hardening of every service (see `SwarmEngine._service_kwargs`), as far as Swarm can
express it (Engine API 1.41, Docker 20.10):

- enforced: all capabilities dropped and only allowlisted ones added back
  (ContainerSpec CapabilityDrop/CapabilityAdd); read-only root filesystem; tmpfs mounts
  (sized; Docker mounts them noexec,nosuid,nodev) for the manifest's writable paths; the
  installation's named volumes only; docker-init as PID 1; memory, CPU and PID limits
  (Resources.Limits MemoryBytes/NanoCPUs/Pids); never privileged (Swarm cannot run
  privileged tasks), no devices, no host namespaces; the image's own user; bounded
  json-file logs; restart on any exit (condition "any", 5 s delay); labels on the
  service and on its containers.
- not expressible, so NOT enforced by this engine: no-new-privileges (ContainerSpec
  Privileges.NoNewPrivileges exists only from API 1.44, Docker 25; set
  `"no-new-privileges": true` in the daemon.json of every node to get it), and a swap
  limit (a service cannot set MemorySwap; Docker's default lets a task use as much swap
  again as its memory limit on hosts with swap: run the nodes without swap, or accept it).

Data: `snapshot` and `restore` are DockerEngine's (a never-started helper container on
the engine this object talks to), which finds the volumes because services are pinned to
that node by default (see Placement).

Published port: Swarm cannot bind a port to one host address. Ports are published in
*host* mode (endpoint mode dnsrr) on a port Lumbung chooses from LUMBUNG_SWARM_PORTS
(default 20000-29999), fixed in the service spec so the URL survives restarts, stop/start
and task replacement. Host mode binds the port on **all interfaces** (0.0.0.0 and ::) of
the node running the task: the app is reachable from the network and from every other
container on that node (other tenants included) through the node's address, unlike
`DockerEngine`, which binds 127.0.0.1 only. Put a firewall in front (for example, drop
traffic to the port range arriving on public interfaces and on docker_gwbridge), or keep
the nodes on a private network behind the reverse proxy. The URL uses
LUMBUNG_PUBLISH_ADDRESS, which must therefore be an address of the node running the
task. The ingress routing mesh is not used: it needs IPVS in the kernel, would attach
every service to the shared `ingress` network, and limits the swarm to 2768 ports.

Placement: images are built or loaded on the engine this object talks to, and the image
is referenced by id, which other nodes cannot pull; named volumes are local to a node.
So by default every service is pinned to that node (`node.id==<its id>`). Pass
`constraints` to place services elsewhere once images come from a registry and volumes
from a driver that every node shares.

Tenant isolation: each tenant gets its own overlay network (its own VXLAN), so a task
cannot address another tenant's tasks; tasks also sit on docker_gwbridge for outgoing
traffic, where inter-container traffic is dropped (icc=false). Overlay traffic between
nodes is not encrypted. Subnets come from the same pool as `DockerEngine`'s (an explicit
/24 from LUMBUNG_NETWORK_POOL).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import httpx

from provisioning.engine import (
    LABEL_APP,
    LABEL_INSTALLATION,
    LABEL_MANAGED,
    LABEL_PATH,
    LABEL_TENANT,
    LABEL_VERSION,
    LOG_TAIL_LINES,
    TMPFS_SIZE,
    ContainerSpec,
    DockerEngine,
    RunningContainer,
    _status,
    container_name,
    is_ours,
    network_name,
    owned_labels,
)
from provisioning.errors import (
    ContainerNotFound,
    EngineUnavailable,
    ProvisioningError,
    UnhealthyError,
)

T = TypeVar("T")

DEFAULT_PORT_RANGE = (20000, 29999)
RESTART_DELAY_NS = 5 * 10**9
STOP_GRACE_NS = 10 * 10**9
LABEL_SWARM_SERVICE_ID = "com.docker.swarm.service.id"

# Task states (swarmkit's api.TaskState) in which a task's container exists and may run.
RUNNING_TASK_STATES = frozenset({"preparing", "starting", "running"})
# Task states that mean the app ended without being asked to.
FAILED_TASK_STATES = frozenset({"failed", "rejected", "complete", "orphaned"})

_TIMESTAMP_RE = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$"
)


class SwarmEngine(DockerEngine):
    """`ProvisioningEngine` on a Docker Swarm, reached through a manager node (DOCKER_HOST
    or the default socket). Installations are replicated services with one replica.

    `RunningContainer.container_id` is the service id and `name` the service name.
    `constraints` are Swarm placement constraints for every service; None pins services
    to the node of the engine this object talks to (see the module docstring).
    `port_range` (or LUMBUNG_SWARM_PORTS, "20000-29999") is where published ports are
    chosen. Other keyword arguments are those of `DockerEngine`.
    """

    def __init__(
        self,
        *,
        constraints: Sequence[str] | None = None,
        port_range: tuple[int, int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._constraints = list(constraints) if constraints is not None else None
        self._ports = port_range or _parse_port_range(
            os.environ.get("LUMBUNG_SWARM_PORTS")
        )
        low, high = self._ports
        if not 1024 <= low <= high <= 65535:
            raise ValueError(
                "LUMBUNG_SWARM_PORTS must be a range of ports between 1024 and 65535, such as 20000-29999"
            )

    # -- plumbing ------------------------------------------------------------------------

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """As `DockerEngine._call`; a 503 from the engine (not a swarm manager, or a swarm
        without a leader) also becomes EngineUnavailable."""

        def call() -> T:
            import docker

            try:
                return fn(*args, **kwargs)
            except docker.errors.APIError as exc:
                if _status(exc) == 503:
                    raise EngineUnavailable(
                        f"The Docker engine cannot serve Swarm requests: {exc.explanation or exc}"
                    ) from exc
                raise

        return await super()._call(call)

    def _placement(self) -> list[str]:
        """The placement constraints of new services (the local node unless configured)."""
        if self._constraints is None:
            node = (self.client.info().get("Swarm") or {}).get("NodeID") or ""
            if not node:
                raise EngineUnavailable(
                    "The Docker engine is not part of a swarm (run `docker swarm init`)."
                )
            self._constraints = [f"node.id=={node}"]
        return list(self._constraints)

    # -- networks ------------------------------------------------------------------------

    def _network_options(self) -> dict[str, Any]:
        """Tenant networks are swarm-scoped overlays that no plain container can join."""
        return {"driver": "overlay", "scope": "swarm", "attachable": False}

    def _accept_network(self, network: Any, tenant_slug: str) -> str:
        """A same-named network that is not a swarm overlay (left by `DockerEngine`) is refused."""
        return self._checked_overlay(network, tenant_slug)

    @staticmethod
    def _checked_overlay(network: Any, tenant_slug: str) -> str:
        attrs = network.attrs
        if attrs.get("Driver") != "overlay" or attrs.get("Scope") != "swarm":
            raise ProvisioningError(
                f"The network {network.name} of tenant {tenant_slug} exists as a "
                f"{attrs.get('Scope')} {attrs.get('Driver')} network, not a swarm overlay; "
                "remove it (with the containers on it) before running the tenant's apps on Swarm."
            )
        return network.id

    # -- services ------------------------------------------------------------------------

    async def run(self, spec: ContainerSpec, *, prepared: bool = False) -> RunningContainer:
        """Create the installation's hardened service (with its network and volumes), or
        scale an existing one back to one replica. Idempotent: never a second service.
        """
        self._check_spec(spec)
        async with self._lock(f"container:{spec.installation_id}"):
            existing = await self._call(self._get_service, spec.installation_id)
            if existing is None and not prepared:
                await self.ensure_network(spec.tenant_slug)
                for path in spec.volumes:
                    await self.ensure_volume(
                        spec.installation_id, spec.tenant_slug, path
                    )
                # One port choice at a time in this process.
                async with self._lock("ports"):
                    existing = await self._call(self._create_service, spec)
            return await self._call(self._resume, spec.installation_id, existing)

    def _get_service(self, installation_id: int) -> dict | None:
        """The service's inspect data, None when there is none. A service with the name but
        without Lumbung's label is not ours: ProvisioningError."""
        import docker

        try:
            service = self.client.api.inspect_service(container_name(installation_id))
        except docker.errors.NotFound:
            return None
        labels = service.get("Spec", {}).get("Labels") or {}
        if not is_ours(labels):
            raise ProvisioningError(
                f"A service named {container_name(installation_id)} exists but was not made by Lumbung."
            )
        return service

    def _create_service(self, spec: ContainerSpec) -> dict:
        import docker

        kwargs = self._service_kwargs(spec, self._free_port(spec.installation_id))
        try:
            self.client.services.create(**kwargs)
        except docker.errors.APIError as exc:
            if _status(exc) == 503:
                raise
            existing = (
                self._get_service(spec.installation_id) if _status(exc) == 409 else None
            )  # created by another process meanwhile
            if existing is None:
                raise ProvisioningError(
                    f"The service for installation {spec.installation_id} could not be created: "
                    f"{exc.explanation or exc}"
                ) from exc
            return existing
        created = self._get_service(spec.installation_id)
        if created is None:
            raise ProvisioningError(
                f"The service for installation {spec.installation_id} was removed while it was being created."
            )
        return created

    def _service_kwargs(self, spec: ContainerSpec, host_port: int) -> dict[str, Any]:
        """The service's configuration, as `client.services.create` arguments: every value
        is an SDK argument, none passes a shell."""
        import docker

        labels = {
            **owned_labels(),
            LABEL_TENANT: spec.tenant_slug,
            LABEL_APP: spec.app_slug,
            LABEL_VERSION: spec.version,
            LABEL_INSTALLATION: str(spec.installation_id),
        }
        resources = docker.types.Resources(
            cpu_limit=int(spec.cpu * 1e9), mem_limit=spec.memory_bytes
        )
        # Resources.Limits.Pids (API 1.41) has no argument in the SDK's Resources type.
        resources.setdefault("Limits", {})["Pids"] = int(spec.pids)
        tmpfs_size = min(TMPFS_SIZE, spec.memory_bytes)
        mounts = [
            docker.types.Mount(
                target=path,
                source=name,
                type="volume",
                read_only=False,
                # Labels for a volume Docker creates itself on a node that lacks it.
                labels={
                    **owned_labels(),
                    LABEL_TENANT: spec.tenant_slug,
                    LABEL_INSTALLATION: str(spec.installation_id),
                    LABEL_PATH: path,
                },
            )
            for path, name in spec.volumes.items()
        ]
        mounts += [
            docker.types.Mount(
                target=path, source=None, type="tmpfs", tmpfs_size=tmpfs_size
            )
            for path in spec.writable_paths
        ]
        return {
            "image": spec.image,
            # The manifest's command replaces the image's CMD, as with DockerEngine; a
            # service's `command` would replace the ENTRYPOINT instead.
            "args": list(spec.command) if spec.command else None,
            "name": container_name(spec.installation_id),
            "labels": labels,
            "container_labels": dict(labels),
            "env": dict(spec.env),
            "mode": docker.types.ServiceMode("replicated", replicas=1),
            "networks": [network_name(spec.tenant_slug)],
            "endpoint_spec": docker.types.EndpointSpec(
                mode="dnsrr", ports={host_port: (spec.port, "tcp", "host")}
            ),
            "mounts": mounts,
            "read_only": True,
            "resources": resources,
            "cap_drop": ["ALL"],
            "cap_add": list(spec.capabilities) or None,
            "init": True,
            "restart_policy": docker.types.RestartPolicy(
                condition="any", delay=RESTART_DELAY_NS, max_attempts=0
            ),
            "stop_grace_period": STOP_GRACE_NS,
            "log_driver": "json-file",
            "log_driver_options": {"max-size": "10m", "max-file": "3"},
            "constraints": self._placement(),
        }

    def _free_port(self, installation_id: int) -> int:
        """A port of the range that no service of the swarm publishes, searched from a
        point that depends on the installation (so that concurrent choices rarely meet).
        """
        used: set[int] = set()
        for service in self.client.api.services():
            ports = [
                *((service.get("Endpoint") or {}).get("Ports") or []),
                *(
                    ((service.get("Spec") or {}).get("EndpointSpec") or {}).get("Ports")
                    or []
                ),
            ]
            used.update(
                int(p["PublishedPort"]) for p in ports if p.get("PublishedPort")
            )
        low, high = self._ports
        size = high - low + 1
        start = int(installation_id) % size
        for step in range(size):
            port = low + (start + step) % size
            if port not in used:
                return port
        raise ProvisioningError(
            f"No free port is left in {low}-{high}; set LUMBUNG_SWARM_PORTS to a larger range."
        )

    def _resume(self, installation_id: int, service: dict) -> RunningContainer:
        """Scale the service to one replica if it was stopped; the running description."""
        if _replicas(service) < 1:
            self._scale(installation_id, 1)
        return self._running_service(installation_id, service)

    def _running_service(self, installation_id: int, service: dict) -> RunningContainer:
        host_port = _published_port(service)
        if host_port is None:
            raise ProvisioningError(
                f"The service {container_name(installation_id)} publishes no port."
            )
        return RunningContainer(
            installation_id=installation_id,
            container_id=service["ID"],
            name=service["Spec"]["Name"],
            address=self.publish_address,
            host_port=host_port,
            url=self._url(service),
        )

    def _scale(self, installation_id: int, replicas: int) -> bool:
        """Set the service's replica count; False when there is no service. Retried when
        another update of the service came in between."""
        import docker

        for attempt in range(5):
            service = self._get_service(installation_id)
            if service is None:
                return False
            if _replicas(service) == replicas:
                return True
            try:
                self.client.api.update_service(
                    service["ID"],
                    service["Version"]["Index"],
                    mode=docker.types.ServiceMode("replicated", replicas=replicas),
                    fetch_current_spec=True,
                )
                return True
            except docker.errors.NotFound:
                return False
            except docker.errors.APIError as exc:
                if _status(exc) == 503:
                    raise
                if "out of sequence" not in str(exc) or attempt == 4:
                    raise ProvisioningError(
                        f"The service {container_name(installation_id)} could not be scaled to {replicas}: "
                        f"{exc.explanation or exc}"
                    ) from exc
        return True

    def _tasks(self, service_id: str) -> list[dict]:
        import docker

        try:
            return self.client.api.tasks(filters={"service": service_id})
        except docker.errors.NotFound:
            return []

    # -- health --------------------------------------------------------------------------

    async def wait_healthy(
        self, installation_id: int, path: str, *, timeout: float, interval: float
    ) -> None:
        """Poll http://{address}:{published port}{path} until it answers 2xx. Raises
        UnhealthyError (with the service's last log lines) when the time is up, at once
        when a task failed since the service was last created or scaled and none runs,
        and when the service is scaled to zero; ContainerNotFound when there is no service.
        """
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        pause = min(0.05, interval)
        async with httpx.AsyncClient(
            timeout=max(0.5, min(interval * 2, 5.0)),
            follow_redirects=False,
            trust_env=False,
        ) as http:
            while True:
                health = await self._call(self._health, installation_id)
                if health is None:
                    raise ContainerNotFound(
                        f"Installation {installation_id} has no service."
                    )
                if health.replicas < 1:
                    raise UnhealthyError(
                        "The app stopped before answering its health check (scaled to 0).",
                        await self.logs(installation_id, LOG_TAIL_LINES),
                    )
                if health.failure and not health.running:
                    raise UnhealthyError(
                        f"The app stopped before answering its health check ({health.failure}).",
                        await self.logs(installation_id, LOG_TAIL_LINES),
                    )
                if health.running and health.host_port is not None:
                    url = f"http://{self.publish_address}:{health.host_port}{path}"
                    try:
                        response = await http.get(url)
                        if 200 <= response.status_code < 300:
                            return
                        last = f"HTTP {response.status_code}"
                    except httpx.HTTPError as exc:
                        last = type(exc).__name__
                elif health.note:
                    last = health.note
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise UnhealthyError(
                        f"The app did not pass its health check {path} within {timeout:g} seconds (last result: {last}).",
                        await self.logs(installation_id, LOG_TAIL_LINES),
                    )
                await asyncio.sleep(min(pause, remaining))
                pause = min(pause * 2, interval)

    def _health(self, installation_id: int) -> _Health | None:
        """The service's replicas and published port, whether a task runs, and the last
        task that failed since the service was last created or updated (scaled, say).

        Failures are dated by the time the task failed, not by its creation: Swarm may
        update the service (allocating its endpoint) just after creating its first task,
        but a task of the current deployment can only fail after that."""
        service = self._get_service(installation_id)
        if service is None:
            return None
        since = _nanoseconds(service.get("UpdatedAt") or service.get("CreatedAt"))
        tasks = sorted(
            self._tasks(service["ID"]),
            key=lambda t: _nanoseconds((t.get("Status") or {}).get("Timestamp")),
        )
        running = any(
            t["Status"].get("State") == "running" and t.get("DesiredState") == "running"
            for t in tasks
        )
        failed = [
            t
            for t in tasks
            if t["Status"].get("State") in FAILED_TASK_STATES
            and _nanoseconds(t["Status"].get("Timestamp")) >= since
        ]
        return _Health(
            replicas=_replicas(service),
            host_port=_published_port(service),
            running=running,
            failure=_task_summary(failed[-1]) if failed else None,
            note=_task_summary(tasks[-1]) if tasks else "no task yet",
        )

    # -- lifecycle -----------------------------------------------------------------------

    async def stop(self, installation_id: int, timeout: int = 10) -> None:
        """Scale the service to zero and wait until its task has stopped; no service is
        fine. Raises ProvisioningError if the task is still up after `timeout` + 30 s.
        """

        def stop() -> None:
            service = self._get_service(installation_id)
            if service is None:
                return
            self._scale(installation_id, 0)
            deadline = time.monotonic() + timeout + 30
            while True:
                active = [
                    t
                    for t in self._tasks(service["ID"])
                    if t["Status"].get("State") in RUNNING_TASK_STATES
                    or t.get("DesiredState") == "running"
                ]
                if not active:
                    return
                if time.monotonic() > deadline:
                    raise ProvisioningError(
                        f"The app's task did not stop within {timeout + 30} seconds "
                        f"({_task_summary(active[0])})."
                    )
                time.sleep(0.1)

        await self._call(stop)

    async def start(self, installation_id: int) -> None:
        """Scale the service to one replica; a running one is fine. ContainerNotFound if
        there is no service."""

        def start() -> None:
            if not self._scale(installation_id, 1):
                raise ContainerNotFound(
                    f"Installation {installation_id} has no service to start."
                )

        await self._call(start)

    async def remove_container(self, installation_id: int) -> None:
        """Remove the service and wait until its containers on this node are gone, so its
        volumes can be removed next; a service already gone is fine. Volumes stay."""

        def remove() -> None:
            import docker

            service = self._get_service(installation_id)
            if service is None:
                return
            try:
                self.client.api.remove_service(service["ID"])
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                if _status(exc) == 503:
                    raise
                raise ProvisioningError(
                    f"The app's service could not be removed: {exc.explanation or exc}"
                ) from exc
            owned = {"label": [f"{LABEL_SWARM_SERVICE_ID}={service['ID']}"]}
            deadline = time.monotonic() + STOP_GRACE_NS / 1e9 + 20
            while self.client.api.containers(all=True, filters=owned):
                if time.monotonic() > deadline:
                    # The node's agent is slow: take the stopped task containers away.
                    for container in self.client.api.containers(
                        all=True, filters=owned
                    ):
                        try:
                            self.client.api.remove_container(
                                container["Id"], force=True, v=True
                            )
                        except docker.errors.APIError:
                            pass
                    return
                time.sleep(0.1)

        await self._call(remove)

    async def logs(self, installation_id: int, tail: int = 100) -> str:
        """The service's last `tail` log lines (stdout and stderr, of its current and
        earlier tasks); "" when there is no service."""

        def logs() -> str:
            import docker

            try:
                stream = self.client.api.service_logs(
                    container_name(installation_id),
                    stdout=True,
                    stderr=True,
                    tail=int(tail),
                    is_tty=False,
                )
                raw = b"".join(stream)
            except docker.errors.NotFound:
                return ""
            lines = raw.decode("utf-8", errors="replace").splitlines()
            return "".join(line + "\n" for line in lines[-int(tail) :]) if tail else ""

        return await self._call(logs)

    async def address(self, installation_id: int) -> str:
        """The URL the installation's app answers at; "" when there is no service or it is
        scaled to zero. The published port is fixed in the service spec, so the URL stays
        the same across stops, starts and task restarts."""

        def address() -> str:
            service = self._get_service(installation_id)
            if service is None or _replicas(service) < 1:
                return ""
            return self._url(service)

        return await self._call(address)

    def _url(self, service: dict) -> str:
        port = _published_port(service)
        return "" if port is None else f"http://{self.publish_address}:{port}/"

    async def inspect(self, installation_id: int) -> dict | None:
        """The service's inspect data (ID, Version, CreatedAt, UpdatedAt, Spec, Endpoint),
        plus "State" ({"Status": as in `list_owned`, "Running": bool, "Replicas": int}),
        "Tasks" (the service's tasks, newest first) and "Container" (`docker inspect` of
        the newest task's container when it is on this node, else None). None when there
        is no service."""

        def inspect() -> dict | None:
            import docker

            service = self._get_service(installation_id)
            if service is None:
                return None
            tasks = sorted(
                self._tasks(service["ID"]),
                key=lambda t: _nanoseconds(t.get("CreatedAt")),
                reverse=True,
            )
            status = _service_status(service, tasks)
            container = None
            for task in tasks:
                container_id = (
                    (task.get("Status") or {}).get("ContainerStatus") or {}
                ).get("ContainerID")
                if container_id:
                    try:
                        container = self.client.api.inspect_container(container_id)
                    except docker.errors.NotFound:
                        container = None
                    break
            return {
                **service,
                "State": {
                    "Status": status,
                    "Running": status == "running",
                    "Replicas": _replicas(service),
                },
                "Tasks": tasks,
                "Container": container,
            }

        return await self._call(inspect)

    async def list_owned(self) -> list[dict]:
        """Every service, network and volume carrying Lumbung's labels, as {"kind", "id",
        "name", "labels", "status"} dicts. Services are of kind "container" (one per
        installation, as with `DockerEngine`), with the status "running" (a task runs),
        "exited" (scaled to zero) or "restarting" (one replica wanted, no task running
        yet: starting, waiting out a restart delay, or failing), and a "url" (the
        published address, also when scaled to zero). Containers are not listed: the
        task containers belong to their services."""

        def services() -> list[dict]:
            label = {"label": [f"{LABEL_MANAGED}=true"]}
            found = [s for s in self.client.api.services(filters=label) if is_ours(s["Spec"].get("Labels"))]
            if not found:
                return []
            tasks: dict[str, list[dict]] = {}
            for task in self.client.api.tasks(filters={"desired-state": ["running"]}):
                tasks.setdefault(task.get("ServiceID", ""), []).append(task)
            return [
                {
                    "kind": "container",
                    "id": service["ID"],
                    "name": service["Spec"]["Name"],
                    "labels": service["Spec"].get("Labels") or {},
                    "status": _service_status(service, tasks.get(service["ID"], [])),
                    "url": self._url(service),
                }
                for service in found
            ]

        owned = await self._call(services)
        rest = await super().list_owned()
        return owned + [o for o in rest if o["kind"] != "container"]


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _Health:
    """What `wait_healthy` needs to know about a service, from one look at it."""

    replicas: int
    host_port: int | None
    running: bool  # a task runs
    failure: (
        str | None
    )  # the last task that failed since the last update of the service
    note: str  # the state of the most recently changed task


def _replicas(service: dict) -> int:
    mode = (service.get("Spec") or {}).get("Mode") or {}
    return int((mode.get("Replicated") or {}).get("Replicas") or 0)


def _published_port(service: dict) -> int | None:
    endpoint = (service.get("Spec") or {}).get("EndpointSpec") or {}
    ports = endpoint.get("Ports") or (service.get("Endpoint") or {}).get("Ports") or []
    for port in ports:
        if port.get("PublishedPort"):
            return int(port["PublishedPort"])
    return None


def _service_status(service: dict, tasks: list[dict]) -> str:
    """ "exited" when scaled to zero, "running" when a task runs, else "restarting"."""
    if _replicas(service) < 1:
        return "exited"
    if any(
        (t.get("Status") or {}).get("State") == "running"
        and t.get("DesiredState") == "running"
        for t in tasks
    ):
        return "running"
    return "restarting"


def _task_summary(task: dict) -> str:
    """ "task failed: task: non-zero exit (3)", "task pending: no suitable node ..."."""
    status = task.get("Status") or {}
    detail = status.get("Err") or status.get("Message") or ""
    exit_code = (status.get("ContainerStatus") or {}).get("ExitCode")
    if not status.get("Err") and exit_code:
        detail = f"exit code {exit_code}"
    return f"task {status.get('State', 'unknown')}: {detail}".rstrip(": ")


def _nanoseconds(timestamp: str | None) -> int:
    """An RFC 3339 timestamp with up to nanosecond precision (as Swarm writes them) as
    nanoseconds since the epoch; 0 when missing or unreadable."""
    match = _TIMESTAMP_RE.match(timestamp or "")
    if not match:
        return 0
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    try:
        seconds = int(datetime.fromisoformat(match.group(1) + zone).timestamp())
    except ValueError:
        return 0
    fraction = (match.group(2) or "").ljust(9, "0")[:9]
    return seconds * 10**9 + int(fraction)


def _parse_port_range(value: str | None) -> tuple[int, int]:
    if not value:
        return DEFAULT_PORT_RANGE
    match = re.fullmatch(r"\s*(\d{1,5})\s*-\s*(\d{1,5})\s*", value)
    if not match:
        raise ValueError(
            "LUMBUNG_SWARM_PORTS must be a range of ports such as 20000-29999"
        )
    return int(match.group(1)), int(match.group(2))
