"""Indonesian translations of the interface, written out as marketplace/locale/id/LC_MESSAGES/messages.po.

Run `.venv/bin/python scripts/translations_id.py` after changing a message; the test suite
checks that every message in the templates has a translation.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

ID: dict[str | tuple[str, str], str | tuple[str, str]] = {
    "Catalog": "Katalog",
    "Publish": "Terbitkan",
    "My apps": "Aplikasi saya",
    "Review": "Tinjauan",
    "Acting for": "Bertindak untuk",
    "API tokens": "Token API",
    "Sign out": "Keluar",
    "Sign in": "Masuk",
    "Lumbung: proven e-government systems shared between Indonesia's regions.":
        "Lumbung: sistem pemerintahan elektronik yang sudah terbukti, dibagi antardaerah di Indonesia.",
    "Not found": "Tidak ditemukan",
    "Not allowed": "Tidak diizinkan",
    "Something went wrong": "Terjadi kesalahan",
    "Request not accepted": "Permintaan tidak diterima",
    "Back to the catalog": "Kembali ke katalog",
    "Tokens let the marketplace CLI and your CI pipelines act for you. A token is shown once; keep it secret.":
        "Token memungkinkan CLI marketplace dan pipeline CI Anda bertindak atas nama Anda. Token hanya ditampilkan sekali; simpan dengan rahasia.",
    "Your new token (shown only now):": "Token baru Anda (hanya ditampilkan sekarang):",
    "Name": "Nama",
    "Scopes": "Cakupan",
    "Expires after (days)": "Kedaluwarsa setelah (hari)",
    "Create token": "Buat token",
    "Token": "Token",
    "Expires": "Kedaluwarsa",
    "Last used": "Terakhir dipakai",
    "revoked": "dicabut",
    "Revoke": "Cabut",
    "Sign in to Lumbung": "Masuk ke Lumbung",
    "The shared catalog of e-government apps for Indonesia's regional governments.":
        "Katalog bersama aplikasi pemerintahan elektronik untuk pemerintah daerah di Indonesia.",
    "Wrong username or password.": "Username atau kata sandi salah.",
    "Username": "Username",
    "Password": "Kata sandi",
    "Version %(version)s was submitted and waits for a curator's review.":
        "Versi %(version)s telah dikirim dan menunggu tinjauan kurator.",
    "Published by": "Diterbitkan oleh",
    "latest version": "versi terbaru",
    ("%(num)d region uses it", "%(num)d regions use it"): ("Dipakai %(num)d daerah", "Dipakai %(num)d daerah"),
    "Screenshots": "Tangkapan layar",
    "Screenshot %(n)d of %(name)s": "Tangkapan layar %(n)d dari %(name)s",
    "Requirements": "Kebutuhan",
    "Memory": "Memori",
    "at least": "minimal",
    "CPU": "CPU",
    "Port": "Port",
    "Health check": "Pemeriksaan kesehatan",
    "Data volumes": "Volume data",
    "Configuration": "Konfigurasi",
    "required": "wajib",
    "generated": "dibuat otomatis",
    "secret": "rahasia",
    "About": "Tentang",
    "Maintenance": "Pemeliharaan",
    "Status": "Status",
    "Estimated cost to build from scratch": "Perkiraan biaya membangun dari awal",
    "Source code": "Kode sumber",
    "Documentation": "Dokumentasi",
    "Contact": "Kontak",
    "Versions": "Versi",
    "Hide prereleases": "Sembunyikan pra-rilis",
    "Show prereleases": "Tampilkan pra-rilis",
    "Version": "Versi",
    "Date": "Tanggal",
    "Changes": "Perubahan",
    "Curator": "Kurator",
    "Reason": "Alasan",
    "Undo yank": "Batalkan penarikan",
    "Yank": "Tarik",
    "No listed version yet.": "Belum ada versi yang terdaftar.",
    "Regions using this app": "Daerah yang memakai aplikasi ini",
    "No region runs it through Lumbung yet.": "Belum ada daerah yang menjalankannya melalui Lumbung.",
    "Proven apps from Indonesia's regions": "Aplikasi teruji dari daerah-daerah Indonesia",
    "Adopt what another region already built instead of building it again.":
        "Adopsi yang sudah dibangun daerah lain, bukan membangunnya lagi.",
    "Search apps, e.g. perizinan, pengaduan, kepegawaian": "Cari aplikasi, mis. perizinan, pengaduan, kepegawaian",
    "Search apps": "Cari aplikasi",
    "Sort by": "Urutkan",
    "Best match": "Paling sesuai",
    "Most adopted": "Paling banyak diadopsi",
    "Newest": "Terbaru",
    "Search": "Cari",
    "Filters": "Saring",
    "SPBE category": "Kategori SPBE",
    "Publisher": "Penerbit",
    "Province": "Provinsi",
    "License": "Lisensi",
    ("%(num)d app", "%(num)d apps"): ("%(num)d aplikasi", "%(num)d aplikasi"),
    "for": "untuk",
    "No app matches. Try other words or remove a filter.":
        "Tidak ada aplikasi yang cocok. Coba kata lain atau hapus saringan.",
    "Pages": "Halaman",
    "Previous": "Sebelumnya",
    "Page %(page)d of %(pages)d": "Halaman %(page)d dari %(pages)d",
    "Next": "Berikutnya",
    "Apps of my tenants": "Aplikasi instansi saya",
    "Publish an app or a new version": "Terbitkan aplikasi atau versi baru",
    "Submitted": "Dikirim",
    "Your tenants have not published an app yet.": "Instansi Anda belum menerbitkan aplikasi.",
    "Publish an app": "Terbitkan aplikasi",
    "Upload a bundle: a .tar.gz holding lumbung.yaml, a Dockerfile and the build context. The app's name, description and requirements come from lumbung.yaml. A curator reviews every version before it is listed.":
        "Unggah bundel: berkas .tar.gz berisi lumbung.yaml, Dockerfile dan konteks build. Nama, deskripsi dan kebutuhan aplikasi diambil dari lumbung.yaml. Kurator meninjau setiap versi sebelum tampil di katalog.",
    "The submission was not accepted:": "Kiriman tidak diterima:",
    "Publishing tenant": "Instansi penerbit",
    "Publishing for": "Menerbitkan untuk",
    "Bundle (.tar.gz)": "Bundel (.tar.gz)",
    "Largest accepted size: %(size)s.": "Ukuran terbesar yang diterima: %(size)s.",
    "Version (SemVer, for example 1.4.2)": "Versi (SemVer, misalnya 1.4.2)",
    "Changelog (Markdown)": "Catatan perubahan (Markdown)",
    "Submit for review": "Kirim untuk ditinjau",
    "From a terminal:": "Dari terminal:",
    "Review queue": "Antrean tinjauan",
    "Versions waiting for review": "Versi yang menunggu tinjauan",
    "Nothing waits for review.": "Tidak ada yang menunggu tinjauan.",
    "new app": "aplikasi baru",
    "prerelease": "pra-rilis",
    "submitted by": "dikirim oleh",
    "Approve": "Setujui",
    "Reason for rejection": "Alasan penolakan",
    "Reject": "Tolak",
    "yanked": "ditarik",
    "approved": "disetujui",
    "rejected": "ditolak",
    "under review": "dalam tinjauan",
    "security fixes": "perbaikan keamanan",
    # messages of services shown on pages
    "not found": "tidak ditemukan",
    "no such app": "aplikasi tidak ditemukan",
    "no such version": "versi tidak ditemukan",
    "please sign in": "silakan masuk",
    "only curators can do this": "hanya kurator yang dapat melakukan ini",
    "only curators review versions": "hanya kurator yang meninjau versi",
    "only admins and operators of a publishing tenant can do this":
        "hanya admin dan operator instansi penerbit yang dapat melakukan ini",
    "something went wrong on our side": "terjadi kesalahan di sisi kami",
    "a rejection needs a reason": "penolakan memerlukan alasan",
    "Browse and search the catalog": "Menjelajah dan mencari di katalog",
    "Submit apps and versions for the publisher's tenant": "Mengirim aplikasi dan versi untuk instansi penerbit",
    "Review, approve, reject and yank versions (curators)": "Meninjau, menyetujui, menolak dan menarik versi (kurator)",
    "Action": "Tindakan",
    "Actor": "Pelaku",
    "Add": "Tambah",
    "Add a member": "Tambah anggota",
    "Address": "Alamat",
    "All": "Semua",
    "Apps it publishes": "Aplikasi yang diterbitkan",
    "Apps it runs": "Aplikasi yang dijalankan",
    "Audit trail": "Jejak audit",
    "Change": "Ubah",
    "Export CSV": "Ekspor CSV",
    "Filter": "Saring",
    "From": "Dari",
    "It runs no app through Lumbung yet.": "Belum menjalankan aplikasi melalui Lumbung.",
    "Kemendagri code": "Kode Kemendagri",
    "Members": "Anggota",
    "Members of %(tenant)s": "Anggota %(tenant)s",
    "No entries.": "Tidak ada catatan.",
    "No published app yet.": "Belum ada aplikasi yang diterbitkan.",
    "Object": "Objek",
    "Older entries": "Catatan lebih lama",
    "Remove": "Keluarkan",
    "Role": "Peran",
    "Role of %(user)s": "Peran %(user)s",
    "Switch": "Ganti",
    "Tenant": "Instansi",
    "Tenant profile": "Profil instansi",
    "Time": "Waktu",
    "Too many failed sign-ins. The account is locked for 15 minutes.":
        "Terlalu banyak percobaan masuk yang gagal. Akun dikunci selama 15 menit.",
    "Too many sign-in attempts from your address. Wait a minute and try again.":
        "Terlalu banyak percobaan masuk dari alamat Anda. Tunggu satu menit lalu coba lagi.",
    "Until": "Sampai",
    "you": "Anda",
    "admin": "admin",
    "operator": "operator",
    "viewer": "pengamat",
    "only the tenant's admins manage its members": "hanya admin instansi yang mengelola anggotanya",
    "no such tenant": "instansi tidak ditemukan",
    "no such member": "anggota tidak ditemukan",
    "a tenant keeps at least one admin: make someone else admin first":
        "instansi harus memiliki setidaknya satu admin: jadikan anggota lain admin lebih dulu",
    "only tenant admins read the audit trail": "hanya admin instansi yang dapat membaca jejak audit",
    "Limit to one tenant (for automation such as a CI pipeline)": "Batasi ke satu instansi (untuk otomasi seperti pipeline CI)",
    "No limit: every tenant I belong to": "Tanpa batas: semua instansi saya",
    "Adopt and operate apps for the tenant": "Mengadopsi dan mengoperasikan aplikasi untuk instansi",
    "Read adoption statistics": "Membaca statistik adopsi",
    "Or sign in with a Lumbung username and password:": "Atau masuk dengan username dan kata sandi Lumbung:",
    "The sign-in expired or was not started from this site. Please try again.":
        "Proses masuk kedaluwarsa atau tidak dimulai dari situs ini. Silakan coba lagi.",
    "The identity provider did not sign you in.": "Penyedia identitas tidak memasukkan Anda.",
    "The identity provider rejected the sign-in code. Please try again.":
        "Penyedia identitas menolak kode masuk. Silakan coba lagi.",
    "The identity token could not be verified.": "Token identitas tidak dapat diverifikasi.",
    "The identity token has expired. Please try again.": "Token identitas sudah kedaluwarsa. Silakan coba lagi.",
    "The identity token was not issued for this site.": "Token identitas tidak diterbitkan untuk situs ini.",
    "The identity token does not belong to this sign-in.": "Token identitas bukan milik proses masuk ini.",
    "The identity provider did not send a usable username.": "Penyedia identitas tidak mengirim username yang dapat dipakai.",
    "This account is disabled.": "Akun ini dinonaktifkan.",
    "The identity provider cannot be reached. Please try again later.":
        "Penyedia identitas tidak dapat dihubungi. Silakan coba lagi nanti.",
    "The identity provider sent an answer that cannot be used.": "Penyedia identitas mengirim jawaban yang tidak dapat dipakai.",
    "An account with this username already exists. Ask a platform admin to link it to single sign-on.":
        "Akun dengan username ini sudah ada. Minta admin platform menautkannya ke SSO.",
}


def build() -> Catalog:
    catalog = Catalog(locale="id", project="Lumbung", charset="utf-8", fuzzy=False)
    for msgid, msgstr in ID.items():
        catalog.add(msgid, msgstr)
    return catalog


if __name__ == "__main__":
    target = Path(__file__).resolve().parent.parent / "marketplace" / "locale" / "id" / "LC_MESSAGES" / "messages.po"
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as fh:
        write_po(fh, build(), width=100, omit_header=False, sort_output=True)
    print(f"wrote {len(ID)} messages to {target}")
