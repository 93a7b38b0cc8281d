"""Preflight's API check: what the notebook calls that the target's library versions no longer have.

The uses come from `api_uses` (read from the cells with `ast`; nothing runs). Only libraries whose version
differs between the kernel and the lock are checked. `nblift.target.api_probe` answers each use twice: in the
kernel's interpreter and in the target's environment (a local interpreter built from the lock, or the
environment a backend keeps on its host for this lock: `Backend.environment_probe`); a use is reported when
the kernel has it and the target does not. The hint is the library's own word: the target's error ("Use
`np.inf` instead.") or, on the kernel's side, the deprecation warning or the `.. deprecated::` note of the
docstring ("Use `pandas.concat` instead.").
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .api_uses import ApiUse, notebook_api_uses, short
from .capture import canonical
from .preflight import Finding

#: The probe, run by its path in an environment that need not have nblift installed.
PROBE_FILE = Path(__file__).resolve().parents[1] / "target" / "api_probe.py"
PROBE_TIMEOUT_S = 180
_ADVICE = re.compile(r"\b(use|instead|did you mean|import from)\b", re.I)


# -- probing -----------------------------------------------------------------------------------------------


#: The probe's environment, for a process that runs it: no other environment's packages on its path, a
#: pyplot backend that needs no display.
PROBE_ENVIRON = {"MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8"}
#: Asks an environment the probe's checks; returns the probe's answer or raises ProbeFailed.
Probe = Callable[[Sequence[Mapping[str, Any]]], dict[str, Any]]


class ProbeFailed(Exception):
    """The probe could not run in an environment, or did not answer in JSON; `hint` says what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


def probe_answer(where: str, stdout: str, stderr: str, status: int | None) -> dict[str, Any]:
    """The probe's JSON answer from what its process printed (ProbeFailed, naming `where`, if none)."""
    try:
        answer = json.loads(stdout.strip().splitlines()[-1]) if stdout.strip() else None
    except ValueError:
        answer = None
    if status != 0 or not isinstance(answer, dict) or "results" not in answer:
        detail = (answer or {}).get("error") if isinstance(answer, dict) else None
        last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit status {status}"
        raise ProbeFailed(f"{where}: {detail or short(last, 200)}")
    return answer


def run_probe(
    python: str, checks: Sequence[Mapping[str, Any]], timeout: float = PROBE_TIMEOUT_S
) -> dict[str, Any]:
    """The probe's answer in a local interpreter `python`: one subprocess for all checks."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update(PROBE_ENVIRON)
    try:
        out = subprocess.run(
            [python, str(PROBE_FILE)],
            input=json.dumps(list(checks)),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProbeFailed(f"{python}: {exc}") from None
    return probe_answer(python, out.stdout, out.stderr, out.returncode)


def python_probe(python: str, timeout: float = PROBE_TIMEOUT_S) -> Probe:
    """The probe run by a local interpreter (`--target-python`)."""
    return lambda checks: run_probe(python, checks, timeout)


def local_versions(libraries: Iterable[str]) -> dict[str, tuple[str, str]]:
    """top-level module -> (canonical distribution, version) in the interpreter running preflight."""
    import importlib.metadata as metadata

    provided = metadata.packages_distributions()
    found: dict[str, tuple[str, str]] = {}
    for library in libraries:
        for dist in provided.get(library, [library]):
            try:
                found[library] = (canonical(dist), metadata.version(dist))
                break
            except metadata.PackageNotFoundError:
                continue
    return found


def _advice(*texts: str | None) -> str | None:
    """The last sentence of the first text that says what to use instead."""
    for text in texts:
        sentences = [s for s in re.split(r"(?<=[.?!])[\"')\]]*\s+", text or "") if _ADVICE.search(s)]
        if sentences:
            return sentences[-1].strip()
    return None


def _hint(kernel: Mapping[str, Any], target: Mapping[str, Any], old: str) -> str:
    said = _advice(target.get("message"), kernel.get("note"))
    if said:
        return said
    close = target.get("close") or []
    if close:
        return f"use {' or '.join(repr(c) for c in close[:2])} ({target.get('dist')} {target.get('version')})"
    return f"rewrite it for {target.get('dist')} {target.get('version')}, or lock {target.get('dist')}=={old}"


def _message(use: ApiUse, target: Mapping[str, Any], old: str, others: Sequence[int]) -> str:
    check = use.check
    where = f"{target.get('dist')} {target.get('version')} (the kernel has {old})"
    if check["probe"] == "method":
        what = f"{check['type']} has no `{check['name']}` in {where}"
    elif check["probe"] == "attr":
        owner, name = target.get("owner", check["module"]), target.get("name", check["attrs"][-1])
        what = f"{owner} has no `{name}` in {where}"
    else:
        what = f"{check['value']!r} is not {use.label} in {where}"
    also = (
        f" (also cell{'s' if len(others) > 1 else ''} {', '.join(str(c + 1) for c in others)})"
        if others
        else ""
    )
    return f"cell {use.cell + 1}: `{use.text}`: {what}{also}"


def _finding(
    use: ApiUse, kernel: Mapping[str, Any], target: Mapping[str, Any], others: Sequence[int]
) -> Finding | None:
    """A finding when the kernel has what the notebook uses and the target, at another version, lacks it."""
    old = kernel.get("version")
    if kernel.get("status") != "ok" or target.get("status") != "missing" or not old:
        return None
    if old == target.get("version"):
        return None
    severity = "error" if use.check["probe"] in ("attr", "method") else "warning"
    return Finding(severity, "api", _message(use, target, old, others), use.cell, _hint(kernel, target, old))


def _unique(uses: Sequence[ApiUse]) -> tuple[list[ApiUse], dict[str, list[int]]]:
    """The first use of each distinct check, and the other cells each one appears in."""
    first: dict[str, ApiUse] = {}
    cells: dict[str, list[int]] = {}
    for use in uses:
        first.setdefault(use.key, use)
        if use.cell != first[use.key].cell and use.cell not in cells.setdefault(use.key, []):
            cells[use.key].append(use.cell)
    return list(first.values()), cells


def api_findings(
    cells: Sequence[Mapping[str, Any]],
    *,
    target_python: str | None = None,
    target_probe: Probe | None = None,
    lock_versions: Mapping[str, str] | None,
    kernel_python: str | None = None,
    kernel_versions: Mapping[str, str] | None = None,
    known_types: Mapping[str, str] | None = None,
    timeout: float = PROBE_TIMEOUT_S,
) -> list[Finding]:
    """Findings for the APIs the notebook uses that the target environment lacks: a local interpreter
    (`target_python`) or an environment a backend asks (`target_probe`).

    `lock_versions` (canonical name -> version: the lock's packages) limits the check to libraries whose
    version there differs from the kernel's; the kernel is `kernel_python` (default: this interpreter), its
    versions `kernel_versions` (default: read here when the kernel is this interpreter, else its probe's).
    """
    uses, others = _unique(notebook_api_uses(cells, known_types))
    dists = local_versions({u.library for u in uses})
    if kernel_versions is None and kernel_python is None:
        kernel_versions = dict(dists.values())
    if lock_versions is not None:  # a library the lock lacks is the imports check's finding
        uses = [u for u in uses if _dist_of(u.library, dists) in lock_versions]
    if kernel_versions is not None and lock_versions is not None:
        uses = [u for u in uses if _differs(_dist_of(u.library, dists), kernel_versions, lock_versions)]
    if not uses:
        return []
    checks = [{**u.check, "id": i} for i, u in enumerate(uses)]
    if target_probe is None:
        if target_python is None:
            raise ValueError("api_findings needs target_python or target_probe")
        target_probe = python_probe(target_python, timeout)
    kernel = python_probe(kernel_python or sys.executable, timeout)
    try:
        with ThreadPoolExecutor(2) as pool:
            asked = pool.map(lambda probe: probe(checks), (kernel, target_probe))
            kernel_answer, target_answer = list(asked)
    except ProbeFailed as exc:
        hint = exc.hint or "pass the python of an environment built from the lock (`--target-python`)"
        return [Finding("info", "api", f"the API check could not run its probe in {exc}", hint=hint)]
    findings = []
    for use, before, after in zip(uses, kernel_answer["results"], target_answer["results"], strict=True):
        if lock_versions is not None and not _differs(
            canonical(str(after.get("dist"))),
            {canonical(str(after.get("dist"))): before.get("version")},
            lock_versions,
        ):
            continue
        found = _finding(use, before, after, others.get(use.key, []))
        if found is not None:
            findings.append(found)
    return findings


def _dist_of(library: str, dists: Mapping[str, tuple[str, str]]) -> str:
    return dists[library][0] if library in dists else canonical(library)


def _differs(dist: str, kernel_versions: Mapping[str, Any], lock_versions: Mapping[str, str]) -> bool:
    """Whether the kernel and the lock both have `dist`, at different versions (a package the lock lacks is
    the imports check's finding)."""
    kernel, locked = kernel_versions.get(dist), lock_versions.get(dist)
    return bool(kernel and locked and kernel != locked)
