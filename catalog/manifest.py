"""The `lumbung.yaml` manifest: its schema and strict validation with field-level errors.

The schema is documented in README.md ("The manifest"). Unknown fields are errors, so a
manifest cannot smuggle Docker host configuration (binds, privileged, devices, host
network) past review.
"""

from __future__ import annotations

import posixpath
import re
from functools import lru_cache
from typing import Annotated, Any, Literal

import yaml
from license_expression import get_spdx_licensing
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from catalog.categories import CATEGORIES
from catalog.versions import InvalidVersion, parse_version

MANIFEST_FILENAME = "lumbung.yaml"
MAX_MANIFEST_BYTES = 256 * 1024

# Capabilities an app may ask for; everything else stays dropped.
CAPABILITY_ALLOWLIST = frozenset(
    {"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "NET_BIND_SERVICE"}
)
# Keys that would reach Docker's host configuration; named so the error says why.
FORBIDDEN_KEYS = frozenset(
    {
        "privileged", "binds", "mounts", "devices", "network_mode", "pid_mode", "ipc_mode",
        "userns_mode", "cap_add", "security_opt", "host_network", "volumes_from", "sysctls",
        "docker_socket", "extra_hosts",
    }
)
FORBIDDEN_PATH_PREFIXES = ("/proc", "/sys", "/dev", "/var/run/docker.sock", "/run/docker.sock")

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]{0,63}$")]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]

_MEMORY_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|K|M|G|KB|MB|GB)?$")
_MEMORY_UNITS = {
    None: 1, "K": 1000, "KB": 1000, "M": 1000**2, "MB": 1000**2, "G": 1000**3, "GB": 1000**3,
    "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3,
}
MIN_MEMORY = 4 * 1024**2
MAX_MEMORY = 64 * 1024**3


class ManifestError(ValueError):
    """A manifest that fails validation; `errors` holds one entry per field."""

    def __init__(self, errors: list[dict[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))


def parse_memory(value: str | int) -> int:
    """'256Mi', '1G', or a byte count, to bytes."""
    if isinstance(value, bool):
        raise ValueError("memory is a size such as 256Mi or 1Gi")
    if isinstance(value, int):
        number = value
    else:
        match = _MEMORY_RE.match(str(value).strip())
        if not match:
            raise ValueError("memory is a size such as 256Mi or 1Gi")
        number = int(float(match.group(1)) * _MEMORY_UNITS[match.group(2)])
    if not MIN_MEMORY <= number <= MAX_MEMORY:
        raise ValueError("memory must be between 4Mi and 64Gi")
    return number


def _check_container_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError("must be an absolute path, for example /data")
    if len(value) > 255 or "\x00" in value:
        raise ValueError("is not a usable path")
    normalised = posixpath.normpath(value)
    if ".." in value.split("/") or normalised != value.rstrip("/") or normalised == "/":
        raise ValueError("must be a normalised path below /, without '..'")
    if any(normalised == p or normalised.startswith(p + "/") for p in FORBIDDEN_PATH_PREFIXES):
        raise ValueError("may not be under /proc, /sys, /dev or the Docker socket")
    return normalised


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=20_000, frozen=True)


class LocalText(Strict):
    """Text in Bahasa Indonesia, with English where there is one."""

    id: Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
    en: str = ""

    @model_validator(mode="before")
    @classmethod
    def _from_plain_string(cls, data: Any) -> Any:
        return {"id": data} if isinstance(data, str) else data


class HealthCheck(Strict):
    path: str = "/"
    interval_seconds: Annotated[float, Field(gt=0, le=60)] = 2
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 60

    @field_validator("path")
    @classmethod
    def _http_path(cls, value: str) -> str:
        if not value.startswith("/") or len(value) > 200 or any(c.isspace() for c in value):
            raise ValueError("must be an HTTP path starting with /, for example /healthz")
        return value


class Container(Strict):
    port: Annotated[int, Field(ge=1, le=65535)]
    health_check: HealthCheck = HealthCheck()
    command: list[Annotated[str, StringConstraints(min_length=1, max_length=1000)]] | None = Field(
        default=None, max_length=64
    )

    @model_validator(mode="before")
    @classmethod
    def _health_check_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("health_check"), str):
            return {**data, "health_check": {"path": data["health_check"]}}
        return data


class EnvVar(Strict):
    name: EnvName
    label: ShortText | None = None
    description: str = ""
    required: bool = False
    secret: bool = False
    default: str | None = Field(default=None, max_length=4096)
    pattern: str | None = Field(default=None, max_length=500)
    generate: bool = False

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value.startswith("LUMBUNG_"):
            raise ValueError("names starting with LUMBUNG_ are reserved for the platform")
        return value

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"is not a valid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> EnvVar:
        if self.generate and self.default is not None:
            raise ValueError("a generated variable has no default")
        if self.secret and self.default is not None:
            raise ValueError("a secret has no default; mark it generate or required")
        if self.default is not None and self.pattern and not re.fullmatch(self.pattern, self.default):
            raise ValueError("the default does not match the pattern")
        return self


class Volume(Strict):
    path: str
    description: str = ""

    _path = field_validator("path")(classmethod(lambda cls, v: _check_container_path(v)))


class Resources(Strict):
    memory: int = 256 * 1024**2
    cpu: Annotated[float, Field(gt=0, le=64)] = 0.5
    min_memory: int | None = None
    min_cpu: Annotated[float, Field(gt=0, le=64)] | None = None
    pids: Annotated[int, Field(ge=16, le=4096)] = 256

    @field_validator("memory", "min_memory", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        return None if value is None else parse_memory(value)

    @model_validator(mode="after")
    def _minimums_fit(self) -> Resources:
        if self.min_memory is not None and self.min_memory > self.memory:
            raise ValueError("min_memory is larger than memory")
        if self.min_cpu is not None and self.min_cpu > self.cpu:
            raise ValueError("min_cpu is larger than cpu")
        return self


class Compatibility(Strict):
    lumbung: str = "0.1.0"

    @field_validator("lumbung")
    @classmethod
    def _semver(cls, value: str) -> str:
        try:
            parse_version(value)
        except InvalidVersion as exc:
            raise ValueError(f"minimum Lumbung version: {exc}") from None
        return value


class Contact(Strict):
    name: ShortText
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)] | None = None
    phone: Annotated[str, StringConstraints(max_length=40)] | None = None


class Maintenance(Strict):
    type: Literal["internal", "contract", "community", "none"] = "internal"
    contacts: list[Contact] = Field(default_factory=list, max_length=20)


HttpUrl = Annotated[str, StringConstraints(pattern=r"^https?://[^\s<>\"']+$", max_length=500)]


class CatalogMeta(Strict):
    category: str
    summary: LocalText
    description: LocalText | None = None
    name_en: str = ""
    aliases: list[Annotated[str, StringConstraints(min_length=1, max_length=60)]] = Field(
        default_factory=list, max_length=30
    )
    tags: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]] = Field(
        default_factory=list, max_length=30
    )
    license: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    development_status: Literal["beta", "stable", "obsolete"] = "stable"
    maintenance: Maintenance = Maintenance()
    security_fixes: bool = False
    post_install_message: LocalText | None = None
    cost_estimate_idr: Annotated[int, Field(ge=0, le=10**15)] = 0
    source_url: HttpUrl | None = None
    docs_url: HttpUrl | None = None
    screenshots: list[HttpUrl] = Field(default_factory=list, max_length=12)

    @field_validator("category")
    @classmethod
    def _spbe(cls, value: str) -> str:
        if value not in CATEGORIES:
            raise ValueError(f"unknown SPBE category {value!r}; use one of: {', '.join(CATEGORIES)}")
        return value

    @field_validator("license")
    @classmethod
    def _spdx(cls, value: str) -> str:
        info = _spdx().validate(value)
        if info.errors:
            raise ValueError(f"{value!r} is not an SPDX license expression such as Apache-2.0 or GPL-3.0-only")
        return value


class Manifest(Strict):
    """A validated `lumbung.yaml`."""

    slug: Slug
    name: ShortText
    version: str
    container: Container
    env: list[EnvVar] = Field(default_factory=list, max_length=100)
    volumes: list[Volume] = Field(default_factory=list, max_length=10)
    resources: Resources = Resources()
    capabilities: list[str] = Field(default_factory=list, max_length=len(CAPABILITY_ALLOWLIST))
    writable_paths: list[str] = Field(default_factory=list, max_length=20)
    compatibility: Compatibility = Compatibility()
    catalog: CatalogMeta

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        try:
            parse_version(value)
        except InvalidVersion as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("capabilities")
    @classmethod
    def _allowlisted(cls, value: list[str]) -> list[str]:
        normalised = [c.upper().removeprefix("CAP_") for c in value]
        outside = sorted(set(normalised) - CAPABILITY_ALLOWLIST)
        if outside:
            raise ValueError(
                f"{', '.join(outside)} not in the allowlist ({', '.join(sorted(CAPABILITY_ALLOWLIST))})"
            )
        return sorted(set(normalised))

    @field_validator("writable_paths")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        return [_check_container_path(p) for p in value]

    @model_validator(mode="after")
    def _unique_names(self) -> Manifest:
        names = [e.name for e in self.env]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"env: duplicate variable names {', '.join(duplicates)}")
        paths = [v.path for v in self.volumes]
        if len(set(paths)) != len(paths):
            raise ValueError("volumes: a path is listed twice")
        return self

    @property
    def semver(self):
        return parse_version(self.version)

    def to_document(self) -> dict[str, Any]:
        """The normalised manifest as stored with the version."""
        return self.model_dump(mode="json")


@lru_cache(maxsize=1)
def _spdx():
    return get_spdx_licensing()


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in {"function-after", "function-before"} or str(part).startswith(("function-", "constrained-")):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "manifest"


def _message(error: dict[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        if error["loc"] and str(error["loc"][-1]) in FORBIDDEN_KEYS:
            return "Docker host configuration is not allowed in a manifest"
        return "unknown field"
    if error["type"] == "missing":
        return "this field is required"
    message = str(error["msg"])
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def validate_manifest(data: Any) -> Manifest:
    """Validate a parsed manifest document; raise ManifestError with every field's error."""
    if not isinstance(data, dict):
        raise ManifestError([{"field": "manifest", "message": "the manifest must be a YAML mapping"}])
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        errors = []
        for error in exc.errors(include_url=False):
            loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            errors.append({"field": _field_path(loc), "message": _message(error)})
        raise ManifestError(errors) from None


def load_manifest(text: str | bytes) -> Manifest:
    """Parse YAML text safely and validate it."""
    if isinstance(text, bytes):
        if len(text) > MAX_MANIFEST_BYTES:
            raise ManifestError([{"field": "manifest", "message": "lumbung.yaml is larger than 256 KiB"}])
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ManifestError([{"field": "manifest", "message": "lumbung.yaml is not UTF-8 text"}]) from None
    if len(text) > MAX_MANIFEST_BYTES:
        raise ManifestError([{"field": "manifest", "message": "lumbung.yaml is larger than 256 KiB"}])
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ManifestError([{"field": "manifest", "message": f"not valid YAML{where}"}]) from None
    return validate_manifest(data)
