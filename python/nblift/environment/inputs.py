"""What a lock is made from: the target machine and the requirement lines.

From the kernel's environment: its top-level distributions (those no other installed distribution needs)
pinned at their installed versions, every other one as a constraint, and the local-only ones to build.
Framework builds for one accelerator (`torch 2.4.0+cu124`) become uv's `--torch-backend` for the target.
"""

from __future__ import annotations

import dataclasses
import functools
import platform as pyplatform
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import InvalidInput
from .capture import Distribution, Environment, IndexConfig, canonical

GENERATED_BY = "nblift pin"

#: Target platforms by nblift's name, with uv's `--python-platform` for each. Linux targets assume glibc
#: 2.28+ (Ubuntu 20.04, RHEL 8 and later: what GPU machines run), so manylinux_2_28-only wheels resolve.
PLATFORMS = {
    "linux-x86_64": "x86_64-manylinux_2_28",
    "linux-aarch64": "aarch64-manylinux_2_28",
    "macos-arm64": "aarch64-apple-darwin",
    "macos-x86_64": "x86_64-apple-darwin",
    "windows-x86_64": "x86_64-pc-windows-msvc",
}
_ALIASES = {
    "linux": "linux-x86_64",
    "linux-amd64": "linux-x86_64",
    "linux-arm64": "linux-aarch64",
    "macos": "macos-arm64",
    "darwin": "macos-arm64",
    "darwin-arm64": "macos-arm64",
    "macos-aarch64": "macos-arm64",
    "darwin-x86_64": "macos-x86_64",
    "windows": "windows-x86_64",
    "win32-amd64": "windows-x86_64",
    "windows-amd64": "windows-x86_64",
}
#: Local version labels of framework builds for one accelerator (torch 2.4.0+cu124, +cpu, +rocm6.1).
_ACCEL_LABEL = re.compile(r"\+(cu\d+|cpu|rocm[\d.]+)$")
_NEVER_PINNED = frozenset({"pip"})


@dataclasses.dataclass(frozen=True)
class Target:
    """The machine a lock is for."""

    platform: str
    python: str
    cuda: str | None = None

    @property
    def uv_platform(self) -> str:
        return PLATFORMS.get(self.platform, self.platform)

    @property
    def command(self) -> str:
        return f"{GENERATED_BY} --platform {self.platform} --python {self.python}" + (
            f" --cuda {self.cuda}" if self.cuda else ""
        )

    def command_for(self, source: str) -> str:
        """The command that re-makes a lock from `source` ("kernel" or a requirements file)."""
        return self.command + ("" if source == "kernel" else f" --requirements {source}")


def _running_platform() -> str:
    return f"{sys.platform}-{pyplatform.machine()}".replace("win32-amd64", "windows-x86_64").lower()


def make_target(
    platform: str | None, python: str | None, cuda: str | None, env: Environment | None
) -> Target:
    """Validate the target; defaults are the kernel's platform and Python (this interpreter's without one)."""
    name = (platform or (env.platform if env else _running_platform())).lower()
    name = _ALIASES.get(name, name)
    if name not in PLATFORMS and name not in PLATFORMS.values():
        raise InvalidInput(
            f"unknown target platform {platform!r}",
            hint=f"use one of {', '.join(PLATFORMS)} (or a uv --python-platform value)",
        )
    # the kernel's own patch level: known to work
    version = python or (env.python if env else pyplatform.python_version())
    if not re.fullmatch(r"3\.\d{1,2}(\.\d{1,2})?", version):
        raise InvalidInput(f"Python version {python!r} is not like 3.11", hint="pass --python 3.11")
    if cuda is not None and not re.fullmatch(r"\d{1,2}\.\d", cuda):
        raise InvalidInput(f"CUDA version {cuda!r} is not like 12.4", hint="pass --cuda 12.4")
    return Target(name, version, cuda)


# -- inputs ------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Inputs:
    """What uv resolves: requirement lines, constraint lines, local builds and what was left out (and why)."""

    requirements: list[str]
    constraints: list[str]
    local: list[Distribution]
    skipped: list[dict[str, str]]
    torch_backend: str | None
    source: str  # "kernel" or the requirements file, relative to the project


_PLAIN_REQUIREMENT = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)[^;@]*$")
_ONLY_EXTRA = re.compile(r"\s*extra\s*==\s*[\"'][^\"']*[\"']\s*$")


@functools.lru_cache(maxsize=8192)
def _dependency(line: str) -> str | None:
    """The canonical name a Requires-Dist line needs here with no extra asked for, else None.

    The common forms (`name>=1`, `name; extra == "x"`) are read with a regex; the rest with packaging.
    """
    plain = _PLAIN_REQUIREMENT.match(line)
    if plain:
        return canonical(plain.group(1))
    head, _, marker = line.partition(";")
    if _ONLY_EXTRA.match(marker):
        return None
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # pragma: no cover - packaging ships with every modern tool chain
        match = _PLAIN_REQUIREMENT.match(head)
        return canonical(match.group(1)) if match and "extra" not in marker else None
    try:
        req = Requirement(line)
    except InvalidRequirement:
        return None
    try:
        applies = req.marker is None or bool(req.marker.evaluate({"extra": ""}))
    except Exception:  # noqa: BLE001 - an unparsable marker: count the dependency unless it names an extra
        applies = "extra" not in marker
    return canonical(req.name) if applies else None


def top_level(dists: Sequence[Distribution], ignore: frozenset[str] = frozenset()) -> list[Distribution]:
    """Distributions no other installed distribution depends on (extras-only dependencies don't count).

    What the `ignore`d distributions depend on counts as top-level: they are left out of the lock, their
    dependencies are not.
    """
    required: set[str] = set()
    for dist in dists:
        if dist.key in ignore:
            continue
        for line in dist.requires:
            name = _dependency(line)
            if name:
                required.add(name)
    return [d for d in dists if d.key not in required]


def _pin(dist: Distribution, target: Target) -> tuple[str, str | None]:
    """A requirement line for an index/VCS/URL distribution, and the uv torch backend its build asks for."""
    if dist.source == "vcs":
        line = f"{dist.name} @ {dist.url}@{dist.commit}" if dist.commit else f"{dist.name} @ {dist.url}"
        return line + (f"#subdirectory={dist.subdirectory}" if dist.subdirectory else ""), None
    if dist.source == "url" and dist.url:
        return f"{dist.name} @ {dist.url}", None
    label = _ACCEL_LABEL.search(dist.version)
    if label is None:
        return f"{dist.name}=={dist.version}", None
    public = dist.version[: label.start()]
    if target.cuda or not target.platform.startswith("linux"):  # another accelerator build: let uv choose
        backend = f"cu{target.cuda.replace('.', '')}" if target.cuda else None
        return f"{dist.name}=={public}", backend
    return f"{dist.name}=={dist.version}", label.group(1)


def _left_out(dist: Distribution) -> bool:
    """nblift's own development install: the target installs nblift itself (building it needs node)."""
    return dist.key == "nblift" and dist.local


def inputs_from_environment(env: Environment, target: Target) -> Inputs:
    """Top-level distributions pinned as requirements, the rest as constraints, local ones to build."""
    left_out = frozenset(d.key for d in env.distributions if _left_out(d))
    tops = {d.key for d in top_level(env.distributions, left_out)}
    requirements: list[str] = []
    constraints: list[str] = []
    local: list[Distribution] = []
    skipped: list[dict[str, str]] = []
    backend = f"cu{target.cuda.replace('.', '')}" if target.cuda else None
    for dist in env.distributions:
        if dist.key in _NEVER_PINNED:
            continue
        if _left_out(dist):
            skipped.append(
                {"name": dist.name, "reason": "nblift's own development install: install nblift there"}
            )
            continue
        if dist.local:
            local.append(dist)
            continue
        line, wanted = _pin(dist, target)
        backend = backend or wanted
        (requirements if dist.key in tops else constraints).append(line)
    return Inputs(requirements, constraints, local, skipped, backend, "kernel")


_INDEX_OPTIONS = {
    "-i": "index",
    "--index-url": "index",
    "--extra-index-url": "extra",
    "-f": "links",
    "--find-links": "links",
}


def indexes_in_file(path: Path) -> IndexConfig:
    """Index and find-links URLs named inside a requirements file (as written: they may hold credentials)."""
    found: dict[str, list[str]] = {"index": [], "extra": [], "links": []}
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = raw.split(" #", 1)[0].split()
        if parts and "=" in parts[0] and parts[0].startswith("--"):  # --index-url=URL
            parts = [*parts[0].split("=", 1), *parts[1:]]
        if len(parts) >= 2 and parts[0] in _INDEX_OPTIONS:
            found[_INDEX_OPTIONS[parts[0]]].append(parts[1])
    return IndexConfig(
        found["index"][-1] if found["index"] else None, tuple(found["extra"]), tuple(found["links"])
    )


def merge_indexes(a: IndexConfig, b: IndexConfig) -> IndexConfig:
    return IndexConfig(
        b.index_url or a.index_url,
        tuple(dict.fromkeys((*a.extra_index_urls, *b.extra_index_urls))),
        tuple(dict.fromkeys((*a.find_links, *b.find_links))),
        a.from_pip or b.from_pip or bool(b.extra_index_urls),
    )
