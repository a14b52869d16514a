"""The baseline: a bare litestar JSON endpoint returning a catalog-sized page of 20 items."""

from litestar import Litestar, get

ITEMS = [
    {
        "slug": f"aplikasi-{i:05d}",
        "name": f"Aplikasi layanan sistem informasi {i}",
        "summary": "Ringkasan layanan sistem informasi",
        "category": "perizinan",
        "publisher": {"slug": "kota-bench-0", "name": "Pemerintah Kota Bench 0", "province": "Jawa Timur"},
        "license": "Apache-2.0",
        "latest_version": "1.0.0",
        "adoptions": 0,
    }
    for i in range(20)
]


@get("/apps", sync_to_thread=False)
def apps() -> dict:
    return {"items": ITEMS, "total": 1000, "page": 1, "per_page": 20}


app = Litestar(route_handlers=[apps])
