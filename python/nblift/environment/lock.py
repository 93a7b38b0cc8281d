"""`%lift pin`: a lock for the machine the notebook will run on, made with uv.

Writes `pylock.toml` (PEP 751) and a hashed `requirements.txt` (for plain pip) into the project folder,
resolved for the target platform, Python and CUDA with `uv pip compile --python-platform/--python-version
--generate-hashes`. The inputs are the kernel's top-level distributions (those no other installed
distribution needs) pinned at their installed versions, with every other installed distribution as a
constraint; or a requirements file the user names. Local-only packages are built into
`.nblift/bundle/wheels/` and locked by path.

Index URLs reach uv through its environment only, never a command line or a file, and every URL in what uv
writes loses its credentials before it is written (uv's `--emit-index-url` would copy them: pip-tools #1137).
A hash of the inputs is kept in `.nblift/lock/state.json`: re-pinning unchanged inputs resolves nothing and
leaves the files byte for byte as they were. Otherwise uv runs `--offline` first, online only if that fails.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import subprocess
import time
import tomllib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, NbliftError, NotFound
from ..fsutil import atomic_write, ensure_dir
from ..project import Project
from . import write_public
from .capture import Environment, IndexConfig, canonical, capture, index_config, safe_url, scrub_urls
from .inputs import (
    GENERATED_BY,
    Inputs,
    Target,
    indexes_in_file,
    inputs_from_environment,
    make_target,
    merge_indexes,
)
from .wheels import LocalPackage, build_local, find_uv, fingerprint

LOCK_FILE = "pylock.toml"
REQUIREMENTS_FILE = "requirements.txt"
#: nblift's hashed requirements when the project's `requirements.txt` is the user's own (left alone).
OWN_REQUIREMENTS_FILE = "pylock.requirements.txt"
COMPILE_TIMEOUT_S = 600
STATE_FORMAT = 1

# -- uv ----------------------------------------------------------------------------------------------------


def _secrets_of(urls: Sequence[str]) -> list[str]:
    """Passwords (and token-like user names) inside `urls`, to check that none reaches a written file.

    Short values are not checked: a user name such as `user` occurs in ordinary text, and the URLs
    themselves are scrubbed before this check.
    """
    from urllib.parse import unquote, urlsplit

    found: list[str] = []
    for url in urls:
        parts = urlsplit(url)
        token_user = parts.password is None and not parts.scheme.endswith("ssh")
        for value in (parts.password, parts.username if token_user else None):
            if value and len(value) >= 8:
                found.extend({value, unquote(value)})
    return found


#: uv's `--index-strategy` values.
INDEX_STRATEGIES = ("first-index", "unsafe-first-match", "unsafe-best-match")


def uv_environment(indexes: IndexConfig, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment uv runs with: the configured indexes are passed here, never on its command line."""
    env = {k: v for k, v in environ.items() if not k.startswith(("UV_INDEX", "UV_EXTRA_INDEX", "UV_FIND"))}
    env.pop("UV_DEFAULT_INDEX", None)
    if indexes.index_url:
        env["UV_INDEX_URL"] = indexes.index_url
    if indexes.extra_index_urls:
        env["UV_EXTRA_INDEX_URL"] = " ".join(indexes.extra_index_urls)
    if indexes.find_links:
        env["UV_FIND_LINKS"] = " ".join(indexes.find_links)
    if indexes.from_pip and indexes.extra_index_urls and "UV_INDEX_STRATEGY" not in environ:
        env["UV_INDEX_STRATEGY"] = "unsafe-best-match"  # what pip does with extra indexes
    env["UV_NO_PROGRESS"] = "1"
    # Files are written from uv's output: never with colour codes, whatever the terminal asks for.
    for key in ("FORCE_COLOR", "CLICOLOR_FORCE"):
        env.pop(key, None)
    env["NO_COLOR"] = "1"
    return env


def _local_builds_cover(inputs: Inputs, find_links: Sequence[str]) -> bool:
    """Whether every accelerator build the inputs pin (`torch==2.4.0+cpu`) lies as a wheel in a local
    find-links folder: then uv takes it from there and the framework's own index is not needed."""
    pinned = [line for line in (*inputs.requirements, *inputs.constraints) if "+" in line and "==" in line]
    if not pinned:
        return False
    folders = [
        Path(link.removeprefix("file://"))
        for link in find_links
        if "://" not in link or link.startswith("file://")
    ]
    for line in pinned:
        name, _, version = line.partition("==")
        stem = f"{name.strip().replace('-', '_')}-{version.strip()}-"
        if not any(folder.is_dir() and any(folder.glob(f"{stem}*.whl")) for folder in folders):
            return False
    return True


def _compile_cmd(uv: str, inputs: Inputs, files: Mapping[str, str], target: Target, fmt: str) -> list[str]:
    cmd = [uv, "pip", "compile", files["requirements"]]
    if "constraints" in files:
        cmd += ["-c", files["constraints"]]
    cmd += [
        "--python-platform",
        target.uv_platform,
        "--python-version",
        target.python,
        "--generate-hashes",
        "--quiet",
        "--color",
        "never",
        "--custom-compile-command",
        target.command_for(inputs.source),
        "--format",
        fmt,
    ]
    if inputs.torch_backend:
        cmd += ["--torch-backend", inputs.torch_backend]
    return cmd


def _compile(
    cmds: Sequence[list[str]], cwd: Path, env: Mapping[str, str], offline: bool
) -> tuple[list[str] | None, str]:
    """Run the compiles side by side; their outputs, or None and uv's error (credentials removed)."""

    def one(cmd: list[str]) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [*cmd, "--offline"] if offline else cmd,
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            timeout=COMPILE_TIMEOUT_S,
            check=False,
        )

    with ThreadPoolExecutor(max_workers=len(cmds)) as pool:
        results = list(pool.map(one, cmds))
    failed = [r for r in results if r.returncode != 0]
    if failed:
        return None, scrub_urls(failed[0].stderr.decode("utf-8", "replace").strip())
    return [r.stdout.decode("utf-8") for r in results], ""


# -- result ------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class PinResult:
    lock: str
    requirements: str
    target: Target
    packages: int
    local: list[LocalPackage]
    skipped: list[dict[str, str]]
    indexes: list[str]  # credentials removed
    source: str
    unchanged: bool
    offline: bool | None  # None: nothing was resolved (unchanged inputs)
    seconds: float
    warnings: list[str] = dataclasses.field(default_factory=list)
    binder: list[str] = dataclasses.field(default_factory=list)
    rewritten: bool = True  # False: the lock files already held these bytes and were left as they were

    @property
    def failed(self) -> bool:
        return any(p.error for p in self.local)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["local"] = [p.to_json() for p in self.local]
        data["failed"] = self.failed
        return data


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _tool_table(
    target: Target,
    inputs: Inputs,
    local: Sequence[LocalPackage],
    indexes: Sequence[str],
    index_strategy: str | None,
    requirements: str,
) -> str:
    lines = [
        "",
        "[tool.nblift]",
        f"platform = {_toml_str(target.platform)}",
        f"python-platform = {_toml_str(target.uv_platform)}",
        f"python = {_toml_str(target.python)}",
    ]
    if target.cuda:
        lines.append(f"cuda = {_toml_str(target.cuda)}")
    if inputs.torch_backend:
        lines.append(f"torch-backend = {_toml_str(inputs.torch_backend)}")
    lines.append(f"source = {_toml_str(inputs.source)}")
    lines.append("indexes = [" + ", ".join(_toml_str(u) for u in indexes) + "]")
    if requirements != REQUIREMENTS_FILE:  # the project's requirements.txt is the user's own
        lines.append(f"requirements = {_toml_str(requirements)}")
    if index_strategy in INDEX_STRATEGIES:  # how uv chose among the indexes: an install chooses the same way
        lines.append(f"index-strategy = {_toml_str(index_strategy)}")
    for pkg in local:
        lines += ["", "[[tool.nblift.local]]"]
        lines += [f"{k} = {_toml_str(str(v))}" for k, v in pkg.to_json().items() if k != "rebuilt"]
    for skip in inputs.skipped:
        lines += ["", "[[tool.nblift.skipped]]"]
        lines += [f"{k} = {_toml_str(v)}" for k, v in skip.items()]
    return "\n".join(lines) + "\n"


def _index_lines(indexes: IndexConfig) -> str:
    lines = [f"--index-url {safe_url(indexes.index_url)}"] if indexes.index_url else []
    lines += [f"--extra-index-url {safe_url(u)}" for u in indexes.extra_index_urls]
    lines += [f"--find-links {safe_url(u)}" for u in indexes.find_links]
    return "".join(line + "\n" for line in lines)


def _with_index_lines(text: str, index_lines: str) -> str:
    """Index lines (credentials removed) after uv's header comment, so plain pip finds private packages."""
    if not index_lines:
        return text
    lines = text.splitlines(keepends=True)
    at = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    return "".join(lines[:at]) + index_lines + "".join(lines[at:])


def _foreign(path: Path) -> bool:
    """Whether `path` exists and was not written by `nblift pin`."""
    try:
        head = path.read_bytes()[:400].decode("utf-8", "replace")
    except OSError:
        return False
    return GENERATED_BY not in head


def _check_foreign(path: Path, force: bool, hint: str) -> None:
    if _foreign(path) and not force:
        raise InvalidInput(f"{path} exists and was not written by `{GENERATED_BY}`", hint=hint)


def requirements_path(root: Path) -> Path:
    """Where a pin writes its hashed requirements: `requirements.txt`, unless the project has its own
    `requirements.txt` (never overwritten), then `pylock.requirements.txt`."""
    default = root / REQUIREMENTS_FILE
    return root / OWN_REQUIREMENTS_FILE if _foreign(default) else default


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _input_hash(
    target: Target,
    inputs: Inputs,
    req_file: bytes | None,
    indexes: IndexConfig,
    stamps: Mapping[str, str | None],
) -> str:
    blob = json.dumps(
        {
            "format": STATE_FORMAT,
            "target": dataclasses.asdict(target),
            "requirements": inputs.requirements,
            "constraints": inputs.constraints,
            "file": _sha(req_file) if req_file is not None else None,
            "backend": inputs.torch_backend,
            "indexes": [indexes.index_url, *indexes.extra_index_urls, "|", *indexes.find_links],
            "local": [(d.key, d.source, d.path, d.url, d.commit, stamps.get(d.key)) for d in inputs.local],
            "skipped": inputs.skipped,
        },
        sort_keys=True,
    )
    return _sha(blob.encode())


def _cached(state_file: Path, key: str, lock: Path, reqs: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(state_file.read_bytes())
        if state.get("input") != key:
            return None
        if _sha(lock.read_bytes()) != state["outputs"][LOCK_FILE]:
            return None
        if _sha(reqs.read_bytes()) != state["outputs"].get(reqs.name):
            return None
        wheels_ok = all(
            _sha((lock.parent / p["wheel"]).read_bytes()) == p["sha256"]
            for p in state["local"]
            if "wheel" in p
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state if wheels_ok else None


def pin(
    project: Project,
    *,
    platform: str | None = None,
    python: str | None = None,
    cuda: str | None = None,
    requirements: Path | None = None,
    env: Environment | None = None,
    environ: Mapping[str, str] | None = None,
    binder: bool | None = None,
    force: bool = False,
    allow_major_moves: bool = False,
) -> PinResult:
    """Lock the project for the target machine (see the module docstring).

    `requirements` pins from that file instead of the kernel; `env` pins another captured environment;
    `binder` writes `binder/` files too (default: when the project has a `binder/` folder).
    A lock that moves a package of the environment across a major version (the kernel's versions do not
    all install on the target's Python or platform) is refused, nothing written, unless `allow_major_moves`.
    """
    start = time.perf_counter()
    environ = dict(os.environ if environ is None else environ)
    root = project.root
    lock_path, reqs_path = root / LOCK_FILE, requirements_path(root)
    hint = "pin from another file: pass --requirements with its name"
    _check_foreign(lock_path, force, "move it aside or pass --force")
    _check_foreign(reqs_path, force, "move it aside or pass --force")
    indexes = index_config(environ)
    req_bytes: bytes | None = None
    if requirements is not None:
        requirements = (root / requirements).resolve() if not requirements.is_absolute() else requirements
        if requirements == reqs_path.resolve():
            raise InvalidInput("the requirements input is the file the lock is written to", hint=hint)
        if not requirements.is_file():
            raise InvalidInput(f"{requirements} is not a file", hint="pass an existing requirements file")
        req_bytes = requirements.read_bytes()
        file_indexes = indexes_in_file(requirements)
        target = make_target(platform, python, cuda, env)
        shown = os.path.relpath(requirements, root)
        inputs = Inputs([], [], [], [], f"cu{cuda.replace('.', '')}" if cuda else None, shown)
    else:
        env = env or capture(gpu=False, environ=environ)
        target = make_target(platform, python, cuda, env)
        inputs = inputs_from_environment(env, target)
        file_indexes = IndexConfig()
    everywhere = merge_indexes(indexes, file_indexes)  # uv reads the file's own index lines itself
    if inputs.torch_backend and _local_builds_cover(inputs, everywhere.find_links):
        inputs = dataclasses.replace(inputs, torch_backend=None)
    shown_indexes = list(everywhere.redacted())
    state_dir = ensure_dir(project.ensure_state_dir() / "lock")
    stamps = {d.key: fingerprint(d) for d in inputs.local}  # an edited local package must be rebuilt
    key = _input_hash(target, inputs, req_bytes, indexes, stamps)
    state = _cached(state_dir / "state.json", key, lock_path, reqs_path)
    if state is not None:
        try:
            written = _maybe_binder(root, reqs_path.read_text(encoding="utf-8"), target, binder)
        except OSError:
            written = []
        return PinResult(
            str(lock_path),
            str(reqs_path),
            target,
            state["packages"],
            [LocalPackage(**p) for p in state["local"]],
            inputs.skipped,
            shown_indexes,
            inputs.source,
            unchanged=True,
            offline=None,
            seconds=time.perf_counter() - start,
            warnings=state.get("warnings", []),
            binder=written,
            rewritten=False,
        )

    uv = find_uv()
    uv_env = uv_environment(dataclasses.replace(indexes, from_pip=everywhere.from_pip), environ)
    local = build_local(root, project.state_dir, inputs.local, uv_env, uv, stamps) if inputs.local else []
    files = _write_inputs(root, state_dir, inputs, local, requirements)
    cmds = [_compile_cmd(uv, inputs, files, target, f) for f in ("pylock.toml", "requirements.txt")]
    warnings: list[str] = []
    offline = True
    outputs, error = _compile(cmds, root, uv_env, offline=True)
    if outputs is None:
        offline = False
        outputs, error = _compile(cmds, root, uv_env, offline=False)
    if outputs is None and "constraints" in files:
        first = error.splitlines()[0] if error else "no solution"
        warnings.append(
            f"the kernel's exact dependency versions do not all resolve for {target.platform}: {first}"
        )
        files.pop("constraints")
        cmds = [_compile_cmd(uv, inputs, files, target, f) for f in ("pylock.toml", "requirements.txt")]
        outputs, error = _compile(cmds, root, uv_env, offline=False)
    if outputs is None:
        raise NbliftError(
            f"uv could not resolve the environment for {target.platform} / Python {target.python}: {error}",
            hint="the error names the package; change its version or the target (--platform/--python/--cuda)",
        )
    lock_text = scrub_urls(outputs[0]).rstrip("\n") + "\n"
    moves = _major_moves(env, lock_text) if requirements is None and env is not None else []
    if moves and not allow_major_moves:
        raise InvalidInput(
            f"the lock for {target.platform} / Python {target.python} moves {len(moves)} package(s) across a "
            f"major version from what the environment has: {', '.join(moves)}; nothing was written",
            hint="pin for a Python and platform the environment's versions install on, or accept the moves "
            "(`--allow-major-moves`) and check the notebook against them (`%lift preflight`)",
        )
    warnings += [f"moved across a major version (accepted): {move}" for move in moves]
    strategy = uv_env.get("UV_INDEX_STRATEGY")
    lock_text += _tool_table(target, inputs, local, shown_indexes, strategy, reqs_path.name)
    reqs_text = _with_index_lines(scrub_urls(outputs[1]), _index_lines(everywhere))
    leaked = [s for s in _secrets_of(_raw_urls(everywhere)) if s in lock_text or s in reqs_text]
    if leaked:
        raise NbliftError(
            "an index credential would have been written into the lock; nothing was written",
            hint="report this as a bug; meanwhile pass the credentials through keyring or netrc",
        )
    rewritten = False
    for path, text in ((lock_path, lock_text), (reqs_path, reqs_text)):
        if not path.is_file() or path.read_bytes() != text.encode():
            write_public(path, text.encode())
            rewritten = True
    packages = len(tomllib.loads(lock_text).get("packages", []))
    written = _maybe_binder(root, reqs_text, target, binder)
    atomic_write(
        state_dir / "state.json",
        json.dumps(
            {
                "input": key,
                "outputs": {LOCK_FILE: _sha(lock_text.encode()), reqs_path.name: _sha(reqs_text.encode())},
                "packages": packages,
                "local": [dataclasses.asdict(p) | {"rebuilt": False} for p in local],
                "warnings": warnings,
            },
            indent=1,
        ).encode(),
    )
    return PinResult(
        str(lock_path),
        str(reqs_path),
        target,
        packages,
        local,
        inputs.skipped,
        shown_indexes,
        inputs.source,
        unchanged=False,
        offline=offline,
        seconds=time.perf_counter() - start,
        warnings=warnings,
        binder=written,
        rewritten=rewritten,
    )


def _major(version: str) -> tuple[int, ...] | None:
    """The part of a version whose change breaks APIs: the first number (the first two below 1.0)."""
    from packaging.version import InvalidVersion, Version

    try:
        release = Version(version).release
    except InvalidVersion:
        return None
    return release[:2] if release[0] == 0 else release[:1]


def _major_moves(env: Environment, lock_text: str) -> list[str]:
    """`name old → new` for each locked package whose major version differs from the environment's."""
    had = {d.key: d.version for d in env.distributions}
    moves = []
    for package in tomllib.loads(lock_text).get("packages", []):
        name, new = canonical(str(package.get("name", ""))), str(package.get("version", ""))
        old = had.get(name)
        if old and new and _major(old) is not None and _major(new) is not None and _major(old) != _major(new):
            moves.append(f"{name} {old} → {new}")
    return moves


def _raw_urls(indexes: IndexConfig) -> list[str]:
    return [u for u in (indexes.index_url, *indexes.extra_index_urls, *indexes.find_links) if u]


def _write_inputs(
    root: Path, state_dir: Path, inputs: Inputs, local: Sequence[LocalPackage], requirements: Path | None
) -> dict[str, str]:
    """The files uv reads, named relative to the project (uv's annotations name them: they must not vary)."""
    if requirements is not None:
        return {"requirements": os.path.relpath(requirements, root)}
    lines = [*inputs.requirements, *(f"./{p.wheel}" for p in local if p.wheel)]
    req = state_dir / "requirements.in"
    atomic_write(req, "".join(f"{line}\n" for line in sorted(lines, key=str.lower)).encode())
    files = {"requirements": os.path.relpath(req, root)}
    if inputs.constraints:
        con = state_dir / "constraints.txt"
        atomic_write(con, "".join(f"{line}\n" for line in sorted(inputs.constraints, key=str.lower)).encode())
        files["constraints"] = os.path.relpath(con, root)
    return files


def _maybe_binder(root: Path, reqs_text: str, target: Target, binder: bool | None) -> list[str]:
    if binder is False or (binder is None and not (root / "binder").is_dir()):
        return []
    from .binder import write_binder

    return write_binder(root, reqs_text, target.python, target.platform)


# -- reading a lock ----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LockInfo:
    """A pylock.toml as diff, preflight and the Dockerfile read it."""

    path: str
    platform: str | None
    python: str | None
    cuda: str | None
    packages: Mapping[str, str]  # canonical name -> version
    local: tuple[Mapping[str, str], ...]
    skipped: tuple[Mapping[str, str], ...]
    requires_python: str | None = None  # the lock's `requires-python` (">=3.11.7")
    index_strategy: str | None = (
        None  # uv's `--index-strategy` the lock was resolved with (None: its default)
    )
    requirements: str = REQUIREMENTS_FILE  # the hashed requirements beside it
    indexes: tuple[str, ...] = ()  # the package indexes it was resolved from (credentials removed)

    @property
    def framework_cuda(self) -> str | None:
        """The CUDA the locked framework was built for: the pin's --cuda, else torch's +cuXYZ build."""
        from .machine import cuda_of_local_version

        return self.cuda or cuda_of_local_version(self.packages.get("torch", ""))


def read_lock(path: Path) -> LockInfo:
    """Parse a pylock.toml (a project folder means its `pylock.toml`)."""
    if path.is_dir():
        path = path / LOCK_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"no lock at {path}", hint="make one with `%lift pin`") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{path} is not a valid pylock.toml ({exc})", hint="re-pin with `%lift pin`"
        ) from None
    return parse_lock(text, str(path))


def parse_lock(text: str, path: str = LOCK_FILE) -> LockInfo:
    """A pylock.toml's text as a LockInfo (`path`: where it was, for messages)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(
            f"{path} is not a valid pylock.toml ({exc})", hint="re-pin with `%lift pin`"
        ) from None
    tool = data.get("tool", {}).get("nblift", {})
    packages = {
        canonical(p["name"]): str(p.get("version", "")) for p in data.get("packages", []) if "name" in p
    }
    return LockInfo(
        path=str(path),
        platform=tool.get("platform"),
        python=tool.get("python") or _python_of(data.get("requires-python")),
        cuda=tool.get("cuda"),
        packages=dict(sorted(packages.items())),
        local=tuple(tool.get("local", ())),
        skipped=tuple(tool.get("skipped", ())),
        requires_python=data.get("requires-python"),
        index_strategy=tool.get("index-strategy") if tool.get("index-strategy") in INDEX_STRATEGIES else None,
        requirements=OWN_REQUIREMENTS_FILE
        if tool.get("requirements") == OWN_REQUIREMENTS_FILE
        else REQUIREMENTS_FILE,
        indexes=tuple(str(u) for u in tool.get("indexes", ()) if str(u).startswith(("http://", "https://"))),
    )


def lock_in_bundle(store: Any, manifest: Mapping[str, Any]) -> tuple[LockInfo | None, str | None]:
    """The bundle's lock (None: it has none, or a damaged one: preflight says so) and the object id of the
    hashed requirements it names (None: not in the bundle)."""
    files = manifest.get("files", {})
    entry = files.get(LOCK_FILE)
    lock = None
    if isinstance(entry, dict):
        try:
            lock = parse_lock(store.get_bytes(str(entry["oid"])).decode())
        except (InvalidInput, UnicodeDecodeError):
            lock = None
    wanted = files.get(lock.requirements if lock else REQUIREMENTS_FILE)
    return lock, str(wanted["oid"]) if isinstance(wanted, dict) else None


def _python_of(requires: str | None) -> str | None:
    match = re.search(r"(\d+\.\d+)", requires or "")
    return match.group(1) if match else None
