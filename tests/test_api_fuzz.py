"""The JSON API, fuzzed from its own OpenAPI schema: whatever a caller sends, no answer is
a 500, and every answer has a status code, content type and body that the schema declares.

Every operation under /api/v1 is called in process with inputs generated from the schema
(schemathesis), over one small world made once for the module: Kota Surabaya publishes
e-perizinan (1.0.0 approved and installed, its job done; 1.1.0 waiting for review), Kota
Bandung is another publishing tenant. Path parameters come from the fuzzer or from that
world's names, so calls reach the services and not only "not found". Review calls are
made by a curator, all others by Surabaya's admin, each with a token holding every scope.

No container engine takes part: DOCKER_HOST names a socket that does not exist, so what
needs the engine (logs, data export) answers 503 at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.python import asgi

from catalog.services import Submission
from marketplace.app import build_catalog_service, create_app
from marketplace.settings import get_settings
from provisioning.config import ConfigCipher
from provisioning.jobs import OPERATION_STEPS
from provisioning.services import ProvisioningService
from provisioning.tables import Installation, ProvisionJob
from tenants.principal import SCOPES
from tests.conftest import bearer, empty_database, make_tenant, make_user, manifest_doc, principal, token_for, write_bundle

pytestmark = pytest.mark.slow


def no_server_error(ctx: Any, response: Any, case: Any) -> bool:
    """No 5xx, except 503 where the container engine is needed and cannot be reached
    (whether 503 is declared for the operation is checked by status_code_conformance)."""
    assert response.status_code < 500 or response.status_code == 503, f"server error {response.status_code}"
    return True


# The checks every answer must pass.
CHECKS = [
    no_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]
REVIEW_ACTIONS = ("/approve", "/reject", "/yank", "/unyank", "/review/queue")


@pytest.fixture(scope="module")
async def fuzz_world(database: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The world the fuzzer calls into, made once: see the module's docstring."""
    await empty_database()
    settings = get_settings()
    surabaya = await make_tenant("kota-surabaya", "Pemerintah Kota Surabaya", "Jawa Timur")
    await make_tenant("kota-bandung", "Pemerintah Kota Bandung", "Jawa Barat")
    kominfo = await make_tenant("kominfo", "Kementerian Komunikasi dan Digital", "", publishes=False, kind="kementerian")
    admin = await make_user("surabaya", surabaya, "admin")
    curator = await make_user("kurator", kominfo, "viewer", is_curator=True)

    bundles = tmp_path_factory.mktemp("fuzz-bundles")
    catalog = build_catalog_service(settings)
    try:
        for version in ("1.0.0", "1.1.0"):
            bundle = write_bundle(bundles, version, manifest_doc(version=version))
            await catalog.submit_version(
                await principal(admin), Submission(version=version, changelog="", bundle_path=bundle, app_slug="e-perizinan")
            )
        await catalog.approve(await principal(curator), "e-perizinan", "1.0.0")
    finally:
        await catalog.search.close()

    adoption = await ProvisioningService(ConfigCipher(settings.secret_key)).adopt(
        await principal(admin), "kota-surabaya", "e-perizinan", "1.0.0", {}
    )
    # As if the provisioning job had run: the installation is live and can be operated.
    await ProvisionJob.update({ProvisionJob.state: "succeeded", ProvisionJob.progress: 100}).where(
        ProvisionJob.id == adoption.job_id
    )
    await Installation.update({Installation.observed_state: "running"}).where(Installation.id == adoption.installation_id)
    KNOWN.update(
        slug=["e-perizinan"],
        version=["1.0.0", "1.1.0"],
        tenant=["kota-surabaya", "kota-bandung"],
        installation_id=[adoption.installation_id],
        job_id=[adoption.job_id],
    )
    return {"admin": await token_for(admin, *SCOPES), "curator": await token_for(curator, *SCOPES)}


# The schema the app serves at /api/v1/schema/openapi.json, and the app itself: its lifespan
# starts with the first call and ends with the module.
APP = create_app(get_settings())
schema = schemathesis.openapi.from_dict(APP.openapi_schema.to_schema())
schema.app = APP
# The seeded world's names, filled in by `fuzz_world` before the first case is drawn.
SEEDED_NAMES = ("slug", "version", "tenant", "installation_id", "job_id")
KNOWN: dict[str, list[Any]] = {}


@schema.hook
def before_generate_path_parameters(context: Any, strategy: st.SearchStrategy) -> st.SearchStrategy:
    """About half of the time, the seeded world's names instead of generated ones."""
    names = [name for name in SEEDED_NAMES if f"{{{name}}}" in context.operation.path]
    if not names:
        return strategy
    known = st.deferred(lambda: st.fixed_dictionaries({name: st.sampled_from(KNOWN[name]) for name in names}))

    def merge(pair: tuple[Any, dict[str, Any]]) -> Any:
        generated, seeded = pair
        # Negative cases come wrapped with what was broken in them: those stay as they are.
        return {**generated, **seeded} if isinstance(generated, dict) else generated

    return st.one_of(strategy, st.tuples(strategy, known).map(merge))


@schema.hook
def before_generate_body(context: Any, strategy: st.SearchStrategy) -> st.SearchStrategy:
    """About half of the time, a JSON body names the seeded app and one of its versions."""
    known = st.deferred(
        lambda: st.fixed_dictionaries({"app": st.sampled_from(KNOWN["slug"]), "version": st.sampled_from(KNOWN["version"])})
    )

    def merge(pair: tuple[Any, dict[str, Any]]) -> Any:
        generated, seeded = pair
        if not isinstance(generated, dict):
            return generated
        return {**generated, **{key: value for key, value in seeded.items() if key in generated}}

    return st.one_of(strategy, st.tuples(strategy, known).map(merge))


@pytest.fixture(scope="module", autouse=True)
def no_container_engine() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOCKER_HOST", "unix:///nonexistent/lumbung-fuzz/docker.sock")
        try:
            yield
        finally:
            asgi.shutdown_lifespans()


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_input_makes_the_api_fail(case: Any, fuzz_world: dict[str, Any]) -> None:
    caller = "curator" if case.operation.path.endswith(REVIEW_ACTIONS) else "admin"
    case.call_and_validate(headers=bearer(fuzz_world[caller]), checks=CHECKS)


def test_the_schema_describes_the_api_and_not_its_own_pages():
    document = APP.openapi_schema.to_schema()
    assert [path for path in document["paths"] if path.startswith("/api/v1/schema")] == []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path != "/api/v1/health":
                assert {"400", "401", "403", "422"} <= set(operation["responses"]), (method, path)
    action = document["paths"]["/api/v1/installations/{installation_id}/{action}"]["post"]["parameters"][1]
    assert set(action["schema"]["enum"]) == set(OPERATION_STEPS)
