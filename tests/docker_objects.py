"""Removing what a test made on the shared Docker engine, and nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provisioning.engine import LABEL_INSTALLATION, LABEL_INSTANCE, LABEL_MANAGED, LABEL_TENANT, instance_name


def of_installation(installation_id: int) -> dict[str, list[str]]:
    """A filter for the Docker objects of one installation of this test run."""
    return {"label": [f"{LABEL_INSTALLATION}={int(installation_id)}", f"{LABEL_INSTANCE}={instance_name()}"]}


def remove_tenant_objects(client: Any, ours: Callable[[str], bool]) -> None:
    """Containers, networks and volumes with Lumbung's labels whose tenant `ours` accepts."""
    managed = {"label": [f"{LABEL_MANAGED}=true"]}
    for container in client.containers.list(all=True, filters=managed):
        if ours((container.labels or {}).get(LABEL_TENANT, "")):
            container.remove(force=True, v=True)
    for network in client.networks.list(filters=managed):
        if ours((network.attrs.get("Labels") or {}).get(LABEL_TENANT, "")):
            network.remove()
    for volume in client.volumes.list(filters=managed):
        if ours((volume.attrs.get("Labels") or {}).get(LABEL_TENANT, "")):
            volume.remove(force=True)
