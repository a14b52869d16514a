"""The region list that tenants are seeded from: tenants/data/regions.csv (see tenants/data/SOURCE.md)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tenants.regions import REGIONS_CSV, Region, load_regions, tenant_slug

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$")
PUBLISHERS = Path(__file__).resolve().parents[2] / "examples" / "publishers.yaml"
HEADER = "code,name,kind,province_code,province_name\n"


@pytest.fixture(scope="module")
def regions() -> list[Region]:
    return load_regions()


@pytest.fixture(scope="module")
def by_code(regions: list[Region]) -> dict[str, Region]:
    return {r.code: r for r in regions}


def test_counts_follow_kemendagri(regions):
    kinds = Counter(r.kind for r in regions)
    assert kinds == {"provinsi": 38, "kabupaten": 416, "kota": 98}
    assert len(regions) == 38 + 514


def test_jakartas_administrative_cities_are_listed_but_not_autonomous(regions, by_code):
    # Kemendagri's 416 kabupaten and 98 kota include DKI Jakarta's 1 kabupaten administrasi and
    # 5 kota administrasi; they belong to the DKI Jakarta provincial government, so no tenant of their own.
    administrative = [r for r in regions if not r.autonomous]
    assert [(r.code, r.kind) for r in administrative] == [
        ("31.01", "kabupaten"), ("31.71", "kota"), ("31.72", "kota"),
        ("31.73", "kota"), ("31.74", "kota"), ("31.75", "kota"),
    ]
    assert by_code["31.71"].name == "Kota Administrasi Jakarta Pusat"
    assert by_code["31.01"].name == "Kabupaten Administrasi Kepulauan Seribu"
    assert all(r.province_code == "31" for r in administrative)
    assert by_code["31"].autonomous and by_code["31"].kind == "provinsi"

    autonomous = Counter(r.kind for r in regions if r.autonomous)
    assert autonomous == {"provinsi": 38, "kabupaten": 415, "kota": 93}  # 546 regional governments


def test_codes_are_unique_well_formed_and_sorted(regions):
    codes = [r.code for r in regions]
    assert len(codes) == len(set(codes))
    assert codes == sorted(codes)
    for r in regions:
        assert re.fullmatch(r"\d{2}" if r.kind == "provinsi" else r"\d{2}\.\d{2}", r.code)
        # Kemendagri numbers kabupaten from 01 and kota from 71 within a province.
        if r.kind != "provinsi":
            assert (int(r.code[3:]) >= 71) == (r.kind == "kota"), r
            assert r.code.startswith(r.province_code + ".")
            assert r.name.startswith("Kota " if r.kind == "kota" else "Kabupaten ")


def test_every_province_has_regencies_and_cities(regions):
    provinces = {r.code for r in regions if r.kind == "provinsi"}
    assert provinces == {r.province_code for r in regions if r.kind != "provinsi"}


def test_slugs_are_unique_and_valid(regions):
    slugs = [tenant_slug(r) for r in regions]
    assert len(slugs) == len(set(slugs)) == 552
    for r, slug in zip(regions, slugs):
        assert SLUG_RE.match(slug), (r, slug)
        assert slug.startswith(r.kind + "-"), (r, slug)


def test_known_regions(by_code):
    assert by_code["35"] == Region("35", "Jawa Timur", "provinsi", "35", "Jawa Timur")
    assert by_code["35.78"] == Region("35.78", "Kota Surabaya", "kota", "35", "Jawa Timur")
    assert by_code["64.01"] == Region("64.01", "Kabupaten Paser", "kabupaten", "64", "Kalimantan Timur")
    assert by_code["16.02"].name == "Kabupaten Ogan Komering Ilir"
    assert by_code["16.02"].province_name == "Sumatera Selatan"
    assert by_code["33"].name == "Jawa Tengah"
    assert by_code["94"].name == "Papua Tengah"
    assert by_code["91"].name == "Papua"
    newest = {by_code[c].name for c in ("93", "94", "95", "96")}
    assert newest == {"Papua Selatan", "Papua Tengah", "Papua Pegunungan", "Papua Barat Daya"}
    # Each new Papua province has its regencies/cities (UU 14, 15, 16 and 29 of 2022).
    assert by_code["93.01"].name == "Kabupaten Merauke"
    assert by_code["96.71"].name == "Kota Sorong"
    assert by_code["32.01"].name == "Kabupaten Bogor" and by_code["32.71"].name == "Kota Bogor"


def test_slug_rule(by_code):
    assert tenant_slug(by_code["35"]) == "provinsi-jawa-timur"
    assert tenant_slug(by_code["35.78"]) == "kota-surabaya"
    assert tenant_slug(by_code["64.01"]) == "kabupaten-paser"
    assert tenant_slug(by_code["16.02"]) == "kabupaten-ogan-komering-ilir"
    assert tenant_slug(by_code["31"]) == "provinsi-dki-jakarta"
    assert tenant_slug(by_code["34"]) == "provinsi-daerah-istimewa-yogyakarta"
    assert tenant_slug(by_code["32.01"]) == "kabupaten-bogor"
    assert tenant_slug(by_code["32.71"]) == "kota-bogor"
    assert tenant_slug(by_code["31.71"]) == "kota-administrasi-jakarta-pusat"
    assert tenant_slug(by_code["72.04"]) == "kabupaten-toli-toli"
    assert tenant_slug(Region("99.01", "Kabupaten Ra’as Éndé", "kabupaten", "99", "X")) == "kabupaten-raas-ende"


def test_example_publishers_are_these_regions(by_code):
    publishers = yaml.safe_load(PUBLISHERS.read_text(encoding="utf-8"))
    assert len(publishers) == 8
    for p in publishers:
        region = by_code.get(p["region_code"])
        assert region is not None, p
        assert region.autonomous
        assert tenant_slug(region) == p["slug"]
        assert region.kind == p["kind"]
        assert region.province_name == p["province"]
        assert p["name"] == f"Pemerintah {'Provinsi ' if region.kind == 'provinsi' else ''}{region.name}"


def test_default_path_is_the_repository_csv():
    assert REGIONS_CSV.is_file()
    assert REGIONS_CSV.read_text(encoding="utf-8").startswith(HEADER)


GOOD = HEADER + "35,Jawa Timur,provinsi,35,Jawa Timur\n35.78,Kota Surabaya,kota,35,Jawa Timur\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("35.78,", "35.7,"), "is not NN or NN.NN"),
        (GOOD.replace("35.78,", "357,"), "is not NN or NN.NN"),
        (GOOD.replace(",kota,", ",city,"), "kind 'city'"),
        (GOOD.replace("35.78,Kota Surabaya,kota,35,", "36.78,Kota Surabaya,kota,36,"), "province 36 is not in the file"),
        (GOOD + "35.78,Kota Surabaya,kota,35,Jawa Timur\n", "appears twice"),
        (GOOD.replace(",kota,", ",kabupaten,"), "must start with 'Kabupaten '"),
        (GOOD.replace("Jawa Timur\n35.78", "Jatim\n35.78"), "must be its own"),
        (GOOD + "35.01,Kabupaten Pacitan,kabupaten,35\n", "expected 5 fields"),
        (GOOD.replace("province_name", "province"), "expected the columns"),
        ("", "expected the columns"),
    ],
)
def test_load_regions_rejects_a_corrupt_csv(tmp_path, text, message):
    path = tmp_path / "regions.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(message)):
        load_regions(path)


def test_load_regions_reads_a_good_csv(tmp_path):
    path = tmp_path / "regions.csv"
    path.write_text(GOOD, encoding="utf-8")
    assert [tenant_slug(r) for r in load_regions(path)] == ["provinsi-jawa-timur", "kota-surabaya"]
