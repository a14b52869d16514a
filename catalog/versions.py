"""SemVer 2.0 rules of the catalog: strict parsing, ordering and "latest"."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

import semver

MAX_VERSION_LENGTH = 100
# The characters a SemVer 2.0 version is made of (a quick check; parse_version is the rule).
VERSION_CHARS = r"^[0-9A-Za-z.+-]+$"


class InvalidVersion(ValueError):
    """A version string that is not strict SemVer 2.0."""


def parse_version(text: str) -> semver.Version:
    """Parse a strict SemVer 2.0 string: no leading "v", no partial versions."""
    if not isinstance(text, str) or not text:
        raise InvalidVersion("a version is required, for example 1.0.0")
    if len(text) > MAX_VERSION_LENGTH:
        raise InvalidVersion(f"a version is at most {MAX_VERSION_LENGTH} characters")
    if text != text.strip():
        raise InvalidVersion("a version has no surrounding spaces")
    try:
        return semver.Version.parse(text)
    except (ValueError, TypeError) as exc:
        raise InvalidVersion(f"{text!r} is not a SemVer 2.0 version such as 1.4.2 or 2.0.0-rc.1") from exc


def is_prerelease(text: str) -> bool:
    return parse_version(text).prerelease is not None


class VersionLike(Protocol):
    version: str
    status: str
    yanked: bool


V = TypeVar("V", bound=VersionLike)


def sort_versions(versions: Iterable[V], *, newest_first: bool = True) -> list[V]:
    """Order by SemVer precedence (build metadata does not count)."""
    return sorted(versions, key=lambda v: parse_version(v.version), reverse=newest_first)


def is_listed(version: VersionLike, *, include_prereleases: bool = False) -> bool:
    """Listed and adoptable: approved and not yanked; prereleases only on request."""
    if version.status != "approved" or version.yanked:
        return False
    return include_prereleases or not is_prerelease(version.version)


def latest(versions: Iterable[V]) -> V | None:
    """The highest approved, unyanked, non-prerelease version, or None."""
    candidates = [v for v in versions if is_listed(v)]
    if not candidates:
        return None
    return max(candidates, key=lambda v: parse_version(v.version))
