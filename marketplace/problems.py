"""The JSON API's error answers, as its OpenAPI schema declares them (see marketplace.app
for where errors become these answers)."""

from __future__ import annotations

import msgspec
from litestar.openapi.datastructures import ResponseSpec


class FieldProblem(msgspec.Struct):
    field: str
    message: str


class Problem(msgspec.Struct):
    """`{"error": "validation_failed", "message": "...", "errors": [{"field", "message"}]}`"""

    error: str
    message: str
    errors: list[FieldProblem] = []


DESCRIPTIONS = {
    400: "The request could not be read",
    401: "No API token, or one that is unknown, expired or revoked",
    403: "The caller or the token's scopes do not allow this",
    404: "Missing, or not visible to the caller",
    409: "The current state does not allow this",
    413: "The upload is too large",
    422: "The input breaks a rule; `errors` names the fields",
    503: "The container engine cannot be reached; try again later",
}


def problem_responses(*codes: int) -> dict[int, ResponseSpec]:
    """The error answers of an API operation: 400, 401, 403 and 422, which any call may
    get, and the operation's own `codes`."""
    return {
        code: ResponseSpec(data_container=Problem, description=DESCRIPTIONS[code], generate_examples=False)
        for code in sorted({400, 401, 403, 422, *codes})
    }
