"""The lumbung.yaml schema: what it accepts, and a field-level error for what it refuses."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from catalog.manifest import CAPABILITY_ALLOWLIST, ManifestError, load_manifest, parse_memory, validate_manifest
from tests.conftest import manifest_doc


def errors_of(doc: Any) -> dict[str, str]:
    with pytest.raises(ManifestError) as caught:
        validate_manifest(doc)
    return {e["field"]: e["message"] for e in caught.value.errors}


def test_a_complete_manifest_is_normalised() -> None:
    manifest = validate_manifest(manifest_doc())
    assert manifest.resources.memory == 64 * 1024 * 1024
    assert manifest.container.health_check.path == "/healthz"
    assert manifest.catalog.summary.en == "Online licensing"
    assert manifest.env[1].generate and manifest.env[1].secret
    doc = manifest.to_document()
    assert validate_manifest(doc) == manifest  # the stored form validates again


def test_plain_strings_are_indonesian_text() -> None:
    doc = manifest_doc()
    doc["catalog"]["summary"] = "Layanan perizinan"
    assert validate_manifest(doc).catalog.summary.id == "Layanan perizinan"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"slug": "Bad Slug"}, "slug"),
        ({"version": "v1.0.0"}, "version"),
        ({"version": "1.0"}, "version"),
        ({"container": {"port": 0}}, "container.port"),
        ({"container": {"port": 8080, "health_check": "healthz"}}, "container.health_check.path"),
        ({"resources": {"memory": "lots"}}, "resources.memory"),
        ({"resources": {"memory": "1Mi"}}, "resources.memory"),
        ({"resources": {"cpu": 0}}, "resources.cpu"),
        ({"resources": {"memory": "64Mi", "min_memory": "1Gi"}}, "resources"),
        ({"capabilities": ["SYS_ADMIN"]}, "capabilities"),
        ({"writable_paths": ["relative/path"]}, "writable_paths"),
        ({"writable_paths": ["/data/../etc"]}, "writable_paths"),
        ({"volumes": [{"path": "/proc/self"}]}, "volumes[0].path"),
        ({"volumes": [{"path": "/data"}, {"path": "/data"}]}, "manifest"),
        ({"env": [{"name": "lower"}]}, "env[0].name"),
        ({"env": [{"name": "LUMBUNG_X"}]}, "env[0].name"),
        ({"env": [{"name": "A", "pattern": "("}]}, "env[0].pattern"),
        ({"env": [{"name": "A", "pattern": "^[0-9]+$", "default": "abc"}]}, "env[0]"),
        ({"env": [{"name": "A", "secret": True, "default": "hunter2"}]}, "env[0]"),
        ({"env": [{"name": "A"}, {"name": "A"}]}, "manifest"),
        ({"compatibility": {"lumbung": ">=1"}}, "compatibility.lumbung"),
        ({"unknown_thing": 1}, "unknown_thing"),
    ],
)
def test_each_rule_names_its_field(change: dict[str, Any], field: str) -> None:
    doc = manifest_doc()
    doc.update(change)
    errors = errors_of(doc)
    assert field in errors, errors


@pytest.mark.parametrize("key", ["privileged", "binds", "devices", "network_mode", "pid_mode", "cap_add", "security_opt"])
def test_docker_host_configuration_is_refused_with_a_reason(key: str) -> None:
    doc = manifest_doc()
    doc["container"] = {**doc["container"], key: True}
    doc[key] = True
    errors = errors_of(doc)
    assert errors[key] == "Docker host configuration is not allowed in a manifest"
    assert errors[f"container.{key}"] == "Docker host configuration is not allowed in a manifest"


def test_catalog_metadata_rules() -> None:
    doc = manifest_doc()
    doc["catalog"] = {**doc["catalog"], "category": "games", "license": "Not-A-License", "tags": ["Bad Tag"]}
    errors = errors_of(doc)
    assert "unknown SPBE category" in errors["catalog.category"]
    assert "SPDX" in errors["catalog.license"]
    assert "catalog.tags[0]" in errors


def test_every_error_is_reported_at_once() -> None:
    doc = manifest_doc(version="nope", container={"port": -1})
    doc["capabilities"] = ["NET_ADMIN"]
    assert {"version", "container.port", "capabilities"} <= set(errors_of(doc))


def test_allowlisted_capabilities_are_normalised() -> None:
    doc = manifest_doc(capabilities=["cap_net_bind_service", "CHOWN", "CHOWN"])
    assert validate_manifest(doc).capabilities == ["CHOWN", "NET_BIND_SERVICE"]
    assert "SYS_ADMIN" not in CAPABILITY_ALLOWLIST


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("slug: [unclosed", "not valid YAML"),
        ("- a list\n- not a mapping", "must be a YAML mapping"),
        ("", "must be a YAML mapping"),
        (b"\xff\xfe", "not UTF-8"),
        ("!!python/object/apply:os.system ['true']", "not valid YAML"),
    ],
)
def test_unparseable_documents(text: str | bytes, message: str) -> None:
    with pytest.raises(ManifestError) as caught:
        load_manifest(text)
    assert message in caught.value.errors[0]["message"]


def test_oversized_manifest() -> None:
    with pytest.raises(ManifestError, match="256 KiB"):
        load_manifest(b"a: " + b"x" * 300_000)


def test_yaml_round_trip_of_example_text() -> None:
    text = yaml.safe_dump(manifest_doc(), allow_unicode=True)
    assert load_manifest(text).slug == "e-perizinan"


@pytest.mark.parametrize(("value", "expected"), [("64Mi", 64 * 2**20), ("1Gi", 2**30), ("500M", 500 * 10**6), (8 * 2**20, 8 * 2**20)])
def test_memory_sizes(value: str | int, expected: int) -> None:
    assert parse_memory(value) == expected
