"""A loopback stand-in for a lakeFS server: the four read endpoints nblift calls, over real HTTP with basic
auth, holding repositories, branches, commits and objects in memory. Every JSON reply is validated against
the response schemas of lakeFS's published API description (tests/data/lakefs/api.json, a trimmed copy of
lakeFS's api/swagger.yml) before it is sent, so a reply nblift understands is one lakeFS could give.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema

API = json.loads((Path(__file__).resolve().parents[1] / "data" / "lakefs" / "api.json").read_text())
ROUTES = [
    (re.compile(r"^/api/v1/repositories/([^/]+)/refs/([^/]+)/commits$"), "logCommits"),
    (re.compile(r"^/api/v1/repositories/([^/]+)/branches/([^/]+)$"), "getBranch"),
    (re.compile(r"^/api/v1/repositories/([^/]+)/refs/([^/]+)/objects/stat$"), "statObject"),
    (re.compile(r"^/api/v1/repositories/([^/]+)/refs/([^/]+)/objects$"), "getObject"),
]


def response_schema(operation: str, status: int) -> dict[str, Any] | None:
    """The JSON schema of `operation`'s reply with `status` in the API description (None: not JSON)."""
    for item in API["paths"].values():
        get = item["get"]
        if get["operationId"] != operation:
            continue
        reply = get["responses"][str(status)]
        if "$ref" in reply:
            reply = API["components"]["responses"][reply["$ref"].rsplit("/", 1)[1]]
        schema = reply.get("content", {}).get("application/json", {}).get("schema")
        return None if schema is None else {**schema, "components": API["components"]}
    raise KeyError(operation)


class Repository:
    """Commits (each a full tree: path -> bytes) and branches pointing at them."""

    def __init__(self) -> None:
        self.commits: dict[str, dict[str, Any]] = {}
        self.branches: dict[str, str] = {}
        self.staged: dict[str, dict[str, bytes]] = {}

    def put(self, branch: str, path: str, data: bytes) -> None:
        head = self.branches.get(branch)
        tree = self.staged.setdefault(branch, dict(self.commits[head]["tree"]) if head else {})
        tree[path] = data

    def commit(self, branch: str, message: str) -> str:
        parent = self.branches.get(branch)
        tree = self.staged.pop(branch, dict(self.commits[parent]["tree"]) if parent else {})
        created = int(time.time())
        commit_id = hashlib.sha256(f"{parent}{message}{created}{sorted(tree)}".encode()).hexdigest()
        self.commits[commit_id] = {
            "id": commit_id,
            "parents": [parent] if parent else [],
            "committer": "standin",
            "message": message,
            "creation_date": created,
            "meta_range_id": hashlib.sha256(commit_id.encode()).hexdigest(),
            "tree": tree,
        }
        self.branches[branch] = commit_id
        return commit_id

    def commit_of(self, ref: str) -> str | None:
        if ref in self.branches:
            return self.branches[ref]
        matches = [c for c in self.commits if c.startswith(ref)] if len(ref) >= 6 else []
        return matches[0] if len(matches) == 1 else None

    def log(self, commit: str) -> list[dict[str, Any]]:
        out = []
        while commit:
            c = self.commits[commit]
            out.append({k: v for k, v in c.items() if k != "tree"})
            commit = c["parents"][0] if c["parents"] else ""
        return out


class LakeFSStandin:
    """`start()` serves on 127.0.0.1; `endpoint`, `key` and `secret` are what a client needs."""

    def __init__(self) -> None:
        self.repositories: dict[str, Repository] = {}
        self.key, self.secret = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        self.calls: list[str] = []
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                standin.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> LakeFSStandin:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def repository(self, name: str) -> Repository:
        return self.repositories.setdefault(name, Repository())

    # -- replies ---------------------------------------------------------------------------------------------

    def _json(
        self, handler: BaseHTTPRequestHandler, operation: str, status: int, body: dict[str, Any]
    ) -> None:
        schema = response_schema(operation, status)
        assert schema is not None, f"{operation} {status} is not a JSON reply"
        jsonschema.validate(body, schema)  # the stand-in never says what lakeFS could not
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _error(self, handler: BaseHTTPRequestHandler, operation: str, status: int, message: str) -> None:
        self._json(handler, operation, status, {"message": message})

    def _authorized(self, handler: BaseHTTPRequestHandler) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.key}:{self.secret}".encode()).decode()
        return handler.headers.get("Authorization") == expected

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        url = urllib.parse.urlsplit(handler.path)
        query = urllib.parse.parse_qs(url.query)
        found = [(p.match(url.path), op) for p, op in ROUTES if p.match(url.path)]
        if not found:
            handler.send_error(404)
            return
        match, operation = found[0]
        self.calls.append(f"{operation} {urllib.parse.unquote(url.path)}?{url.query}")
        if not self._authorized(handler):
            self._error(handler, operation, 401, "error authenticating request")
            return
        repo_name, ref = (urllib.parse.unquote(g) for g in match.groups())
        repo = self.repositories.get(repo_name)
        if repo is None:
            self._error(handler, operation, 404, f"repository not found: {repo_name}")
            return
        if operation == "getBranch":
            if ref not in repo.branches:
                self._error(handler, operation, 404, f"branch not found: {ref}")
                return
            self._json(handler, operation, 200, {"id": ref, "commit_id": repo.branches[ref]})
            return
        commit = repo.commit_of(ref)
        if commit is None:
            self._error(handler, operation, 404, f"{ref}: not found")
            return
        if operation == "logCommits":
            amount = int(query.get("amount", ["100"])[0])
            log = repo.log(commit)
            page = log[:amount]
            pagination = {
                "has_more": len(log) > amount,
                "next_offset": page[-1]["id"] if len(log) > amount else "",
                "results": len(page),
                "max_per_page": 1000,
            }
            self._json(handler, operation, 200, {"pagination": pagination, "results": page})
            return
        path = query.get("path", [""])[0]
        tree = repo.commits[commit]["tree"]
        if path not in tree:
            self._error(handler, operation, 404, f"{path}: not found")
            return
        data = tree[path]
        checksum = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if operation == "statObject":
            stats = {
                "path": path,
                "path_type": "object",
                "physical_address": f"local://standin/{repo_name}/data/{checksum}",
                "checksum": checksum,
                "size_bytes": len(data),
                "mtime": repo.commits[commit]["creation_date"],
                "content_type": "application/octet-stream",
            }
            self._json(handler, operation, 200, stats)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("ETag", f'"{checksum}"')
        handler.end_headers()
        handler.wfile.write(data)
