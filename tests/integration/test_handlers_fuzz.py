"""Every route of the live route table fed bad input: over-long paths and names, malformed and non-UTF-8
bodies, JSON of the wrong shape or types, bodies over the size limit. Never a 500, always a JSON error that
says what to do, and nothing on disk changes (a body that slipped through to the core would launch a run,
collect garbage or write a report).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from urllib.parse import quote

import jsonschema
import pytest
from run_helpers import write_notebook
from test_handlers import BODY_METHODS, component_validator, live_routes, openapi_doc, seed_store, tree_state

from nblift.server.bodies import read_body
from nblift.server.handlers import MAX_JSON_BODY

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

LONG = "a" * 5000
#: Query values tried for every query parameter an operation declares.
BAD_QUERY_VALUES = [
    LONG,
    "b" * 300 + "/train.ipynb",  # one name longer than the file system takes
    "x/" * 2100,  # a path longer than PATH_MAX
    "%ff%fe",  # percent-escapes that are not UTF-8
    "..%2f" * 50,
    "-1",
    "1e309",
    "[]",
]
MALFORMED_BODIES = [
    b"{not json",
    b'{"alias": "x"',  # cut off
    b"\xff\xfe\xfd\x00",  # not UTF-8
    b'{"alias": "\xff"}',  # JSON with a non-UTF-8 byte inside a string
    b"[]",
    b'"text"',
    b"123",
    b"null",
    b'{"no_such_field": 1}',
    b"{" + b'"a":' * 10000 + b"}",  # deep nesting
    b"[" * 100_000,  # deeper than the JSON parser's recursion
]
HUGE_BODY = b'{"notebook": "' + b"a" * (MAX_JSON_BODY + 10) + b'"}'
#: Values of every JSON type: each one a property's schema refuses is sent in that property.
SAMPLE_VALUES = [5, 1.5, "x", [], {}, True, None, {"k": 5}, ["x"]]
#: Valid values for the required fields, so a wrong type in one field is the only thing wrong.
REQUIRED_SAMPLES = {
    "notebook": "train.ipynb",
    "alias": "challenger",
    "version": None,
    "fields": {},
    "kernel": "0123abcd-0000-4000-8000-000000000000",
}
#: A path parameter replaced by something too long for a name.
LONG_SEGMENT = "m" * 4000


def _body_schema(doc: dict, template: str, method: str) -> dict | None:
    operation = doc["paths"].get(template, {}).get(method, {})
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if schema and "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _query_names(doc: dict, template: str, method: str) -> list[str]:
    operation = doc["paths"].get(template, {}).get(method, {})
    return [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]


def _wrong_type_bodies(schema: dict) -> list[dict]:
    bodies = []
    required = {k: REQUIRED_SAMPLES[k] for k in schema.get("required", [])}
    for name, prop in schema.get("properties", {}).items():
        check = jsonschema.Draft202012Validator(prop)
        bodies += [required | {name: v} for v in SAMPLE_VALUES if not check.is_valid(v)]
        if prop.get("type") == "string" or "string" in prop.get("type", []):
            bodies.append(required | {name: "z" * 200_000})  # text far longer than any field needs
    return bodies


def _state(root: Path) -> dict:
    """Files under `root` with size and mtime; SQLite's shared-memory index (rewritten by reads) aside."""
    return {k: v for k, v in tree_state(root).items() if not k.endswith("-shm")}


@pytest.fixture
def project(jp_root_dir):
    root = Path(jp_root_dir)
    write_notebook(root / "train.ipynb", "print(lr)", parameters="lr = 0.1")
    seed_store(root)  # an old orphan object: a gc that slipped through would remove it
    return root


async def test_every_route_refuses_bad_input_with_a_4xx(jp_serverapp, http_server_client, project):
    doc = openapi_doc()
    routes = live_routes(jp_serverapp)
    token = jp_serverapp.identity_provider.token
    error_schema = component_validator(doc, "Error")
    seen_5xx: list[str] = []
    sent: list[int] = []

    async def send(url: str, method: str, body: bytes | None = None) -> int:
        if method in BODY_METHODS and body is None:
            body = b""
        response = await http_server_client.fetch(
            url,
            method=method.upper(),
            headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
            body=body,
            raise_error=False,
            follow_redirects=False,
            request_timeout=120,
        )
        sent.append(response.code)
        if response.code >= 500:
            seen_5xx.append(f"{method.upper()} {url[:120]} ({len(body or b'')} bytes) -> {response.code}")
        elif response.code >= 400 and response.code != 405:
            data = json.loads(response.body)
            error_schema.validate(data)
            assert data["message"] and len(data["message"]) < 2000, (url[:120], data["message"][:200])
        return response.code

    # Let every GET create what it creates lazily (the tracking store) before the state is taken.
    for route in routes:
        if "get" in route.methods:
            await send(route.url, "get")
    before = _state(project)

    for route in routes:
        for method in sorted(route.methods):
            for name in _query_names(doc, route.template, method):
                for value in BAD_QUERY_VALUES:
                    await send(f"{route.url}?{name}={quote(value, safe='%/')}", method)
            if "[^/]+" in route.pattern:  # a free-form path parameter (a model name): far too long
                await send(re.sub(r"/models/[^/]+", f"/models/{LONG_SEGMENT}", route.url, count=1), method)
            if method not in BODY_METHODS:
                continue
            for body in MALFORMED_BODIES:
                code = await send(route.url, method, body)
                assert 400 <= code < 500, (route.url, body[:40], code)
            assert await send(route.url, method, HUGE_BODY) == 413, route.url
            schema = _body_schema(doc, route.template, method)
            assert schema is not None, f"{route.template} {method}: openapi.json has no requestBody"
            for wrong in _wrong_type_bodies(schema):
                code = await send(route.url, method, json.dumps(wrong).encode())
                assert 400 <= code < 500, (route.url, str(wrong)[:120], code)

    assert not seen_5xx, "\n".join(seen_5xx)
    assert len(sent) > 600 and sent.count(413) >= 10  # every route, every kind of bad input
    assert _state(project) == before


def test_every_post_body_matches_the_openapi_document(jp_serverapp):
    """The typed body a route reads (its `post_body`) is the requestBody the document publishes: same fields,
    same required ones, no others."""
    doc = openapi_doc()
    checked = 0
    for route in live_routes(jp_serverapp):
        if "post" not in route.methods:
            continue
        schema = _body_schema(doc, route.template, "post")
        assert schema is not None, route.template
        fields = route.handler.post_body.__dataclass_fields__
        assert set(schema.get("properties", {})) == set(fields), route.template
        required = {
            n
            for n, f in fields.items()
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        assert set(schema.get("required", [])) == required, route.template
        assert schema.get("additionalProperties") is False, route.template
        if required:  # the document's own example of a valid body is read without complaint
            read_body(route.handler.post_body, {k: REQUIRED_SAMPLES[k] for k in required})
        checked += 1
    assert checked >= 10
