"""`%lift env diff A B`: drift between two environments, each change with a severity.

A and B are any of: `kernel` (the running interpreter), `lock` (the project's pylock.toml), a path to a
pylock.toml or to a captured environment's JSON (`nblift env --json`), or a snapshot id (its recorded
environment). Severities: error for a CUDA major mismatch, a driver too old for the other side's CUDA, a
Python major mismatch or a missing package the notebook imports; warning for a major/minor version change,
a Python minor change, a CUDA minor change, another platform or a removed package; info for a patch change
or an added package.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from ..project import Project
from .cuda import driver_verdict, major_minor

SEVERITIES = ("error", "warning", "info")


@dataclasses.dataclass(frozen=True)
class EnvView:
    """What two environments are compared on."""

    label: str
    python: str | None
    platform: str | None
    cuda: str | None
    driver: str | None
    packages: Mapping[str, str]
    #: Packages this side leaves out on purpose (a lock's development installs): never reported missing.
    excluded: frozenset[str] = frozenset()


@dataclasses.dataclass(frozen=True)
class Change:
    severity: str
    kind: str  # added, removed, changed, python, cuda, driver, platform
    name: str
    a: str | None
    b: str | None
    message: str


@dataclasses.dataclass
class EnvDiff:
    a: str
    b: str
    changes: list[Change]
    unchanged: int

    @property
    def failed(self) -> bool:
        return any(c.severity == "error" for c in self.changes)

    def counts(self) -> dict[str, int]:
        return {s: sum(c.severity == s for c in self.changes) for s in SEVERITIES}

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "changes": [dataclasses.asdict(c) for c in self.changes],
            "unchanged": self.unchanged,
            "counts": self.counts(),
            "failed": self.failed,
        }


# -- versions ----------------------------------------------------------------------------------------------


def _release(version: str) -> tuple[int, ...]:
    match = re.match(r"v?(\d+(?:\.\d+)*)", version.strip())
    return tuple(int(x) for x in match.group(1).split(".")) if match else ()


def version_change(a: str, b: str) -> tuple[str, str]:
    """(severity, what) of a version change: major/minor -> warning, patch or build -> info."""
    ra, rb = _release(a), _release(b)
    if not ra or not rb:
        return "warning", "version changed"
    direction = "downgrade" if rb < ra else "upgrade"
    la, lb = a.partition("+")[2], b.partition("+")[2]
    pa, pb = (*ra, 0, 0, 0)[:3], (*rb, 0, 0, 0)[:3]
    if pa[0] != pb[0]:
        return "warning", f"major {direction}"
    if pa[1] != pb[1]:
        return "warning", f"minor {direction}"
    if la != lb:
        return "warning", f"other build (+{la or 'none'} -> +{lb or 'none'})"
    if pa[2] != pb[2]:
        return "info", f"patch {direction}"
    return "info", "pre/post/dev release changed"


# -- views -------------------------------------------------------------------------------------------------


def kernel_view(env: Any = None) -> EnvView:
    from .capture import capture

    env = env or capture()
    return EnvView("kernel", env.python, env.platform, env.cuda, env.driver, env.packages)


def _lock_view(path: Path, label: str) -> EnvView:
    from .capture import canonical
    from .lock import read_lock

    lock = read_lock(path)
    # Lock tools leave the installers themselves out (pip-tools and uv call them "unsafe"): not drift.
    skipped = frozenset(canonical(str(s.get("name", ""))) for s in lock.skipped) | {"pip", "setuptools"}
    return EnvView(label, lock.python, lock.platform, lock.framework_cuda, None, lock.packages, skipped)


def _json_view(path: Path) -> EnvView:
    from .capture import canonical

    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            f"cannot read {path} ({exc})", hint="pass a file written by `nblift env --json`"
        ) from None
    # a snapshot manifest holds it under "environment"; `nblift --json env` under "show"
    data = data.get("environment") or data.get("show") or data
    packages = {canonical(k): str(v) for k, v in (data.get("packages") or {}).items()}
    return EnvView(
        path.name, data.get("python"), data.get("platform"), data.get("cuda"), data.get("driver"), packages
    )


def resolve_view(project: Project, spec: str, *, env: Any = None) -> EnvView:
    """The environment `spec` names: kernel, lock, a .toml/.json path or a snapshot id."""
    if spec == "kernel":
        return kernel_view(env)
    if spec == "lock":
        return _lock_view(project.root, "lock")
    path = Path(spec).expanduser()
    if not path.is_absolute():
        path = project.root / path
    if path.suffix == ".toml" or (path.is_file() and path.name.startswith("pylock")):
        return _lock_view(path, path.name)
    if path.suffix == ".json":
        return _json_view(path)
    from ..snapshot import manifest as mf

    try:
        recorded = mf.load(project.state_dir, spec).get("environment", {})
    except InvalidInput:
        raise InvalidInput(
            f"{spec!r} is not kernel, lock, a .toml/.json file or a snapshot id",
            hint="compare e.g. `kernel lock`, or a snapshot id from `%lift snapshots`",
        ) from None
    from .capture import canonical

    packages = {canonical(k): str(v) for k, v in recorded.get("packages", {}).items()}
    return EnvView(
        f"snapshot {spec}",
        recorded.get("python"),
        recorded.get("platform"),
        recorded.get("cuda"),
        recorded.get("driver"),
        packages,
    )


# -- comparing ---------------------------------------------------------------------------------------------


def _python_change(a: str, b: str) -> Change:
    ra, rb = _release(a), _release(b)
    if ra[:1] != rb[:1]:
        severity = "error"
    elif ra[:2] != rb[:2]:
        severity = "warning"  # compiled wheels and pickles differ between minor versions
    else:
        severity = "info"
    return Change(severity, "python", "python", a, b, f"Python {a} -> {b}")


def _cuda_changes(a: EnvView, b: EnvView) -> list[Change]:
    changes = []
    if a.cuda and b.cuda and major_minor(a.cuda) != major_minor(b.cuda):
        severity = "error" if a.cuda.split(".")[0] != b.cuda.split(".")[0] else "warning"
        changes.append(Change(severity, "cuda", "cuda", a.cuda, b.cuda, f"CUDA {a.cuda} -> {b.cuda}"))
    elif bool(a.cuda) != bool(b.cuda):
        what = f"CUDA {a.cuda or 'none (CPU build)'} -> {b.cuda or 'none (CPU build)'}"
        changes.append(Change("info", "cuda", "cuda", a.cuda, b.cuda, what))
    if a.driver and b.driver and a.driver != b.driver:
        changes.append(
            Change("info", "driver", "driver", a.driver, b.driver, f"driver {a.driver} -> {b.driver}")
        )
    for driver_side, cuda_side in ((a, b), (b, a)):
        if driver_side.driver and cuda_side.cuda:
            verdict, minimum = driver_verdict(driver_side.driver, cuda_side.cuda)
            if verdict == "too-old":
                msg = (
                    f"driver {driver_side.driver} ({driver_side.label}) is too old for CUDA {cuda_side.cuda} "
                    f"({cuda_side.label}): needs {minimum} or newer"
                )
                changes.append(Change("error", "driver", "driver", a.driver, b.driver, msg))
    return changes


def diff_views(a: EnvView, b: EnvView, imported: Sequence[str] = ()) -> EnvDiff:
    """What changed from `a` to `b`. `imported`: distribution names the notebook imports."""
    needed = set(imported)
    changes: list[Change] = []
    if a.python and b.python and a.python != b.python:
        changes.append(_python_change(a.python, b.python))
    if a.platform and b.platform and a.platform != b.platform:
        changes.append(
            Change("warning", "platform", "platform", a.platform, b.platform, f"{a.platform} -> {b.platform}")
        )
    changes += _cuda_changes(a, b)
    unchanged = 0
    for name in sorted((set(a.packages) | set(b.packages)) - a.excluded - b.excluded):
        va, vb = a.packages.get(name), b.packages.get(name)
        if va == vb:
            unchanged += 1
        elif vb is None:
            imported_here = name in needed
            severity = "error" if imported_here else "warning"
            why = " (the notebook imports it)" if imported_here else ""
            changes.append(
                Change(severity, "removed", name, va, None, f"{name} {va} missing in {b.label}{why}")
            )
        elif va is None:
            changes.append(Change("info", "added", name, None, vb, f"{name} {vb} only in {b.label}"))
        else:
            severity, what = version_change(va, vb)
            changes.append(Change(severity, "changed", name, va, vb, f"{name} {va} -> {vb} ({what})"))
    order = {s: i for i, s in enumerate(SEVERITIES)}
    changes.sort(
        key=lambda c: (order[c.severity], c.kind not in ("python", "cuda", "driver", "platform"), c.name)
    )
    return EnvDiff(a.label, b.label, changes, unchanged)


def env_diff(
    project: Project, a: str = "kernel", b: str = "lock", *, notebook: Path | None = None, env: Any = None
) -> EnvDiff:
    """Compare the environments `a` and `b` name; with a notebook, missing packages it imports are errors."""
    imported: list[str] = []
    if notebook is not None:
        from .notebook import imported_distributions

        imported = imported_distributions(notebook)
    return diff_views(resolve_view(project, a, env=env), resolve_view(project, b, env=env), imported)
