"""SemVer rules: strict parsing, ordering, prereleases and "latest"."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import semver
from hypothesis import given
from hypothesis import strategies as st

from catalog.versions import InvalidVersion, is_listed, latest, parse_version, sort_versions


@dataclass
class V:
    version: str
    status: str = "approved"
    yanked: bool = False


numbers = st.integers(min_value=0, max_value=10_000)
identifiers = st.from_regex(r"\A(?:0|[1-9][0-9]{0,3}|[a-z][a-z0-9-]{0,7})\Z")
prereleases = st.lists(identifiers, min_size=1, max_size=3).map(".".join)
versions = st.builds(
    lambda a, b, c, pre: f"{a}.{b}.{c}" + (f"-{pre}" if pre else ""),
    numbers,
    numbers,
    numbers,
    st.one_of(st.none(), prereleases),
)


@pytest.mark.parametrize("text", ["1.0.0", "0.1.0", "10.20.30", "1.0.0-rc.1", "1.0.0-alpha.beta+build.5", "2.0.0+20261123"])
def test_accepts_semver(text: str) -> None:
    assert str(parse_version(text)) == text


@pytest.mark.parametrize(
    "text",
    ["v1.0.0", "1.0", "1", "01.0.0", "1.0.0-01", "1.0.0-", "1.0.0 ", " 1.0.0", "", "1.0.0.0", "latest", "1.0.0-rc..1", "x" * 101],
)
def test_rejects_everything_else(text: str) -> None:
    with pytest.raises(InvalidVersion):
        parse_version(text)


@given(versions)
def test_any_generated_version_round_trips(text: str) -> None:
    assert str(parse_version(text)) == text


@given(st.text(max_size=30))
def test_arbitrary_text_either_parses_strictly_or_raises_invalid_version(text: str) -> None:
    try:
        parsed = parse_version(text)
    except InvalidVersion:
        return
    assert str(parsed) == text and not text.startswith("v")


@given(st.lists(versions, min_size=1, max_size=12, unique=True))
def test_sorting_follows_semver_precedence(texts: list[str]) -> None:
    ordered = [v.version for v in sort_versions([V(t) for t in texts], newest_first=False)]
    for lower, higher in zip(ordered, ordered[1:]):
        assert semver.Version.parse(lower) <= semver.Version.parse(higher)


@given(
    st.lists(
        st.tuples(versions, st.sampled_from(["submitted", "approved", "rejected"]), st.booleans()),
        max_size=12,
        unique_by=lambda t: t[0],
    )
)
def test_latest_is_highest_approved_unyanked_final_release(rows: list[tuple[str, str, bool]]) -> None:
    candidates = [V(v, s, y) for v, s, y in rows]
    chosen = latest(candidates)
    eligible = [c for c in candidates if c.status == "approved" and not c.yanked and "-" not in c.version]
    if not eligible:
        assert chosen is None
        return
    assert chosen is not None and chosen in eligible
    assert all(semver.Version.parse(chosen.version) >= semver.Version.parse(e.version) for e in eligible)


def test_prerelease_listed_only_on_request() -> None:
    rc = V("2.0.0-rc.1")
    assert not is_listed(rc)
    assert is_listed(rc, include_prereleases=True)
    assert not is_listed(V("1.0.0", yanked=True), include_prereleases=True)
    assert not is_listed(V("1.0.0", status="submitted"))
    assert latest([rc, V("1.9.0")]).version == "1.9.0"
