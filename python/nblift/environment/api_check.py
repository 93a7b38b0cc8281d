"""Preflight's API check: what the notebook calls that the target's library versions no longer have.

The notebook's code cells are read with `ast` (nothing runs) for three kinds of use:
- attribute chains from an imported module (`np.infty`, `pd.datetime`, `plt.cm.get_cmap`) and names taken
  with `from module import name`;
- method calls on variables whose type is known: inferred from the notebook itself (`df = pd.read_csv(...)`,
  `s = pd.Series(...)`, `a = np.zeros(...)`, a copy of a known one) or given by the caller as name ->
  "module.QualName" (the live kernel's namespace, the last snapshot's manifest);
- strings a library lists its choices for: `plt.style.use('seaborn')` against `matplotlib.style.available`,
  and pandas frequency strings (`freq='H'`, `df.resample('T')`) against pandas' own parser.

Only libraries whose version differs between the kernel and the lock are checked. `nblift.target.api_probe`
answers each use twice, in the kernel's interpreter and in the target's, each a subprocess running the probe
file by its path; a use is reported when the kernel has it and the target does not. The hint is the
library's own word: the target's error ("Use `np.inf` instead.") or, on the kernel's side, the deprecation
warning or the `.. deprecated::` note of the docstring ("Use `pandas.concat` instead.").
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .capture import canonical
from .notebook import _magic_code, code_trees
from .preflight import Finding

#: The probe, run by its path in an environment that need not have nblift installed.
PROBE_FILE = Path(__file__).resolve().parents[1] / "target" / "api_probe.py"
PROBE_TIMEOUT_S = 180

#: Functions whose result has a known type.
RETURN_TYPES = {
    **{
        f"numpy.{name}": "numpy.ndarray"
        for name in ("array", "asarray", "zeros", "ones", "empty", "full", "arange", "linspace", "eye")
    },
    "pandas.DataFrame.from_dict": "pandas.DataFrame",
    "pandas.DataFrame.from_records": "pandas.DataFrame",
}
#: Methods that return an object of their receiver's type.
SAME_TYPE_METHODS = frozenset(
    {"copy", "head", "tail", "dropna", "fillna", "sort_values", "sort_index", "reset_index", "set_index"}
    | {"drop", "rename", "query", "astype", "assign", "merge", "append", "replace", "round", "abs", "clip"}
    | {"sample", "where", "mask", "ffill", "bfill", "reshape", "transpose", "flatten", "squeeze"}
)
STYLE_CALLS = frozenset(
    f"{module}.style.{verb}" for module in ("matplotlib", "matplotlib.pyplot") for verb in ("use", "context")
)
STYLE_CHECK = {
    "probe": "choice",
    "list": "matplotlib.style.available",
    "aliases": ["matplotlib.style.core._DEPRECATED_SEABORN_STYLES"],
}
FREQ_CALLS = frozenset(
    f"pandas.{name}" for name in ("date_range", "bdate_range", "period_range", "timedelta_range", "Grouper")
)
FREQ_METHODS = frozenset({"resample", "asfreq"})
FREQ_CHECK = {"probe": "parse", "function": "pandas.tseries.frequencies.to_offset"}
_ADVICE = re.compile(r"\b(use|instead|did you mean|import from)\b", re.I)


@dataclasses.dataclass(frozen=True)
class ApiUse:
    """One use of a library API in the notebook: where, as written, and the probe's check for it."""

    cell: int  # index of the cell (0-based)
    text: str  # the code as written: `df.append(...)`
    check: Mapping[str, Any]  # what the probe is asked (see nblift.target.api_probe)
    label: str = ""  # for a string: what it names ("a style")

    @property
    def key(self) -> str:
        return json.dumps(self.check, sort_keys=True)

    @property
    def library(self) -> str:
        """The top-level module the use belongs to."""
        check = self.check
        dotted = check.get("module") or check.get("type") or check.get("list") or check.get("function")
        return str(dotted).split(".", 1)[0]


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _strings(node: ast.AST | None) -> list[str]:
    """The string constants `node` is, or holds as a list or tuple."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.List | ast.Tuple):
        return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return []


def _argument(node: ast.Call, *keywords: str, position: int | None = 0) -> ast.AST | None:
    for keyword in node.keywords:
        if keyword.arg in keywords:
            return keyword.value
    return node.args[position] if position is not None and len(node.args) > position else None


def _bound_names(target: ast.AST) -> Iterable[str]:
    return (n.id for n in ast.walk(target) if isinstance(n, ast.Name))


class _UseCollector(ast.NodeVisitor):
    """Walks the cells in order, keeping the import aliases and the variables' known types as it goes."""

    def __init__(self, known_types: Mapping[str, str]) -> None:
        self.known = dict(known_types)
        self.types: dict[str, str] = dict(known_types)
        self.aliases: dict[str, tuple[str, tuple[str, ...]]] = {}  # name -> (module, attributes)
        self.uses: list[ApiUse] = []
        self.cell = 0

    # -- names ---------------------------------------------------------------------------------------------

    def _chain(self, node: ast.AST) -> tuple[str, tuple[str, ...]] | None:
        """(module, attributes) for `alias.a.b` where `alias` names an imported module or object."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            inner = self._chain(node.value)
            return (inner[0], (*inner[1], node.attr)) if inner else None
        return None

    def _dotted(self, node: ast.AST) -> str | None:
        chain = self._chain(node)
        return ".".join((chain[0], *chain[1])) if chain else None

    def _bind(self, name: str, type_name: str | None) -> None:
        """`name` now holds a value of `type_name`; unknown falls back to what the caller knew of it."""
        self.aliases.pop(name, None)
        found = type_name or self.known.get(name)
        if found:
            self.types[name] = found
        else:
            self.types.pop(name, None)

    def _type_of(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return self.types.get(node.id)
        if not isinstance(node, ast.Call):
            return None
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in SAME_TYPE_METHODS:
            receiver = self._type_of(func.value)
            if receiver:
                return receiver
        dotted = self._dotted(func)
        if dotted is None:
            return None
        last = dotted.rsplit(".", 1)[-1]
        if dotted in RETURN_TYPES:
            return RETURN_TYPES[dotted]
        if dotted.startswith("pandas.read_"):
            return "pandas.DataFrame"
        return dotted if last[:1].isupper() and dotted.count(".") >= 1 else None

    def _add(self, text: str, check: Mapping[str, Any], label: str = "") -> None:
        self.uses.append(ApiUse(self.cell, _short(text), dict(check), label))

    # -- bindings ------------------------------------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            bound = alias.asname or alias.name.split(".", 1)[0]
            self._bind(bound, None)
            self.aliases[bound] = (alias.name if alias.asname else bound, ())

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:
            return
        for alias in node.names:
            if alias.name == "*":
                continue
            bound = alias.asname or alias.name
            self._bind(bound, None)
            self.aliases[bound] = (node.module, (alias.name,))
            check = {"probe": "attr", "module": node.module, "attrs": [alias.name]}
            self._add(f"from {node.module} import {alias.name}", check)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        inferred = self._type_of(node.value)
        for target in node.targets:
            self._assign(target, inferred)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
            self._assign(node.target, self._type_of(node.value))

    def _assign(self, target: ast.AST, inferred: str | None) -> None:
        if isinstance(target, ast.Name):
            self._bind(target.id, inferred)
            return
        self.visit(target)
        if isinstance(target, ast.Tuple | ast.List | ast.Starred):
            for name in _bound_names(target):
                self._bind(name, None)

    def visit_For(self, node: ast.For) -> None:
        self.visit(node.iter)
        for name in _bound_names(node.target):
            self._bind(name, None)
        for statement in (*node.body, *node.orelse):
            self.visit(statement)

    def visit_withitem(self, node: ast.withitem) -> None:
        self.visit(node.context_expr)
        for name in _bound_names(node.optional_vars) if node.optional_vars else ():
            self._bind(name, None)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self._bind(node.target.id, self._type_of(node.value))

    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        """A function's parameters shadow the notebook's variables inside its body only."""
        saved = (dict(self.types), dict(self.aliases))
        args = node.args
        for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
            if arg is not None:
                self.types.pop(arg.arg, None)
                self.aliases.pop(arg.arg, None)
        for statement in node.body if isinstance(node.body, list) else [node.body]:
            self.visit(statement)
        self.types, self.aliases = saved

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._scoped(node)
        self._bind(node.name, None)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._scoped(node)
        self._bind(node.name, None)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._scoped(node)

    # -- uses ----------------------------------------------------------------------------------------------

    def visit_Attribute(self, node: ast.Attribute) -> None:
        chain = self._chain(node)
        if chain is None:
            self.generic_visit(node)
            return
        if isinstance(node.ctx, ast.Load):  # the longest chain only: its prefixes resolve on the way
            self._add(ast.unparse(node), {"probe": "attr", "module": chain[0], "attrs": list(chain[1])})

    def visit_Call(self, node: ast.Call) -> None:
        inner = _magic_code(node)
        if inner is not None:
            self.visit(inner)
            return
        func = node.func
        receiver = self._type_of(func.value) if isinstance(func, ast.Attribute) else None
        if isinstance(func, ast.Attribute) and receiver and not self._chain(func.value):
            self._add(f"{ast.unparse(func)}(...)", {"probe": "method", "type": receiver, "name": func.attr})
            self._method_strings(node, func.attr, receiver)
        else:
            self._call_strings(node, self._dotted(func))
        self.generic_visit(node)

    def _call_strings(self, node: ast.Call, dotted: str | None) -> None:
        if dotted in STYLE_CALLS:
            for value in _strings(_argument(node, "style")):
                if value != "default" and not any(c in value for c in "./\\"):
                    self._add(ast.unparse(node), {**STYLE_CHECK, "value": value}, "a style")
        elif dotted in FREQ_CALLS:
            for value in _strings(_argument(node, "freq", position=None)):
                self._add(ast.unparse(node), {**FREQ_CHECK, "value": value}, "a frequency")

    def _method_strings(self, node: ast.Call, method: str, receiver: str) -> None:
        if method in FREQ_METHODS and receiver.startswith("pandas."):
            for value in _strings(_argument(node, "rule", "freq")):
                self._add(ast.unparse(node), {**FREQ_CHECK, "value": value}, "a frequency")


def notebook_api_uses(
    cells: Sequence[Mapping[str, Any]], known_types: Mapping[str, str] | None = None
) -> list[ApiUse]:
    """Every library API use in the notebook's code cells, in order (IPython syntax and %time bodies too)."""
    collector = _UseCollector(known_types or {})
    for index, tree in code_trees(cells):
        collector.cell = index
        collector.visit(tree)
    return collector.uses


def types_in_manifest(manifest: Mapping[str, Any]) -> dict[str, str]:
    """name -> "module.QualName" of the variables a snapshot manifest lists."""
    variables = manifest.get("variables") or {}
    return {name: str(v["type"]) for name, v in variables.items() if isinstance(v, dict) and v.get("type")}


# -- probing -----------------------------------------------------------------------------------------------


class ProbeFailed(Exception):
    """The probe could not run in an interpreter, or did not answer in JSON."""


def run_probe(
    python: str, checks: Sequence[Mapping[str, Any]], timeout: float = PROBE_TIMEOUT_S
) -> dict[str, Any]:
    """The probe's answer in `python`: one subprocess for all checks. Variables that would put another
    environment's packages on its path are left out; pyplot gets a backend that needs no display."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update(MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1", PYTHONIOENCODING="utf-8")
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
    try:
        answer = json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else None
    except ValueError:
        answer = None
    if out.returncode != 0 or not isinstance(answer, dict) or "results" not in answer:
        detail = (answer or {}).get("error") if isinstance(answer, dict) else None
        last = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit status {out.returncode}"
        raise ProbeFailed(f"{python}: {detail or _short(last, 200)}")
    return answer


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
    target_python: str,
    lock_versions: Mapping[str, str] | None,
    kernel_python: str | None = None,
    kernel_versions: Mapping[str, str] | None = None,
    known_types: Mapping[str, str] | None = None,
    timeout: float = PROBE_TIMEOUT_S,
) -> list[Finding]:
    """Findings for the APIs the notebook uses that the target environment (`target_python`) lacks.

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
    kernel = kernel_python or sys.executable
    try:
        with ThreadPoolExecutor(2) as pool:
            asked = pool.map(lambda python: run_probe(python, checks, timeout), (kernel, target_python))
            kernel_answer, target_answer = list(asked)
    except ProbeFailed as exc:
        hint = "pass the python of an environment built from the lock (`--target-python`)"
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
