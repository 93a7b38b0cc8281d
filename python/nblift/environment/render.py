"""Text and HTML renderings of environment results (every value escaped in HTML)."""

from __future__ import annotations

from collections import Counter
from html import escape
from typing import Any

from ..render import grid_html, grid_text, human_bytes, lines_html, pairs_html, pairs_text
from .capture import Distribution, Environment
from .diff import EnvDiff
from .dockerfile import DockerfileResult
from .lock import PinResult
from .preflight import PreflightResult

PACKAGE_HEADERS = ("package", "version", "source", "from")
DIFF_HEADERS = ("severity", "what", "name", "from", "to", "note")
PREFLIGHT_HEADERS = ("severity", "check", "cell", "finding", "what to do")


def _detail(d: Distribution) -> str:
    if d.source == "vcs":
        return f"{d.url}@{(d.commit or '')[:12]}" + (f" ({d.subdirectory})" if d.subdirectory else "")
    if d.source in ("editable", "local", "wheel"):
        return d.path or ""
    if d.source == "url":
        return d.url or ""
    return ""


def _machine_rows(e: Environment) -> list[tuple[str, str]]:
    kind = "conda" if e.conda else "virtualenv" if e.virtualenv else "system"
    rows = [
        ("python", f"{e.python} ({e.implementation}, {kind}) {e.executable}"),
        ("platform", f"{e.platform}: {e.distro or e.os} {e.os_release}" + (f", {e.libc}" if e.libc else "")),
        (
            "machine",
            f"{e.cpu_count or '?'} CPUs, "
            + (human_bytes(e.memory_bytes) if e.memory_bytes else "? memory")
            + " RAM",
        ),
    ]
    if e.gpus:
        names = ", ".join(f"{g.name} ({g.memory_mib} MiB)" if g.memory_mib else g.name for g in e.gpus)
        rows.append(("gpu", f"{names}; driver {e.driver}"))
    else:
        rows.append(("gpu", "none found (no nvidia-smi)"))
    rows.append(("cuda", f"{e.cuda or '-'} / cuDNN {e.cudnn or '-'}"))
    for name, view in e.frameworks.items():
        extra = f" CUDA {view.get('cuda')}" if view.get("cuda") else " (CPU build)"
        rows.append((name, f"{view.get('version')}{extra}, {view.get('seen')}"))
    if e.indexes:
        rows.append(("indexes", " ".join(e.indexes)))
    sources = Counter(d.source for d in e.distributions)
    rows.append(
        (
            "packages",
            f"{len(e.distributions)} ("
            + ", ".join(f"{n} {s}" for s, n in sorted(sources.items()))
            + f"), read in {e.seconds * 1000:.0f} ms",
        )
    )
    return rows


def _package_rows(e: Environment) -> list[tuple[str, str, str, str]]:
    return [(d.name, d.version, d.source, _detail(d)) for d in e.distributions]


def show_text(e: Environment) -> str:
    return pairs_text(_machine_rows(e)) + "\n\n" + grid_text(PACKAGE_HEADERS, _package_rows(e))


def show_html(e: Environment) -> str:
    return (
        "<div class='nblift-env'><h4>Environment</h4>"
        + pairs_html(_machine_rows(e))
        + "<details><summary>"
        + escape(f"{len(e.distributions)} packages")
        + "</summary>"
        + grid_html(PACKAGE_HEADERS, _package_rows(e))
        + "</details></div>"
    )


def _diff_summary(d: EnvDiff) -> str:
    counts = d.counts()
    found = ", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items() if n)
    return f"{d.a} -> {d.b}: {found or 'no drift'}; {d.unchanged} unchanged"


def _diff_rows(d: EnvDiff) -> list[tuple[str, ...]]:
    return [(c.severity, c.kind, c.name, c.a or "-", c.b or "-", c.message) for c in d.changes]


def diff_text(d: EnvDiff) -> str:
    rows = _diff_rows(d)
    return _diff_summary(d) + ("\n" + grid_text(DIFF_HEADERS, rows) if rows else "")


def diff_html(d: EnvDiff) -> str:
    rows = _diff_rows(d)
    return (
        "<div class='nblift-env-diff'><p>"
        + escape(_diff_summary(d))
        + "</p>"
        + (grid_html(DIFF_HEADERS, rows) if rows else "")
        + "</div>"
    )


def _dockerfile_lines(r: DockerfileResult) -> list[str]:
    lines = [
        f"wrote {r.dockerfile} and {r.dockerignore}",
        f"base image {r.base_image}, Python {r.python}" + (f", CUDA {r.cuda}" if r.cuda else ""),
        "stages: " + " -> ".join(r.stages),
    ]
    if r.large_files:
        lines.append("left out of the image (large): " + ", ".join(r.large_files[:10]))
    if r.image and not r.build_error:
        lines.append(f"built image {r.image}")
    if r.build_error:
        lines.append(f"not built: {r.build_error}")
    return lines


def env_text(result: tuple[str, Any]) -> str:
    kind, value = result
    if kind == "show":
        return show_text(value)
    if kind == "diff":
        return diff_text(value)
    if kind == "dockerfile":
        return "\n".join(_dockerfile_lines(value))
    if kind == "binder":
        return "binder files in step with the lock: " + ", ".join(value)
    return str(value)


def env_html(result: tuple[str, Any]) -> str:
    kind, value = result
    if kind == "show":
        return show_html(value)
    if kind == "diff":
        return diff_html(value)
    return "<pre>" + escape(env_text(result)) + "</pre>"


def env_json(result: tuple[str, Any]) -> Any:
    kind, value = result
    if kind == "binder":
        return {"binder": value}
    return {kind: value.to_json()}


def _pin_lines(r: PinResult) -> list[str]:
    target = f"{r.target.platform}, Python {r.target.python}" + (
        f", CUDA {r.target.cuda}" if r.target.cuda else ""
    )
    how = (
        "unchanged (inputs as before: nothing resolved)"
        if r.unchanged
        else f"resolved {'offline from the cache' if r.offline else 'online'}"
    )
    lines = [
        f"locked {r.packages} packages for {target} from {r.source}: {how} in {r.seconds * 1000:.0f} ms",
        f"wrote {r.lock} and {r.requirements}"
        if r.rewritten
        else f"unchanged: {r.lock} and {r.requirements}",
    ]
    for p in r.local:
        if p.error:
            lines.append(f"NOT BUNDLED {p.name} {p.version} ({p.source}): {p.error}")
        else:
            lines.append(
                f"bundled {p.name} {p.version} ({p.source}) as {p.wheel}"
                + (" (rebuilt)" if p.rebuilt else "")
            )
    lines += [f"left out: {s['name']}: {s['reason']}" for s in r.skipped]
    if r.indexes:
        lines.append("indexes (credentials removed): " + " ".join(r.indexes))
    if r.binder:
        lines.append("binder: " + ", ".join(r.binder))
    lines += [f"warning: {w}" for w in r.warnings]
    return lines


def pin_text(r: PinResult) -> str:
    return "\n".join(_pin_lines(r))


def pin_html(r: PinResult) -> str:
    return lines_html(_pin_lines(r), "nblift-pin")


def _preflight_rows(r: PreflightResult) -> list[tuple[str, ...]]:
    return [
        (f.severity, f.check, "-" if f.cell is None else str(f.cell + 1), f.message, f.hint or "")
        for f in r.findings
    ]


def _preflight_summary(r: PreflightResult) -> str:
    counts = r.counts()
    verdict = "BLOCKED: fix the errors or push with --force" if r.failed else "ready to push"
    found = ", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items() if n) or "no findings"
    return f"preflight of {r.notebook}" + (f" for {r.backend}" if r.backend else "") + f": {found}; {verdict}"


def preflight_text(r: PreflightResult) -> str:
    rows = _preflight_rows(r)
    return _preflight_summary(r) + ("\n" + grid_text(PREFLIGHT_HEADERS, rows) if rows else "")


def preflight_html(r: PreflightResult) -> str:
    rows = _preflight_rows(r)
    return (
        "<div class='nblift-preflight'><p>"
        + escape(_preflight_summary(r))
        + "</p>"
        + (grid_html(PREFLIGHT_HEADERS, rows) if rows else "")
        + "</div>"
    )
