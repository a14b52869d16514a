"""Driving the web pages in tests the way a browser does: cookies and CSRF tokens."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import PASSWORD

CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')


async def csrf_token(client: Any, path: str = "/login") -> str:
    page = await client.get(path)
    match = CSRF_FIELD.search(page.text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


async def login(client: Any, username: str, password: str = PASSWORD) -> Any:
    token = await csrf_token(client)
    return await client.post(
        "/login", data={"username": username, "password": password, "next": "/", "_csrf_token": token}
    )


async def post_form(client: Any, path: str, data: dict[str, Any], *, page: str = "/", files: Any = None) -> Any:
    token = await csrf_token(client, page)
    return await client.post(path, data={**data, "_csrf_token": token}, files=files)
