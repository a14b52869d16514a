"""One contract for every search backend: the embedded SQLite FTS5 index always,
Meilisearch when MEILI_URL points at a server (MEILI_API_KEY, if it needs a key).

At the end: unit tests of the embedded backend's text helpers and of the
requests the Meilisearch backend sends, which need no server.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from catalog.search import (
    FACETS,
    SearchBackend,
    SearchDocument,
    SearchQuery,
    SearchResult,
    fold,
    make_search_backend,
    validate_query,
)
from catalog.search.embedded import EmbeddedSearch, tokenize, typo_budget
from catalog.search.meili import MeiliSearch

DAY = 86_400.0
T0 = 1_704_067_200.0  # 2024-01-01


def app(
    slug: str,
    name: str,
    *,
    name_en: str,
    summary: str,
    summary_en: str,
    description: str,
    category: str,
    publisher: str,
    publisher_name: str,
    province: str,
    license: str,
    adoptions: int,
    days: float,
    aliases: tuple[str, ...] = (),
    tags: tuple[str, ...] = (),
) -> SearchDocument:
    return SearchDocument(
        slug=slug,
        name=name,
        name_en=name_en,
        summary=summary,
        summary_en=summary_en,
        description=description,
        aliases=aliases,
        tags=tags,
        category=category,
        publisher=publisher,
        publisher_name=publisher_name,
        province=province,
        license=license,
        adoptions=adoptions,
        published_at=T0 + days * DAY,
    )


# No document spells "perijinan" or "pengadaun": those stay real typo tests.
CORPUS: tuple[SearchDocument, ...] = (
    app(
        "e-perizinan-surabaya",
        "E-Perizinan",
        name_en="E-Licensing",
        summary="Layanan izin usaha dan bangunan secara daring untuk pelaku usaha.",
        summary_en="Online business and building permits for entrepreneurs.",
        description="Pemohon mengunggah berkas, petugas memverifikasi, dan izin terbit dengan tanda tangan "
        "elektronik. Applicants upload documents and receive signed permits.",
        aliases=("OSS daerah", "izin online"),
        tags=("izin", "ptsp"),
        category="perizinan",
        publisher="kota-surabaya",
        publisher_name="Pemerintah Kota Surabaya",
        province="Jawa Timur",
        license="Apache-2.0",
        adoptions=42,
        days=60,
    ),
    app(
        "sipengaduan",
        "SiPengaduan",
        name_en="Citizen Complaints",
        summary="Kanal pengaduan masyarakat yang terhubung dengan SP4N Lapor.",
        summary_en="Citizen complaint channel connected to the national Lapor service.",
        description="Warga menyampaikan aduan dan memantau tindak lanjut oleh perangkat daerah. "
        "Residents file complaints and follow their resolution.",
        aliases=("Lapor", "pengaduan masyarakat"),
        tags=("aduan", "aspirasi"),
        category="pengaduan-publik",
        publisher="kabupaten-banyuwangi",
        publisher_name="Pemerintah Kabupaten Banyuwangi",
        province="Jawa Timur",
        license="MIT",
        adoptions=77,
        days=200,
    ),
    app(
        "simpeg-sleman",
        "Sistem Informasi Kepegawaian",
        name_en="Civil Service Information System",
        summary="Data pegawai, cuti, dan kenaikan pangkat ASN dalam satu aplikasi.",
        summary_en="Civil servant records, leave and promotions in one application.",
        description="Mengelola riwayat jabatan dan presensi pegawai negeri sipil. "
        "Manages job history and attendance of civil servants.",
        aliases=("SIMPEG",),
        tags=("asn", "pegawai"),
        category="kepegawaian",
        publisher="kabupaten-sleman",
        publisher_name="Pemerintah Kabupaten Sleman",
        province="DI Yogyakarta",
        license="MIT",
        adoptions=42,
        days=10,
    ),
    app(
        "e-budgeting-jabar",
        "e-Budgeting",
        name_en="e-Budgeting",
        summary="Penyusunan rencana kerja dan anggaran perangkat daerah.",
        summary_en="Preparing work plans and budgets of regional agencies.",
        description="Terintegrasi dengan sistem informasi pemerintahan daerah untuk penyusunan APBD. "
        "Integrated with the regional government information system.",
        aliases=("RKA online",),
        tags=("anggaran", "apbd"),
        category="penganggaran",
        publisher="provinsi-jawa-barat",
        publisher_name="Pemerintah Provinsi Jawa Barat",
        province="Jawa Barat",
        license="GPL-3.0-or-later",
        adoptions=15,
        days=300,
    ),
    app(
        "simda-keuangan-bandung",
        "Sistem Informasi Manajemen Daerah Keuangan",
        name_en="Regional Finance Management System",
        summary="Penatausahaan dan akuntansi keuangan daerah.",
        summary_en="Regional financial administration and accounting.",
        description="Menerbitkan SP2D dan menyusun laporan keuangan pemerintah daerah. "
        "Issues payment orders and prepares financial statements.",
        aliases=("SIMDA",),
        tags=("keuangan", "akuntansi"),
        category="keuangan",
        publisher="kota-bandung",
        publisher_name="Pemerintah Kota Bandung",
        province="Jawa Barat",
        license="Apache-2.0",
        adoptions=120,
        days=30,
    ),
    app(
        "arsip-digital-surabaya",
        "Arsip Digital",
        name_en="Digital Archive",
        summary="Tata naskah dinas elektronik dan penyimpanan surat.",
        summary_en="Electronic official correspondence and letter storage.",
        description="Menyimpan dokumen perizinan, surat masuk, dan disposisi pimpinan secara aman. "
        "Stores permit documents, incoming letters and dispositions.",
        aliases=("e-arsip", "TNDE"),
        tags=("surat", "naskah"),
        category="kearsipan",
        publisher="kota-surabaya",
        publisher_name="Pemerintah Kota Surabaya",
        province="Jawa Timur",
        license="MIT",
        adoptions=8,
        days=120,
    ),
    app(
        "e-puskesmas-banyuwangi",
        "E-Puskesmas",
        name_en="Community Health Centre",
        summary="Rekam medis elektronik dan antrean pasien puskesmas.",
        summary_en="Electronic medical records and patient queues for health centres.",
        description="Mencatat kunjungan pasien, imunisasi, dan rujukan. Records visits, immunisation and referrals.",
        aliases=("SIMPUS",),
        tags=("kesehatan", "puskesmas"),
        category="kesehatan",
        publisher="kabupaten-banyuwangi",
        publisher_name="Pemerintah Kabupaten Banyuwangi",
        province="Jawa Timur",
        license="AGPL-3.0-only",
        adoptions=33,
        days=250,
    ),
    app(
        "ppdb-malang",
        "PPDB Online",
        name_en="School Admissions",
        summary="Penerimaan peserta didik baru jenjang SD dan SMP.",
        summary_en="New student admissions for primary and junior secondary schools.",
        description="Pendaftaran, seleksi zonasi, dan pengumuman hasil secara terbuka. "
        "Registration, zoning selection and public results.",
        aliases=("penerimaan siswa baru",),
        tags=("sekolah", "siswa"),
        category="pendidikan",
        publisher="kota-malang",
        publisher_name="Pemerintah Kota Malang",
        province="Jawa Timur",
        license="Apache-2.0",
        adoptions=64,
        days=330,
    ),
    app(
        "e-retribusi-badung",
        "e-Retribusi Pasar",
        name_en="Market Levies",
        summary="Pemungutan retribusi pasar dengan kode QR.",
        summary_en="Collecting market levies with QR codes.",
        description="Pedagang membayar retribusi harian tanpa uang tunai. Traders pay daily levies cashless.",
        aliases=("retribusi online",),
        tags=("retribusi", "pasar"),
        category="pajak-retribusi",
        publisher="kabupaten-badung",
        publisher_name="Pemerintah Kabupaten Badung",
        province="Bali",
        license="EUPL-1.2",
        adoptions=21,
        days=90,
    ),
    app(
        "jdih-sleman",
        "JDIH",
        name_en="Legal Documentation Network",
        summary="Jaringan dokumentasi dan informasi hukum daerah.",
        summary_en="Regional legal documentation and information network.",
        description="Publikasi peraturan daerah dan peraturan bupati, termasuk arsip produk hukum lama. "
        "Publishes regional regulations, including an archive of older legal products.",
        aliases=("produk hukum",),
        tags=("perda", "hukum"),
        category="dokumentasi-hukum",
        publisher="kabupaten-sleman",
        publisher_name="Pemerintah Kabupaten Sleman",
        province="DI Yogyakarta",
        license="MIT",
        adoptions=5,
        days=15,
    ),
    app(
        "e-musrenbang-makassar",
        "E-Musrenbang",
        name_en="Development Planning Deliberation",
        summary="Usulan pembangunan dari kelurahan sampai kota.",
        summary_en="Development proposals from villages up to the city.",
        description="Warga dan kelurahan mengajukan usulan, perangkat daerah menilai prioritas. "
        "Residents submit proposals and agencies rank priorities.",
        aliases=("musrenbang online",),
        tags=("perencanaan", "usulan"),
        category="perencanaan",
        publisher="kota-makassar",
        publisher_name="Pemerintah Kota Makassar",
        province="Sulawesi Selatan",
        license="Apache-2.0",
        adoptions=12,
        days=45,
    ),
)
BY_SLUG = {doc.slug: doc for doc in CORPUS}
ALL = 100  # a page size that holds the whole corpus

# -- fixtures --------------------------------------------------------------------------

RUN_ID = uuid.uuid4().hex[:8]
_index_numbers = itertools.count()


@pytest.fixture(
    params=[
        pytest.param("embedded", id="embedded"),
        pytest.param("meilisearch", id="meilisearch", marks=pytest.mark.meili),
    ]
)
async def empty_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SearchBackend]:
    if request.param == "embedded":
        embedded = EmbeddedSearch(tmp_path / "search-index.sqlite3")
        yield embedded
        await embedded.close()
        return
    url = os.environ.get("MEILI_URL", "")
    if not url:
        pytest.skip("MEILI_URL is not set: no Meilisearch server to test against")
    meili = MeiliSearch(
        url,
        os.environ.get("MEILI_API_KEY", os.environ.get("MEILI_MASTER_KEY", "")),
        f"lumbung-test-{RUN_ID}-{next(_index_numbers)}",
    )
    try:
        yield meili
    finally:
        await meili.drop_index()
        await meili.close()


@pytest.fixture
async def backend(empty_backend: SearchBackend) -> SearchBackend:
    await empty_backend.upsert(CORPUS)
    return empty_backend


async def search(backend: SearchBackend, text: str = "", **options: Any) -> SearchResult:
    options.setdefault("limit", ALL)
    return await backend.search(SearchQuery(text=text, **options))


def expected_facets(docs: list[SearchDocument], filters: dict[str, str]) -> dict[str, dict[str, int]]:
    """Disjunctive facet counts computed the slow, obvious way."""
    facets: dict[str, dict[str, int]] = {}
    for facet in FACETS:
        others = {k: v for k, v in filters.items() if k != facet}
        matching = [d for d in docs if all(getattr(d, k) == v for k, v in others.items())]
        facets[facet] = dict(Counter(getattr(d, facet) for d in matching))
    return facets


# -- text matching ---------------------------------------------------------------------


async def test_exact_word_finds_the_app(backend: SearchBackend) -> None:
    result = await search(backend, "kepegawaian")
    assert result.slugs == ["simpeg-sleman"]
    assert result.total == 1


async def test_typo_finds_the_app(backend: SearchBackend) -> None:
    result = await search(backend, "perijinan")
    assert result.slugs[0] == "e-perizinan-surabaya"


async def test_transposition_typo_finds_the_app(backend: SearchBackend) -> None:
    result = await search(backend, "pengadaun")
    assert result.slugs[0] == "sipengaduan"


async def test_last_word_matches_as_prefix(backend: SearchBackend) -> None:
    result = await search(backend, "pengadu")
    assert result.slugs[0] == "sipengaduan"
    result = await search(backend, "kepeg")
    assert result.slugs == ["simpeg-sleman"]


async def test_case_and_diacritics_do_not_matter(backend: SearchBackend) -> None:
    assert (await search(backend, "PUSKESMAS")).slugs == ["e-puskesmas-banyuwangi"]
    assert (await search(backend, "Puskésmas")).slugs == ["e-puskesmas-banyuwangi"]


async def test_aliases_are_searchable(backend: SearchBackend) -> None:
    assert (await search(backend, "SIMDA")).slugs == ["simda-keuangan-bandung"]
    assert (await search(backend, "TNDE")).slugs == ["arsip-digital-surabaya"]


async def test_english_fields_are_searchable(backend: SearchBackend) -> None:
    assert (await search(backend, "levies")).slugs == ["e-retribusi-badung"]


async def test_name_match_ranks_above_description_match(backend: SearchBackend) -> None:
    # "arsip": name of arsip-digital-surabaya, description of jdih-sleman
    result = await search(backend, "arsip")
    assert set(result.slugs) >= {"arsip-digital-surabaya", "jdih-sleman"}
    assert result.slugs.index("arsip-digital-surabaya") < result.slugs.index("jdih-sleman")
    # "perizinan": name of e-perizinan-surabaya, description of arsip-digital-surabaya
    result = await search(backend, "perizinan")
    assert result.slugs[0] == "e-perizinan-surabaya"
    assert "arsip-digital-surabaya" in result.slugs


async def test_summary_match_ranks_above_description_match(backend: SearchBackend) -> None:
    # "daerah" is in some names and summaries and, elsewhere, only in descriptions
    result = await search(backend, "daerah")
    summaries = [s for s in result.slugs if "daerah" in tokenize(BY_SLUG[s].summary)]
    descriptions_only = [
        s
        for s in result.slugs
        if "daerah"
        not in tokenize(" ".join((BY_SLUG[s].name, BY_SLUG[s].name_en, *BY_SLUG[s].aliases, BY_SLUG[s].summary)))
    ]
    assert summaries and descriptions_only
    assert max(result.slugs.index(s) for s in summaries) < min(result.slugs.index(s) for s in descriptions_only)


async def test_exact_match_ranks_above_typo_match(backend: SearchBackend) -> None:
    # The colloquial spelling now exists in one document; the typo still reaches
    # the standard spelling, below the exact match.
    colloquial = replace(
        BY_SLUG["e-retribusi-badung"], slug="perijinan-reklame-kudus", name="Sistem Perijinan Reklame", aliases=()
    )
    await backend.upsert([colloquial])
    result = await search(backend, "perijinan")
    assert result.slugs[0] == "perijinan-reklame-kudus"
    assert "e-perizinan-surabaya" in result.slugs


async def test_every_word_must_match(backend: SearchBackend) -> None:
    result = await search(backend, "sistem informasi kepegawaian")
    assert result.slugs == ["simpeg-sleman"]
    assert result.total == 1
    # both words exist, never in the same app
    result = await search(backend, "puskesmas retribusi")
    assert result.slugs == [] and result.total == 0


async def test_words_may_each_be_misspelt(backend: SearchBackend) -> None:
    result = await search(backend, "sistim informasi kepegawian")
    assert result.slugs == ["simpeg-sleman"]


async def test_unknown_word_finds_nothing(backend: SearchBackend) -> None:
    result = await search(backend, "zzqxv")
    assert result.slugs == [] and result.total == 0
    assert all(counts == {} for counts in result.facets.values())
    assert set(result.facets) == set(FACETS)


# -- filters, facets and sorts ---------------------------------------------------------


@pytest.mark.parametrize(
    ("facet", "value"),
    [
        ("category", "perizinan"),
        ("publisher", "kota-surabaya"),
        ("province", "Jawa Timur"),
        ("license", "MIT"),
    ],
)
async def test_each_filter(backend: SearchBackend, facet: str, value: str) -> None:
    result = await search(backend, **{facet: value})
    expected = {d.slug for d in CORPUS if getattr(d, facet) == value}
    assert set(result.slugs) == expected
    assert result.total == len(expected)


async def test_filters_combine_with_text(backend: SearchBackend) -> None:
    result = await search(backend, "daerah", province="Jawa Barat")
    assert set(result.slugs) == {"e-budgeting-jabar", "simda-keuangan-bandung"}
    result = await search(backend, "daerah", province="Jawa Barat", license="MIT")
    assert result.slugs == [] and result.total == 0


async def test_filter_on_unknown_value_finds_nothing(backend: SearchBackend) -> None:
    result = await search(backend, province="Atlantis")
    assert result.slugs == [] and result.total == 0
    # the other facets still count under the remaining (no) filters
    assert result.facets["province"] == expected_facets(list(CORPUS), {"province": "Atlantis"})["province"]


async def test_facet_counts_without_filters(backend: SearchBackend) -> None:
    result = await search(backend)
    assert result.facets == expected_facets(list(CORPUS), {})
    assert result.total == len(CORPUS)


async def test_facet_counts_are_disjunctive(backend: SearchBackend) -> None:
    filters = {"province": "Jawa Timur", "license": "Apache-2.0"}
    result = await search(backend, **filters)
    expected = expected_facets(list(CORPUS), filters)
    assert result.facets == expected
    # a facet's own filter does not narrow its counts: other provinces stay visible
    assert result.facets["province"]["Jawa Barat"] == 1
    assert result.facets["license"]["MIT"] == 2
    assert result.total == 2 == sum(result.facets["category"].values())


async def test_facet_counts_follow_the_text(backend: SearchBackend) -> None:
    matching = [BY_SLUG[s] for s in ("e-budgeting-jabar", "simda-keuangan-bandung")]
    result = await search(backend, "daerah", province="Jawa Barat")
    assert result.facets["category"] == expected_facets(matching, {"province": "Jawa Barat"})["category"]
    everything = (await search(backend, "daerah")).slugs
    expected_provinces = Counter(BY_SLUG[s].province for s in everything)
    assert result.facets["province"] == dict(expected_provinces)


async def test_all_four_filters_at_once(backend: SearchBackend) -> None:
    filters = {
        "category": "pengaduan-publik",
        "publisher": "kabupaten-banyuwangi",
        "province": "Jawa Timur",
        "license": "MIT",
    }
    result = await search(backend, **filters)
    assert result.slugs == ["sipengaduan"]
    assert result.facets == expected_facets(list(CORPUS), filters)


def _order(key: Any) -> list[str]:
    return [d.slug for d in sorted(CORPUS, key=key)]


async def test_sort_by_adoptions(backend: SearchBackend) -> None:
    # e-perizinan-surabaya and simpeg-sleman tie on 42 adoptions: slug breaks the tie
    result = await search(backend, sort="adoptions")
    assert result.slugs == _order(lambda d: (-d.adoptions, d.slug))


async def test_sort_by_newest(backend: SearchBackend) -> None:
    result = await search(backend, sort="newest")
    assert result.slugs == _order(lambda d: (-d.published_at, d.slug))


async def test_sort_by_name_ignores_case(backend: SearchBackend) -> None:
    result = await search(backend, sort="name")
    assert result.slugs == _order(lambda d: (fold(d.name), d.slug))
    names = [BY_SLUG[s].name for s in result.slugs]
    assert names.index("e-Budgeting") < names.index("E-Musrenbang") < names.index("e-Retribusi Pasar")


async def test_relevance_without_text_sorts_by_adoptions_then_name(backend: SearchBackend) -> None:
    result = await search(backend)
    assert result.slugs == _order(lambda d: (-d.adoptions, fold(d.name), d.slug))


async def test_sort_applies_to_text_matches(backend: SearchBackend) -> None:
    matches = set((await search(backend, "daerah")).slugs)
    result = await search(backend, "daerah", sort="adoptions")
    assert result.slugs == [s for s in _order(lambda d: (-d.adoptions, d.slug)) if s in matches]
    result = await search(backend, "daerah", sort="name")
    assert result.slugs == [s for s in _order(lambda d: (fold(d.name), d.slug)) if s in matches]


async def test_pagination(backend: SearchBackend) -> None:
    everything = (await search(backend, sort="name")).slugs
    pages = []
    for offset in range(0, len(CORPUS), 3):
        page = await search(backend, sort="name", offset=offset, limit=3)
        assert page.total == len(CORPUS)
        assert len(page.slugs) <= 3
        pages.extend(page.slugs)
    assert pages == everything
    beyond = await search(backend, sort="name", offset=len(CORPUS) + 5, limit=3)
    assert beyond.slugs == [] and beyond.total == len(CORPUS)


async def test_pagination_of_relevance_results(backend: SearchBackend) -> None:
    everything = (await search(backend, "daerah")).slugs
    assert len(everything) > 2
    first = await search(backend, "daerah", limit=2)
    rest = await search(backend, "daerah", offset=2, limit=ALL)
    assert first.slugs + rest.slugs == everything
    assert first.total == rest.total == len(everything)


# -- writes ----------------------------------------------------------------------------


async def test_upsert_replaces_a_document(backend: SearchBackend) -> None:
    renamed = replace(BY_SLUG["ppdb-malang"], name="Penerimaan Murid Baru", aliases=(), adoptions=500)
    await backend.upsert([renamed])
    assert (await search(backend, "murid")).slugs == ["ppdb-malang"]
    assert (await search(backend, "ppdb")).slugs == []
    everything = await search(backend)
    assert everything.total == len(CORPUS)
    assert everything.slugs.count("ppdb-malang") == 1
    assert everything.slugs[0] == "ppdb-malang"  # its new adoption count


async def test_upsert_of_the_same_slug_twice_in_one_batch_keeps_the_last(empty_backend: SearchBackend) -> None:
    first = BY_SLUG["jdih-sleman"]
    second = replace(first, name="JDIH Terpadu")
    await empty_backend.upsert([first, second])
    result = await search(empty_backend, "terpadu")
    assert result.slugs == ["jdih-sleman"]
    assert (await search(empty_backend)).total == 1


async def test_upsert_moves_a_document_between_facet_values(backend: SearchBackend) -> None:
    moved = replace(BY_SLUG["jdih-sleman"], license="Apache-2.0")
    await backend.upsert([moved])
    result = await search(backend)
    assert result.facets["license"] == dict(Counter(d.license for d in [*CORPUS[:-2], moved, CORPUS[-1]]))


async def test_delete_removes_documents(backend: SearchBackend) -> None:
    await backend.delete(["e-perizinan-surabaya", "no-such-app"])
    result = await search(backend, "perizinan")
    assert "e-perizinan-surabaya" not in result.slugs
    everything = await search(backend)
    assert everything.total == len(CORPUS) - 1
    assert everything.facets["category"].get("perizinan") is None
    # the words only it had are gone from typo correction too
    assert (await search(backend, "ptsp")).total == 0


async def test_delete_nothing_is_fine(backend: SearchBackend) -> None:
    await backend.delete([])
    assert (await search(backend)).total == len(CORPUS)


async def test_clear_empties_the_index(backend: SearchBackend) -> None:
    await backend.clear()
    result = await search(backend)
    assert result.slugs == [] and result.total == 0
    assert result.facets == {facet: {} for facet in FACETS}
    assert (await search(backend, "perizinan")).total == 0
    await backend.upsert(CORPUS[:2])
    assert (await search(backend)).total == 2


# -- hostile input and validation ------------------------------------------------------

HOSTILE = [
    '"',
    '"unterminated',
    "*",
    "pengadu*",
    ")",
    "((",
    "NEAR(",
    "NEAR(perizinan pengaduan, 2)",
    "-",
    "-perizinan",
    "AND OR NOT",
    "perizinan AND",
    "name:perizinan",
    "{name}: x",
    "^perizinan",
    "😀🇮🇩",
    "perizinan 😀",
    "ꦥꦼꦫꦶꦗꦶꦤꦤ꧀",  # Javanese script
    "\x00\x01\t\n",
    "' OR 1=1 --",
    "%_\\",
    "x" * 200,
    ('perizinan OR "*" NEAR( -' * 10)[:200],
]


@pytest.mark.parametrize("text", HOSTILE, ids=[f"hostile-{n}" for n in range(len(HOSTILE))])
async def test_hostile_text_is_searched_normally(backend: SearchBackend, text: str) -> None:
    result = await backend.search(SearchQuery(text=text, limit=5))
    assert isinstance(result, SearchResult)
    assert result.total >= len(result.slugs)
    assert len(result.slugs) <= 5
    assert set(result.facets) == set(FACETS)


async def test_operator_words_are_plain_words(backend: SearchBackend) -> None:
    # FTS keywords in the text are words to look for, not operators
    result = await search(backend, "perizinan OR puskesmas")
    assert result.total == 0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (SearchQuery(limit=0), "limit"),
        (SearchQuery(limit=101), "limit"),
        (SearchQuery(offset=-1), "offset"),
        (SearchQuery(offset=10_001), "offset"),
        (SearchQuery(sort="popular"), "sort"),
        (SearchQuery(text="x" * 201), "text"),
    ],
)
async def test_invalid_queries_are_refused(backend: SearchBackend, query: SearchQuery, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await backend.search(query)


def test_validate_query_accepts_the_bounds() -> None:
    for query in (
        SearchQuery(limit=1),
        SearchQuery(limit=100, offset=10_000),
        SearchQuery(text="x" * 200, sort="newest"),
    ):
        assert validate_query(query) is query
    with pytest.raises(ValueError, match="one of: relevance, adoptions, newest, name"):
        validate_query(SearchQuery(sort="best"))


def test_make_search_backend(tmp_path: Path) -> None:
    assert isinstance(make_search_backend("embedded", index_path=tmp_path / "i.sqlite3"), EmbeddedSearch)
    meili = make_search_backend(
        "meilisearch", index_path=tmp_path / "unused", meili_url="http://127.0.0.1:7700", meili_index="x"
    )
    assert isinstance(meili, MeiliSearch)
    with pytest.raises(ValueError, match="server URL"):
        make_search_backend("meilisearch", index_path=tmp_path / "unused")
    with pytest.raises(ValueError, match="unknown search backend"):
        make_search_backend("elastic", index_path=tmp_path / "unused")


# -- embedded backend: text helpers and index file -------------------------------------


def test_tokenize_folds_case_and_diacritics_and_splits_on_symbols() -> None:
    assert tokenize("E-Perizinan (OSS) Daerah!") == ["e", "perizinan", "oss", "daerah"]
    assert tokenize("Puskésmas ÇAFÉ snake_case") == ["puskesmas", "cafe", "snake", "case"]
    assert tokenize('"*) NEAR( 😀') == ["near"]


@pytest.mark.parametrize(
    ("word", "budget"),
    [("abc", 0), ("data", 1), ("pengadu", 1), ("perijinan", 2), ("pengadaun", 2), ("2024", 0), ("v2ab", 0)],
)
def test_typo_budget(word: str, budget: int) -> None:
    assert typo_budget(word) == budget


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("pengadaun", True),  # transposition: one edit
        ("kepegawian", True),  # deletion
        ("sistim informasi", True),  # substitution, 6 letters
        ("kepegawaiaan", True),  # insertion
        ("kepgawian", True),  # two edits, 9 letters
        ("kpgawian", False),  # three edits
        ("sistm", True),  # one edit, 5 letters
        ("sstm", False),  # two edits, 4 letters
        ("oerizinan", True),  # first-letter typo on a long word: counts as two, the rest exact
        ("erizinan", True),  # first letter missing
        ("eprizinan", True),  # first two letters swapped
        ("oerizinqn", False),  # first-letter typo plus another
        ("xistem", False),  # first-letter typo on a short word
        ("perijin", True),  # misspelt beginning of a word
        ("pelajin", False),
    ],
)
async def test_embedded_typo_tolerance(tmp_path: Path, text: str, found: bool) -> None:
    backend = EmbeddedSearch(tmp_path / "search.sqlite3")
    try:
        await backend.upsert(CORPUS)
        result = await backend.search(SearchQuery(text=text))
        assert (result.total > 0) is found, result
    finally:
        await backend.close()


async def test_embedded_index_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "search.sqlite3"
    first = EmbeddedSearch(path)
    await first.upsert(CORPUS)
    await first.close()
    second = EmbeddedSearch(path)
    try:
        assert (await second.search(SearchQuery(text="perijinan"))).slugs[0] == "e-perizinan-surabaya"
        assert (await second.search(SearchQuery())).total == len(CORPUS)
    finally:
        await second.close()


async def test_embedded_sees_writes_from_another_instance(tmp_path: Path) -> None:
    path = tmp_path / "search.sqlite3"
    reader, writer = EmbeddedSearch(path), EmbeddedSearch(path)
    try:
        await writer.upsert(CORPUS[:3])
        assert (await reader.search(SearchQuery())).total == 3
        await writer.upsert(CORPUS[3:])
        await writer.delete([CORPUS[0].slug])
        result = await reader.search(SearchQuery(limit=ALL))
        assert result.total == len(CORPUS) - 1
        assert CORPUS[0].slug not in result.slugs
    finally:
        await reader.close()
        await writer.close()


async def test_embedded_closed_index_refuses_work(tmp_path: Path) -> None:
    backend = EmbeddedSearch(tmp_path / "search.sqlite3")
    await backend.upsert(CORPUS[:1])
    await backend.close()
    with pytest.raises(RuntimeError, match="closed"):
        await backend.search(SearchQuery())


# -- Meilisearch backend: the requests it sends (no server needed) ---------------------


class _RecordingClient:
    """Stands in for meilisearch.Client.multi_search and answers with canned results."""

    def __init__(self, results: list[dict[str, Any]]) -> None:
        self.results = results
        self.queries: list[dict[str, Any]] = []

    def multi_search(self, queries: list[dict[str, Any]], federation: Any = None) -> dict[str, Any]:
        self.queries = list(queries)
        return {"results": self.results[: len(queries)]}


def _meili_with(results: list[dict[str, Any]]) -> tuple[MeiliSearch, _RecordingClient]:
    backend = MeiliSearch("http://127.0.0.1:7700", "", "apps")
    client = _RecordingClient(results)
    backend._client = client  # type: ignore[assignment]
    backend._index = object()  # type: ignore[assignment]  # skips configuring a server
    return backend, client


async def test_meili_disjunctive_facets_use_one_query_per_active_filter() -> None:
    backend, client = _meili_with(
        [
            {"hits": [{"slug": "e-perizinan-surabaya"}]},
            {
                "totalHits": 1,
                "facetDistribution": {"category": {"perizinan": 1, "": 3}, "publisher": {"kota-surabaya": 1}},
            },
            {"facetDistribution": {"province": {"Jawa Timur": 1, "Bali": 2}}},
            {"facetDistribution": {"license": {"Apache-2.0": 1, "MIT": 4}}},
        ]
    )
    result = await backend.search(SearchQuery(text="izin", province='Jawa "Timur"', license="Apache-2.0"))
    page, count, by_province, by_license = client.queries
    assert page["q"] == "izin" and page["matchingStrategy"] == "all"
    assert page["filter"] == ['province = "Jawa \\"Timur\\""', 'license = "Apache-2.0"']
    assert "sort" not in page  # relevance with text
    assert (page["offset"], page["limit"]) == (0, 20)
    assert count["hitsPerPage"] == 0 and count["facets"] == ["category", "publisher"]
    assert by_province["filter"] == ['license = "Apache-2.0"'] and by_province["facets"] == ["province"]
    assert by_license["filter"] == ['province = "Jawa \\"Timur\\""'] and by_license["facets"] == ["license"]
    assert result.slugs == ["e-perizinan-surabaya"]
    assert result.total == 1
    assert result.facets == {
        "category": {"perizinan": 1},
        "publisher": {"kota-surabaya": 1},
        "province": {"Jawa Timur": 1, "Bali": 2},
        "license": {"Apache-2.0": 1, "MIT": 4},
    }


@pytest.mark.parametrize(
    ("text", "sort", "expected"),
    [
        ("", "relevance", ["adoptions:desc", "name_sort:asc", "slug:asc"]),
        ("*)", "relevance", ["adoptions:desc", "name_sort:asc", "slug:asc"]),
        ("izin", "relevance", None),
        ("izin", "adoptions", ["adoptions:desc", "slug:asc"]),
        ("", "newest", ["published_at:desc", "slug:asc"]),
        ("", "name", ["name_sort:asc", "slug:asc"]),
    ],
)
async def test_meili_sorts(text: str, sort: str, expected: list[str] | None) -> None:
    backend, client = _meili_with([{"hits": []}, {"totalHits": 0}])
    await backend.search(SearchQuery(text=text, sort=sort))
    page = client.queries[0]
    assert page.get("sort") == expected
    assert "filter" not in page
    assert len(client.queries) == 2
