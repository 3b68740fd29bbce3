"""The OpenAPI document, the offline docs, and a schemathesis fuzz of every operation."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import negative_data_rejection, positive_data_acceptance
from schemathesis.generation import GenerationMode

from helixnet.api import create_app
from helixnet.api.app import api_routes

from .apihelp import API, sign_in

DOCUMENT = "the OpenAPI document and the routing: the same app on every stack"


@pytest.mark.embedded_only(DOCUMENT)
def test_every_route_is_documented(client) -> None:
    spec = client.get(f"{API}/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    documented = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    declared = {(r.method, API + re.sub(r":\w+}", "}", r.path)) for r in api_routes()}
    assert documented == declared
    for path in ("/health", "/auth/token", "/users/me", "/users/me/password", "/users", "/users/{user_id}",
                 "/plugins", "/jobs", "/jobs/upload", "/jobs/{job_id}", "/jobs/{job_id}/events",
                 "/jobs/{job_id}/cancel", "/jobs/{job_id}/retry", "/artifacts/upload", "/artifacts",
                 "/artifacts/{artifact_id}", "/artifacts/{artifact_id}/complete",
                 "/artifacts/{artifact_id}/download", "/schedules", "/schedules/{schedule_id}",
                 "/schedules/{schedule_id}/run", "/schedules/{schedule_id}/jobs"):
        assert f"{API}{path}" in spec["paths"], path
    assert spec["paths"][f"{API}/jobs"]["post"]["responses"]["202"]["content"]["application/json"]["schema"]
    for name in ("JobRead", "JobCreate", "ArtifactRead", "UserRead", "UserUpdate", "ErrorBody"):
        assert any(key.startswith(name) for key in spec["components"]["schemas"]), name
    assert client.get("/openapi.json").json() == spec


@pytest.mark.embedded_only(DOCUMENT)
def test_docs_work_offline(client) -> None:
    page = client.get(f"{API}/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "http://" not in page.text.replace("http://testserver", "")  # no CDN
    assert "https://" not in page.text
    for asset in ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"):
        assert f"{API}/docs/static/{asset}" in page.text
        served = client.get(f"{API}/docs/static/{asset}")
        assert served.status_code == 200 and len(served.content) > 1000, asset
    root = client.get("/", follow_redirects=False)
    assert root.status_code in (302, 307) and root.headers["location"].endswith(f"{API}/docs")


@pytest.mark.embedded_only(DOCUMENT)
def test_unknown_routes_and_methods_are_json(client) -> None:
    missing = client.get(f"{API}/nope")
    assert missing.status_code == 404 and set(missing.json()) == {"detail", "errors"}
    wrong = client.delete(f"{API}/jobs")
    assert wrong.status_code == 405 and "detail" in wrong.json()


@pytest.fixture
def fuzz_env(make_hx) -> dict[str, Any]:
    """An app with an admin signed in (so admin routes are fuzzed too) and one artifact."""
    from starlette.testclient import TestClient

    hx = make_hx(workers=1, login_max_failures=1000)
    user = hx.users.create(email="fuzz@example.org", password="fuzzing password", is_admin=True)
    hx.artifacts.create(user, filename="seed.txt", data=b"seed")
    app = create_app(hx)
    with TestClient(app) as client:
        headers = sign_in(client, "fuzz@example.org", "fuzzing password")
    return {"app": app, "headers": headers}


@pytest.fixture
def fuzz_target(fuzz_env: dict[str, Any]) -> Any:
    return schemathesis.openapi.from_asgi(f"{API}/openapi.json", fuzz_env["app"])


# One test per operation, parametrized from the routes themselves rather than through schemathesis'
# pytest plugin (`from_fixture`), which reaches into pytest internals (`Function._nodeid`) and broke
# on pytest 9.2 (issue 7). Hypothesis drives each operation's own case strategies, positive and negative.
OPERATIONS = sorted({(r.method, API + re.sub(r":\w+}", "}", r.path)) for r in api_routes()})


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_fuzz_finds_no_500_and_no_schema_violation(
    method: str, path: str, fuzz_target: Any, fuzz_env: dict[str, Any]
) -> None:
    operation = fuzz_target[path][method]
    # Every check but "schema-valid data is accepted": a well-formed submission can still name an
    # unknown plugin or a wrong password, and those are refused on purpose.
    # A multipart or raw-bytes body has no "wrong type" to refuse: any part may be a file.
    excluded = [positive_data_acceptance]
    if path in (f"{API}/jobs/upload", f"{API}/storage/{{token}}"):
        excluded.append(negative_data_rejection)
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @given(case=cases)
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def call(case: Any) -> None:
        headers = dict(case.headers or {})
        headers.setdefault("Authorization", fuzz_env["headers"]["Authorization"])
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    call()


@pytest.mark.embedded_only(DOCUMENT)
def test_mounted_inside_another_app(hx) -> None:
    """create_app(hx) mounts under any prefix of someone else's Starlette app; links follow the mount."""
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.testclient import TestClient

    hx.users.create(email="m@example.org", password="mounted password")
    outer = Starlette(routes=[Mount("/svc", app=create_app(hx, root_redirect=False))])
    with TestClient(outer) as client:
        token = client.post("/svc/api/v1/auth/token", data={"username": "m@example.org", "password": "mounted password"})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        job = client.post("/svc/api/v1/jobs", headers=headers, json={"plugin": "echo"})
        assert job.status_code == 202
        assert job.headers["Location"] == f"http://testserver/svc/api/v1/jobs/{job.json()['id']}"
        assert client.get("/svc/api/v1/docs").status_code == 200
        assert "/svc/api/v1/docs/static/swagger-ui-bundle.js" in client.get("/svc/api/v1/docs").text
        assert client.options("/svc/api/v1/jobs").headers["Allow"] == "GET, HEAD, POST"


@pytest.mark.embedded_only(DOCUMENT)
def test_ids_are_uuids_and_downloads_are_binary(client) -> None:
    """Issue 6 of #9: generated clients type ids as UUIDs and the storage GET as a file."""
    spec = client.get(f"{API}/openapi.json").json()
    schemas = spec["components"]["schemas"]
    uuid = {"type": "string", "format": "uuid"}
    for model, fields in {"JobRead": ("id", "owner_id"), "ArtifactRead": ("id", "owner_id"), "UserRead": ("id",),
                          "JobEventRead": ("job_id",)}.items():  # fmt: skip
        for field in fields:
            assert uuid.items() <= schemas[model]["properties"][field].items(), (model, field)
    assert schemas["ArtifactRead"]["properties"]["job_id"]["anyOf"] == [uuid, {"type": "null"}]
    assert schemas["JobRead"]["properties"]["inputs"]["additionalProperties"] == uuid
    # An input is an artifact id, or a parent's output (workflows, issue 13).
    assert schemas["JobCreate"]["properties"]["inputs"]["additionalProperties"]["anyOf"] == [
        uuid, {"$ref": "#/components/schemas/OutputRef"}]  # fmt: skip
    assert schemas["JobCreate"]["properties"]["after"]["anyOf"][0]["items"] == uuid
    assert "format" not in str(schemas["JobPage"]["properties"]["next_cursor"])  # a cursor, not an id
    download = spec["paths"][f"{API}/storage/{{token}}"]["get"]["responses"]["200"]["content"]
    assert download == {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


@pytest.mark.embedded_only(DOCUMENT)
def test_each_operation_lists_only_what_it_can_answer(client) -> None:
    spec = client.get(f"{API}/openapi.json").json()
    statuses = {(method.upper(), path.removeprefix(API)): set(op["responses"])
                for path, ops in spec["paths"].items() for method, op in ops.items()}  # fmt: skip
    assert statuses[("GET", "/health")] == {"200", "503"}
    assert statuses[("POST", "/auth/token")] == {"200", "400", "413", "429"}
    assert statuses[("GET", "/users/me")] == {"200", "401"}
    assert statuses[("GET", "/users/{user_id}")] == {"200", "401", "403", "404"}
    assert statuses[("GET", "/jobs/{job_id}")] == {"200", "401", "404"}
    assert statuses[("POST", "/jobs")] == {"202", "400", "401", "404", "409", "413", "422"}
    assert statuses[("GET", "/storage/{token}")] == {"200", "403", "404", "409", "503"}
    everything = {"400", "401", "403", "404", "409", "413", "422", "429", "503"}
    assert not [key for key, codes in statuses.items() if everything <= codes]
    token_400 = spec["paths"][f"{API}/auth/token"]["post"]["responses"]["400"]["content"]["application/json"]
    assert token_400["schema"] == {"$ref": "#/components/schemas/TokenError"}
    assert list(spec["paths"][f"{API}/auth/token"]["post"]["requestBody"]["content"]) == [
        "application/x-www-form-urlencoded"]


@pytest.mark.embedded_only(DOCUMENT)
def test_every_prefilled_example_is_accepted(client) -> None:
    """Issue 7 of #9: Swagger UI's "Try it out" sends the examples as they stand; each must validate."""
    from helixnet.api.app import api_routes

    spec = client.get(f"{API}/openapi.json").json()
    bodies = {(r.method, API + re.sub(r":\w+}", "}", r.path)): r.operation.body for r in api_routes()}
    checked = 0
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                example = content["application/json"].get("example")
                assert example is not None, f"{method} {path} has no example: Swagger would send 'string'"
                bodies[(method.upper(), path)].model_validate_json(json.dumps(example), strict=True)
                checked += 1
    # PUT /users/me, password, POST /users, PATCH /users/{id}, POST /jobs, /jobs/batch, /artifacts/upload, /jobs/bulk,
    # POST /schedules, PATCH /schedules/{id}
    assert checked == 10
    form = spec["paths"][f"{API}/jobs/upload"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    params = json.loads(form["properties"]["params"]["examples"][0])
    assert params == {"top": 5}
    hx_plugin = client.app.state.hx.plugins.get_or_raise(form["properties"]["plugin"]["examples"][0])
    hx_plugin.Params.model_validate(params)
