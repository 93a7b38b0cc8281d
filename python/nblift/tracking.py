"""Tracking store: MLflow. Embedded default is SQLite under the state folder; a URI points elsewhere.

mlflow is imported only inside the functions that talk to it (it costs about 2 s to import).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.metadata
import importlib.util
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
from .fsutil import ensure_dir, file_lock, publish, temp_path, user_cache_dir
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
TEMPLATE_REVISION = 2


def _mlflow_key() -> str:
    """The installed MLflow's version and a digest of its migration scripts' names and nblift's template
    revision, read without importing mlflow (a development build keeps its version as migrations change)."""
    spec = importlib.util.find_spec("mlflow")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("mlflow is not installed")
    version = "unknown"
    for distribution in ("mlflow", "mlflow-skinny"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            version = importlib.metadata.version(distribution)
            break
    migrations = Path(spec.origin).parent / "store" / "db_migrations" / "versions"
    names = sorted(script.name for script in migrations.glob("*.py"))
    digest = hashlib.sha256("\n".join([f"r{TEMPLATE_REVISION}", *names]).encode()).hexdigest()[:10]
    return f"{version}-{digest}"


def template_path() -> Path:
    """Where this machine keeps the empty, migrated store for the installed MLflow (version, migrations)."""
    return user_cache_dir() / f"mlflow-store-{_mlflow_key()}.db"


def _discard(db: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)


def _make_template(path: Path) -> None:
    """Create the template at `path`: MLflow's tables migrated once, in rollback-journal mode so one file
    holds everything (nothing left in a WAL to checkpoint before a copy), built beside its final name and
    renamed into place (no reader sees half of it)."""
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    building = temp_path(path.parent)
    try:
        uri = f"sqlite:///{building}"
        # The default experiment's location is replaced in every copy (`_adopt`).
        stores = [SqlAlchemyStore(uri, (path.parent / "unused-artifacts").as_uri()), RegistryStore(uri)]
        for store in stores:
            store.engine.dispose()
        conn = sqlite3.connect(building)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # a no-op in rollback mode, whatever MLflow chose
            conn.execute("PRAGMA journal_mode=DELETE")
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
            (default,) = conn.execute("SELECT count(*) FROM experiments WHERE experiment_id = 0").fetchone()
            (revisions,) = conn.execute("SELECT count(*) FROM alembic_version").fetchone()
        finally:
            conn.close()
        if verdict != "ok" or default != 1 or revisions != 1:
            raise RuntimeError(f"not a migrated store: {verdict}, {default} default, {revisions} revisions")
        publish(building, path)
    finally:
        _discard(building)


def _template() -> Path | None:
    """The template store for this MLflow, made on first use; None where it cannot be made (debug log)."""
    try:
        path = template_path()
        if path.is_file():
            return path
        ensure_dir(path.parent)
        with file_lock(path.with_name(path.name + ".lock")):
            if not path.is_file():
                _make_template(path)
        return path
    except Exception as exc:  # noqa: BLE001 - a read-only cache costs time (migrations), never a failure
        log.debug("no MLflow store template: %s", exc)
        return None


def _adopt(db: Path, artifact_root: str) -> None:
    """Make the new store at `db` this project's: the default experiment keeps its artifacts under
    `artifact_root` (not in the template's folder, nor in the working directory, where MLflow would put them)
    and is dated now, as MLflow dates it when it makes a store."""
    now = int(time.time() * 1000)
    conn = sqlite3.connect(db, timeout=BUSY_TIMEOUT_S)
    try:
        with conn:
            changed = conn.execute(
                "UPDATE experiments SET artifact_location = ?, creation_time = ?, last_update_time = ? "
                "WHERE experiment_id = 0",
                (f"{artifact_root}/0", now, now),
            ).rowcount
    finally:
        conn.close()
    if changed != 1:
        raise sqlite3.DatabaseError("the store has no default experiment")


def _start_from_template(db: Path, artifact_root: str) -> bool:
    """Put a copy of the template at `db` (absent or empty), adopted by the project (`_adopt`); False where
    there is no usable template (a template whose copy is not a store is removed, to be made again)."""
    template = _template()
    if template is None:
        return False
    copy = temp_path(db.parent)
    try:
        shutil.copyfile(template, copy)
        copy.chmod(0o600)
        _adopt(copy, artifact_root)  # its commit syncs the copied pages to disk too
        publish(copy, db)
        return True
    except Exception as exc:  # noqa: BLE001 - the migrations make the store instead
        log.debug("could not start %s from the template %s: %s", db, template, exc)
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
            template.unlink(missing_ok=True)  # not a store (damaged on disk): made again by the next caller
        return False
    finally:
        _discard(copy)


def _is_new(db: Path) -> bool:
    """Whether `db` is a store still to be made: absent or empty, with no WAL beside it (a WAL may hold
    pages of a database; that case keeps today's handling) and not a link."""
    if db.is_symlink() or db.with_name(db.name + "-wal").exists():
        return False
    return not db.exists() or db.stat().st_size == 0


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
        new = bool(target.artifact_root) and _is_new(db)
        # A new store is a copy of the migrated template (milliseconds), not MLflow's migrations (seconds).
        migrate = new and not _start_from_template(db, str(target.artifact_root))
        prepare_embedded_db(db)
        mlflow_client = MlflowClient(tracking_uri=engine_uri(target), registry_uri=engine_uri(target))
        if migrate:  # made by the migrations: the same default experiment as a copy of the template has
            try:
                _adopt(db, str(target.artifact_root))
            except sqlite3.Error as exc:
                log.debug("left the default experiment of %s as MLflow made it: %s", db, exc)
        return mlflow_client


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
