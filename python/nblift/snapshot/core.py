"""Take and restore snapshots of a kernel's state: content-addressed, signed, never silently stale.

A `Snapshotter` lives in the kernel (one per IPython shell). A snapshot re-examines every variable that
could have changed since the last one (everything but immutable values still bound to the same object,
see `namespace.py`): arrays and frames by hashing their buffers, the rest by re-encoding; content
addressing makes an unchanged value cost no new bytes. Variables that share objects are stored together so
the sharing survives restore.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..data import inputs as data_inputs
from ..data.hashcache import HashCache
from ..errors import NbliftError, ObjectCorrupt
from ..kernel_session import kernel_notebook
from ..project import Project
from ..store import ObjectStore
from . import context, record
from . import manifest as mf
from .background import _fork_snapshot, _Pending, background_supported, fork_hazard, preload, refused_imports
from .codec import (
    Encoded,
    Unstorable,
    decode,
    dropped_parts,
    encode_group,
    encode_value,
    fingerprint_value,
    place_modules,
)
from .context import data_hashes, environment_fingerprint, git_state, tracked_paths
from .groups import group_variables
from .history import Cell, cell_seconds, defining_cells, hidden_state_warnings, kernel_history_raw
from .namespace import IPYTHON_NAMES, is_immutable, module_state, put_back, user_variables
from .redact import redaction_reason, scrub_text
from .verify import VerifyResult

__all__ = ["IPYTHON_NAMES", "RestoreResult", "SnapshotResult", "Snapshotter", "user_variables"]

Progress = Callable[[str, int, int], None]


def _encoding_json(enc: Encoded) -> dict[str, Any]:
    return {
        "kind": enc.kind,
        "type": enc.type_name,
        "objects": list(enc.objects),
        "meta": enc.meta,
        "size": enc.size,
    }


def _encoded_from_json(data: Mapping[str, Any]) -> Encoded:
    return Encoded(
        kind=data["kind"],
        type_name=data.get("type", ""),
        objects=list(data["objects"]),
        meta=dict(data.get("meta", {})),
        size=int(data.get("size", 0)),
        fingerprint="",
    )


@dataclasses.dataclass
class SnapshotResult:
    id: str
    message: str
    created: float
    variables: int
    changed: list[str]
    added: list[str]
    removed: list[str]
    redacted: list[str]
    unstorable: dict[str, str]
    warnings: list[str]
    new_bytes: int
    seconds: float
    #: "saved", or "saving" while a background snapshot is still being written.
    state: str = "saved"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def saving(cls, sid: str, message: str, seconds: float) -> SnapshotResult:
        return cls(
            id=sid,
            message=message,
            created=time.time(),
            variables=0,
            changed=[],
            added=[],
            removed=[],
            redacted=[],
            unstorable={},
            warnings=[],
            new_bytes=0,
            seconds=seconds,
            state="saving",
        )


@dataclasses.dataclass
class _Outcome:
    """What one snapshot produced: its result, and the bookkeeping the next incremental snapshot needs."""

    result: SnapshotResult
    known: dict[str, _Known]
    encodings: dict[str, dict[str, Any]]
    groups: dict[str, frozenset[str]]
    manifest: dict[str, Any]
    #: Modules a background child needed and refused to import (the kernel imports them).
    needs_imports: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class RestoreResult:
    id: str
    restored: list[str]
    failed: dict[str, str]
    unstorable: dict[str, str]
    rerun: list[str]
    redacted: list[str]
    seconds: float
    #: Variables restored without some parts the snapshot could not store: name -> "path: what it was".
    partial: dict[str, list[str]] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class _Known:
    """What the last snapshot of this kernel recorded for one name."""

    identity: int
    quick: str | None
    entry: dict[str, Any]
    encoding_id: str | None
    #: The value can never change (see `namespace.is_immutable`): unchanged while bound to the same object.
    immutable: bool = False


class Snapshotter:
    """Snapshots of one IPython shell's namespace into one project's store."""

    def __init__(self, shell: Any, project: Project | None = None) -> None:
        self.shell = shell
        self._project = project
        #: Immutable values as of the last snapshot, held so that `is` proves a name still holds one.
        self._pinned: dict[str, Any] = {}
        self._known: dict[str, _Known] = {}
        self._encodings: dict[str, dict[str, Any]] = {}
        self._groups: dict[str, frozenset[str]] = {}
        self._last_id: str | None = None
        self._lock = threading.Lock()
        self.autosnapshot = False
        self._pending: _Pending | None = None

    # -- tracking what cells touch -------------------------------------------------------------------
    @property
    def project(self) -> Project:
        return self._project if self._project is not None else Project.discover()

    def bind(self, project: Project) -> None:
        """Use `project` from now on (the magic's `-C` or the notebook's folder)."""
        self._project = project

    def _namespace(self) -> dict[str, Any]:
        """The variables, and the data of the notebook's own modules as `module.name` entries."""
        hidden = getattr(self.shell, "user_ns_hidden", {})
        return {**user_variables(self.shell.user_ns, hidden), **module_state(self.project.root)}

    # -- snapshot ------------------------------------------------------------------------------------
    def snapshot(
        self,
        message: str = "",
        *,
        full: bool = False,
        auto: bool = False,
        background: bool = False,
        progress: Progress | None = None,
        on_object: Callable[[str], None] | None = None,
    ) -> SnapshotResult:
        """Freeze the namespace. Every name that could have changed is re-examined (`full`: every name).

        With `background`, the kernel forks: the child (a copy-on-write image of this moment's memory)
        encodes and writes while the kernel goes on at once; the result says "saving" until `collect`.
        `on_object` (foreground only) is told each object the snapshot adds to the store as it is written.
        """
        with self._lock:
            with contextlib.suppress(
                NbliftError
            ):  # a failed earlier one was reported; this one starts afresh
                self.collect(wait=True)
            sid, start = mf.new_id(), time.perf_counter()
            kernel_notebook()  # asked here, in the kernel: a background child only reads the answer
            stamps = context.site_stamps()
            pins = {name: value for name, value in self._namespace().items() if is_immutable(value)}
            foreground_because = None
            if background and on_object is None and background_supported():
                foreground_because = fork_hazard()
                if foreground_because is None:
                    preload()
                    data_inputs.preload(self.project)  # what the data manifest needs, imported here
                    if context.cached_environment(stamps) is None:
                        context.prepare_environment_read()  # the child reads it; the kernel keeps it
                    forked = _fork_snapshot(self, message, full, auto, sid, start, pins, stamps)
                    if isinstance(forked, str):
                        foreground_because = forked
                    else:
                        self._pending = forked
                        return SnapshotResult.saving(sid, message, time.perf_counter() - start)
            outcome = self._snapshot(
                message,
                full=full,
                auto=auto,
                progress=progress,
                sid=sid,
                start=start,
                on_object=on_object,
                note=f"written in the foreground: {foreground_because}" if foreground_because else None,
            )
            self._apply(outcome, pins, stamps)
            return outcome.result

    def _apply(self, outcome: _Outcome, pins: dict[str, Any], stamps: str) -> None:
        self._pinned = pins
        context.remember_environment(stamps, outcome.manifest.get("environment") or {})
        for module in outcome.needs_imports:  # what the background child refused: imported here, safely
            with contextlib.suppress(Exception):
                importlib.import_module(module)
        self._known = outcome.known
        self._encodings = outcome.encodings
        self._groups = outcome.groups
        self._last_id = outcome.result.id
        self._mirror(self.project, outcome.manifest)

    @property
    def pending(self) -> str | None:
        """The id of a snapshot still being written in the background, if any."""
        return self._pending.sid if self._pending is not None else None

    def collect(self, *, wait: bool) -> SnapshotResult | None:
        """Take in a finished background snapshot (or wait for it): its result, or None if none was pending.

        A failed background snapshot raises NbliftError with the child's reason; the names it would have
        covered are re-examined by the next snapshot.
        """
        pending = self._pending
        if pending is None or (not wait and pending.reaper.is_alive()):
            return None
        pending.reaper.join()
        self._pending = None
        if pending.outcome is None:
            self._known, self._pinned = {}, {}  # be safe: the next snapshot re-examines everything
            raise NbliftError(
                f"background snapshot {pending.sid} failed: {pending.error}",
                hint="run `%lift snapshot --wait` to see the error in the notebook",
            )
        self._apply(pending.outcome, pending.pins, pending.stamps)
        return pending.outcome.result

    def _unchanged(self, name: str, value: Any) -> bool:
        """Whether `name` provably holds what the last snapshot stored: the same immutable object."""
        known = self._known.get(name)
        if known is None or not known.immutable or known.identity != id(value):
            return False  # (the id is the one the snapshot saw: a name rebound since the pin is re-examined)
        return name in self._pinned and self._pinned[name] is value

    def _candidates(self, ns: Mapping[str, Any], full: bool) -> set[str]:
        if full or not self._known:
            return set(ns)
        cands = {n for n in ns if not self._unchanged(n, ns[n])}
        # A name grouped with a candidate last time is stored with it: re-examine the whole group.
        for name in list(cands):
            cands |= {m for m in self._groups.get(name, frozenset()) if m in ns}
        return cands

    def _snapshot(
        self,
        message: str,
        *,
        full: bool,
        auto: bool,
        progress: Progress | None,
        sid: str,
        start: float,
        note: str | None = None,
        on_object: Callable[[str], None] | None = None,
    ) -> _Outcome:
        """Encode, store and sign one snapshot; touches no state of `self` (it may run in a forked child)."""
        project = self.project
        store = ObjectStore(project.ensure_state_dir())
        store.on_publish = on_object
        ns = self._namespace()
        candidates = self._candidates(ns, full)
        history = kernel_history_raw(self.shell)
        defining = defining_cells(history)

        variables: dict[str, dict[str, Any]] = {}
        encodings: dict[str, dict[str, Any]] = {}
        known: dict[str, _Known] = {}
        changed: list[str] = []

        for name in ns:
            if name not in candidates and name in self._known:
                old = self._known[name]
                variables[name] = old.entry
                known[name] = old
                if old.encoding_id:
                    encodings[old.encoding_id] = self._encodings[old.encoding_id]

        redacted = []
        to_encode = []
        for name in sorted(candidates):
            value = ns[name]
            cell = defining.get(name)
            why = redaction_reason(name, value)
            if why is not None:
                redacted.append(name)
                variables[name] = {
                    "status": "redacted",
                    "type": _type_name(value),
                    "encoding": None,
                    "reason": f"{why}: not stored",
                    "cell": None,
                    "size": 0,
                }
                known[name] = _Known(id(value), None, variables[name], None, is_immutable(value))
                continue
            to_encode.append(name)
            variables[name] = {"status": "pending", "cell": cell.count if cell else None}

        groups = group_variables(ns, to_encode) if to_encode else []
        group_of: dict[str, frozenset[str]] = {}
        unstorable: dict[str, str] = {}
        total = len(groups)
        for done, members in enumerate(groups, 1):
            if progress:
                progress("storing " + ", ".join(members[:3]), done, total)
            if len(members) == 1:
                name = members[0]
                entry, enc_id, enc, quick = self._encode_one(name, ns[name], store)
            else:
                entry, enc_id, enc, quick = self._encode_many(members, ns, store, unstorable)
            for name in members:
                var = (
                    dict(entry)
                    if len(members) == 1
                    else self._member_entry(name, ns[name], entry, unstorable)
                )
                var["cell"] = variables[name].get("cell")
                if len(members) == 1 and quick is not None and var["status"] == "stored":
                    var["fingerprint"] = quick  # lets a kernel that restores it skip re-encoding it
                variables[name] = var
                if var["status"] == "unstorable":
                    unstorable[name] = var["reason"]
                prev = self._known.get(name)
                if (
                    prev is None
                    or prev.encoding_id != var.get("encoding")
                    or prev.entry.get("status") != var["status"]
                ):
                    changed.append(name)
                known[name] = _Known(
                    id(ns[name]),
                    quick if len(members) == 1 else None,
                    var,
                    var.get("encoding"),
                    is_immutable(ns[name]),
                )
                if len(members) > 1:
                    group_of[name] = frozenset(members)
            if enc is not None and enc_id is not None:
                encodings[enc_id] = _encoding_json(enc)

        parent = self._last_id
        added = sorted(n for n in ns if n not in self._known) if self._known else sorted(ns)
        removed = sorted(n for n in self._known if n not in ns)
        changed = sorted(set(changed) - set(added))

        nb_bytes, nb_path = _notebook_bytes()
        warnings = [note] if note else []
        data_cache = HashCache(project.state_dir, one_pass=True)  # tracked files are hashed once for both
        warnings += hidden_state_warnings(history, defining, ns, nb_bytes)
        for name, var in variables.items():
            if var["status"] == "unstorable":
                cell = var.get("cell")
                where = f"cell [{cell}] made it" if cell else "no cell in this kernel's history made it"
                warnings.append(f"{name}: not stored ({var['reason']}); {where}")
            elif var.get("dropped"):
                warnings.append(f"{name}: stored without {'; '.join(var['dropped'])}")

        manifest: dict[str, Any] = {
            "format": mf.FORMAT,
            "id": sid,
            "created": time.time(),
            "message": message,
            "auto": auto,
            "parent": parent,
            "kernel_execution_count": getattr(self.shell, "execution_count", None),
            "variables": variables,
            "encodings": encodings,
            "history_object": store.put_bytes(_history_json(history, dict(cell_seconds(self.shell)))),
            "notebook_path": nb_path,
            "notebook_object": store.put_bytes(scrub_text(nb_bytes.decode("utf-8", "replace")).encode())
            if nb_bytes is not None
            else None,
            "git": None,
            "git_diff_object": None,
            "environment": _environment(),
            "data": data_hashes(project.root, tracked_paths(project.state_dir), data_cache),
            "data_manifest": data_inputs.for_snapshot(project, warnings, data_cache),
            "warnings": warnings,
            "summary": {"added": added, "removed": removed, "changed": changed, "redacted": sorted(redacted)},
        }
        git = git_state(project.root)
        if git is not None:
            manifest["git"] = git.to_json()
            if git.diff:
                manifest["git_diff_object"] = store.put_bytes(scrub_text(git.diff).encode())
        needs_imports = refused_imports()
        if needs_imports:
            warnings.append(
                f"written in the background without importing {', '.join(needs_imports)}: what needed "
                "it is stored by the next snapshot"
            )
        if project.settings.snapshot_verify:
            from .verify import verify_namespace

            check = verify_namespace(ns, manifest, store, namespace=self.shell.user_ns, extra_names=False)
            warnings += [f"verify: {d.name}: {d.reason}" for d in check.differences]
        mf.sign_manifest(manifest)
        manifest_path = mf.save(store, manifest)

        new_bytes = store.bytes_written + manifest_path.stat().st_size
        result = SnapshotResult(
            id=sid,
            message=message,
            created=manifest["created"],
            variables=len(variables),
            changed=changed,
            added=added,
            removed=removed,
            redacted=sorted(redacted),
            unstorable=unstorable,
            warnings=warnings,
            new_bytes=new_bytes,
            seconds=time.perf_counter() - start,
        )
        groups_after = group_of | {n: g for n, g in self._groups.items() if n in ns and n not in candidates}
        return _Outcome(result, known, dict(encodings), groups_after, manifest, needs_imports)

    def _encode_one(
        self, name: str, value: Any, store: ObjectStore
    ) -> tuple[dict[str, Any], str | None, Encoded | None, str | None]:
        prev = self._known.get(name)
        quick = fingerprint_value(value)
        if quick is not None and prev is not None and prev.quick == quick and prev.encoding_id:
            return prev.entry, prev.encoding_id, _encoded_from_json(self._encodings[prev.encoding_id]), quick
        try:
            enc = encode_value(value, store, namespace=self.shell.user_ns)
        except Unstorable as exc:
            return (
                {
                    "status": "unstorable",
                    "type": _type_name(value),
                    "encoding": None,
                    "reason": exc.message,
                    "size": 0,
                },
                None,
                None,
                None,
            )
        entry = {
            "status": "stored",
            "type": enc.type_name,
            "encoding": enc.fingerprint,
            "reason": None,
            "size": enc.size,
        }
        if dropped_parts(enc):
            entry["dropped"] = dropped_parts(enc)
        return entry, enc.fingerprint, enc, quick

    def _encode_many(
        self, members: list[str], ns: Mapping[str, Any], store: ObjectStore, unstorable: dict[str, str]
    ) -> tuple[dict[str, Any], str | None, Encoded | None, None]:
        try:
            enc = encode_group({n: ns[n] for n in members}, store, namespace=self.shell.user_ns)
        except Unstorable as exc:
            for n in members:
                unstorable[n] = exc.message
            return (
                {"status": "unstorable", "encoding": None, "reason": exc.message, "size": 0},
                None,
                None,
                None,
            )
        entry = {"status": "stored", "encoding": enc.fingerprint, "reason": None, "size": enc.size}
        if dropped_parts(enc):
            entry["dropped"] = dropped_parts(enc)
        return (
            entry,
            enc.fingerprint,
            enc,
            None,
        )

    @staticmethod
    def _member_entry(
        name: str, value: Any, group_entry: dict[str, Any], unstorable: dict[str, str]
    ) -> dict[str, Any]:
        entry = dict(group_entry)
        entry["type"] = _type_name(value)
        entry["group"] = True
        mine = [part for part in group_entry.get("dropped", []) if _part_of(part, name)]
        entry.pop("dropped", None)
        if mine:
            entry["dropped"] = mine
        if name in unstorable:
            entry.update(status="unstorable", reason=unstorable[name], encoding=None)
        return entry

    def _mirror(self, project: Project, manifest: dict[str, Any]) -> None:
        """Record the snapshot as an MLflow run, outside the kernel (see `record.py`)."""
        if not project.settings.snapshot_mlflow:
            return
        try:
            record.enqueue(project, manifest["id"])
        except OSError as exc:  # the snapshot itself is safe on disk; report and go on
            logging.getLogger("nblift").warning("snapshot %s not queued for MLflow: %s", manifest["id"], exc)

    def wait_for_mirror(self, timeout: float | None = None) -> bool:
        """Wait until this project's snapshots have their MLflow records; False on timeout."""
        return record.wait_until_recorded(self.project, timeout)

    # -- verify --------------------------------------------------------------------------------------
    def verify(self, sid: str | None = None) -> VerifyResult:
        """Compare the live namespace with snapshot `sid` (default: the kernel's last snapshot or restore)."""
        from .verify import verify_namespace

        with contextlib.suppress(NbliftError):
            self.collect(wait=True)
        target = sid or self._last_id
        if target is None:
            raise NbliftError(
                "this kernel has no snapshot to verify against",
                hint="take one with `%lift snapshot`, or name one: `%lift snapshots verify ID`",
            )
        project = self.project
        manifest = mf.load(project.state_dir, target)
        mf.require_trusted(manifest)
        store = ObjectStore(project.state_dir)
        return verify_namespace(self._namespace(), manifest, store, namespace=self.shell.user_ns)

    # -- restore -------------------------------------------------------------------------------------
    def restore(
        self,
        sid: str,
        *,
        only: Iterable[str] | None = None,
        lazy: bool = True,
        rerun: bool = False,
        progress: Progress | None = None,
        device: str | None = None,
    ) -> RestoreResult:
        """Bring a snapshot's variables back into this kernel (all, or `only` some); `device`: where torch
        tensors and modules go (default: tensors on cuda when there is one, else the cpu)."""
        start = time.perf_counter()
        with contextlib.suppress(NbliftError):  # a failed background snapshot never blocks restoring another
            self.collect(wait=True)
        project = self.project
        store = ObjectStore(project.state_dir)
        manifest, wanted = mf.load_wanted(project.state_dir, sid, only)
        variables: dict[str, dict[str, Any]] = manifest["variables"]
        restored: list[str] = []
        failed: dict[str, str] = {}
        unstorable: dict[str, str] = {}
        redacted: list[str] = []
        decoded: dict[str, Any] = {}
        by_encoding: dict[str, list[str]] = {}
        for name in wanted:
            var = variables[name]
            if var["status"] == "redacted":
                redacted.append(name)
            elif var["status"] == "unstorable":
                unstorable[name] = var.get("reason") or "not stored"
            else:
                by_encoding.setdefault(var["encoding"], []).append(name)
        total = len(by_encoding)
        for done, (enc_id, names) in enumerate(by_encoding.items(), 1):
            if progress:
                progress("loading " + ", ".join(names[:3]), done, total)
            encoded = _encoded_from_json(manifest["encodings"][enc_id])
            group = encoded.kind == "group"
            # Names with equal content but no shared object were stored once (content addressing) and
            # come back as distinct objects, each decoded on its own; a group keeps its sharing.
            for name in names[:1] if group else names:
                try:
                    value = decode(encoded, store, lazy=lazy, device=device, namespace=self.shell.user_ns)
                except (ObjectCorrupt, NbliftError, Exception) as exc:  # noqa: BLE001 - one bad value never stops the rest
                    reason = exc.message if isinstance(exc, NbliftError) else f"{type(exc).__name__}: {exc}"
                    for other in names if group else [name]:
                        failed[other] = reason
                    continue
                if group:
                    decoded.update({other: value[other] for other in names})
                else:
                    decoded[name] = value
        if device:
            place_modules(decoded, device)
        failed.update(put_back(self.shell.user_ns, decoded))
        restored = sorted(n for n in decoded if n not in failed)
        rerun_done: list[str] = []
        if rerun and unstorable:
            rerun_done = self._rerun_cells(store, manifest, unstorable, failed)
        with self._lock:
            self._known, self._pinned = _known_after_restore(manifest, decoded, restored)
            self._encodings = dict(manifest["encodings"])
            self._groups = {}
            self._last_id = manifest["id"]
        return RestoreResult(
            id=manifest["id"],
            restored=restored,
            failed=failed,
            unstorable=unstorable,
            rerun=rerun_done,
            redacted=sorted(redacted),
            seconds=time.perf_counter() - start,
            partial={n: list(variables[n]["dropped"]) for n in restored if variables[n].get("dropped")},
        )

    def _rerun_cells(
        self, store: ObjectStore, manifest: dict[str, Any], unstorable: dict[str, str], failed: dict[str, str]
    ) -> list[str]:
        """Re-run the cells that made unstorable variables, in their original order."""
        cells = {c["count"]: c["source"] for c in json.loads(store.get_bytes(manifest["history_object"]))}
        by_cell: dict[int, list[str]] = {}
        for name in unstorable:
            count = manifest["variables"][name].get("cell")
            if count in cells:
                by_cell.setdefault(count, []).append(name)
            else:
                failed[name] = "cannot re-run: the cell that made it is not in the snapshot's history"
        done = []
        for count in sorted(by_cell):
            result = self.shell.run_cell(cells[count], store_history=False, silent=True)
            for name in by_cell[count]:
                if result.success and name in self.shell.user_ns:
                    done.append(name)
                else:
                    failed[name] = (
                        f"re-running cell [{count}] failed: "
                        f"{result.error_in_exec or result.error_before_exec}"
                    )
        for name in done:
            unstorable.pop(name, None)
        return sorted(done)


def _known_after_restore(
    manifest: Mapping[str, Any], decoded: Mapping[str, Any], restored: Iterable[str]
) -> tuple[dict[str, _Known], dict[str, Any]]:
    """What the next snapshot may take as stored, as if this kernel had taken the restored snapshot itself.

    A restored immutable value still bound to its name is unchanged (pinned, as after a snapshot). Any other
    value keeps the content fingerprint it was snapshotted with: the next snapshot fingerprints it afresh and
    reuses the stored encoding only when the two are equal (a value changed since, or decoded with another
    memory layout, is encoded again). Values stored in a group are encoded again."""
    known: dict[str, _Known] = {}
    pinned: dict[str, Any] = {}
    for name in restored:
        entry, value = manifest["variables"][name], decoded[name]
        enc_id = entry.get("encoding")
        alone = enc_id in manifest["encodings"] and not entry.get("group")
        immutable = alone and is_immutable(value)
        quick = entry.get("fingerprint") if alone else None
        known[name] = _Known(id(value), quick, dict(entry), enc_id if alone else None, immutable)
        if immutable:
            pinned[name] = value
    return known, pinned


def _part_of(part: str, name: str) -> bool:
    """Whether a dropped part's path (`name['key']: why`, `name.attr: why`) belongs to variable `name`."""
    return part == name or part.startswith((f"{name}[", f"{name}.", f"{name}:"))


def _environment() -> dict[str, Any]:
    try:
        return environment_fingerprint()
    except ImportError as exc:  # a background child that would have to import: next snapshot has it
        return {"unavailable": str(exc)}


def _type_name(value: Any) -> str:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


def _history_json(history: list[Cell], seconds: dict[int, float]) -> bytes:
    """The executed cells (count, source, and how long each ran where the cell hook measured it)."""
    cells = []
    for c in history:
        cell: dict[str, Any] = {"count": c.count, "source": scrub_text(c.source)}
        if c.count in seconds:
            cell["seconds"] = seconds[c.count]
        cells.append(cell)
    return json.dumps(cells).encode()


def _notebook_bytes() -> tuple[bytes | None, str | None]:
    """The notebook document as last saved, from the path the Jupyter server has for this kernel."""
    path = kernel_notebook(ask=False)  # the kernel asked before the snapshot (a child must not)
    if path is None:
        return None, None
    try:
        return path.read_bytes(), path.name
    except OSError:
        return None, path.name
