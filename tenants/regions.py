"""Indonesia's provinces, regencies (kabupaten) and cities (kota) with their Kemendagri codes.

The list is tenants/data/regions.csv, extracted from the npm package idn-area-data by
scripts/extract_regions.py; tenants/data/SOURCE.md names the source, its legal basis
(Kepmendagri) and its licence (ODbL 1.0), and says how to refresh it.

It holds every kabupaten and kota that Kemendagri codes, as Kemendagri counts them (416 + 98),
and so includes DKI Jakarta's five kota administrasi and one kabupaten administrasi. Those six
are parts of the DKI Jakarta provincial government, not autonomous regional governments: their
``Region.autonomous`` is False. Lumbung seeds a tenant for all 552 (38 + 514), as the official
count does: each of the six runs its own services and may adopt apps of its own.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

REGIONS_CSV = Path(__file__).resolve().parent / "data" / "regions.csv"
COLUMNS = ("code", "name", "kind", "province_code", "province_name")
KINDS = ("provinsi", "kabupaten", "kota")
CODE_RE = re.compile(r"^\d{2}(\.\d{2})?$")
NAME_PREFIX = {"kabupaten": "Kabupaten ", "kota": "Kota "}
# Words a slug writes shorter, as people usually do: "DKI Jakarta", not "Daerah Khusus Ibukota Jakarta".
SLUG_ABBREVIATIONS = {"Daerah Khusus Ibukota": "DKI"}


@dataclass(frozen=True)
class Region:
    code: str  # "35" for a province, "35.78" for a regency or city
    name: str  # "Jawa Timur", "Kota Surabaya", "Kabupaten Paser"
    kind: str  # provinsi, kabupaten or kota
    province_code: str  # the province's code; a province's own code for a province
    province_name: str

    @property
    def autonomous(self) -> bool:
        """False for DKI Jakarta's kota/kabupaten administrasi, which have no regional government of their own."""
        return not self.name.startswith(("Kota Administrasi ", "Kabupaten Administrasi "))


def load_regions(path: Path | None = None) -> list[Region]:
    """Every region in the CSV (tenants/data/regions.csv by default), checked; ValueError if it is not valid."""
    path = Path(path) if path is not None else REGIONS_CSV
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ValueError(f"{path}: expected the columns {','.join(COLUMNS)}, found {reader.fieldnames}")
        rows = [(reader.line_num, row) for row in reader]

    errors: list[str] = []
    regions: list[Region] = []
    provinces: dict[str, str] = {}
    seen: set[str] = set()
    for line, row in rows:
        if None in row or any(v is None for v in row.values()):
            errors.append(f"line {line}: expected {len(COLUMNS)} fields")
            continue
        region = Region(**{k: row[k].strip() for k in COLUMNS})
        where = f"line {line} ({region.code or '?'} {region.name or '?'})"
        if not CODE_RE.match(region.code):
            errors.append(f"{where}: code {region.code!r} is not NN or NN.NN")
            continue
        if region.code in seen:
            errors.append(f"{where}: code {region.code} appears twice")
        seen.add(region.code)
        if not region.name:
            errors.append(f"{where}: no name")
        if region.kind not in KINDS:
            errors.append(f"{where}: kind {region.kind!r} is not one of {', '.join(KINDS)}")
        elif (region.kind == "provinsi") != (len(region.code) == 2):
            errors.append(f"{where}: a {region.kind} cannot have the code {region.code}")
        elif region.kind == "provinsi":
            if region.province_code != region.code or region.province_name != region.name:
                errors.append(f"{where}: a province's province_code/province_name must be its own")
            provinces[region.code] = region.name
        elif not region.name.startswith(NAME_PREFIX[region.kind]):
            errors.append(f"{where}: a {region.kind}'s name must start with {NAME_PREFIX[region.kind]!r}")
        regions.append(region)

    for region in regions:
        if region.kind in ("kabupaten", "kota") and CODE_RE.match(region.code):
            where = f"{region.code} {region.name}"
            if region.province_code != region.code[:2]:
                errors.append(f"{where}: province_code {region.province_code!r} does not match its code")
            elif region.province_code not in provinces:
                errors.append(f"{where}: its province {region.province_code} is not in the file")
            elif region.province_name != provinces[region.province_code]:
                expected = provinces[region.province_code]
                errors.append(f"{where}: province_name {region.province_name!r} is not {expected!r}")
    if errors:
        shown = errors[:20] + ([f"... and {len(errors) - 20} more"] if len(errors) > 20 else [])
        raise ValueError(f"{path}: invalid region data:\n  " + "\n  ".join(shown))
    return regions


def _slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    ascii_text = re.sub(r"['’`]", "", ascii_text.lower())  # "Ra'as" -> "raas", not "ra-as"
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")


def tenant_slug(region: Region) -> str:
    """The tenant's URL slug: provinsi-jawa-timur, kota-surabaya, kabupaten-paser, provinsi-dki-jakarta.

    A regency's or city's name already starts with "Kabupaten"/"Kota", which keeps Kota Bogor and
    Kabupaten Bogor apart; a province's gets "provinsi-" in front.
    """
    name = region.name
    for long, short in SLUG_ABBREVIATIONS.items():
        name = re.sub(rf"\b{re.escape(long)}\b", short, name)
    if region.kind == "provinsi":
        name = f"provinsi {name}"
    return _slugify(name)
