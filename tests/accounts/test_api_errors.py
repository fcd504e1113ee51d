"""One error shape for the whole REST API, documented: every 4xx/5xx body is ``{error, message, remedy, field}``
(FastAPI's own 422, unknown routes and methods, 401, 403, 404, 409, 413 included), it names the field at fault,
never echoes a submitted value, and bad input is never a 500. /openapi.json has a model for every route's answer
and the error model for its error statuses. Over real HTTP, with the real Sign Center and the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cexlink.api.failures import REASON_STATUS
from cexlink.domain.statuses import Status, is_transient
from tests.support.platform import EGRESS, Platform, body, start_platform

SECRET = "s3cret-Value-that-must-never-come-back-9f2b"
ERROR_REF = "#/components/schemas/ErrorBody"


@pytest.fixture(scope="module")
def api(sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    p = start_platform(tmp_path_factory.mktemp("api-errors"), sandbox.url)
    yield p
    p.stop()
    p.signer.stop()


def assert_error_shape(r: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json"), r.headers
    out = r.json()
    assert isinstance(out, dict) and {"error", "message", "remedy", "field"} <= set(out), out
    assert all(isinstance(out[k], str) and out[k] for k in ("error", "message", "remedy")), out
    if field is not None:
        assert out["field"] == field, out
    assert SECRET not in r.text
    return out


# (name, method, path, request keyword arguments, status, field named)
MALFORMED: list[tuple[str, str, str, dict[str, Any], int, str | None]] = [
    ("malformed JSON", "POST", "/api/v1/accounts", {"content": b'{"exchange": "binance", "secret": "' +
                                                     SECRET.encode()}, 422, "body"),
    ("not UTF-8", "POST", "/api/v1/accounts", {"content": b"\xff\xfe\x00{", "headers": {"content-type":
                                                                                        "application/json"}},
     422, "body"),
    ("a list, not an object", "POST", "/api/v1/accounts", {"json": [SECRET]}, 422, "body"),
    ("no body", "POST", "/api/v1/accounts", {}, 422, "body"),
    ("deeply nested", "POST", "/api/v1/accounts", {"content": b"[" * 5000 + b"]" * 5000}, 422, "body"),
    ("missing field", "POST", "/api/v1/accounts", {"json": {"exchange": "binance", "name": "x", "api_key": "k"}},
     422, "secret"),
    ("wrong type", "POST", "/api/v1/accounts", {"json": {"exchange": "binance", "name": "x", "api_key": "k",
                                                         "secret": [SECRET]}}, 422, "secret"),
    ("unknown field", "POST", "/api/v1/accounts", {"json": {"exchange": "binance", "name": "x", "api_key": "k",
                                                            "secret": SECRET, "extra": SECRET}}, 422, "extra"),
    ("unknown exchange (service check)", "POST", "/api/v1/accounts",
     {"json": {"exchange": "nope", "name": "x", "api_key": "k" * 64, "secret": SECRET}}, 422, "exchange"),
    ("path id not a number", "GET", "/api/v1/accounts/abc", {}, 422, "account_id"),
    ("path id out of range", "DELETE", f"/api/v1/accounts/{2**63}", {}, 422, "account_id"),
    ("query of the wrong type", "GET", "/api/v1/tokens?user_id=me", {}, 422, "user_id"),
    ("token expiry of the wrong type", "POST", "/api/v1/tokens", {"json": {"expires_in_days": "soon"}}, 422,
     "expires_in_days"),
    ("no such account", "GET", "/api/v1/accounts/999999", {}, 404, None),
    ("no such token", "DELETE", "/api/v1/tokens/999999", {}, 404, None),
    ("unknown route", "GET", "/api/v1/nothing-here", {}, 404, None),
    ("unknown route outside the API", "POST", "/" + SECRET, {}, 404, None),
    ("method not allowed", "DELETE", "/api/v1/exchanges", {}, 405, None),
    ("refresh everyone's without admin", "POST", "/api/v1/accounts/refresh?all=true", {}, 403, "all"),
    ("another user's tokens", "GET", "/api/v1/tokens?user_id=1000000", {}, 403, "user_id"),
    ("body over the limit", "POST", "/api/v1/accounts", {"content": b"x" * (65 * 1024)}, 413, None),
]


@pytest.mark.parametrize("name, method, path, kwargs, status, field", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_bad_requests_get_the_one_error_shape(api: Platform, name: str, method: str, path: str,
                                              kwargs: dict[str, Any], status: int, field: str | None) -> None:
    with api.client() as alice:
        listed = alice.get("/api/v1/accounts").json()
        out = assert_error_shape(alice.request(method, path, **kwargs), status, field)
        if status == 422:  # every field at fault, by place and reason only
            assert out["detail"] and all(set(d) == {"loc", "msg", "type"} for d in out["detail"])
            assert field in [d["loc"][-1] for d in out["detail"] if d["loc"]] or field == "body"
        assert alice.get("/api/v1/accounts").json() == listed  # nothing changed


def test_no_token_and_a_bad_token_get_401_in_the_same_shape(api: Platform) -> None:
    for headers in ({}, {"authorization": "Bearer cxl_" + SECRET}, {"authorization": "Basic eDp5"}):
        r = httpx.get(api.url + "/api/v1/accounts", headers=headers)
        out = assert_error_shape(r, 401)
        assert out["error"] == "unauthorized" and r.headers["www-authenticate"] == "Bearer"


def test_refusals_from_the_service_keep_their_facts(api: Platform, new_key) -> None:
    """A refused connect (400, the key's fault) and a conflict (409) in the shape, with the refusal's facts."""
    key = new_key("bybit", ips=EGRESS)
    with api.client() as alice:
        assert alice.post("/api/v1/accounts", json=body(key, "bybit")).status_code == 201
        again = assert_error_shape(alice.post("/api/v1/accounts", json=body(key, "bybit", "again")), 409, "api_key")
        assert again["error"] == "key_already_used"
        wrong = {**body(new_key("okx", ips=EGRESS), "okx"), "passphrase": "Wrong-pass-1"}
        out = assert_error_shape(alice.post("/api/v1/accounts", json=wrong), 400)
        assert (out["error"], out["status"], out["exchange_code"]) == ("invalid_api_key", "invalid_api_key", "50105")
        assert wrong["secret"] not in str(out) and wrong["api_key"] not in str(out)


def test_reason_statuses_are_chosen_in_the_api() -> None:
    for status in Status:
        assert REASON_STATUS[status.value] == (503 if is_transient(status) else 400)
    assert {REASON_STATUS[r] for r in ("account_already_connected", "key_already_used", "active_consumers",
                                       "key_belongs_to_another_account", "key_update_conflict")} == {409}


# ---- the documentation ----

def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    return spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def _documented(spec: dict[str, Any], schema: dict[str, Any]) -> bool:
    """A schema that says something: named properties (directly, or for the items of an array)."""
    schema = _resolve(spec, schema)
    if schema.get("type") == "array":
        return _documented(spec, schema.get("items", {}))
    return bool(schema.get("properties"))


def test_openapi_documents_every_answer_and_every_error(api: Platform) -> None:
    spec = httpx.get(api.url + "/openapi.json").json()
    error = spec["components"]["schemas"]["ErrorBody"]
    assert set(error["required"]) == {"error", "message", "remedy"} and "field" in error["properties"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]  # FastAPI's other shape is gone
    routes = [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()]
    assert len(routes) >= 15
    for path, method, op in routes:
        where = f"{method.upper()} {path}"
        responses = op["responses"]
        ok = [code for code in responses if code.startswith("2")]
        assert ok, f"{where} documents no answer"
        for code in ok:
            schema = responses[code]["content"]["application/json"]["schema"]
            assert _documented(spec, schema), f"{where} {code} is a bare object: {schema}"
        errors = [code for code in responses if code[0] in "45"]
        assert {"413", "500"} <= set(errors), where
        if op.get("parameters") or op.get("requestBody") or op.get("security"):
            assert {"401", "422"} <= set(errors) or "/exchanges" in path or "egress" in path, where
        for code in errors:
            schema = responses[code]["content"]["application/json"]["schema"]
            assert schema == {"$ref": ERROR_REF}, f"{where} {code}: {schema}"
