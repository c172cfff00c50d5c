"""The route table the jobs API dispatches on (and the deployed HTTP API is generated from)."""

from __future__ import annotations

from pathlib import Path

from functions.http import routes
from functions.http.routes import SUBMIT_ROUTES


def test_a_path_parameter_binds_and_the_method_picks_the_route() -> None:
    found = routes.match(SUBMIT_ROUTES, "POST", ["jobs", "abc", "cancel"])
    assert found is not None and found.route is not None
    assert (found.route.action, found.params) == ("cancel", {"job_id": "abc"})
    head = routes.match(SUBMIT_ROUTES, "HEAD", ["kinds"])
    assert head is not None and head.route is not None and head.route.action == "kinds"


def test_a_known_path_with_another_method_names_the_allowed_ones() -> None:
    found = routes.match(SUBMIT_ROUTES, "DELETE", ["jobs"])
    assert found is not None and found.route is None
    assert found.allowed == ("POST", "GET")
    assert routes.match(SUBMIT_ROUTES, "GET", ["jobs", "a", "b"]) is None


def test_every_path_gets_a_preflight_route_and_the_webhook_none() -> None:
    keys = routes.route_keys("submit")
    assert "POST /jobs/{job_id}/retry" in keys and "OPTIONS /jobs/{job_id}/retry" in keys
    assert len([k for k in keys if k.startswith("OPTIONS ")]) == len(routes.paths(SUBMIT_ROUTES))
    assert routes.route_keys("webhook") == ["POST /webhook"]


def test_the_openapi_document_describes_exactly_the_route_table() -> None:
    """functions/openapi.yaml (the contract the fuzz tests drive) names the same routes."""
    import yaml

    from functions.http.submit_api import __file__ as api_file

    document = yaml.safe_load((Path(api_file).parent.parent / "openapi.yaml").read_text())
    described = {
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert described == {f"{r.method} {r.path}" for r in SUBMIT_ROUTES}
