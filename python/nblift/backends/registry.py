"""Lazy backend registry: a name maps to a dotted path, the modules it needs and an install hint.

Built-in backends live in this package (nblift.backends.local, .ssh, .ray); only those that exist are listed.
Nothing is imported until a backend is used: listing backends only asks whether the modules they need
can be found. Third parties add backends through the entry-point group `nblift.backends`
(`name = "package.module:Class"`); a broken plugin is reported, never breaks the others.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from importlib.metadata import entry_points
from typing import Any

from ..errors import BackendUnavailable, NotFound

ENTRY_POINT_GROUP = "nblift.backends"


@dataclasses.dataclass(frozen=True)
class BackendSpec:
    """How to find one backend."""

    name: str
    target: str  # "package.module:Class"
    requires: tuple[str, ...] = ()  # importable module names the backend needs
    install_hint: str = ""
    source: str = "builtin"
    #: The settings table that lists its targets (`ssh_hosts`: `[tool.nblift.ssh_hosts.NAME]`); "" if none.
    table: str = ""


@dataclasses.dataclass(frozen=True)
class BackendInfo:
    """A backend as status shows it."""

    name: str
    available: bool
    missing: list[str]
    install_hint: str | None
    source: str
    #: Its configured targets (None: it needs none), and the settings table they go in.
    targets: list[str] | None = None
    table: str = ""


def backend_summary(info: BackendInfo) -> str:
    """What status says of a backend: its targets, how to add one, or what it is missing."""
    if not info.available:
        return f"missing {', '.join(info.missing)}: {info.install_hint}"
    if info.targets is None:
        return "available"
    if info.targets:
        return f"targets {', '.join(info.targets)}"
    return f"no target: add one as [tool.nblift.{info.table}.NAME]"


_BUILTIN: dict[str, BackendSpec] = {
    spec.name: spec
    for spec in (
        BackendSpec(
            "local",
            "nblift.backends.local:LocalBackend",
            ("papermill", "ipykernel"),
            "reinstall nblift (papermill and ipykernel are its dependencies)",
        ),
        BackendSpec(
            "ssh",
            "nblift.backends.ssh:SSHBackend",
            ("asyncssh",),
            'pip install "nblift[ssh]"',
            table="ssh_hosts",
        ),
        BackendSpec(
            "ray",
            "nblift.backends.ray:RayBackend",
            ("ray", "boto3"),
            'pip install "nblift[ray]"',
            table="ray_clusters",
        ),
        BackendSpec(
            "k8s",
            "nblift.backends.k8s:K8sBackend",
            ("kubernetes", "boto3"),
            'pip install "nblift[k8s]"',
            table="kubernetes",
        ),
    )
}
_registered: dict[str, BackendSpec] = {}


def register_backend(spec: BackendSpec, *, replace: bool = False) -> None:
    """Add a backend at run time (tests and embedding applications)."""
    if not replace and spec.name in _specs():
        raise ValueError(f"backend {spec.name!r} is already registered; pass replace=True to override it")
    _registered[spec.name] = spec


def _plugin_specs() -> dict[str, BackendSpec]:
    specs = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "unknown distribution"
        specs[ep.name] = BackendSpec(
            ep.name,
            ep.value,
            (ep.value.split(":", 1)[0].split(".", 1)[0],),
            f"reinstall {dist}",
            source=f"plugin: {dist}",
        )
    return specs


def _specs() -> dict[str, BackendSpec]:
    return {**_BUILTIN, **_plugin_specs(), **_registered}


def _missing(spec: BackendSpec) -> list[str]:
    module = spec.target.split(":", 1)[0]
    missing = []
    for name in dict.fromkeys((*spec.requires, module)):  # a plugin's module is often its only requirement
        try:
            if importlib.util.find_spec(name) is None:
                missing.append(name)
        except Exception:  # noqa: BLE001 - a broken plugin package is reported, never breaks the listing
            missing.append(name)
    return missing


def available_backends(tables: Any = None) -> list[BackendInfo]:
    """Every known backend, whether it can be used here, and how to install the rest; with the project's
    settings (`tables`), the targets configured for each backend that needs one."""
    infos = []
    for spec in _specs().values():
        missing = _missing(spec)
        targets = sorted(getattr(tables, spec.table, None) or {}) if spec.table and tables else None
        infos.append(
            BackendInfo(
                spec.name,
                not missing,
                missing,
                spec.install_hint if missing else None,
                spec.source,
                targets,
                spec.table,
            )
        )
    return sorted(infos, key=lambda i: (i.source != "builtin", i.name))


def get_backend_class(name: str) -> Any:
    """Import and return the backend class registered as `name`."""
    specs = _specs()
    spec = specs.get(name)
    if spec is None:
        raise NotFound(f"no run backend named {name!r}", hint=f"known backends: {', '.join(sorted(specs))}")
    module_name, _, attr = spec.target.partition(":")
    missing = [m for m in _missing(spec) if m != module_name]  # what it imports only once used
    if missing:
        raise BackendUnavailable(
            f"the {name} backend needs {', '.join(missing)}, which is not installed here",
            hint=spec.install_hint,
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendUnavailable(f"backend {name!r} cannot be loaded: {exc}", hint=spec.install_hint) from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise BackendUnavailable(
            f"backend {name!r}: {module_name} has no {attr}", hint=spec.install_hint
        ) from None
