"""`%lift env`: what the running interpreter has installed, where each distribution came from, and the
machine it runs on (OS, CPU, RAM, GPU, driver, CUDA as the frameworks see it).

Fast by construction: the dist-info folders on `sys.path` are read directly (the header lines of METADATA,
`direct_url.json` (PEP 610) and INSTALLER), not through importlib.metadata's full e-mail parse; nvidia-smi
runs beside the scan and is asked once per process. Torch is never imported here: its CUDA build is read from
the module when the kernel already imported it, else from the installed distributions' versions.
Credentials are removed from every URL before anything leaves this module.
"""

from __future__ import annotations

import configparser
import contextlib
import dataclasses
import json
import os
import platform
import re
import site
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ..tracking import redact_uri
from .machine import Gpu, distro, finish_nvidia_smi, frameworks, libc, memory_bytes, start_nvidia_smi

#: Where a distribution came from.
SOURCES = ("index", "vcs", "editable", "local", "wheel", "url", "conda")
#: Sources that exist only on this machine: `pin` builds them into the bundle.
LOCAL_SOURCES = frozenset({"editable", "local", "wheel"})
_NAME_SEP = re.compile(r"[-_.]+")
_HEADER_CHUNK = 8192
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>]+")


def canonical(name: str) -> str:
    """PEP 503 normalized name: `Foo_Bar.baz` -> `foo-bar-baz`."""
    return _NAME_SEP.sub("-", name).lower()


def safe_url(url: str) -> str:
    """`url` without credentials. An ssh user name without a password (`git+ssh://git@host/r`) is kept:
    it is a login name, not a secret, and the URL does not work without it."""
    parts = urlsplit(url)
    if parts.scheme.endswith("ssh") and parts.password is None:
        return url
    return redact_uri(url)


def scrub_urls(text: str) -> str:
    """`text` with the credentials removed from every URL in it (`https://u:tok@host` -> `https://host`)."""
    return _URL.sub(lambda m: safe_url(m.group(0)), text)


@dataclasses.dataclass(frozen=True)
class Distribution:
    """One installed distribution and its source (one of SOURCES)."""

    name: str
    version: str
    source: str
    url: str | None = None  # VCS or archive URL, credentials removed
    commit: str | None = None  # VCS commit
    subdirectory: str | None = None  # VCS/dir subdirectory holding the project
    path: str | None = None  # editable/local folder or local wheel/archive file
    installer: str | None = None
    requires: tuple[str, ...] = ()  # Requires-Dist lines, as written
    location: str = ""  # the .dist-info/.egg-info folder

    @property
    def key(self) -> str:
        return canonical(self.name)

    @property
    def local(self) -> bool:
        """Exists only on this machine (or on a file:// VCS repository)."""
        return self.source in LOCAL_SOURCES or (self.source == "vcs" and "+file:" in (self.url or ""))

    def to_json(self, *, full: bool = False) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if not full:
            data.pop("requires")
            data.pop("location")
        return {k: v for k, v in data.items() if v is not None}


@dataclasses.dataclass(frozen=True)
class Environment:
    """A captured environment. `packages` is what snapshots record and `diff` compares."""

    python: str
    implementation: str
    executable: str
    prefix: str
    virtualenv: bool
    conda: bool
    platform: str  # sys.platform-machine, as snapshots record it: linux-x86_64
    os: str
    os_release: str
    distro: str | None
    libc: str | None
    cpu_count: int | None
    memory_bytes: int | None
    gpus: tuple[Gpu, ...]
    driver: str | None
    cuda: str | None
    cudnn: str | None
    frameworks: Mapping[str, Mapping[str, str | None]]
    distributions: tuple[Distribution, ...]
    conda_packages: tuple[Mapping[str, str], ...]
    indexes: tuple[str, ...]  # configured package indexes, credentials removed
    seconds: float = 0.0

    @property
    def packages(self) -> dict[str, str]:
        """{canonical name: version}, sorted by name."""
        return {d.key: d.version for d in sorted(self.distributions, key=lambda d: d.key)}

    def by_key(self) -> dict[str, Distribution]:
        return {d.key: d for d in self.distributions}

    def to_json(self, *, full: bool = False) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["gpus"] = [dataclasses.asdict(g) for g in self.gpus]
        data["frameworks"] = {k: dict(v) for k, v in self.frameworks.items()}
        data["distributions"] = [d.to_json(full=full) for d in self.distributions]
        data["conda_packages"] = [dict(p) for p in self.conda_packages]
        data["indexes"] = list(self.indexes)
        data["packages"] = self.packages
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Environment:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        dist_fields = {f.name for f in dataclasses.fields(Distribution)}
        values["gpus"] = tuple(Gpu(**g) for g in data.get("gpus", ()))
        dists = []
        for raw in data.get("distributions", ()):
            fields: dict[str, Any] = {k: v for k, v in raw.items() if k in dist_fields}
            fields["requires"] = tuple(fields.get("requires", ()))
            dists.append(Distribution(**fields))
        values["distributions"] = tuple(dists)
        values["conda_packages"] = tuple(data.get("conda_packages", ()))
        values["indexes"] = tuple(data.get("indexes", ()))
        return cls(**values)


# -- distributions -----------------------------------------------------------------------------------------


def _read_text(path: Path) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:  # noqa: PTH123 - hot path
            return fh.read()
    except OSError:
        return None


def _read_header(path: Path) -> tuple[str | None, str | None, list[str]]:
    """Name, Version and Requires-Dist from the header of a METADATA/PKG-INFO file (the body is not read)."""
    try:
        with open(path, "rb") as fh:  # noqa: PTH123 - hot path
            data = fh.read(_HEADER_CHUNK)
            while b"\n\n" not in data and b"\r\n\r\n" not in data:
                more = fh.read(_HEADER_CHUNK * 8)
                if not more:
                    break
                data += more
    except OSError:
        return None, None, []
    head = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("utf-8", "replace")
    name = version = None
    requires: list[str] = []
    for line in head.split("\n"):
        if line.startswith("Requires-Dist:"):
            requires.append(line[14:].strip())
        elif line.startswith("Name:") and name is None:
            name = line[5:].strip()
        elif line.startswith("Version:") and version is None:
            version = line[8:].strip()
    return name, version, requires


def _file_path(url: str) -> str:
    return unquote(urlsplit(url).path)


def _direct_source(direct: Mapping[str, Any]) -> dict[str, Any]:
    """Source fields from a PEP 610 direct_url.json."""
    url = str(direct.get("url", ""))
    sub = direct.get("subdirectory")
    if isinstance(direct.get("vcs_info"), dict):
        vcs = direct["vcs_info"]
        return {
            "source": "vcs",
            "url": f"{vcs.get('vcs', 'git')}+{safe_url(url)}",
            "commit": vcs.get("commit_id"),
            "subdirectory": sub,
        }
    if isinstance(direct.get("dir_info"), dict):
        editable = bool(direct["dir_info"].get("editable"))
        return {"source": "editable" if editable else "local", "path": _file_path(url), "subdirectory": sub}
    if url.startswith("file:"):
        path = _file_path(url)
        return {"source": "wheel" if path.endswith(".whl") else "local", "path": path}
    return {"source": "url", "url": safe_url(url)}


def _site_dirs() -> set[str]:
    dirs = set()
    with contextlib.suppress(AttributeError):  # old virtualenv's site.py has no getsitepackages
        dirs.update(site.getsitepackages())
    user = site.getusersitepackages() if hasattr(site, "getusersitepackages") else None
    if isinstance(user, str):
        dirs.add(user)
    return {os.path.normpath(d) for d in dirs}  # strings, compared with sys.path entries


def _read_dist(info: Path, folder_in_site: bool, conda_names: frozenset[str]) -> Distribution | None:
    metadata = info if info.is_file() else info / ("PKG-INFO" if info.suffix == ".egg-info" else "METADATA")
    name, version, requires = _read_header(metadata)
    if not name or version is None:
        return None
    fields: dict[str, Any] = {"source": "index"}
    installer = None
    if info.suffix == ".dist-info":
        installer = (_read_text(info / "INSTALLER") or "").strip() or None
        raw = _read_text(info / "direct_url.json")
        if raw:
            with contextlib.suppress(ValueError, AttributeError):
                fields = _direct_source(json.loads(raw))
    if fields["source"] == "index":
        if installer == "conda" or (installer is None and canonical(name) in conda_names):
            fields = {"source": "conda"}
        elif info.suffix == ".egg-info" and not folder_in_site:  # `setup.py develop`: its source folder
            fields = {"source": "editable", "path": str(info.parent)}
    return Distribution(
        name=name,
        version=version,
        installer=installer,
        requires=tuple(requires),
        location=str(info),
        **fields,
    )


def scan_distributions(paths: Iterable[str] | None = None) -> list[Distribution]:
    """Every distribution found on `paths` (default sys.path); the first of a name wins, as for imports."""
    site_dirs = _site_dirs()
    conda_names = frozenset(p["name"] for p in conda_packages())
    seen: set[str] = set()
    found: list[Distribution] = []
    for entry in sys.path if paths is None else paths:
        folder = entry or os.getcwd()  # noqa: PTH109
        try:
            with os.scandir(folder) as it:
                names = sorted(e.name for e in it if e.name.endswith((".dist-info", ".egg-info")))
        except OSError:
            continue
        in_site = os.path.normpath(folder) in site_dirs
        for entry_name in names:
            guess = canonical(entry_name.rsplit(".", 1)[0].split("-", 1)[0])
            if guess in seen:
                continue
            dist = _read_dist(Path(folder, entry_name), in_site, conda_names)
            if dist is None or dist.key in seen:
                continue
            seen.add(dist.key)
            found.append(dist)
    return sorted(found, key=lambda d: d.key)


def conda_packages(prefix: str | None = None) -> list[dict[str, str]]:
    """Packages of a conda environment from `conda-meta/*.json` file names (name-version-build.json)."""
    folder = Path(prefix or sys.prefix, "conda-meta")
    try:
        names = sorted(p.name for p in folder.iterdir() if p.suffix == ".json")
    except OSError:
        return []
    out = []
    for file_name in names:
        parts = file_name[: -len(".json")].rsplit("-", 2)
        if len(parts) == 3:
            out.append({"name": canonical(parts[0]), "version": parts[1], "build": parts[2]})
    return out


# -- indexes -----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class IndexConfig:
    """Package indexes configured for pip/uv, as given (they may hold credentials: never display these)."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    #: Some came from pip's configuration: pip picks the best version across all indexes, so should uv.
    from_pip: bool = False

    def redacted(self) -> tuple[str, ...]:
        urls = ([self.index_url] if self.index_url else []) + [*self.extra_index_urls, *self.find_links]
        return tuple(safe_url(u) for u in urls)


_PIP_VARS = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS")


def _pip_config_files(environ: Mapping[str, str]) -> list[Path]:
    if environ.get("PIP_CONFIG_FILE"):
        return [Path(environ["PIP_CONFIG_FILE"])]
    home = Path(environ.get("HOME", "~")).expanduser()
    xdg = Path(environ.get("XDG_CONFIG_HOME") or home / ".config")
    return [
        Path("/etc/xdg/pip/pip.conf"),
        Path("/etc/pip.conf"),
        home / ".pip" / "pip.conf",
        xdg / "pip" / "pip.conf",
        Path(sys.prefix) / "pip.conf",
    ]


def index_config(environ: Mapping[str, str] | None = None) -> IndexConfig:
    """Indexes from pip's config files, then PIP_*/UV_* variables (later ones win, as pip and uv do)."""
    environ = os.environ if environ is None else environ
    index: str | None = None
    extra: list[str] = []
    links: list[str] = []
    for path in _pip_config_files(environ):
        if not path.is_file():
            continue
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path)
        except configparser.Error:
            continue
        for section in ("global", "install"):
            index = parser.get(section, "index-url", fallback=index)
            extra += parser.get(section, "extra-index-url", fallback="").split()
            links += parser.get(section, "find-links", fallback="").split()
    from_pip = bool(index or extra or links) or any(environ.get(v) for v in _PIP_VARS)
    for var in ("PIP_INDEX_URL", "UV_INDEX_URL", "UV_DEFAULT_INDEX"):
        index = environ.get(var) or index
    for var in ("PIP_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_INDEX"):
        extra += environ.get(var, "").split()
    for var in ("PIP_FIND_LINKS", "UV_FIND_LINKS"):
        links += environ.get(var, "").split()
    return IndexConfig(index, tuple(dict.fromkeys(extra)), tuple(dict.fromkeys(links)), from_pip)


def platform_tag() -> str:
    """`linux-x86_64`, `darwin-arm64`: what snapshots record as the platform."""
    return f"{sys.platform}-{platform.machine()}"


def capture(
    *, paths: Sequence[str] | None = None, gpu: bool = True, environ: Mapping[str, str] | None = None
) -> Environment:
    """The running interpreter's environment (see the module docstring). `gpu=False` skips nvidia-smi."""
    start = time.perf_counter()
    proc = start_nvidia_smi() if gpu else None
    dists = scan_distributions(paths)
    by_key = {d.key: d for d in dists}
    found, cuda, cudnn = frameworks(by_key)
    gpus, driver = finish_nvidia_smi(proc) if gpu else ((), None)
    prefix = sys.prefix
    return Environment(
        python=platform.python_version(),
        implementation=platform.python_implementation(),
        executable=sys.executable,
        prefix=prefix,
        virtualenv=sys.prefix != getattr(sys, "base_prefix", sys.prefix),
        conda=Path(prefix, "conda-meta").is_dir(),
        platform=platform_tag(),
        os=platform.system(),
        os_release=platform.release(),
        distro=distro(),
        libc=libc(),
        cpu_count=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        memory_bytes=memory_bytes(),
        gpus=gpus,
        driver=driver,
        cuda=cuda,
        cudnn=cudnn,
        frameworks=found,
        distributions=tuple(dists),
        conda_packages=tuple(conda_packages(prefix)),
        indexes=index_config(environ).redacted(),
        seconds=time.perf_counter() - start,
    )


_CHILD = """
import json, sys
injected = sys.argv[1]
from nblift.environment.capture import capture
paths = [p for p in sys.path if p != injected]
json.dump(capture(paths=paths, gpu=sys.argv[2] == "1").to_json(full=True), sys.stdout)
"""


def capture_in(python: str, *, gpu: bool = True, timeout: float = 120) -> Environment:
    """The environment of another interpreter (a kernel's, a venv's), captured by running this module there.

    nblift need not be installed there: its source folder is put on PYTHONPATH and left out of the scan.
    """
    from ..errors import InvalidInput, NbliftError

    if not Path(python).is_file():
        raise InvalidInput(f"no Python interpreter at {python}", hint="pass the path of the kernel's python")
    source = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([source, *filter(None, [env.get("PYTHONPATH")])])
    try:
        out = subprocess.run(
            [python, "-c", _CHILD, source, "1" if gpu else "0"],
            capture_output=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NbliftError(f"could not run {python}: {exc}", hint="check the interpreter path") from None
    if out.returncode != 0:
        tail = out.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise NbliftError(
            f"capturing the environment of {python} failed: {' / '.join(tail)}",
            hint="nblift needs Python 3.11 or newer in that environment",
        )
    return Environment.from_json(json.loads(out.stdout))
