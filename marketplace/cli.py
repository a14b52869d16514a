"""The `marketplace` command line."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import click
import httpx
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from marketplace.settings import SettingsError
from tenants.principal import SCOPES

console = Console(stderr=True)


def run(coro_fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any, **kwargs: Any) -> Any:
    """Run one coroutine with the database pool opened and closed around it."""

    async def main() -> Any:
        from marketplace.db import engine

        db = engine()
        if db.engine_type == "postgres":
            await db.start_connection_pool()
        try:
            return await coro_fn(*args, **kwargs)
        finally:
            if db.engine_type == "postgres":
                await db.close_connection_pool()
            elif hasattr(db, "close_idle_connections"):
                await db.close_idle_connections()

    return asyncio.run(main())


class CliError(click.ClickException):
    def show(self, file: Any = None) -> None:
        console.print(f"[red]error:[/red] {self.message}", soft_wrap=True, highlight=False)


def _domain_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn domain and settings errors into a clean message and exit code 1."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from marketplace.errors import DomainError

        try:
            return fn(*args, **kwargs)
        except DomainError as exc:
            details = "".join(f"\n  {e['field']}: {e['message']}" for e in exc.errors)
            raise CliError(f"{exc.message}{details}") from None
        except SettingsError as exc:
            raise CliError(str(exc)) from None

    return wrapper


@click.group()
@click.version_option(package_name="lumbung")
def main() -> None:
    """Lumbung: share proven e-government apps between Indonesia's regions."""


@main.command()
@_domain_errors
def migrate() -> None:
    """Create or update the database schema."""
    from marketplace.db import migrate as run_migrations

    run(run_migrations)
    console.print("[green]database is up to date[/green]")


@main.command()
@click.option("--host", default=None, help="Address to listen on (default LUMBUNG_HOST or 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default LUMBUNG_PORT or 8000).")
@click.option("--migrate/--no-migrate", "do_migrate", default=True, help="Run pending migrations first.")
@_domain_errors
def serve(host: str | None, port: int | None, do_migrate: bool) -> None:
    """Run the web server."""
    import uvicorn

    from marketplace.settings import get_settings

    settings = get_settings()
    if do_migrate:
        from marketplace.db import migrate as run_migrations

        run(run_migrations)
    console.print(f"Lumbung at [bold]http://{host or settings.host}:{port or settings.port}[/bold]")
    uvicorn.run(
        "marketplace.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        proxy_headers=True,
        log_level="info",
    )


@main.command("seed-demo")
@click.option("--examples", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None)
@_domain_errors
def seed_demo(examples: Path | None) -> None:
    """Load the demo catalog: regions, users and the sample apps in examples/apps."""
    from marketplace.demo import seed

    report = run(seed, examples, console)
    console.print(
        f"[green]demo ready[/green]: {report['tenants']} tenants, {report['users']} users, "
        f"{report['versions_added']} versions added ({report['versions_total']} in all)"
    )


@main.command()
@click.option("--remove-orphans", is_flag=True, help="Also remove labelled objects no installation owns.")
@_domain_errors
def reconcile(remove_orphans: bool) -> None:
    """Compare installations with the container engine once and put right what drifted."""

    async def go() -> Any:
        from marketplace.app import build_engine
        from marketplace.settings import get_settings
        from provisioning.config import ConfigCipher
        from provisioning.reconciler import Reconciler
        from provisioning.services import ProvisioningService

        settings = get_settings()
        async with build_engine(settings) as engine:
            service = ProvisioningService(ConfigCipher(settings.secret_key), engine)
            return await Reconciler(
                engine, remove_orphans=remove_orphans, policies=service.apply_update_policies
            ).run_once()

    report = run(go)
    if not report.engine_available:
        raise CliError("the container engine cannot be reached: installations are marked unknown")
    console.print(
        f"restore jobs queued {report.restore_jobs}, started {report.started}, stopped {report.stopped}, "
        f"orphans {report.orphans}, removed {report.removed_orphans}, "
        f"retention ended (purge jobs) {report.expired}, upgrades queued by update policies {report.upgrade_jobs}"
    )


@main.command("seed-tenants")
@_domain_errors
def seed_tenants() -> None:
    """Register every province, regency and city (Kemendagri codes) and the ministry as tenants."""

    async def go() -> int:
        from marketplace.db import migrate as run_migrations
        from tenants.services import seed_regions

        await run_migrations()
        return await seed_regions()

    console.print(f"[green]{run(go)} tenants added[/green]")


@main.command()
@click.option("--clear", is_flag=True, help="Empty the index first (searches see an empty catalog meanwhile).")
@_domain_errors
def reindex(clear: bool) -> None:
    """Rebuild the search index from the database."""

    async def go() -> int:
        from marketplace.app import build_catalog_service
        from marketplace.settings import get_settings

        service = build_catalog_service(get_settings())
        try:
            return await service.reindex(clear=clear)
        finally:
            await service.search.close()

    count = run(go)
    console.print(f"[green]indexed {count} apps[/green]")


@main.command("create-tenant")
@click.argument("slug")
@click.option("--name", required=True, help="Official name, e.g. Pemerintah Kabupaten Paser.")
@click.option("--kind", type=click.Choice(["provinsi", "kabupaten", "kota", "kementerian"]), required=True)
@click.option("--province", default="", help="The province it lies in.")
@click.option("--code", "region_code", default=None, help="Kemendagri region code, e.g. 64.01.")
@click.option("--email", default="", help="Contact address.")
@click.option("--publishes", is_flag=True, help="The tenant publishes apps.")
@_domain_errors
def create_tenant(
    slug: str, name: str, kind: str, province: str, region_code: str | None, email: str, publishes: bool
) -> None:
    """Register a regional government or ministry as a tenant."""
    from tenants.services import register_tenant

    run(
        register_tenant,
        slug,
        name,
        kind,
        province=province,
        region_code=region_code,
        contact_email=email,
        publishes=publishes,
    )
    console.print(f"[green]tenant {slug} is registered[/green]")


@main.command("create-user")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, help="At least 10 characters.")
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--email", default="")
@click.option("--tenant", "tenant_slug", default=None, help="Tenant slug to join.")
@click.option("--role", type=click.Choice(["admin", "operator", "viewer"]), default="viewer", show_default=True)
@click.option("--curator", is_flag=True, help="Give the platform curator role.")
@click.option("--platform-admin", is_flag=True, help="Give the platform admin role.")
@_domain_errors
def create_user(
    username: str,
    password: str,
    display_name: str,
    email: str,
    tenant_slug: str | None,
    role: str,
    curator: bool,
    platform_admin: bool,
) -> None:
    """Create a local account, optionally in a tenant with a role."""

    async def go() -> None:
        from marketplace.errors import NotFound
        from tenants.identity import add_membership, create_user as make_user
        from tenants.tables import Tenant

        tenant = None
        if tenant_slug:
            tenant = await Tenant.objects().where(Tenant.slug == tenant_slug).first()
            if tenant is None:
                raise NotFound(f"no tenant {tenant_slug!r}")
        user = await make_user(
            username,
            password,
            display_name=display_name,
            email=email,
            is_curator=curator,
            is_platform_admin=platform_admin,
        )
        if tenant is not None:
            await add_membership(user, tenant, role)

    run(go)
    console.print(f"[green]created user {username}[/green]")


@main.command("link-sso")
@click.argument("username")
@click.option("--subject", required=True, help="The user's subject (sub claim) at the identity provider.")
@click.option("--issuer", default=None, help="The provider (default LUMBUNG_OIDC_ISSUER).")
@_domain_errors
def link_sso(username: str, subject: str, issuer: str | None) -> None:
    """Let an existing account sign in through single sign-on as the given provider user."""

    async def go() -> None:
        from marketplace.errors import NotFound, ValidationFailed
        from tenants.oidc import OidcSettings
        from tenants.tables import User

        chosen = issuer or OidcSettings.from_env().issuer
        if not chosen:
            raise ValidationFailed("no issuer", errors=[{"field": "issuer", "message": "set --issuer or LUMBUNG_OIDC_ISSUER"}])
        if not await User.exists().where(User.username == username):
            raise NotFound(f"no user {username!r}")
        await User.update({User.sso_issuer: chosen, User.sso_subject: subject}).where(User.username == username)

    run(go)
    console.print(f"[green]{username} signs in through {issuer or 'the configured provider'} as {subject}[/green]")


@main.command("create-token")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for, e.g. ci-surabaya.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(sorted(SCOPES)),
)
@click.option("--tenant", "tenant_slug", default=None, help="Limit the token to one of the user's tenants.")
@click.option("--days", default=90, show_default=True, type=click.IntRange(1, 730))
@_domain_errors
def create_token(username: str, name: str, scopes: tuple[str, ...], tenant_slug: str | None, days: int) -> None:
    """Issue an API token for a user and print it (it is shown only once)."""

    async def go() -> str:
        from marketplace.errors import NotFound
        from tenants.identity import issue_token
        from tenants.tables import Tenant, User

        user = await User.objects().where(User.username == username).first()
        if user is None:
            raise NotFound(f"no user {username!r}")
        tenant_id = None
        if tenant_slug:
            tenant = await Tenant.select(Tenant.id).where(Tenant.slug == tenant_slug).first()
            if tenant is None:
                raise NotFound(f"no tenant {tenant_slug!r}")
            tenant_id = tenant["id"]
        issued = await issue_token(user.id, name, list(scopes), tenant_id=tenant_id, expires_in_days=days)
        return issued.secret

    click.echo(run(go))


@main.command("revoke-token")
@click.argument("username")
@click.argument("prefix")
@_domain_errors
def revoke_token(username: str, prefix: str) -> None:
    """Revoke a user's API token, named by the start of its value (e.g. lmb_AbC123)."""

    async def go() -> int:
        from marketplace.errors import NotFound
        from tenants.identity import revoke_token as revoke
        from tenants.tables import ApiToken, User

        user = await User.select(User.id).where(User.username == username).first()
        if user is None:
            raise NotFound(f"no user {username!r}")
        rows = await ApiToken.select(ApiToken.id).where(
            (ApiToken.user == user["id"]) & (ApiToken.prefix == prefix[:16]) & ApiToken.revoked_at.is_null()
        )
        if len(rows) != 1:
            raise NotFound(f"{username} has no single active token starting with {prefix!r}")
        await revoke(user["id"], rows[0]["id"])
        return rows[0]["id"]

    run(go)
    console.print(f"[green]revoked {prefix}[/green]")


@main.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--url", envvar="LUMBUNG_URL", default="http://127.0.0.1:8000", show_default=True)
@click.option("--token", envvar="LUMBUNG_TOKEN", required=True, help="An API token with apps:publish (or LUMBUNG_TOKEN).")
@click.option("--tenant", "tenant_slug", default=None, help="Publishing tenant, when you publish for several.")
@click.option("--changelog", "changelog_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Markdown changelog (default: CHANGELOG.md in DIRECTORY).")
@click.option("--busybox", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Add this static busybox binary to the bundle as bin/busybox.")
def publish(
    directory: Path,
    url: str,
    token: str,
    tenant_slug: str | None,
    changelog_file: Path | None,
    busybox: Path | None,
) -> None:
    """Pack DIRECTORY (lumbung.yaml, Dockerfile, build context) and submit it for review."""
    from catalog.bundles import pack_directory
    from catalog.manifest import MANIFEST_FILENAME, ManifestError, load_manifest

    manifest_path = directory / MANIFEST_FILENAME
    if not manifest_path.is_file():
        raise CliError(f"{directory} has no {MANIFEST_FILENAME}")
    try:
        manifest = load_manifest(manifest_path.read_bytes())
    except ManifestError as exc:
        raise CliError("lumbung.yaml is not valid:" + "".join(f"\n  {e['field']}: {e['message']}" for e in exc.errors))
    changelog_path = changelog_file or (directory / "CHANGELOG.md")
    changelog = changelog_path.read_text(encoding="utf-8") if changelog_path.is_file() else ""
    with tempfile.TemporaryDirectory(prefix="lumbung-publish-") as tmp:
        bundle = Path(tmp) / f"{manifest.slug}-{manifest.version}.tar.gz"
        console.print(f"packing {directory} → {bundle.name}")
        pack_directory(directory, bundle, extra_files={"bin/busybox": busybox} if busybox else {})
        size = bundle.stat().st_size
        endpoint = f"{url.rstrip('/')}/api/v1/apps/{manifest.slug}/versions"
        with Progress(
            TextColumn("uploading"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=console
        ) as progress:
            task = progress.add_task("upload", total=size)

            def chunks() -> Any:
                with bundle.open("rb") as fh:
                    while chunk := fh.read(256 * 1024):
                        progress.update(task, advance=len(chunk))
                        yield chunk

            response = _upload(endpoint, token, bundle, chunks, manifest.version, changelog, tenant_slug)
    _report(response, manifest.slug, manifest.version)


_SERVER_OPTIONS = [
    click.option("--url", envvar="LUMBUNG_URL", default="http://127.0.0.1:8000", show_default=True),
    click.option("--token", envvar="LUMBUNG_TOKEN", required=True, help="An API token with installations:write."),
    click.option("--timeout", default=600, show_default=True, help="Seconds to wait for the job."),
]


def _server_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_SERVER_OPTIONS):
        fn = option(fn)
    return fn


@main.command()
@click.argument("app")
@click.option("--tenant", "tenant_slug", required=True, help="The adopting tenant, e.g. kabupaten-paser.")
@click.option("--version", "version", required=True, help="An approved version, e.g. 1.2.0.")
@click.option("--set", "settings_", multiple=True, metavar="KEY=VALUE", help="A configuration value (repeatable).")
@click.option("--policy", type=click.Choice(["pinned", "auto-patch", "auto-minor"]), default="pinned", show_default=True)
@_server_options
def adopt(app: str, tenant_slug: str, version: str, settings_: tuple[str, ...], policy: str, url: str, token: str, timeout: int) -> None:
    """Adopt APP for a tenant and follow the provisioning job to the end."""
    config = _settings_pairs(settings_)
    headers = {"Authorization": f"Bearer {token}"}
    base = url.rstrip("/")
    try:
        response = httpx.post(
            f"{base}/api/v1/tenants/{tenant_slug}/installations",
            headers=headers,
            json={"app": app, "version": version, "config": config, "update_policy": policy},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach {base}: {exc}") from None
    if response.status_code != 202:
        _report(response, app, version)
    job = _follow_job(base + response.json()["job_url"], headers, timeout)
    if job["state"] == "failed":
        raise CliError(f"provisioning failed: {job['error']}")
    console.print(f"[green]{app} {version} runs for {tenant_slug}[/green] at {job['url']}")
    click.echo(job["url"])


def _settings_pairs(settings_: tuple[str, ...]) -> dict[str, str]:
    config = {}
    for item in settings_:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"--set takes KEY=VALUE, got {item!r}")
        config[key] = value
    return config


def _follow_job(job_url: str, headers: dict[str, str], timeout: int) -> dict[str, Any]:
    """Follow a provisioning job with a progress bar and print its steps; returns the job."""
    import time

    deadline = time.monotonic() + timeout
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"), console=console) as progress:
        task = progress.add_task("queued", total=100)
        while True:
            try:
                job = httpx.get(job_url, headers=headers, timeout=30).json()
            except (httpx.HTTPError, ValueError) as exc:
                raise CliError(f"cannot follow the job: {exc}") from None
            current = next((s for s in job["steps"] if s["state"] in ("running", "failed")), None)
            progress.update(task, completed=job["progress"], description=current["label"] if current else job["state"])
            if job["state"] in ("succeeded", "failed"):
                break
            if time.monotonic() > deadline:
                raise CliError(f"the job is still {job['state']} after {timeout} s; follow it at {job_url}")
            time.sleep(0.5)
    for step in job["steps"]:
        mark = {"done": "[green]✓[/green]", "failed": "[red]✗[/red]"}.get(step["state"], "·")
        console.print(f" {mark} {step['label']}" + (f"  [dim]{step['detail']}[/dim]" if step["detail"] else ""))
    return job


def _installation_call(method: str, url: str, token: str, path: str, body: dict[str, Any] | None) -> tuple[str, dict[str, str], httpx.Response]:
    headers = {"Authorization": f"Bearer {token}"}
    base = url.rstrip("/")
    try:
        response = httpx.request(method, f"{base}/api/v1/installations/{path}", headers=headers, json=body, timeout=30)
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach {base}: {exc}") from None
    if response.status_code >= 400:
        _report_problem(response)
    return base, headers, response


@main.command()
@click.argument("installation", type=int)
@click.option("--version", "version", required=True, help="The approved version to move to, e.g. 1.3.0.")
@click.option("--set", "settings_", multiple=True, metavar="KEY=VALUE", help="A setting to change on the way (repeatable).")
@_server_options
def upgrade(installation: int, version: str, settings_: tuple[str, ...], url: str, token: str, timeout: int) -> None:
    """Move INSTALLATION (its id) to another approved version, keeping its data.

    The data volumes are snapshotted first; if the new version fails its health check the
    previous version comes back with its data, and the command fails."""
    base, headers, response = _installation_call(
        "POST", url, token, f"{installation}/upgrade", {"version": version, "config": _settings_pairs(settings_)}
    )
    job = _follow_job(base + response.json()["job_url"], headers, timeout)
    if job["state"] == "failed":
        raise CliError(f"the upgrade failed: {job['error']}")
    console.print(f"[green]installation {installation} runs {version}[/green] at {job['url']}")


@main.command()
@click.argument("installation", type=int)
@_server_options
def rollback(installation: int, url: str, token: str, timeout: int) -> None:
    """Return INSTALLATION to the version before its last upgrade, with the data as it was then."""
    base, headers, response = _installation_call("POST", url, token, f"{installation}/rollback", None)
    job = _follow_job(base + response.json()["job_url"], headers, timeout)
    if job["state"] == "failed":
        raise CliError(f"the rollback failed: {job['error']}")
    console.print(f"[green]installation {installation} rolled back[/green] at {job['url']}")


@main.command()
@click.argument("installation", type=int)
@click.option("--set", "settings_", multiple=True, metavar="KEY=VALUE", help="A setting to change (repeatable).")
@click.option("--policy", type=click.Choice(["pinned", "auto-patch", "auto-minor"]), default=None,
              help="The update policy.")
@_server_options
def configure(installation: int, settings_: tuple[str, ...], policy: str | None, url: str, token: str, timeout: int) -> None:
    """Change INSTALLATION's settings (the container is recreated) or its update policy."""
    body: dict[str, Any] = {}
    if settings_:
        body["config"] = _settings_pairs(settings_)
    if policy:
        body["update_policy"] = policy
    if not body:
        raise CliError("give --set KEY=VALUE or --policy")
    base, headers, response = _installation_call("PATCH", url, token, str(installation), body)
    if "job_url" in response.json():
        job = _follow_job(base + response.json()["job_url"], headers, timeout)
        if job["state"] == "failed":
            raise CliError(f"the new settings were not applied: {job['error']}")
    console.print(f"[green]installation {installation} updated[/green]")


def _upload(
    endpoint: str,
    token: str,
    bundle: Path,
    chunks: Callable[[], Any],
    version: str,
    changelog: str,
    tenant_slug: str | None,
) -> httpx.Response:
    data = {"version": version, "changelog": changelog}
    if tenant_slug:
        data["tenant"] = tenant_slug

    class Reader:
        """A file-like view over the chunks, so httpx streams the upload with progress."""

        def __init__(self) -> None:
            self._iter = chunks()
            self._buffer = b""

        def read(self, size: int = -1) -> bytes:
            while size < 0 or len(self._buffer) < size:
                try:
                    self._buffer += next(self._iter)
                except StopIteration:
                    break
            if size < 0:
                out, self._buffer = self._buffer, b""
            else:
                out, self._buffer = self._buffer[:size], self._buffer[size:]
            return out

    try:
        return httpx.post(
            endpoint,
            headers={"Authorization": f"Bearer {token}"},
            data=data,
            files={"bundle": (bundle.name, Reader(), "application/gzip")},
            timeout=httpx.Timeout(30.0, read=600.0, write=600.0),
        )
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach {endpoint}: {exc}") from None


def _report(response: httpx.Response, slug: str, version: str) -> None:
    if response.status_code == 201:
        console.print(f"[green]submitted {slug} {version}[/green]: waiting for a curator's review")
        click.echo(json.dumps(response.json(), indent=2, ensure_ascii=False))
        return
    _report_problem(response)


def _report_problem(response: httpx.Response) -> None:
    """Raise CliError with the marketplace's message and its per-field errors."""
    try:
        body = response.json()
    except (json.JSONDecodeError, ValueError):
        body = {"message": response.text[:500]}
    if not isinstance(body, dict):
        body = {"message": str(body)[:500]}
    details = "".join(f"\n  {e.get('field')}: {e.get('message')}" for e in body.get("errors", []))
    raise CliError(f"the marketplace refused ({response.status_code}): {body.get('message', '')}{details}")


if __name__ == "__main__":
    sys.exit(main())
