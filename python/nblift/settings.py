"""Settings: `[tool.nblift]` in pyproject.toml, then `.nblift/config.toml`, then environment variables.

Later sources override earlier ones. Every key is typed; a wrong type or an unknown key is a
ConfigError naming the file and the key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ConfigError

ENV_PREFIX = "NBLIFT_"


@dataclasses.dataclass(frozen=True)
class Settings:
    """nblift's settings for one project."""

    #: MLflow tracking URI; empty means the embedded SQLite store under the state folder.
    tracking_uri: str = ""
    #: Folder for nblift's state, relative to the project folder.
    state_dir: str = ".nblift"
    #: Backend used by runs when none is named.
    default_backend: str = "local"
    #: Unreferenced objects and temp files younger than this survive `gc` (a writer may still need them).
    gc_grace_seconds: int = 3600
    #: MLflow experiment for this project's snapshots and runs; empty means the project folder's name.
    experiment: str = ""
    #: Record each snapshot as an MLflow run too (in the background, so the kernel never waits).
    snapshot_mlflow: bool = True
    #: Write snapshots from a forked copy of the kernel so the notebook goes on at once (Linux).
    snapshot_background: bool = True
    #: After every snapshot, encode every variable again and compare with what was stored; differences
    #: are listed in the snapshot's warnings as `verify: NAME: reason` (a check, it doubles the work).
    snapshot_verify: bool = False
    #: With `%lift autosnapshot on`: how long the kernel must be idle after a cell before the automatic
    #: snapshot is taken (a cell that starts sooner postpones it to its own end).
    autosnapshot_delay_ms: int = 1000
    #: With `%lift autosnapshot on`: an automatic snapshot right after a cell once the last one is older than
    #: this many seconds, however busy the kernel is.
    autosnapshot_max_interval: int = 60
    #: Automatic snapshots kept by `nblift snapshots gc` (manual snapshots are never removed by gc).
    keep_auto_snapshots: int = 20
    #: A run whose runner has not proved it is alive for this many seconds is LOST.
    run_heartbeat_timeout: int = 30
    #: Seconds a cancelled run gets to stop cleanly before its process group is killed.
    run_cancel_grace: int = 10
    #: USD per hour of a run on the local backend (the machine JupyterLab runs on; 0: free). Remote targets
    #: set theirs in their own table (`hourly_cost`, or `instance_type` looked up in the price table).
    local_hourly_cost: float = 0.0
    #: Switch on MLflow's autologging for the notebook's run (frameworks log params and metrics into it).
    autolog: bool = True
    #: Promotion policy: alias -> its gates (`[tool.nblift.promotion.champion]`); see nblift.registry.policy.
    promotion: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: SSH run targets: name -> host, port, user, identity_file, ... (`[tool.nblift.ssh_hosts.gpu1]`).
    ssh_hosts: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: Ray run targets: name -> address, storage, ... (`[tool.nblift.ray_clusters.big]`).
    ray_clusters: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: Kubernetes run targets: name -> context, namespace, image, gpus, ... (`[tool.nblift.kubernetes.a100]`).
    kubernetes: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: Where each setting came from: key -> "default", a file path or an environment variable.
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict, compare=False)


_FIELDS = {f.name: f for f in dataclasses.fields(Settings) if f.name != "sources"}
#: Settings that are tables, merged key by key across sources (not settable from the environment).
_TABLES = {"promotion", "ssh_hosts", "ray_clusters", "kubernetes"}


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(key: str, value: Any, origin: str) -> Any:
    if key in _TABLES:
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise ConfigError(
                f"{origin}: setting {key!r} must be a table of tables",
                hint=f"write it like: [{key}.champion] then its keys",
            )
        return value
    expected = type(_FIELDS[key].default)
    if expected is bool and isinstance(value, str):
        if value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ConfigError(f"{origin}: setting {key!r} must be true or false, got {value!r}")
    if expected is float and not isinstance(value, bool) and isinstance(value, int | str):
        try:
            return float(value)
        except ValueError:
            raise ConfigError(
                f"{origin}: setting {key!r} must be a number, got {value!r}",
                hint=f"set {key} to a number such as {_FIELDS[key].default}",
            ) from None
    if expected is int and isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise ConfigError(
                f"{origin}: setting {key!r} must be a whole number, got {value!r}",
                hint=f"set {key} to a number such as {_FIELDS[key].default}",
            ) from None
    if not isinstance(value, expected) or isinstance(value, bool) is not (expected is bool):
        raise ConfigError(
            f"{origin}: setting {key!r} must be a {expected.__name__}, got {type(value).__name__}",
            hint=f"write it like: {key} = {_FIELDS[key].default!r}",
        )
    return value


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})", hint="fix the file's syntax") from None


def _apply(values: dict[str, Any], table: Mapping[str, Any], origin: str, sources: dict[str, str]) -> None:
    for key, value in table.items():
        if key not in _FIELDS:
            known = ", ".join(sorted(_FIELDS))
            raise ConfigError(f"{origin}: unknown setting {key!r}", hint=f"known settings: {known}")
        value = _coerce(key, value, origin)
        values[key] = {**values.get(key, {}), **value} if key in _TABLES else value
        sources[key] = origin


def load_settings(project_root: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings that apply to the project at `project_root`."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources: dict[str, str] = dict.fromkeys(_FIELDS, "default")

    pyproject = project_root / "pyproject.toml"
    if pyproject.is_file():
        table = _read_toml(pyproject).get("tool", {}).get("nblift", {})
        _apply(values, table, f"{pyproject} [tool.nblift]", sources)

    state_dir = values.get("state_dir", Settings.state_dir)
    config = project_root / state_dir / "config.toml"
    if config.is_file():
        _apply(values, _read_toml(config), str(config), sources)

    for key in _FIELDS.keys() - _TABLES:
        env_key = ENV_PREFIX + key.upper()
        if env_key in environ:
            values[key] = _coerce(key, environ[env_key], env_key)
            sources[key] = env_key
    if sources["tracking_uri"] != ENV_PREFIX + "TRACKING_URI":
        mlflow_uri = environ.get("MLFLOW_TRACKING_URI")
        if mlflow_uri:
            values["tracking_uri"] = mlflow_uri
            sources["tracking_uri"] = "MLFLOW_TRACKING_URI"
    return Settings(**values, sources=sources)
