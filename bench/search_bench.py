"""Latency benchmark of the embedded catalog search (SQLite FTS5).

Run: ``.venv/bin/python bench/search_bench.py``

For each corpus size it builds a synthetic but realistic catalog of Indonesian
regional e-government apps (fixed seed; about 50,000 distinct terms at 10,000
apps, see ``_lexicon``), indexes it with EmbeddedSearch in a
temporary directory, runs a fixed mix of queries (exact words, typos, prefixes,
several words, filters, sorts, pages; facet counts are part of every search)
and reports p50/p95/max latency. As a baseline it times, in the same run, a plain
``SELECT slug ... ORDER BY ... LIMIT 20`` with the same filters and sort on an
equally indexed ordinary SQLite table, i.e. what a catalog listing costs
without full-text search. Both are timed the same way: awaited through
``asyncio.to_thread``, as the web app would.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from catalog.search import SearchDocument, SearchQuery  # noqa: E402
from catalog.search.embedded import EmbeddedSearch  # noqa: E402

SEED = 20240817
TARGET_P95_MS = 20.0
QUERIES_PER_SIZE = 400

# -- corpus ----------------------------------------------------------------------------

PROVINCES: dict[str, list[str]] = {
    "Aceh": ["Kota Banda Aceh", "Kabupaten Aceh Besar", "Kota Lhokseumawe"],
    "Sumatera Utara": ["Kota Medan", "Kabupaten Deli Serdang", "Kota Pematangsiantar", "Kabupaten Karo"],
    "Sumatera Barat": ["Kota Padang", "Kota Bukittinggi", "Kabupaten Agam"],
    "Riau": ["Kota Pekanbaru", "Kabupaten Siak", "Kota Dumai"],
    "Sumatera Selatan": ["Kota Palembang", "Kabupaten Ogan Ilir", "Kota Prabumulih"],
    "Lampung": ["Kota Bandar Lampung", "Kabupaten Pringsewu", "Kota Metro"],
    "DKI Jakarta": ["Provinsi DKI Jakarta", "Kota Administrasi Jakarta Selatan"],
    "Jawa Barat": [
        "Kota Bandung",
        "Kabupaten Bogor",
        "Kota Bekasi",
        "Kabupaten Sumedang",
        "Kota Cimahi",
        "Kabupaten Garut",
    ],
    "Jawa Tengah": ["Kota Semarang", "Kota Surakarta", "Kabupaten Banyumas", "Kabupaten Kudus", "Kota Magelang"],
    "DI Yogyakarta": ["Kota Yogyakarta", "Kabupaten Sleman", "Kabupaten Bantul", "Kabupaten Kulon Progo"],
    "Jawa Timur": [
        "Kota Surabaya",
        "Kota Malang",
        "Kabupaten Banyuwangi",
        "Kabupaten Sidoarjo",
        "Kota Madiun",
        "Kabupaten Jember",
    ],
    "Banten": ["Kota Tangerang", "Kota Serang", "Kabupaten Lebak", "Kota Tangerang Selatan"],
    "Bali": ["Kota Denpasar", "Kabupaten Badung", "Kabupaten Gianyar"],
    "Nusa Tenggara Barat": ["Kota Mataram", "Kabupaten Lombok Timur"],
    "Nusa Tenggara Timur": ["Kota Kupang", "Kabupaten Manggarai Barat"],
    "Kalimantan Barat": ["Kota Pontianak", "Kabupaten Kubu Raya"],
    "Kalimantan Timur": ["Kota Samarinda", "Kota Balikpapan", "Kota Bontang"],
    "Kalimantan Selatan": ["Kota Banjarmasin", "Kota Banjarbaru"],
    "Sulawesi Selatan": ["Kota Makassar", "Kabupaten Gowa", "Kota Parepare", "Kabupaten Bantaeng"],
    "Sulawesi Utara": ["Kota Manado", "Kota Bitung"],
    "Maluku": ["Kota Ambon", "Kabupaten Maluku Tengah"],
    "Papua": ["Kota Jayapura", "Kabupaten Merauke"],
}

LICENSES = ["Apache-2.0", "MIT", "GPL-3.0-or-later", "AGPL-3.0-only", "EUPL-1.2", "BSD-3-Clause", "LGPL-2.1-or-later"]


@dataclass(frozen=True)
class Domain:
    category: str
    names: tuple[str, ...]  # Indonesian name stems
    name_en: str
    aliases: tuple[str, ...]
    tags: tuple[str, ...]
    objects: tuple[str, ...]  # what the app manages, in Indonesian
    objects_en: tuple[str, ...]


DOMAINS: tuple[Domain, ...] = (
    Domain(
        "perizinan",
        ("Perizinan", "Perizinan Terpadu", "Izin Usaha", "Perizinan Online"),
        "Licensing and Permits",
        ("perijinan", "OSS daerah", "izin online", "PTSP"),
        ("izin", "usaha", "ptsp", "investasi"),
        ("permohonan izin usaha", "izin mendirikan bangunan", "persetujuan bangunan gedung", "izin reklame"),
        ("business permit applications", "building permits", "billboard permits"),
    ),
    Domain(
        "pengaduan-publik",
        ("Pengaduan Masyarakat", "Lapor", "Aspirasi Warga", "Pengaduan"),
        "Public Complaints",
        ("lapor", "aduan", "SP4N"),
        ("aduan", "aspirasi", "warga", "lapor"),
        ("pengaduan warga", "aspirasi masyarakat", "tindak lanjut laporan", "aduan pelayanan publik"),
        ("citizen complaints", "public feedback", "report follow-up"),
    ),
    Domain(
        "kepegawaian",
        ("Kepegawaian", "Manajemen ASN", "Presensi Pegawai", "Kinerja Pegawai"),
        "Civil Service Staffing",
        ("SIMPEG", "e-kinerja", "absensi"),
        ("asn", "pegawai", "presensi", "kinerja"),
        ("data pegawai negeri sipil", "presensi harian", "cuti pegawai", "penilaian kinerja"),
        ("civil servant records", "daily attendance", "leave requests", "performance appraisal"),
    ),
    Domain(
        "penganggaran",
        ("Penganggaran", "e-Budgeting", "Perencanaan Anggaran"),
        "Budgeting",
        ("e-budgeting", "RKA", "APBD"),
        ("anggaran", "apbd", "rka", "budgeting"),
        ("rencana kerja dan anggaran", "pagu anggaran", "belanja daerah"),
        ("work plans and budgets", "budget ceilings", "regional spending"),
    ),
    Domain(
        "keuangan",
        ("Keuangan Daerah", "Penatausahaan Keuangan", "Akuntansi Pemerintah"),
        "Regional Finance",
        ("SIMDA", "SIPKD", "e-keuangan"),
        ("keuangan", "akuntansi", "sp2d", "bendahara"),
        ("surat perintah pencairan dana", "laporan keuangan", "kas daerah"),
        ("payment orders", "financial statements", "treasury"),
    ),
    Domain(
        "kependudukan",
        ("Kependudukan", "Administrasi Kependudukan", "Dukcapil Online"),
        "Population Registry",
        ("dukcapil", "adminduk", "KTP online"),
        ("ktp", "kk", "akta", "dukcapil"),
        ("kartu tanda penduduk", "kartu keluarga", "akta kelahiran", "surat pindah"),
        ("identity cards", "family cards", "birth certificates"),
    ),
    Domain(
        "kesehatan",
        ("Kesehatan", "Puskesmas", "Rekam Medis", "Kesehatan Ibu dan Anak"),
        "Health",
        ("SIMPUS", "e-puskesmas", "posyandu"),
        ("puskesmas", "posyandu", "stunting", "imunisasi"),
        ("rekam medis pasien", "antrian puskesmas", "data imunisasi", "pemantauan stunting"),
        ("patient records", "clinic queues", "immunisation data", "stunting monitoring"),
    ),
    Domain(
        "pendidikan",
        ("Pendidikan", "Penerimaan Peserta Didik", "Data Sekolah"),
        "Education",
        ("PPDB", "dapodik daerah", "e-sekolah"),
        ("sekolah", "ppdb", "siswa", "guru"),
        ("penerimaan siswa baru", "data guru", "beasiswa daerah", "rapor digital"),
        ("school admissions", "teacher records", "scholarships"),
    ),
    Domain(
        "pajak-retribusi",
        ("Pajak Daerah", "Retribusi", "e-Retribusi", "Pajak Online"),
        "Regional Taxes and Levies",
        ("e-pajak", "PBB online", "BPHTB"),
        ("pajak", "retribusi", "pbb", "bphtb"),
        ("pajak bumi dan bangunan", "retribusi pasar", "pajak restoran", "pajak hotel"),
        ("property tax", "market levies", "restaurant tax"),
    ),
    Domain(
        "kearsipan",
        ("Kearsipan", "Arsip Digital", "Tata Naskah Dinas"),
        "Records and Archives",
        ("SRIKANDI daerah", "e-arsip", "TNDE"),
        ("arsip", "naskah", "surat", "disposisi"),
        ("surat masuk dan keluar", "disposisi surat", "arsip dinamis", "naskah dinas elektronik"),
        ("incoming and outgoing letters", "records retention", "electronic memos"),
    ),
    Domain(
        "pengadaan",
        ("Pengadaan Barang dan Jasa", "e-Katalog Daerah", "Tender"),
        "Procurement",
        ("LPSE", "e-procurement", "SPSE"),
        ("tender", "lpse", "pengadaan", "penyedia"),
        ("paket pengadaan", "katalog elektronik", "penyedia barang dan jasa"),
        ("procurement packages", "electronic catalogue", "vendors"),
    ),
    Domain(
        "pariwisata",
        ("Pariwisata", "Destinasi Wisata", "Tiket Wisata"),
        "Tourism",
        ("e-wisata", "visit"),
        ("wisata", "destinasi", "homestay", "event"),
        ("destinasi wisata", "kalender event", "pemesanan homestay"),
        ("tourist destinations", "event calendar", "homestay bookings"),
    ),
    Domain(
        "transportasi",
        ("Transportasi", "Uji KIR", "Parkir Elektronik"),
        "Transport",
        ("e-kir", "e-parking"),
        ("kir", "parkir", "angkutan", "terminal"),
        ("uji kendaraan bermotor", "retribusi parkir", "jadwal angkutan umum"),
        ("vehicle inspection", "parking fees", "public transport timetables"),
    ),
    Domain(
        "sosial",
        ("Bantuan Sosial", "Data Terpadu Kesejahteraan Sosial", "Disabilitas"),
        "Social Welfare",
        ("DTKS", "bansos", "e-bansos"),
        ("bansos", "dtks", "kemiskinan", "disabilitas"),
        ("penyaluran bantuan sosial", "data kemiskinan", "layanan disabilitas"),
        ("social assistance", "poverty data", "disability services"),
    ),
    Domain(
        "perencanaan",
        ("Perencanaan Pembangunan", "Musrenbang", "Satu Data"),
        "Development Planning",
        ("e-musrenbang", "e-planning", "satu data"),
        ("musrenbang", "rpjmd", "renja", "data"),
        ("usulan musrenbang", "rencana pembangunan jangka menengah", "indikator kinerja daerah"),
        ("development proposals", "medium-term plans", "regional indicators"),
    ),
    Domain(
        "dokumentasi-hukum",
        ("Jaringan Dokumentasi Hukum", "Produk Hukum Daerah"),
        "Legal Documentation",
        ("JDIH", "perda online"),
        ("jdih", "perda", "perbup", "hukum"),
        ("peraturan daerah", "peraturan bupati", "keputusan kepala daerah"),
        ("regional regulations", "regent decrees"),
    ),
)

NAME_PREFIXES = ("Sistem Informasi", "Aplikasi", "E-", "Si", "Layanan", "Portal", "Dashboard", "Sistem")
NAME_SUFFIXES = ("", "", "", " Terpadu", " Online", " Mobile", " Digital", " Pintar", " 2.0", " Daerah")
GENERIC_ID = (
    "Aplikasi ini dibangun oleh dinas komunikasi dan informatika untuk mendukung {obj}.",
    "Terintegrasi dengan layanan nasional dan mendukung tanda tangan elektronik.",
    "Organisasi perangkat daerah dapat memantau {obj} secara waktu nyata melalui dasbor.",
    "Warga dapat mengajukan {obj} tanpa datang ke kantor dan memantau statusnya.",
    "Dibangun dengan arsitektur berbasis web dan dapat dipasang di pusat data daerah.",
    "Mendukung interoperabilitas data sesuai Arsitektur SPBE dan prinsip Satu Data Indonesia.",
    "Notifikasi dikirim melalui WhatsApp dan surel untuk setiap perubahan {obj}.",
    "Laporan rekapitulasi {obj} dapat diunduh dalam format PDF dan Excel.",
)
GENERIC_EN = (
    "This application supports {obj} for regional government agencies.",
    "It integrates with national services and supports electronic signatures.",
    "Residents can submit requests online and track their status.",
    "Deployable on the regional data centre with a standard web stack.",
    "Reports on {obj} can be exported as PDF and spreadsheets.",
)


# Generated words of Indonesian shape (syllables between the usual affixes) stand
# in for the long tail of a real catalog's vocabulary: place and programme names,
# jargon, inflected forms. Typo correction cost grows with vocabulary size, and
# templated text alone would give an unrealistically small one.
LEXICON_SIZE = 60_000
WORDS_PER_DESCRIPTION = 40
_ONSETS = "b c d f g h j k l m n p r s t w y ng ny kh sy".split()
_VOWELS = "a i u e o a a i".split()
_CODAS = ("", "", "", "n", "ng", "r", "k", "s", "l", "t", "m", "h")
_PREFIXES = (
    "",
    "",
    "",
    "",
    "pe",
    "pem",
    "pen",
    "peng",
    "per",
    "me",
    "mem",
    "men",
    "meng",
    "ber",
    "ke",
    "di",
    "ter",
    "se",
)
_SUFFIXES = ("", "", "", "", "an", "kan", "nya", "i", "an", "wan", "isasi")


def _lexicon(rng: random.Random) -> tuple[list[str], list[float]]:
    """Distinct generated words and cumulative Zipf weights for drawing them."""
    words: dict[str, None] = {}
    while len(words) < LEXICON_SIZE:
        root = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(rng.randint(2, 3)))
        words[rng.choice(_PREFIXES) + root + rng.choice(_SUFFIXES)] = None
    return list(words), list(itertools.accumulate(1 / (rank + 1) ** 0.9 for rank in range(LEXICON_SIZE)))


def _acronym(region: str) -> str:
    return region.split()[-1]


def generate_corpus(size: int, seed: int = SEED) -> list[SearchDocument]:
    """``size`` synthetic apps; the same seed always gives the same corpus."""
    rng = random.Random(seed)
    lexicon, weights = _lexicon(rng)
    publishers = [(province, region) for province, regions in sorted(PROVINCES.items()) for region in regions]
    docs: list[SearchDocument] = []
    base_time = 1_577_836_800.0  # 2020-01-01
    for number in range(size):
        domain = rng.choice(DOMAINS)
        province, region = rng.choice(publishers)
        stem = rng.choice(domain.names)
        prefix = rng.choice(NAME_PREFIXES)
        suffix = rng.choice(NAME_SUFFIXES)
        if prefix in ("E-", "Si"):
            name = f"{prefix}{stem.replace(' ', '')}{suffix}"
        else:
            name = f"{prefix} {stem}{suffix}"
        if rng.random() < 0.5:
            name = f"{name} {_acronym(region)}"
        objects = rng.sample(domain.objects, k=min(2, len(domain.objects)))
        objects_en = rng.sample(domain.objects_en, k=min(2, len(domain.objects_en)))
        summary = f"{name} untuk {objects[0]} di {region}."
        summary_en = f"{domain.name_en} application for {objects_en[0]}."
        sentences = [s.format(obj=rng.choice(objects)) for s in rng.sample(GENERIC_ID, k=4)]
        sentences_en = [s.format(obj=rng.choice(objects_en)) for s in rng.sample(GENERIC_EN, k=2)]
        tail = [lexicon[bisect.bisect(weights, rng.random() * weights[-1])] for _ in range(WORDS_PER_DESCRIPTION)]
        description = " ".join(sentences + sentences_en + tail)
        publisher = region.lower().replace(" ", "-")
        docs.append(
            SearchDocument(
                slug=f"{publisher}-{stem.lower().replace(' ', '-')}-{number}",
                name=name,
                name_en=f"{domain.name_en} {prefix.strip('- ') or 'App'}",
                summary=summary,
                summary_en=summary_en,
                description=description,
                aliases=tuple(rng.sample(domain.aliases, k=rng.randint(0, min(2, len(domain.aliases))))),
                tags=tuple(rng.sample(domain.tags, k=rng.randint(1, len(domain.tags)))),
                category=domain.category,
                publisher=publisher,
                publisher_name=f"Pemerintah {region}",
                province=province,
                license=rng.choice(LICENSES),
                adoptions=int(rng.paretovariate(1.3)) - 1,
                published_at=base_time + rng.uniform(0, 5 * 365 * 86400),
            )
        )
    return docs


# -- queries ---------------------------------------------------------------------------

EXACT_WORDS = (
    "perizinan",
    "pengaduan",
    "kepegawaian",
    "anggaran",
    "keuangan",
    "kependudukan",
    "puskesmas",
    "sekolah",
    "pajak",
    "retribusi",
    "arsip",
    "tender",
    "wisata",
    "parkir",
    "bansos",
    "musrenbang",
    "sistem",
    "aplikasi",
    "layanan",
    "informasi",
    "data",
    "stunting",
    "complaints",
    "budget",
    "jdih",
)
TYPOS = (
    "perijinan",
    "pengadaun",
    "kepegawian",
    "angaran",
    "keuagan",
    "kependudkan",
    "puskesmsa",
    "sekolha",
    "retribsi",
    "arisp",
    "pariwsata",
    "bantaun",
    "imunisais",
    "presnsi",
    "infromasi",
)
PREFIXES = ("pengadu", "kepeg", "perizi", "kesehat", "retrib", "musren", "pendid", "ars", "tend", "perenc")
MULTI = (
    "sistem informasi kepegawaian",
    "izin usaha",
    "pajak daerah online",
    "pengaduan masyarakat",
    "rekam medis puskesmas",
    "arsip surat",
    "bantuan sosial",
    "e-budgeting apbd",
    "data sekolah",
    "perijinan bangunan",
    "pengadaan barang jasa",
    "kota surabaya",
)


def query_mix(
    corpus: list[SearchDocument], count: int = QUERIES_PER_SIZE, seed: int = SEED
) -> list[tuple[str, SearchQuery]]:
    """A fixed mix of (kind, query) pairs drawn with their own seed."""
    rng = random.Random(seed + 1)
    categories = sorted({doc.category for doc in corpus})
    provinces = sorted({doc.province for doc in corpus})
    publishers = sorted({doc.publisher for doc in corpus})
    kinds = ("exact", "typo", "prefix", "multi", "filter", "browse", "sort", "page")
    mix: list[tuple[str, SearchQuery]] = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        if kind == "exact":
            query = SearchQuery(text=rng.choice(EXACT_WORDS))
        elif kind == "typo":
            query = SearchQuery(text=rng.choice(TYPOS))
        elif kind == "prefix":
            query = SearchQuery(text=rng.choice(PREFIXES))
        elif kind == "multi":
            query = SearchQuery(text=rng.choice(MULTI))
        elif kind == "filter":
            query = SearchQuery(
                text=rng.choice(("", rng.choice(EXACT_WORDS), rng.choice(TYPOS))),
                category=rng.choice((None, rng.choice(categories))),
                province=rng.choice(provinces),
                license=rng.choice((None, "Apache-2.0", "MIT")),
            )
        elif kind == "browse":
            query = SearchQuery(category=rng.choice((None, rng.choice(categories))))
        elif kind == "sort":
            query = SearchQuery(
                text=rng.choice(("", rng.choice(EXACT_WORDS), rng.choice(PREFIXES))),
                sort=rng.choice(("adoptions", "newest", "name")),
                publisher=rng.choice((None, rng.choice(publishers))),
            )
        else:
            query = SearchQuery(text=rng.choice(("", "sistem", "layanan")), offset=rng.choice((20, 100, 400)))
        mix.append((kind, query))
    return mix


# -- baseline --------------------------------------------------------------------------

_BASELINE_ORDER = {
    "relevance": "adoptions DESC, name_sort, slug",
    "adoptions": "adoptions DESC, slug",
    "newest": "published_at DESC, slug",
    "name": "name_sort, slug",
}


def build_baseline(path: Path, corpus: list[SearchDocument]) -> sqlite3.Connection:
    """An ordinary table with the same columns and indexes, no full-text search."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript("""
        CREATE TABLE apps (id INTEGER PRIMARY KEY, slug TEXT UNIQUE NOT NULL, name TEXT NOT NULL,
            name_sort TEXT NOT NULL, summary TEXT NOT NULL, category TEXT NOT NULL,
            publisher TEXT NOT NULL, province TEXT NOT NULL, license TEXT NOT NULL,
            adoptions INTEGER NOT NULL, published_at REAL NOT NULL);
        CREATE INDEX apps_category ON apps (category);
        CREATE INDEX apps_publisher ON apps (publisher);
        CREATE INDEX apps_province ON apps (province);
        CREATE INDEX apps_license ON apps (license);
        CREATE INDEX apps_adoptions ON apps (adoptions DESC, name_sort, slug);
        CREATE INDEX apps_newest ON apps (published_at DESC, slug);
        CREATE INDEX apps_name ON apps (name_sort, slug);
        """)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO apps (slug, name, name_sort, summary, category, publisher, province, license,"
        " adoptions, published_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                d.slug,
                d.name,
                d.name.lower(),
                d.summary,
                d.category,
                d.publisher,
                d.province,
                d.license,
                d.adoptions,
                d.published_at,
            )
            for d in corpus
        ],
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    return conn


def baseline_select(conn: sqlite3.Connection, query: SearchQuery) -> list[str]:
    filters = query.filters()
    where = " AND ".join(f"{facet} = ?" for facet in filters)
    sql = (
        "SELECT slug FROM apps"
        + (f" WHERE {where}" if where else "")
        + f" ORDER BY {_BASELINE_ORDER[query.sort]} LIMIT 20 OFFSET ?"
    )
    return [row[0] for row in conn.execute(sql, (*filters.values(), query.offset))]


# -- measurement -----------------------------------------------------------------------


def _summary(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    p95_index = max(0, int(round(0.95 * len(ordered))) - 1)
    return {
        "p50": statistics.median(ordered),
        "p95": ordered[p95_index],
        "max": ordered[-1],
        "count": float(len(ordered)),
    }


async def _bench_size(size: int, workdir: Path) -> dict[str, object]:
    corpus = generate_corpus(size)
    backend = EmbeddedSearch(workdir / f"search-{size}.sqlite3")
    started = time.perf_counter()
    await backend.upsert(corpus)
    index_seconds = time.perf_counter() - started
    baseline = build_baseline(workdir / f"baseline-{size}.sqlite3", corpus)
    mix = query_mix(corpus)
    try:
        # The first search after a write reloads the in-memory filter/sort columns.
        t0 = time.perf_counter()
        await backend.search(SearchQuery(text="perizinan"))
        first_ms = (time.perf_counter() - t0) * 1000
        for _, query in mix[:40]:  # warm caches and the thread pool
            await backend.search(query)
            await asyncio.to_thread(baseline_select, baseline, query)
        search_ms: list[float] = []
        by_kind: dict[str, list[float]] = {}
        baseline_ms: list[float] = []
        hits = 0
        for kind, query in mix:
            t0 = time.perf_counter()
            result = await backend.search(query)
            elapsed = (time.perf_counter() - t0) * 1000
            search_ms.append(elapsed)
            by_kind.setdefault(kind, []).append(elapsed)
            hits += result.total > 0
            t0 = time.perf_counter()
            await asyncio.to_thread(baseline_select, baseline, query)
            baseline_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        await backend.upsert([corpus[0]])
        upsert_one_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        await backend.search(SearchQuery(text="perizinan"))
        after_write_ms = (time.perf_counter() - t0) * 1000
    finally:
        await backend.close()
        baseline.close()
    search = _summary(search_ms)
    base = _summary(baseline_ms)
    return {
        "size": size,
        "queries": len(mix),
        "queries_with_hits": hits,
        "index_seconds": index_seconds,
        "first_search_ms": first_ms,
        "upsert_one_ms": upsert_one_ms,
        "search_after_write_ms": after_write_ms,
        "search_ms": search,
        "search_p95_by_kind_ms": {kind: _summary(values)["p95"] for kind, values in by_kind.items()},
        "baseline_ms": base,
        "ratio_p95": search["p95"] / base["p95"] if base["p95"] else float("inf"),
    }


def run(sizes: tuple[int, ...] = (1000, 10000)) -> dict:
    """Benchmark each corpus size; returns the figures keyed by size."""

    async def main() -> dict:
        with tempfile.TemporaryDirectory(prefix="lumbung-search-bench-") as tmp:
            results = {}
            for size in sizes:
                results[size] = await _bench_size(size, Path(tmp))
            return results

    results = asyncio.run(main())
    largest = max(sizes)
    results["target"] = {
        "size": largest,
        "p95_limit_ms": TARGET_P95_MS,
        "met": results[largest]["search_ms"]["p95"] < TARGET_P95_MS,
    }
    return results


def _print(results: dict) -> None:
    print("Embedded catalog search (SQLite FTS5): latency per search, facets included")
    for size, figures in results.items():
        if size == "target":
            continue
        s, b = figures["search_ms"], figures["baseline_ms"]
        print(
            f"\n{size:>6} apps  indexed in {figures['index_seconds']:.2f} s; "
            f"{figures['queries']} queries, {figures['queries_with_hits']} with hits"
        )
        print(f"  search    p50 {s['p50']:7.2f} ms   p95 {s['p95']:7.2f} ms   max {s['max']:7.2f} ms")
        print(
            f"  baseline  p50 {b['p50']:7.2f} ms   p95 {b['p95']:7.2f} ms   max {b['max']:7.2f} ms"
            "   (plain SELECT ... LIMIT 20, same filters and sort)"
        )
        print(f"  search_p95 / baseline_p95 = {figures['ratio_p95']:.1f}")
        print(
            f"  first search after indexing {figures['first_search_ms']:.1f} ms; one-app upsert "
            f"{figures['upsert_one_ms']:.1f} ms, then a search {figures['search_after_write_ms']:.1f} ms "
            "(a search after a write reloads the in-memory filter columns)"
        )
        kinds = ", ".join(f"{k} {v:.1f}" for k, v in figures["search_p95_by_kind_ms"].items())
        print(f"  p95 by kind (ms): {kinds}")
    target = results["target"]
    verdict = "yes" if target["met"] else "NO"
    print(f"\np95 < {target['p95_limit_ms']:.0f} ms at {target['size']} apps: {verdict}")


if __name__ == "__main__":
    _print(run())
