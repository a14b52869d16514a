"""The demo catalog's sample bundles in examples/apps, which `marketplace seed-demo` loads.

Every version directory is a bundle Lumbung accepts and can run: its manifest validates and
matches the directory it sits in, its build context is complete and needs no registry, and
together the apps form a catalog broad enough to show search, facets and upgrades.
"""

from __future__ import annotations

import html
import re
import secrets
import shutil
import time
import uuid

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from catalog.categories import CATEGORIES
from catalog.manifest import MANIFEST_FILENAME, Manifest, load_manifest
from catalog.versions import is_prerelease, parse_version
from tests.conftest import need

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
APPS = EXAMPLES / "apps"
BUSYBOX = Path("/bin/busybox")
NON_ROOT = "65534:65534"

APP_DIRS = sorted(d for d in APPS.iterdir() if d.is_dir())
VERSION_DIRS = [v for app in APP_DIRS for v in sorted(p for p in app.iterdir() if p.is_dir())]

# The sample the Docker test runs, and values for its required settings.
RUN_SAMPLE = "aduan-warga"
SAMPLE_VALUES = {"NAMA_PEMDA": "Pemerintah Kabupaten Paser"}


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _manifest(version_dir: Path) -> Manifest:
    return load_manifest((version_dir / MANIFEST_FILENAME).read_bytes())


def _publishers() -> list[dict[str, Any]]:
    return yaml.safe_load((EXAMPLES / "publishers.yaml").read_text(encoding="utf-8"))


def _publisher_of(app_dir: Path) -> str:
    return yaml.safe_load((app_dir / "app.yaml").read_text(encoding="utf-8"))["publisher"]


def _versions(app_dir: Path) -> list[Path]:
    return sorted((v for v in VERSION_DIRS if v.parent == app_dir), key=lambda v: parse_version(v.name))


# --------------------------------------------------------------------------- each bundle


@pytest.mark.parametrize("version_dir", VERSION_DIRS, ids=_id)
def test_manifest_validates_and_matches_its_directory(version_dir: Path) -> None:
    manifest = _manifest(version_dir)

    assert manifest.slug == version_dir.parent.name
    assert manifest.version == version_dir.name
    assert manifest.catalog.summary.en and manifest.catalog.description and manifest.catalog.description.en
    assert manifest.catalog.name_en


@pytest.mark.parametrize("version_dir", VERSION_DIRS, ids=_id)
def test_bundle_is_complete(version_dir: Path) -> None:
    manifest = _manifest(version_dir)
    changelog = (version_dir / "CHANGELOG.md").read_text(encoding="utf-8")
    page = (version_dir / "www" / "index.html").read_text(encoding="utf-8")

    assert (version_dir / "Dockerfile").is_file()
    assert f"## {manifest.version} " in changelog
    assert (version_dir / "www" / "healthz").read_text(encoding="utf-8").strip() == "ok"
    assert html.escape(manifest.name) in page and manifest.version in page
    for script in (version_dir / "www" / "cgi-bin").glob("*"):
        assert script.stat().st_mode & 0o111, f"{script} must be executable"
        assert script.read_text(encoding="utf-8").startswith("#!/bin/busybox sh\n")


@pytest.mark.parametrize("version_dir", VERSION_DIRS, ids=_id)
def test_bundle_builds_without_a_registry_and_runs_unprivileged(version_dir: Path) -> None:
    manifest = _manifest(version_dir)
    instructions = [
        line.split(None, 1)
        for line in (version_dir / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith(("#", " "))
    ]
    by_keyword: dict[str, list[str]] = {}
    for keyword, *rest in instructions:
        by_keyword.setdefault(keyword.upper(), []).append(rest[0] if rest else "")

    assert by_keyword["FROM"] == ["scratch"]
    assert "bin/busybox /bin/busybox" in by_keyword["COPY"]
    assert by_keyword["USER"] == [NON_ROOT]
    assert by_keyword["EXPOSE"] == [str(manifest.container.port)]
    assert manifest.container.health_check.path == "/healthz"
    assert manifest.capabilities == []
    assert manifest.writable_paths == ["/tmp"]


# --------------------------------------------------------------------------- the catalog


@pytest.mark.parametrize("app_dir", APP_DIRS, ids=lambda p: p.name)
def test_app_has_a_known_publisher_and_a_version_history(app_dir: Path) -> None:
    manifests = [_manifest(v) for v in _versions(app_dir)]

    assert _publisher_of(app_dir) in {p["slug"] for p in _publishers()}
    assert len(manifests) >= 2
    assert len({m.catalog.category for m in manifests}) == 1, "an app keeps its category across versions"


def test_catalog_is_broad_enough_to_demonstrate() -> None:
    manifests = [_manifest(v) for v in VERSION_DIRS]
    categories = {m.catalog.category for m in manifests}
    publishers = {_publisher_of(a) for a in APP_DIRS}

    assert len(APP_DIRS) >= 12
    assert len(publishers) >= 6
    assert len(categories) >= 8 and categories <= set(CATEGORIES)
    assert any(is_prerelease(m.version) for m in manifests)
    assert any(m.catalog.security_fixes for m in manifests)
    assert all(len(_versions(a)) >= 2 for a in APP_DIRS)
    assert max(len(_versions(a)) for a in APP_DIRS) >= 3


@pytest.mark.parametrize("version_dir", VERSION_DIRS, ids=_id)
def test_manifest_shows_each_kind_of_setting(version_dir: Path) -> None:
    """What an adopter's config form is generated from: a default, a required value, a generated secret."""
    env = _manifest(version_dir).env

    assert any(e.default is not None and e.pattern and not e.required for e in env)
    assert any(e.required and not e.secret for e in env)
    assert any(e.secret and e.generate for e in env)
    for e in env:
        if e.default is not None and e.pattern:
            assert re.fullmatch(e.pattern, e.default)


def test_publishers_are_real_regions_with_kemendagri_codes() -> None:
    publishers = _publishers()
    slugs = [p["slug"] for p in publishers]
    provinces: dict[str, set[str]] = {}

    assert len(slugs) == len(set(slugs)) == 8
    for p in publishers:
        assert p["kind"] in {"provinsi", "kabupaten", "kota"}
        assert p["slug"].startswith(p["kind"] + "-")
        assert p["name"].lower().endswith(p["slug"].split("-", 1)[1].replace("-", " "))
        assert isinstance(p["region_code"], str), "quote region codes: 35.10 is not 35.1"
        assert p["contact_email"].endswith(".go.id")
        code = p["region_code"]
        if p["kind"] == "provinsi":
            assert re.fullmatch(r"\d{2}", code)
        else:
            assert re.fullmatch(r"\d{2}\.\d{2}", code)
            # Kemendagri numbers kabupaten from 01 and kota from 71 within a province.
            assert (int(code[3:]) >= 71) == (p["kind"] == "kota")
        provinces.setdefault(p["province"], set()).add(code[:2])
    assert all(len(prefixes) == 1 for prefixes in provinces.values()), provinces


# --------------------------------------------------------------------------- one runs


def _docker_client() -> Any:
    try:
        import docker

        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as exc:  # any failure to reach the engine means "no Docker here"
        need(False, f"no Docker engine answers ({type(exc).__name__}: {exc})")
    return client


def _sample_env(manifest: Manifest) -> dict[str, str]:
    env = {}
    for var in manifest.env:
        if var.generate:
            env[var.name] = secrets.token_urlsafe(32)
        elif var.default is not None:
            env[var.name] = var.default
        elif var.required:
            env[var.name] = SAMPLE_VALUES[var.name]
            assert not var.pattern or re.fullmatch(var.pattern, env[var.name])
    return env


def _host_port(container: Any, port: int) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        container.reload()
        bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp")
        if bindings:
            return bindings[0]["HostPort"]
        time.sleep(0.1)
    raise AssertionError(f"port {port} was never published")


def _wait_for_health(container: Any, url: str, manifest: Manifest) -> str:
    check = manifest.container.health_check
    deadline = time.monotonic() + check.timeout_seconds
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response.text
        except httpx.TransportError:
            pass
        container.reload()
        if container.status in {"exited", "dead"}:
            raise AssertionError(f"the container stopped:\n{container.logs().decode(errors='replace')}")
        time.sleep(min(check.interval_seconds, 0.2))
    raise AssertionError(f"{url} did not answer within {check.timeout_seconds}s")


@pytest.mark.docker
def test_a_sample_builds_and_serves_its_health_check_under_the_hardening(tmp_path: Path) -> None:
    client = _docker_client()
    need(BUSYBOX.is_file(), f"{BUSYBOX} is missing (apt-get install busybox-static)")
    source = _versions(APPS / RUN_SAMPLE)[-1]
    manifest = _manifest(source)
    context = tmp_path / "bundle"
    shutil.copytree(source, context)
    (context / "bin").mkdir()
    shutil.copy2(BUSYBOX, context / "bin" / "busybox")
    env = _sample_env(manifest)
    port = manifest.container.port
    tag = f"lumbung-test/{manifest.slug}:{manifest.version}-{uuid.uuid4().hex[:8]}"

    image = container = None
    try:
        image, _ = client.images.build(path=str(context), tag=tag, rm=True, forcerm=True, pull=False)
        container = client.containers.run(
            tag,
            detach=True,
            read_only=True,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            tmpfs={path: "rw,noexec,nosuid,size=8m" for path in manifest.writable_paths},
            mem_limit=manifest.resources.memory,
            nano_cpus=int(manifest.resources.cpu * 1e9),
            pids_limit=manifest.resources.pids,
            environment=env,
            ports={f"{port}/tcp": ("127.0.0.1", None)},
            labels={"lumbung.test": "examples"},
        )
        base = f"http://127.0.0.1:{_host_port(container, port)}"

        health = _wait_for_health(container, base + manifest.container.health_check.path, manifest)
        page = httpx.get(base + "/", timeout=5).text
        config = httpx.get(base + "/cgi-bin/info", timeout=5).text

        assert health.strip() == "ok"
        assert manifest.version in page
        assert SAMPLE_VALUES["NAMA_PEMDA"] in config
        assert env["APP_KEY"] not in config and "APP_KEY" in config, "secrets are never shown"
        assert container.attrs["Config"]["User"] == NON_ROOT
        assert container.attrs["HostConfig"]["ReadonlyRootfs"] is True
    finally:
        if container is not None:
            container.remove(force=True)
        if image is not None:
            # By tag: the same build context gives the same image id, which other tests
            # may hold under their own tags at the same time.
            client.images.remove(tag, noprune=False)
