"""`%lift preflight`: what would make the notebook fail on the target, found before the push.

Checks, each finding with a severity (an error blocks a push unless forced):
- imports: every module the notebook's code imports resolves in the lock (or is the standard library, or a
  local module inside the project); a module found nowhere is a missing package;
- local modules: imported modules that are not installed must lie inside the project folder (the bundle);
- files: paths the notebook reads (string literals passed to open, pd.read_*, np.load, Path, ...) that exist
  must lie inside the project folder;
- cuda: the locked framework's CUDA build suits the target's GPU driver;
- host (a remote target): its Python satisfies the lock's `requires-python`, uv is there, disk space;
- git: the files the notebook uses have no uncommitted change;
- secrets: no output cell holds a secret (token formats, credentials in URLs);
- api (a target environment to ask): what the notebook calls still exists at the target's library versions
  (`api_check`).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from importlib.machinery import PathFinder
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, NotFound
from ..project import Project
from .capture import canonical, scan_distributions
from .cuda import TOOLKIT_DRIVER, driver_verdict, major_minor
from .notebook import NotebookUse, cells_of, find_notebook, import_map, notebook_use, source_of

if TYPE_CHECKING:
    from .api_check import Probe

SEVERITIES = ("error", "warning", "info")


@dataclasses.dataclass(frozen=True)
class Finding:
    severity: str
    check: str  # lock, imports, local-modules, files, cuda, git, secrets
    message: str
    cell: int | None = None  # index of the cell in the notebook (0-based)
    hint: str | None = None


@dataclasses.dataclass
class PreflightResult:
    notebook: str
    backend: str | None
    findings: list[Finding]
    checked: list[str]

    @property
    def failed(self) -> bool:
        return any(f.severity == "error" for f in self.findings)

    def counts(self) -> dict[str, int]:
        return {s: sum(f.severity == s for f in self.findings) for s in SEVERITIES}

    def to_json(self) -> dict[str, Any]:
        return {
            "notebook": self.notebook,
            "backend": self.backend,
            "findings": [dataclasses.asdict(f) for f in self.findings],
            "checked": self.checked,
            "counts": self.counts(),
            "failed": self.failed,
        }


def _in_site_packages(path: Path) -> bool:
    return any(part in ("site-packages", "dist-packages") for part in path.parts)


def _module_location(name: str, search: Sequence[str]) -> Path | None:
    """Where `name` would be imported from along `search` (nothing is imported)."""
    try:
        spec = PathFinder.find_spec(name, list(search))
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.origin and spec.origin not in ("built-in", "frozen", "namespace"):
        origin = Path(spec.origin)
        return origin.parent if origin.name == "__init__.py" else origin
    locations = list(spec.submodule_search_locations or [])
    return Path(locations[0]) if locations else None


def _import_findings(
    use: NotebookUse, lock_names: set[str] | None, root: Path, nb_dir: Path, sys_path: Sequence[str]
) -> tuple[list[Finding], list[Path]]:
    dists = scan_distributions(sys_path)
    mapping = import_map(dists)
    extra_path = [str((nb_dir / p).resolve()) if not Path(p).is_absolute() else p for p in use.sys_path]
    search = [str(nb_dir), *extra_path, *(p or str(Path.cwd()) for p in sys_path)]
    findings: list[Finding] = []
    local_files: list[Path] = []
    for name, cell in sorted(use.imports.items(), key=lambda kv: (kv[1], kv[0])):
        if name in sys.stdlib_module_names or name in sys.builtin_module_names:
            continue
        location = _module_location(name, search)
        provided = mapping.get(name, set())
        if location is not None and not _in_site_packages(location) and not provided:
            if location.resolve().is_relative_to(root):
                local_files.append(location)
                continue
            findings.append(
                Finding(
                    "error",
                    "local-modules",
                    f"imports `{name}` from {location}, outside the project folder: "
                    "the bundle will not have it",
                    cell,
                    "move it into the project folder, or make it a package and `pip install -e` it "
                    "so `%lift pin` builds it into the bundle",
                )
            )
            continue
        if not provided and location is None:
            findings.append(
                Finding(
                    "error",
                    "imports",
                    f"imports `{name}`, which is not installed here and not in the lock",
                    cell,
                    f"install it (`%pip install {name}`; its distribution may be named differently), "
                    "then re-pin with `%lift pin`",
                )
            )
            continue
        if lock_names is not None and provided and not provided & lock_names:
            dist_names = ", ".join(sorted(provided))
            findings.append(
                Finding(
                    "error",
                    "imports",
                    f"imports `{name}` (distribution {dist_names}), which the lock does not include",
                    cell,
                    "re-pin with `%lift pin` so the lock matches the kernel",
                )
            )
    return findings, local_files


def _file_findings(use: NotebookUse, root: Path, nb_dir: Path) -> tuple[list[Finding], list[Path]]:
    findings: list[Finding] = []
    inside: list[Path] = []
    for literal, cell in use.reads.items():
        path = Path(literal).expanduser()
        path = path if path.is_absolute() else nb_dir / path
        try:
            exists = path.exists()
        except OSError:
            continue
        if not exists:
            continue
        resolved = path.resolve()
        if resolved.is_relative_to(root):
            inside.append(resolved)
            continue
        findings.append(
            Finding(
                "error",
                "files",
                f"reads {resolved}, outside the project folder: the bundle will not have it",
                cell,
                "copy it into the project folder (track large data with nblift), or read it from a URL",
            )
        )
    return findings, inside


def _cuda_findings(lock_cuda: str | None, driver: str | None, backend: str | None) -> list[Finding]:
    if not lock_cuda:
        return []
    if not driver:
        return [
            Finding(
                "info",
                "cuda",
                f"the lock's framework is built for CUDA {lock_cuda}; the target's GPU driver is not known",
                hint="pass --driver VERSION (nvidia-smi on the target shows it) to check it",
            )
        ]
    verdict, minimum = driver_verdict(driver, lock_cuda)
    where = f"the {backend} target" if backend else "the target"
    if verdict == "too-old":
        return [
            Finding(
                "error",
                "cuda",
                f"the lock's framework needs CUDA {lock_cuda}; {where}'s driver {driver} is too old "
                f"(needs {minimum} or newer, {TOOLKIT_DRIVER.get(major_minor(lock_cuda) or '', minimum)} "
                "for full support)",
                hint="pin for an older CUDA (`%lift pin --cuda 11.8`) or use a machine with a newer driver",
            )
        ]
    if verdict == "compat":
        return [
            Finding(
                "warning",
                "cuda",
                f"CUDA {lock_cuda} on driver {driver} runs through minor version compatibility "
                f"(full support from {minimum}); kernels that JIT-compile PTX may fail",
                hint=f"pin for the driver's CUDA, or use a driver {minimum} or newer",
            )
        ]
    return []


def _git_findings(root: Path, used: Sequence[Path]) -> list[Finding]:
    from ..snapshot.context import _git

    if _git(root, "rev-parse", "--is-inside-work-tree") is None:
        return [
            Finding(
                "info",
                "git",
                "the project is not a git repository: runs cannot record which code they ran",
                hint="`git init` and commit the notebook and its modules",
            )
        ]
    top = Path((_git(root, "rev-parse", "--show-toplevel") or str(root)).strip())
    status = _git(root, "status", "--porcelain", "-z", "--untracked-files=all", "--", ".") or ""
    changed: dict[Path, str] = {}
    for entry in status.split("\0"):
        if len(entry) > 3:
            changed[(top / entry[3:]).resolve()] = "untracked" if entry[:2] == "??" else "uncommitted changes"
    findings = []
    for path in sorted(set(used)):
        hits = [(p, why) for p, why in changed.items() if p == path or p.is_relative_to(path)]
        for p, why in hits[:5]:
            findings.append(
                Finding(
                    "warning",
                    "git",
                    f"{p.relative_to(root) if p.is_relative_to(root) else p}: {why}",
                    hint="commit it, so the run records a commit that reproduces it",
                )
            )
    return findings


def _secret_check() -> Any:
    try:
        from ..snapshot.redact import secret_value

        return secret_value
    except ImportError:  # pragma: no cover - the snapshot package ships with nblift
        import re

        pattern = re.compile(
            r"(sk-[A-Za-z0-9_\-]{20,}|gh[pousr]_[A-Za-z0-9]{30,}|AKIA[0-9A-Z]{16}|://[^\s/@:]+:[^\s/@]+@)"
        )
        return lambda text: "looks like a secret" if pattern.search(text) else None


def _output_texts(cell: Mapping[str, Any]) -> Iterator[str]:
    for output in cell.get("outputs", []) or []:
        if not isinstance(output, dict):
            continue
        text = output.get("text")
        if text:
            yield "".join(text) if isinstance(text, list) else str(text)
        for value in (output.get("data") or {}).values():
            yield (
                "".join(value)
                if isinstance(value, list)
                else value
                if isinstance(value, str)
                else json.dumps(value)
            )
        if output.get("traceback"):
            yield "\n".join(str(line) for line in output["traceback"])
        if output.get("evalue"):
            yield str(output["evalue"])


def _secret_findings(cells: Sequence[Mapping[str, Any]]) -> list[Finding]:
    check = _secret_check()
    findings = []
    for index, cell in enumerate(cells):
        for text in _output_texts(cell):
            reason = check(text)
            if reason:
                findings.append(
                    Finding(
                        "error",
                        "secrets",
                        f"an output of cell {index + 1} {reason.replace('looks like', 'holds')}",
                        index,
                        "clear that output (Edit > Clear Outputs of Selected Cells) and revoke the secret "
                        "if it was ever shared",
                    )
                )
                break
        if cell.get("cell_type") == "code" and (reason := check(source_of(cell))):
            findings.append(
                Finding(
                    "warning",
                    "secrets",
                    f"the code of cell {index + 1} {reason.replace('looks like', 'holds')}",
                    index,
                    "read it from an environment variable or a secrets manager instead",
                )
            )
    return findings


def _target_driver(project: Project, backend: str) -> tuple[str | None, list[Finding]]:
    """The GPU driver of the target `backend` names and what its host lacks for a push (Python, uv, disk:
    `host_check`), asked in one round trip over the backend's own connection; or why it cannot be asked."""
    from ..errors import NbliftError
    from ..runs.service import backend_for
    from .host_check import host_findings
    from .lock import read_lock

    try:
        lock = read_lock(project.root)
    except (InvalidInput, NotFound):
        lock = None  # reported by the lock check
    try:
        target = backend_for(project, backend)
        facts = target.host_facts(lock.indexes if lock else ())
        if facts is None:
            return target.gpu_driver(), []
    except NbliftError as exc:
        return None, [Finding("error", "target", f"{backend}: {exc.message}", hint=exc.hint or "")]
    return facts.driver, host_findings(facts, lock, backend)


def _target_probe(project: Project, backend: str | None, lock: Any) -> Probe | None:
    """The named target's API probe in its environment for `lock` (None: no lock, no named target, or a
    backend without environments of its own; an unreachable target is the target check's finding)."""
    from ..errors import NbliftError
    from ..runs.service import backend_for

    if lock is None or backend is None or ":" not in backend:
        return None
    requirements = project.root / lock.requirements
    if not requirements.is_file():
        return None  # the lock check says so
    try:
        return backend_for(project, backend).environment_probe(requirements, lock.index_strategy)
    except NbliftError:
        return None


def _snapshot_types(project: Project, notebook: Path) -> dict[str, str]:
    """The variables' types in this notebook's last snapshot (none: no snapshot, or one not signed with
    this user's key: the probe imports the modules a type names)."""
    from ..snapshot.manifest import is_trusted, list_manifests
    from .api_uses import types_in_manifest

    for manifest in list_manifests(project.state_dir):
        if manifest.get("notebook_path") == notebook.name:
            return types_in_manifest(manifest) if is_trusted(manifest) else {}
    return {}


def preflight(
    project: Project,
    notebook: Path | str | None = None,
    *,
    backend: str | None = None,
    driver: str | None = None,
    lock: Any = None,
    sys_path: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    target_python: str | None = None,
    kernel_python: str | None = None,
    known_types: Mapping[str, str] | None = None,
) -> PreflightResult:
    """Check the notebook against the lock and the target (see the module docstring).

    `driver` is the target's GPU driver; for the local backend (or none named) it is this machine's.
    `sys_path` is where imports are looked for (default: this interpreter's sys.path).
    The API check (`api_check`) asks the target's environment whether what the notebook calls still exists
    there, against the kernel's python (`kernel_python`, default: this interpreter), for the libraries whose
    versions differ: `target_python` is the python of an environment built from the lock; without it, a
    named target's own environment for the lock (`Backend.environment_probe`). `known_types` (name ->
    "module.QualName": the live kernel's variables) default to the types in this notebook's last snapshot.
    """
    from .lock import LockInfo, read_lock

    root = project.root.resolve()
    path = find_notebook(project, notebook, environ)
    nb_dir = path.parent
    cells = cells_of(path)
    use = notebook_use(cells)
    findings: list[Finding] = []
    if lock is None:
        try:
            lock = read_lock(root)
        except (InvalidInput, NotFound) as exc:
            findings.append(Finding("error", "lock", exc.message, hint="make one with `%lift pin`"))
    lock_info: LockInfo | None = lock
    lock_names = None
    if lock_info is not None:
        # local packages are in the bundle; skipped ones (nblift's own dev install) the target installs itself
        listed = (*lock_info.local, *lock_info.skipped)
        lock_names = set(lock_info.packages) | {canonical(p.get("name", "")) for p in listed}
    found, local_files = _import_findings(
        use, lock_names, root, nb_dir, list(sys.path if sys_path is None else sys_path)
    )
    findings += found
    found, read_files = _file_findings(use, root, nb_dir)
    findings += found
    if driver is None and backend in (None, "local"):
        from .machine import gpu_info

        driver = gpu_info()[1]
    elif driver is None and backend is not None and ":" in backend:  # a named target: ask it
        driver, unreachable = _target_driver(project, backend)
        findings += unreachable
    findings += _cuda_findings(lock_info.framework_cuda if lock_info else None, driver, backend)
    findings += _git_findings(root, [path, *local_files, *read_files])
    findings += _secret_findings(cells)
    probe = _target_probe(project, backend, lock_info) if target_python is None else None
    api_checked = target_python is not None or probe is not None
    if api_checked:
        from .api_check import api_findings

        findings += api_findings(
            cells,
            target_python=target_python,
            target_probe=probe,
            lock_versions=lock_info.packages if lock_info else None,
            kernel_python=kernel_python,
            known_types=_snapshot_types(project, path) if known_types is None else known_types,
        )
    order = {s: i for i, s in enumerate(SEVERITIES)}
    findings.sort(key=lambda f: (order[f.severity], f.cell if f.cell is not None else -1))
    checked = ["lock", "imports", "local-modules", "files", "cuda", "git", "secrets"]
    if backend not in (None, "local"):
        checked.append("target")
    if api_checked:
        checked.append("api")
    return PreflightResult(str(path), backend, findings, checked)
