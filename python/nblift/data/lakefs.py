"""A small client over lakeFS's REST API (`/api/v1`): resolve a ref to its commit id, stat an object at a
commit and read its bytes. Only the standard library: no lakeFS SDK is needed.

Endpoints used (lakeFS's published OpenAPI description, `api/swagger.yml`):

- `GET /repositories/{repository}/refs/{ref}/commits?amount=1` (logCommits): the newest commit of a branch,
  tag or commit id, which is what a run records (a branch moves; a commit does not);
- `GET /repositories/{repository}/refs/{ref}/objects/stat?path=` (statObject): checksum, size, type;
- `GET /repositories/{repository}/refs/{ref}/objects?path=` (getObject): the bytes.

Credentials and endpoint come from the environment (`LAKEFS_ACCESS_KEY_ID`, `LAKEFS_SECRET_ACCESS_KEY`,
`LAKEFS_ENDPOINT`), else lakectl's (`LAKECTL_CREDENTIALS_ACCESS_KEY_ID`, ..., `LAKECTL_SERVER_ENDPOINT_URL`),
else lakectl's config file (`~/.lakectl.yaml`). They are read when needed and never written anywhere.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InvalidInput, NbliftError

TIMEOUT_S = 30.0
_ENV = {
    "endpoint": ("LAKEFS_ENDPOINT", "LAKECTL_SERVER_ENDPOINT_URL"),
    "key": ("LAKEFS_ACCESS_KEY_ID", "LAKECTL_CREDENTIALS_ACCESS_KEY_ID"),
    "secret": ("LAKEFS_SECRET_ACCESS_KEY", "LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY"),
}


class LakeFSError(NbliftError):
    """lakeFS answered with an error, or could not be reached."""

    status_code = 400


@dataclasses.dataclass(frozen=True)
class LakeFSPath:
    repository: str
    ref: str
    path: str

    @property
    def uri(self) -> str:
        return f"lakefs://{self.repository}/{self.ref}/{self.path}"

    def at(self, commit: str) -> LakeFSPath:
        return dataclasses.replace(self, ref=commit)


def parse(uri: str) -> LakeFSPath:
    """`lakefs://REPOSITORY/REF/PATH` split into its parts (InvalidInput when one is missing)."""
    parts = urllib.parse.urlsplit(uri)
    ref, _, path = parts.path.lstrip("/").partition("/")
    if parts.scheme != "lakefs" or not parts.netloc or not ref or not path or path.endswith("/"):
        raise InvalidInput(
            f"{uri} is not a lakeFS object URI",
            hint="write lakefs://REPOSITORY/REF/PATH: REF a branch, tag or commit, PATH one object",
        )
    return LakeFSPath(parts.netloc, ref, path)


def _lakectl_config() -> dict[str, Any]:
    path = Path(os.environ.get("LAKECTL_CONFIG_FILE") or Path.home() / ".lakectl.yaml")
    if not path.is_file():
        return {}
    try:
        import yaml

        data = yaml.safe_load(path.read_text()) or {}
    except (ImportError, OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    server, creds = data.get("server") or {}, data.get("credentials") or {}
    return {
        "endpoint": server.get("endpoint_url") if isinstance(server, dict) else None,
        "key": creds.get("access_key_id") if isinstance(creds, dict) else None,
        "secret": creds.get("secret_access_key") if isinstance(creds, dict) else None,
    }


class LakeFSClient:
    """Calls to one lakeFS server with basic auth (access key id and secret)."""

    def __init__(self, endpoint: str, key: str, secret: str) -> None:
        endpoint = endpoint.rstrip("/")
        self.api = endpoint if endpoint.endswith("/api/v1") else endpoint + "/api/v1"
        self._auth = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()

    @classmethod
    def from_environment(cls) -> LakeFSClient:
        config: dict[str, Any] = {}
        found = {}
        for name, variables in _ENV.items():
            value = next((os.environ[v] for v in variables if os.environ.get(v)), None)
            if value is None:
                config = config or _lakectl_config() or {"none": True}
                value = config.get(name)
            found[name] = value
        missing = [_ENV[name][0] for name, value in found.items() if not value]
        if missing:
            raise ConfigError(
                f"lakeFS is not configured: {', '.join(missing)} not set",
                hint="set LAKEFS_ENDPOINT, LAKEFS_ACCESS_KEY_ID and LAKEFS_SECRET_ACCESS_KEY in the "
                "environment (or configure lakectl)",
            )
        return cls(str(found["endpoint"]), str(found["key"]), str(found["secret"]))

    def _open(self, route: str, query: dict[str, str], what: str) -> Any:
        url = f"{self.api}{route}?{urllib.parse.urlencode(query)}"
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"lakeFS endpoint {self.api} is not an http(s) URL", hint="fix LAKEFS_ENDPOINT")
        request = urllib.request.Request(url, headers={"Authorization": self._auth})  # noqa: S310 - checked
        try:
            return urllib.request.urlopen(request, timeout=TIMEOUT_S)  # noqa: S310 - http(s) checked above
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("message") or exc.reason
            except (ValueError, AttributeError, OSError):
                message = exc.reason
            hint = {
                401: "check LAKEFS_ACCESS_KEY_ID and LAKEFS_SECRET_ACCESS_KEY",
                403: "the lakeFS user needs read access to the repository",
                404: "check the repository, the ref (branch, tag or commit) and the path",
            }.get(exc.code, "check the lakeFS server")
            raise LakeFSError(f"{what}: lakeFS answered {exc.code}: {message}", hint=hint) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise LakeFSError(
                f"{what}: lakeFS at {self.api} cannot be reached: {reason}", hint="check LAKEFS_ENDPOINT"
            ) from None

    def _json(self, route: str, query: dict[str, str], what: str) -> dict[str, Any]:
        with self._open(route, query, what) as reply:
            try:
                data = json.loads(reply.read())
            except ValueError:
                data = None
        if not isinstance(data, dict):
            raise LakeFSError(f"{what}: lakeFS answered with no JSON object", hint="check LAKEFS_ENDPOINT")
        return data

    @staticmethod
    def _route(where: LakeFSPath, tail: str) -> str:
        q = urllib.parse.quote
        return f"/repositories/{q(where.repository, safe='')}/refs/{q(where.ref, safe='')}/{tail}"

    def commit_of(self, where: LakeFSPath) -> str:
        """The commit id `where.ref` (a branch, tag or commit) points at now."""
        what = f"{where.uri}: ref {where.ref!r} of repository {where.repository!r}"
        data = self._json(self._route(where, "commits"), {"amount": "1"}, what)
        results = data.get("results")
        if not isinstance(results, list) or not results or not isinstance(results[0], dict):
            raise LakeFSError(f"{what} has no commit", hint="commit to the branch first (`lakectl commit`)")
        commit = results[0].get("id")
        if not isinstance(commit, str) or not commit:
            raise LakeFSError(f"{what}: lakeFS gave a commit without an id", hint="check the lakeFS server")
        return commit

    def stat(self, where: LakeFSPath) -> dict[str, Any]:
        """statObject: `checksum`, `size_bytes`, `path_type`, ... of the object at `where`."""
        return self._json(self._route(where, "objects/stat"), {"path": where.path}, where.uri)

    def download(self, where: LakeFSPath, destination: Path) -> int:
        """getObject: write the object's bytes to `destination`; how many."""
        route = self._route(where, "objects")
        with self._open(route, {"path": where.path}, where.uri) as reply, destination.open("wb") as fh:
            shutil.copyfileobj(reply, fh, 1 << 20)
        return destination.stat().st_size
