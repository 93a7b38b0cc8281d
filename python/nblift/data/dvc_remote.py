"""DVC inputs of a remote run, fetched by the target from the DVC remote the project configures.

Home (`plan`): when a run's inputs include DVC outputs (recorded by `.dvc` files or `dvc.lock`) and the
project's `.dvc/config` (or `config.local`) names a default remote (`[core] remote`), the backend asks the
target (`PROBE`, run by the host's Python) whether it can get those versions there: every object of the
recorded version is in the remote as the host sees it, and DVC's data library can go into the run's
environment. When it can, the entries name the remote's object folder (`DataEntry.remote`), their bytes do not
go through nblift's store, and the environment gets `dvc-data` (`packages`). Otherwise, or where the project
configures no remote, they go through nblift's store as any local input does; the `bundle.sent` event says
which (`data_from_dvc`, `data_note`).

Target (`checkout`): DVC's own data library (`dvc_data`, imported there only) checks the recorded version
out of the remote into the working folder, and its md5 is checked against the record before the notebook
starts: a run never reads other bytes than the ones recorded. The host reaches the remote with its own
credentials (its environment): nothing from `config.local` is sent.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import posixpath
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .dvc import DvcOut, dir_md5, find_repo, read_record
from .manifest import MISSING, OK, DataEntry, DataInputError, DataManifest

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
#: fsspec's filesystem package for a remote's scheme (the run's environment needs it besides dvc-data).
_OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "azure", "oss"})
_FS_PACKAGES = {"s3": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "azure": "adlfs", "abfs": "adlfs"}


@dataclasses.dataclass(frozen=True)
class Remote:
    """A DVC remote: its name and URL (an absolute path for a local folder)."""

    name: str
    url: str

    @property
    def scheme(self) -> str:
        return self.url.partition("://")[0].lower() if _URL.match(self.url) else ""

    def objects(self, algorithm: str) -> str:
        """The folder of the remote's objects (DVC 3: `files/md5`; DVC 2 records: the remote's root)."""
        base = self.url.rstrip("/")
        return f"{base}/files/md5" if algorithm == "md5" else base


def _sections(text: str) -> dict[str, dict[str, str]]:
    """The sections of a DVC config file (INI as DVC writes it: `['remote "name"']`, `key = value`)."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("["):
            name = stripped.strip("[]").strip().strip("'")
            current = sections.setdefault(re.sub(r"\s+", " ", name), {})
        elif current is not None and "=" in stripped:
            key, _, value = stripped.partition("=")
            current[key.strip()] = value.strip().strip("'\"")
    return sections


def configured_remote(repo: Path) -> Remote | None:
    """The default remote of DVC repository `repo` (`[core] remote` of `.dvc/config`, `config.local`
    overriding it), None when it has none. A local folder's relative URL is resolved as DVC resolves it:
    from the folder of the config file that names it."""
    merged: dict[str, dict[str, str]] = {}
    url_base: dict[str, Path] = {}
    for name in ("config", "config.local"):
        path = repo / ".dvc" / name
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        for section, values in _sections(text).items():
            merged.setdefault(section, {}).update(values)
            if "url" in values:
                url_base[section] = path.parent
    default = merged.get("core", {}).get("remote")
    if not default:
        return None
    section = f'remote "{default}"'
    url = merged.get(section, {}).get("url")
    if not url:
        return None
    if url.startswith("file://"):
        url = url[len("file://") :]
    elif _URL.match(url):
        return Remote(default, url)
    folder = Path(url).expanduser()
    if not folder.is_absolute():
        folder = url_base.get(section, repo / ".dvc") / folder
    return Remote(default, str(folder.resolve()))


def _out_of(root: Path, entry: DataEntry) -> DvcOut | None:
    """The record's output an entry stands for (how DVC hashed it: DVC 3 or DVC 2)."""
    if not entry.record:
        return None
    record = root / entry.record.split(":")[0]
    try:
        outs = read_record(record, root)
    except (DataInputError, OSError):
        return None
    return next((o for o in outs if o.path == entry.uri and f"md5:{o.md5}" == entry.version), None)


@dataclasses.dataclass(frozen=True)
class Plan:
    """The DVC inputs a target could fetch from the remote, and what the probe needs to know."""

    remote: Remote | None
    #: uri -> (the remote's object folder, the recorded md5).
    wanted: dict[str, tuple[str, str]]
    #: Why no DVC input is fetched from the remote ("" when some may be).
    note: str


def plan(root: Path, data: Mapping[str, Any] | None, bundle_files: Iterable[str]) -> Plan:
    """Which DVC inputs of a run (its data manifest `data`) the target could fetch from the project's DVC
    remote: those the bundle does not carry whose recorded version is the run's (checked out, or only in the
    DVC cache), when a default remote is configured."""
    from .sending import in_bundle

    if not data:
        return Plan(None, {}, "")
    files = list(bundle_files)
    dvc_entries = [
        e
        for e in DataManifest.from_json(data).entries
        if e.kind == "dvc" and e.version and e.state in (OK, MISSING) and not in_bundle(e.uri, files)
    ]
    if not dvc_entries:
        return Plan(None, {}, "")
    repo = find_repo(root)
    remote = configured_remote(repo) if repo is not None else None
    if remote is None:
        return Plan(None, {}, "the project configures no DVC remote: DVC inputs sent from home")
    wanted = {}
    for entry in dvc_entries:
        out = _out_of(root, entry)
        if out is not None:
            wanted[entry.uri] = (remote.objects(out.algorithm), out.md5)
    return Plan(remote, wanted, "")


def packages(p: Plan) -> list[str]:
    """What the run's environment needs to fetch from the remote: dvc-data (and the remote's fsspec
    filesystem), pinned at the versions installed here when they are."""
    if p.remote is None or not p.wanted:
        return []
    names = ["dvc-data"]
    if p.remote.scheme in _FS_PACKAGES:
        names.append(_FS_PACKAGES[p.remote.scheme])
    pins = []
    for name in names:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pins.append(name)
    return pins


#: Run by the host's Python with `confirm`'s question on stdin; prints {"reason": ""} when every object is
#: in the remote and dvc-data can be installed, else the reason it cannot.
PROBE = r"""
import json, os, subprocess, sys

ask = json.load(sys.stdin)


def access(base):
    if "://" not in base:
        return os.path.isfile, lambda p: open(p, "rb").read()
    import fsspec

    fs, _ = fsspec.core.url_to_fs(base)
    return fs.isfile, fs.cat_file


def reason():
    for base, md5 in ask["objects"]:
        try:
            isfile, read = access(base)
            path = base.rstrip("/") + "/" + md5[:2] + "/" + md5[2:]
            if not isfile(path):
                return "the DVC remote has no " + path
            if md5.endswith(".dir"):
                for item in json.loads(read(path)):
                    m = item["md5"]
                    if not isfile(base.rstrip("/") + "/" + m[:2] + "/" + m[2:]):
                        return "the DVC remote lacks " + item["relpath"] + " of " + md5
        except ImportError:
            return "the host cannot reach " + base + " (no fsspec)"
        except Exception as exc:
            return "the host cannot reach " + base + ": " + (type(exc).__name__ + ": " + str(exc))[:300]
    if ask["offline"]:
        done = subprocess.run(
            [ask["uv"], "pip", "compile", "--offline", "--quiet", "--no-header", "-p", ask["python"], "-"],
            input="\n".join(ask["packages"]).encode(),
            capture_output=True,
        )
        if done.returncode:
            lines = done.stderr.decode(errors="replace").strip().splitlines()
            last = lines[-1] if lines else ""
            return "uv cannot install " + " ".join(ask["packages"]) + " offline: " + last
    return ""


print(json.dumps({"reason": reason()}))
"""


def answer(stdout: str, stderr: str, status: int | None) -> str:
    """The reason the probe gives ("" when the target can fetch from the remote)."""
    try:
        return str(json.loads(stdout.strip().splitlines()[-1])["reason"])
    except (ValueError, IndexError, KeyError, TypeError):
        tail = (stderr.strip().splitlines() or [f"exit status {status}"])[-1]
        return f"the DVC remote probe failed on the host: {tail}"[:400]


async def confirm(conn: Any, p: Plan, python: str, uv: str, offline: bool) -> Plan:
    """`p` when the host (an asyncssh connection; `python`, `uv` and `offline` as its target configures
    them) can fetch its inputs from the remote; else a plan fetching none, whose note says why."""
    if not p.wanted:
        return p
    import shlex

    ask = {
        "objects": sorted(set(p.wanted.values())),
        "uv": uv,
        "python": python,
        "offline": offline,
        "packages": packages(p),
    }
    done = await conn.run(
        f"cd / && {shlex.quote(python)} -c {shlex.quote(PROBE)}", input=json.dumps(ask), check=False
    )
    reason = answer(str(done.stdout), str(done.stderr), done.exit_status)
    if reason:
        return Plan(p.remote, {}, f"{reason}: DVC inputs sent from home")
    return p


# -- on the target ----------------------------------------------------------------------------------------


def _fs_for(base: str) -> tuple[Any, str]:
    if not _URL.match(base):
        from dvc_objects.fs.local import LocalFileSystem

        return LocalFileSystem(), base
    import fsspec
    from dvc_objects.fs import as_filesystem

    fs, path = fsspec.core.url_to_fs(base)
    protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    # DVC's own plugins (dvc-s3, ...) wrap fsspec's filesystems the same way, with md5 as the checksum
    return as_filesystem(fs, checksum="md5", object_based=bool(protocols & _OBJECT_STORES)), path


def checkout(entry: DataEntry, work: Path) -> dict[str, dict[str, Any]]:
    """Check the recorded version of DVC input `entry` out of the remote (`entry.remote`) into `work` with
    DVC's data library, and check its md5 against the record. Returns the files placed (relative path ->
    {"oid", "size"}). DataInputError names the input when the remote does not give the recorded bytes."""
    from ..bundle import _safe_target

    try:
        from dvc_data.hashfile import load
        from dvc_data.hashfile.checkout import checkout as dvc_checkout
        from dvc_data.hashfile.db import HashFileDB
        from dvc_data.hashfile.hash_info import HashInfo
        from dvc_objects.fs.local import LocalFileSystem
    except ImportError:
        raise DataInputError(
            f"{entry.uri}: the run's environment has no dvc-data to fetch it from the DVC remote",
            hint="install dvc-data on the host, or remove the DVC remote to send DVC data from home",
        ) from None
    md5 = str(entry.version).removeprefix("md5:")
    base = str(entry.remote)
    algorithm = "md5" if base.rstrip("/").endswith("/files/md5") else "md5-dos2unix"
    target = _safe_target(work, entry.uri)
    target.parent.mkdir(parents=True, exist_ok=True)
    fs, path = _fs_for(base)
    odb = HashFileDB(fs, path)
    try:
        obj = load(odb, HashInfo("md5", md5))
        dvc_checkout(str(target), LocalFileSystem(), obj, odb, force=True, quiet=True)
    except Exception as exc:  # noqa: BLE001 - whatever the remote's filesystem raises, the input is named
        raise DataInputError(
            f"{entry.uri}: version {md5} could not be fetched from the DVC remote {base}: "
            f"{type(exc).__name__}: {exc}"[:600],
            hint=f"`dvc push {entry.record or ''}` at home puts it there",
        ) from None
    return _verified(entry, target, md5, algorithm)


def _verified(entry: DataEntry, target: Path, md5: str, algorithm: str) -> dict[str, dict[str, Any]]:
    from .dvc import _DVC_IGNORED
    from .hashcache import HashCache
    from .local import file_digest, list_files

    hashes = HashCache(None)
    if target.is_dir():
        files = {rel: file_digest(p, algorithm, hashes) for rel, p in list_files(target, _DVC_IGNORED)}
        got = dir_md5(files)
        placed = {
            posixpath.join(entry.uri, rel): {"oid": f"md5:{digest}", "size": size}
            for rel, (digest, size) in files.items()
        }
    else:
        digest, size = file_digest(target, algorithm, hashes)
        got = digest
        placed = {entry.uri: {"oid": f"md5:{digest}", "size": size}}
    if got != md5:
        raise DataInputError(
            f"{entry.uri}: the DVC remote gave version {got}, not the recorded {md5}",
            hint="the remote's objects are damaged: `dvc push` the data again from home",
        )
    return placed
