"""Tracking store: MLflow. Embedded default is SQLite under the state folder; a URI points elsewhere.

mlflow is imported only inside the functions that talk to it (it costs about 2 s to import).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import ipaddress
import logging
import os
import secrets
import shutil
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .errors import InvalidInput
from .fsutil import ensure_dir, file_lock, publish, temp_path
from .project import Project

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger("nblift")

DB_FILE = "mlflow.db"
LOCK_FILE = "mlflow.db.lock"
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


_SECRET_QUERY_KEYS = (
    "token",
    "key",
    "secret",
    "password",
    "passwd",
    "pwd",
    "sig",
    "signature",
    "credential",
    "auth",
)


def _redact_query(query: str) -> str:
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode(
        [(k, "REDACTED" if any(s in k.lower() for s in _SECRET_QUERY_KEYS) else v) for k, v in pairs],
        safe="/:",
    )


def redact_uri(uri: str) -> str:
    """`uri` without user name, password or secret-looking query values (`https://u:tok@host/x` -> `https://host/x`)."""
    parts = urlsplit(uri)
    query = _redact_query(parts.query)
    if parts.username is None and parts.password is None:
        return uri if query == parts.query else urlunsplit((*parts[:3], query, parts.fragment))
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, query, parts.fragment))


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address `host` spells, in any form a resolver accepts (`2852039166`, `0xa9fea9fe`,
    `169.254.43518`, `::ffff:169.254.169.254`), or None for a name."""
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(host)
    except ValueError:
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


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
    address = _literal_address(host)
    if address is not None and (address.is_link_local or address.is_multicast or address.is_unspecified):
        raise InvalidInput(f"tracking URI host {host} is not allowed", hint="point at your MLflow server")
    return uri


def _names(uri: str, db: Path) -> bool:
    """Whether `uri` is this project's own embedded database (MLflow's `set_tracking_uri`, which autologging
    uses, exports its URI to the environment, where nblift would otherwise take it for a server)."""
    parts = urlsplit(uri)
    if parts.scheme != "sqlite" or parts.netloc:
        return False
    return os.path.realpath("/" + parts.path.lstrip("/")) == os.path.realpath(db)


def target_for(project: Project) -> TrackingTarget:
    """The tracking store this project uses (touches nothing on disk)."""
    uri = project.settings.tracking_uri
    db = project.state_dir / DB_FILE
    if uri and not _names(uri, db):
        return TrackingTarget(uri=check_tracking_uri(uri), artifact_root=None, embedded=False)
    return TrackingTarget(
        uri=f"sqlite:///{db}",
        artifact_root=(project.state_dir / ARTIFACTS_DIR).as_uri(),
        embedded=True,
    )


def _set_aside(db: Path, reason: str) -> Path:
    """Move a damaged database (and its WAL files) aside, keeping it for inspection; returns the new name."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = db.with_name(f"{db.name}.corrupt-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        part = db.with_name(db.name + suffix)
        if part.exists():
            part.replace(aside.with_name(aside.name + suffix))
    log.warning(
        "the tracking database %s could not be opened (%s): moved it to %s and started a new one; "
        "runs recorded there can be recovered from the copy with sqlite3's .recover",
        db,
        reason,
        aside,
    )
    return aside


def prepare_embedded_db(db: Path) -> Path | None:
    """Create the SQLite file in WAL mode so readers never block the writer (WAL persists in the file).

    A file that is not a database, or fails SQLite's quick check, is moved aside (never deleted) and a new one
    is started, so the server and kernels keep working; returns where the damaged file went, if anywhere.
    """
    ensure_dir(db.parent)
    aside = None
    for _ in range(2):
        conn = sqlite3.connect(db, timeout=BUSY_TIMEOUT_S)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
            if verdict == "ok":
                break
            reason = f"quick_check: {verdict}"
        except sqlite3.DatabaseError as exc:
            reason = str(exc)
        finally:
            conn.close()
        aside = _set_aside(db, reason)
    db.chmod(0o600)
    return aside


def engine_uri(target: TrackingTarget) -> str:
    """The SQLAlchemy URI with a busy timeout, so concurrent writers wait instead of failing."""
    if target.embedded:
        return f"{target.uri}?timeout={BUSY_TIMEOUT_S}"
    return target.uri


def _exclusive(lock: Path) -> contextlib.AbstractContextManager[bool]:
    """Hold an exclusive lock on the file `lock` (created 0600) for the duration of the block."""
    return file_lock(lock)


#: Bumped when what nblift puts in a template changes (a template of another revision is never used).
TEMPLATE_REVISION = 1


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nblift"


def template_path() -> Path:
    """Where this machine keeps the empty, migrated store for the installed MLflow version."""
    version = importlib.metadata.version("mlflow")
    return _cache_dir() / f"mlflow-store-{version}-r{TEMPLATE_REVISION}.db"


def _make_template(path: Path) -> None:
    """Create the template at `path`: MLflow's tables migrated once, in rollback-journal mode so one file
    holds everything, built beside its final name and renamed into place (no reader sees half of it)."""
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    building = temp_path(path.parent)
    try:
        uri = f"sqlite:///{building}"
        stores = [SqlAlchemyStore(uri, (path.parent / "unused-artifacts").as_uri()), RegistryStore(uri)]
        for store in stores:
            store.engine.dispose()
        conn = sqlite3.connect(building)
        try:
            conn.execute("PRAGMA journal_mode=DELETE")
        finally:
            conn.close()
        publish(building, path)
    finally:
        building.unlink(missing_ok=True)


def _template() -> Path | None:
    """The template store for this MLflow version, made on first use; None where it cannot be made."""
    path = template_path()
    if path.is_file():
        return path
    try:
        ensure_dir(path.parent)
        with file_lock(path.with_name(path.name + ".lock")):
            if not path.is_file():
                _make_template(path)
        return path
    except Exception as exc:  # noqa: BLE001 - a read-only cache costs time (migrations), never a failure
        log.debug("no MLflow store template at %s: %s", path, exc)
        return None


def _start_from_template(db: Path, artifact_root: str) -> bool:
    """Put a copy of the template at `db` (absent or empty) with the default experiment's artifacts under
    `artifact_root`, as a store made from scratch would have them inside the project; False when there is
    no template."""
    template = _template()
    if template is None:
        return False
    ensure_dir(db.parent)
    copy = temp_path(db.parent)
    try:
        shutil.copyfile(template, copy)
        conn = sqlite3.connect(copy)
        try:
            with conn:
                conn.execute(
                    "UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
                    (f"{artifact_root}/0",),
                )
        finally:
            conn.close()
        copy.chmod(0o600)
        publish(copy, db)
        return True
    except (OSError, sqlite3.Error) as exc:
        log.debug("could not start %s from the template: %s", db, exc)
        return False
    finally:
        copy.unlink(missing_ok=True)


def client(project: Project) -> MlflowClient:
    """An MlflowClient on this project's tracking store, creating the embedded database if needed."""
    # MLflow announces its table set-up at INFO level; in a notebook that lands in the user's cell.
    for name in ("mlflow.store.db.utils", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)
    target = target_for(project)
    from mlflow import MlflowClient

    if not target.embedded:
        return MlflowClient(tracking_uri=engine_uri(target), registry_uri=engine_uri(target))
    project.ensure_state_dir()
    # MlflowClient creates (or migrates) the database's tables when it opens the store; two processes doing
    # that at once fail ("duplicate column name"), so one creates them while the others wait.
    with _exclusive(project.state_dir / LOCK_FILE):
        db = project.state_dir / DB_FILE
        fresh = not db.exists() or (db.stat().st_size == 0 and not db.with_name(db.name + "-wal").exists())
        if fresh and target.artifact_root:  # a new store: a copy of the migrated template, not migrations
            _start_from_template(db, target.artifact_root)
        prepare_embedded_db(db)
        return MlflowClient(tracking_uri=engine_uri(target), registry_uri=engine_uri(target))


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


def experiment_name(project: Project) -> str:
    return project.settings.experiment or project.root.name or "nblift"


def log_snapshot_run(project: Project, manifest: dict[str, Any]) -> str:
    """Record a snapshot as a finished MLflow run (tags + the manifest as an artifact); returns the run id."""
    mlflow_client = client(project)
    experiment_id = ensure_experiment(project, experiment_name(project))
    summary = manifest.get("summary", {})
    tags = {
        "nblift.kind": "snapshot",
        "nblift.snapshot_id": manifest["id"],
        "nblift.snapshot_auto": str(bool(manifest.get("auto"))).lower(),
        "mlflow.note.content": manifest.get("message") or "",
    }
    if manifest.get("parent"):
        tags["nblift.snapshot_parent"] = manifest["parent"]
    git = manifest.get("git") or {}
    if git.get("commit"):
        tags["mlflow.source.git.commit"] = git["commit"]
    if manifest.get("notebook_path"):
        tags["mlflow.source.name"] = manifest["notebook_path"]
    run = mlflow_client.create_run(
        experiment_id,
        run_name=f"snapshot {manifest['id']}",
        tags=tags,
        start_time=int(manifest["created"] * 1000),
    )
    run_id = run.info.run_id
    public = {k: v for k, v in manifest.items() if k != "signature"}
    mlflow_client.log_dict(run_id, public, "nblift/snapshot.json")
    mlflow_client.log_metric(run_id, "nblift.variables", len(manifest.get("variables", {})))
    mlflow_client.log_metric(
        run_id, "nblift.changed", len(summary.get("changed", [])) + len(summary.get("added", []))
    )
    mlflow_client.set_terminated(run_id, "FINISHED")
    return run_id


@contextlib.contextmanager
def quiet_downloads() -> Iterator[None]:
    """MLflow's artifact downloads without their progress bars (they would land in the user's cell)."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before
