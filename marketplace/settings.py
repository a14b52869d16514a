"""One settings object, read from the environment once and cached.

Every variable is documented in README.md ("Settings").
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A setting in the environment has a value that cannot be used."""


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from exc
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {value}")
    return value


def _rate(name: str, default: str) -> str:
    from limits import parse

    raw = os.environ.get(name) or default
    try:
        parse(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a rate such as 20/minute, got {raw!r}") from exc
    return raw


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    secret_key: str
    search_backend: str
    search_index_path: Path
    meili_url: str
    meili_api_key: str
    meili_index: str
    bundle_dir: Path
    max_bundle_bytes: int
    max_bundle_members: int
    max_bundle_unpacked_bytes: int
    host: str
    port: int
    base_url: str
    default_locale: str
    session_ttl_seconds: int
    secure_cookies: bool
    login_rate: str
    run_jobs: bool
    reconcile_seconds: int
    remove_orphans: bool
    snapshot_dir: Path
    retention_days: int
    job_stale_seconds: int
    container_engine: str
    debug: bool
    templates_dir: Path = field(default=ROOT / "templates")
    static_dir: Path = field(default=ROOT / "marketplace" / "static")
    # /metrics answers only requests bearing this token; empty turns /metrics off.
    metrics_token: str = ""
    # Statistics are kept per filter until the events or the catalog change; false computes every time.
    stats_cache: bool = True

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://"))

    @property
    def sqlite_path(self) -> Path:
        if self.is_postgres:
            raise SettingsError("the database is PostgreSQL, not SQLite")
        url = self.database_url
        if url.startswith("sqlite:///"):
            return Path(url.removeprefix("sqlite:///"))
        raise SettingsError(f"DATABASE_URL must start with sqlite:/// or postgresql://, got {url!r}")


def _load_secret(data_dir: Path) -> str:
    """The signing key: from the environment, else made once and kept in the data directory."""
    env = os.environ.get("LUMBUNG_SECRET_KEY")
    if env:
        if len(env) < 32:
            raise SettingsError("LUMBUNG_SECRET_KEY must be at least 32 characters")
        return env
    key_file = data_dir / "secret.key"
    if key_file.exists():
        return key_file.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def load_settings() -> Settings:
    """Build settings from the environment (no caching; see :func:`get_settings`)."""
    data_dir = Path(os.environ.get("LUMBUNG_DATA_DIR", str(ROOT / "data"))).resolve()
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{data_dir / 'lumbung.sqlite'}"
    if not database_url.startswith(("sqlite:///", "postgres://", "postgresql://")):
        raise SettingsError(f"DATABASE_URL must start with sqlite:/// or postgresql://, got {database_url!r}")
    search_backend = os.environ.get("LUMBUNG_SEARCH", "embedded").strip().lower()
    meili_url = os.environ.get("MEILI_URL", "")
    if search_backend not in {"embedded", "meilisearch"}:
        raise SettingsError(f"LUMBUNG_SEARCH must be 'embedded' or 'meilisearch', got {search_backend!r}")
    if search_backend == "meilisearch" and not meili_url:
        raise SettingsError("LUMBUNG_SEARCH=meilisearch needs MEILI_URL")
    locale = os.environ.get("LUMBUNG_LOCALE", "id")
    if locale not in {"id", "en"}:
        raise SettingsError(f"LUMBUNG_LOCALE must be 'id' or 'en', got {locale!r}")
    host = os.environ.get("LUMBUNG_HOST", "127.0.0.1")
    port = _int("LUMBUNG_PORT", 8000)
    instance = os.environ.get("LUMBUNG_INSTANCE") or "lumbung"
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,18}[a-z0-9]", instance):
        raise SettingsError(
            f"LUMBUNG_INSTANCE must be 2-20 lowercase letters, digits and dashes, starting with a letter; got {instance!r}"
        )
    container_engine = os.environ.get("LUMBUNG_ENGINE", "docker").strip().lower()
    if container_engine not in {"docker", "swarm"}:
        raise SettingsError(f"LUMBUNG_ENGINE must be 'docker' or 'swarm', got {container_engine!r}")
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        secret_key=_load_secret(data_dir),
        search_backend=search_backend,
        search_index_path=Path(os.environ.get("LUMBUNG_SEARCH_INDEX", str(data_dir / "search.sqlite"))),
        meili_url=meili_url,
        meili_api_key=os.environ.get("MEILI_API_KEY", ""),
        meili_index=os.environ.get("MEILI_INDEX", "lumbung-apps"),
        bundle_dir=Path(os.environ.get("LUMBUNG_BUNDLE_DIR", str(data_dir / "bundles"))),
        max_bundle_bytes=_int("LUMBUNG_MAX_BUNDLE_BYTES", 200 * 1024 * 1024),
        max_bundle_members=_int("LUMBUNG_MAX_BUNDLE_MEMBERS", 10_000),
        max_bundle_unpacked_bytes=_int("LUMBUNG_MAX_BUNDLE_UNPACKED_BYTES", 1024 * 1024 * 1024),
        host=host,
        port=port,
        base_url=os.environ.get("LUMBUNG_BASE_URL", f"http://{host}:{port}").rstrip("/"),
        default_locale=locale,
        session_ttl_seconds=_int("LUMBUNG_SESSION_TTL", 12 * 3600),
        secure_cookies=_bool("LUMBUNG_SECURE_COOKIES", False),
        login_rate=_rate("LUMBUNG_LOGIN_RATE", "20/minute"),
        run_jobs=_bool("LUMBUNG_RUN_JOBS", True),
        reconcile_seconds=_int("LUMBUNG_RECONCILE_SECONDS", 60),
        remove_orphans=_bool("LUMBUNG_REMOVE_ORPHANS", False),
        snapshot_dir=Path(os.environ.get("LUMBUNG_SNAPSHOT_DIR", str(data_dir / "snapshots"))),
        retention_days=_int("LUMBUNG_RETENTION_DAYS", 30),
        job_stale_seconds=_int("LUMBUNG_JOB_STALE_SECONDS", 60),
        container_engine=container_engine,
        debug=_bool("LUMBUNG_DEBUG", False),
        metrics_token=os.environ.get("LUMBUNG_METRICS_TOKEN", "").strip(),
        stats_cache=_bool("LUMBUNG_STATS_CACHE", True),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
