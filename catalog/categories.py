"""The SPBE application taxonomy used to classify catalog apps."""

from __future__ import annotations

# key -> (Bahasa Indonesia label, English label, group)
CATEGORIES: dict[str, tuple[str, str, str]] = {
    "perencanaan": ("Perencanaan", "Planning", "administrasi"),
    "penganggaran": ("Penganggaran", "Budgeting", "administrasi"),
    "keuangan": ("Keuangan", "Finance", "administrasi"),
    "pengadaan": ("Pengadaan Barang/Jasa", "Procurement", "administrasi"),
    "kepegawaian": ("Kepegawaian", "Civil service staffing", "administrasi"),
    "kearsipan": ("Kearsipan", "Records and archives", "administrasi"),
    "barang-milik-daerah": ("Barang Milik Daerah", "Regional assets", "administrasi"),
    "pengawasan-internal": ("Pengawasan Internal", "Internal audit", "administrasi"),
    "akuntabilitas-kinerja": ("Akuntabilitas Kinerja", "Performance accountability", "administrasi"),
    "pengaduan-publik": ("Pengaduan Publik", "Public complaints", "layanan-publik"),
    "dokumentasi-hukum": ("Dokumentasi dan Informasi Hukum", "Legal documentation", "layanan-publik"),
    "whistleblowing": ("Whistleblowing", "Whistleblowing", "layanan-publik"),
    "kependudukan": ("Kependudukan", "Population registry", "layanan-publik"),
    "perizinan": ("Perizinan", "Licensing and permits", "layanan-publik"),
    "kesehatan": ("Kesehatan", "Health", "layanan-publik"),
    "pendidikan": ("Pendidikan", "Education", "layanan-publik"),
    "pajak-retribusi": ("Pajak dan Retribusi Daerah", "Regional taxes and levies", "layanan-publik"),
    "sosial": ("Sosial", "Social welfare", "layanan-publik"),
    "pariwisata": ("Pariwisata", "Tourism", "layanan-publik"),
    "transportasi": ("Transportasi", "Transport", "layanan-publik"),
    "lainnya": ("Lainnya", "Other", "layanan-publik"),
}

GROUPS: dict[str, tuple[str, str]] = {
    "administrasi": ("Administrasi Pemerintahan", "Government administration"),
    "layanan-publik": ("Layanan Publik", "Public services"),
}


def category_label(key: str, locale: str = "id") -> str:
    labels = CATEGORIES.get(key)
    if labels is None:
        return key
    return labels[1] if locale == "en" else labels[0]
