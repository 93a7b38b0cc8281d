"""Tracking store: MLflow. Embedded default is SQLite under the state folder; a URI points elsewhere.

mlflow is imported only inside the functions that talk to it (it costs about 2 s to import).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import secrets
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from .errors import InvalidInput
from .fsutil import ensure_dir
from .project import Project

if TYPE_CHECKING:
    from mlflow import MlflowClient

DB_FILE = "mlflow.db"
ARTIFACTS_DIR = "artifacts"
BUSY_TIMEOUT_S = 30
ALLOWED_SCHEMES = frozenset({"sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks", "file"})


@dataclasses.dataclass(frozen=True)
class TrackingTarget:
    """Where runs are recorded. `display_uri` has any credentials removed."""

    uri: str
    artifact_root: str | None
    embedded: bool

    @property
    def display_uri(self) -> str:
        return redact_uri(self.uri)


def redact_uri(uri: str) -> str:
    """`uri` without user name or password (`https://user:tok@host/x` -> `https://host/x`)."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def check_tracking_uri(uri: str) -> str:
    """Refuse URIs outside the scheme allow-list and link-local (cloud metadata) hosts."""
    parts = urlsplit(uri)
    scheme = parts.scheme.split("+", 1)[0].lower()
    if scheme not in ALLOWED_SCHEMES:
        raise InvalidInput(
            f"tracking URI scheme {parts.scheme or '(none)'!r} is not allowed",
            hint=f"use one of: {', '.join(sorted(ALLOWED_SCHEMES))}",
        )
    host = parts.hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and (address.is_link_local or address.is_multicast or address.is_unspecified):
        raise InvalidInput(f"tracking URI host {host} is not allowed", hint="point at your MLflow server")
    return uri


def target_for(project: Project) -> TrackingTarget:
    """The tracking store this project uses (touches nothing on disk)."""
    uri = project.settings.tracking_uri
    if uri:
        return TrackingTarget(uri=check_tracking_uri(uri), artifact_root=None, embedded=False)
    db = project.state_dir / DB_FILE
    return TrackingTarget(
        uri=f"sqlite:///{db}",
        artifact_root=(project.state_dir / ARTIFACTS_DIR).as_uri(),
        embedded=True,
    )


def prepare_embedded_db(db: Path) -> None:
    """Create the SQLite file in WAL mode so readers never block the writer (WAL persists in the file)."""
    ensure_dir(db.parent)
    conn = sqlite3.connect(db, timeout=BUSY_TIMEOUT_S)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    finally:
        conn.close()
    db.chmod(0o600)


def _engine_uri(target: TrackingTarget) -> str:
    """The SQLAlchemy URI with a busy timeout, so concurrent writers wait instead of failing."""
    if target.embedded:
        return f"{target.uri}?timeout={BUSY_TIMEOUT_S}"
    return target.uri


def client(project: Project) -> MlflowClient:
    """An MlflowClient on this project's tracking store, creating the embedded database if needed."""
    target = target_for(project)
    if target.embedded:
        project.ensure_state_dir()
        prepare_embedded_db(project.state_dir / DB_FILE)
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=_engine_uri(target), registry_uri=_engine_uri(target))


def ensure_experiment(project: Project, name: str) -> str:
    """The id of experiment `name`, created (with artifacts under the state folder when embedded)."""
    mlflow_client = client(project)
    found = mlflow_client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    target = target_for(project)
    kwargs: dict[str, Any] = {}
    if target.artifact_root:
        kwargs["artifact_location"] = f"{target.artifact_root}/exp-{secrets.token_hex(8)}"
    return str(mlflow_client.create_experiment(name, **kwargs))
