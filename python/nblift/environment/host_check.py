"""Preflight's look at a target host: whether the push can build the run's environment there.

The facts come from the backend in one round trip (`Backend.host_facts`): the configured Python and its
version, uv, free disk space, whether the host reaches the package indexes the lock was resolved from. They
are checked against the lock (its `requires-python`, the Python it was pinned for), and each finding says
what to change, on the host or in the target's settings.
"""

from __future__ import annotations

from ..backends.base import HostFacts
from .lock import LockInfo
from .preflight import Finding

#: Below this much free space on the host an environment build is likely to fail (a CUDA framework alone
#: unpacks to several GB); below the first it certainly will.
DISK_ERROR = 1 << 30
DISK_WARNING = 5 << 30


def _settings_table(backend: str) -> str:
    kind, _, name = backend.partition(":")
    return f"[tool.nblift.{kind}_hosts.{name}]" if kind == "ssh" else "the target's settings"


def _python_findings(facts: HostFacts, lock: LockInfo | None, backend: str) -> list[Finding]:
    table = _settings_table(backend)
    wanted = (lock.python if lock else None) or "3"
    if facts.python is None:
        return [
            Finding(
                "error",
                "host",
                f"{backend}: no `{facts.python_command}` on the host (as a non-interactive login sees it)",
                hint=f'install Python {wanted} there, or set python = "/path/to/python3" in {table}',
            )
        ]
    if lock is None or not lock.requires_python:
        return []
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        accepted = SpecifierSet(lock.requires_python).contains(facts.python, prereleases=True)
    except InvalidSpecifier:
        return []
    if accepted:
        return []
    major_minor = ".".join(facts.python.split(".")[:2])
    return [
        Finding(
            "error",
            "host",
            f"{backend}: the lock needs Python {lock.requires_python}; `{facts.python_command}` on the host "
            f"is {facts.python}",
            hint=f"pin for the host (`nblift pin --python {facts.python}`: it lists packages that move "
            f"across a major version), or set python in {table} to a Python {major_minor or wanted} "
            f"interpreter that satisfies {lock.requires_python}",
        )
    ]


def _uv_findings(facts: HostFacts, backend: str) -> list[Finding]:
    if facts.uv is not None:
        return []
    table = _settings_table(backend)
    if facts.uv_elsewhere:
        return [
            Finding(
                "error",
                "host",
                f"{backend}: `{facts.uv_command}` is not on the PATH of a non-interactive SSH login, but "
                f"{facts.uv_elsewhere} is there",
                hint=f'set uv = "{facts.uv_elsewhere}" in {table}',
            )
        ]
    return [
        Finding(
            "error",
            "host",
            f"{backend}: no uv on the host (`{facts.uv_command}`); nblift builds run environments with it",
            hint=f"install uv on the host (`{facts.python_command} -m pip install --user uv`, or its "
            f'standalone installer), then set uv = "/path/to/uv" in {table} if it is not on the PATH',
        )
    ]


def _disk_findings(facts: HostFacts, backend: str) -> list[Finding]:
    free = facts.disk_free
    if free is None or free >= DISK_WARNING:
        return []
    severity = "error" if free < DISK_ERROR else "warning"
    return [
        Finding(
            severity,
            "host",
            f"{backend}: {free / 2**30:.1f} GiB free where runs and environments go on the host",
            hint="free space there (old environments live under the target's root, in envs/), or set root "
            "to a larger disk",
        )
    ]


def _index_findings(facts: HostFacts, backend: str) -> list[Finding]:
    table = _settings_table(backend)
    return [
        Finding(
            "error",
            "host",
            f"{backend}: the host cannot reach the package index {url} the lock was resolved from ({why})",
            hint="let the host reach it (proxy, firewall, VPN), or set offline = true in "
            f"{table} when the host's uv cache already holds the packages",
        )
        for url, why in facts.indexes.items()
        if why != "ok"
    ]


def host_findings(facts: HostFacts, lock: LockInfo | None, backend: str) -> list[Finding]:
    """What the host lacks for a push of a project with `lock` (None: the project has no lock yet)."""
    return [
        *_python_findings(facts, lock, backend),
        *_uv_findings(facts, backend),
        *_disk_findings(facts, backend),
        *_index_findings(facts, backend),
    ]
