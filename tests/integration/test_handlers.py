"""The REST API in a real Jupyter server: contract (OpenAPI), authentication, XSRF, authorization, paths.

Routes are enumerated from the live server's route table, so a route added later is covered by the
security tests without anyone remembering to add it here.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import secrets
import time
from http.cookies import SimpleCookie
from pathlib import Path

import jsonschema
import pytest
from jupyter_server.auth import Authorizer
from openapi_spec_validator import validate as validate_openapi

import nblift
from nblift.server.handlers import BaseHandler
from nblift.store import ObjectStore

pytestmark = pytest.mark.integration

OPENAPI_FILE = Path(nblift.__file__).parent / "server" / "openapi.json"
METHODS = ("get", "post", "put", "patch", "delete")
BODY_METHODS = {"post", "put", "patch"}
# Values tried for a path parameter until one matches the route's own pattern.
SAMPLE_PARAMETER_VALUES = (
    "abcd1234",
    "abcdef123456",
    "0123456789abcdef0123456789abcdef",
    "1234",
    "run-1",
    "x",
)
DAY = 24 * 3600


@dataclasses.dataclass(frozen=True)
class Route:
    pattern: str  # the regex tornado matches, base URL included
    template: str  # the OpenAPI path, e.g. /nblift/api/snapshots/{sid}
    url: str  # a concrete URL path (base URL included) that this route serves
    handler: type
    methods: frozenset[str]


def _group_end(pattern: str, start: int) -> int:
    """Index just past the group that opens at pattern[start] == '('."""
    depth = 0
    i = start
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError(f"unbalanced group in {pattern!r}")


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _template_and_url(pattern: str) -> tuple[str, str]:
    """(OpenAPI path template, a concrete URL) for a route regex like `/base/nblift/api/x/(?P<id>[a-f]+)$`."""
    body = pattern.removesuffix("$")
    template, url, i = "", "", 0
    while i < len(body):
        if body.startswith("(?P<", i):
            end = _group_end(body, i)
            name = body[i + 4 : body.index(">", i)]
            group_regex = body[body.index(">", i) + 1 : end - 1]
            value = next(v for v in SAMPLE_PARAMETER_VALUES if re.fullmatch(group_regex, v))
            template += "{" + name + "}"
            url += value
            i = end
        elif body[i] == "\\":
            template += body[i + 1]
            url += body[i + 1]
            i += 2
        else:
            assert body[i] not in "()[]*+?|^", f"route {pattern!r} has an unnamed regex part"
            template += body[i]
            url += body[i]
            i += 1
    return template[template.index("/nblift/api") :], url


def _methods(handler: type) -> frozenset[str]:
    """The HTTP methods a handler defines itself (or inherits from a class below BaseHandler)."""
    assert issubclass(handler, BaseHandler), f"{handler} does not use nblift's BaseHandler"
    found = set()
    for klass in handler.__mro__:
        if klass is BaseHandler:
            break
        found |= {m for m in METHODS if m in klass.__dict__}
    return frozenset(found)


def live_routes(serverapp) -> list[Route]:
    """Every route of the running server whose pattern is under nblift/api."""
    seen: dict[tuple[str, type], Route] = {}

    def walk(router) -> None:
        for rule in router.rules:
            target = rule.target
            if hasattr(target, "rules"):  # a nested router (per host, or the wildcard router)
                walk(target)
                continue
            regex = getattr(rule.matcher, "regex", None)
            if regex is None or "nblift/api" not in regex.pattern:
                continue
            template, url = _template_and_url(regex.pattern)
            assert regex.fullmatch(url), (regex.pattern, url)
            seen[(regex.pattern, target)] = Route(regex.pattern, template, url, target, _methods(target))

    walk(serverapp.web_app.default_router)
    walk(serverapp.web_app.wildcard_router)
    return sorted(seen.values(), key=lambda r: r.pattern)


def openapi_doc() -> dict:
    return json.loads(OPENAPI_FILE.read_text())


def response_validator(doc: dict, path: str, method: str, status: int):
    schema = doc["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**schema, "components": doc["components"]})


def component_validator(doc: dict, name: str):
    return jsonschema.Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    )


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under `root` with its size and mtime, to prove a request changed nothing."""
    state = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = Path(folder, name)
            st = path.stat()
            state[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return state


def seed_store(root: Path) -> ObjectStore:
    """A project in `root` with one referenced object and one old orphan that `gc` would remove."""
    store = ObjectStore(root / ".nblift")
    kept = store.put_bytes(b"kept")
    store.set_ref("snapshot", "s", [kept])
    orphan = store.put_bytes(b"old orphan")
    then = time.time() - DAY
    os.utime(store.path_of(orphan), (then, then))
    return store


@pytest.fixture
def routes(jp_serverapp):
    found = live_routes(jp_serverapp)
    assert found, "the nblift server extension registered no routes"
    return found


@pytest.fixture
def raw_fetch(http_server_client):
    """A request with exactly the headers given: no token is added."""

    async def fetch(url: str, method: str = "GET", headers: dict | None = None):
        body = b"" if method.lower() in BODY_METHODS else None
        return await http_server_client.fetch(
            url,
            method=method.upper(),
            headers=headers or {},
            body=body,
            raise_error=False,
            follow_redirects=False,
        )

    return fetch


@pytest.fixture
def token(jp_serverapp) -> str:
    return jp_serverapp.identity_provider.token


def body_of(response) -> dict:
    return json.loads(response.body)


# -- contract --------------------------------------------------------------------------------------------


def test_openapi_document_is_valid():
    validate_openapi(openapi_doc())


def test_routes_match_the_openapi_document(routes):
    served = {(r.template, m) for r in routes for m in r.methods}
    documented = {(path, m) for path, item in openapi_doc()["paths"].items() for m in item if m in METHODS}
    assert served == documented


def test_every_route_has_its_own_auth_resource(routes):
    for route in routes:
        assert route.handler.auth_resource.startswith("nblift:"), route.handler


async def test_version(jp_fetch):
    response = await jp_fetch("nblift", "api", "version")
    data = body_of(response)
    assert data["version"] == nblift.__version__
    response_validator(openapi_doc(), "/nblift/api/version", "get", 200).validate(data)


async def test_openapi_served_equals_file(jp_fetch):
    response = await jp_fetch("nblift", "api", "openapi.json")
    assert body_of(response) == openapi_doc()


async def test_status(jp_fetch, jp_root_dir):
    response = await jp_fetch("nblift", "api", "status")
    assert response.headers["Content-Type"].startswith("application/json")
    data = body_of(response)
    doc = openapi_doc()
    component_validator(doc, "Status").validate(data)
    response_validator(doc, "/nblift/api/status", "get", 200).validate(data)
    assert data["project"]["root"] == os.path.realpath(jp_root_dir)
    assert data["version"] == nblift.__version__
    assert not (jp_root_dir / ".nblift").exists()  # status writes nothing


async def test_status_schema_rejects_a_wrong_shape():
    """The schema check above is real: a status missing a field does not pass."""
    with pytest.raises(jsonschema.ValidationError):
        component_validator(openapi_doc(), "Status").validate({"version": "1"})


async def test_fsck_and_gc(jp_fetch, jp_root_dir):
    store = seed_store(jp_root_dir)
    doc = openapi_doc()
    bad = store.put_bytes(b"will rot")
    store.set_ref("snapshot", "bad", [bad])
    path = store.path_of(bad)
    path.write_bytes(b"X" + path.read_bytes()[1:])

    response = await jp_fetch("nblift", "api", "store", "fsck", method="POST", body=b"")
    report = body_of(response)
    response_validator(doc, "/nblift/api/store/fsck", "post", 200).validate(report)
    component_validator(doc, "FsckReport").validate(report)
    assert report["ok"] is False
    assert report["corrupt"] == [bad]
    assert report["checked"] == 3

    status = body_of(await jp_fetch("nblift", "api", "status"))
    assert status["fsck"]["corrupt"] == [bad]  # status shows the last fsck
    component_validator(doc, "Status").validate(status)

    response = await jp_fetch("nblift", "api", "store", "gc", method="POST", body=b"")
    gc = body_of(response)
    response_validator(doc, "/nblift/api/store/gc", "post", 200).validate(gc)
    component_validator(doc, "GcReport").validate(gc)
    assert gc["removed_objects"] == 1
    assert gc["freed_bytes"] == len(b"old orphan")
    assert sorted(store.iter_ids()) == sorted(store.reachable())


# -- authentication ------------------------------------------------------------------------------------


async def test_no_credentials_every_route_every_method_403(routes, raw_fetch, jp_root_dir):
    seed_store(jp_root_dir)
    before = tree_state(jp_root_dir)
    doc = openapi_doc()
    for route in routes:
        for method in METHODS:
            response = await raw_fetch(route.url, method)
            component_validator(doc, "Error").validate(body_of(response))
            if method in route.methods:
                assert response.code == 403, (route.url, method, response.code)
                # and an explicit empty Authorization header is no credential either
                response = await raw_fetch(route.url, method, headers={"Authorization": ""})
                assert response.code == 403, (route.url, method)
            else:  # a verb the route does not serve: refused one way or the other, never run
                assert response.code in (403, 405), (route.url, method, response.code)
    assert tree_state(jp_root_dir) == before


async def test_wrong_token_403(routes, raw_fetch, jp_root_dir):
    seed_store(jp_root_dir)
    before = tree_state(jp_root_dir)
    for route in routes:
        for method in sorted(route.methods):
            for headers, url in (
                ({"Authorization": "token wrong"}, route.url),
                ({}, route.url + "?token=wrong"),
            ):
                response = await raw_fetch(url, method, headers=headers)
                assert response.code == 403, (url, method)
    assert tree_state(jp_root_dir) == before


async def test_undefined_method_405_and_no_side_effect(routes, jp_fetch, jp_base_url, jp_root_dir):
    """A state change sent as GET (or any verb a route does not define) is refused, even with a token."""
    seed_store(jp_root_dir)
    before = tree_state(jp_root_dir)
    for route in routes:
        for method in sorted(set(METHODS) - route.methods):
            body = b"" if method in BODY_METHODS else None
            response = await jp_fetch(
                route.url.removeprefix(jp_base_url), method=method.upper(), body=body, raise_error=False
            )
            assert response.code == 405, (route.url, method, response.code)
    assert tree_state(jp_root_dir) == before


async def test_gc_as_get_is_405(jp_fetch, jp_root_dir):
    store = seed_store(jp_root_dir)
    orphans = set(store.iter_ids()) - store.reachable()
    response = await jp_fetch("nblift", "api", "store", "gc", raise_error=False)
    assert response.code == 405
    assert "message" in body_of(response)
    assert orphans <= set(store.iter_ids())
    response = await jp_fetch("nblift", "api", "store", "fsck", raise_error=False)
    assert response.code == 405
    assert not (store.state_dir / "fsck.json").exists()


# -- XSRF ----------------------------------------------------------------------------------------------


async def _login_cookie(raw_fetch, base: str, token: str) -> str:
    """Authenticate once with the token and keep the login cookie the server sets, as a browser does."""
    response = await raw_fetch(f"{base}nblift/api/version", headers={"Authorization": f"token {token}"})
    assert response.code == 200
    cookies = SimpleCookie()
    for header in response.headers.get_list("Set-Cookie"):
        cookies.load(header)
    names = [name for name in cookies if name.startswith("username-")]
    assert names, response.headers.get_list("Set-Cookie")
    return f"{names[0]}={cookies[names[0]].value}"


async def test_cookie_post_without_xsrf_403(routes, raw_fetch, jp_base_url, token, jp_root_dir):
    seed_store(jp_root_dir)
    login = await _login_cookie(raw_fetch, jp_base_url, token)
    post_routes = [r for r in routes if "post" in r.methods]
    assert post_routes

    # the cookie alone authenticates a read, so a 403 below is the XSRF check, not a bad cookie
    response = await raw_fetch(f"{jp_base_url}nblift/api/status", headers={"Cookie": login})
    assert response.code == 200

    before = tree_state(jp_root_dir)
    for route in post_routes:
        for headers in (
            {"Cookie": login},
            {"Cookie": login, "Content-Type": "text/plain"},
            # a token in the header must match the _xsrf cookie; without the cookie it is refused
            {"Cookie": login, "X-XSRFToken": secrets.token_hex(16)},
        ):
            response = await raw_fetch(route.url, "POST", headers=headers)
            assert response.code == 403, (route.url, headers, response.code)
            assert "message" in body_of(response)
        # a cross-origin form post: jupyter_server answers a foreign Origin with 404 before the XSRF check
        cross_origin = {"Cookie": login, "Content-Type": "text/plain", "Origin": "http://evil.example"}
        response = await raw_fetch(route.url, "POST", headers=cross_origin)
        assert response.code in (403, 404), (route.url, response.code)
    assert tree_state(jp_root_dir) == before


async def test_cookie_post_with_matching_xsrf_succeeds(raw_fetch, jp_base_url, token, jp_root_dir):
    store = seed_store(jp_root_dir)
    login = await _login_cookie(raw_fetch, jp_base_url, token)
    xsrf = secrets.token_hex(16)
    headers = {"Cookie": f"{login}; _xsrf={xsrf}", "X-XSRFToken": xsrf}

    response = await raw_fetch(f"{jp_base_url}nblift/api/store/fsck", "POST", headers=headers)
    assert response.code == 200
    assert body_of(response)["ok"] is True

    response = await raw_fetch(f"{jp_base_url}nblift/api/store/gc", "POST", headers=headers)
    assert response.code == 200
    assert body_of(response)["removed_objects"] == 1
    assert sorted(store.iter_ids()) == sorted(store.reachable())

    # mismatched token and cookie: refused again
    mismatched = {"Cookie": f"{login}; _xsrf={xsrf}", "X-XSRFToken": secrets.token_hex(16)}
    response = await raw_fetch(f"{jp_base_url}nblift/api/store/gc", "POST", headers=mismatched)
    assert response.code == 403


async def test_origin_that_only_prefix_matches_is_rejected(raw_fetch, jp_base_url, token, http_server_client):
    login = await _login_cookie(raw_fetch, jp_base_url, token)
    xsrf = secrets.token_hex(16)
    url = f"{jp_base_url}nblift/api/store/fsck"
    host = f"127.0.0.1:{http_server_client.get_http_port()}"
    headers = {"Cookie": f"{login}; _xsrf={xsrf}", "X-XSRFToken": xsrf}
    assert (await raw_fetch(url, "POST", headers={**headers, "Origin": f"http://{host}"})).code == 200
    for origin in (f"http://{host}.evil.example", f"http://{host}@evil.example", "http://evil.example"):
        response = await raw_fetch(url, "POST", headers={**headers, "Origin": origin})
        assert response.code in (403, 404), origin


# -- DNS rebinding, logs --------------------------------------------------------------------------------


async def test_rebinding_host_header_403(routes, raw_fetch, token):
    for route in routes:
        for method in sorted(route.methods):
            for host in ("rebind.example", "localhost.rebind.example", "127.0.0.1.nip.io"):
                response = await raw_fetch(
                    route.url, method, headers={"Host": host, "Authorization": f"token {token}"}
                )
                assert response.code == 403, (route.url, method, host)


async def test_loopback_host_header_accepted(raw_fetch, jp_base_url, token):
    for host in ("localhost", "127.0.0.1:1234", "[::1]:8888"):
        response = await raw_fetch(
            f"{jp_base_url}nblift/api/version", headers={"Host": host, "Authorization": f"token {token}"}
        )
        assert response.code == 200, host


async def test_failed_token_not_logged(raw_fetch, jp_base_url, token, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "wrongtoken" + secrets.token_hex(12)
    response = await raw_fetch(f"{jp_base_url}nblift/api/status?token={wrong}")
    assert response.code == 403
    response = await raw_fetch(f"{jp_base_url}nblift/api/store/gc?token={wrong}", "POST")
    assert response.code == 403
    response = await raw_fetch(f"{jp_base_url}nblift/api/status?token={token}")
    assert response.code == 200
    assert "nblift/api/status" in caplog.text  # the requests were logged...
    assert wrong not in caplog.text  # ...without the token that failed
    assert token not in caplog.text  # or the one that worked


# -- paths ---------------------------------------------------------------------------------------------


def _path_routes(routes) -> list[tuple[Route, str]]:
    """(route, method) for every operation that takes a `path` query parameter."""
    doc = openapi_doc()
    found = []
    for route in routes:
        for method in sorted(route.methods):
            operation = doc["paths"].get(route.template, {}).get(method, {})
            if any(p["name"] == "path" and p["in"] == "query" for p in operation.get("parameters", [])):
                found.append((route, method))
    return found


TRAVERSALS = [
    "../",
    "..",
    "..%2f",
    "..%2F..%2Fetc",
    "%2e%2e%2f",
    "%252e%252e",
    "%252e%252e%252f",
    "%25252e%25252e",
    "..%5cx",
    "..%5c..%5cetc",
    "sub%5c..%5c..",
    ";/../",
    "..;/x",
    "sub/../../",
    "sub/./../../etc",
    "/etc",
    "%2fetc",
    "//etc",
    "C:%5cWindows",
    "%2500",  # NUL after decoding (tornado itself drops a raw %00 from arguments)
    "sub%00.ipynb",
    "sub%2500.ipynb",
    "escape",
    "escape/inner",
    "sibling",
    "no-such-folder",
]


async def test_path_traversal_refused(routes, raw_fetch, token, jp_root_dir):
    root = Path(jp_root_dir)
    (root / "sub").mkdir()
    outside = root.parent / "outside"
    (outside / "inner").mkdir(parents=True)
    outside_store = seed_store(outside)
    (root / "escape").symlink_to(outside)
    # a folder whose name starts with the root's name: a prefix check without a separator admits it
    sibling = Path(str(root) + "2")
    sibling.mkdir()
    (root / "sibling").symlink_to(sibling)

    operations = _path_routes(routes)
    assert operations, "no route takes ?path="
    before = tree_state(outside)
    error_schema = component_validator(openapi_doc(), "Error")
    for route, method in operations:
        for value in TRAVERSALS:
            response = await raw_fetch(
                f"{route.url}?path={value}", method, headers={"Authorization": f"token {token}"}
            )
            assert response.code in (400, 404), (route.url, method, value, response.code)
            data = body_of(response)
            assert isinstance(data["message"], str) and data["message"]
            error_schema.validate(data)
    assert tree_state(outside) == before
    assert len(list(outside_store.iter_ids())) == 2  # gc never reached the store outside the root


async def test_valid_subfolder_path(jp_fetch, jp_root_dir):
    sub = Path(jp_root_dir) / "nb" / "sub"
    sub.mkdir(parents=True)
    data = body_of(await jp_fetch("nblift", "api", "status", params={"path": "nb/sub"}))
    assert data["project"]["root"] == os.path.realpath(sub)

    # a notebook path selects the project that holds it (the nearest folder with .nblift)
    (Path(jp_root_dir) / "nb" / ".nblift").mkdir()
    (sub / "train.ipynb").write_text("{}")
    data = body_of(await jp_fetch("nblift", "api", "status", params={"path": "nb/sub/train.ipynb"}))
    assert data["project"]["root"] == os.path.realpath(Path(jp_root_dir) / "nb")
    component_validator(openapi_doc(), "Status").validate(data)


async def test_symlink_inside_root_is_followed(jp_fetch, jp_root_dir):
    target = Path(jp_root_dir) / "real"
    target.mkdir()
    (Path(jp_root_dir) / "link").symlink_to(target)
    data = body_of(await jp_fetch("nblift", "api", "status", params={"path": "link"}))
    assert data["project"]["root"] == os.path.realpath(target)


async def test_bad_settings_are_a_400_not_a_500(jp_fetch, jp_root_dir):
    (Path(jp_root_dir) / "pyproject.toml").write_text("[tool.nblift]\nno_such_setting = 1\n")
    response = await jp_fetch("nblift", "api", "status", raise_error=False)
    assert response.code == 400
    data = body_of(response)
    assert "no_such_setting" in data["message"]
    assert data["reason"] == "ConfigError"
    assert data["hint"]


# -- authorization -------------------------------------------------------------------------------------


class DenyAll(Authorizer):
    """Refuses everything, and remembers what it was asked."""

    asked: list = []

    def is_authorized(self, handler, user, action, resource) -> bool:
        DenyAll.asked.append((type(handler), action, resource))
        return False


class TestDenyAllAuthorizer:
    @pytest.fixture
    def jp_server_config(self):
        DenyAll.asked.clear()
        return {"ServerApp": {"jpserver_extensions": {"nblift": True}, "authorizer_class": DenyAll}}

    async def test_every_route_403(self, routes, raw_fetch, token, jp_root_dir):
        seed_store(jp_root_dir)
        before = tree_state(jp_root_dir)
        for route in routes:
            for method in sorted(route.methods):
                DenyAll.asked.clear()
                response = await raw_fetch(route.url, method, headers={"Authorization": f"token {token}"})
                assert response.code == 403, (route.url, method, response.code)
                assert "message" in body_of(response)
                # the authorizer was asked about this route's own resource, with the action of the method
                expected_action = "read" if method == "get" else "write"
                assert (route.handler, expected_action, route.handler.auth_resource) in DenyAll.asked
        assert tree_state(jp_root_dir) == before
