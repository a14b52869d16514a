"""Write tenants/data/regions.csv from the npm package idn-area-data.

idn-area-data (https://github.com/fityannugroho/idn-area-data) ships the Kemendagri codes and
names of Indonesia's provinces and regencies/cities as CSV files under data/. This script reads
data/provinces.csv and data/regencies.csv from an unpacked copy of the package (or from the .tgz
that `npm pack` downloads), checks them, and writes one CSV with the columns
code,name,kind,province_code,province_name, sorted by code. Lumbung does not depend on the
package at run time: only the CSV it writes is in the repository. See tenants/data/SOURCE.md.

    cd "$(mktemp -d)" && npm pack idn-area-data@4.0.1       # writes idn-area-data-4.0.1.tgz
    .venv/bin/python scripts/extract_regions.py /that/dir/idn-area-data-4.0.1.tgz

The argument may also be the unpacked package directory (the one holding package.json and data/).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "tenants" / "data" / "regions.csv"
PACKAGE = "idn-area-data"
COLUMNS = ("code", "name", "kind", "province_code", "province_name")
PROVINCE_CODE = re.compile(r"^\d{2}$")
REGENCY_CODE = re.compile(r"^\d{2}\.\d{2}$")


def read_package(source: Path) -> tuple[dict, str, str]:
    """package.json, data/provinces.csv and data/regencies.csv from a directory or an npm .tgz."""
    names = ("package.json", "data/provinces.csv", "data/regencies.csv")
    texts: dict[str, str] = {}
    if source.is_dir():
        for name in names:
            path = source / name
            if not path.is_file():
                raise SystemExit(f"{path} not found: pass the unpacked {PACKAGE} package directory")
            texts[name] = path.read_text(encoding="utf-8")
    elif tarfile.is_tarfile(source):
        with tarfile.open(source) as tar:
            for name in names:
                try:
                    member = tar.extractfile(f"package/{name}")
                except KeyError:
                    member = None
                if member is None:
                    raise SystemExit(f"package/{name} not in {source}: is it the {PACKAGE} tarball?")
                texts[name] = member.read().decode("utf-8")
    else:
        raise SystemExit(f"{source} is neither a directory nor a tarball")
    meta = json.loads(texts["package.json"])
    if meta.get("name") != PACKAGE:
        raise SystemExit(f"{source} holds {meta.get('name')!r}, not {PACKAGE}")
    return meta, texts["data/provinces.csv"], texts["data/regencies.csv"]


def _rows(text: str, header: list[str], label: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    if reader.fieldnames != header:
        raise SystemExit(f"{label}: expected columns {header}, found {reader.fieldnames}")
    return [{k: (v or "").strip() for k, v in row.items()} for row in reader]


def build_rows(provinces_csv: str, regencies_csv: str) -> list[dict[str, str]]:
    errors: list[str] = []
    provinces: dict[str, str] = {}
    for row in _rows(provinces_csv, ["code", "name"], "provinces.csv"):
        code, name = row["code"], row["name"]
        if not PROVINCE_CODE.match(code) or not name:
            errors.append(f"provinces.csv: bad row {row}")
        elif code in provinces:
            errors.append(f"provinces.csv: code {code} twice")
        else:
            provinces[code] = name

    out = [
        {"code": c, "name": n, "kind": "provinsi", "province_code": c, "province_name": n}
        for c, n in provinces.items()
    ]
    seen: set[str] = set()
    for row in _rows(regencies_csv, ["code", "province_code", "name"], "regencies.csv"):
        code, province, name = row["code"], row["province_code"], row["name"]
        if not REGENCY_CODE.match(code) or code[:2] != province:
            errors.append(f"regencies.csv: bad code {code!r} (province {province!r})")
            continue
        if code in seen:
            errors.append(f"regencies.csv: code {code} twice")
        seen.add(code)
        if province not in provinces:
            errors.append(f"regencies.csv: {code} {name}: no province {province}")
            continue
        if name.startswith("Kabupaten "):
            kind = "kabupaten"
        elif name.startswith("Kota "):
            kind = "kota"
        else:
            errors.append(f"regencies.csv: {code} {name!r} starts with neither 'Kabupaten ' nor 'Kota '")
            continue
        # Kemendagri numbers kabupaten from 01 and kota from 71 within a province.
        if (int(code[3:]) >= 71) != (kind == "kota"):
            errors.append(f"regencies.csv: {code} {name}: a {kind} numbered against the 01/71 rule")
        out.append(
            {"code": code, "name": name, "kind": kind, "province_code": province,
             "province_name": provinces[province]}
        )
    if errors:
        raise SystemExit("source data rejected:\n  " + "\n  ".join(errors))
    # "35" < "35.01" < "35.78" < "36": a province comes right before its regencies and cities.
    return sorted(out, key=lambda r: r["code"])


def write_csv(rows: list[dict[str, str]], output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help=f"the {PACKAGE} .tgz from `npm pack`, or its unpacked directory")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, help="default: %(default)s")
    args = parser.parse_args(argv)

    meta, provinces_csv, regencies_csv = read_package(args.source)
    rows = build_rows(provinces_csv, regencies_csv)
    write_csv(rows, args.output)
    kinds = {k: sum(r["kind"] == k for r in rows) for k in ("provinsi", "kabupaten", "kota")}
    administrative = sum(" Administrasi " in r["name"] for r in rows)
    print(
        f"{PACKAGE} {meta.get('version')}: {kinds['provinsi']} provinsi, {kinds['kabupaten']} kabupaten, "
        f"{kinds['kota']} kota ({administrative} of them administrative, in DKI Jakarta) -> {args.output}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
